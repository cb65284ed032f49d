"""Fuzzing ``deserialize_function``: whatever a file holds, safe mode either loads a function or
raises lamina's own ``FunctionDeserializationError`` (``UnsafeFunctionError`` is one) -- never a
TypeError, KeyError, RecursionError or anything else -- and ``describe_function`` never raises.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.saving.functions import (
    KINDS,
    FunctionDeserializationError,
    describe_function,
    deserialize_function,
    serialize_function,
)

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TOKENS = [
    "lambda x: ",
    "lambda x, y=1: ",
    "def f(x):\n    ",
    "def f(x, *a, k=2, **kw):\n    ",
    "return ",
    "x",
    "y",
    "a",
    "kw",
    "torch",
    "F",
    "ops",
    "K",
    "math",
    ".",
    "exp",
    "sum",
    "shape",
    "random",
    "normal",
    "(",
    ")",
    "[",
    "]",
    ":",
    ", ",
    " + ",
    " * ",
    " ** ",
    " << ",
    " % ",
    " / ",
    " @ ",
    "-",
    "~",
    "not ",
    " and ",
    " or ",
    " if x else ",
    " == ",
    " < ",
    " is ",
    " in ",
    "0",
    "1",
    "10",
    "1e308",
    "'s'",
    "b'b'",
    "None",
    "...",
    "True",
    "__class__",
    "open",
    "eval",
    "getattr",
    "len",
    "range",
    "set",
    "round",
    "sum",
    "\n    ",
    "\n",
    "\n        ",
    "for i in range(3):\n        ",
    "for i in x:\n        ",
    "if x:\n        ",
    "else:\n        ",
    "while True:",
    "import os",
    "global x",
    "yield",
    "break",
    "continue",
    "pass",
    "f'{x}'",
    "[i for i in x]",
    "{i: i for i in x}",
    "{1, 2}",
    "*x",
    "**kw",
    " = ",
    " += ",
    "@F.relu\n",
    "x[:, None, ...]",
    "x.T",
    "x.to(torch.float32)",
    "lambda: 0",
    ";",
    "\\",
    "#",
    "'''",
]
SOURCES = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    st.text(max_size=60),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
TAGGED = st.fixed_dictionaries(
    {"__lamina__": st.sampled_from(["tuple", "dict", "float", "ref", "ndarray", "tensor", "x"])},
    optional={
        "items": JSON,
        "value": st.sampled_from(["nan", "inf", "x"]) | JSON,
        "path": st.sampled_from(["torch.float32", "torch.exp", "os.system"]) | JSON,
        "dtype": st.sampled_from(["float16", "int8", "int64", "bool", "object", "bfloat16"]) | JSON,
        "shape": st.lists(st.integers(-2, 5), max_size=4) | JSON,
        "data": st.sampled_from(["AAAAAA==", "AACAPwAAgD8=", "!!"])
        | st.lists(st.floats() | st.integers() | st.booleans(), max_size=4)
        | st.lists(JSON, max_size=4),
    },
)
VALUES = st.one_of(JSON, TAGGED, st.lists(TAGGED, max_size=3))
NAMES = st.sampled_from(["x", "torch", "F", "ops", "K", "k", "helper", "len", "open"]) | st.text(
    max_size=6
)
REFS = st.one_of(
    st.sampled_from(
        [
            "torch",
            "torch.nn.functional",
            "lamina.ops",
            "math",
            "torch.exp",
            "torch.float32",
            "os",
            "import:os",
            "import:os:system",
            "registered:Custom>missing",
            "builtins.eval",
        ]
    ),
    JSON,
)


@st.composite
def configs(draw: st.DrawFn, depth: int = 0) -> Any:
    fields: dict[str, Any] = {
        "kind": draw(st.sampled_from([*KINDS, "other"]) | JSON),
        "version": draw(st.sampled_from([1, 1, 1, 2, 0, "1"]) | JSON),
        "name": draw(st.sampled_from(["<lambda>", "f", "slice"]) | JSON),
    }
    optional = {
        "source": SOURCES | JSON,
        "globals": st.dictionaries(NAMES, REFS, max_size=3) | JSON,
        "constants": st.dictionaries(NAMES, VALUES, max_size=3) | JSON,
        "defaults": st.lists(VALUES, max_size=3) | JSON,
        "kwdefaults": st.dictionaries(NAMES, VALUES, max_size=2) | JSON,
        "module": st.sampled_from(["os", "fn_helpers", "a.b"]) | JSON,
        "qualname": st.sampled_from(["system", "f", "<locals>.f"]) | JSON,
        "key": st.sampled_from(["Custom>f", "os>system"]) | JSON,
        "path": REFS,
        "args": st.lists(VALUES, max_size=2) | JSON,
        "keywords": st.dictionaries(NAMES, VALUES, max_size=2) | JSON,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            fields[key] = draw(strategy)
    if depth < 3 and draw(st.booleans()):
        fields["func"] = draw(configs(depth + 1))
    return fields


def _load(config: Any) -> None:
    with contextlib.suppress(FunctionDeserializationError):
        deserialize_function(config, source="fuzz.lamina")
    assert isinstance(describe_function(config), str)


def slice(x, index):
    return x[:, :, index]


def sampling(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = torch.randn_like(mean)
    return mean + eps * torch.exp(logvar * 0.5)


def looped(xs, n=3, *, scale=2.0):
    total = xs[0]
    for i in range(n):
        total = total + xs[1] * i
    return [t * scale for t in (total, total.sum(dim=-1))]


VALID = [
    json.loads(json.dumps(serialize_function(fn)))
    for fn in (slice, sampling, looped, lambda x, k=3: x * k)
]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    config = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*config, "extra"]))
        action = draw(st.sampled_from(["replace", "delete", "insert", "cut"]))
        source = config.get("source", "")
        if action == "replace":
            config[key] = draw(VALUES | REFS | SOURCES)
        elif action == "delete":
            config.pop(key, None)
        elif isinstance(source, str) and source:
            at = draw(st.integers(0, len(source)))
            if action == "insert":
                config["source"] = source[:at] + draw(st.sampled_from(TOKENS)) + source[at:]
            else:
                config["source"] = source[:at] + source[at + draw(st.integers(1, 8)) :]
    return config


@SETTINGS
@given(configs())
def test_random_configs_load_or_raise_lamina_errors(config: Any) -> None:
    _load(config)


@SETTINGS
@given(SOURCES, st.sampled_from(["<lambda>", "f"]), st.dictionaries(NAMES, REFS, max_size=3))
def test_random_sources_load_or_raise_lamina_errors(
    source: str, name: str, refs: dict[str, Any]
) -> None:
    _load({"kind": "expression", "version": 1, "name": name, "source": source, "globals": refs})


@SETTINGS
@given(mutated())
def test_mutated_valid_configs_load_or_raise_lamina_errors(config: Any) -> None:
    _load(config)
