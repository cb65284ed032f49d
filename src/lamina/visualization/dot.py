"""A model's graph as Graphviz DOT text.

`model_to_dot` walks a functional model's graph and writes one HTML-like table per layer (name,
class, the function or expression of function layers, and the shapes lamina inferred). It needs
no renderer; `lamina.visualization.plot` renders the text.
"""

from __future__ import annotations

import functools
import html
from typing import TYPE_CHECKING, Any

from lamina.core.errors import format_shape
from lamina.core.layer import Layer
from lamina.core.tensor import Node, SymbolicTensor, map_structure

if TYPE_CHECKING:
    from lamina.core.model import Model

__all__ = ["layer_expression", "model_to_dot"]


_COLORS = {"input": "#cfe2f3", "function": "#fce5cd", "model": "#d9ead3", "layer": "#e8e8e8"}
_MAX_LABEL = 64  # characters; longer expressions are cut so one layer cannot widen the picture


def model_to_dot(
    model: Model,
    *,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 96,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> str:
    """The model's graph as Graphviz DOT text; needs no renderer.

    Each layer is one box, however often it is called (a shared layer gets one edge per call).
    Function layers show their function and arguments (`slice(index=0)`), operator layers their
    expression (`[:, :, 0]`, `* 2`). Layers that only feed `model.add_loss` are dashed. The text
    depends only on the model, so it is the same on every run.

    Args:
        model: a functional model, or a `Sequential` that has been built.
        show_shapes: show each layer's inferred input and output shapes.
        show_dtype: show the input and output dtypes.
        show_layer_names: show layer names beside their class.
        rankdir: `"TB"` (top to bottom), `"LR"`, `"BT"` or `"RL"`.
        expand_nested: draw models used as layers as clusters of their layers instead of one box.
        dpi: dots per inch of raster renderings.
        show_layer_activations: show the activation of layers that have one (`Dense`).
        show_trainable: mark layers with weights as trainable, frozen or partly trainable.

    Returns:
        The DOT text.

    Example:
        >>> from lamina import Input, Model
        >>> x = Input(shape=(4, 2), name="x")
        >>> dot = model_to_dot(Model(x, x[:, :, 0] * 2), show_shapes=True)
        >>> "[:, :, 0]" in dot and "(None, 4)" in dot
        True
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(
            f"model_to_dot: rankdir must be 'TB', 'LR', 'BT' or 'RL', received {rankdir!r}."
        )
    if not isinstance(dpi, int) or dpi <= 0:
        raise ValueError(f"model_to_dot: dpi must be a positive int, received {dpi!r}.")
    _check_drawable(model, "model_to_dot")
    writer = _DotWriter(
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        expand_nested=expand_nested,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    writer.add_model(model, prefix="", indent="  ")
    header = [
        f"digraph {_quote(model.name)} {{",
        f'  graph [rankdir="{rankdir}", dpi={dpi}, nodesep=0.3, ranksep=0.35, '
        'ordering="out", fontname="Helvetica", fontsize=11];',
        '  node [shape="none", margin=0, fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7, fontname="Helvetica", fontsize=9];',
    ]
    return "\n".join([*header, *writer.lines, "}"]) + "\n"


def _check_drawable(model: Any, caller: str) -> None:
    from lamina.core.model import Model

    if not isinstance(model, Model):
        raise TypeError(f"{caller}: expected a lamina Model, received {type(model).__name__}.")
    if model._dirty:  # a Sequential edited by add()/pop() since its graph was built
        model._rebuild_graph()
    if not model._functional:
        what = "an unbuilt Sequential" if type(model).__name__ == "Sequential" else "subclassed"
        raise ValueError(
            f"{caller}: model '{model.name}' is {what}, so lamina has no graph of it to draw. "
            "Build it on an Input (Model(inputs, outputs), or Sequential([Input(shape), ...])) "
            "or call it once on data first."
        )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cut(text: str) -> str:
    text = " ".join(text.split())  # a multi-line lambda source becomes one line
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _dtype_text(structure: Any) -> str:
    names = map_structure(lambda t: str(t.dtype).replace("torch.", ""), structure)
    if isinstance(names, str):
        return names
    if isinstance(names, dict):
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in names.items()) + "}"
    return "[" + ", ".join(str(v) for v in names) + "]"


def _shape_text(structure: Any) -> str:
    return format_shape(map_structure(lambda t: t.shape, structure))


def layer_expression(layer: Layer) -> str | None:
    """What a function layer computes, as shown in plots: `slice(index=0)`, `[:, :, 0]`."""
    from lamina.layers.function import Lambda, function_label
    from lamina.layers.operation import Operation, format_constant

    if isinstance(layer, Operation):
        return _cut(layer.label)
    if not isinstance(layer, Lambda):
        return None
    function: Any = layer.function
    parts: list[str] = []
    while isinstance(function, functools.partial):  # show f(scale=2), not partial
        bound = [format_constant(v) for v in function.args]
        bound += [f"{k}={format_constant(v)}" for k, v in function.keywords.items()]
        parts = bound + parts
        function = function.func
    name = function_label(function)
    parts += [f"{k}={format_constant(v)}" for k, v in layer.arguments.items()]
    if not parts:
        return _cut(name)
    arguments = ", ".join(parts)
    return _cut(f"({name})({arguments})" if name.startswith("lambda") else f"{name}({arguments})")


def _class_name(layer: Layer) -> str:
    from lamina.core.model import Model
    from lamina.core.sequential import Sequential

    if type(layer) is Model and layer._functional:
        return "Functional"  # Keras's name for a graph model
    module = getattr(layer, "module", None)
    if type(layer).__name__ == "TorchModuleWrapper" and module is not None:
        return " ".join(line.strip() for line in repr(module).splitlines())  # torch's repr
    return "Sequential" if type(layer) is Sequential else type(layer).__name__


def _color(layer: Layer) -> str:
    from lamina.core.model import Model
    from lamina.layers.core import InputLayer
    from lamina.layers.function import Lambda
    from lamina.layers.operation import Operation

    if isinstance(layer, InputLayer):
        return _COLORS["input"]
    if isinstance(layer, (Lambda, Operation)):
        return _COLORS["function"]
    return _COLORS["model" if isinstance(layer, Model) else "layer"]


class _DotWriter:
    """Collects node and edge lines for one model and, with `expand_nested`, its submodels."""

    def __init__(self, **options: bool) -> None:
        self.options = options
        self.lines: list[str] = []

    def _expanded(self, layer: Layer) -> Model | None:
        """`layer` as a model to draw as a cluster, or `None` to draw it as one box."""
        from lamina.core.model import Model

        if not self.options["expand_nested"] or not isinstance(layer, Model):
            return None
        if layer._dirty:
            layer._rebuild_graph()
        return layer if layer._functional else None

    def add_model(self, model: Model, *, prefix: str, indent: str) -> None:
        from lamina.core.plan import topological_nodes

        nodes_by_layer: dict[int, list[Node]] = {}
        layers: list[Layer] = []
        for tensor in model._flat_inputs:
            layer = tensor.node.layer
            if id(layer) not in nodes_by_layer:
                layers.append(layer)
            nodes_by_layer.setdefault(id(layer), []).append(tensor.node)
        for node in model._nodes:
            if id(node.layer) not in nodes_by_layer:
                layers.append(node.layer)
            nodes_by_layer.setdefault(id(node.layer), []).append(node)
        needed = topological_nodes(model._flat_outputs, model._flat_inputs, model.name)
        for_outputs = {id(n) for n in needed} | {id(t.node) for t in model._flat_inputs}
        loss_only = {
            id(layer)
            for layer in layers
            if not any(id(n) in for_outputs for n in nodes_by_layer[id(layer)])
        }
        for layer in layers:
            submodel = self._expanded(layer)
            if submodel is not None:
                self.lines.append(f"{indent}subgraph {_quote('cluster_' + prefix + layer.name)} {{")
                title = f"{layer.name} ({_class_name(layer)})"
                self.lines.append(
                    f'{indent}  graph [label={_quote(title)}, style="rounded,dashed", '
                    f'color="#6aa84f", fontcolor="#38761d"];'
                )
                self.add_model(submodel, prefix=f"{prefix}{layer.name}.", indent=indent + "  ")
                self.lines.append(f"{indent}}}")
                continue
            label = self._label(layer, nodes_by_layer[id(layer)], dashed=id(layer) in loss_only)
            self.lines.append(f"{indent}{_quote(prefix + layer.name)} [label=<{label}>];")
        for node in model._nodes:
            dashed = id(node.layer) in loss_only
            for position, tensor in enumerate(node.flat_inputs):
                self._edge(indent, prefix, tensor, node, position, dashed)
        if model._graph_losses:
            sink = _quote(prefix + ".losses")  # layer names cannot hold '.', so never a clash
            self.lines.append(
                f'{indent}{sink} [label="add_loss", shape="note", style="dashed", '
                'fontcolor="#555555"];'
            )
            for tensor in model._graph_losses:
                source = self._source(tensor, prefix)
                self.lines.append(f'{indent}{source} -> {sink} [style="dashed"];')

    def _source(self, tensor: SymbolicTensor, prefix: str) -> str:
        """The DOT id of the box that produces `tensor` (inside a cluster when expanded)."""
        layer = tensor.node.layer
        submodel = self._expanded(layer)
        if submodel is not None:
            inner = submodel._flat_outputs[tensor.index]
            return self._source(inner, f"{prefix}{layer.name}.")
        return _quote(prefix + layer.name)

    def _edge(
        self, indent: str, prefix: str, tensor: SymbolicTensor, node: Node, position: int,
        dashed: bool,
    ) -> None:  # fmt: skip
        target_layer = node.layer
        submodel = self._expanded(target_layer)
        if submodel is not None:
            inner = submodel._flat_inputs[position]
            target = _quote(f"{prefix}{target_layer.name}.{inner.node.layer.name}")
        else:
            target = _quote(prefix + target_layer.name)
        attributes = []
        if len(tensor.node.flat_outputs) > 1:
            attributes.append(f'label=" [{tensor.index}]"')  # which output of a multi-output layer
        if dashed:
            attributes.append('style="dashed"')
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        self.lines.append(f"{indent}{self._source(tensor, prefix)} -> {target}{suffix};")

    def _label(self, layer: Layer, nodes: list[Node], *, dashed: bool) -> str:
        from lamina import activations

        options = self.options
        esc = html.escape
        class_name = esc(_class_name(layer))
        title = f"<b>{class_name}</b>"
        if options["show_layer_names"]:
            title = f"<b>{esc(layer.name)}</b> ({class_name})"
        rows = [f'<td colspan="2" bgcolor="{_color(layer)}">{title}</td>']
        expression = layer_expression(layer)
        if expression is not None:
            rows.append(f'<td colspan="2"><font face="Courier">{esc(expression)}</font></td>')
        activation = getattr(layer, "activation", None)
        if options["show_layer_activations"] and callable(activation):
            name = activations.serialize(activation)
            name = name if isinstance(name, str) else getattr(name, "__name__", repr(name))
            rows.append(f'<td colspan="2">activation: {esc(name)}</td>')
        calls = [n for n in nodes if n.flat_inputs or n.flat_outputs]
        is_input = all(not n.flat_inputs for n in calls)
        if options["show_shapes"] or options["show_dtype"]:
            rows.extend(self._io_rows(calls, is_input))
        if options["show_trainable"] and any(True for _ in layer.parameters()):
            trainable = [p.requires_grad for p in layer.parameters()]
            state, color = (
                ("trainable", "#b6d7a8") if all(trainable)
                else ("frozen", "#ea9999") if not any(trainable)
                else ("partly trainable", "#ffe599")
            )  # fmt: skip
            rows.append(f'<td colspan="2" bgcolor="{color}">{state}</td>')
        table = '<table border="0" cellborder="1" cellspacing="0" cellpadding="4"'
        table += ' style="dashed">' if dashed else ">"
        return table + "".join(f"<tr>{row}</tr>" for row in rows) + "</table>"

    def _io_rows(self, calls: list[Node], is_input: bool) -> list[str]:
        """Header and value rows for shapes and dtypes; one line per call of a shared layer."""
        options = self.options

        def cell(texts: list[str], span: str = "") -> str:
            unique = list(dict.fromkeys(texts))  # a shared layer called alike shows one line
            return f"<td{span}>{'<br/>'.join(html.escape(t) for t in unique)}</td>"

        def header(text: str, span: str = "") -> str:
            return f'<td{span}><font color="#666666" point-size="9">{text}</font></td>'

        kind = "shape" if options["show_shapes"] else "dtype"
        rows = []
        if is_input:
            rows.append(header(f"Output {kind}", ' colspan="2"'))
            if options["show_shapes"]:
                rows.append(cell([_shape_text(n.outputs) for n in calls], ' colspan="2"'))
            if options["show_dtype"]:
                rows.append(cell([_dtype_text(n.outputs) for n in calls], ' colspan="2"'))
            return rows
        rows.append(header(f"Input {kind}") + header(f"Output {kind}"))
        if options["show_shapes"]:
            rows.append(
                cell([_shape_text(n.inputs) for n in calls])
                + cell([_shape_text(n.outputs) for n in calls])
            )
        if options["show_dtype"]:
            rows.append(
                cell([_dtype_text(n.inputs) for n in calls])
                + cell([_dtype_text(n.outputs) for n in calls])
            )
        return rows
