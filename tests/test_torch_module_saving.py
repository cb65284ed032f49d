"""Saving models with plain torch modules in them: torch.nn classes from a fixed table, a
user's classes when registered or in `trusted_modules`, weights always."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import lamina
from lamina import Input, Model
from lamina.layers import Dense, Lambda, TorchModuleWrapper
from lamina.saving import register_serializable
from lamina.saving.errors import LoadError, SaveError


def test_torch_nn_modules_wrapped_by_a_call_save_and_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    inputs = Input(shape=(3, 8, 8))
    h = nn.Conv2d(3, 4, 3, padding=1, bias=False)(inputs)
    h = nn.BatchNorm2d(4)(h)
    seq, _ = nn.LSTM(64, 5, batch_first=True)(nn.Flatten(2)(h))
    model = Model(inputs, Dense(2)(seq[:, -1]))
    x = np.random.rand(2, 3, 8, 8).astype("float32")
    model.save(tmp_path / "m.lamina")
    with zipfile.ZipFile(tmp_path / "m.lamina") as archive:
        config = json.loads(archive.read("config.json"))
    text = json.dumps(config)
    assert '"__torch_module__"' in text and '"class_name": "Conv2d"' in text
    loaded = lamina.models.load_model(tmp_path / "m.lamina")
    conv = loaded.layers[1].module
    assert type(conv) is nn.Conv2d and conv.bias is None and conv.padding == (1, 1)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


@register_serializable(package="tests")
class Scaled(nn.Module):
    def __init__(self, features: int, factor: float = 2.0) -> None:
        super().__init__()
        self.features, self.factor = features, factor
        self.linear = nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * self.factor


class WithConfig(nn.Module):
    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def get_config(self) -> dict[str, list[int]]:
        return {"sizes": [self.layers[0].in_features, *(m.out_features for m in self.layers)]}


def test_a_registered_user_module_is_rebuilt(tmp_path: Path) -> None:
    inputs = Input(shape=(4,))
    model = Model(inputs, Scaled(4, factor=3.0)(inputs))
    model.save(tmp_path / "m.lamina")
    loaded = lamina.models.load_model(tmp_path / "m.lamina")
    module = loaded.layers[1].module
    assert type(module) is Scaled and module.factor == 3.0
    x = np.random.rand(3, 4).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_user_module_with_get_config_is_rebuilt_from_it(tmp_path: Path) -> None:
    inputs = Input(shape=(4,))
    model = Model(inputs, WithConfig([4, 6, 2])(inputs))
    model.save(tmp_path / "m.lamina")
    loaded = lamina.models.load_model(
        tmp_path / "m.lamina", custom_objects={"WithConfig": WithConfig}
    )
    x = np.random.rand(3, 4).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unreadable_constructor_arguments_are_refused_at_save(tmp_path: Path) -> None:
    class Opaque(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.linear = nn.Linear(n, n)  # `n` is not kept

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x)

    inputs = Input(shape=(4,))
    model = Model(inputs, Opaque(4)(inputs))
    with pytest.raises(SaveError, match=r"Opaque module.*get_config\(\).*save_weights"):
        model.save(tmp_path / "m.lamina")
    model.save_weights(tmp_path / "m.weights.safetensors")


PACKAGE = """
import torch
from torch import nn


class Gate(nn.Module):
    def __init__(self, features: int, bias: bool = True) -> None:
        super().__init__()
        self.features = features
        self.proj = nn.Linear(features, 2 * features, bias=bias)

    def forward(self, x):
        a, b = self.proj(x).chunk(2, dim=-1)
        return a * torch.sigmoid(b)
"""

FRESH = """
import sys
import numpy as np
import lamina
from lamina import Input, Model
from lamina.saving.errors import LoadError

path, x_path, expected_path = sys.argv[1:4]
x, expected = np.load(x_path), np.load(expected_path)
try:
    lamina.models.load_model(path)
except LoadError as error:
    print("REFUSED:", error)
loaded = lamina.models.load_model(path, trusted_modules=["lamina_gate_blocks"])
np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
print("TRUSTED:", type(loaded.layers[1].module).__module__)

from lamina_gate_blocks import Gate  # weights always load into the same architecture
inputs = Input(shape=(4,))
again = Model(inputs, Gate(4)(inputs))
again.load_weights(sys.argv[4])
np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-6)
print("WEIGHTS: ok")
"""


def test_a_user_module_loads_in_a_fresh_process_only_when_trusted(tmp_path: Path) -> None:
    package = tmp_path / "lamina_gate_blocks"
    package.mkdir()
    (package / "__init__.py").write_text(PACKAGE)
    sys.path.insert(0, str(tmp_path))
    try:
        from lamina_gate_blocks import Gate  # type: ignore[import-not-found]

        inputs = Input(shape=(4,))
        model = Model(inputs, Gate(4)(inputs))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lamina_gate_blocks", None)
    x = np.random.rand(3, 4).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    model.save(tmp_path / "m.lamina")
    model.save_weights(tmp_path / "m.weights.safetensors")
    (tmp_path / "fresh_load.py").write_text(FRESH)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "fresh_load.py"),
            *(str(tmp_path / n) for n in ("m.lamina", "x.npy", "expected.npy")),
            str(tmp_path / "m.weights.safetensors"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    refused = next(line for line in done.stdout.splitlines() if line.startswith("REFUSED"))
    assert "lamina_gate_blocks.Gate" in refused
    assert (
        "register_serializable" in refused and "trusted_modules=['lamina_gate_blocks']" in refused
    )
    assert "TRUSTED: lamina_gate_blocks" in done.stdout and "WEIGHTS: ok" in done.stdout


def test_a_class_defined_in_a_function_needs_registration(tmp_path: Path) -> None:
    class Local(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n
            self.linear = nn.Linear(n, n)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x)

    inputs = Input(shape=(4,))
    model = Model(inputs, Local(4)(inputs))
    model.save(tmp_path / "m.lamina")
    with pytest.raises(LoadError, match=r"Local.*register_serializable.*trusted_modules"):
        lamina.models.load_model(tmp_path / "m.lamina", trusted_modules=["tests"])
    loaded = lamina.models.load_model(tmp_path / "m.lamina", custom_objects={"Local": Local})
    x = np.random.rand(2, 4).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ Lambda and modules
def apply_module(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    return module(x)


def test_a_lambda_given_a_module_through_arguments_trains_and_saves(tmp_path: Path) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(4, 2)
    inputs = Input(shape=(4,))
    model = Model(inputs, Lambda(apply_module, arguments={"module": linear})(inputs))
    before = linear.weight.detach().clone()
    x, y = np.random.rand(8, 4).astype("float32"), np.random.rand(8, 2).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert not torch.equal(before, linear.weight)
    # The graph calls the module by name (its weights are not inlined as constants), so it
    # saves without a warning and loads in safe mode with nothing trusted.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(tmp_path / "m.lamina")
    loaded = lamina.models.load_model(tmp_path / "m.lamina", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_lambda_that_is_a_module_saves(tmp_path: Path) -> None:
    inputs = Input(shape=(4,))
    model = Model(inputs, Lambda(nn.Linear(4, 2))(inputs))
    model.save(tmp_path / "m.lamina")
    loaded = lamina.models.load_model(tmp_path / "m.lamina")
    x = np.random.rand(3, 4).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_lambda_closing_over_a_module_trains_and_says_how_to_save(tmp_path: Path) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(4, 2)
    inputs = Input(shape=(4,))
    model = Model(inputs, Lambda(lambda t: linear(t))(inputs))
    before = linear.weight.detach().clone()
    x, y = np.random.rand(8, 4).astype("float32"), np.random.rand(8, 2).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert not torch.equal(before, linear.weight)
    with pytest.raises(SaveError, match="arguments"):
        model.save(tmp_path / "m.lamina")


def test_a_lambda_reaching_weights_it_cannot_track_is_refused() -> None:
    class Holder:
        def __init__(self) -> None:
            self.module = nn.Linear(4, 2)

    holder = Holder()
    with pytest.raises(Exception, match=r"does not track.*\(2, 4\).*arguments="):
        Lambda(lambda t: holder.module(t))(Input(shape=(4,)))
    modules = {"a": nn.Linear(4, 2)}  # one level into containers is tracked
    layer = Lambda(lambda t: modules["a"](t))
    layer(Input(shape=(4,)))
    assert any(p is modules["a"].weight for p in layer.parameters())


def test_a_lambda_over_a_partial_tracks_its_module() -> None:
    import functools

    linear = nn.Linear(4, 2)
    layer = Lambda(functools.partial(apply_module, module=linear))
    assert layer(Input(shape=(4,))).shape == (None, 2)
    assert any(p is linear.weight for p in layer.parameters())


def test_wrapped_modules_show_their_torch_repr_in_summary_and_plot() -> None:
    inputs = Input(shape=(3, 8, 8))
    model = Model(inputs, nn.Conv2d(3, 4, 3, stride=2)(inputs))
    lines: list[str] = []
    model.summary(print_fn=lines.append, line_length=140)
    assert "Conv2d(3, 4, kernel_size=(3, 3), stride=(2, 2))" in "\n".join(lines)
    from lamina.visualization.dot import model_to_dot

    assert "Conv2d(3, 4, kernel_size=(3, 3), stride=(2, 2))" in model_to_dot(model)
    assert isinstance(model.layers[1], TorchModuleWrapper)


def test_a_module_that_is_not_a_lamina_entry_is_refused() -> None:
    with pytest.raises(Exception, match="never unpickles"):
        TorchModuleWrapper.from_config({"name": "w", "module": "gASVpickled"})


class Residual(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(x)


def test_torch_containers_and_modules_given_modules_save(tmp_path: Path) -> None:
    inputs = Input(shape=(4,))
    h = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 4))(inputs)
    h = nn.ModuleDict({"a": nn.Linear(4, 4)})["a"](h)
    h = Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh()))(h)
    model = Model(inputs, h)
    model.save(tmp_path / "m.lamina")
    loaded = lamina.models.load_model(tmp_path / "m.lamina", custom_objects={"Residual": Residual})
    assert [type(m) for m in loaded.layers[3].module.inner] == [nn.Linear, nn.Tanh]
    x = np.random.rand(3, 4).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_module_taking_only_positional_values_needs_get_config(tmp_path: Path) -> None:
    class Stack(nn.Module):
        def __init__(self, *sizes: int) -> None:
            super().__init__()
            self.linear = nn.Linear(sizes[0], sizes[-1])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x)

    inputs = Input(shape=(4,))
    model = Model(inputs, Stack(4, 2)(inputs))
    with pytest.raises(SaveError, match="Stack module"):
        model.save(tmp_path / "m.lamina")
