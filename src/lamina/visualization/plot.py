"""Pictures of models and of training: DOT text, rendering, notebook reprs, history plots.

`model_to_dot` walks a functional model's graph and writes Graphviz DOT text with one HTML-like
table per layer (name, class, the function or expression of function layers, and the shapes
lamina inferred). `plot_model` renders it with the system `dot` when there is one, else with the
`graphviz-pure` program that lamina depends on, so a plot needs no system Graphviz and no pydot.
The training pictures live in `lamina.visualization.figures`.
"""

from __future__ import annotations

import functools
import html
import importlib.metadata
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.core.errors import format_shape
from lamina.core.layer import Layer
from lamina.core.tensor import Node, SymbolicTensor, map_structure

if TYPE_CHECKING:
    from lamina.core.model import Model

__all__ = [
    "PlotError",
    "find_renderers",
    "model_html",
    "model_svg",
    "model_to_dot",
    "plot_model",
    "render_dot",
]

RENDERED_FORMATS = {"png": "png", "svg": "svg", "jpg": "jpg", "jpeg": "jpg", "pdf": "pdf"}
"""File extension -> Graphviz output format (`.dot` and `.gv` are written as text)."""

_COLORS = {"input": "#cfe2f3", "function": "#fce5cd", "model": "#d9ead3", "layer": "#e8e8e8"}
_MAX_LABEL = 64  # characters; longer expressions are cut so one layer cannot widen the picture
_RENDER_TIMEOUT_S = 300


class PlotError(RuntimeError):
    """A model could not be drawn: no renderer, an unsupported format, or a failed render."""


# ---------------------------------------------------------------------------- DOT text
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
    from lamina.layers.function import Lambda, Operation, format_constant, function_label

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
    return "Sequential" if type(layer) is Sequential else type(layer).__name__


def _color(layer: Layer) -> str:
    from lamina.core.model import Model
    from lamina.layers.core import InputLayer
    from lamina.layers.function import Lambda, Operation

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


# ---------------------------------------------------------------------------- rendering
def find_renderers() -> list[list[str]]:
    """The Graphviz programs to try, best first: the system `dot`, then `graphviz-pure`.

    `graphviz-pure` is looked up through its installed package first, then beside the running
    Python, so it is found even when its `bin` folder is not on PATH (a notebook kernel,
    `python -m`, a virtual environment that sees it through system site-packages).
    """
    found: list[list[str]] = []
    dot = shutil.which("dot")
    if dot:
        found.append([dot])
    pure = _graphviz_pure()
    if pure:
        found.append([pure])
    return found


def _graphviz_pure() -> str | None:
    exe = "graphviz-pure.exe" if os.name == "nt" else "graphviz-pure"
    # The package's own record says where pip put the program, even when the running Python
    # is a virtual environment that only sees it through system site-packages.
    try:
        files = importlib.metadata.distribution("graphviz-pure").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == exe:
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return str(path)
    beside = Path(sysconfig.get_path("scripts")) / exe
    return str(beside) if beside.is_file() else shutil.which("graphviz-pure")


def render_dot(dot: str, fmt: str) -> bytes:
    """Render DOT text to `fmt` (`png`, `svg`, `jpg`, `pdf`) and return the file's bytes.

    Raises:
        PlotError: no renderer is installed, none can write `fmt`, or the render failed.
    """
    renderers = find_renderers()
    if not renderers:
        raise PlotError(
            "lamina could not find a Graphviz renderer: neither `dot` nor `graphviz-pure` is on "
            "PATH. Install lamina's renderer with `pip install graphviz-pure` (no system "
            "libraries needed), or Graphviz itself (`apt-get install graphviz`, `brew install "
            "graphviz`, `conda install graphviz`). model_to_dot() needs neither."
        )
    failures = []
    for command in renderers:
        try:
            done = subprocess.run(
                [*command, f"-T{fmt}"],
                input=dot.encode("utf-8"),
                capture_output=True,
                timeout=_RENDER_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            failures.append(f"{command[0]}: {error}")
            continue
        if done.returncode == 0 and done.stdout:
            return done.stdout
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit code {done.returncode}"
        failures.append(f"{command[0]}: {message}")
    hint = ""
    if fmt == "pdf" and not shutil.which("dot"):
        hint = (
            " graphviz-pure cannot write PDF yet: save as .svg or .png, or install Graphviz "
            "(`apt-get install graphviz`, `brew install graphviz`) for PDF."
        )
    raise PlotError(f"Rendering the model as {fmt} failed: {'; '.join(failures)}.{hint}")


def _file_format(to_file: str | os.PathLike[str], caller: str) -> str:
    extension = Path(to_file).suffix.lower().lstrip(".")
    if not extension:
        return "png"  # as Keras: a name without an extension gets a PNG
    if extension in ("dot", "gv") or extension in RENDERED_FORMATS:
        return extension
    raise ValueError(
        f"{caller}: cannot tell the format of {os.fspath(to_file)!r}: expected an extension "
        f"among .png, .svg, .jpg, .jpeg, .pdf, .dot, .gv, received '.{extension}'."
    )


def _write(path: Path, data: bytes, caller: str) -> None:
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"{caller}: cannot write {os.fspath(path)!r}: the folder {os.fspath(path.parent)!r} "
            "does not exist; create it first."
        )
    path.write_bytes(data)


def _displayable(path: Path, fmt: str, data: bytes) -> Any:
    """An IPython `SVG`/`Image` of the file when IPython is importable, else its path."""
    try:
        from IPython.display import SVG, Image
    except ImportError:
        return os.fspath(path)
    if fmt == "svg":
        return SVG(data=data.decode("utf-8"))
    if fmt in ("png", "jpg", "jpeg"):
        return Image(data=data, format="jpeg" if fmt.startswith("jp") else "png")
    return os.fspath(path)


def plot_model(
    model: Model,
    to_file: str | os.PathLike[str] = "model.png",
    *,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 96,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> Any:
    """Draw the model to `to_file`; the format comes from its extension.

    PNG, SVG and JPEG always work (lamina ships the `graphviz-pure` renderer); PDF needs a
    system Graphviz `dot`, which is preferred whenever it is on PATH. `.dot`/`.gv` writes the
    DOT text. The options are those of `model_to_dot`.

    Returns:
        In a notebook (IPython importable) an `IPython.display.Image` or `SVG` that displays
        the picture; otherwise the path written, as a string.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lamina import Input, Model
        >>> x = Input(shape=(4, 2))
        >>> path = Path(tempfile.mkdtemp()) / "model.svg"
        >>> _ = plot_model(Model(x, x[:, :, 0]), path, show_shapes=True)
        >>> "(None, 4)" in path.read_text()
        True
    """
    fmt = _file_format(to_file, "plot_model")
    dot = model_to_dot(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        expand_nested=expand_nested,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    path = Path(to_file)
    data = dot.encode("utf-8") if fmt in ("dot", "gv") else render_dot(dot, RENDERED_FORMATS[fmt])
    _write(path, data, "plot_model")
    return _displayable(path, fmt, data)


# ---------------------------------------------------------------------------- notebooks
def model_svg(model: Model) -> str | None:
    """The model's diagram (with shapes) as SVG text, or `None` when it cannot be drawn here.

    `Model._repr_svg_` calls this, so a model is displayed as its diagram in Jupyter; `None`
    (no renderer, or a model without a graph) makes IPython fall back to the text repr.
    """
    try:
        dot = model_to_dot(model, show_shapes=True)
    except (TypeError, ValueError):
        return None
    try:
        svg = render_dot(dot, "svg").decode("utf-8")
    except PlotError:
        return None
    start = svg.find("<svg")  # drop the XML prolog and DOCTYPE so the SVG can sit inside HTML
    return svg[start:] if start >= 0 else svg


def summary_html(model: Model) -> str:
    """`model.summary()` as an HTML table, for notebooks."""
    from lamina.visualization.summary import summary_rows

    esc = html.escape
    columns = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    head = "".join(f"<th>{column}</th>" for column in columns)
    body = "".join(
        f"<tr><td>{esc(d)}</td><td>{esc(s)}</td><td style='text-align:right'>{p:,}</td>"
        f"<td>{esc(c)}</td></tr>"
        for d, s, p, c in summary_rows(model, False)
    )
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.trainable_weights)
    return (
        f"<p><b>Model: {esc(model.name)}</b></p><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table><p>Total params: {total:,} &middot; Trainable: "
        f"{trainable:,} &middot; Non-trainable: {total - trainable:,}</p>"
    )


def model_html(model: Model) -> str:
    """The summary table and, where a renderer exists, the diagram: for `_repr_html_`."""
    try:
        table = summary_html(model)
    except Exception as error:  # a repr must not raise: say why in the output instead
        table = f"<pre>{html.escape(f'summary unavailable: {type(error).__name__}: {error}')}</pre>"
    svg = model_svg(model)
    return table if svg is None else f"{table}<div>{svg}</div>"
