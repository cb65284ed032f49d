"""Reading byte ranges of a file into tensors, fast, without holding the GIL, and safely when
the file changes underneath.

`WeightsFile` (tensorfile.py) checks a safetensors header; this copies the bytes, with
positional reads (`os.preadv`) straight into the tensors' memory, on a few threads, each
hashing each 1 MiB it just read while it is still in the core's cache (`checksums.py`).

Not a memory mapping: a file truncated while it is mapped kills the process with SIGBUS
when a copy touches a page past its new end; a read just returns fewer bytes, which is an
error naming the file and the tensor.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import torch
import xxhash

from lamina.saving.checksums import BLOCK

__all__ = ["Digests", "Reader"]

Digests = dict[tuple[str, int], int]
"""The digest of each block read, by (tensor name, block index)."""


@dataclass
class _Task:
    """One `preadv`: consecutive blocks of tensors, back to back in the file."""

    position: int
    views: list[memoryview] = field(default_factory=list)
    blocks: list[tuple[str, int]] = field(default_factory=list)
    nbytes: int = 0


class Reader:
    """Reads byte ranges of a file (or of bytes in memory) into given buffers.

    Args:
        handle: the open file (or None, with `data`).
        data: the bytes, when they are in memory.
        offset: where the byte ranges start in the file.
        size: how many bytes there are from `offset`.
    """

    def __init__(
        self, handle: IO[bytes] | None, data: bytes | None, offset: int, size: int
    ) -> None:
        self.handle, self.data, self.offset, self.size = handle, data, offset, size

    def read(self, start: int, length: int) -> bytes:
        buffer = bytearray(length)
        self.readinto(start, [memoryview(buffer)], ["the header"])
        return bytes(buffer)

    def copier(
        self, parts: list[tuple[str, int, torch.Tensor]], *, hashed: bool
    ) -> Callable[[], Digests]:
        """A function copying the bytes at each `(name, start, flat uint8 tensor)` into the
        tensor, which returns the digest of each `BLOCK` of each tensor when `hashed`.

        Everything is prepared here, so that the function, run on a worker thread, spends its
        time in calls that release the GIL (`preadv`, xxh3): it does not wait for a main
        thread that is busy rebuilding the model.
        """
        tasks: list[_Task] = []
        end = -1
        for name, start, tensor in parts:
            flat = tensor.numpy()
            for index, first in enumerate(range(0, flat.nbytes, BLOCK)):
                view = flat[first : first + BLOCK].data
                position = start + first
                task = tasks[-1] if tasks else None
                if (
                    task is None
                    or position != end
                    or task.nbytes + view.nbytes > BLOCK
                    or len(task.views) == _IOV_MAX
                ):
                    task = _Task(position)
                    tasks.append(task)
                task.views.append(view)
                task.blocks.append((name, index))
                task.nbytes += view.nbytes
                end = position + view.nbytes
        threads = _threads(sum(t.nbytes for t in tasks)) if hasattr(os, "preadv") else 1
        groups = _in_groups(tasks, threads)
        reads = {id(task): _pieces(task) for task in tasks}

        def run(group: list[_Task], found: Digests) -> None:
            for task in group:
                hashers: dict[tuple[str, int], Any] = {}
                for position, views, blocks in reads[id(task)]:
                    self.readinto(position, views, [name for name, _ in blocks])
                    if hashed:
                        for block, view in zip(blocks, views):
                            hasher = hashers.get(block)
                            if hasher is None:
                                hasher = hashers[block] = xxhash.xxh3_64()
                            hasher.update(view)
                for block, hasher in hashers.items():
                    found[block] = hasher.intdigest()

        def copy() -> Digests:
            found: list[Digests] = [{} for _ in groups]
            errors: list[BaseException] = []

            def helper(group: list[_Task], into: Digests) -> None:
                try:
                    run(group, into)
                except BaseException as error:
                    errors.append(error)

            helpers = [
                threading.Thread(target=helper, args=(group, into))
                for group, into in zip(groups[1:], found[1:])
            ]
            for thread in helpers:
                thread.start()
            try:
                if groups:
                    run(groups[0], found[0])
            finally:
                for thread in helpers:
                    thread.join()
            if errors:
                raise errors[0]
            return {key: value for part in found for key, value in part.items()}

        return copy

    def readinto(self, start: int, targets: list[memoryview], names: list[str]) -> None:
        """Fill `targets`, one after the other, from the bytes at `start`; `names` (one per
        target) say which tensor is short when the file ends early.

        From a file this is one `preadv` call where the OS has it (the GIL is released for
        the whole read), else a seek and `readinto` per target (Windows; the caller then
        reads on one thread).
        """
        if self.data is not None:
            source = memoryview(self.data)
            if start + sum(t.nbytes for t in targets) > len(source):
                raise EOFError(f"the data ends before tensor '{names[0][:80]}'")
            for target in targets:
                target[:] = source[start : start + target.nbytes]
                start += target.nbytes
            return
        assert self.handle is not None
        position = self.offset + start
        if not hasattr(os, "preadv"):  # Windows
            self.handle.seek(position)
            for target, name in zip(targets, names):
                _read_fully(self.handle, target, name)
            return
        pending = [(t, n) for t, n in zip(targets, names) if t.nbytes]
        descriptor = self.handle.fileno()
        while pending:
            count = os.preadv(descriptor, [t for t, _ in pending], position)
            if not count:
                raise EOFError(_short(pending[0][1], sum(t.nbytes for t, _ in pending)))
            position += count
            while pending and count >= pending[0][0].nbytes:
                count -= pending.pop(0)[0].nbytes
            if count:
                pending[0] = (pending[0][0][count:], pending[0][1])


_MAX_THREADS = 4
_BYTES_PER_THREAD = 8 << 20
_IOV_MAX = 1024  # POSIX guarantees at least 16; Linux, macOS and the BSDs allow 1,024


_PIECE = 1 << 20


def _pieces(task: _Task) -> list[tuple[int, list[memoryview], list[tuple[str, int]]]]:
    """A task cut into reads of at most 1 MiB each, `(position, views, blocks)`: each read
    is hashed right after it, while it is still in the core's cache (with 8 MiB reads the
    hash costed about 18% of a 2-thread read of 1 GB here, with 1 MiB reads 6%)."""
    out: list[tuple[int, list[memoryview], list[tuple[str, int]]]] = []
    position, size = task.position, _PIECE
    for view, block in zip(task.views, task.blocks):
        for first in range(0, view.nbytes, _PIECE):
            part = view[first : first + _PIECE]
            if size + part.nbytes > _PIECE or len(out[-1][1]) == _IOV_MAX:
                out.append((position, [], []))
                size = 0
            out[-1][1].append(part)
            out[-1][2].append(block)
            size += part.nbytes
            position += part.nbytes
    return out


def _short(name: str, missing: int) -> str:
    return (
        f"the file ends {missing} bytes early, in tensor '{name[:80]}' (was it truncated or "
        "replaced while loading?)"
    )


def _threads(size: int) -> int:
    """Threads for reading `size` bytes: a fresh tensor's pages are faulted in by whichever
    thread first writes them, so reading scales with threads, up to the cores or 4."""
    return max(1, min(_MAX_THREADS, os.cpu_count() or 1, size // _BYTES_PER_THREAD))


def _in_groups(tasks: list[_Task], count: int) -> list[list[_Task]]:
    """`tasks` cut into at most `count` runs of about equal bytes, in file order."""
    total = sum(task.nbytes for task in tasks)
    groups: list[list[_Task]] = [[] for _ in range(count)]
    done = 0
    for task in tasks:
        groups[min(count - 1, done * count // max(total, 1))].append(task)
        done += task.nbytes
    return [g for g in groups if g]


def _read_fully(handle: IO[bytes], target: memoryview, name: str) -> None:
    done = 0
    while done < target.nbytes:
        count = handle.readinto(target[done:])  # type: ignore[attr-defined]
        if not count:
            raise EOFError(_short(name, target.nbytes - done))
        done += count
