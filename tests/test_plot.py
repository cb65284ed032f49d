"""Tests of lamina.visualization.plot: DOT text, rendering (with and without a system `dot`),
notebook reprs, and the training pictures."""

from __future__ import annotations

import functools
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, Sequential, ops
from lamina.layers import Dense, Lambda, Reshape, merge
from lamina.utils import clear_session
from lamina.visualization.dot import model_to_dot
from lamina.visualization.figures import plot_history, plot_image_grid, plot_latent_space
from lamina.visualization.plot import (
    PlotError,
    find_renderers,
    model_html,
    model_svg,
    plot_model,
    render_dot,
)

GOLDEN = Path(__file__).parent / "golden"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def slice(x, index):  # the seed's function, name included
    return x[:, :, index]


def build_seed_model() -> Model:
    clear_session()
    with pytest.warns(UserWarning, match=r"output_shape=\(4, 1\) was declared"):
        a = Input(shape=(4, 2))
        x1 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 0})(a))
        x2 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 1})(a))
        return Model(a, merge([x1, x2], mode="concat"))


@pytest.fixture
def seed_model() -> Model:
    return build_seed_model()


def edges(dot: str) -> list[tuple[str, str]]:
    return re.findall(r'^\s*"([^"]+)" -> "([^"]+)"', dot, flags=re.MULTILINE)


def labels(dot: str) -> dict[str, str]:
    return dict(re.findall(r'^\s*"([^"]+)" \[label=<(.*)>\];$', dot, flags=re.MULTILINE))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def hide_system_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *a, **k: None if name == "dot" else real_which(name, *a, **k)
    )


# ---------------------------------------------------------------------------- DOT text
def test_seed_dot_matches_golden(seed_model: Model) -> None:
    dot = model_to_dot(seed_model, show_shapes=True)
    golden = GOLDEN / "seed.dot"
    if os.environ.get("LAMINA_UPDATE_GOLDEN"):
        golden.write_text(dot, encoding="utf-8")
    assert dot == golden.read_text(encoding="utf-8")
    assert model_to_dot(build_seed_model(), show_shapes=True) == dot  # deterministic


def test_seed_dot_shows_true_shapes_functions_and_both_branches(seed_model: Model) -> None:
    dot = model_to_dot(seed_model, show_shapes=True)
    boxes = labels(dot)
    assert list(boxes) == [
        "input_layer",
        "lambda",
        "reshape",
        "lambda_1",
        "reshape_1",
        "concatenate",
    ]
    assert "slice(index=0)" in boxes["lambda"] and "slice(index=1)" in boxes["lambda_1"]
    # x[:, :, 0] of (None, 4, 2) is (None, 4): the declared (4, 1) must not appear.
    assert "<td>(None, 4, 2)</td><td>(None, 4)</td>" in boxes["lambda"]
    assert "(None, 4, 1)<" not in dot
    assert "[(None, 4, 1, 1), (None, 4, 1, 1)]" in boxes["concatenate"]
    assert "(None, 4, 1, 2)" in boxes["concatenate"]
    assert sorted(edges(dot)) == sorted(
        [
            ("input_layer", "lambda"),
            ("input_layer", "lambda_1"),
            ("lambda", "reshape"),
            ("lambda_1", "reshape_1"),
            ("reshape", "concatenate"),
            ("reshape_1", "concatenate"),
        ]
    )
    # Branches side by side: input_layer's out-edges keep the order the model was written in.
    assert 'ordering="out"' in dot
    assert dot.index('"input_layer" -> "lambda"') < dot.index('"input_layer" -> "lambda_1"')


def test_without_shapes_no_shape_rows(seed_model: Model) -> None:
    dot = model_to_dot(seed_model)
    assert "(None" not in dot and "Output shape" not in dot
    assert "slice(index=0)" in dot


def test_operation_labels_and_lambda_source() -> None:
    x = Input(shape=(4, 2), name="x")
    y = x[:, :, 0] * 2
    z = Lambda(lambda t, k: t * k, arguments={"k": 3}, name="times")(y)
    boxes = labels(model_to_dot(Model(x, [y, z]), show_shapes=True))
    texts = " ".join(boxes.values())
    assert "[:, :, 0]" in texts and "* 2" in texts
    assert "(lambda t, k: t * k)(k=3)" in boxes["times"]
    assert "(None, 4)" in boxes["times"]


def test_partial_functions_show_their_bound_arguments() -> None:
    def affine(t, scale, shift):
        return t * scale + shift

    x = Input(shape=(3,), name="x")
    y = Lambda(functools.partial(affine, scale=2), arguments={"shift": 1}, name="aff")(x)
    assert "affine(scale=2, shift=1)" in labels(model_to_dot(Model(x, y)))["aff"]


def test_escaping_of_names_and_arguments() -> None:
    x = Input(shape=(3,), name='in<"&>')
    y = Lambda(lambda t, tag: t, arguments={"tag": "<b>&</b>"}, name="tag<x>")(x)
    dot = model_to_dot(Model(x, y))
    assert '"in<\\"&>" -> "tag<x>"' in dot  # DOT ids: quotes escaped
    assert "<b>in&lt;&quot;&amp;&gt;</b>" in dot  # HTML labels: markup escaped
    assert "&#x27;&lt;b&gt;&amp;&lt;/b&gt;&#x27;" in dot
    assert render_dot(dot, "svg").startswith(b"<?xml")  # the renderer accepts it


def test_shared_layer_appears_once_with_an_edge_per_call() -> None:
    a, b = Input(shape=(3,), name="a"), Input(shape=(5,), name="b")
    shared = Lambda(lambda t: t * 2, name="shared")
    model = Model([a, b], [shared(a), shared(b)])
    dot = model_to_dot(model, show_shapes=True)
    assert list(labels(dot)).count("shared") == 1
    assert sorted(edges(dot)) == [("a", "shared"), ("b", "shared")]
    # Two calls with different shapes: both are listed.
    assert "(None, 3)<br/>(None, 5)" in labels(dot)["shared"]


def nested_model() -> Model:
    i = Input(shape=(3,), name="inner_in")
    inner = Model(i, Dense(4, name="inner_dense")(i), name="encoder")
    x = Input(shape=(3,), name="x")
    return Model(x, Dense(1, name="head")(inner(x)), name="outer")


def test_nested_model_one_box_or_cluster() -> None:
    model = nested_model()
    collapsed = model_to_dot(model, show_shapes=True)
    assert "subgraph" not in collapsed
    assert "<b>encoder</b> (Functional)" in labels(collapsed)["encoder"]
    assert edges(collapsed) == [("x", "encoder"), ("encoder", "head")]
    expanded = model_to_dot(model, show_shapes=True, expand_nested=True)
    assert 'subgraph "cluster_encoder"' in expanded
    assert "encoder" not in labels(expanded)  # no box for the model itself
    assert sorted(edges(expanded)) == sorted(
        [
            ("x", "encoder.inner_in"),
            ("encoder.inner_in", "encoder.inner_dense"),
            ("encoder.inner_dense", "head"),
        ]
    )
    assert b"cluster_encoder" in render_dot(expanded, "svg")


def test_multi_output_edges_are_labelled() -> None:
    clear_session()
    x = Input(shape=(4,), name="x")
    first, second = Lambda(lambda t: (t[:, :2], t[:, 2:]), name="split")(x)
    model = Model(x, [first * 1, second * 2])
    dot = model_to_dot(model, show_shapes=True)
    assert '"split" -> "mul" [label=" [0]"]' in dot
    assert '"split" -> "mul_1" [label=" [1]"]' in dot
    assert "[(None, 2), (None, 2)]" in labels(dot)["split"]


def test_options_dtype_activation_trainable_names() -> None:
    x = Input(shape=(4,), name="x", dtype=torch.float64)
    frozen = Dense(2, activation="softplus", name="frozen", dtype=torch.float64)
    y = Dense(3, name="live", dtype=torch.float64)(frozen(x))
    model = Model(x, y)
    frozen.trainable = False
    dot = model_to_dot(
        model, show_dtype=True, show_layer_activations=True, show_trainable=True,
        show_layer_names=False,
    )  # fmt: skip
    boxes = labels(dot)
    assert "float64" in boxes["frozen"]
    assert "activation: softplus" in boxes["frozen"]
    assert "activation: linear" in boxes["live"]
    assert ">frozen<" in boxes["frozen"] and ">trainable<" in boxes["live"]
    assert "<b>Dense</b>" in boxes["live"] and "<b>live</b>" not in boxes["live"]
    assert "trainable" not in boxes["x"]  # no weights, no mark


def test_graph_losses_are_dashed_and_end_in_add_loss() -> None:
    x = Input(shape=(4,), name="x")
    h = Dense(2, name="h")(x)
    model = Model(x, Dense(1, name="out")(h))
    model.add_loss(ops.mean(ops.square(h)))
    dot = model_to_dot(model)
    boxes = labels(dot)
    assert 'style="dashed"' in boxes["square"] and 'style="dashed"' not in boxes["out"]
    assert '"mean" -> ".losses" [style="dashed"];' in dot
    assert '"h" -> "square" [style="dashed"];' in dot


def test_sequential_and_errors() -> None:
    seq = Sequential([Input(shape=(3,), name="s_in"), Dense(2, name="s1"), Dense(1, name="s2")])
    assert edges(model_to_dot(seq)) == [("s_in", "s1"), ("s1", "s2")]
    with pytest.raises(ValueError, match=r"unbuilt Sequential.*Build it"):
        model_to_dot(Sequential([Dense(2)], name="lazy"))
    with pytest.raises(TypeError, match="expected a lamina Model, received Dense"):
        model_to_dot(Dense(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"rankdir must be .* received 'XY'"):
        model_to_dot(seq, rankdir="XY")
    with pytest.raises(ValueError, match="dpi must be a positive int"):
        model_to_dot(seq, dpi=0)
    assert 'rankdir="LR"' in model_to_dot(seq, rankdir="LR")


def test_long_model_draws_every_layer() -> None:
    x = h = Input(shape=(8,), name="x")
    for _ in range(300):
        h = h * 2
    dot = model_to_dot(Model(x, h), show_shapes=True)
    assert len(labels(dot)) == 301 and len(edges(dot)) == 300
    svg = render_dot(dot, "svg")
    assert svg.count(b'class="node"') == 301


# ---------------------------------------------------------------------------- rendering
def test_png_file_is_real_and_scales_with_dpi(seed_model: Model, tmp_path: Path) -> None:
    plot_model(seed_model, tmp_path / "lambda.png", show_shapes=True)
    width, height = png_size((tmp_path / "lambda.png").read_bytes())
    assert width > 250 and height > 400  # six boxes in three ranks, two side by side
    assert width < height < 2 * width
    plot_model(seed_model, tmp_path / "big.png", show_shapes=True, dpi=192)
    big_width, big_height = png_size((tmp_path / "big.png").read_bytes())
    assert big_width / width == pytest.approx(2, rel=0.02)
    assert big_height / height == pytest.approx(2, rel=0.02)


def test_svg_holds_shapes_and_function_labels(seed_model: Model, tmp_path: Path) -> None:
    plot_model(seed_model, tmp_path / "lambda.svg", show_shapes=True)
    svg = (tmp_path / "lambda.svg").read_text(encoding="utf-8")
    assert svg.count(">(None, 4)</text>") == 4  # each Lambda's output, each Reshape's input
    assert ">slice(index=0)</text>" in svg and ">slice(index=1)</text>" in svg
    assert ">(None, 4, 1)</text>" not in svg


def test_jpg_and_dot_outputs(seed_model: Model, tmp_path: Path) -> None:
    plot_model(seed_model, tmp_path / "m.jpg")
    assert (tmp_path / "m.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    plot_model(seed_model, tmp_path / "m.dot", show_shapes=True)
    dot = (tmp_path / "m.dot").read_text(encoding="utf-8")
    assert dot == model_to_dot(seed_model, show_shapes=True)
    plot_model(seed_model, tmp_path / "noext")  # as Keras: PNG when there is no extension
    assert (tmp_path / "noext").read_bytes()[:8] == PNG_MAGIC


def test_renders_without_system_dot(
    seed_model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_system_dot(monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path))  # graphviz-pure is still found beside Python
    renderers = find_renderers()
    assert len(renderers) == 1 and Path(renderers[0][0]).name.startswith("graphviz-pure")
    plot_model(seed_model, tmp_path / "m.png", show_shapes=True)
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG_MAGIC


def test_broken_system_dot_falls_back(
    seed_model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Format: \"png\" not recognized' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert find_renderers()[0] == [str(fake)]
    plot_model(seed_model, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG_MAGIC


def test_no_renderer_says_how_to_install(
    seed_model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata
    import shutil
    import sysconfig

    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(sysconfig, "get_path", lambda *a, **k: str(tmp_path))
    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(PlotError, match="pip install graphviz-pure"):
        plot_model(seed_model, tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()
    assert model_svg(seed_model) is None  # the notebook falls back to the text repr
    plot_model(seed_model, tmp_path / "m.dot")  # DOT needs no renderer
    assert (tmp_path / "m.dot").is_file()


def test_pdf_without_graphviz_explains(
    seed_model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_system_dot(monkeypatch)
    with pytest.raises(PlotError, match=r"cannot write PDF.*\.svg or \.png"):
        plot_model(seed_model, tmp_path / "m.pdf")


def test_bad_file_names(seed_model: Model, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'m\.bmp'.*\.png, \.svg.*received '\.bmp'"):
        plot_model(seed_model, "m.bmp")
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        plot_model(seed_model, tmp_path / "missing" / "m.svg")


def test_return_value_displays_in_notebooks(seed_model: Model, tmp_path: Path) -> None:
    display = pytest.importorskip("IPython.display")  # not a lamina dependency
    png = plot_model(seed_model, tmp_path / "m.png")
    assert isinstance(png, display.Image) and png.data[:8] == PNG_MAGIC
    svg = plot_model(seed_model, tmp_path / "m.svg", show_shapes=True)
    assert isinstance(svg, display.SVG) and "(None, 4)" in svg.data


def test_return_value_is_the_path_without_ipython(
    seed_model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # IPython not importable
    assert plot_model(seed_model, tmp_path / "m2.png") == str(tmp_path / "m2.png")
    assert plot_history({"loss": [1.0, 0.5]}, tmp_path / "h.svg") == str(tmp_path / "h.svg")


# ---------------------------------------------------------------------------- notebooks
def test_notebook_reprs(seed_model: Model) -> None:
    svg = seed_model._repr_svg_()
    assert svg is not None and svg.startswith("<svg")
    assert ">(None, 4)</text>" in svg and ">slice(index=0)</text>" in svg
    page = model_html(seed_model)
    assert "<table>" in page and "<svg" in page
    assert "<td>lambda (Lambda: slice, index=0)</td><td>(None, 4)</td>" in page
    assert model_svg(Sequential([Dense(2)])) is None  # nothing to draw yet


# ---------------------------------------------------------------------------- training plots
class History:
    def __init__(self, history: dict[str, list[float]]) -> None:
        self.history = history


def test_plot_history_panels_and_curves(tmp_path: Path) -> None:
    history = History({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7], "mae": [3, 2, 1]})
    shown = plot_history(history, tmp_path / "h.svg")
    svg = (tmp_path / "h.svg").read_text(encoding="utf-8")
    assert "<svg" in getattr(shown, "data", svg)  # an IPython SVG where IPython is there
    assert len(re.findall(r'<g id="axes_\d+"', svg)) == 2  # loss and mae
    assert svg.count("validation") >= 1 and "training" in svg
    plot_history(history.history, tmp_path / "h.png", metrics=["mae"])
    assert png_size((tmp_path / "h.png").read_bytes()) == (420, 340)  # 4.2 x 3.4 in at 100 dpi
    plot_history(history, tmp_path / "one.svg", metrics="loss")
    one = (tmp_path / "one.svg").read_text(encoding="utf-8")
    assert len(re.findall(r'<g id="axes_\d+"', one)) == 1


def test_plot_history_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no \['acc'\] in the history; it records \['loss'\]"):
        plot_history({"loss": [1.0]}, tmp_path / "h.png", metrics=["acc"])
    with pytest.raises(ValueError, match="history is empty"):
        plot_history({"loss": []}, tmp_path / "h.png")
    with pytest.raises(TypeError, match=r"expected a History .* received list"):
        plot_history([1.0, 2.0], tmp_path / "h.png")
    with pytest.raises(ValueError, match=r"received '\.xyz'"):
        plot_history({"loss": [1.0]}, tmp_path / "h.xyz")


def test_latent_space_and_image_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    plot_latent_space(torch.randn(50, 2), rng.integers(0, 10, 50), tmp_path / "z.png")
    assert (tmp_path / "z.png").read_bytes()[:8] == PNG_MAGIC
    plot_image_grid(rng.random((16, 784)), tmp_path / "grid.png", columns=4)
    assert (tmp_path / "grid.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match=r"shape \(n, 2\), received \(50, 3\)"):
        plot_latent_space(np.zeros((50, 3)), to_file=tmp_path / "bad.png")
    with pytest.raises(ValueError, match="50 points but 49 labels"):
        plot_latent_space(np.zeros((50, 2)), np.zeros(49), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="not square; pass image_shape"):
        plot_image_grid(np.zeros((4, 10)), tmp_path / "bad.png")
    plot_image_grid(np.zeros((4, 10)), tmp_path / "ok.png", image_shape=(2, 5))


def test_utils_exports() -> None:
    assert lamina.utils.plot_model is plot_model
    assert lamina.utils.model_to_dot is model_to_dot
    assert lamina.utils.plot_history is plot_history
