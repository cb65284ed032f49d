"""`Model.summary()`: a rich table of layers, shapes, parameter counts and connections."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lamina.layer import Layer, format_shape


def layer_description(layer: Layer) -> str:
    """`name (Type)`, with a function layer's function or an operation's expression."""
    from lamina.layers.function import Lambda, Operation

    if isinstance(layer, Lambda):
        return f"{layer.name} (Lambda: {layer.extra_repr()})"
    if isinstance(layer, Operation):
        return f"{layer.name} ({layer.label})"
    return f"{layer.name} ({type(layer).__name__})"


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


def summary_text(model: Any, *, line_length: int | None = None, expand_nested: bool = False) -> str:
    """The summary as plain text."""
    show_connections = getattr(model, "_functional", False) and type(model).__name__ != "Sequential"
    table = Table(title=None, show_lines=False)
    table.add_column("Layer (type)", overflow="fold")
    table.add_column("Output Shape", overflow="fold")
    table.add_column("Param #", justify="right")
    if show_connections:
        table.add_column("Connected to", overflow="fold")
    for description, shape, params, connected in summary_rows(model, expand_nested):
        cells: list[Text | str] = [Text(description), Text(shape), f"{params:,}"]
        if show_connections:
            cells.append(Text(connected))
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
    return buffer.getvalue()


def print_summary(
    model: Any,
    *,
    line_length: int | None = None,
    expand_nested: bool = False,
    print_fn: Callable[[str], Any] | None = None,
) -> None:
    """Print the summary, or pass it line by line to `print_fn`."""
    text = summary_text(model, line_length=line_length, expand_nested=expand_nested)
    if print_fn is None:
        print(text, end="")
        return
    for line in text.rstrip("\n").split("\n"):
        print_fn(line)
