"""lamina's `fit` against a hand-written PyTorch loop, on the keras.io MNIST convnet and a small
ResNet.

`--model convnet` (the default) is keras.io's "Simple MNIST convnet": Conv2D(32, 3, relu),
MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2), Flatten, Dropout(0.5), Dense(10,
softmax). `--model resnet` is a small ResNet: a Conv2D(32, 3) + BatchNormalization + ReLU
stem, a residual block of 32 filters (Conv2D + BatchNormalization twice, Add), a
downsampling block of 64 filters with a strided 1x1 shortcut, GlobalAveragePooling2D,
Dense(10, softmax); torch's side uses `nn.BatchNorm2d(momentum=0.01, eps=1e-3)`, Keras's
defaults. Both: Adam (lr 1e-3, eps 1e-7), batch size 128, sparse categorical crossentropy, the
accuracy tracked as it trains, shuffling every epoch, on Fashion-MNIST (the full training
set when installed, e.g. by `apt-get install dataset-fashion-mnist`, else the shipped
2,000-image subset), cut to `--samples` images to keep the run short.

- lamina gets the images channels-last, `(N, 28, 28, 1)`, as Keras users have them, and
  runs them through torch's `channels_last` kernels without copies (see
  `lamina/layers/convolution.py`).
- The torch side is what a PyTorch user writes: the images channels-first, `(N, 1, 28, 28)`,
  an `nn.Module` with the same layers and Keras's initialization (Glorot-uniform kernels,
  zero biases), the logits into `F.cross_entropy` (lamina's softmax + crossentropy is the
  same function), `torch.optim.Adam` (its default loop, or fused with `--torch-fused`, as
  lamina's Adam is), and a plain loop.
- With `--keras-python PATH` (a Python with Keras 3 and torch), Keras 3 on its torch backend
  runs the same model beside them.

Each side runs in its own fresh process, alternating lamina, torch(, Keras), lamina, ... so
that machine noise hits all alike; the first epoch of each process is a warm-up and is not
counted. It prints the median seconds per epoch and the ratio lamina/torch (goal: at most
1.05).

    python benchmarks/cnn_fit.py                  # 6,000 images, 3 rounds of 3 epochs
    python benchmarks/cnn_fit.py --model resnet
    python benchmarks/cnn_fit.py --samples 60000 --rounds 2
    python benchmarks/cnn_fit.py --keras-python /work/venvs/keras/bin/python
    python benchmarks/cnn_fit.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

BATCH_SIZE = 128
TITLES = {"convnet": "keras.io MNIST convnet", "resnet": "small ResNet"}


def load(samples: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The first `samples` training images (channels-last, scaled to [0, 1]) and labels."""
    from lamina.datasets import fashion_mnist

    try:
        (x, y), _ = fashion_mnist.load_data(download=False)
        source = "Fashion-MNIST"
    except Exception:
        (x, y), _ = fashion_mnist.load_subset()
        source = "the shipped Fashion-MNIST subset"
    x = x[:samples].reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    return x, y[:samples].astype(np.int64), source


def finish(device: str) -> float:
    """The time once the device's queued work is done."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


def page_faults() -> int:
    """Minor page faults of this process so far (0 where `resource` is missing)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class EpochClock:
    """Wall-clock and process CPU seconds and the minor page faults of each epoch. CPU time
    is steadier on a machine that others share (with one thread per side); page faults (the
    allocator handing freed activations back to the system and faulting them in again) take
    a large and variable share of a CPU epoch."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.faults: list[int] = []

    def start(self, *_: Any) -> None:
        self._wall, self._cpu, self._faults = (
            time.perf_counter(),
            time.process_time(),
            page_faults(),
        )

    def stop(self, *_: Any) -> None:
        self.wall.append(finish(self.device) - self._wall)
        self.cpu.append(time.process_time() - self._cpu)
        self.faults.append(page_faults() - self._faults)


# ---------------------------------------------------------------------------- workers
def lamina_model(name: str) -> Any:
    from lamina import Input, Model
    from lamina.layers import (
        Activation,
        Add,
        BatchNormalization,
        Conv2D,
        Dense,
        Dropout,
        Flatten,
        GlobalAveragePooling2D,
        MaxPooling2D,
    )

    inputs = Input(shape=(28, 28, 1))
    if name == "convnet":
        h = MaxPooling2D(2)(Conv2D(32, 3, activation="relu")(inputs))
        h = MaxPooling2D(2)(Conv2D(64, 3, activation="relu")(h))
        outputs = Dense(10, activation="softmax")(Dropout(0.5)(Flatten()(h)))
        return Model(inputs, outputs)

    def conv_bn(x: Any, filters: int, *, strides: int = 1, relu: bool = True) -> Any:
        x = BatchNormalization()(Conv2D(filters, 3, strides=strides, padding="same")(x))
        return Activation("relu")(x) if relu else x

    h = conv_bn(inputs, 32)
    h = Activation("relu")(Add()([h, conv_bn(conv_bn(h, 32), 32, relu=False)]))
    shortcut = BatchNormalization()(Conv2D(64, 1, strides=2)(h))
    h = Activation("relu")(Add()([shortcut, conv_bn(conv_bn(h, 64, strides=2), 64, relu=False)]))
    outputs = Dense(10, activation="softmax")(GlobalAveragePooling2D()(h))
    return Model(inputs, outputs)


def run_lamina(
    x: np.ndarray, y: np.ndarray, epochs: int, verbose: Any, device: str, name: str
) -> EpochClock:
    import lamina

    lamina.utils.set_random_seed(0)
    model = lamina_model(name).to(device)
    model.compile(
        optimizer=lamina.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    clock = EpochClock(device)
    callback = lamina.callbacks.LambdaCallback(on_epoch_begin=clock.start, on_epoch_end=clock.stop)
    kwargs = {} if verbose is None else {"verbose": verbose}
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[callback], **kwargs)
    return clock


def torch_model(name: str) -> Any:
    import torch
    import torch.nn.functional as F
    from torch import nn

    def keras_init(module: nn.Module) -> None:
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(layer.weight)  # Keras's glorot_uniform
                nn.init.zeros_(layer.bias)

    class ConvNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
            self.dense = nn.Linear(5 * 5 * 64, 10)
            keras_init(self)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.max_pool2d(F.relu(self.conv1(x)), 2)
            h = F.max_pool2d(F.relu(self.conv2(h)), 2)
            return self.dense(F.dropout(h.flatten(1), 0.5, self.training))

    def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
        conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        return nn.Sequential(conv, nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_bn(1, 32)
            self.a1, self.a2 = conv_bn(32, 32), conv_bn(32, 32)
            self.b1, self.b2 = conv_bn(32, 64, stride=2), conv_bn(64, 64)
            self.shortcut = conv_bn(32, 64, kernel=1, stride=2)
            self.dense = nn.Linear(64, 10)
            keras_init(self)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.relu(self.stem(x))
            h = F.relu(h + self.a2(F.relu(self.a1(h))))
            h = F.relu(self.shortcut(h) + self.b2(F.relu(self.b1(h))))
            return self.dense(h.mean((2, 3)))

    return ConvNet() if name == "convnet" else ResNet()


def run_torch(
    x: np.ndarray, y: np.ndarray, epochs: int, fused: bool, device: str, name: str
) -> EpochClock:
    import torch
    import torch.nn.functional as F

    torch.set_flush_denormal(True)  # as lamina's fit does
    torch.manual_seed(0)
    model = torch_model(name).to(device)
    extra = {"fused": True} if fused else {}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, **extra)
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)  # NCHW
    labels = torch.from_numpy(y).to(device)
    count = len(images)
    clock = EpochClock(device)
    model.train()
    for _ in range(epochs):
        clock.start()
        order = torch.randperm(count, device=device)
        correct = torch.zeros((), device=device)
        for first in range(0, count, BATCH_SIZE):
            index = order[first : first + BATCH_SIZE]
            batch, target = images[index], labels[index]
            logits = model(batch)
            loss = F.cross_entropy(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += (logits.detach().argmax(1) == target).sum()
        loss.item(), (correct / count).item()
        clock.stop()
    return clock


def run_keras(x: np.ndarray, y: np.ndarray, epochs: int, name: str) -> EpochClock:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(28, 28, 1))
    if name == "convnet":
        h = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(inputs))
        h = layers.MaxPooling2D(2)(layers.Conv2D(64, 3, activation="relu")(h))
        outputs = layers.Dense(10, activation="softmax")(layers.Dropout(0.5)(layers.Flatten()(h)))
    else:

        def conv_bn(x: Any, filters: int, *, strides: int = 1, relu: bool = True) -> Any:
            conv = layers.Conv2D(filters, 3, strides=strides, padding="same")
            x = layers.BatchNormalization()(conv(x))
            return layers.Activation("relu")(x) if relu else x

        h = conv_bn(inputs, 32)
        h = layers.Activation("relu")(layers.Add()([h, conv_bn(conv_bn(h, 32), 32, relu=False)]))
        shortcut = layers.BatchNormalization()(layers.Conv2D(64, 1, strides=2)(h))
        block = conv_bn(conv_bn(h, 64, strides=2), 64, relu=False)
        h = layers.Activation("relu")(layers.Add()([shortcut, block]))
        outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    clock = EpochClock("cpu")
    callback = keras.callbacks.LambdaCallback(on_epoch_begin=clock.start, on_epoch_end=clock.stop)
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[callback], verbose=0)
    return clock


# ---------------------------------------------------------------------------- driver
def worker(args: argparse.Namespace) -> None:
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = np.load(args.data)
    x, y = data["x"], data["y"]
    if args.worker == "lamina":
        verbose = None if args.verbose is None else int(args.verbose)
        clock = run_lamina(x, y, args.epochs, verbose, args.device, args.model)
    elif args.worker == "torch":
        clock = run_torch(x, y, args.epochs, args.torch_fused, args.device, args.model)
    else:
        clock = run_keras(x, y, args.epochs, args.model)
    print("RESULT " + json.dumps({"wall": clock.wall, "cpu": clock.cpu, "faults": clock.faults}))


def spawn(side: str, args: argparse.Namespace, data: str) -> dict[str, list[float]]:
    python = args.keras_python if side == "keras" else sys.executable
    command = [python, __file__, "--worker", side, "--data", data, "--epochs", str(args.epochs)]
    command += ["--device", args.device, "--model", args.model]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    if args.torch_fused:
        command.append("--torch-fused")
    if args.verbose is not None:
        command += ["--verbose", str(args.verbose)]
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{done.stdout}\n{done.stderr}")
    line = next(row for row in done.stdout.splitlines() if row.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="process pairs (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per process (default 3)")
    parser.add_argument("--samples", type=int, default=6000, help="images (default 6,000)")
    parser.add_argument(
        "--torch-fused", action="store_true", help="torch loop with Adam(fused=True)"
    )
    parser.add_argument("--keras-python", help="a Python with Keras 3, to time it beside")
    parser.add_argument("--verbose", default=None, help="lamina fit verbose (default: fit's)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--model", choices=["convnet", "resnet"], default="convnet")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads per side (default torch's)"
    )
    parser.add_argument("--worker", choices=["lamina", "torch", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is a warm-up)")

    x, y, source = load(args.samples)
    sides = ["lamina", "torch"] + (["keras"] if args.keras_python else [])
    per_epoch: dict[str, list[float]] = {side: [] for side in sides}
    cpu: dict[str, list[float]] = {side: [] for side in sides}
    faults: dict[str, list[int]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "data.npz")
        np.savez(data, x=x, y=y)
        for round_ in range(args.rounds):
            for side in sides:
                result = spawn(side, args, data)
                per_epoch[side] += result["wall"][1:]
                cpu[side] += result["cpu"][1:]
                faults[side] += result["faults"][1:]
                shown = ", ".join(f"{t:.2f}" for t in result["wall"])
                print(f"round {round_ + 1} {side:>6}: epochs {shown} s", flush=True)

    median = {side: statistics.median(times) for side, times in per_epoch.items()}
    ratio = median["lamina"] / median["torch"]
    best_ratio = min(per_epoch["lamina"]) / min(per_epoch["torch"])
    print()
    print(
        f"{TITLES[args.model]} on {len(x)} images of {source}, batch {BATCH_SIZE}, "
        f"{args.rounds} x {args.epochs - 1} timed epochs per side, {args.device}"
    )
    print(
        f"per-epoch median: lamina fit {median['lamina']:.3f} s | hand-written torch "
        f"{median['torch']:.3f} s | ratio lamina/torch {ratio:.3f} (goal <= 1.05) -> "
        f"{'OK' if ratio <= 1.05 else 'SLOWER'}"
    )
    print(
        f"best epoch: lamina fit {min(per_epoch['lamina']):.3f} s | hand-written torch "
        f"{min(per_epoch['torch']):.3f} s | ratio {best_ratio:.3f}"
        + (" (torch with fused Adam)" if args.torch_fused else " (torch's default Adam)")
    )
    cpu_median = {side: statistics.median(times) for side, times in cpu.items()}
    print(
        f"per-epoch median CPU time: lamina {cpu_median['lamina']:.3f} s | torch "
        f"{cpu_median['torch']:.3f} s | ratio lamina/torch "
        f"{cpu_median['lamina'] / cpu_median['torch']:.3f}"
    )
    print(
        "minor page faults per epoch (median): "
        + " | ".join(f"{side} {statistics.median(counts):,.0f}" for side, counts in faults.items())
    )
    if "keras" in median:
        print(
            f"Keras 3 (torch backend) fit {median['keras']:.3f} s | ratio keras/torch "
            f"{median['keras'] / median['torch']:.3f} | ratio lamina/keras "
            f"{median['lamina'] / median['keras']:.3f}"
        )
    for side, seconds in median.items():
        print(f"{side:>6}: {len(x) / seconds:,.0f} samples/s")


if __name__ == "__main__":
    main()
