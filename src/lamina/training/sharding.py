"""Which samples each rank reads under `torchrun` (the process group is in `distributed.py`).

The rule is the same for every source lamina can shard: `batch_size` is the global batch;
step `i` of the ranks together covers what step `i` of one process covers (the global batch
`i`), each rank taking `batch_size / world` samples of it.

- Arrays: each epoch's order (a permutation drawn from a seed that all ranks share, when
  shuffling) is cut into global batches, and rank `r` takes the `r`-th slice of each.
- A `DataLoader` with a sequential or random sampler (or a map-style `Dataset`) is rebuilt
  with `batch_size / world` per rank and a `DistributedSampler` (training; `set_epoch` is
  called each epoch) or an unpadded strided sampler (evaluation). A loader whose sampler is
  already a `DistributedSampler` is the user's: its `batch_size` is per rank (PyTorch's
  convention) and lamina only calls `set_epoch`; in evaluation it is re-sampled without the
  padding that `DistributedSampler` adds, so no sample counts twice.
- A `PyDataset`'s batches are dealt to the ranks in turn (batch `i` to rank `i % world`), so
  each batch is read once; one step of all ranks covers `world` of its batches.
- Generators, `IterableDataset`s and loaders with other samplers are taken as each rank's
  own part: lamina cannot split them.

Training drops the tail that does not fill a step on every rank (so that the ranks take the
same number of steps, which `DistributedDataParallel` needs); evaluation and prediction keep
every sample, once: the ranks then take different numbers of steps (the last one may be
smaller or absent on some ranks), which is safe because nothing is exchanged until the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from lamina.training.py_dataset import PyDataset

__all__ = ["DealtBatches", "Shard", "StridedSampler", "shard_source", "source_keys"]

_ROW_BITS = 32
"""A `PyDataset` row's key is `batch << _ROW_BITS | row`, batches counted over passes (rows
per batch stay under 2**32)."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """This rank's part of the data.

    Attributes:
        rank: this process's rank.
        world: the number of ranks.
        training: drop the tail that does not fill a step on every rank (training); keep
            every sample (evaluation, prediction).
        seed: the same on every rank; epoch `e`'s shuffle is drawn from `seed + e`.
    """

    rank: int
    world: int
    training: bool
    seed: int = 0

    def evaluation(self) -> Shard:
        return dataclasses.replace(self, training=False)

    def per_rank(self, batch_size: int, where: str) -> int:
        """The per-rank batch of the global `batch_size`."""
        if batch_size % self.world:
            raise ValueError(
                f"{where}: batch_size={batch_size} is the global batch and must divide among "
                f"the {self.world} ranks; pass a multiple of {self.world}."
            )
        return batch_size // self.world

    # ---------------------------------------------------------------- arrays
    def global_steps(self, count: int, batch_size: int) -> int:
        """Global batches in one pass over `count` samples."""
        return count // batch_size if self.training else -(-count // batch_size)

    def steps(self, count: int, batch_size: int) -> int:
        """This rank's batches in one pass over `count` samples."""
        if self.training:
            return count // batch_size
        start = self.rank * (batch_size // self.world)
        return max(0, -(-(count - start) // batch_size))

    def bounds(self, step: int, count: int, batch_size: int) -> tuple[int, int]:
        """This rank's rows `[lo, hi)` of global batch `step` (empty when `lo == hi`)."""
        per_rank = batch_size // self.world
        start = step * batch_size
        stop = min(start + batch_size, count)
        lo = min(start + self.rank * per_rank, stop)
        return lo, min(lo + per_rank, stop)

    def keys(self, count: int, batch_size: int, sizes: list[int]) -> torch.Tensor:
        """The positions of the rows of this rank's first batches (`sizes` rows each) of an
        unshuffled pass over `count` samples (passes follow in order)."""
        parts: list[torch.Tensor] = []
        steps = self.global_steps(count, batch_size)
        step = 0
        for size in sizes:
            while True:  # this rank's next non-empty global batch
                lo, hi = self.bounds(step % steps, count, batch_size)
                offset = step // steps * count
                step += 1
                if hi > lo:
                    break
            parts.append(torch.arange(offset + lo, offset + lo + size))
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)

    def generator(self, epoch: int) -> torch.Generator:
        """The random generator of epoch `epoch`'s shuffle: the same on every rank."""
        return torch.Generator().manual_seed(self.seed + epoch)


class StridedSampler(Sampler[int]):
    """Samples `rank, rank + world, ...` below `count`: an evaluation shard without the
    padding `DistributedSampler` adds (ranks may get one sample fewer)."""

    def __init__(self, count: int, rank: int, world: int) -> None:
        self.count, self.rank, self.world = count, rank, world

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.count, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.count, self.world))


class DealtBatches:
    """A `PyDataset`'s batches `rank, rank + world, ...` (training: only as many as every
    rank gets), read with its own threads and epoch hooks."""

    def __init__(self, dataset: PyDataset, shard: Shard) -> None:
        self.dataset = dataset
        count = len(dataset)
        if shard.training:
            count -= count % shard.world
        self.indices = range(shard.rank, count, shard.world)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[Any]:
        return self.dataset._batches(self.indices)

    def keys(self, sizes: list[int]) -> torch.Tensor:
        """Sortable positions of the rows of this rank's first `len(sizes)` batches."""
        total, mine = len(self.dataset), len(self.indices)
        parts = [
            ((i // mine * total + self.indices[i % mine]) << _ROW_BITS) + torch.arange(size)
            for i, size in enumerate(sizes)
        ]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)


def _rebuilt(loader: DataLoader[Any], sampler: Sampler[int], batch_size: int) -> DataLoader[Any]:
    """`loader` with another sampler and batch size, every other setting kept."""
    workers = loader.num_workers
    return DataLoader(
        loader.dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=isinstance(sampler, DistributedSampler),
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context if workers else None,
        generator=loader.generator,
        prefetch_factor=loader.prefetch_factor if workers else None,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device,
    )


def shard_source(source: Any, shard: Shard, where: str) -> Any:
    """This rank's part of a loader or `PyDataset` (see the module docstring); a source
    lamina cannot split comes back as it is."""
    if isinstance(source, PyDataset):
        return DealtBatches(source, shard)
    if not isinstance(source, DataLoader) or isinstance(source.dataset, IterableDataset):
        return source
    sampler = source.sampler
    if type(source.batch_sampler) is not BatchSampler or source.batch_size is None:
        return source  # a batch sampler of the user's own: its batches are its business
    if isinstance(sampler, DistributedSampler):
        if shard.training:
            return source
        return _rebuilt(
            source,
            StridedSampler(len(sampler.dataset), shard.rank, shard.world),  # type: ignore[arg-type]
            source.batch_size,
        )
    plain_random = type(sampler) is RandomSampler and not (
        sampler.replacement or sampler._num_samples is not None
    )
    if not (type(sampler) is SequentialSampler or plain_random):
        return source
    per_rank = shard.per_rank(source.batch_size, where)
    count = len(source.dataset)  # type: ignore[arg-type]
    if shard.training:
        new: Sampler[int] = DistributedSampler(
            source.dataset,
            num_replicas=shard.world,
            rank=shard.rank,
            shuffle=isinstance(sampler, RandomSampler),
            seed=shard.seed,
            drop_last=True,
        )
    else:
        if source.drop_last:  # as one process would: without the last incomplete batch
            count -= count % source.batch_size
        new = StridedSampler(count, shard.rank, shard.world)
    return _rebuilt(source, new, per_rank)


def source_keys(source: Any, sizes: list[int]) -> torch.Tensor | None:
    """Sortable positions of the rows of this rank's first batches (`sizes` rows each) of an
    evaluation shard, or None when the rows cannot be placed (a source lamina did not split)."""
    if isinstance(source, DealtBatches):
        return source.keys(sizes)
    sampler = getattr(source, "sampler", None)
    if not isinstance(sampler, StridedSampler):
        return None
    order = torch.as_tensor(list(sampler), dtype=torch.int64)
    rows = sum(sizes)
    if len(order) and rows > len(order):  # `steps=` past one pass: the passes follow in order
        passes = -(-rows // len(order))
        order = torch.cat([order + p * sampler.count for p in range(passes)])
    return order[:rows]
