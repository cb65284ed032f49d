"""`fit` under `torchrun`: data parallel training with `DistributedDataParallel`.

When `torch.distributed` is initialized, or the environment variables `torchrun` sets
(`RANK`, `WORLD_SIZE`, `MASTER_ADDR`) are present (lamina then initializes the process
group itself: gloo on CPU, nccl on CUDA, with a timeout so that a dead rank gives an error
rather than a hang), `fit`:

- runs the model's forward pass through `DistributedDataParallel` (gradients averaged over
  ranks, weights broadcast from rank 0 at the start);
- gives each rank its slice of every global batch: `batch_size` is the global batch, each rank
  gets `batch_size / world_size` samples of it (as Keras's `DataParallel`); arrays only, and
  the last incomplete global batch is dropped so that every rank takes the same steps;
- averages the epoch logs over ranks, so the `History` is the same on every rank;
- prints progress and runs `ModelCheckpoint` and `CSVLogger` on rank 0 only.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lamina.core.tensor import map_structure

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
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def shard(x: Any, y: Any, sample_weight: Any, batch_size: int) -> tuple[Any, Any, Any, int]:
    """This rank's part of each global batch of arrays, and the per-rank batch size."""
    world, me = dist.get_world_size(), dist.get_rank()
    if batch_size % world:
        raise ValueError(
            f"fit: batch_size={batch_size} is the global batch and must divide among the "
            f"{world} ranks; pass a multiple of {world}."
        )
    per_rank = batch_size // world
    leaves = [leaf for leaf in (x, y, sample_weight) if leaf is not None]
    first = leaves[0]
    while isinstance(first, (list, tuple, dict)):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    n = len(first) - len(first) % batch_size
    index = torch.cat(
        [torch.arange(s + me * per_rank, s + (me + 1) * per_rank) for s in range(0, n, batch_size)]
    ).numpy()

    def take(value: Any) -> Any:
        return None if value is None else value[index]

    return (
        map_structure(take, x),
        map_structure(take, y) if y is not None else None,
        map_structure(take, sample_weight) if sample_weight is not None else None,
        per_rank,
    )


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


def average_logs(logs: dict[str, float]) -> dict[str, float]:
    """The logs averaged over the ranks (each rank sees the same number of samples)."""
    if not logs:
        return logs
    values = torch.tensor(list(logs.values()), dtype=torch.float64)
    dist.all_reduce(values)
    values /= dist.get_world_size()
    return dict(zip(logs, values.tolist()))


def rank_zero_callbacks(callbacks: list[Any]) -> list[Any]:
    """The callbacks this rank runs: the ones that write files run on rank 0 only."""
    if rank() == 0:
        return callbacks
    from lamina.callbacks import CSVLogger, ModelCheckpoint

    return [c for c in callbacks if not isinstance(c, (CSVLogger, ModelCheckpoint))]
