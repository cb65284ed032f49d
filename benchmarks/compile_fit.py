"""`fit` eager against `compile(jit_compile=True)` on the seed's VAE (`cli/demo_vae.build_vae`).

Each side runs in its own fresh process (so the compile cache of one does not help the
other), alternating eager, compiled, eager, ... The first epoch of each process holds the
compile time and is reported on its own line; the ratio is of the median seconds per epoch
after it (below 1: compiling pays).

    python benchmarks/compile_fit.py                       # synthetic data, CPU
    python benchmarks/compile_fit.py --device cuda --rounds 3
    python benchmarks/compile_fit.py --mode max-autotune   # torch.compile's mode
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any


def worker(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from lamina import losses, optimizers
    from lamina.cli.demo_vae import build_vae

    torch.manual_seed(0)
    vae, _, _ = build_vae()
    vae.to(args.device)
    jit: Any = False
    if args.side == "jit":
        jit = {"mode": args.mode} if args.mode else True
    vae.compile(
        optimizer=optimizers.Adam(learning_rate=1e-3),
        loss=losses.BinaryCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    x = np.random.default_rng(0).random((args.samples, 784), dtype=np.float32)
    times = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        vae.fit(x, x, batch_size=128, epochs=1, verbose=0, shuffle=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    print(json.dumps({"first": times[0], "rest": times[1:]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--mode", default=None, help="torch.compile's mode")
    parser.add_argument("--side", choices=["eager", "jit"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        worker(args)
        return
    results: dict[str, list[dict[str, Any]]] = {"eager": [], "jit": []}
    for _ in range(args.rounds):
        for side in ("eager", "jit"):
            command = [sys.executable, __file__, "--side", side, *sys.argv[1:]]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[side].append(json.loads(out.strip().splitlines()[-1]))
    epoch = {s: statistics.median(t for r in results[s] for t in r["rest"]) for s in results}
    first = {s: statistics.median(r["first"] for r in results[s]) for s in results}
    compile_time = first["jit"] - epoch["jit"] - (first["eager"] - epoch["eager"])
    print(f"device {args.device}, {args.samples} samples, batch 128, {args.rounds} round(s)")
    print(f"eager    {epoch['eager']:.3f} s/epoch")
    print(f"compiled {epoch['jit']:.3f} s/epoch")
    print(f"ratio compiled/eager {epoch['jit'] / epoch['eager']:.3f}")
    print(f"compile time (first epoch's extra) {compile_time:.2f} s")


if __name__ == "__main__":
    main()
