"""Function layers saved as op graphs: ordinary code loads in safe mode, hostile graphs do not."""

from __future__ import annotations

import copy
import json
import runpy
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
import torch

from helpers import save_then_load_in_fresh_processes
from lamina import Input
from lamina.layers import Lambda
from lamina.saving.functions import (
    FunctionDeserializationError,
    GraphFunction,
    Trace,
    UnsafeFunctionError,
    describe_function,
    deserialize_function,
    serialize_function,
)

SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from lamina import Input, Model, load_model
    from lamina.layers import Lambda

    def checks(x, eps=torch.finfo(torch.float32).eps):
        assert isinstance(x, torch.Tensor), f"expected a tensor, got {type(x)}"
        if not isinstance(x, torch.Tensor):
            raise TypeError("no")
        with torch.no_grad():
            y = x.clamp(-1.0, 1.0)
        def helper(t):
            return t * 2
        i = 0
        while i < 2:
            y = helper(y)
            i += 1
        keys = sorted([3, 1, 2], key=lambda v: -v)
        label = f"{len(keys)} keys, {x.shape[-1]} features"
        try:
            raise ValueError(label)
        except ValueError as error:
            assert str(error) == "3 keys, 4 features"
        scale = list(map(float, keys))[0] + float(np.sqrt(2.0))
        return pow(y, 2) * scale + eps

    def inplace(x):
        y = torch.empty_like(x).copy_(x)
        y.clamp_(-0.5, 0.5)
        return y.nan_to_num() + torch.quantile(x, 0.5, dim=-1, keepdim=True)

    def flat(x):
        return x.view(x.shape[0], -1)

    def noise(x, training=None):
        return x + torch.randn_like(x) if training else x * 1.0

    a = Input(shape=(3, 4))
    outs = [Lambda(f)(a) for f in (checks, inplace, flat)] + [Lambda(noise)(a)]
    model = Model(a, outs)
    x = np.random.RandomState(0).randn(5, 3, 4).astype("float32")
    if sys.argv[1] == "save":
        import warnings
        warnings.simplefilter("error")
        model.save(sys.argv[2])
        np.savez(sys.argv[3], *model.predict(x, verbose=0))
    else:
        loaded = load_model(sys.argv[2], safe_mode=True)
        expected = np.load(sys.argv[3])
        got = loaded.predict(x, verbose=0)
        for i, g in enumerate(got):
            np.testing.assert_array_equal(g, expected[f"arr_{i}"])
        torch.manual_seed(1)
        y = loaded.layers[-1](torch.ones(7, 3, 4), training=True)
        torch.manual_seed(1)
        assert torch.equal(y, torch.ones(7, 3, 4) + torch.randn(7, 3, 4))
        print("ok", sorted(m for m in sys.modules if m.startswith("lamina.saving._")))
    """
)


def test_ordinary_code_saves_as_op_graphs_and_loads_safely_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    path, stdout = save_then_load_in_fresh_processes(SCRIPT, tmp_path)
    assert "ok []" in stdout
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    kinds = [
        layer["config"]["function"]["__function__"]["kind"]
        for layer in config["model"]["config"]["layers"]
        if layer["class_name"] == "Lambda"
    ]
    assert kinds == ["graph"] * 4


def _graph(fn: Any, shape: tuple[int | None, ...] = (None, 3), **arguments: Any) -> dict[str, Any]:
    layer = Lambda(fn, arguments=arguments)
    specs = layer(Input(shape=shape[1:])).node.inputs
    return serialize_function(fn, trace=Trace(specs, arguments, ()))


def test_the_batch_dimension_stays_symbolic() -> None:
    def f(x: Any) -> Any:
        return x.reshape(x.shape[0] * 3) + torch.randn(x.shape[0] * 3)

    config = _graph(f)
    assert {"batch": [3, 0]} in config["graphs"]["any"]["nodes"][0]["args"]
    loaded = deserialize_function(json.loads(json.dumps(config)))
    assert loaded(torch.ones(11, 3)).shape == (33,)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def f(x):\n    return x * x.sum().item()\n", "item, which reads a tensor's values"),
        ("def f(x):\n    return x if x.sum() > 0 else -x\n", "__bool__"),
        ("def f(x):\n    return torch.from_numpy(x.numpy())\n", "numpy"),
    ],
)
def test_untraceable_functions_save_as_source_with_a_warning(
    source: str, reason: str, tmp_path: Path
) -> None:
    import runpy

    (tmp_path / "user_file.py").write_text("import torch\n" + source)
    fn = runpy.run_path(str(tmp_path / "user_file.py"))["f"]
    a = Input(shape=(3,))
    layer = Lambda(fn)
    layer(a)
    from lamina.saving.graph import serialize_layer

    with pytest.warns(UserWarning, match=reason) as caught:
        entry = serialize_layer(layer)
    assert "user_file.py:2" in str(caught[0].message)
    config = entry["config"]["function"]["__function__"]
    assert describe_function(config) == "source: needs trust"
    with pytest.raises(UnsafeFunctionError, match="safe_mode=False"):
        deserialize_function(config)


def test_old_safe_expressions_say_to_load_trusted_and_save_again() -> None:
    old = {
        "kind": "expression",
        "version": 1,
        "name": "slice",
        "source": "def slice(x, index):\n    return x[:, :, index]\n",
        "globals": {},
        "constants": {},
    }
    assert describe_function(old) == "old safe expression: needs trust (re-save)"
    with pytest.raises(UnsafeFunctionError, match="safe_mode=False and save it again"):
        deserialize_function(old)
    trusted = deserialize_function(old, safe_mode=False)
    assert trusted(torch.ones(1, 2, 3), index=0).shape == (1, 2)


def _hostile(mutate: Any) -> dict[str, Any]:
    config = copy.deepcopy(_graph(lambda x: torch.exp(x * 2.0)))
    mutate(config)
    return config


def _nodes(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config["graphs"]["any"]["nodes"]  # type: ignore[no-any-return]


def _set_op(op: str) -> Any:
    return lambda c: _nodes(c)[0].update(op=op)


HOSTILE = {
    "unknown op": _set_op("torch.definitely_not_an_op"),
    "os.system": _set_op("os.system"),
    "builtins.eval": _set_op("builtins.eval"),
    "torch._dynamo": _set_op("torch._dynamo.optimize"),
    "getattr": _set_op("getattr"),
    "Tensor.__reduce_ex__": _set_op("Tensor.__reduce_ex__"),
    "torch.load": _set_op("torch.load"),
    "forward reference": lambda c: _nodes(c)[0]["args"].__setitem__(0, {"tensor": 5}),
    "cycle": lambda c: _nodes(c)[0]["args"].__setitem__(0, {"tensor": 1}),
    "wrong arity": lambda c: _nodes(c)[1]["args"].extend([1, 2, 3, 4]),
    "huge shape": lambda c: _nodes(c).insert(
        0,
        {
            "op": "torch.zeros",
            "args": [1 << 20, 1 << 20],
            "kwargs": {},
            "outputs": 1,
            "specs": [[[1 << 20, 1 << 20], "float32"]],
        },
    ),
    "huge expand": lambda c: _nodes(c).append(
        {
            "op": "Tensor.repeat",
            "args": [{"tensor": 2}, 1 << 24, 1 << 24],
            "kwargs": {},
            "outputs": 1,
            "specs": [[[None, None], "float32"]],
        }
    ),
    "deep nesting": lambda c: _nodes(c)[0]["args"].append(json.loads("[" * 40 + "]" * 40)),
    "bad tag": lambda c: _nodes(c)[0]["args"].append({"import": "os"}),
    "bad dtype": lambda c: _nodes(c)[0]["args"].append({"dtype": "object"}),
    "bad keyword": lambda c: _nodes(c)[0]["kwargs"].update({"__class__": 1}),
    "bad spec": lambda c: _nodes(c)[0].update(specs=[[[None, 99], "float32"]]),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_op_graphs_are_refused_with_nothing_imported(name: str) -> None:
    config = json.loads(json.dumps(_hostile(HOSTILE[name])))
    before = set(sys.modules)
    with pytest.raises(FunctionDeserializationError):
        deserialize_function(config)
    assert set(sys.modules) == before
    assert describe_function(config).startswith("invalid")


def test_graph_functions_keep_their_config_and_arguments() -> None:
    config = _graph(lambda x, index: x[:, index], index=1)
    loaded = deserialize_function(config)
    assert isinstance(loaded, GraphFunction)
    assert serialize_function(loaded) == config
    np.testing.assert_array_equal(
        loaded(torch.arange(6.0).reshape(2, 3), index=1), torch.tensor([1.0, 4.0])
    )
    with pytest.raises(TypeError, match="traced with arguments"):
        loaded(torch.ones(2, 3), index=2)


MODULE_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from lamina import load_model

    x = np.random.RandomState(0).randn(8, 4).astype("float32")
    model = load_model(sys.argv[1], safe_mode=True)
    predictions = model.predict(x, verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((8, 1), "float32"), epochs=1, shuffle=False, verbose=0)
    np.savez(sys.argv[2], predictions, *[w.detach().numpy() for w in model.parameters()])
    """
)


def test_a_module_argument_is_called_by_the_graph_and_trains_after_a_safe_load(
    tmp_path: Path,
) -> None:
    from torch import nn

    from lamina import Model
    from lamina.layers import Dense

    torch.manual_seed(0)
    a = Input(shape=(4,))
    net = nn.Linear(4, 4)
    model = Model(a, Dense(1)(Lambda(lambda x, net: net(x) * 2, arguments={"net": net})(a)))
    x = np.random.RandomState(0).randn(8, 4).astype("float32")
    y = np.ones((8, 1), "float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "m.lamina"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "saved as source" warning
        model.save(path)
    function = json.loads(zipfile.ZipFile(path).read("config.json"))["model"]["config"]["layers"][1]
    graph = function["config"]["function"]["__function__"]
    assert graph["kind"] == "graph" and graph["modules"] == ["net"]
    assert [n["op"] for n in graph["graphs"]["any"]["nodes"]] == ["module:net", "Tensor.mul"]
    assert graph["graphs"]["any"]["constants"] == []  # the weights are not inlined

    script, out = tmp_path / "load_and_train.py", tmp_path / "out.npz"
    script.write_text(MODULE_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(out)],
        capture_output=True,
        text=True,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = np.load(out)
    np.testing.assert_array_equal(loaded["arr_0"], model.predict(x, verbose=0))
    before = net.weight.detach().clone()
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    assert not torch.equal(net.weight, before)
    for i, weight in enumerate(model.parameters()):
        np.testing.assert_array_equal(loaded[f"arr_{i + 1}"], weight.detach().numpy())


def test_a_module_argument_node_needs_its_module() -> None:
    from torch import nn

    layer = Lambda(lambda x, net: net(x) + 1, arguments={"net": nn.Linear(3, 3)})
    specs = layer(Input(shape=(3,))).node.inputs
    config = serialize_function(layer.function, trace=Trace(specs, layer.arguments, ()))
    loaded = deserialize_function(config, safe_mode=True)
    x = torch.randn(2, 3)
    net = layer.arguments["net"]
    torch.testing.assert_close(loaded(x, net=net), net(x) + 1)
    with pytest.raises(TypeError, match="module argument 'net'"):
        loaded(x)
    with pytest.raises(TypeError, match="module argument 'net'"):
        loaded(x, net=torch.exp)  # only a module: a file cannot make a node call anything else
    bad = copy.deepcopy(config)
    bad["modules"] = []
    with pytest.raises(FunctionDeserializationError, match="does not list"):
        deserialize_function(bad, safe_mode=True)


MASK_SCRIPT = textwrap.dedent(
    """
    import sys, warnings, numpy as np, torch
    from lamina import Input, Model, load_model
    from lamina.layers import LSTM, Embedding, GlobalAveragePooling1D, Lambda

    tokens, features = Input(shape=(5,), dtype="int64"), Input(shape=(4, 3))
    e = Embedding(10, 3, mask_zero=True)(tokens)
    y = Lambda(lambda x: x * 2, mask=lambda inputs, mask: mask & (inputs.sum(-1) > -9))(e)
    z = Lambda(lambda x: x + 1, mask=lambda inputs, mask: mask)(y)  # passed on
    pair = lambda inputs, mask: [mask[0], ~mask[1]]  # noqa: E731
    both = Lambda(lambda x: [x[0] + x[1], x[0] - x[1]], mask=pair)
    w = both([y, z])
    u = Lambda(lambda x: x, mask=lambda inputs, mask: inputs[..., 0] > 0)(features)  # no mask in
    def weighted(x, mask=None):  # a function that takes the mask: traced on it, not None
        return x if mask is None else x * mask[..., None].float()

    outputs = [GlobalAveragePooling1D()(t) for t in (y, z, u)] + [LSTM(2)(w[0])]
    outputs.append(Lambda(weighted)(e))
    model = Model([tokens, features], outputs)
    x = [np.array([[1, 2, 0, 0, 3], [0, 4, 5, 0, 0]]), np.random.RandomState(0).randn(2, 4, 3)]
    x[1] = x[1].astype("float32")
    if sys.argv[1] == "save":
        warnings.simplefilter("error")
        model.save(sys.argv[2])
        np.savez(sys.argv[3], *model.predict(x, verbose=0))
    else:
        loaded = load_model(sys.argv[2], safe_mode=True)
        expected = np.load(sys.argv[3])
        got = loaded.predict(x, verbose=0)
        for i, g in enumerate(got):
            np.testing.assert_array_equal(g, expected[f"arr_{i}"])
        assert (got[-1][0, 2:4] == 0).all() and (got[-1][0, :2] != 0).all()
        inputs = torch.randn(3, 5, 3)
        mask = torch.rand(3, 5) > 0.5
        cases = [(inputs, mask), (inputs, mask), ([inputs, inputs], [mask, ~mask])]
        cases.append((torch.randn(3, 4, 3), None))
        pairs = [(a, b) for a, b in zip(model.layers, loaded.layers) if getattr(a, "mask", None)]
        assert len(pairs) == len(cases)
        for (original, copy), (a, m) in zip(pairs, cases):
            want, have = original.compute_mask(a, m), copy.compute_mask(a, m)
            want, have = torch.stack(list(want)), torch.stack(list(have))  # a mask, or two
            assert torch.equal(want, have) and 0 < int(have.sum()) < have.numel()
        print("ok")
    """
)


def test_a_lambda_mask_function_saves_as_an_op_graph_and_loads_safely(tmp_path: Path) -> None:
    script = tmp_path / "masks.py"
    script.write_text(MASK_SCRIPT)
    path, outputs = tmp_path / "m.lamina", tmp_path / "out.npz"
    arguments = ["save", str(path), str(outputs)]
    with warnings.catch_warnings(), patch.object(sys, "argv", [str(script), *arguments]):
        runpy.run_path(str(script), run_name="__main__")  # saved here, loaded in a fresh process
    done = subprocess.run(
        [sys.executable, str(script), "load", str(path), str(outputs)],
        capture_output=True,
        text=True,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok" in done.stdout
    layers = json.loads(zipfile.ZipFile(path).read("config.json"))["model"]["config"]["layers"]
    masks = [
        layer["config"]["mask"]["__function__"]
        for layer in layers
        if layer["class_name"] == "Lambda" and layer["config"]["mask"] is not None
    ]
    assert [m["kind"] for m in masks] == ["graph"] * 4
    assert [m["positional"] for m in masks] == [["inputs", "mask"]] * 4
    assert masks[-1]["arguments"] == {"mask": None}  # traced without an input mask
    weighted = layers[-1]["config"]["function"]["__function__"]
    assert weighted["kind"] == "graph" and weighted["mask_inputs"] is None  # one mask
    assert weighted["input_specs"][1] == [[None, 5], "bool"]


def test_lists_and_dicts_of_module_arguments_are_called_by_path() -> None:
    from torch import nn

    def stack(x, nets, heads):
        for net in nets:
            x = torch.relu(net(x))
        return heads["mean"](x) * heads["scale"](x)

    nets = [nn.Linear(3, 3), nn.Linear(3, 3)]
    heads = {"mean": nn.Linear(3, 2), "scale": nn.Sequential(nn.Linear(3, 2), nn.Tanh())}
    layer = Lambda(stack, arguments={"nets": nets, "heads": heads})
    specs = layer(Input(shape=(3,))).node.inputs
    config = serialize_function(stack, trace=Trace(specs, layer.arguments, ()))
    assert config["kind"] == "graph" and config["arguments"] == {}
    assert config["modules"] == ["nets.0", "nets.1", "heads.mean", "heads.scale"]
    loaded = deserialize_function(config, safe_mode=True)
    x = torch.randn(2, 3)
    torch.testing.assert_close(loaded(x, nets=nets, heads=heads), stack(x, nets, heads))
    with pytest.raises(TypeError, match=r"module argument 'nets\.1'"):
        loaded(x, nets=nets[:1], heads=heads)
    for bad in (["nets.0.weight"], ["__class__.x y"], ["nets." + "0" * 9]):
        hostile = {**copy.deepcopy(config), "modules": bad}
        with pytest.raises(FunctionDeserializationError, match="'modules' must be"):
            deserialize_function(hostile, safe_mode=True)


def test_saving_leaves_a_module_argument_as_it_was(tmp_path: Path) -> None:
    from torch import nn

    from lamina import Model, load_model

    bn = nn.BatchNorm1d(4).train()  # a call in training mode updates the running statistics
    a = Input(shape=(4,))
    model = Model(a, Lambda(lambda x, bn: bn(x), arguments={"bn": bn})(a))
    bn(torch.randn(8, 4) * 3 + 1)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    model.save(tmp_path / "m.lamina")  # traced: the module ran on random inputs
    for key, value in bn.state_dict().items():
        assert torch.equal(value, before[key]), key
    loaded = load_model(tmp_path / "m.lamina", safe_mode=True)
    state = loaded.layers[1].state_dict()
    torch.testing.assert_close(state["argument_module_0.running_mean"], before["running_mean"])
