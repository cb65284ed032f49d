"""The function serializer: every storage kind, round trips (also across processes), messages.

References are plain torch computations or the original Python function run on the same
inputs and random seed; the loaded function must match them exactly.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import linecache
import math
import operator
import os
import pickle
import subprocess
import sys
import textwrap
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
from lamina import activations, ops
from lamina import ops as K
from lamina.saving import registry
from lamina.saving.functions import (
    FunctionDeserializationError,
    FunctionSerializationError,
    SafeFunction,
    UnsafeFunctionError,
    describe_function,
    deserialize_function,
    function_label,
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


def test_seed_slice_is_a_safe_expression_and_matches_indexing() -> None:
    config, loaded = roundtrip(slice)
    assert config["kind"] == "expression"
    assert config["version"] == 1
    assert config["source"] == "def slice(x, index):\n    return x[:, :, index]\n"
    assert describe_function(config) == "safe expression"
    x = torch.randn(3, 4, 2)
    assert torch.equal(loaded(x, index=0), x[:, :, 0])
    assert torch.equal(loaded(x, 1), x[:, :, 1])
    assert list(inspect.signature(loaded).parameters) == ["x", "index"]
    assert isinstance(loaded, SafeFunction)
    assert loaded.__name__ == "slice"


def test_seed_sampling_torch_spelling_matches_torch_with_the_same_seed() -> None:
    config, loaded = roundtrip(sampling)
    assert config["globals"] == {"torch": "torch"}
    mean, logvar = torch.randn(128, 2), torch.randn(128, 2)
    torch.manual_seed(7)
    eps = torch.randn_like(mean)
    expected = mean + eps * torch.exp(logvar * 0.5)
    torch.manual_seed(7)
    assert torch.equal(loaded([mean, logvar]), expected)


def test_seed_sampling_ops_spelling_resolves_dotted_names_in_lamina_ops() -> None:
    config, loaded = roundtrip(sampling_ops)
    assert config["globals"] == {"K": "lamina.ops"}
    assert describe_function(config) == "safe expression"
    mean, logvar = torch.randn(128, 2), torch.randn(128, 2)
    torch.manual_seed(3)
    expected = mean + torch.randn(128, 2) * torch.exp(logvar / 2)
    torch.manual_seed(3)
    assert torch.allclose(loaded([mean, logvar]), expected)


k = 2.5
times_k = lambda x: x * k  # noqa: E731 - a lambda on purpose


def make_scale(factor: float) -> Callable[[Any], Any]:
    return lambda x: x * factor


def test_lambda_with_a_global_number_and_with_a_closure_number() -> None:
    config, loaded = roundtrip(times_k)
    assert (config["source"], config["constants"]) == ("lambda x: x * k", {"k": 2.5})
    x = torch.randn(5)
    assert torch.equal(loaded(x), x * 2.5)
    config, loaded = roundtrip(make_scale(-1.5))
    assert config["constants"] == {"factor": -1.5}
    assert config["qualname"] == "make_scale.<locals>.<lambda>"
    assert torch.equal(loaded(x), x * -1.5)


def test_defaults_keyword_only_varargs_and_signature() -> None:
    with_defaults = lambda x, shift=1.0, *, power=2: (x + shift) ** power  # noqa: E731
    config, loaded = roundtrip(with_defaults)
    assert (config["defaults"], config["kwdefaults"]) == ([1.0], {"power": 2})
    x = torch.randn(4)
    assert torch.equal(loaded(x), (x + 1.0) ** 2)
    assert torch.equal(loaded(x, 0.5, power=3), (x + 0.5) ** 3)
    assert str(inspect.signature(loaded)) == "(x, shift=1.0, *, power=2)"

    def spread(x, /, *rest, scale=1, training=None, **extra):
        return x * scale + len(rest) + len(extra) + (1 if training else 0)

    _, loaded = roundtrip(spread)
    assert "training" in inspect.signature(loaded).parameters
    assert loaded(torch.ones(1), 1, 2, scale=2, training=True, a=1).item() == 6.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        _, strict = roundtrip(slice)
        strict(torch.ones(1, 1, 1), nope=1)
    with pytest.raises(TypeError, match="missing required argument 'index'"):
        strict(torch.ones(1, 1, 1))
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        strict(torch.ones(1, 1, 1), 0, x=1)


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


def test_control_flow_matches_python() -> None:
    config, loaded = roundtrip(control_flow)
    assert config["kind"] == "expression"
    xs = [torch.randn(6, 3), torch.randn(6, 3)]
    for n in (0, 2, 4):
        assert torch.allclose(loaded(xs, n), control_flow(xs, n))


EPS = 1e-6
MASK = np.array([[1.0, 0.0], [0.5, 2.0]], dtype=np.float32)
BIG = np.arange(1000, dtype=np.int64).reshape(10, 100)
TABLE = {"a": (1, 2), 3: [None, True, "s"]}
WEIRD = (math.inf, -math.inf)


def constants(x):
    offset = torch.tensor(MASK)[0, 1] + BIG[9, 99] + len(TABLE[3]) + TABLE["a"][1]
    y = x.to(torch.float64) * math.pi + EPS + offset
    return F.relu(texp(y)) + (WEIRD[0] > 0) + torch.float64.is_floating_point


def test_constants_numpy_arrays_dicts_and_allowlisted_aliases() -> None:
    config, loaded = roundtrip(constants)
    assert config["globals"] == {
        "F": "torch.nn.functional",
        "math": "math",
        "texp": "torch.exp",
        "torch": "torch",
    }
    assert set(config["constants"]) == {"BIG", "EPS", "MASK", "TABLE", "WEIRD"}
    assert isinstance(config["constants"]["BIG"]["data"], str)  # base64 above 64 values
    x = torch.randn(3)
    assert torch.equal(loaded(x), constants(x))


def test_tensor_constants_keep_their_dtype() -> None:
    half = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    ints = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    dtype = torch.float16

    def use(x):
        return x.to(dtype) * half.to(dtype) + ints.sum()

    config, loaded = roundtrip(use)
    assert config["globals"]["dtype"] == "torch.float16"  # an allowlisted object, by name
    assert config["constants"]["half"]["dtype"] == "bfloat16"
    x = torch.ones(2)
    assert torch.equal(loaded(x), use(x))


def helper(x):
    return x * 3 - 1


def calls_helper(x):
    return helper(x) + helper(x * 2)


def test_helper_functions_are_saved_with_the_function() -> None:
    config, loaded = roundtrip(calls_helper)
    assert config["globals"]["helper"]["kind"] == "expression"
    x = torch.randn(3)
    assert torch.equal(loaded(x), calls_helper(x))


def test_known_by_name_torch_functional_and_lamina_ops() -> None:
    for fn, path in [(torch.exp, "torch.exp"), (F.relu, "torch.nn.functional.relu")]:
        config, loaded = roundtrip(fn)
        assert config == {"kind": "named", "version": 1, "name": fn.__name__, "path": path}
        assert loaded is fn
        assert describe_function(config) == "registered"
    config, loaded = roundtrip(ops.exp)
    assert config["path"] == "lamina.ops.exp"
    assert loaded is ops.exp
    config, loaded = roundtrip(activations.gelu)
    assert (config["path"], loaded) == ("lamina.activations.gelu", activations.gelu)
    config, loaded = roundtrip(functools.partial(ops.random.normal, stddev=0.5))
    assert config["func"]["path"] == "lamina.ops.random.normal"
    assert describe_function(config) == "registered"


def test_notebook_cells_are_saved_from_their_source() -> None:
    # IPython compiles each cell under a made-up file name and puts its lines in linecache.
    cell = "import torch\n\ndef cell_fn(x, scale=2):\n    return torch.tanh(x) * scale\n"
    filename = "<ipython-input-7-0123456789ab>"
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    try:
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(compile(cell, filename, "exec"), namespace)
        config, loaded = roundtrip(namespace["cell_fn"])
    finally:
        del linecache.cache[filename]
    assert (config["kind"], config["module"]) == ("expression", "__main__")
    x = torch.randn(3)
    assert torch.equal(loaded(x), torch.tanh(x) * 2)


def test_registered_functions_and_missing_registration(clean_registry: None) -> None:
    @registry.register_serializable(package="my_project")
    def gelu_ish(x):
        return x * torch.sigmoid(1.702 * x)

    config, loaded = roundtrip(gelu_ish)
    assert config == {
        "kind": "registered",
        "version": 1,
        "name": "gelu_ish",
        "key": "my_project>gelu_ish",
    }
    assert loaded is gelu_ish
    registry._GLOBAL_CUSTOM_OBJECTS.pop("my_project>gelu_ish")
    with pytest.raises(FunctionDeserializationError) as info:
        deserialize_function(config, source="model.lamina", owner="Lambda 'act'")
    message = str(info.value)
    for part in (
        "Lambda 'act' in 'model.lamina'",
        "'my_project>gelu_ish'",
        "register_serializable",
        "custom_objects={'my_project>gelu_ish': function}",
    ):
        assert part in message
    assert deserialize_function(config, custom_objects={"my_project>gelu_ish": abs}) is abs


def test_partial_of_a_saveable_function() -> None:
    config, loaded = roundtrip(functools.partial(slice, index=1))
    assert config["kind"] == "partial"
    assert function_label(config) == "slice"
    x = torch.randn(2, 3, 2)
    assert torch.equal(loaded(x), x[:, :, 1])


def test_loaded_functions_save_again_pickle_and_copy() -> None:
    config, loaded = roundtrip(sampling)
    assert serialize_function(loaded) == config
    assert copy.deepcopy(loaded) is loaded
    again = pickle.loads(pickle.dumps(loaded))
    mean, logvar = torch.randn(4, 2), torch.randn(4, 2)
    torch.manual_seed(0)
    a = loaded([mean, logvar])
    torch.manual_seed(0)
    assert torch.equal(again([mean, logvar]), a)


pair = (lambda x: x + 1, lambda x: x * 2)  # two lambdas on one line
spanning = (
    functools.reduce(
        operator.add,
        [
            1,
        ],
        0,
    ),
    (lambda x, y=(1, 2): x * y[1]),
)


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


def test_source_extraction_lambdas_on_one_line_multiline_methods_decorators() -> None:
    x = torch.randn(3)
    first, second = (roundtrip(fn) for fn in pair)
    assert (first[0]["source"], second[0]["source"]) == ("lambda x: x + 1", "lambda x: x * 2")
    assert torch.equal(first[1](x), x + 1) and torch.equal(second[1](x), x * 2)
    config, loaded = roundtrip(spanning[1])
    assert torch.equal(loaded(x), x * 2)
    config, loaded = roundtrip(Holder.method)
    assert config["source"].startswith("def method(x):\n    # a comment inside\n")
    assert torch.equal(loaded(x), x - 1)
    config, loaded = roundtrip(decorated)
    assert config["source"] == "def decorated(x):\n    return x / 4\n"
    assert torch.equal(loaded(x), x / 4)


# ----------------------------------------------------------------------------- kinds 3-5


def test_importable_code_needs_trust(fn_helpers: Any, clean_registry: None) -> None:
    config, _ = roundtrip(fn_helpers.safe_double)
    assert config["kind"] == "expression"  # importable but safe: no trust needed
    config = json.loads(json.dumps(serialize_function(fn_helpers.uses_numpy)))
    assert config["kind"] == "module"
    assert (config["module"], config["qualname"]) == ("fn_helpers", "uses_numpy")
    assert "np" in config["reason"]
    assert describe_function(config) == "needs trust (module fn_helpers)"
    with pytest.raises(UnsafeFunctionError) as info:
        deserialize_function(config, source="net.lamina")
    message = str(info.value)
    for part in (
        "'net.lamina'",
        "'uses_numpy'",
        "module 'fn_helpers'",
        "trusted_modules=['fn_helpers']",
        "safe_mode=False",
        "register_serializable",
    ):
        assert part in message
    x = torch.ones(2)
    for options in ({"trusted_modules": ["fn_helpers"]}, {"safe_mode": False}):
        assert deserialize_function(config, **options)(x).tolist() == [2.0, 2.0]
    registry.register_serializable(package="helpers")(fn_helpers.uses_numpy)
    assert deserialize_function(config) is fn_helpers.uses_numpy
    assert describe_function(config) == "registered"
    config, loaded = roundtrip(fn_helpers.Namespace.halve)
    assert config["kind"] == "expression" and loaded(x).tolist() == [0.5, 0.5]


def test_other_source_loads_only_with_safe_mode_false() -> None:
    def polish(x, steps=3):
        i = 0
        while i < steps:
            x = np.tanh(x) + 0 * i
            i += 1
        return x

    config = json.loads(json.dumps(serialize_function(polish, owner="Lambda 'polish'")))
    assert config["kind"] == "source"
    assert config["globals"] == {"np": "import:numpy"}
    assert describe_function(config) == "needs trust (arbitrary source)"
    with pytest.raises(UnsafeFunctionError) as info:
        deserialize_function(config, source="polish.lamina", owner="Lambda 'polish'")
    message = str(info.value)
    for part in (
        "Lambda 'polish' in 'polish.lamina'",
        "function 'polish'",
        "line 3",
        "while loops are not allowed",
        "3 | while i < steps:",
        "safe_mode=False",
        "register_serializable",
        "custom_objects={'polish': your_function}",
    ):
        assert part in message, part
    loaded = deserialize_function(config, safe_mode=False)
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(loaded(x), polish(x))
    assert loaded.__defaults__ == (3,)
    assert serialize_function(loaded) == config
    assert deserialize_function(config, custom_objects={"polish": polish}) is polish


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


def test_custom_objects_override_by_name_and_describe_invalid() -> None:
    config, _ = roundtrip(slice)
    assert deserialize_function(config, custom_objects={"slice": operator.getitem}) is (
        operator.getitem
    )
    assert describe_function({"kind": "expression"}).startswith("invalid (")
    assert describe_function("nope").startswith("invalid (")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kind": "named", "version": 2, "name": "f", "path": "torch.exp"}, "upgrade lamina"),
        ({"kind": "named", "version": "1", "name": "f"}, "version '1', expected 1"),
        ({"kind": "magic", "version": 1, "name": "f"}, "unknown kind 'magic'"),
        ({"kind": "named", "version": 1, "name": ""}, "needs a 'name' string"),
        ([], "must be a dict, got list"),
        (
            {"kind": "expression", "version": 1, "name": "f", "source": "def f(x) return"},
            "malformed: source does not parse",
        ),
    ],
)
def test_malformed_configs_raise_clear_errors(config: Any, message: str) -> None:
    with pytest.raises(FunctionDeserializationError, match=message.replace("(", r"\(")):
        deserialize_function(config)


def test_function_label() -> None:
    assert function_label(slice) == "slice"
    assert function_label(lambda x: x) == "<lambda>"
    assert function_label(functools.partial(slice, index=0)) == "slice"
    assert function_label(torch.nn.ReLU()) == "ReLU"
    assert function_label({"name": "sampling"}) == "sampling"
    assert function_label(deserialize_function(serialize_function(sampling))) == "sampling"


# ----------------------------------------------------------------------------- registry


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


def test_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    (tmp_path / "save.py").write_text(SAVE_SCRIPT)
    (tmp_path / "load.py").write_text(LOAD_SCRIPT)
    saved, loaded = tmp_path / "functions.json", tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    for script, args in (("save.py", [saved]), ("load.py", [saved, loaded])):
        run = subprocess.run(
            [sys.executable, str(tmp_path / script), *map(str, args)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
    data = json.loads(saved.read_text())
    results = json.loads(loaded.read_text())
    assert set(results) == set(data["cases"]) and len(results) == 7
    for name, case in data["cases"].items():
        expected_kind = "module" if name == "module" else "expression"
        assert results[name]["kind"] == expected_kind, name
        np.testing.assert_array_equal(
            np.array(results[name]["value"]), np.array(case["reference"]), err_msg=name
        )
    # the seed's slice by hand, as a check on the reference itself
    x = np.array(data["inputs"]["x"])
    np.testing.assert_array_equal(np.array(results["slice"]["value"]), x[:, :, 1])
    assert textwrap.dedent(data["cases"]["slice"]["config"]["source"]).startswith("def slice")
