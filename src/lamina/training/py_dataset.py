"""`PyDataset`, Keras's base class for a dataset of batches written in Python (the successor
of `keras.utils.Sequence`): `fit`, `evaluate` and `predict` take it as `x`."""

from __future__ import annotations

import collections
import concurrent.futures
from collections.abc import Iterator, Sequence
from typing import Any

from lamina.core.errors import warn


class PyDataset:
    """Batches by index: subclass it with `__len__` (the number of batches) and
    `__getitem__(index)` (one batch: `x`, `(x, y)` or `(x, y, sample_weight)`).

    Args:
        workers: batches prepared ahead by this many threads (1: one at a time, in order).
        use_multiprocessing: accepted for Keras's code; lamina prepares batches in threads
            (numpy and torch release the GIL while they work), and says so once.
        max_queue_size: at most this many batches prepared ahead.

    `on_epoch_begin()` and `on_epoch_end()` run around each pass, as in Keras (shuffle the
    sample order in `on_epoch_end`).

    Example:
        >>> import numpy as np
        >>> class Batches(PyDataset):
        ...     def __len__(self): return 3
        ...     def __getitem__(self, index): return np.full((2, 1), index), np.zeros((2, 1))
        >>> [int(x[0, 0]) for x, _ in Batches()]
        [0, 1, 2]
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"PyDataset: workers must be an int >= 1, received {workers!r}.")
        if not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(
                f"PyDataset: max_queue_size must be an int >= 1, received {max_queue_size!r}."
            )
        if use_multiprocessing:
            warn(
                f"{type(self).__name__}: use_multiprocessing=True prepares batches in "
                f"{workers} thread(s) in lamina, not in processes."
            )
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (its batches).")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must define __getitem__(index), returning one batch."
        )

    @property
    def num_batches(self) -> int:
        """The number of batches per epoch (`len(self)`)."""
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called before each pass."""

    def on_epoch_end(self) -> None:
        """Called after each pass."""

    def __iter__(self) -> Iterator[Any]:
        """One pass over the batches, in order, with the epoch hooks around it."""
        return self._batches(range(len(self)))

    def _batches(self, indices: Sequence[int]) -> Iterator[Any]:
        """The batches at `indices`, in that order, with the epoch hooks around them (under
        `torchrun` each rank reads its own indices: `training/sharding.py`)."""
        self.on_epoch_begin()
        count = len(indices)
        if self.workers == 1:
            for index in indices:
                yield self[index]
        else:
            with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
                ahead = min(self.max_queue_size, count)
                pending = collections.deque(
                    pool.submit(self.__getitem__, indices[i]) for i in range(ahead)
                )
                for i in range(count):
                    if i + ahead < count:
                        pending.append(pool.submit(self.__getitem__, indices[i + ahead]))
                    yield pending.popleft().result()
        self.on_epoch_end()
