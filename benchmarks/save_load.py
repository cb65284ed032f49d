"""Save and load a ~10M-parameter model: lamina's `.lamina` file against raw safetensors.

Run: `python benchmarks/save_load.py`. Prints the best of several interleaved runs (the one
least disturbed by other processes) and the ratios (goal: at most 1.2x the raw safetensors
time, file size within 1% of the raw file), then the median of the ratios of each run's pair
of timings: both sides swing between about 4 and 20 ms with whether the allocator hands out
reused memory or fresh pages the kernel must fault in, and the best of each side may come
from different runs.

lamina's save also builds the config, and fsyncs for a durable atomic write, so it is shown
against `save_file` both alone and followed by an fsync. Its load rebuilds the model while a
worker thread reads every byte into the tensors the model keeps and checks its checksums
(xxh3_64 of each 8 MiB block, on by default; `verify=False`, which skips them, is shown on
its own line, and again for a ~1 GB model, where the goal is at most 10%). Raw `load_file`
maps the file lazily, so it is shown both as is and followed by reading every byte
(`.clone()`), and a "plain PyTorch" line shows what a hand-written model costs: build it,
then `load_state_dict`.

Last, the first load in a fresh process, as a program that starts and loads a model does:
alternating processes of each side, each timing one load after its imports (and one tiny
load of each kind, so that no side pays for the first use of a module). There every page of
the new tensors is faulted in afresh; lamina's copy spreads that over the cores.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable

import torch
from safetensors.torch import load_file, save_file

import lamina
from lamina import Input, Model
from lamina.layers import Dense, Lambda
from lamina.saving.archive import Archive
from lamina.saving.rebuild import build_model
from lamina.saving.values import LoadContext
from lamina.saving.weights import model_state, tensors_for_saving

RUNS = 15
LARGE_RUNS = 5
FRESH_PROCESSES = 5


def build() -> Model:
    x = Input(shape=(1024,))
    h = Dense(1792, activation="relu", name="d1")(x)
    h = Dense(1792, activation="relu", name="d2")(h)
    h = Lambda(lambda t: t * 0.5, name="half")(h)
    h = Dense(1792, activation="relu", name="d3")(h)
    return Model(x, Dense(1024, name="d4")(h))


def build_large() -> Model:
    """About 1 GB of float32 weights: four 8192 x 8192 kernels."""
    x = Input(shape=(8192,))
    h = x
    for i in range(4):
        h = Dense(8192, name=f"big{i}")(h)
    return Model(x, h)


def large_loads(folder: str) -> None:
    """Load a ~1 GB model with and without checking its checksums (interleaved runs, the
    best of each): what `verify=True`, the default, costs."""
    with torch.device("meta"):
        model = build_large()
    # Fill the weights without running an initializer over a gigabyte.
    generator = torch.Generator().manual_seed(0)
    model.load_state_dict(
        {k: torch.rand(v.shape, generator=generator) for k, v in model.state_dict().items()},
        assign=True,
    )
    path = os.path.join(folder, "large.lamina")
    model.save(path)
    del model
    times: dict[str, list[float]] = {"verify": [], "noverify": []}
    for _ in range(LARGE_RUNS):
        timed(lambda: lamina.load_model(path), times["verify"])
        timed(lambda: lamina.load_model(path, verify=False), times["noverify"])
    best = {k: min(v) for k, v in times.items()}
    ratio = best["verify"] / best["noverify"]
    paired = statistics.median(a / b for a, b in zip(times["verify"], times["noverify"]))
    print(
        f"load of a {os.path.getsize(path) / 1e9:.2f} GB model: verify=True (default) "
        f"{best['verify']:.0f} ms | verify=False {best['noverify']:.0f} ms -> {ratio:.3f}x, "
        f"checksums cost {100 * (ratio - 1):.1f}% (goal <= 10%); median of paired runs "
        f"{paired:.3f}x"
    )
    os.unlink(path)


def fsync_file(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def rebuild_graph(path: str) -> None:
    """The graph part of loading: config.json to a model on the meta device."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    with torch.device("meta"):
        build_model(config["model"], LoadContext())


def read_weights(path: str) -> None:
    """The weights part of loading: the checked header, then every byte read."""
    with open(path, "rb") as handle:
        Archive(handle, LoadContext(source=path)).weights().read()


def timed(fn: Callable[[], object], runs: list[float]) -> None:
    # Every timing starts with no dirty pages waiting: the kernel's write-back of the
    # previous step's 40 MB would otherwise slow whichever step comes next.
    os.sync()
    start = time.perf_counter()
    fn()
    runs.append((time.perf_counter() - start) * 1e3)


def first_load(side: str, path: str, raw: str) -> None:
    """In a fresh process: warm the imports on a tiny file of each kind, then time one load
    of the big model (lamina) or of its raw file plus reading every byte (raw)."""
    torch.set_num_threads(1)
    folder = tempfile.mkdtemp()
    x = Input(shape=(2,))
    tiny = Model(x, Dense(2)(x))
    tiny.save(os.path.join(folder, "tiny.lamina"))
    tiny.save_weights(os.path.join(folder, "tiny.safetensors"))
    lamina.load_model(os.path.join(folder, "tiny.lamina"))
    [t.clone() for t in load_file(os.path.join(folder, "tiny.safetensors")).values()]
    start = time.perf_counter()
    if side == "lamina":
        lamina.load_model(path)
    else:
        [t.clone() for t in load_file(raw).values()]
    print(f"RESULT {(time.perf_counter() - start) * 1e3}")


def fresh_loads(path: str, raw: str) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"lamina": [], "raw": []}
    for _ in range(FRESH_PROCESSES):
        for side in times:
            done = subprocess.run(
                [sys.executable, __file__, "--first-load", side, path, raw],
                capture_output=True,
                text=True,
                check=True,
            )
            line = next(r for r in done.stdout.splitlines() if r.startswith("RESULT "))
            times[side].append(float(line.split()[1]))
    return times


def main() -> None:
    if sys.argv[1:2] == ["--first-load"]:
        first_load(*sys.argv[2:5])
        return
    # One intra-op thread on both sides: on a shared 2-core machine, torch's thread pool makes
    # the copies (the raw side's `.clone()`, lamina's `_foreach_copy_`) swing from 3 to 40 ms.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build()
    tensors = tensors_for_saving(model_state(model)[0])
    params = sum(t.numel() for t in tensors.values())
    folder = tempfile.mkdtemp()
    path, raw = os.path.join(folder, "m.lamina"), os.path.join(folder, "raw.safetensors")
    keys = ("save", "raw", "raw_fsync", "load", "noverify", "rawload", "rawread", "torch", "graph")
    keys += ("weights",)
    times: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(RUNS):
        timed(lambda: model.save(path), times["save"])
        timed(lambda: save_file(tensors, raw), times["raw"])
        timed(lambda: (save_file(tensors, raw), fsync_file(raw)), times["raw_fsync"])
        timed(lambda: lamina.load_model(path), times["load"])
        timed(lambda: lamina.load_model(path, verify=False), times["noverify"])
        timed(lambda: load_file(raw), times["rawload"])
        timed(lambda: [t.clone() for t in load_file(raw).values()], times["rawread"])
        timed(lambda: build().load_state_dict(load_file(raw)), times["torch"])
        timed(lambda: rebuild_graph(path), times["graph"])
        timed(lambda: read_weights(path), times["weights"])
    med = {k: min(v) for k, v in times.items()}

    def paired(a: str, b: str) -> str:
        ratios = [x / y for x, y in zip(times[a], times[b])]
        return f"median of paired runs {statistics.median(ratios):.2f}x"

    loaded = lamina.load_model(path)
    same = all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values())
    )
    size, raw_size = os.path.getsize(path), os.path.getsize(raw)
    print(
        f"model: {params:,} parameters; weights round-trip exactly: {same}; "
        f"torch {torch.__version__}"
    )
    print(
        f"save: lamina {med['save']:.1f} ms | save_file {med['raw']:.1f} ms -> "
        f"{med['save'] / med['raw']:.2f}x; vs save_file + fsync {med['raw_fsync']:.1f} ms -> "
        f"{med['save'] / med['raw_fsync']:.2f}x (goal <= 1.2x); {paired('save', 'raw_fsync')}"
    )
    print(
        f"load: lamina {med['load']:.1f} ms | load_file (lazy mmap) {med['rawload']:.1f} ms -> "
        f"{med['load'] / med['rawload']:.1f}x; load_file + reading every byte "
        f"{med['rawread']:.1f} ms -> {med['load'] / med['rawread']:.2f}x (goal <= 1.2x), "
        f"{paired('load', 'rawread')}; "
        f"build in code + load_state_dict {med['torch']:.1f} ms -> "
        f"{med['load'] / med['torch']:.2f}x"
    )
    print(
        f"load breakdown: graph rebuilt on meta {med['graph']:.1f} ms, weights read "
        f"{med['weights']:.1f} ms (overlapped); load_model(verify=False), skipping the "
        f"checksums: {med['noverify']:.1f} ms -> {med['noverify'] / med['rawread']:.2f}x (the "
        f"check costs {100 * (med['load'] / med['noverify'] - 1):.0f}% of a load)"
    )
    print(f"size: {size:,} vs raw {raw_size:,} bytes -> {size / raw_size:.4f}x (goal within 1%)")
    large_loads(folder)
    fresh = fresh_loads(path, raw)
    first, first_raw = statistics.median(fresh["lamina"]), statistics.median(fresh["raw"])
    print(
        f"first load in a fresh process (median of {FRESH_PROCESSES}): lamina {first:.1f} ms | "
        f"load_file + reading every byte {first_raw:.1f} ms -> {first / first_raw:.2f}x "
        "(goal <= 1.2x)"
    )


if __name__ == "__main__":
    main()
