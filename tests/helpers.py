"""The shared layer-test helper: one `check_layer(...)` call per layer."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lamina import Input
from lamina.core.layer import Layer
from lamina.core.tensor import flatten, map_structure


def check_layer(
    make: Callable[[], Layer],
    input_shape: Any,
    reference: Callable[..., Any],
    *,
    batch: int = 3,
    input_dtype: torch.dtype = torch.float32,
    expected_shape: Any = None,
    atol: float = 1e-6,
    seed: int = 0,
) -> Layer:
    """Check a layer against a reference and against its own contracts.

    - Called on `Input`s of `input_shape` (without batch), the symbolic output shape is
      `expected_shape` (when given) and matches the real output's shape with `None` batch.
    - On random data, the output equals `reference(inputs_as_numpy, layer)`.
    - Rebuilt from `get_config()` with the same weights, it computes the same output.
    - In a model saved to a `.lamina` file and loaded back (safe mode), it computes the same
      output, and the model's summary names it.
    - Gradients reach every trainable weight.

    `input_shape` is a tuple for one input, or a list of tuples for a list of inputs.
    """
    generator = torch.Generator().manual_seed(seed)
    several = isinstance(input_shape, list)
    shapes = input_shape if several else [input_shape]

    def sample(shape: tuple[int, ...]) -> torch.Tensor:
        if input_dtype.is_floating_point:
            return torch.randn((batch, *shape), generator=generator, dtype=input_dtype)
        return torch.randint(0, 5, (batch, *shape), generator=generator, dtype=input_dtype)

    values = [sample(s) for s in shapes]
    inputs = values if several else values[0]

    layer = make()
    symbolic = [Input(shape=s, dtype=input_dtype) for s in shapes]
    out_symbolic = layer(symbolic if several else symbolic[0])
    output = layer(inputs)

    symbolic_shapes = map_structure(lambda t: t.shape, out_symbolic)
    real_shapes = [(None, *tuple(t.shape)[1:]) for t in flatten(output)]
    assert [tuple(s) for s in _shape_leaves(symbolic_shapes)] == real_shapes, (
        symbolic_shapes,
        real_shapes,
    )
    if expected_shape is not None:
        assert symbolic_shapes == expected_shape, (symbolic_shapes, expected_shape)

    arrays = [v.numpy() for v in values]
    expected = reference(arrays if several else arrays[0], layer)
    for got, want in zip(flatten(output), flatten(expected)):
        np.testing.assert_allclose(got.detach().numpy(), want, atol=atol, rtol=1e-5)

    clone = type(layer).from_config(layer.get_config())
    clone(symbolic if several else symbolic[0])
    clone.set_weights(layer.get_weights())
    for got, want in zip(flatten(clone(inputs)), flatten(output)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=atol)

    _check_save_load(layer, symbolic if several else symbolic[0], inputs, output, atol)

    if layer.trainable_weights:
        total = sum(t.float().sum() for t in flatten(layer(inputs)))
        total.backward()
        for weight in layer.trainable_weights:
            assert weight.grad is not None and torch.isfinite(weight.grad).all()
    return layer


def _check_save_load(layer: Layer, symbolic: Any, inputs: Any, output: Any, atol: float) -> None:
    """Save a model around a fresh call of `layer` and load it back in safe mode."""
    import lamina
    from lamina import Model

    model = Model(symbolic, layer(symbolic))
    assert type(layer).__name__ in _summary_text(model)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.lamina")
        model.save(path)
        loaded = lamina.load_model(path)
    for got, want in zip(flatten(loaded(inputs)), flatten(output)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=atol)


def _summary_text(model: Any) -> str:
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _shape_leaves(shapes: Any) -> list[tuple[int | None, ...]]:
    if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
        return [shapes]
    if isinstance(shapes, dict):
        shapes = list(shapes.values())
    return [leaf for item in shapes for leaf in _shape_leaves(item)]


def save_then_load_in_fresh_processes(script_text: str, folder: Any) -> tuple[Any, str]:
    """Run a user script twice, each in a fresh process: ``script save PATH OUT`` then
    ``script load PATH OUT``. Returns the saved file's path and the load's stdout."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(folder) / "user_script.py"
    script.write_text(script_text)
    path, outputs = Path(folder) / "m.lamina", Path(folder) / "out.npz"
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    stdout = ""
    for step in ("save", "load"):
        done = subprocess.run(
            [sys.executable, str(script), step, str(path), str(outputs)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        stdout = done.stdout
    return path, stdout
