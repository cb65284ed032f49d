"""What `fit`, `evaluate` and `predict` accept, turned into batches of tensors on the
model's device.

Accepted: numpy arrays and tensors (and lists/tuples/dicts of them, one per model input or
output), a `torch.utils.data.Dataset`, a `DataLoader`, or a Python generator/iterator that
yields batches. A batch from a loader or generator is `x`, `(x,)`, `(x, y)` or
`(x, y, sample_weight)`, as in Keras (a list counts as a tuple).

Arrays are converted once and moved to the device before the first epoch; each batch is then
a slice (or, shuffled, an `index_select`) of tensors already there, so the training loop does
no numpy work per batch.

Under `torchrun` a `Shard` (`sharding.py`) says which part each rank reads: slices of each
global batch of arrays, a loader rebuilt with a distributed sampler, a `PyDataset`'s batches
dealt in turn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from lamina.core.tensor import flatten, map_structure
from lamina.training.py_dataset import PyDataset
from lamina.training.sharding import Shard, shard_source, source_keys

__all__ = ["Batch", "DataHandler", "num_samples", "to_tensors", "unpack"]

Batch = tuple[Any, Any, Any, int]
"""`(x, y, sample_weight, size)`: tensors on the device, and the number of samples."""


def _model_dtypes(model: Any) -> list[torch.dtype]:
    return [t.dtype for t in model.inputs] if getattr(model, "_functional", False) else []


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if not array.flags.writeable:  # torch warns about (and could write to) read-only memory
        array = array.copy()
    return torch.as_tensor(array)


def to_tensors(model: Any, x: Any, device: torch.device) -> Any:
    """`x` (arrays, lists, dicts, tensors) as tensors on `device`, cast to the inputs' dtypes.

    float64 numpy data becomes the model's float32, as in Keras; a dict is ordered by the
    model's input names.
    """
    dtypes = iter(_model_dtypes(model))

    def convert(value: Any) -> torch.Tensor:
        dtype = next(dtypes, None)
        tensor = _as_tensor(value)
        if dtype is None and tensor.is_floating_point():
            dtype = torch.get_default_dtype()
        return tensor.to(device=device, dtype=dtype or tensor.dtype)

    if isinstance(x, dict) and getattr(model, "_functional", False):
        names = [t.name for t in model.inputs]
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(
                f"Model '{model.name}': the input dict lacks {missing}; expected keys {names}, "
                f"received {list(x)}."
            )
        return {k: convert(x[k]) for k in names}
    return map_structure(convert, x)


def targets_to_tensors(y: Any, device: torch.device) -> Any:
    """Targets as tensors on `device`: floats in the default float dtype, integers as int64
    (class labels), booleans as floats."""

    def convert(value: Any) -> torch.Tensor | None:
        if value is None:
            return None
        tensor = _as_tensor(value)
        if tensor.is_floating_point() or tensor.dtype == torch.bool:
            dtype = torch.get_default_dtype()
        elif tensor.is_complex():
            dtype = tensor.dtype
        else:
            dtype = torch.int64
        return tensor.to(device=device, dtype=dtype)

    return map_structure(convert, y)


def num_samples(x: Any, *, what: str = "x") -> int:
    """The common length of the arrays in `x`; raises if they differ."""
    leaves = [leaf for leaf in flatten(x) if leaf is not None]
    sizes = {len(leaf) for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(
            f"All arrays in {what} must have the same number of samples, received {sorted(sizes)}."
        )
    return sizes.pop()


def unpack(data: Any) -> tuple[Any, Any, Any]:
    """`(x, y, sample_weight)` from a batch: `x`, `(x,)`, `(x, y)` or `(x, y, w)`."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(
        f"A batch must be x, (x,), (x, y) or (x, y, sample_weight); received a tuple of "
        f"{len(data)} items. Wrap several inputs in a tuple or dict: ((x1, x2), y)."
    )


def is_stream(x: Any) -> bool:
    """Whether `x` is a loader, dataset or generator rather than arrays."""
    return isinstance(x, (DataLoader, Dataset, PyDataset)) or (
        hasattr(x, "__next__") and not isinstance(x, (np.ndarray, torch.Tensor))
    )


def _lengths_message(where: str, x_count: int, y_count: int, other: str) -> str:
    return (
        f"{where}: x has {x_count} samples but {other} has {y_count}; they must match (one "
        "target per input sample)."
    )


class DataHandler:
    """Batches for one `fit`/`evaluate`/`predict` call.

    Args:
        model: the model (for its device and input dtypes).
        x, y, sample_weight: the data (see the module docstring).
        batch_size: samples per batch for arrays and datasets.
        shuffle: shuffle arrays each pass (`"batch"`: shuffle the order of batches only).
        steps: batches per epoch; default one pass over the data.
        class_weight: `{class: weight}`, turned into per-sample weights from `y`.
        where: the calling function's name, for error messages.
        shard: this rank's part under `torchrun` (`training/sharding.py`); `batch_size`
            is then the global batch.
    """

    def __init__(
        self,
        model: Any,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        batch_size: int | None = 32,
        shuffle: bool | str = False,
        steps: int | None = None,
        class_weight: dict[int, float] | None = None,
        where: str = "fit",
        shard: Shard | None = None,
    ) -> None:
        self.model = model
        self.shard = shard
        self._passes = 0  # passes begun: a DistributedSampler's epoch, a shard's shuffle
        self.device = model._device()
        self.where = where
        self.batch_size = int(batch_size or 32)
        self.shuffle = shuffle
        self.requested_steps = steps
        self.exhausted = False
        self._class_weight = self._class_weight_table(class_weight)
        self._iterator: Iterator[Any] | None = None
        if self.batch_size <= 0:
            raise ValueError(f"{where}: batch_size must be positive, received {batch_size}.")
        if x is None or (
            isinstance(x, (list, tuple, dict))
            and any(v is None for v in (x.values() if isinstance(x, dict) else x))
        ):
            raise ValueError(
                f"Model '{model.name}' {where}: x is {x!r}; expected the input data: an array or "
                "tensor, a list or dict of them (one per model input), a DataLoader or a "
                "generator. Pass the data as x."
            )
        self.stream = is_stream(x)
        if self.stream:
            if y is not None or sample_weight is not None:
                raise ValueError(
                    f"{where}: y and sample_weight must be None when x is a "
                    f"{type(x).__name__}; yield (x, y) or (x, y, sample_weight) batches instead."
                )
            self.source = self._loader(x)
            if shard is not None:
                self.source = shard_source(self.source, shard, where)
            length = _length(self.source)
            self.steps = steps if steps is not None else length
            return
        self.x = to_tensors(model, x, self.device)
        self.y = targets_to_tensors(y, self.device)
        if y is x and _same_values(self.x, self.y):
            # An autoencoder's fit(x, x): one tensor, and one gather per batch instead of two.
            self.y = self.x
        self.sample_weight = targets_to_tensors(sample_weight, self.device)
        self.count = num_samples(self.x, what=f"{where}'s x")
        for other, name in ((self.y, "y"), (self.sample_weight, "sample_weight")):
            if other is not None and flatten(other):
                other_count = num_samples(other, what=f"{where}'s {name}")
                if other_count != self.count:
                    raise ValueError(_lengths_message(where, self.count, other_count, name))
        if self.count == 0:
            raise ValueError(f"{where}: received no samples (x has length 0).")
        self._arrange()

    def _arrange(self) -> None:
        """The batches per pass and per epoch, and the stream, for the current arrays."""
        shard = self.shard
        if shard is None:
            self.pass_steps = math.ceil(self.count / self.batch_size)
        else:
            shard.per_rank(self.batch_size, self.where)
            self.pass_steps = shard.steps(self.count, self.batch_size)
            if shard.training and not self.pass_steps:
                raise ValueError(
                    f"{self.where}: {self.count} samples do not fill one global batch of "
                    f"{self.batch_size} over {shard.world} ranks, and training drops an "
                    "incomplete one; pass a smaller batch_size."
                )
        requested = self.requested_steps
        self.steps = requested if requested is not None else self.pass_steps
        self._iterator = self._array_stream()

    # ---------------------------------------------------------------- arrays
    def split(self, fraction: float) -> DataHandler:
        """Keep the first `1 - fraction` of the samples and return a handler for the rest
        (taken before any shuffling, as Keras's `validation_split`)."""
        if self.stream:
            raise ValueError(
                f"{self.where}: validation_split works with arrays and tensors only, received "
                f"a {type(self.source).__name__}; pass validation_data= instead."
            )
        split_at = math.floor(self.count * (1.0 - fraction))
        if split_at in (0, self.count):
            raise ValueError(
                f"{self.where}: {self.count} samples are too few to split with "
                f"validation_split={fraction}; provide more data or another fraction."
            )
        rest = DataHandler.__new__(DataHandler)
        rest.__dict__.update(self.__dict__)

        def head(t: Any) -> Any:
            return None if t is None else t[:split_at]

        def tail(t: Any) -> Any:
            return None if t is None else t[split_at:]

        rest.x, rest.y, rest.sample_weight = (
            map_structure(tail, v) for v in (self.x, self.y, self.sample_weight)
        )
        rest.count = self.count - split_at
        rest.shuffle = False
        rest._class_weight = None  # class weights apply to training only, as in Keras
        rest.requested_steps = None
        rest.shard = self.shard and self.shard.evaluation()
        rest._arrange()
        self.x, self.y, self.sample_weight = (
            map_structure(head, v) for v in (self.x, self.y, self.sample_weight)
        )
        self.count = split_at
        self._arrange()
        return rest

    def _array_stream(self) -> Iterator[Batch]:
        x, y, weights = self.x, self.y, self.sample_weight
        count, size, shard = self.count, self.batch_size, self.shard
        single = isinstance(x, torch.Tensor) and (y is None or isinstance(y, torch.Tensor))
        while True:
            perm = None
            if shard is None:
                steps = self.pass_steps
                order: Any = range(steps)
                if self.shuffle == "batch":
                    order = torch.randperm(steps).tolist()
                elif self.shuffle:
                    perm = torch.randperm(count, device=self.device)
            else:
                # One order for all ranks (drawn from the shared seed), cut into global
                # batches; this rank takes its slice of each.
                steps = shard.global_steps(count, size)
                order = range(steps)
                generator = shard.generator(self._begin_pass())
                if self.shuffle == "batch":
                    order = torch.randperm(steps, generator=generator).tolist()
                elif self.shuffle:
                    perm = torch.randperm(count, generator=generator).to(self.device)
            for step in order:
                if shard is None:
                    start, stop = step * size, min(step * size + size, count)
                else:
                    start, stop = shard.bounds(step, count, size)
                    if start == stop:  # the last global batch did not reach this rank
                        continue
                if perm is None:
                    index: Any = slice(start, stop)

                    def take(t: Any, index: Any = index) -> Any:
                        return None if t is None else t[index]
                else:
                    index = perm[start:stop]

                    def take(t: Any, index: Any = index) -> Any:
                        return None if t is None else t.index_select(0, index)

                if single and weights is None:
                    bx = take(x)
                    by, bw = (bx if y is x else take(y)), None
                else:
                    bx = map_structure(take, x)
                    by = map_structure(take, y)
                    bw = map_structure(take, weights)
                yield bx, by, self._weigh(by, bw), stop - start

    def _begin_pass(self) -> int:
        """Count a new pass over the data; a sampler with `set_epoch` (`DistributedSampler`)
        is told its number."""
        number = self._passes
        self._passes += 1
        set_epoch = getattr(getattr(self, "source", None), "sampler", None)
        set_epoch = getattr(set_epoch, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(number)
        return number

    def keys(self, sizes: list[int]) -> torch.Tensor | None:
        """Sortable positions, in the whole data, of the rows of this rank's first batches
        (`sizes` rows each) of an unshuffled evaluation shard; None when a source lamina did
        not split leaves them unknown. `predict` orders the ranks' rows by them."""
        if self.stream:
            return source_keys(self.source, sizes)
        assert self.shard is not None
        return self.shard.keys(self.count, self.batch_size, sizes)

    # ---------------------------------------------------------------- loaders, generators
    def _loader(self, x: Any) -> Any:
        if isinstance(x, IterableDataset):
            return DataLoader(x, batch_size=self.batch_size)
        if isinstance(x, Dataset) and not isinstance(x, DataLoader):
            return DataLoader(x, batch_size=self.batch_size, shuffle=bool(self.shuffle))
        return x

    def _convert(self, data: Any) -> Batch:
        bx, by, bw = unpack(data)
        bx = to_tensors(self.model, bx, self.device)
        by = targets_to_tensors(by, self.device)
        bw = targets_to_tensors(bw, self.device)
        return bx, by, self._weigh(by, bw), len(flatten(bx)[0])

    def _next_raw(self) -> Any:
        """The next raw batch; restarts a re-iterable source when it runs out. Raises
        StopIteration when a generator is used up (or a restarted source is empty)."""
        restarted = False
        while True:
            if self._iterator is None:
                self._begin_pass()
                self._iterator = iter(self.source)
                restarted = True
            try:
                return next(self._iterator)
            except StopIteration:
                self._iterator = None
                if restarted or hasattr(self.source, "__next__"):
                    raise

    def epoch(self, number: int | None = None) -> Iterator[Batch]:
        """The batches of one epoch (`number`: the epoch's index, which numbers the passes
        begun from here on: a `DistributedSampler`'s `set_epoch`, a shard's shuffle)."""
        if number is not None:
            self._passes = max(self._passes, number)
        if not self.stream:
            assert self._iterator is not None and self.steps is not None
            for _ in range(self.steps):
                yield next(self._iterator)
            return
        if self.requested_steps is None and not hasattr(self.source, "__next__"):
            # One full pass over a re-iterable loader per epoch.
            self._iterator = None
            self._begin_pass()
            for data in self.source:
                yield self._convert(data)
            return
        count = 0
        while self.requested_steps is None or count < self.requested_steps:
            try:
                data = self._next_raw()
            except StopIteration:
                if count == 0 or self.requested_steps is not None:
                    self.exhausted = True
                return
            yield self._convert(data)
            count += 1

    # ---------------------------------------------------------------- class weights
    def _class_weight_table(self, class_weight: dict[int, float] | None) -> torch.Tensor | None:
        if not class_weight:
            return None
        if not isinstance(class_weight, dict):
            raise TypeError(
                f"{self.where}: class_weight must be a dict {{class index: weight}}, received "
                f"{type(class_weight).__name__}."
            )
        size = max(int(k) for k in class_weight) + 1
        table = torch.ones(size)
        for key, value in class_weight.items():
            table[int(key)] = float(value)
        return table

    def _weigh(self, y: Any, weights: Any) -> Any:
        table = self._class_weight_table_on_device()
        if table is None:
            return weights
        if weights is not None:
            raise ValueError(
                f"{self.where}: pass class_weight or sample_weight, not both (Keras's rule)."
            )
        if not isinstance(y, torch.Tensor):
            raise ValueError(
                f"{self.where}: class_weight needs a model with one output and y of labels "
                f"(N,) or one-hot (N, C); received y of type {type(y).__name__}."
            )
        labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
        labels = labels.long()
        # Classes missing from class_weight weigh 1; no host sync to find the largest label.
        known = labels < len(table)
        return torch.where(known, table[labels.clamp(0, len(table) - 1)], table.new_ones(()))

    def _class_weight_table_on_device(self) -> torch.Tensor | None:
        table = self._class_weight
        if table is not None and table.device != self.device:
            table = self._class_weight = table.to(self.device)
        return table


def _same_values(a: Any, b: Any) -> bool:
    leaves_a, leaves_b = flatten(a), flatten(b)
    return len(leaves_a) == len(leaves_b) and all(
        isinstance(p, torch.Tensor)
        and isinstance(q, torch.Tensor)
        and p.dtype == q.dtype
        and p.shape == q.shape
        for p, q in zip(leaves_a, leaves_b)
    )


def _length(source: Any) -> int | None:
    try:
        return len(source)
    except TypeError:
        return None
