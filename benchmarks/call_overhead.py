"""lamina's `model(x)` against the same computation hand-written in torch, in one process.

Rounds alternate between the two, and each ratio is the median over rounds, so drift in the
machine's speed hits both sides alike. Goals (issue 2): the seed's slicing model at batch 1
at most 2.0x; a 784-200-200-10 MLP at batch 256 at most 1.05x; building a 1,000-layer chain
under a second, linear in the number of layers.

Run: python benchmarks/call_overhead.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch

from lamina import Input, Model
from lamina.layers import Dense, Lambda, Reshape, merge


def slice(x: torch.Tensor, index: int) -> torch.Tensor:
    return x[:, :, index]


def seed_pair() -> tuple[Callable[[], object], Callable[[], object]]:
    a = Input(shape=(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x1 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 0})(a))
        x2 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 1})(a))
    model = Model(a, merge([x1, x2], mode="concat"))
    x = torch.tensor([[[1.0, 2.0], [2.0, 3.0], [3.0, 4.0], [4.0, 5.0]]])

    def by_hand() -> torch.Tensor:
        c0 = x[:, :, 0].reshape(x.shape[0], 4, 1, 1)
        c1 = x[:, :, 1].reshape(x.shape[0], 4, 1, 1)
        return torch.cat((c0, c1), dim=-1)

    assert torch.equal(model(x), by_hand())
    return (lambda: model(x)), by_hand


def mlp_pair() -> tuple[Callable[[], object], Callable[[], object]]:
    x_in = Input(shape=(784,))
    h = Dense(200, activation="relu")(Dense(200, activation="relu")(x_in))
    model = Model(x_in, Dense(10)(h))
    reference = torch.nn.Sequential(
        torch.nn.Linear(784, 200), torch.nn.ReLU(), torch.nn.Linear(200, 200), torch.nn.ReLU(),
        torch.nn.Linear(200, 10),
    )  # fmt: skip
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    with torch.no_grad():
        for linear, layer in zip([reference[0], reference[2], reference[4]], dense):
            linear.weight.copy_(layer.kernel.T)
            linear.bias.copy_(layer.bias)
    x = torch.randn(256, 784)
    torch.testing.assert_close(model(x), reference(x))
    return (lambda: model(x)), (lambda: reference(x))


def time_call(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def ratio(
    name: str,
    pair: tuple[Callable[[], object], Callable[[], object]],
    number: int,
    rounds: int,
    goal: float,
) -> None:
    ours, theirs = pair
    for fn in pair:
        time_call(fn, number)  # warm up
    ratios, ours_t, theirs_t = [], [], []
    with torch.no_grad():
        for _ in range(rounds):
            a = time_call(ours, number)
            b = time_call(theirs, number)
            ratios.append(a / b)
            ours_t.append(a)
            theirs_t.append(b)
    r = statistics.median(ratios)
    print(
        f"{name}: lamina {statistics.median(ours_t) * 1e6:.1f} us, torch "
        f"{statistics.median(theirs_t) * 1e6:.1f} us, ratio {r:.2f}x (goal <= {goal}x) "
        f"{'OK' if r <= goal else 'MISSED'}"
    )


def build_chain(n: int) -> float:
    start = time.perf_counter()
    x = Input(shape=(8,))
    y = x
    for i in range(n):
        y = Dense(8)(y) if i % 2 else Lambda(lambda t: t * 0.5)(y)
    Model(x, y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    ratio("seed slicing model, batch 1", seed_pair(), 2000, args.rounds, 2.0)
    ratio("MLP 784-200-200-10, batch 256", mlp_pair(), 200, args.rounds, 1.05)
    build_chain(50)
    small, large = build_chain(500), build_chain(1000)
    print(
        f"build a 1,000-layer chain: {large:.2f} s (goal < 1 s), 500 layers: {small:.2f} s, "
        f"ratio {large / small:.2f} (linear: ~2)"
    )


if __name__ == "__main__":
    main()
