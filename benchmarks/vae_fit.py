"""lamina's `fit` against a hand-written PyTorch loop, on the seed's VAE and Fashion-MNIST.

Both run the same model (784-200-200-(2,2)-200-200-200-784, softplus), batch size 128, Adam
(lr 1e-3, eps 1e-7), binary crossentropy on logits plus the KL term / 784, shuffling every
epoch, with denormals flushed to zero (lamina does it inside `fit`; the torch loop calls
`torch.set_flush_denormal(True)`). Each side runs in its own fresh process, alternating
lamina, torch, lamina, torch, ... so that machine noise hits both alike. The first epoch of
each process is a warm-up and is not counted.

lamina's Adam uses torch's fused kernel by default (see `lamina.optimizers`); the torch loop
uses `torch.optim.Adam`'s default per-tensor loop, as most hand-written loops do, or the
fused kernel with `--torch-fused` (then the ratio measures lamina's loop overhead alone).

It prints the median seconds per epoch of each side and their ratio (goal: at most 1.05),
the ratio of the best epochs (robust to a busy machine), and samples per second against
the machine's matrix-multiply roofline for this model: the
FLOP rate of one large `torch.mm`, divided by the model's FLOPs per sample (forward and
backward: 6 per weight, minus the input gradient of the first layer, which nobody needs).

    python benchmarks/vae_fit.py                # full Fashion-MNIST when found, ~2-3 min
    python benchmarks/vae_fit.py --subset       # the shipped 2,000-image subset, quick
    python benchmarks/vae_fit.py --rounds 5 --epochs 4
    python benchmarks/vae_fit.py --device cuda  # both sides on a GPU (data on it too)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

BATCH_SIZE = 128
LAYERS = [(784, 200), (200, 200), (200, 2), (200, 2), (2, 200), (200, 200), (200, 200), (200, 784)]


def flops_per_sample() -> int:
    """Multiply-adds x 2 for forward, twice that for backward, no input gradient for layer 1."""
    weights = sum(i * o for i, o in LAYERS)
    return 6 * weights - 2 * LAYERS[0][0] * LAYERS[0][1]


def load(subset: bool) -> np.ndarray:
    from lamina.datasets import fashion_mnist

    if subset:
        (x_train, _), _ = fashion_mnist.load_subset()
    else:
        (x_train, _), _ = fashion_mnist.load_data(download=False, fallback_to_subset=True)
    return x_train.reshape(len(x_train), 784).astype(np.float32) / 255.0


# ---------------------------------------------------------------------------- workers
def run_lamina(x_train: np.ndarray, epochs: int, verbose: Any, device: str) -> list[float]:
    import torch

    import lamina
    from lamina import Input, Model, ops
    from lamina.layers import Dense, Lambda

    def sampling(agrs: Any) -> Any:
        mean, logvar = agrs[0], agrs[1]
        eps = torch.randn_like(mean)
        return mean + eps * torch.exp(logvar * 0.5)

    lamina.utils.set_random_seed(0)
    x = Input(shape=(784,))
    h2 = Dense(200, activation="softplus")(Dense(200, activation="softplus")(x))
    mean, log_var = Dense(2)(h2), Dense(2)(h2)
    z = Lambda(sampling, output_shape=(2,))([mean, log_var])
    out = Dense(784)(
        Dense(200, activation="softplus")(
            Dense(200, activation="softplus")(Dense(200, activation="softplus")(z))
        )
    )
    model = Model(x, out).to(device)
    model.add_loss(
        -0.5 * ops.mean(ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=1)) / 784
    )
    model.compile(
        optimizer=lamina.optimizers.Adam(learning_rate=1e-3),
        loss=lamina.losses.BinaryCrossentropy(from_logits=True),
    )
    times: list[float] = []
    marks: dict[str, float] = {}
    clock = lamina.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: marks.__setitem__("start", time.perf_counter()),
        on_epoch_end=lambda epoch, logs: times.append(finish(device) - marks["start"]),
    )
    kwargs = {} if verbose is None else {"verbose": verbose}
    model.fit(x_train, x_train, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[clock], **kwargs)
    return times


def finish(device: str) -> float:
    """The time once the device's queued work is done."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


def run_torch(
    x_train: np.ndarray, epochs: int, flush: bool, fused: bool = False, device: str = "cpu"
) -> list[float]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e1, self.e2 = nn.Linear(784, 200), nn.Linear(200, 200)
            self.mean, self.log_var = nn.Linear(200, 2), nn.Linear(200, 2)
            self.d1, self.d2, self.d3 = nn.Linear(2, 200), nn.Linear(200, 200), nn.Linear(200, 200)
            self.out = nn.Linear(200, 784)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = F.softplus(self.e2(F.softplus(self.e1(x))))
            mean, log_var = self.mean(h), self.log_var(h)
            z = mean + torch.randn_like(mean) * torch.exp(log_var * 0.5)
            h = F.softplus(self.d3(F.softplus(self.d2(F.softplus(self.d1(z))))))
            kl = -0.5 * torch.mean(torch.sum(1 + log_var - mean**2 - torch.exp(log_var), dim=1))
            return self.out(h), kl / 784

    torch.set_flush_denormal(flush)
    torch.manual_seed(0)
    model = VAE().to(device)
    extra = {"fused": True} if fused else {}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, **extra)
    data = torch.from_numpy(x_train).to(device)
    count = len(data)
    times = []
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(count, device=device)
        for first in range(0, count, BATCH_SIZE):
            batch = data[order[first : first + BATCH_SIZE]]
            logits, kl = model(batch)
            loss = F.binary_cross_entropy_with_logits(logits, batch) + kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        loss.item()
        times.append(finish(device) - start)
    return times


def matmul_flops(device: str = "cpu", size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a large float32 `torch.mm` on `device` (best of `repeats`)."""
    import torch

    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    finish(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, finish(device) - start)
    return 2 * size**3 / best


# ---------------------------------------------------------------------------- driver
def worker(args: argparse.Namespace) -> None:
    x_train = load(args.subset)
    if args.worker == "lamina":
        verbose = (
            None
            if args.verbose is None
            else (args.verbose if args.verbose == "auto" else int(args.verbose))
        )
        times = run_lamina(x_train, args.epochs, verbose, args.device)
    else:
        times = run_torch(x_train, args.epochs, not args.no_flush, args.torch_fused, args.device)
    print("RESULT " + json.dumps({"times": times, "samples": len(x_train)}))


def spawn(side: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", side, "--epochs", str(args.epochs)]
    command += ["--device", args.device]
    if args.subset:
        command.append("--subset")
    if args.no_flush:
        command.append("--no-flush")
    if args.torch_fused:
        command.append("--torch-fused")
    if args.verbose is not None:
        command += ["--verbose", str(args.verbose)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{done.stdout}\n{done.stderr}")
    line = next(row for row in done.stdout.splitlines() if row.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="process pairs (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per process (default 3)")
    parser.add_argument("--subset", action="store_true", help="the shipped 2,000-image subset")
    parser.add_argument("--no-flush", action="store_true", help="torch loop without flushing")
    parser.add_argument(
        "--torch-fused", action="store_true", help="torch loop with Adam(fused=True)"
    )
    parser.add_argument("--verbose", default=None, help="lamina fit verbose (default: fit's)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--worker", choices=["lamina", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is a warm-up)")

    per_epoch: dict[str, list[float]] = {"lamina": [], "torch": []}
    samples = 0
    for round_ in range(args.rounds):
        for side in ("lamina", "torch"):
            result = spawn(side, args)
            samples = result["samples"]
            per_epoch[side] += result["times"][1:]
            shown = ", ".join(f"{t:.2f}" for t in result["times"])
            print(f"round {round_ + 1} {side:>6}: epochs {shown} s", flush=True)

    lamina_s = statistics.median(per_epoch["lamina"])
    torch_s = statistics.median(per_epoch["torch"])
    ratio = lamina_s / torch_s
    best_ratio = min(per_epoch["lamina"]) / min(per_epoch["torch"])
    print()
    print(
        f"Fashion-MNIST VAE, {samples} samples/epoch, batch {BATCH_SIZE}, "
        f"{args.rounds} x {args.epochs - 1} timed epochs per side"
    )
    print(
        f"per-epoch median: lamina fit {lamina_s:.3f} s | hand-written torch {torch_s:.3f} s | "
        f"ratio lamina/torch {ratio:.3f} (goal <= 1.05) -> {'OK' if ratio <= 1.05 else 'SLOWER'}"
    )
    print(
        f"best epoch: lamina fit {min(per_epoch['lamina']):.3f} s | hand-written torch "
        f"{min(per_epoch['torch']):.3f} s | ratio {best_ratio:.3f}"
        + (" (torch with fused Adam)" if args.torch_fused else " (torch's default Adam)")
    )
    import torch

    torch.set_flush_denormal(True)
    peak = matmul_flops(args.device)
    per_sample = flops_per_sample()
    roofline = peak / per_sample
    for side, seconds in (("lamina", lamina_s), ("torch", torch_s)):
        rate = samples / seconds
        print(
            f"{side:>6}: {rate:,.0f} samples/s = {rate * per_sample / 1e9:.1f} GFLOP/s, "
            f"{100 * rate / roofline:.1f}% of the matmul roofline"
        )
    print(
        f"roofline: {peak / 1e9:.1f} GFLOP/s (2048^2 torch.mm on {args.device}, "
        f"{torch.get_num_threads()} CPU threads) / {per_sample / 1e6:.2f} MFLOP per sample "
        "(fwd+bwd) = "
        f"{roofline:,.0f} samples/s"
    )


if __name__ == "__main__":
    main()
