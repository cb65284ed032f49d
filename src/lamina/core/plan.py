"""Execution plans: a model's graph sorted once into a flat list of layer calls.

Each `Step` names a layer, where its inputs sit in a list of values and where its outputs
go; `run_plan` walks the steps and does nothing else, so calling a model costs little more
than calling its layers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from lamina.core.calls import global_hooks_active, hooked
from lamina.core.errors import format_shape
from lamina.core.layer import Layer
from lamina.core.tensor import Node, SymbolicTensor, flatten, pack_like
from lamina.layers.core import InputLayer


class Step:
    """One layer call in an execution plan."""

    __slots__ = (
        "direct", "in_ids", "in_kind", "in_structure", "layer", "mask_in", "mask_out", "masked",
        "module_call", "out_ids", "pass_mask", "training",
    )  # fmt: skip

    def __init__(self, node: Node, ids: dict[SymbolicTensor, int]) -> None:
        layer = node.layer
        self.layer = layer
        self.module_call: Callable[..., Any] = nn.Module.__call__.__get__(layer)
        # Without hooks, calling `call` directly skips nn.Module.__call__'s bookkeeping,
        # which costs more than a small layer's own work.
        plain = (
            type(layer).forward is Layer.forward
            and getattr(layer, "activity_regularizer", None) is None
        )
        self.direct: Callable[..., Any] = layer.call if plain else layer.forward
        if layer._slow_call:  # a dtype policy to apply or an input spec to check
            self.direct = layer._step_call
        self.training = "training" in layer._call_keywords()
        constants = {k: v for k, v in node.kwargs.items() if k not in ("training", "mask")}
        if constants:  # a call's constant options (use_causal_mask=True), bound once
            self.direct = functools.partial(self.direct, **constants)
            self.module_call = functools.partial(self.module_call, **constants)
        self.in_ids: Any
        if isinstance(node.inputs, SymbolicTensor):
            self.in_kind, self.in_ids = 0, ids[node.inputs]
        elif isinstance(node.inputs, list) and all(
            isinstance(t, SymbolicTensor) for t in node.inputs
        ):
            self.in_kind, self.in_ids = 1, [ids[t] for t in node.inputs]
        else:
            self.in_kind, self.in_ids = 2, [ids[t] for t in node.flat_inputs]
        self.in_structure = node.inputs
        if isinstance(node.outputs, SymbolicTensor):
            self.out_ids: int | list[int] = ids[node.outputs]
        else:
            self.out_ids = [ids[t] for t in node.flat_outputs]
        # Masks (core/masking.py): the ids of the input masks (-1: none), and where the
        # masks this call makes go, as (flat output position, id).
        found = [ids.get(t._keras_mask, -1) for t in node.flat_inputs if t._keras_mask is not None]
        self.mask_in: list[int] | None = None
        if found and max(found) >= 0:
            self.mask_in = [
                -1 if t._keras_mask is None else ids.get(t._keras_mask, -1)
                for t in node.flat_inputs
            ]
        self.mask_out: list[tuple[int, int]] | None = None
        if node.output_masks:
            self.mask_out = [(i, ids[m]) for i, m in enumerate(node.output_masks) if m is not None]
        self.pass_mask = self.mask_in is not None and "mask" in layer._call_keywords()
        self.masked = self.mask_in is not None or self.mask_out is not None


def run_plan(plan: Sequence[Step], values: list[Any], training: bool | None) -> None:
    """Execute `plan`, reading and writing tensors in `values` by their ids."""
    global_hooks = global_hooks_active()
    for step in plan:
        kind = step.in_kind
        if kind == 0:
            inputs = values[step.in_ids]
        elif kind == 1:
            inputs = [values[i] for i in step.in_ids]
        else:
            inputs = pack_like(step.in_structure, [values[i] for i in step.in_ids])
        call = step.module_call if global_hooks or hooked(step.layer) else step.direct
        if training is not None and step.training:
            outputs = call(inputs, training=training)
        else:
            outputs = call(inputs)
        out = step.out_ids
        if isinstance(out, int):
            values[out] = outputs
        else:
            for i, value in zip(out, flatten(outputs)):
                values[i] = value


Runner = Callable[[Sequence[Step], list[Any], bool | None], None]


def plan_runner(plan: Sequence[Step]) -> Runner:
    """`run_plan`, or `run_masked_plan` when a step reads or makes a mask: chosen once, so
    a model without masks pays nothing for them."""
    return run_masked_plan if any(step.masked for step in plan) else run_plan


def run_masked_plan(plan: Sequence[Step], values: list[Any], training: bool | None) -> None:
    """`run_plan` that also passes each layer the masks of its inputs (`mask=`) and computes
    the masks a layer makes (`compute_mask`) right after its call."""
    global_hooks = global_hooks_active()
    for step in plan:
        if not step.masked:
            run_plan((step,), values, training)
            continue
        kind = step.in_kind
        if kind == 0:
            inputs = values[step.in_ids]
        elif kind == 1:
            inputs = [values[i] for i in step.in_ids]
        else:
            inputs = pack_like(step.in_structure, [values[i] for i in step.in_ids])
        mask: Any = None
        if step.mask_in is not None:
            flat = [None if i < 0 else values[i] for i in step.mask_in]
            mask = (
                flat[0] if kind == 0 else flat if kind == 1 else pack_like(step.in_structure, flat)
            )
        kwargs: dict[str, Any] = {}
        if training is not None and step.training:
            kwargs["training"] = training
        if step.pass_mask:
            kwargs["mask"] = mask
        call = step.module_call if global_hooks or hooked(step.layer) else step.direct
        outputs = call(inputs, **kwargs)
        out = step.out_ids
        if isinstance(out, int):
            values[out] = outputs
        else:
            for i, value in zip(out, flatten(outputs)):
                values[i] = value
        if step.mask_out is not None:
            made = step.layer.compute_mask(inputs, mask)
            leaves = flatten(made) if isinstance(made, (list, tuple, dict)) else [made]
            for position, i in step.mask_out:
                values[i] = leaves[position]


def topological_nodes(
    outputs: Sequence[SymbolicTensor], inputs: Sequence[SymbolicTensor], model_name: str
) -> list[Node]:
    """The nodes that compute `outputs` from `inputs`, in creation order (each node comes
    after the nodes it reads, and parallel branches appear in the order they were written)."""
    input_set = set(inputs)
    found: dict[int, Node] = {}
    stack = [t.node for t in outputs if t not in input_set]
    while stack:
        node = stack.pop()
        if id(node) in found:
            continue
        if isinstance(node.layer, InputLayer) and not node.flat_inputs:
            missing = node.layer.output
            raise ValueError(
                f"Model '{model_name}': an output depends on the input "
                f"'{missing.name}' {format_shape(missing.shape)}, which is not among the "
                f"model's inputs {[t.name for t in inputs]}; add it to inputs=."
            )
        found[id(node)] = node
        stack.extend(t.node for t in node.flat_inputs if t not in input_set)
    return sorted(found.values(), key=lambda node: node.serial)
