"""`fit`, `evaluate` and `predict` under `torchrun`: data parallel on `torch.distributed`.

When `torch.distributed` is initialized, or the environment variables `torchrun` sets
(`RANK`, `WORLD_SIZE`) are present (lamina then initializes the process group itself: gloo on
CPU, nccl on CUDA with each rank on its `LOCAL_RANK` device, and a timeout so that a dead rank
gives an error rather than a hang), the loops run one rank each:

- Data: each rank reads its part (`sharding.py` says exactly which): `batch_size` is the
  global batch, each rank takes `batch_size / world_size` samples of it, as Keras's
  `DataParallel`. Training drops the tail that does not fill a global batch, so that every
  rank takes the same steps; evaluation and prediction use every sample exactly once.
- `fit` runs the forward pass through `DistributedDataParallel` (weights broadcast from rank
  0, gradients averaged over ranks); a model with its own `train_step` gets rank 0's weights
  and a hook that averages each gradient instead (`averaged_gradients`). Under
  `FullyShardedDataParallel`, each epoch's training runs on FSDP2 instead (`fsdp.py`).
- Logs (`reduce_logs`): at the end of each epoch, validation and evaluation, each metric's
  state (the attributes its `reset_state` sets: sums, counts, confusion counts) is summed over
  the ranks, and so is the sample-weighted sum of the loss, so Precision, AUC or a mean over
  uneven shards are what one process computes on all the data; every rank gets the same logs,
  hence the same `History`. Per-batch logs (`on_*_batch_end`) stay the rank's own. A custom
  metric whose state is not a sum (a maximum, say) needs its own handling.
- `predict` gathers every rank's rows and returns all of them, in the data's order, on every
  rank (`gather_rows`), as Keras's `predict` returns all.
- Progress is printed, and `ModelCheckpoint`, `CSVLogger`, `TensorBoard` and `ProgbarLogger`
  run, on rank 0 only; `BackupAndRestore` restores on every rank and writes on rank 0.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import datetime
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lamina.callbacks.callback import Callback
from lamina.training.sharding import Shard

TIMEOUT = datetime.timedelta(seconds=int(os.environ.get("LAMINA_DIST_TIMEOUT", "60")))
"""How long a collective waits for the other ranks (`LAMINA_DIST_TIMEOUT` seconds)."""


def active() -> bool:
    """Whether this process is one rank of several; initializes the group under torchrun."""
    if not dist.is_available():
        return False
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            return False
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl" and "LOCAL_RANK" in os.environ:
            # Collectives of Python objects go through the current device: one per rank.
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
        # The group lamina made, lamina takes down, once every rank is done: a rank that
        # exits while another still has collectives in flight aborts it ("terminate called
        # without an active exception", seen with FSDP on gloo), and torchrun then reports
        # the whole run as failed.
        atexit.register(_destroy_group)
    return dist.get_world_size() > 1


def _destroy_group() -> None:
    if not dist.is_initialized():
        return
    if getattr(sys, "last_value", None) is None:  # a clean exit, not an uncaught error
        with contextlib.suppress(Exception):  # a rank already gone: the timeout's error
            dist.barrier()
    dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


@contextlib.contextmanager
def _joined() -> Iterator[None]:
    """Around an exchange between the ranks: a timeout says what usually causes it."""
    try:
        yield
    except RuntimeError as error:  # torch's DistError and the backends' timeouts
        raise RuntimeError(
            f"Rank {rank()}: the other ranks did not join within {TIMEOUT.total_seconds():.0f} "
            "s (LAMINA_DIST_TIMEOUT). Under torchrun, fit, evaluate and predict share their "
            "work among the ranks, so every rank must call them: a call on rank 0 alone waits "
            f"for the others. A rank that died or raised gives this error too. ({error})"
        ) from error


def sharding(*, training: bool) -> Shard | None:
    """This rank's `Shard`; for training, with a shuffle seed drawn on rank 0 (from torch's
    global generator, so `set_random_seed` there makes runs repeatable) and sent to every
    rank. None under `DataParallel(auto_shard_dataset=False)`: each rank's data is its part."""
    from lamina import distribution

    chosen = distribution.distribution()
    if chosen is not None and not chosen.auto_shard_dataset:
        return None
    seed = [0]
    if training:
        if dist.get_rank() == 0:
            seed = [int(torch.randint(0, 2**62, ()))]
        with _joined():
            dist.broadcast_object_list(seed, src=0)
    return Shard(dist.get_rank(), dist.get_world_size(), training, seed[0])


class _Forward(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any, training: bool) -> Any:
        return self.model.call_with_losses(x, training=training)


def wrap_forward(model: Any) -> Any:
    """The model's forward pass (with its losses) through `DistributedDataParallel`."""
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel(_Forward(model), device_ids=ids)

    def forward(x: Any, training: bool) -> Any:
        return ddp(x, training)

    return forward


@contextlib.contextmanager
def averaged_gradients(model: Any) -> Iterator[None]:
    """For a model's own `train_step`, which calls the model itself rather than through
    `DistributedDataParallel`: rank 0's weights and buffers are sent to every rank, then each
    gradient is averaged over the ranks as soon as `backward` has made it (one all-reduce
    per weight, without DDP's buckets: correct for any step, if slower)."""
    world = dist.get_world_size()
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)

    def average(param: torch.Tensor) -> None:
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad.div_(world)

    handles = [
        p.register_post_accumulate_grad_hook(average) for p in model.parameters() if p.requires_grad
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# ---------------------------------------------------------------------------- reductions
def _metrics_of(runner: Any) -> list[Any]:
    """The `Metric` objects whose states make a loop's logs."""
    from lamina.training.custom_steps import CompiledMetricsView, StepRunner

    if not isinstance(runner, StepRunner):
        return list(runner.metrics.metrics)
    found: list[Any] = []
    for metric in runner.model.metrics:
        if isinstance(metric, CompiledMetricsView):
            found.extend(runner.model.compiled_metrics.metrics)
        else:
            found.append(metric)
    return found


class _Recorder:
    """Stands in for a metric in its `reset_state`, noting the attributes it sets."""

    def __init__(self, metric: Any) -> None:
        object.__setattr__(self, "_metric", metric)
        object.__setattr__(self, "names", [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._metric, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.names.append(name)
        setattr(self._metric, name, value)


def state_names(metric: Any) -> list[str]:
    """A metric's state: the attributes its `reset_state` sets, or changes in place (a tensor
    it zeroes: found only while not zero, which is all a sum needs). It runs on a copy whose
    tensors are copied too, but not the rest (a metric's function may hold a large object)."""
    probe = copy.copy(metric)
    probe.__dict__ = {k: _on(v, None, clone=True) for k, v in vars(metric).items()}
    recorder = _Recorder(probe)
    type(metric).reset_state(recorder)
    changed = [
        k
        for k, v in vars(metric).items()
        if k not in recorder.names
        and isinstance(v, torch.Tensor)
        and not torch.equal(v, getattr(probe, k))
    ]
    return list(dict.fromkeys(recorder.names + changed))


def _total(values: list[Any]) -> Any:
    """The sum of one state over the ranks (`None`: a rank that saw no batch)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if isinstance(present[0], dict):
        return {k: _total([v.get(k) for v in present]) for k in present[0]}
    total = present[0]
    for value in present[1:]:
        total = total + value
    return total


def _on(value: Any, device: torch.device | None, *, clone: bool = False) -> Any:
    """`value`'s tensors (alone or in a dict) on `device` (None: the CPU), or copied."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone() if clone else value.detach().to(device or "cpu")
    if isinstance(value, dict):
        return {k: _on(v, device, clone=clone) for k, v in value.items()}
    return value


def reduce_logs(runner: Any, tracker: Any, device: torch.device) -> dict[str, float]:
    """A loop's logs over the samples of every rank: each metric's state (what its
    `reset_state` sets: sums and counts) is summed over the ranks, and so is the loss's
    sample-weighted sum; the results are then the ones one process would compute over all
    the data. Every rank returns the same logs (those of the first rank that saw a batch)."""
    from lamina.training.steps import _Tracker

    local = tracker.logs()
    metrics = _metrics_of(runner)
    states = [{n: _on(getattr(m, n, None), None) for n in state_names(m)} for m in metrics]
    loss: tuple[float, list[float]] | None = None
    if isinstance(tracker, _Tracker):
        loss = (float(tracker.count), list(tracker.sums))
    mine = {"states": states, "loss": loss, "logs": local, "saw": tracker.seen > 0}
    gathered: list[Any] = [None] * dist.get_world_size()
    with _joined():
        dist.all_gather_object(gathered, mine)
    source = next((r for r, g in enumerate(gathered) if g["saw"]), 0)
    if dist.get_rank() == source:
        for i, metric in enumerate(metrics):
            theirs = [g["states"][i] for g in gathered if i < len(g["states"])]
            for name in dict.fromkeys(n for state in theirs for n in state):
                total = _total([state.get(name) for state in theirs])
                setattr(metric, name, _on(total, device))
        logs = dict(local)
        if loss is not None:
            count = sum(g["loss"][0] for g in gathered)
            sums = [sum(s) for s in zip(*(g["loss"][1] for g in gathered if g["loss"][1]))]
            for key, total_loss in zip(list(local)[: len(sums)], sums):
                logs[key] = total_loss / count
        else:  # a step of the model's own: its metrics' results; other numbers averaged
            numbers = [g["logs"] for g in gathered if g["saw"]]
            for key, value in local.items():
                if isinstance(value, float) and numbers:
                    logs[key] = sum(n[key] for n in numbers if key in n) / len(numbers)
        for metric in metrics:
            if metric.name in logs:
                logs[metric.name] = float(metric.result())
        local = logs
    result = [local]
    with _joined():
        dist.broadcast_object_list(result, src=source)
    return result[0]  # type: ignore[no-any-return]


def gather_rows(leaves: list[torch.Tensor], keys: torch.Tensor, template: Any) -> tuple[Any, Any]:
    """Every rank's rows of each output leaf, put in the order of their `keys` (positions in
    the data), with the structure `template` of one rank that has rows. `leaves` and
    `template` are empty and None on a rank without rows."""
    gathered: list[Any] = [None] * dist.get_world_size()
    with _joined():
        dist.all_gather_object(gathered, (keys, [t.cpu() for t in leaves], template))
    given = [g for g in gathered if g[2] is not None]
    if not given:
        return [], None
    order = torch.argsort(torch.cat([k for k, _, _ in given]), stable=True)
    merged = [torch.cat([g[1][i] for g in given])[order] for i in range(len(given[0][1]))]
    return merged, given[0][2]


def rank_zero_callbacks(callbacks: list[Any]) -> list[Any]:
    """The callbacks this rank runs: the ones that write files or print (`ModelCheckpoint`,
    `CSVLogger`, `TensorBoard`, `ProgbarLogger`) run on rank 0 only; `BackupAndRestore`
    restores on every rank (each must start from the backup) and writes on rank 0 only."""
    if rank() == 0:
        return callbacks
    from lamina.callbacks import (
        BackupAndRestore,
        CSVLogger,
        ModelCheckpoint,
        ProgbarLogger,
        TensorBoard,
    )

    writers = (CSVLogger, ModelCheckpoint, ProgbarLogger, TensorBoard)
    kept = [c for c in callbacks if not isinstance(c, writers)]
    return [_RestoreOnly(c) if isinstance(c, BackupAndRestore) else c for c in kept]


class _RestoreOnly(Callback):
    """A `BackupAndRestore` on a rank other than 0: it restores, and never writes."""

    def __init__(self, backup: Callback) -> None:
        super().__init__()
        self.backup = backup

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self.backup.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.backup.set_params(params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.backup.on_train_begin(logs)
