"""safetensors files: writing them straight from tensor memory, and reading them without
trusting them (the whole header is checked before any tensor is allocated, and tensors are
read straight into the memory they keep).

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
length, a JSON header `{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}`, then
the tensors' bytes, back to back.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import torch

from lamina.core.dtypes import dtype_named
from lamina.saving.checksums import BLOCK, Checksums, block_digests
from lamina.saving.errors import SaveError
from lamina.saving.reader import Digests, Reader
from lamina.saving.values import LoadContext, parse_json

__all__ = [
    "DTYPES",
    "TensorInfo",
    "WeightsFile",
    "layout_names",
    "open_weights_file",
    "parse_weights",
    "safetensors_chunks",
    "safetensors_header",
]


DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "C64": torch.complex64,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
for _name, _dtype in (("U16", "uint16"), ("U32", "uint32"), ("U64", "uint64")):
    if (_found := dtype_named(_dtype)) is not None:
        DTYPES[_name] = _found
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def safetensors_header(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None
) -> tuple[bytes, int]:
    """The header (length prefix included) of the safetensors file of `tensors`, and the
    file's total size. Tensors are laid out largest element size first, as the safetensors
    library does, so every tensor's data stays aligned for zero-copy readers."""
    header: dict[str, Any] = {}
    offset = 0
    for name, tensor in _layout(tensors):
        if tensor.dtype not in DTYPE_NAMES:
            raise SaveError(
                f"weight '{name}' has dtype {tensor.dtype}, which safetensors cannot store; "
                f"cast it to one of {sorted(str(d).removeprefix('torch.') for d in DTYPE_NAMES)}."
            )
        nbytes = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": DTYPE_NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    prefix = len(text).to_bytes(8, "little") + text
    return prefix, len(prefix) + offset


def _layout(tensors: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return sorted(tensors.items(), key=lambda item: -item[1].element_size())


def safetensors_chunks(tensors: Mapping[str, torch.Tensor], header: bytes) -> Iterator[Any]:
    """The safetensors file of `tensors` (contiguous CPU tensors, see
    `weights.tensors_for_saving`) as buffers: the header, then each tensor's own memory (in
    `layout_names` order, an empty buffer for an empty tensor).

    This is the safetensors format byte for byte (tests read it back with the safetensors
    library); it is streamed here rather than built with `safetensors.torch.save`, which first
    makes the whole file one `bytes` object and takes 3x as long.
    """
    yield header
    for _, tensor in _layout(tensors):
        yield tensor.reshape(-1).view(torch.uint8).numpy().data


def layout_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The tensors' names in the order `safetensors_chunks` writes them."""
    return [name for name, _ in _layout(tensors)]


@dataclass(frozen=True)
class TensorInfo:
    """One tensor in a safetensors header; offsets are relative to the data section."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class WeightsFile:
    """A checked safetensors header and a way to read its tensors.

    Attributes:
        tensors: the tensors' names, dtypes, shapes and offsets, in file order.
        metadata: the header's string metadata.
        crc: the zip entry's CRC-32, when the file is one.
    """

    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    reader: Reader
    data_start: int
    crc: int | None
    ctx: LoadContext
    what: str

    @property
    def data_size(self) -> int:
        """The bytes of all the tensors."""
        return sum(info.end - info.begin for info in self.tensors.values())

    def read(
        self,
        wanted: set[str] | None = None,
        *,
        verify: bool = False,
        checksums: Checksums | None = None,
    ) -> dict[str, torch.Tensor]:
        """Read the tensors named in `wanted` (all by default) into fresh CPU tensors.

        Args:
            wanted: the names to read; the others are skipped.
            verify: check what is read against `checksums` (the xxh3_64 of every block, see
                `checksums.py`: a few percent of a load), or, for a file written before
                lamina kept them, against the zip entry's CRC-32 (one more pass over every
                byte). The header, every offset and the sizes are always checked, which
                catches a truncated or mangled file, but not a flipped bit.
            checksums: what the file's `config.json` records.

        Raises:
            LoadError: naming the file (and the tensor), when reading fails, the file ends
                early, or a checksum does not match.
        """
        with self.read_in_background(wanted, verify=verify, checksums=checksums) as result:
            return result()

    @contextlib.contextmanager
    def read_in_background(
        self,
        wanted: set[str] | None = None,
        *,
        verify: bool = False,
        checksums: Checksums | None = None,
    ) -> Iterator[Callable[[], dict[str, torch.Tensor]]]:
        """`read`, on a worker thread: yields a function that waits for the tensors.

        The worker allocates the tensors, then fills them with calls that release the GIL,
        so the caller's own work (rebuilding the model) overlaps with it. (Allocating there
        also lets repeated loads reuse the worker's freed memory, where the main thread's
        allocator often hands 40 MB back to the OS and faults it in again: 4 vs 20 ms per
        40 MB here.) Leaving the block waits for the copy, so nothing reads the file after
        it is closed.
        """
        crc = verify and checksums is None and self.crc is not None
        if crc:
            wanted = None  # the CRC covers every byte
        hashed = verify and checksums is not None
        started, done = threading.Event(), threading.Event()
        outcome: list[Any] = []

        def fill() -> dict[str, torch.Tensor]:
            try:
                out = {
                    info.name: torch.empty(info.shape, dtype=info.dtype)
                    for info in self.tensors.values()
                    if wanted is None or info.name in wanted
                }
                parts = [
                    (
                        info.name,
                        self.data_start + info.begin,
                        out[info.name].reshape(-1).view(torch.uint8),
                    )
                    for info in self.tensors.values()
                    if info.name in out and info.end > info.begin
                ]
                copy = self.reader.copier(parts, hashed=hashed)
            finally:
                started.set()
            found = copy()
            if hashed:
                assert checksums is not None
                self._check_digests(out, found, checksums)
            if crc:
                self._check_crc(out)
            return _normalized(out)

        def work() -> None:
            try:
                outcome.append(fill())
            except BaseException as error:  # handed to the caller by result()
                outcome.append(error)
            finally:
                done.set()

        # Not a daemon: a daemon thread stopped inside torch at interpreter exit aborts the process.
        worker = threading.Thread(target=work, name="lamina-weights-reader")
        worker.start()
        # Let the worker take the GIL to set up its reads; otherwise it would wait for the
        # caller's next release (up to the 5 ms switch interval).
        started.wait()

        def result() -> dict[str, torch.Tensor]:
            done.wait()
            value = outcome[0]
            if isinstance(value, (OSError, EOFError)):
                raise self.ctx.error(f"{self.what}: reading tensor data failed: {value}.")
            if isinstance(value, BaseException):
                raise value
            return value  # type: ignore[no-any-return]

        try:
            yield result
        finally:
            # Nothing reads the file after it is closed.
            done.wait()

    def _check_digests(
        self, out: dict[str, torch.Tensor], found: Digests, checksums: Checksums
    ) -> None:
        if checksums.header is not None:
            header = block_digests(self.reader.read(0, self.data_start))
            if tuple(header) != checksums.header:
                raise self.ctx.error(
                    f"{self.what} is corrupt: its header does not match the checksums in "
                    "config.json. The file was damaged after it was written; save the model "
                    "again, or copy the file again."
                )
        for name in out:
            expected = checksums.tensors[name]
            for index, value in enumerate(expected):
                if found[(name, index)] != value:
                    begin = index * BLOCK
                    end = min(begin + BLOCK, out[name].numel() * out[name].element_size())
                    raise self.ctx.error(
                        f"{self.what} is corrupt: tensor '{name[:80]}', bytes {begin}-{end}, "
                        f"has the xxh3_64 checksum {found[(name, index)]:016x}, "
                        f"{checksums.source} records {value:016x}. The file was damaged after "
                        "it was written; save the model again, or copy the file again."
                    )

    def _check_crc(self, out: dict[str, torch.Tensor]) -> None:
        total = zlib.crc32(self.reader.read(0, self.data_start))
        for info in self.tensors.values():
            if info.end > info.begin:
                total = zlib.crc32(out[info.name].reshape(-1).view(torch.uint8).numpy().data, total)
        if total != self.crc:
            raise self.ctx.error(
                f"{self.what} is corrupt: its CRC-32 is {total:08x}, the archive says "
                f"{self.crc:08x}. The file was damaged after it was written."
            )


def _normalized(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for name, tensor in out.items():
        if tensor.dtype == torch.bool:
            # Bytes other than 0 and 1 are not valid bools: normalize them.
            out[name] = tensor.view(torch.uint8) != 0
    return out


def parse_weights(
    reader: Reader, size: int, crc: int | None, ctx: LoadContext, what: str
) -> WeightsFile:
    """Check a safetensors header completely before any tensor is allocated."""
    if size < 8:
        raise ctx.error(f"{what} is truncated: {size} bytes, not even a header length.")
    try:
        length = int.from_bytes(reader.read(0, 8), "little")
        if length > ctx.limits.max_header_bytes:
            raise ctx.error(
                f"{what}: the header claims {length} bytes, over the limit of "
                f"{ctx.limits.max_header_bytes} (LoadLimits.max_header_bytes)."
            )
        if length > size - 8:
            raise ctx.error(
                f"{what}: the header claims {length} bytes, but only {size - 8} follow "
                "(truncated or not a safetensors file)."
            )
        raw = reader.read(8, length)
    except (OSError, EOFError) as error:
        raise ctx.error(f"{what}: reading the header failed: {error}.") from None
    header = parse_json(raw, f"{what} header", ctx, max_elements=ctx.limits.max_header_elements)
    if not isinstance(header, dict):
        raise ctx.error(f"{what}: the header must be a JSON object.")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ctx.error(f"{what}: __metadata__ must map strings to strings.")
    if len(header) > ctx.limits.max_tensors:
        raise ctx.error(
            f"{what} holds {len(header)} tensors, over the limit of {ctx.limits.max_tensors} "
            "(LoadLimits.max_tensors)."
        )
    data_size = size - 8 - length
    tensors: list[TensorInfo] = []
    for name, spec in header.items():
        tensors.append(_tensor_info(name, spec, data_size, ctx, what))
    tensors.sort(key=lambda t: (t.begin, t.end))
    position = 0
    for info in tensors:
        if info.begin != position:
            raise ctx.error(
                f"{what}: tensor '{info.name[:80]}' starts at byte {info.begin} of the data, "
                f"expected {position} (tensors overlap or leave a gap)."
            )
        position = info.end
    if position != data_size:
        raise ctx.error(
            f"{what}: the tensors cover {position} bytes, but the data section has {data_size}."
        )
    return WeightsFile({t.name: t for t in tensors}, metadata, reader, 8 + length, crc, ctx, what)


def _tensor_info(name: Any, spec: Any, data_size: int, ctx: LoadContext, what: str) -> TensorInfo:
    where = f"{what}: tensor '{str(name)[:80]}'"
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise ctx.error(f"{where} needs exactly 'dtype', 'shape' and 'data_offsets'.")
    dtype = DTYPES.get(spec["dtype"]) if isinstance(spec["dtype"], str) else None
    if dtype is None:
        raise ctx.error(
            f"{where} has dtype {str(spec['dtype'])[:20]!r}; expected one of {sorted(DTYPES)}."
        )
    shape, offsets = spec["shape"], spec["data_offsets"]
    if (
        not isinstance(shape, list)
        or len(shape) > 32
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise ctx.error(f"{where} has a bad shape {str(shape)[:60]}.")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_size
    ):
        raise ctx.error(
            f"{where} has data_offsets {str(offsets)[:60]} outside the {data_size}-byte data."
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise ctx.error(
            f"{where}: shape {tuple(shape)} of {spec['dtype']} needs {nbytes} bytes, the "
            f"offsets give {offsets[1] - offsets[0]}."
        )
    return TensorInfo(name, dtype, tuple(shape), offsets[0], offsets[1])


def open_weights_file(handle: IO[bytes], ctx: LoadContext) -> WeightsFile:
    """A standalone `.safetensors` file (from `save_weights` or `safetensors.save_file`)."""
    size = os.fstat(handle.fileno()).st_size
    return parse_weights(Reader(handle, None, 0, size), size, None, ctx, "the weights file")
