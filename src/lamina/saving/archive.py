"""Files on disk: atomic writes, and the `.lamina` zip read without trusting it.

Nothing is ever extracted: the zip's entries are read in memory, each checked first (its name,
compression, declared size against the archive's, then its actual size and CRC), and
`model.safetensors` (stored uncompressed) is read in place by `tensorfile.WeightsFile`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import secrets
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any

from lamina.saving.tensorfile import WeightsFile, _Reader, parse_weights
from lamina.saving.values import LoadContext, parse_json

__all__ = ["CONFIG", "ENTRIES", "METADATA", "WEIGHTS", "Archive", "atomic_write", "zip_entry"]

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.safetensors"
ENTRIES = (CONFIG, METADATA, WEIGHTS)
MAX_JSON_BYTES = 64 << 20
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


def write_stored(entry: IO[bytes], chunks: Iterable[Any]) -> None:
    """Write the bytes of a stored (uncompressed) zip entry opened with `ZipFile.open(.., "w")`,
    computing its CRC-32 on a second thread while the main one writes.

    zipfile computes the CRC and writes one after the other; both release the GIL, so
    overlapping them saves most of the CRC's cost (about 10 ms per 40 MB). This uses three
    attributes of zipfile's entry writer (`_fileobj`, `_file_size`, `_crc`), unchanged since
    Python 3.6; where they are missing it falls back to plain writes.
    """
    raw = getattr(entry, "_fileobj", None)
    if raw is None or not all(hasattr(entry, a) for a in ("_file_size", "_crc")):
        for chunk in chunks:
            entry.write(chunk)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        crc: concurrent.futures.Future[int] | None = None
        for chunk in chunks:
            view = memoryview(chunk)
            crc = pool.submit(_chain_crc, view, crc)
            raw.write(view)
            entry._file_size += view.nbytes  # type: ignore[attr-defined]
        entry._crc = crc.result() if crc is not None else 0  # type: ignore[attr-defined]


def _chain_crc(view: memoryview, previous: concurrent.futures.Future[int] | None) -> int:
    # One worker runs these in order, so `previous` is always done.
    return zlib.crc32(view, previous.result() if previous is not None else 0)


def zip_entry(name: str, *, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


# ------------------------------------------------------------------------------ the zip
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
            raise ctx.error(
                f"not a lamina model file: it is not a zip archive ({type(error).__name__}: "
                f"{error}). Expected a file written by model.save()."
            ) from None
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
        if name != WEIGHTS and info.file_size > MAX_JSON_BYTES:
            raise ctx.error(
                f"the zip entry {shown} declares {info.file_size} bytes; JSON entries over "
                f"{MAX_JSON_BYTES >> 20} MiB are refused."
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
        if info.compress_type != zipfile.ZIP_STORED:
            # Not written by lamina (it stores weights uncompressed), but still a valid zip.
            data = self.read_bytes(WEIGHTS)
            return parse_weights(_Reader(None, data, 0, len(data)), len(data), None, self.ctx, what)
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
        reader = _Reader(self.handle, None, start, info.file_size)
        return parse_weights(reader, info.file_size, info.CRC, self.ctx, what)
