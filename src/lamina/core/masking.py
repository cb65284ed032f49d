"""Masks that travel with symbolic tensors, as Keras's `_keras_mask`.

A layer that makes a mask (`Embedding(mask_zero=True)`, `Masking`, `Lambda(mask=...)`) or
receives one computes the masks of its outputs when it is called on symbolic tensors:
`attach_masks` runs its `compute_mask` on `meta` placeholders and hangs each new mask, a
boolean `SymbolicTensor` whose producing node is the layer's node, on the output it belongs
to (`SymbolicTensor._keras_mask`, listed in `Node.output_masks`). A layer that passes a mask on
unchanged hands the same symbolic mask to its output, so nothing runs for it.

At run time the model's plan (`plan.py`) computes each new mask right after its layer's call
and passes the layer the masks of its inputs (`mask=`, when `call` declares it). A model without
masks has no such step: the plan builder picks the plain loop.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import torch

from lamina.core.errors import LayerError, format_shape
from lamina.core.tensor import Node, SymbolicTensor, flatten, map_structure

if TYPE_CHECKING:
    from lamina.core.layer import Layer


def input_masks(inputs: Any) -> Any:
    """The symbolic masks of `inputs`, in the same structure (`None` where there is none)."""
    return map_structure(lambda t: t._keras_mask, inputs)


def makes_masks(layer: Layer) -> bool:
    """Whether `layer` overrides `compute_mask` (so it may make a mask of its own)."""
    from lamina.core.layer import Layer

    return type(layer).compute_mask is not Layer.compute_mask


def attach_masks(layer: Layer, node: Node, inputs: Any) -> None:
    """Set `_keras_mask` on the node's outputs from the layer's `compute_mask`.

    Raises `LayerError` when a mask reaches a layer that can neither use it nor pass it on
    (Keras 3 only warns there, then drops the mask: padding would silently count).
    """
    masks = input_masks(inputs)
    received = any(m is not None for m in flatten(masks))
    if not received and not makes_masks(layer):
        return
    if received and not supports_masking(layer):
        if getattr(layer, "drops_masks", False):
            return
        shapes = [m.shape if m is not None else None for m in flatten(masks)]
        raise LayerError(
            f"{type(layer).__name__} '{layer.name}' does not support masking, but was passed "
            f"an input_mask {format_shape(shapes)}: its output would count the padded "
            "positions. Remove the mask upstream (mask_zero=False, no Masking layer), or "
            "reduce the masked axis first with a layer that consumes masks (an RNN, "
            "GlobalAveragePooling1D, attention)."
        )
    if not makes_masks(layer):
        outputs = flatten(masks) if isinstance(masks, (list, tuple, dict)) else [masks]
        _set(node, [m if isinstance(m, SymbolicTensor) else None for m in outputs], fresh=False)
        return
    _set(node, _compute_symbolic(layer, inputs, masks, node), fresh=True)


def supports_masking(layer: Layer) -> bool:
    """Keras's rule: a layer supports masking when it says so, overrides `compute_mask`, or
    takes `mask=` in `call` (it consumes the mask)."""
    return bool(
        getattr(layer, "supports_masking", False)
        or makes_masks(layer)
        or "mask" in layer._call_keywords()
    )


def _set(node: Node, masks: list[SymbolicTensor | None], *, fresh: bool) -> None:
    made: list[SymbolicTensor | None] = []
    for tensor, mask in zip(node.flat_outputs, masks):
        tensor._keras_mask = mask
        made.append(mask if fresh and mask is not None and mask.node is node else None)
    if any(m is not None for m in made):
        node.output_masks = made + [None] * (len(node.flat_outputs) - len(made))


def _compute_symbolic(
    layer: Layer, inputs: Any, masks: Any, node: Node
) -> list[SymbolicTensor | None]:
    """Run `compute_mask` on meta placeholders at batch sizes 2 and 3; a result that is one of
    the input masks keeps that symbolic mask, a new one becomes a symbolic tensor of `node`."""
    runs = []
    for size in (2, 3):
        known: dict[int, tuple[SymbolicTensor, torch.Tensor]] = {}
        values = map_structure(functools.partial(_placeholder, size=size, known=known), inputs)
        mask_values = map_structure(functools.partial(_placeholder, size=size, known=known), masks)
        with torch.device("meta"):
            result = layer.compute_mask(values, mask_values)
        leaves = flatten(result) if isinstance(result, (list, tuple, dict)) else [result]
        runs.append((leaves, known))
    (first, known), (second, _) = runs
    out: list[SymbolicTensor | None] = []
    for i, (a, b) in enumerate(zip(first, second)):
        if a is None:
            out.append(None)
        elif id(a) in known:
            out.append(known[id(a)][0])
        else:
            shape = tuple(da if da == db else None for da, db in zip(a.shape, b.shape))
            mask = SymbolicTensor(shape, a.dtype, name=f"{layer.name}_mask:{i}", node=node)
            out.append(mask)
    return out


def _placeholder(
    t: SymbolicTensor | None, *, size: int, known: dict[int, tuple[SymbolicTensor, torch.Tensor]]
) -> torch.Tensor | None:
    if t is None:
        return None
    dims = [size if t.shape[0] is None else t.shape[0]]
    dims += [size + 3 if d is None else d for d in t.shape[1:]]
    value = torch.zeros(dims, dtype=t.dtype, device="meta")
    known[id(value)] = (t, value)  # the value kept alive, so that its id stays its own
    return value
