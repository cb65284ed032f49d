"""Pictures of training with matplotlib: loss curves, a VAE's latent space, image grids.

They draw through matplotlib's Agg canvas only, so they never open a window or touch
pyplot's global state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lamina.visualization.plot import _displayable

__all__ = ["plot_history", "plot_image_grid", "plot_latent_space"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)  # Agg only: no window, no pyplot state
    return figure


def _save_figure(figure: Any, to_file: str | os.PathLike[str], caller: str) -> Any:
    path = Path(to_file)
    fmt = path.suffix.lower().lstrip(".") or "png"
    supported = figure.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"{caller}: cannot write {os.fspath(path)!r}: expected an extension among "
            f"{', '.join('.' + k for k in sorted(supported))}, received '.{fmt}'."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"{caller}: cannot write {os.fspath(path)!r}: the folder {os.fspath(path.parent)!r} "
            "does not exist; create it first."
        )
    figure.savefig(path, format=fmt, dpi=100)
    return _displayable(path, fmt, path.read_bytes())


def plot_history(
    history: Any,
    to_file: str | os.PathLike[str] = "history.png",
    metrics: Sequence[str] | None = None,
) -> Any:
    """Plot loss and metrics per epoch, training and validation, one panel per quantity.

    Args:
        history: the `History` returned by `fit` (anything with a `.history` dict), or the dict
            itself: `{"loss": [...], "val_loss": [...], "mae": [...], ...}`.
        to_file: the picture's path; the format comes from the extension (png, svg, pdf, ...).
        metrics: the quantities to draw (`["loss", "mae"]`); all of them by default. Each panel
            draws `name` and, when recorded, `val_name`.

    Returns:
        As `plot_model`: an IPython image in a notebook, the path otherwise.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "history.png"
        >>> _ = plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, path)
        >>> path.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    records = getattr(history, "history", history)
    if not isinstance(records, Mapping):
        raise TypeError(
            "plot_history: expected a History (from fit) or a dict of per-epoch lists, received "
            f"{type(history).__name__}."
        )
    names = [k for k in records if not str(k).startswith("val_")]
    names += [k[4:] for k in records if str(k).startswith("val_") and k[4:] not in records]
    if metrics is None:
        metrics = sorted(names, key=lambda k: (k != "loss", names.index(k)))
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        missing = [m for m in metrics if m not in records and f"val_{m}" not in records]
        if missing:
            raise ValueError(
                f"plot_history: no {missing} in the history; it records {sorted(records)}."
            )
    if not any(len(records.get(m, ())) or len(records.get(f"val_{m}", ())) for m in metrics):
        raise ValueError("plot_history: the history is empty; train for at least one epoch first.")
    figure = _figure(4.2 * len(metrics), 3.4)
    for i, metric in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), i + 1)
        for key, label, style in (
            (metric, "training", "-o"),
            (f"val_{metric}", "validation", "--s"),
        ):
            values = [float(v) for v in records.get(key, [])]
            if values:
                axes.plot(range(1, len(values) + 1), values, style, markersize=3, label=label)
        axes.set_title(metric)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend()
        axes.xaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    return _save_figure(figure, to_file, "plot_history")


def plot_latent_space(
    points: Any,
    labels: Any = None,
    to_file: str | os.PathLike[str] = "latent.png",
    *,
    class_names: Sequence[str] | None = None,
) -> Any:
    """Scatter 2-D codes (a VAE's latent means), coloured by class when `labels` are given.

    Args:
        points: an array or tensor of shape `(n, 2)`.
        labels: `n` integer class labels, or `None`.
        to_file: the picture's path.
        class_names: names for the legend, indexed by label.
    """
    import numpy as np

    xy = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(
            f"plot_latent_space: expected points of shape (n, 2), received {xy.shape}; for a "
            "larger latent space, project it to 2-D first."
        )
    figure = _figure(5.5, 5)
    axes = figure.add_subplot(1, 1, 1)
    if labels is None:
        axes.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.6)
    else:
        classes = np.asarray(labels).reshape(-1)
        if len(classes) != len(xy):
            raise ValueError(
                f"plot_latent_space: {len(xy)} points but {len(classes)} labels; expected one "
                "label per point."
            )
        scatter = axes.scatter(xy[:, 0], xy[:, 1], c=classes, cmap="tab10", s=4, alpha=0.7)
        handles, values = scatter.legend_elements()
        if class_names is not None:
            values = [class_names[int("".join(c for c in v if c.isdigit()))] for v in values]
        axes.legend(handles, values, fontsize=7, markerscale=0.8, loc="best")
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    figure.tight_layout()
    return _save_figure(figure, to_file, "plot_latent_space")


def plot_image_grid(
    images: Any,
    to_file: str | os.PathLike[str] = "grid.png",
    *,
    columns: int | None = None,
    image_shape: tuple[int, int] | None = None,
    cmap: str = "gray",
) -> Any:
    """Tile images (a VAE's decodings of a latent sweep) into one picture.

    Args:
        images: `(n, height, width)` or flat `(n, height * width)` with `image_shape`; square
            flat images (784 -> 28x28) are reshaped without it.
        to_file: the picture's path.
        columns: images per row; a square grid by default.
        image_shape: `(height, width)` of flat images.
        cmap: the matplotlib colour map.
    """
    import numpy as np

    array = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, dtype=float)
    if array.ndim == 2:
        side = round(array.shape[1] ** 0.5)
        shape = image_shape or ((side, side) if side * side == array.shape[1] else None)
        if shape is None:
            raise ValueError(
                f"plot_image_grid: flat images of {array.shape[1]} values are not square; pass "
                "image_shape=(height, width)."
            )
        array = array.reshape(len(array), *shape)
    if array.ndim != 3 or len(array) == 0:
        raise ValueError(
            f"plot_image_grid: expected images of shape (n, height, width) or (n, pixels), "
            f"received {array.shape}."
        )
    count, height, width = array.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    canvas = np.zeros((rows * height, columns * width))
    for i, image in enumerate(array):
        r, c = divmod(i, columns)
        canvas[r * height : (r + 1) * height, c * width : (c + 1) * width] = image
    figure = _figure(min(12.0, 0.6 * columns + 1), min(12.0, 0.6 * rows + 1))
    axes = figure.add_subplot(1, 1, 1)
    axes.imshow(canvas, cmap=cmap)
    axes.set_axis_off()
    figure.tight_layout()
    return _save_figure(figure, to_file, "plot_image_grid")
