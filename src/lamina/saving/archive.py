"""Files on disk: atomic writes, and the `.lamina` zip read without trusting it.

Nothing is ever extracted: the zip's entries are read in memory, each checked first (its name,
compression, declared size against the archive's, then its actual size and CRC), and
`model.safetensors` (stored uncompressed) is read in place by `tensorfile.WeightsFile`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import os
import secrets
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from lamina.saving.checksums import BLOCK, block_digests, digest
from lamina.saving.reader import Reader
from lamina.saving.tensorfile import WeightsFile, parse_weights
from lamina.saving.values import LoadContext, parse_json

__all__ = [
    "CONFIG",
    "ENTRIES",
    "METADATA",
    "WEIGHTS",
    "Archive",
    "aligned_entry",
    "atomic_write",
    "stream",
    "write_stored",
    "zip_entry",
]

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.safetensors"
ENTRIES = (CONFIG, METADATA, WEIGHTS)
MAX_RATIO = 100
"""Largest uncompressed/compressed size ratio accepted for a deflated entry (real JSON is
about 5-10x; a decompression bomb is 1000x)."""

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


# ------------------------------------------------------------------------------ writing
@contextlib.contextmanager
def atomic_write(path: str) -> Iterator[IO[bytes]]:
    """Write `path` all or nothing: into a temporary file beside it, flushed and fsynced, then
    renamed over it. Any failure removes the temporary file and leaves `path` as it was."""
    target = os.path.abspath(path)
    directory, base = os.path.split(target)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # The rename itself is durable only once the directory is synced (POSIX).
    with contextlib.suppress(OSError):
        dir_descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_descriptor)
        finally:
            os.close(dir_descriptor)


def write_stored(entry: IO[bytes], chunks: Iterable[Any]) -> list[list[int]]:
    """Write the bytes of a stored (uncompressed) zip entry opened with `ZipFile.open(.., "w")`,
    computing its CRC-32 and each chunk's block digests (`checksums.py`) on a second thread
    while the main one writes (see `stream`); return the digests, one list per chunk.

    zipfile computes the CRC and writes one after the other; both release the GIL, so
    overlapping them saves most of the CRC's cost (about 10 ms per 40 MB). This uses three
    attributes of zipfile's entry writer (`_fileobj`, `_file_size`, `_crc`), unchanged since
    Python 3.6; where they are missing it writes through zipfile, which computes the CRC.
    """
    raw = getattr(entry, "_fileobj", None)
    if raw is None or not all(hasattr(entry, a) for a in ("_file_size", "_crc")):
        digests = []
        for chunk in chunks:
            entry.write(chunk)
            digests.append(block_digests(chunk))
        return digests
    size, crc, digests = stream(raw, chunks, crc=True, digests=True)
    entry._file_size += size  # type: ignore[attr-defined]
    entry._crc = crc  # type: ignore[attr-defined]
    return digests


def stream(
    handle: IO[bytes], chunks: Iterable[Any], *, crc: bool = False, digests: bool = False
) -> tuple[int, int, list[list[int]]]:
    """Write `chunks` (buffers) to the file `handle`; return the bytes written, with `crc`
    their CRC-32, and with `digests` the digests of each chunk's `BLOCK`s (both computed on
    a second thread, overlapping with the writes).

    On Linux, the disk write of each 8 MiB piece is started as soon as it is written
    (`sync_file_range`, as databases do before a checkpoint's fsync), so `atomic_write`'s
    final fsync waits for the last pieces only: about 6 ms less per 40 MB here.
    """
    writeback = _writeback_for(handle)
    position = handle.tell() if writeback else 0
    size = 0
    pending: list[list[concurrent.futures.Future[int]]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        checksum: concurrent.futures.Future[int] | None = None
        for chunk in chunks:
            view = memoryview(chunk).cast("B")
            pending.append([])
            for start in range(0, view.nbytes, _PIECE):
                piece = view[start : start + _PIECE]
                if crc:
                    checksum = pool.submit(_chain_crc, piece, checksum)
                if digests:
                    pending[-1].append(pool.submit(digest, piece))
                handle.write(piece)
                if writeback is not None:
                    handle.flush()
                    writeback = writeback(position, piece.nbytes)
                    position += piece.nbytes
            size += view.nbytes
        found = [[future.result() for future in chunk] for chunk in pending]
        return size, checksum.result() if checksum is not None else 0, found


_PIECE = BLOCK  # 8 MiB: the pieces written are the blocks hashed
_SYNC_FILE_RANGE_WRITE = 2


def _writeback_for(handle: IO[bytes]) -> Callable[[int, int], Any] | None:
    """A function starting the disk write of a byte range of `handle` (returning itself, or
    None once the file system refuses), or None where there is no such call."""
    sync_file_range = _sync_file_range()
    try:
        descriptor = handle.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    if sync_file_range is None:
        return None

    def start_writing(offset: int, length: int) -> Callable[[int, int], Any] | None:
        failed = sync_file_range(descriptor, offset, length, _SYNC_FILE_RANGE_WRITE) != 0
        return None if failed else start_writing

    return start_writing


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's `sync_file_range` (Python's `os` has no binding for it), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _chain_crc(view: memoryview, previous: concurrent.futures.Future[int] | None) -> int:
    # One worker runs these in order, so `previous` is always done.
    return zlib.crc32(view, previous.result() if previous is not None else 0)


ALIGNMENT = 64
_ALIGNMENT_EXTRA_ID = 0xD935  # the zip extra field Android's zipalign pads with


def aligned_entry(name: str, size: int, position: int) -> tuple[zipfile.ZipInfo, bool]:
    """A stored entry of `size` bytes whose local header starts at `position`, padded so
    that its data starts on a 64-byte boundary of the file (so a reader that maps the file
    can use the tensors' bytes in place, or copy them as aligned words); and whether it
    must be written as zip64 (pass it as `ZipFile.open`'s `force_zip64`).

    The padding is an extra field of the kind Android's zipalign writes (id 0xD935: the
    alignment, then zeros), which zip readers skip.
    """
    info = zip_entry(name, compress=False)
    info.file_size = size
    zip64 = size * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's own rule, made explicit
    fixed = 30 + len(name.encode("utf-8")) + 6 + (20 if zip64 else 0)
    padding = -(position + fixed) % ALIGNMENT
    info.extra = struct.pack("<HHH", _ALIGNMENT_EXTRA_ID, 2 + padding, ALIGNMENT) + bytes(padding)
    return info, zip64


def zip_entry(name: str, *, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


# ------------------------------------------------------------------------------ the zip
KERAS_ENTRY = "model.weights.h5"
"""The weights entry of a Keras 3 `.keras` zip, which a lamina file never has."""

_BRING_KERAS_MODEL = (
    "Read it with lamina.saving.load_keras(path), or convert it once with "
    "`lamina convert MODEL.keras OUT.lamina`."
)
KERAS_FILE = "this is a Keras model file (.keras), not a lamina one. " + _BRING_KERAS_MODEL
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"


def _not_a_zip(handle: IO[bytes], size: int, error: Exception) -> str:
    """Why a file that zipfile refused is not a lamina file: a Keras 2 `.h5` model, a damaged
    or truncated lamina file (a zip's start without its end), or something else."""
    handle.seek(0)
    head = handle.read(8)
    if head == _HDF5_SIGNATURE:
        return (
            "this is an HDF5 file (a Keras 2 .h5 model or weights), not a lamina one. "
            + _BRING_KERAS_MODEL
        )
    if head.startswith(_ZIP_SIGNATURE) or size == 0:
        return (
            f"the file is damaged or truncated ({size} bytes, and the zip directory at its end "
            "is missing); save the model again, or copy the file again if it was transferred."
        )
    return (
        f"not a lamina model file: it is not a zip archive ({type(error).__name__}: "
        f"{error}). Expected a file written by model.save()."
    )


class Archive:
    """A `.lamina` file opened for reading, its entries checked before anything is read.

    Args:
        handle: the open file.
        ctx: names the file in every error.
    """

    def __init__(self, handle: IO[bytes], ctx: LoadContext) -> None:
        self.handle, self.ctx = handle, ctx
        self.size = os.fstat(handle.fileno()).st_size
        try:
            self.zip = zipfile.ZipFile(handle)
            infos = self.zip.infolist()
        except Exception as error:
            raise ctx.error(_not_a_zip(handle, self.size, error)) from None
        names = {info.filename for info in infos}
        if KERAS_ENTRY in names:
            raise ctx.error(KERAS_FILE)
        self.entries: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            self._check_entry(info)
        missing = [name for name in ENTRIES if name not in self.entries]
        if missing:
            raise ctx.error(
                f"not a complete lamina model file: it lacks {missing} (has "
                f"{sorted(self.entries)})."
            )
        declared = sum(info.file_size for info in infos)
        if declared > MAX_RATIO * self.size + (1 << 20):
            raise ctx.error(
                f"its entries claim {declared} bytes uncompressed, more than {MAX_RATIO}x the "
                f"{self.size}-byte archive; refusing a likely decompression bomb."
            )

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        name, ctx = info.filename, self.ctx
        shown = ascii(name)[:80]
        if (
            name.startswith(("/", "\\"))
            or ".." in name.replace("\\", "/").split("/")
            or ":" in name
            or "\\" in name
            or "\0" in name
        ):
            raise ctx.error(
                f"refusing the unsafe zip entry name {shown} (absolute path or '..'); lamina "
                "never extracts files, and its own files hold only "
                f"{list(ENTRIES)}."
            )
        if name not in ENTRIES:
            raise ctx.error(
                f"unexpected zip entry {shown}; a lamina file holds only {list(ENTRIES)}."
            )
        if name in self.entries:
            raise ctx.error(f"the zip entry {shown} appears twice; refusing an ambiguous file.")
        if info.flag_bits & 0x1:
            raise ctx.error(f"the zip entry {shown} is encrypted; lamina files never are.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ctx.error(
                f"the zip entry {shown} uses compression method {info.compress_type}; expected "
                "stored (0) or deflated (8)."
            )
        if info.header_offset + info.compress_size > self.size:
            raise ctx.error(f"the zip entry {shown} runs past the end of the file (truncated?).")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise ctx.error(f"the stored zip entry {shown} declares two different sizes.")
        if info.compress_type == zipfile.ZIP_DEFLATED and (
            info.file_size > MAX_RATIO * info.compress_size + 4096
        ):
            raise ctx.error(
                f"the zip entry {shown} would inflate {info.compress_size} bytes to "
                f"{info.file_size} (over {MAX_RATIO}x); refusing a likely decompression bomb."
            )
        limit = ctx.limits.max_json_bytes
        if name != WEIGHTS and info.file_size > limit:
            raise ctx.error(
                f"the zip entry {shown} declares {info.file_size} bytes; JSON entries over "
                f"{limit} bytes are refused (LoadLimits.max_json_bytes)."
            )
        if name == WEIGHTS and info.compress_type != zipfile.ZIP_STORED:
            raise ctx.error(
                f"the zip entry {shown} is compressed; lamina stores weights uncompressed, "
                "and a compressed entry would have to be inflated whole into memory."
            )
        self.entries[name] = info

    def read_bytes(self, name: str) -> bytes:
        """The whole entry, never more than its declared size, its CRC checked."""
        info = self.entries[name]
        try:
            with self.zip.open(info) as entry:
                data = entry.read(info.file_size + 1)
        except Exception as error:
            raise self.ctx.error(
                f"the zip entry '{name}' cannot be read ({type(error).__name__}: {error})."
            ) from None
        if len(data) != info.file_size:
            raise self.ctx.error(
                f"the zip entry '{name}' holds {len(data)} bytes, but declares {info.file_size}."
            )
        return data

    def read_json(self, name: str) -> Any:
        return parse_json(self.read_bytes(name), f"'{name}'", self.ctx)

    def weights(self) -> WeightsFile:
        """The checked header of `model.safetensors`, read in place when stored."""
        info = self.entries[WEIGHTS]
        what = f"'{WEIGHTS}'"
        try:
            self.handle.seek(info.header_offset)
            header = self.handle.read(_LOCAL_HEADER.size)
            fields = _LOCAL_HEADER.unpack(header)
        except (OSError, struct.error) as error:
            raise self.ctx.error(f"{what}: its local zip header is unreadable ({error}).") from None
        if fields[0] != b"PK\x03\x04":
            raise self.ctx.error(f"{what}: its local zip header is corrupt.")
        start = info.header_offset + _LOCAL_HEADER.size + fields[10] + fields[11]
        if start + info.file_size > self.size:
            raise self.ctx.error(f"{what} runs past the end of the file (truncated?).")
        reader = Reader(self.handle, None, start, info.file_size)
        return parse_weights(reader, info.file_size, info.CRC, self.ctx, what)
