"""One prepared check for a machine with a CUDA GPU: the suite's CUDA tests, then lamina's fit
time per step against a hand-written PyTorch loop on the seed's VAE, eager, compiled and in
mixed precision (goal: each ratio at most 1.05).

    python benchmarks/gpu_check.py            # about 2-4 minutes on one GPU
    python benchmarks/gpu_check.py --no-tests # timings only

Without CUDA it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

STEPS = 200
BATCH = 128


def _torch_vae(device: torch.device) -> Any:
    from torch import nn

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Sequential(
                nn.Linear(784, 200), nn.Softplus(), nn.Linear(200, 200), nn.Softplus()
            )
            self.mean, self.log_var = nn.Linear(200, 2), nn.Linear(200, 2)
            self.dec = nn.Sequential(
                nn.Linear(2, 200), nn.Softplus(), nn.Linear(200, 200), nn.Softplus(),
                nn.Linear(200, 200), nn.Softplus(), nn.Linear(200, 784),
            )  # fmt: skip

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.enc(x)
            mean, log_var = self.mean(h), self.log_var(h)
            z = mean + torch.exp(log_var / 2) * torch.randn_like(mean)
            kl = -0.5 * torch.mean(torch.sum(1 + log_var - mean**2 - torch.exp(log_var), 1))
            return self.dec(z), kl / 784

    return VAE().to(device)


def torch_seconds_per_step(x: torch.Tensor, *, compiled: bool, dtype: Any) -> float:
    model = _torch_vae(x.device)
    step_model: Any = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True)
    bce = torch.nn.BCEWithLogitsLoss()

    def step(batch: torch.Tensor) -> None:
        cast = torch.autocast("cuda", dtype=dtype) if dtype else contextlib.nullcontext()
        with cast:
            logits, kl = step_model(batch)
            loss = bce(logits.float(), batch) + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _time(step, x)


def lamina_seconds_per_step(x: torch.Tensor, *, compiled: bool, policy: str) -> float:
    from lamina import losses, mixed_precision, optimizers
    from lamina.cli.demo_vae import build_vae

    mixed_precision.set_global_policy(policy)
    vae, _, _ = build_vae()
    vae.to(x.device)
    vae.compile(
        optimizer=optimizers.Adam(learning_rate=1e-3),
        loss=losses.BinaryCrossentropy(from_logits=True),
        jit_compile=compiled,
    )
    try:
        return _time(
            lambda batch: vae.fit(batch, batch, batch_size=BATCH, verbose=0), x, per_fit=True
        )
    finally:
        mixed_precision.set_global_policy("float32")


def _time(step: Any, x: torch.Tensor, *, per_fit: bool = False) -> float:
    batches = x.split(BATCH)
    if per_fit:  # one fit over all the batches: the loop is lamina's
        step(x)  # warm-up (and compile)
        torch.cuda.synchronize()
        start = time.perf_counter()
        step(x)
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / len(batches)
    for batch in batches[:20]:
        step(batch)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(batches)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-tests", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing run.")
        return 0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    status = 0
    if not args.no_tests:
        tests = Path(__file__).resolve().parents[1] / "tests" / "test_cuda.py"
        status = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)]
        )
        print(f"tests/test_cuda.py: {'passed' if status == 0 else 'FAILED'}")
    torch.manual_seed(0)
    x = torch.rand(STEPS * BATCH, 784, device="cuda")
    cases = [
        ("eager", False, "float32", None),
        ("compiled", True, "float32", None),
        ("mixed_bfloat16", False, "mixed_bfloat16", torch.bfloat16),
        ("mixed_float16", False, "mixed_float16", torch.float16),
    ]
    for label, compiled, policy, dtype in cases:
        try:
            ours = lamina_seconds_per_step(x, compiled=compiled, policy=policy)
            theirs = torch_seconds_per_step(x, compiled=compiled, dtype=dtype)
        except Exception as error:
            print(f"{label:15s} failed: {type(error).__name__}: {error}")
            status = status or 1
            continue
        print(
            f"{label:15s} lamina {ours * 1e3:.3f} ms/step, torch {theirs * 1e3:.3f} ms/step, "
            f"ratio {ours / theirs:.3f} (goal <= 1.05)"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
