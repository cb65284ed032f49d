"""Pictures of models: rendering DOT text, `plot_model`, notebook reprs.

`plot_model` renders the DOT text of `lamina.visualization.dot` with the system `dot` when there
is one, else with the `graphviz-pure` program that lamina depends on, so a plot needs no system
Graphviz and no pydot. The training pictures live in `lamina.visualization.figures`.
"""

from __future__ import annotations

import html
import importlib.metadata
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.visualization.dot import model_to_dot

if TYPE_CHECKING:
    from lamina.core.model import Model

__all__ = [
    "PlotError",
    "find_renderers",
    "model_html",
    "model_svg",
    "plot_model",
    "render_dot",
]


RENDERED_FORMATS = {"png": "png", "svg": "svg", "jpg": "jpg", "jpeg": "jpg", "pdf": "pdf"}
"""File extension -> Graphviz output format (`.dot` and `.gv` are written as text)."""


_RENDER_TIMEOUT_S = 300


class PlotError(RuntimeError):
    """A model could not be drawn: no renderer, an unsupported format, or a failed render."""


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
