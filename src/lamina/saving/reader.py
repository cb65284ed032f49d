"""Reading byte ranges of a file into tensors, fast and without holding the GIL.

`WeightsFile` (tensorfile.py) checks a safetensors header; this copies the bytes. From a file,
the file is mapped copy-on-write for the duration of the copy and copied from with one
`torch._foreach_copy_` per thread (the GIL released throughout; fresh pages faulted in on
several cores); where mapping is impossible, `preadv` reads them; bytes already in memory (a
deflated zip entry) are copied.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import threading
from collections.abc import Callable
from typing import IO

import torch

__all__ = ["Cleanup", "Reader"]


class Reader:
    """Reads byte ranges of a file (or of bytes in memory) into given buffers."""

    def __init__(
        self, handle: IO[bytes] | None, data: bytes | None, offset: int, size: int
    ) -> None:
        self.handle, self.data, self.offset, self.size = handle, data, offset, size

    def read(self, start: int, length: int) -> bytes:
        buffer = bytearray(length)
        self.readinto(start, [memoryview(buffer)])
        return bytes(buffer)

    def copier(self, parts: list[tuple[int, torch.Tensor]]) -> Callable[[], Cleanup]:
        """A function copying the bytes at each `(start, flat uint8 tensor)` into the tensor;
        it returns what is left to release afterwards (see `_mapped_copier`), or None.

        Everything is prepared here, so that running the function on a worker thread is
        one call that releases the GIL throughout: the worker never waits for the main
        thread. From a file, the file is mapped (copy-on-write, so nothing writes through
        to it) and copied from with one torch call, a user-space copy from the page cache
        that beats `read` into fresh memory (about 3.7 vs 5 ms per 40 MB here); where
        mapping is impossible, the bytes are read with `preadv`.
        """
        if not parts:
            return lambda: None
        mapped = self._mapped_copier(parts) if self.handle is not None else None
        if mapped is not None:
            return mapped
        runs: list[tuple[int, list[memoryview]]] = []
        end = -1
        for start, tensor in parts:
            view = tensor.numpy().data
            if start != end:
                runs.append((start, []))
            runs[-1][1].append(view)
            end = start + view.nbytes

        def read() -> Cleanup:
            for start, views in runs:
                self.readinto(start, views)
            return None

        return read

    def _mapped_copier(self, parts: list[tuple[int, torch.Tensor]]) -> Callable[[], Cleanup] | None:
        assert self.handle is not None
        try:
            mapping = mmap.mmap(self.handle.fileno(), 0, access=mmap.ACCESS_COPY)
        except (OSError, ValueError, io.UnsupportedOperation):
            return None
        if len(mapping) < self.offset + self.size:  # shrunk since it was checked: read()
            mapping.close()  # reports it
            return None
        # The mapping lives only for the copy, a few milliseconds: the tensors own their
        # memory afterwards (unlike safetensors' lazy load_file), so the file can be replaced
        # or deleted at once, on Windows too, and a later truncation cannot touch the model.
        source = torch.frombuffer(mapping, dtype=torch.uint8)
        targets, sources = [], []
        for start, tensor in parts:
            begin, size = self.offset + start, tensor.numel()
            # Copied as the widest integers the alignment allows: 8-byte words copy about
            # 1.5x as fast as bytes (lamina aligns the weights in its zip, see archive.py).
            width = next(w for w in (8, 4, 2, 1) if begin % w == 0 and size % w == 0)
            targets.append(tensor.view(_WORDS[width]))
            sources.append(source[begin : begin + size].view(_WORDS[width]))
        del source
        groups = _in_groups(list(zip(targets, sources)), _copy_threads(self.size))
        del targets, sources

        def release() -> None:
            nonlocal groups
            groups = []
            with contextlib.suppress(BufferError):  # a view still alive: freed with it
                mapping.close()

        def copy() -> Cleanup:
            try:
                _copy_in_threads(groups)
            except BaseException:
                release()
                raise
            # Unmapping 40 MB that several threads touched takes about 1.2 ms (page tables,
            # TLB shootdowns): the caller does it after handing the tensors over. Not on
            # Windows, where a file cannot be replaced while it is mapped.
            if os.name == "nt":
                release()
                return None
            return release

        return copy

    def readinto(self, start: int, targets: list[memoryview]) -> None:
        """Fill `targets`, one after the other, from the bytes at `start`.

        From a file this is one `preadv` call per 1,024 buffers where the OS has it: the GIL
        is released for the whole read, so a worker thread reading the weights never waits
        for the main thread between tensors (one `readinto` per tensor did, up to the 5 ms
        switch interval each time).
        """
        if self.data is not None:
            source = memoryview(self.data)
            for target in targets:
                target[:] = source[start : start + target.nbytes]
                start += target.nbytes
            return
        assert self.handle is not None
        position = self.offset + start
        if not hasattr(os, "preadv"):  # Windows
            self.handle.seek(position)
            for target in targets:
                _read_fully(self.handle, target)
            return
        pending = [t for t in targets if t.nbytes]
        descriptor = self.handle.fileno()
        while pending:
            count = os.preadv(descriptor, pending[:_IOV_MAX], position)
            if not count:
                missing = sum(t.nbytes for t in pending)
                raise EOFError(f"the file ends {missing} bytes early")
            position += count
            while count and count >= pending[0].nbytes:
                count -= pending.pop(0).nbytes
            if count:
                pending[0] = pending[0][count:]


_WORDS = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.uint8}
_MAX_COPY_THREADS = 4
_BYTES_PER_COPY_THREAD = 8 << 20

Pairs = list[tuple[torch.Tensor, torch.Tensor]]
Cleanup = Callable[[], None] | None


def _copy_threads(size: int) -> int:
    """Threads for copying `size` bytes: a fresh tensor's pages are faulted in by whichever
    thread first writes them, so the copy scales with threads (40 MB: 20 ms on one thread,
    12 ms on two, here), up to the cores or 4."""
    return max(1, min(_MAX_COPY_THREADS, os.cpu_count() or 1, size // _BYTES_PER_COPY_THREAD))


def _in_groups(pairs: Pairs, count: int) -> list[Pairs]:
    """`(target, source)` pairs of flat tensors cut into `count` groups of about equal bytes,
    splitting a tensor where a group ends."""
    total = sum(target.nbytes for target, _ in pairs)
    ends = [total * k // count // 64 * 64 for k in range(1, count)] + [total]
    groups: list[Pairs] = [[] for _ in range(count)]
    group = position = 0
    for target, source in pairs:
        itemsize, first, length = target.element_size(), 0, target.numel()
        while first < length:
            while position >= ends[group] and group < count - 1:
                group += 1
            take = min(length - first, max(1, (ends[group] - position) // itemsize))
            groups[group].append((target[first : first + take], source[first : first + take]))
            first += take
            position += take * itemsize
    return [g for g in groups if g]


def _copy_in_threads(groups: list[Pairs]) -> None:
    """One `_foreach_copy_` per group (a single call, which releases the GIL throughout),
    the first on this thread and the others on threads of their own."""

    def copy(group: Pairs) -> None:
        torch._foreach_copy_([t for t, _ in group], [s for _, s in group])

    helpers = [threading.Thread(target=copy, args=(group,)) for group in groups[1:]]
    for helper in helpers:
        helper.start()
    try:
        if groups:
            copy(groups[0])
    finally:
        for helper in helpers:
            helper.join()


_IOV_MAX = 1024  # POSIX guarantees at least 16; Linux, macOS and the BSDs allow 1,024


def _read_fully(handle: IO[bytes], target: memoryview) -> None:
    done = 0
    while done < target.nbytes:
        count = handle.readinto(target[done:])  # type: ignore[attr-defined]
        if not count:
            raise EOFError(f"the file ends {target.nbytes - done} bytes early")
        done += count
