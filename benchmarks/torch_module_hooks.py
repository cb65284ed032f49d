"""What the hooks that wrap plain torch modules on symbolic tensors cost (core/module_calls.py).

They are global torch hooks, installed only while a model is being defined. This measures,
in one process with rounds alternating and medians taken:

- a plain `nn.Linear(64, 64)` call (batch 32) with no global hooks, and with lamina's
  installed (what any torch code in the process pays while a model is being defined);
- a functional model of five wrapped torch modules (`model(x)`, batch 32) while the hooks are
  installed and after a `Model(...)` removed them, against the same modules called by hand;
- a training step of that model in a torch loop with the hooks installed and not (what `fit`
  would pay if they stayed on; `fit` removes them), and `train_on_batch` against a
  hand-written torch step.

Run: python benchmarks/torch_module_hooks.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from lamina import Input, Model
from lamina.core import module_calls


def per_call_us(fn: Callable[[], object], *, calls: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # per-call overhead, not kernels, is what this measures
    x = torch.randn(32, 64)
    y = torch.randn(32, 8)

    linear = nn.Linear(64, 64)
    modules = [nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8)]
    inputs = Input(shape=(64,))
    h = inputs
    for module in modules:
        h = module(h)  # wrapped by the hooks
    model = Model(inputs, h)  # removes the hooks
    model.compile(optimizer="sgd", loss="mse")

    def by_hand() -> torch.Tensor:
        out = x
        for module in modules:
            out = module(out)
        return out

    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.01)

    def torch_step() -> None:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(by_hand(), y)
        loss.backward()
        optimizer.step()

    lamina_optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def lamina_step() -> None:  # the model in a torch loop: what fit would pay with hooks on
        lamina_optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        lamina_optimizer.step()

    rows: dict[str, list[float]] = {}
    with torch.no_grad():
        for _ in range(args.rounds):
            module_calls.disarm()
            rows.setdefault("linear, no hooks", []).append(
                per_call_us(lambda: linear(x), calls=2000)
            )
            rows.setdefault("model(x), no hooks", []).append(
                per_call_us(lambda: model(x), calls=1000)
            )
            rows.setdefault("by hand, no hooks", []).append(per_call_us(by_hand, calls=1000))
            module_calls.arm()  # as while a model is being defined
            rows.setdefault("linear, hooks on", []).append(
                per_call_us(lambda: linear(x), calls=2000)
            )
            rows.setdefault("model(x), hooks on", []).append(
                per_call_us(lambda: model(x), calls=1000)
            )
            rows.setdefault("by hand, hooks on", []).append(per_call_us(by_hand, calls=1000))
            module_calls.disarm()
    for _ in range(args.rounds):
        rows.setdefault("model step, no hooks", []).append(per_call_us(lamina_step, calls=300))
        module_calls.arm()
        rows.setdefault("model step, hooks on", []).append(per_call_us(lamina_step, calls=300))
        module_calls.disarm()
        rows.setdefault("train_on_batch", []).append(
            per_call_us(lambda: model.train_on_batch(x, y), calls=200)
        )
        rows.setdefault("torch step", []).append(per_call_us(torch_step, calls=200))
    median = {name: statistics.median(values) for name, values in rows.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {args.rounds}")
    for name, value in median.items():
        print(f"{name:22s} {value:8.1f} us")
    ratio = lambda a, b: f"{median[a] / median[b]:.2f}x"  # noqa: E731
    print(
        f"hooks on / off: nn.Linear {ratio('linear, hooks on', 'linear, no hooks')}, model(x) "
        f"{ratio('model(x), hooks on', 'model(x), no hooks')}, training step "
        f"{ratio('model step, hooks on', 'model step, no hooks')}; model(x) / by hand (no hooks) "
        f"{ratio('model(x), no hooks', 'by hand, no hooks')}; train_on_batch / torch step "
        f"{ratio('train_on_batch', 'torch step')}"
    )


if __name__ == "__main__":
    main()
