"""`Model.export`: a model as a `torch.export` program (`.pt2`) or an ONNX file, with a
dynamic batch dimension; function layers (`Lambda`, operators) are traced like any layer."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn


class _Inference(nn.Module):
    """The model called on its inputs as positional tensors, in inference mode."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.several = len(model.inputs) > 1

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.model(list(inputs) if self.several else inputs[0], training=False)


def _examples(model: Any, batch: int) -> tuple[torch.Tensor, ...]:
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    examples = []
    for tensor in model.inputs:
        shape = [batch if d is None else d for d in tensor.shape]
        examples.append(torch.zeros(shape, dtype=tensor.dtype, device=device))
    return tuple(examples)


def export(model: Any, filepath: str | os.PathLike[str], *, format: str = "torch") -> Any:
    """Export `model` for inference.

    Args:
        model: a functional or Sequential model with known input shapes.
        filepath: where to write (`.pt2` for `"torch"`, `.onnx` for `"onnx"`).
        format: `"torch"` (`torch.export`, load it back with `torch.export.load`) or
            `"onnx"` (`torch.onnx.export` with the dynamo exporter; needs the `onnx` package:
            `pip install lamina[export]`).

    Returns:
        The `torch.export.ExportedProgram` (for `"torch"`), or the ONNX program.
    """
    if not getattr(model, "_functional", False):
        raise ValueError(
            f"Model '{model.name}': export needs known input shapes; build the model on "
            "Input(...) tensors (a subclassed model: use torch.export.export directly)."
        )
    module = _Inference(model).eval()
    examples = _examples(model, 2)
    batch = torch.export.Dim("batch", min=1)
    dynamic = (tuple({0: batch} for _ in examples),)  # one entry: the *inputs tuple
    path = os.fspath(filepath)
    if format == "torch":
        program = torch.export.export(module, examples, dynamic_shapes=dynamic)
        torch.export.save(program, path)
        return program
    if format == "onnx":
        onnx_program = torch.onnx.export(
            module, examples, path, dynamo=True, dynamic_shapes=dynamic
        )
        return onnx_program
    raise ValueError(
        f"Model '{model.name}': export format must be 'torch' or 'onnx', received {format!r}."
    )
