"""Hostile function configs, as an attacker would write them into a model file.

Every payload tries to create a sentinel file. Safe mode must refuse each one with a clear
error while loading -- before anything of it runs -- and the sentinel must not exist after.
A second group loads (the code is allowed) but hits a time or memory bound when called.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from lamina.saving.functions import (
    FunctionDeserializationError,
    UnsafeFunctionError,
    describe_function,
    deserialize_function,
)


def expression(source: str, name: str = "<lambda>", **fields: Any) -> dict[str, Any]:
    return {"kind": "expression", "version": 1, "name": name, "source": source, **fields}


TORCH = {"globals": {"torch": "torch"}}
TOUCH = "__import__('os').system('touch {s}')"

# (id, config, a fragment the error must contain). "{s}" is replaced by the sentinel's path.
HOSTILE: list[tuple[str, Any, str]] = [
    ("open", expression("lambda x: open('{s}', 'w')"), "name 'open' is not"),
    ("dunder-import", expression(f"lambda x: {TOUCH}"), "names starting with '__'"),
    (
        "subclasses-walk",
        expression(
            "lambda x: [c for c in ().__class__.__base__.__subclasses__() "
            "if c.__name__ == 'Popen'][0](['touch', '{s}'])"
        ),
        "attributes starting with '_'",
    ),
    ("getattr", expression("lambda x: getattr(x, 'to' + 'file')('{s}')"), "name 'getattr'"),
    ("globals", expression("lambda x: globals()['open']('{s}', 'w')"), "name 'globals'"),
    ("eval", expression(f"lambda x: eval({TOUCH!r})"), "name 'eval'"),
    ("exec", expression(f"lambda x: exec({TOUCH!r})"), "name 'exec'"),
    ("compile", expression("lambda x: compile('1', '{s}', 'eval')"), "name 'compile'"),
    ("torch.save", expression("lambda x: torch.save(x, '{s}')", **TORCH), "torch.save is not"),
    ("torch.load", expression("lambda x: torch.load('{s}')", **TORCH), "torch.load is not"),
    ("torch.from_file", expression("lambda x: torch.from_file('{s}')", **TORCH), "from_file"),
    (
        "torch.hub",
        expression("lambda x: torch.hub.load('{s}', 'm', source='local')", **TORCH),
        "torch.hub is not",
    ),
    ("tensor.tofile", expression("lambda x: x.tofile('{s}')"), "'.tofile()' is not"),
    ("numpy.tofile", expression("lambda x: x.numpy().tofile('{s}')"), "'.numpy()' is not"),
    ("storage", expression("lambda x: x.untyped_storage()"), "'.untyped_storage()' is not"),
    ("Tensor.type", expression("lambda x: x.type('os.system')"), "'.type()' is not"),
    (
        "Tensor.tofile-unbound",
        expression("lambda x: torch.Tensor.tofile(x, '{s}')", **TORCH),
        "torch.Tensor is not",
    ),
    (
        "np.save",
        expression("lambda x: np.save('{s}', x)", globals={"np": "numpy"}),
        "'numpy', which is not on lamina's allowlist",
    ),
    (
        "np-import-ref",
        expression("lambda x: np.save('{s}', x)", globals={"np": "import:numpy"}),
        "'import:numpy', which is not on",
    ),
    (
        "os-global",
        expression("lambda x: os.system('touch {s}')", globals={"os": "os"}),
        "'os', which is not on",
    ),
    (
        "nested-lambda",
        expression("lambda x: (lambda: open('{s}', 'w'))()"),
        "nested lambdas are not allowed",
    ),
    (
        "nested-def",
        expression("def f(x):\n    def g():\n        open('{s}', 'w')\n    return g()\n", "f"),
        "nested function definitions",
    ),
    (
        "module-os",
        {"kind": "module", "version": 1, "name": "system", "module": "os", "qualname": "system"},
        "safe mode does not import modules",
    ),
    (
        "module-subprocess",
        {"kind": "module", "version": 1, "name": "run", "module": "subprocess", "qualname": "run"},
        "trusted_modules",
    ),
    (
        "builtins-eval",
        {"kind": "module", "version": 1, "name": "eval", "module": "builtins", "qualname": "eval"},
        "module 'builtins'",
    ),
    (
        "named-os",
        {"kind": "named", "version": 1, "name": "system", "path": "os.system"},
        "'os.system', which is not on lamina's allowlist",
    ),
    (
        "named-eval",
        {"kind": "named", "version": 1, "name": "eval", "path": "builtins.eval"},
        "not on lamina's allowlist",
    ),
    (
        "registered-os",
        {"kind": "registered", "version": 1, "name": "system", "key": "os>system"},
        "nothing is registered under that key",
    ),
    (
        "partial-os",
        {
            "kind": "partial",
            "version": 1,
            "name": "system",
            "args": ["touch {s}"],
            "keywords": {},
            "func": {
                "kind": "module",
                "version": 1,
                "name": "system",
                "module": "os",
                "qualname": "system",
            },
        },
        "safe mode does not import modules",
    ),
    (
        "helper-smuggles-module",
        expression(
            "lambda x: h('touch {s}')",
            globals={
                "h": {
                    "kind": "module",
                    "version": 1,
                    "name": "system",
                    "module": "os",
                    "qualname": "system",
                }
            },
        ),
        "safe mode does not import modules",
    ),
    (
        "unicode-escaped-name",
        json.loads(
            '{"kind": "expression", "version": 1, "name": "<lambda>", "source": '
            "\"lambda x: \\u005f\\u005fimport\\u005f\\u005f('os').system('touch {s}')\"}"
        ),
        "names starting with '__'",
    ),
    (
        "fullwidth-open",  # NFKC-normalized to 'open' by the parser
        expression("lambda x: \uff4f\uff50\uff45\uff4e('{s}', 'w')"),
        "name 'open' is not",
    ),
    (
        "dunder-globals",
        expression(
            "def f(x):\n    return x.__globals__['__builtins__']['open']('{s}', 'w')\n", "f"
        ),
        "attributes starting with '_'",
    ),
    (
        "format-attribute-walk",
        expression("lambda x: '{{0.__class__.__init__.__globals__}}'.format(x)"),
        "'.format()' is not",
    ),
    ("str.format", expression("lambda x: str.format('{{0.__class__}}', x)"), "name 'str'"),
    ("f-string", expression("lambda x: f'{{x.__class__}}'"), "f-strings are not allowed"),
    ("percent-format", expression("lambda x: '%s' % x"), "'%' formatting"),
    (
        "decorator",
        expression("@(lambda g: open('{s}', 'w'))\ndef f(x):\n    return x\n", "f"),
        "decorators are not allowed",
    ),
    (
        "import",
        expression("def f(x):\n    import os\n    os.system('touch {s}')\n    return x\n", "f"),
        "import statements",
    ),
    (
        "global",
        expression("def f(x):\n    global open\n    return open('{s}', 'w')\n", "f"),
        "global statements",
    ),
    ("nonlocal", expression("def f(x):\n    nonlocal x\n    return x\n", "f"), "nonlocal"),
    ("while-true", expression("def f(x):\n    while True:\n        pass\n", "f"), "while loops"),
    ("huge-pow", expression("lambda x: 10**10**10"), "bits"),
    ("huge-repeat", expression("lambda x: 'a' * 10**12"), "repeating a sequence"),
    ("huge-shift", expression("lambda x: 1 << 10**9"), "bits"),
    ("deep-unary", expression("lambda x: " + "-" * 100_000 + "x"), "characters, more than"),
    ("deep-parens", expression("lambda x: " + "(" * 300 + "x" + ")" * 300), "does not parse"),
    ("deep-binop", expression("lambda x: x" + " + x" * 500), "nested more than"),
    ("deep-binop-parser", expression("lambda x: x" + " + x" * 15_000), "does not parse"),
    ("deep-subscripts", expression("lambda x: " + "x[" * 150 + "0" + "]" * 150), "nested"),
    (
        "name-mismatch",
        expression("def evil(x):\n    return open('{s}', 'w')\n", "slice"),
        "defines 'evil' but the config names 'slice'",
    ),
    (
        "second-statement",
        expression("def slice(x):\n    return x\nopen('{s}', 'w')\n", "slice"),
        "exactly one 'def slice",
    ),
    (
        "lambda-name-but-tuple",
        expression("(open('{s}', 'w'), lambda x: x)[1]"),
        "not one lambda",
    ),
    ("paren-injection", expression("lambda x: x), open('{s}', 'w'"), "not one lambda"),
    (
        "default-expression",
        expression("lambda x, y=open('{s}', 'w'): x", defaults=[1]),
        "Call in a default value",
    ),
    (
        "annotation",
        expression("def f(x: open('{s}', 'w')):\n    return x\n", "f"),
        "Call in a default value or annotation",
    ),
    (
        "object-array",
        expression(
            "lambda x: x + k",
            constants={
                "k": {"__lamina__": "ndarray", "dtype": "object", "shape": [1], "data": "gAN9cQAu"}
            },
        ),
        "dtype 'object'",
    ),
    (
        "pickle-tag",
        expression(
            "lambda x: x + k", constants={"k": {"__lamina__": "pickle", "data": "gAN9cQAu"}}
        ),
        "unknown encoded value",
    ),
    (
        "ref-to-function-as-constant",
        expression("lambda x: k", constants={"k": {"__lamina__": "ref", "path": "os.system"}}),
        "not an allowlisted constant",
    ),
    (
        "builtins-alias",
        expression("lambda x: x", globals={"__builtins__": "builtins"}),
        "bad name '__builtins__'",
    ),
    (
        "shadow-with-eval",
        expression("lambda x: len('{s}')", globals={"len": "builtins.eval"}),
        "'builtins.eval', which is not on",
    ),
    (
        "source-kind",
        {
            "kind": "source",
            "version": 1,
            "name": "f",
            "source": "def f(x):\n    open('{s}', 'w').close()\n    return x\n",
        },
        "cannot be loaded in safe mode",
    ),
    (
        "call-a-local",
        expression("def f(x):\n    g = x.sum\n    return g()\n", "f"),
        "calling the local variable 'g'",
    ),
    ("bound-method-value", expression("lambda x: x.sum.__self__"), "attributes starting"),
    ("module-as-value", expression("lambda x: torch", **TORCH), "may only be used as"),
    (
        "try-except",
        expression(
            "def f(x):\n    try:\n        pass\n    except:\n        pass\n    return x\n", "f"
        ),
        "try statements",
    ),
    ("yield", expression("def f(x):\n    yield open('{s}', 'w')\n", "f"), "yield"),
    (
        "too-new",
        {"kind": "expression", "version": 99, "name": "f", "source": "..."},
        "upgrade lamina",
    ),
    ("not-a-string", expression(123), "'source' must be a string"),  # type: ignore[arg-type]
]


def fill(value: Any, sentinel: str) -> Any:
    if isinstance(value, str):
        return value.replace("{s}", sentinel).replace("{{", "{").replace("}}", "}")
    if isinstance(value, list):
        return [fill(v, sentinel) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, sentinel) for k, v in value.items()}
    return value


def test_the_corpus_is_big_enough() -> None:
    assert len(HOSTILE) >= 30
    assert len({case[0] for case in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(
    ("config", "message"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_config_is_refused_before_anything_runs(
    config: Any, message: str, tmp_path: Path
) -> None:
    sentinel = tmp_path / "pwned"
    config = fill(config, str(sentinel))
    start = time.perf_counter()
    with pytest.raises(FunctionDeserializationError) as info:
        deserialize_function(config, source="evil.lamina", owner="Lambda 'evil'")
    assert time.perf_counter() - start < 2.0
    text = str(info.value)
    assert text.startswith("Lambda 'evil' in 'evil.lamina': "), text
    assert message in text, text
    assert not sentinel.exists()
    assert describe_function(config) != "safe expression"
    assert not sentinel.exists()


def test_policy_refusals_are_unsafe_function_errors(tmp_path: Path) -> None:
    config = fill(HOSTILE[0][1], str(tmp_path / "pwned"))
    with pytest.raises(UnsafeFunctionError, match="safe_mode=False"):
        deserialize_function(config)


# Allowed code that would run unboundedly: it loads, and a call stops at a bound instead.
BOUNDED: list[tuple[str, str, Any, str]] = [
    (
        "huge-range",
        "def f(x):\n    for i in range(10**12):\n        x = x + 1\n    return x\n",
        1,
        "range of",
    ),
    (
        "nested-loops",
        "def f(x):\n    for i in range(10**6):\n        for j in range(10**6):\n"
        "            pass\n    return x\n",
        1,
        "loops ran more than",
    ),
    (
        "comprehension",
        "lambda x: [[j for j in range(10**4)] for i in range(10**4)]",
        1,
        "loops ran more than",
    ),
    ("repeat-by-argument", "lambda n: [0] * n", 10**10, "repeating a sequence"),
    (
        "doubling-list",
        "def f(x):\n    y = [1]\n    for i in range(64):\n        y = y + y\n    return y\n",
        1,
        "a sequence grew past",
    ),
    (
        "extending-list",
        "def f(x):\n    y = []\n    for i in range(10**6):\n        y += range(10**6)\n"
        "    return y\n",
        1,
        "a sequence grew past",
    ),
    (
        "squaring-int",
        "def f(x):\n    y = 3\n    for i in range(64):\n        y = y * y\n    return y\n",
        1,
        "bits",
    ),
    ("pow-by-argument", "lambda n: 7 ** n", 10**10, "bits"),
    ("shift-by-argument", "lambda n: 1 << n", 10**10, "bits"),
    ("round-digits", "lambda n: round(5, -n)", 10**9, "too many digits"),
    ("sum-of-lists", "lambda n: sum([[0]] * n, [])", 10**6, "sum() of sequences"),
]


@pytest.mark.parametrize(
    ("source", "argument", "message"), [b[1:] for b in BOUNDED], ids=[b[0] for b in BOUNDED]
)
def test_unbounded_work_stops_at_a_bound(source: str, argument: Any, message: str) -> None:
    name = "f" if source.startswith("def") else "<lambda>"
    fn = deserialize_function(expression(source, name))
    start = time.perf_counter()
    with pytest.raises(UnsafeFunctionError, match=re.escape(message)):
        fn(argument)
    assert time.perf_counter() - start < 5.0


def test_loop_budget_is_shared_with_helpers_and_reset_per_call() -> None:
    inner = expression(
        "def inner(x):\n    for i in range(1000):\n        pass\n    return x\n", "inner"
    )
    outer = deserialize_function(
        expression(
            "def outer(x, n):\n    for i in range(n):\n        x = inner(x)\n    return x\n",
            "outer",
            globals={"inner": inner},
        )
    )
    assert outer(torch.ones(1), 10).item() == 1.0
    assert outer(torch.ones(1), 10).item() == 1.0  # the budget starts afresh
    with pytest.raises(UnsafeFunctionError, match="loops ran more than"):
        outer(torch.ones(1), 2000)  # 2,000 x 1,000 iterations in one call
