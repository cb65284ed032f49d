"""lamina's `fit` against hand-written PyTorch on two sequence models.

(a) `lstm`: Embedding(20000, 128) -> LSTM(64) -> Dense(1, sigmoid), sequences of 200 token ids,
    batch 64, binary crossentropy; torch: `nn.Embedding`, `nn.LSTM`, `nn.Linear`.
(b) `transformer`: one post-norm encoder block on (batch 64, 64 steps, 128 features):
    MultiHeadAttention(4 heads, key_dim 32) + residual + LayerNormalization, then a
    feed-forward of 128 (relu) + residual + LayerNormalization, mean squared error; torch:
    `nn.TransformerEncoderLayer(128, 4, 128, dropout=0, batch_first=True)`.

Both sides train with Adam (lr 1e-3; torch with `fused=True`, as lamina's Adam) on the same
synthetic data. Each side runs in its own fresh process, alternating lamina, torch, lamina,
torch, ... so that machine noise hits both alike; the first epoch of each process is a
warm-up. It prints the median seconds per epoch and `ratio lamina/torch X (goal <= 1.05)`.

    OMP_NUM_THREADS=1 python benchmarks/sequence_fit.py             # both, ~2 min on 1 core
    python benchmarks/sequence_fit.py --model lstm --rounds 3 --steps 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH = 64
VOCAB, EMBED, UNITS, LENGTH = 20000, 128, 64, 200
D_MODEL, HEADS, KEY_DIM, FF, STEPS_T = 128, 4, 32, 128, 64


def data(model: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = steps * BATCH
    if model == "lstm":
        x = rng.integers(1, VOCAB, size=(n, LENGTH)).astype(np.int64)
        return x, rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    x = rng.normal(size=(n, STEPS_T, D_MODEL)).astype(np.float32)
    return x, rng.normal(size=(n, STEPS_T, D_MODEL)).astype(np.float32)


def run_lamina(model_name: str, x: np.ndarray, y: np.ndarray, epochs: int) -> list[float]:
    import lamina
    from lamina import Input, Model
    from lamina.layers import LSTM, Dense, Embedding, LayerNormalization, MultiHeadAttention

    lamina.utils.set_random_seed(0)
    if model_name == "lstm":
        tokens = Input(shape=(LENGTH,), dtype="int64")
        out = Dense(1, activation="sigmoid")(LSTM(UNITS)(Embedding(VOCAB, EMBED)(tokens)))
        model, loss = Model(tokens, out), "binary_crossentropy"
    else:
        seq = Input(shape=(STEPS_T, D_MODEL))
        h = LayerNormalization(epsilon=1e-5)(seq + MultiHeadAttention(HEADS, KEY_DIM)(seq, seq))
        ff = Dense(D_MODEL)(Dense(FF, activation="relu")(h))
        model, loss = Model(seq, LayerNormalization(epsilon=1e-5)(h + ff)), "mse"
    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=1e-3), loss=loss)
    times: list[float] = []
    marks: dict[str, float] = {}
    clock = lamina.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: marks.__setitem__("start", time.perf_counter()),
        on_epoch_end=lambda epoch, logs: times.append(time.perf_counter() - marks["start"]),
    )
    model.fit(x, y, batch_size=BATCH, epochs=epochs, callbacks=[clock], verbose=0)
    return times


def run_torch(model_name: str, x: np.ndarray, y: np.ndarray, epochs: int) -> list[float]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    torch.set_flush_denormal(True)  # as lamina's fit does

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, UNITS, batch_first=True)
            self.out = nn.Linear(UNITS, 1)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            _, (h, _) = self.lstm(self.embed(tokens))
            return torch.sigmoid(self.out(h[0]))

    if model_name == "lstm":
        model: nn.Module = Classifier()

        def loss_fn(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), t)
    else:
        model = nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0, batch_first=True)
        loss_fn = F.mse_loss
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(xs))
        for first in range(0, len(xs), BATCH):
            index = order[first : first + BATCH]
            loss = loss_fn(model(xs[index]), ys[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        loss.item()
        times.append(time.perf_counter() - start)
    return times


def spawn(side: str, args: argparse.Namespace, model: str) -> list[float]:
    command = [sys.executable, __file__, "--worker", side, "--model", model]
    command += ["--epochs", str(args.epochs), "--steps", str(args.steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{done.stdout}\n{done.stderr}")
    line = next(row for row in done.stdout.splitlines() if row.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["lstm", "transformer", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3, help="process pairs (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per process (default 3)")
    parser.add_argument("--steps", type=int, default=10, help="batches per epoch (default 10)")
    parser.add_argument("--worker", choices=["lamina", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        x, y = data(args.model, args.steps)
        run = run_lamina if args.worker == "lamina" else run_torch
        print("RESULT " + json.dumps(run(args.model, x, y, args.epochs)))
        return
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is a warm-up)")
    models = ["lstm", "transformer"] if args.model == "both" else [args.model]
    for model in models:
        per_epoch: dict[str, list[float]] = {"lamina": [], "torch": []}
        for round_ in range(args.rounds):
            for side in ("lamina", "torch"):
                times = spawn(side, args, model)
                per_epoch[side] += times[1:]
                shown = ", ".join(f"{t:.2f}" for t in times)
                print(f"{model} round {round_ + 1} {side:>6}: epochs {shown} s", flush=True)
        lamina_s = statistics.median(per_epoch["lamina"])
        torch_s = statistics.median(per_epoch["torch"])
        ratio = lamina_s / torch_s
        print(
            f"{model}: {args.steps} batches of {BATCH}/epoch, median epoch lamina "
            f"{lamina_s:.3f} s | torch {torch_s:.3f} s | ratio lamina/torch {ratio:.3f} "
            f"(goal <= 1.05) -> {'OK' if ratio <= 1.05 else 'SLOWER'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
