"""How long drawing takes: `model_to_dot` and `plot_model` (SVG, PNG) on a 300-layer model.

Goal (issue 5): a 300-layer model renders in seconds. Prints the renderer used.

Run: python benchmarks/plot.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lamina import Input, Model
from lamina.layers import Dense, Lambda
from lamina.visualization.dot import model_to_dot
from lamina.visualization.plot import find_renderers, plot_model


def long_model(layers: int) -> Model:
    x = Input(shape=(8,))
    y = x
    for i in range(layers):
        y = Dense(8, activation="relu")(y) if i % 2 else Lambda(lambda t: t * 0.5)(y)
    return Model(x, y)


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    model = long_model(300)
    print(f"renderer: {' '.join(find_renderers()[0]) if find_renderers() else 'none'}")
    seconds = best_of(lambda: model_to_dot(model, show_shapes=True))
    print(f"model_to_dot, 300 layers, shapes: {seconds * 1e3:.0f} ms")
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("svg", "png"):
            path = Path(folder) / f"long.{fmt}"
            seconds = best_of(lambda p=path: plot_model(model, to_file=p, show_shapes=True))
            print(f"plot_model -> {fmt}, 300 layers: {seconds:.2f} s (goal: seconds)")


if __name__ == "__main__":
    main()
