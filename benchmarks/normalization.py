"""lamina's normalization layers on channels-last images against hand-written torch.

The torch side is what a torch user writes: `nn.BatchNorm2d` / `nn.GroupNorm` on the same
data laid out NCHW (contiguous), and the formula Keras's torch backend evaluates
(`(x - mean) * rsqrt(var + eps) * gamma + beta` with `var = E[x^2] - E[x]^2`) on the
channels-last data. Rounds alternate, and each ratio is the median over rounds.

Run: OMP_NUM_THREADS=1 python benchmarks/normalization.py [--rounds N] [--shape N H W C]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from lamina.layers import BatchNormalization, GroupNormalization


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def cases(shape: tuple[int, int, int, int]) -> dict[str, dict[str, Callable[[], object]]]:
    n, h, w, c = shape
    x = torch.randn(n, h, w, c, requires_grad=True)
    x_nchw = x.detach().permute(0, 3, 1, 2).contiguous().requires_grad_()
    bn = BatchNormalization()
    bn(x)
    torch_bn = torch.nn.BatchNorm2d(c, eps=1e-3)
    gn = GroupNormalization(8)
    gn(x)
    torch_gn = torch.nn.GroupNorm(8, c, eps=1e-3)
    gamma, beta = bn.gamma, bn.beta

    def keras_formula(z: torch.Tensor) -> torch.Tensor:
        mean = z.mean((0, 1, 2))
        variance = z.square().mean((0, 1, 2)) - mean.square()
        return (z - mean) * torch.rsqrt(variance + 1e-3) * gamma + beta

    def backward(out: torch.Tensor) -> None:
        out.sum().backward()

    return {
        "BatchNormalization train fwd+bwd": {
            "lamina": lambda: backward(bn(x, training=True)),
            "nn.BatchNorm2d NCHW": lambda: backward(torch_bn.train()(x_nchw)),
            "Keras's formula": lambda: backward(keras_formula(x)),
        },
        "BatchNormalization inference": {
            "lamina": lambda: bn(x.detach()),
            "nn.BatchNorm2d NCHW": lambda: torch_bn.eval()(x_nchw.detach()),
        },
        "GroupNormalization fwd+bwd": {
            "lamina": lambda: backward(gn(x)),
            "nn.GroupNorm NCHW": lambda: backward(torch_gn(x_nchw)),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--shape", type=int, nargs=4, default=(32, 16, 16, 64))
    args = parser.parse_args()
    for title, sides in cases(tuple(args.shape)).items():
        for fn in sides.values():  # warm up
            per_call(fn, 3)
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, fn in sides.items():
                times[name].append(per_call(fn, 10))
        base = statistics.median(times["lamina"])
        parts = [f"lamina {base * 1e3:.2f} ms"]
        for name in list(sides)[1:]:
            other = statistics.median(times[name])
            parts.append(f"{name} {other * 1e3:.2f} ms (lamina/that {base / other:.2f})")
        print(f"{title}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
