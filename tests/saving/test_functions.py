"""The function serializer: every storage kind, round trips (also across processes), messages.

References are plain torch computations or the original Python function run on the same
inputs and random seed; the loaded function must match them exactly.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import exp as texp

import lamina.saving.functions as functions_module
from lamina import ops as K
from lamina.saving import registry
from lamina.saving.functions import (
    FunctionSerializationError,
    deserialize_function,
    serialize_function,
)

HERE = Path(__file__).resolve().parent
SRC = Path(functions_module.__file__).resolve().parents[2]


def roundtrip(fn: Callable[..., Any], **load: Any) -> tuple[dict[str, Any], Callable[..., Any]]:
    """Saves ``fn``, passes the config through JSON text, and loads it (safe mode by default)."""
    config = json.loads(json.dumps(serialize_function(fn), allow_nan=False))
    return config, deserialize_function(config, **load)


@pytest.fixture
def clean_registry() -> Iterator[None]:
    objects = dict(registry._GLOBAL_CUSTOM_OBJECTS)
    names = dict(registry._GLOBAL_CUSTOM_NAMES)
    yield
    registry._GLOBAL_CUSTOM_OBJECTS.clear()
    registry._GLOBAL_CUSTOM_OBJECTS.update(objects)
    registry._GLOBAL_CUSTOM_NAMES.clear()
    registry._GLOBAL_CUSTOM_NAMES.update(names)


@pytest.fixture
def fn_helpers(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(HERE))
    import fn_helpers

    return fn_helpers


# ----------------------------------------------------------------------------- the seed


# The seed's function, shadowing the builtin as the seed does.
def slice(x, index):
    return x[:, :, index]


def sampling(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = torch.randn_like(mean)
    return mean + eps * torch.exp(logvar * 0.5)


def sampling_ops(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = K.random.normal(shape=K.shape(mean))
    return mean + eps * K.exp(logvar / 2)


def make_scale(factor: float) -> Callable[[Any], Any]:
    return lambda x: x * factor


def control_flow(xs, n=4):
    """Loops, branches, comprehensions and assignments, all allowed in safe mode."""
    total = xs[0].clone()
    for i in range(n):
        if i == 1:
            continue
        elif i > 2:
            break
        total += F.softplus(xs[1]) * i
    else:
        total = total * 100
    head, *rest = [total[:, j] for j in range(total.shape[1])]
    squares = {j: j * j for j in range(3) if j != 1}
    flags = {bool(j % 2) for j in range(4)}
    out = torch.stack([head, *rest], dim=-1)
    out[:, 0] = out[:, 0] - sum(v for v in squares.values())
    scale = 2.0 if 0 < len(rest) <= 3 and flags != set() else -1.0
    return out.sum(dim=-1, keepdim=True) * scale + min(len(xs), max(1, 2))


EPS = 1e-6
MASK = np.array([[1.0, 0.0], [0.5, 2.0]], dtype=np.float32)
BIG = np.arange(1000, dtype=np.int64).reshape(10, 100)
TABLE = {"a": (1, 2), 3: [None, True, "s"]}
WEIRD = (math.inf, -math.inf)


def constants(x):
    offset = torch.tensor(MASK)[0, 1] + BIG[9, 99] + len(TABLE[3]) + TABLE["a"][1]
    y = x.to(torch.float64) * math.pi + EPS + offset
    return F.relu(texp(y)) + (WEIRD[0] > 0) + torch.float64.is_floating_point


def helper(x):
    return x * 3 - 1


def calls_helper(x):
    return helper(x) + helper(x * 2)


class Holder:
    @staticmethod
    def method(x):
        # a comment inside
        return x - 1


def same(fn: Any) -> Any:
    return fn


@same
def decorated(x):
    return x / 4


def test_functions_without_source_or_with_unsaveable_values_fail_at_save_time() -> None:
    namespace: dict[str, Any] = {}
    exec("def generated(x):\n    return x\n", namespace)
    layer = torch.nn.Linear(2, 2)
    cases: list[tuple[Any, str]] = [
        (namespace["generated"], "source code is not available"),
        (np.exp, "built in"),
        (operator.add, "built in"),
        (functools.partial(np.exp, out=None), "built in"),
        (Holder().__init__, "built in"),
        (torch.nn.ReLU(), "ReLU instance, not a function"),
        (torch.nn.Linear, "it is a class"),
        (lambda x: layer(x), "uses 'layer', which holds a value lamina cannot save"),
    ]
    for fn, expected in cases:
        with pytest.raises(FunctionSerializationError) as info:
            serialize_function(fn, owner="Lambda 'lambda_3'")
        message = str(info.value)
        assert message.startswith("Lambda 'lambda_3': cannot save function"), message
        assert expected in message, message


def test_registry_keys_names_classes_and_scopes(clean_registry: None) -> None:
    @registry.register_serializable()
    def plain(x):
        return x

    @registry.register_serializable(package="pkg", name="Renamed")
    class Thing:
        def get_config(self) -> dict[str, Any]:
            return {}

    assert registry.get_registered_name(plain) == "Custom>plain"
    assert registry.get_registered_name(Thing) == "pkg>Renamed"
    assert registry.get_registered_object("pkg>Renamed") is Thing
    assert registry.get_registered_name(len) == "len"
    assert registry.get_registered_object("pkg>Missing") is None
    with pytest.raises(ValueError, match="has no get_config"):
        registry.register_serializable()(type("NoConfig", (), {}))
    with pytest.raises(ValueError, match="without '>'"):
        registry.register_serializable(package="a>b")

    @registry.register_serializable()
    def plain(x):  # re-running a notebook cell registers again
        return x + 1

    assert registry.get_registered_object("Custom>plain") is plain
    seen: list[Any] = []
    with registry.custom_object_scope({"thing": Thing}), registry.custom_object_scope(None):
        assert registry.get_registered_object("thing") is Thing
        thread = threading.Thread(
            target=lambda: seen.append(registry.get_registered_object("thing"))
        )
        thread.start()
        thread.join()
        assert registry.get_registered_object("thing", custom_objects={"thing": 1}) == 1
    assert seen == [None]  # scopes are per thread
    assert registry.get_registered_object("thing") is None


# ----------------------------------------------------------------------------- fresh process

SAVE_SCRIPT = """
import json, sys
import torch
import fn_helpers
from lamina import ops as K
from lamina.saving.functions import serialize_function

def slice(x, index):
    return x[:, :, index]

def sampling(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = torch.randn_like(mean)
    return mean + eps * torch.exp(logvar * 0.5)

def sampling_ops(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = K.random.normal(K.shape(mean))
    return mean + eps * K.exp(logvar / 2)

k = 3.0
times_k = lambda x: x * k

def make(factor):
    return lambda x: x * factor

with_defaults = lambda x, shift=0.5, *, power=2: (x + shift) ** power

torch.manual_seed(0)
x = torch.randn(3, 4, 2)
pair = [torch.randn(128, 2), torch.randn(128, 2)]
cases = {
    "slice": (slice, "x", {"index": 1}),
    "sampling": (sampling, "pair", {}),
    "sampling_ops": (sampling_ops, "pair", {}),
    "times_k": (times_k, "x", {}),
    "closure": (make(-2.0), "x", {}),
    "defaults": (with_defaults, "x", {"power": 3}),
    "module": (fn_helpers.uses_numpy, "x", {}),
}
inputs = {"x": x, "pair": pair}
out = {"inputs": {"x": x.tolist(), "pair": [t.tolist() for t in pair]}, "cases": {}}
for name, (fn, arg, kwargs) in cases.items():
    torch.manual_seed(1)
    reference = fn(inputs[arg], **kwargs)
    config = serialize_function(fn)
    out["cases"][name] = {"config": config, "arg": arg, "kwargs": kwargs,
                          "reference": reference.tolist()}
with open(sys.argv[1], "w") as f:
    json.dump(out, f, allow_nan=False)
"""

LOAD_SCRIPT = """
import json, sys
import torch
from lamina.saving.functions import deserialize_function

with open(sys.argv[1]) as f:
    data = json.load(f)
assert "sampling" not in globals() and "fn_helpers" not in sys.modules
inputs = {"x": torch.tensor(data["inputs"]["x"]),
          "pair": [torch.tensor(t) for t in data["inputs"]["pair"]]}
results = {}
for name, case in data["cases"].items():
    fn = deserialize_function(case["config"], safe_mode=True, trusted_modules=["fn_helpers"],
                              source=sys.argv[1])
    torch.manual_seed(1)
    results[name] = {"kind": case["config"]["kind"],
                     "value": fn(inputs[case["arg"]], **case["kwargs"]).tolist()}
with open(sys.argv[2], "w") as f:
    json.dump(results, f)
"""
