"""`Model.summary()`: a rich table of layers, shapes, parameter counts and connections."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from torch import nn

from lamina.core.errors import format_shape
from lamina.core.layer import Layer


def layer_description(layer: Layer) -> str:
    """`name (Type)`, with a function layer's function or an operation's expression."""
    from lamina.layers.function import Lambda
    from lamina.layers.operation import Operation

    if isinstance(layer, Lambda):
        return f"{layer.name} (Lambda: {layer.extra_repr()})"
    if isinstance(layer, Operation):
        return f"{layer.name} ({layer.label})"
    module = getattr(layer, "module", None)
    if isinstance(module, nn.Module) and type(layer).__name__ == "TorchModuleWrapper":
        return f"{layer.name} ({_one_line(repr(module))})"
    return f"{layer.name} ({type(layer).__name__})"


def _one_line(text: str) -> str:
    """A torch module's repr on one line (a container's spans several)."""
    return " ".join(part.strip() for part in text.splitlines())


def _human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.2f} {unit}"
        count /= 1024
    return f"{count:.2f} GB"


def summary_rows(
    model: Any, expand_nested: bool = False, depth: int = 0
) -> list[tuple[str, str, int, str]]:
    """One `(layer (type), output shape, parameter count, connected to)` row per layer."""
    layers = model.layers  # brings a lazily edited graph up to date first
    functional = getattr(model, "_functional", False)
    nodes_by_layer: dict[int, list[Any]] = {}
    if functional:
        for tensor in model.inputs:
            nodes_by_layer.setdefault(id(tensor.node.layer), []).append(tensor.node)
        for node in model._nodes:
            nodes_by_layer.setdefault(id(node.layer), []).append(node)
    node_index = {id(n): i for nodes in nodes_by_layer.values() for i, n in enumerate(nodes)}
    rows = []
    for layer in layers:
        nodes = nodes_by_layer.get(id(layer), [])
        shapes = [
            format_shape(
                tuple(t.shape) if len(n.flat_outputs) == 1 else [o.shape for o in n.flat_outputs]
            )
            for n in nodes
            for t in n.flat_outputs[:1]
        ]
        if not shapes and layer._inbound_nodes:
            shapes = [format_shape(layer._inbound_nodes[-1].flat_outputs[0].shape)]
        connected = []
        for node in nodes:
            for tensor in node.flat_inputs:
                parent = tensor.node
                connected.append(
                    f"{parent.layer.name}[{node_index.get(id(parent), 0)}][{tensor.index}]"
                )
        own = sum(p.numel() for p in layer.parameters())
        indent = "  " * depth + ("└ " if depth else "")
        rows.append(
            (
                indent + layer_description(layer),
                ", ".join(shapes) or "?",
                own,
                ", ".join(connected) or "-",
            )
        )
        if expand_nested and hasattr(layer, "layers") and isinstance(layer.layers, list):
            rows.extend(summary_rows(layer, expand_nested, depth + 1))
    return rows


def summary_text(
    model: Any,
    *,
    line_length: int | None = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
    layer_range: tuple[str, str] | None = None,
) -> str:
    """The summary as plain text (see `print_summary`)."""
    show_connections = getattr(model, "_functional", False) and type(model).__name__ != "Sequential"
    table = Table(title=None, show_lines=False)
    table.add_column("Layer (type)", overflow="fold")
    table.add_column("Output Shape", overflow="fold")
    table.add_column("Param #", justify="right")
    if show_connections:
        table.add_column("Connected to", overflow="fold")
    if show_trainable:
        table.add_column("Trainable", justify="center")
    rows = summary_rows(model, expand_nested)
    marks = _trainable_marks(model, expand_nested)
    first, last = _row_range(model, layer_range, len(rows), expand_nested)
    for (description, shape, params, connected), mark in list(zip(rows, marks))[first:last]:
        cells: list[Text | str] = [Text(description), Text(shape), f"{params:,}"]
        if show_connections:
            cells.append(Text(connected))
        if show_trainable:
            cells.append(mark)
        table.add_row(*cells)
    trainable = sum(p.numel() for p in model.trainable_weights)
    total = sum(p.numel() for p in model.parameters())
    sizes = {id(p): p.element_size() for p in model.parameters()}
    trainable_bytes = sum(p.numel() * sizes[id(p)] for p in model.trainable_weights)
    total_bytes = sum(p.numel() * sizes[id(p)] for p in model.parameters())
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=line_length or 110, force_terminal=False, color_system=None, record=False
    )
    console.print(f'Model: "{model.name}"')
    console.print(table)
    console.print(f" Total params: {total:,} ({_human_bytes(total_bytes)})")
    console.print(f" Trainable params: {trainable:,} ({_human_bytes(trainable_bytes)})")
    console.print(
        f" Non-trainable params: {total - trainable:,} "
        f"({_human_bytes(total_bytes - trainable_bytes)})"
    )
    optimizer_state = _optimizer_state(model)
    if optimizer_state:
        count = sum(t.numel() for t in optimizer_state)
        size = sum(t.numel() * t.element_size() for t in optimizer_state)
        console.print(f" Optimizer params: {count:,} ({_human_bytes(size)})")
    return buffer.getvalue()


def _trainable_marks(model: Any, expand_nested: bool) -> list[str]:
    """Keras's Trainable column: Y or N for a layer with weights, - for one without."""
    return [
        "-" if not any(True for _ in layer.parameters()) else "YN"[not layer.trainable]
        for layer in _row_layers(model, expand_nested)
    ]


def _row_range(
    model: Any, layer_range: tuple[str, str] | None, count: int, expand_nested: bool
) -> tuple[int, int]:
    if layer_range is None:
        return 0, count
    if (
        not isinstance(layer_range, (list, tuple))
        or len(layer_range) != 2
        or not all(isinstance(name, str) for name in layer_range)
    ):
        raise ValueError(
            f"Model '{model.name}'.summary: layer_range must be (first_name, last_name), "
            f"received {layer_range!r}."
        )
    names = [layer.name for layer in _row_layers(model, expand_nested)]
    missing = [name for name in layer_range if name not in names]
    if missing:
        raise ValueError(
            f"Model '{model.name}'.summary: layer_range names {missing}, which the model lacks; "
            f"its layers are {names}."
        )
    first, last = names.index(layer_range[0]), names.index(layer_range[1])
    if first > last:
        raise ValueError(
            f"Model '{model.name}'.summary: layer_range {tuple(layer_range)} ends before it starts."
        )
    return first, last + 1


def _row_layers(model: Any, expand_nested: bool) -> list[Layer]:
    """The layers in the order `summary_rows` lists them."""
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if expand_nested and hasattr(layer, "layers") and isinstance(layer.layers, list):
            layers.extend(_row_layers(layer, expand_nested))
    return layers


def _optimizer_state(model: Any) -> list[Any]:
    """The compiled optimizer's state tensors (moments, steps, `use_ema`'s averages), once it
    has taken a step."""
    optimizer = getattr(model, "optimizer", None)
    torch_optimizer = getattr(optimizer, "torch_optimizer", None)
    state = getattr(torch_optimizer, "state", None) or {}
    tensors = [v for values in state.values() for v in values.values() if hasattr(v, "numel")]
    return tensors + list(getattr(optimizer, "_ema", None) or []) if tensors else tensors


def print_summary(
    model: Any,
    *,
    line_length: int | None = None,
    expand_nested: bool = False,
    print_fn: Callable[[str], Any] | None = None,
    show_trainable: bool = False,
    layer_range: tuple[str, str] | None = None,
) -> None:
    """Print the summary, or pass it line by line to `print_fn` (Keras's arguments;
    `positions` has no use with a table that sizes its own columns)."""
    text = summary_text(
        model,
        line_length=line_length,
        expand_nested=expand_nested,
        show_trainable=show_trainable,
        layer_range=layer_range,
    )
    if print_fn is None:
        print(text, end="")
        return
    for line in text.rstrip("\n").split("\n"):
        print_fn(line)
