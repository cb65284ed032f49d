"""compile / fit / evaluate / predict: plain code around a torch loop.

`Model` methods forward here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lamina.tensor import flatten, map_structure


def _model_dtypes(model: Any) -> list[torch.dtype]:
    return [t.dtype for t in model.inputs] if getattr(model, "_functional", False) else []


def to_tensors(model: Any, x: Any, device: torch.device) -> Any:
    """`x` (arrays, lists, dicts, tensors) as tensors on `device`, cast to the inputs' dtypes.

    float64 numpy data becomes the model's float32, as in Keras.
    """
    dtypes = iter(_model_dtypes(model))

    def convert(value: Any) -> torch.Tensor:
        dtype = next(dtypes, None)
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
        if dtype is None and tensor.is_floating_point():
            dtype = torch.get_default_dtype()
        return tensor.to(device=device, dtype=dtype or tensor.dtype)

    if isinstance(x, dict):
        names = [t.name for t in model.inputs]
        return {k: convert(x[k]) for k in names} if names else map_structure(convert, x)
    return map_structure(convert, x)


def num_samples(x: Any, *, what: str = "x") -> int:
    leaves = flatten(x)
    sizes = {len(leaf) for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(f"All arrays in {what} must have the same length, received {sorted(sizes)}.")
    return sizes.pop()


def predict(model: Any, x: Any, *, batch_size: int = 32, verbose: Any = "auto", **_: Any) -> Any:
    """Run `model` on `x` in batches of `batch_size` under `torch.inference_mode`.

    Args:
        model: the model.
        x: a numpy array or tensor, or a list/dict of them (one per input).
        batch_size: samples per batch.
        verbose: accepted for Keras compatibility.

    Returns:
        numpy arrays in the structure of the model's outputs.
    """
    device = model._device()
    inputs = to_tensors(model, x, device)
    count = num_samples(inputs)
    batches = []
    with torch.inference_mode():
        for start in range(0, count, batch_size):
            batch = map_structure(lambda t: t[start : start + batch_size], inputs)
            batches.append(model(batch, training=False))
    if not batches:
        raise ValueError(f"Model '{model.name}': predict received no samples.")
    first = batches[0]
    leaves = [flatten(b) for b in batches]
    merged = [torch.cat([b[i] for b in leaves]).cpu().numpy() for i in range(len(leaves[0]))]
    it = iter(merged)
    return map_structure(lambda _: next(it), first)
