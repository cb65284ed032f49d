"""Reader for the IDX format that MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian
``uint32`` sizes, then the values in C order, big-endian. The files are often gzipped; the
reader looks at the first two bytes rather than the file name to decide.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DatasetFormatError", "IDXFormatError", "read_idx"]

# Type byte of the magic number -> big-endian NumPy dtype.
_IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_GZIP_MAGIC = b"\x1f\x8b"


class DatasetFormatError(ValueError):
    """A dataset file was found but its content is not what the loader expects."""


class IDXFormatError(DatasetFormatError):
    """A file is not a valid IDX file (bad magic number, truncated, or trailing bytes)."""


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads an IDX file, gzipped or not, into a NumPy array.

    Args:
        path: The file to read. Gzip compression is detected from the content, so both
            ``train-images-idx3-ubyte.gz`` and ``train-images-idx3-ubyte`` work.

    Returns:
        A writable array with the shape and values stored in the file, in native byte order
        (``uint8`` for MNIST-style files).

    Raises:
        IDXFormatError: If the magic number is wrong, the file is shorter than its header
            says, has bytes past the end of the data, or is a damaged gzip stream. The message
            names the file.
        OSError: If the file cannot be opened.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = Path(d) / "tiny-idx2-ubyte"
        ...     _ = p.write_bytes(header + bytes(range(6)))
        ...     read_idx(p)
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        try:
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _read_stream(stream, path)
            return _read_stream(raw, path)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise IDXFormatError(
                f"IDX file '{path}' is a damaged or truncated gzip stream ({err}). "
                "Delete it and fetch it again."
            ) from err


def _read_exact(stream: io.BufferedIOBase, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = stream.read(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_stream(stream: io.BufferedIOBase, path: Path) -> np.ndarray:
    magic = _read_exact(stream, 4)
    if len(magic) < 4:
        raise IDXFormatError(
            f"IDX file '{path}' is truncated: {len(magic)} bytes, expected at least a 4-byte "
            "magic number."
        )
    zero0, zero1, type_code, ndim = magic
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise IDXFormatError(
            f"'{path}' is not an IDX file: magic number 0x{magic.hex()}, expected "
            "0x0000TTNN with type TT in {08, 09, 0b, 0c, 0d, 0e} and NN >= 1 dimensions "
            "(0x00000803 for images, 0x00000801 for labels)."
        )
    header = _read_exact(stream, 4 * ndim)
    if len(header) < 4 * ndim:
        raise IDXFormatError(
            f"IDX file '{path}' is truncated inside its header: {ndim} dimension sizes "
            f"({4 * ndim} bytes) expected, {len(header)} bytes found."
        )
    shape = struct.unpack(f">{ndim}I", header)
    dtype = np.dtype(_IDX_DTYPES[type_code])
    data = np.empty(shape, dtype=dtype)
    # Read straight into the array: one copy, and the result is writable.
    view = data.reshape(-1).view(np.uint8).data
    filled = 0
    while filled < view.nbytes:
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    if filled < view.nbytes:
        raise IDXFormatError(
            f"IDX file '{path}' is truncated: its header declares shape {shape} of "
            f"{dtype.name} ({view.nbytes} bytes of data), but only {filled} bytes follow."
        )
    if stream.read(1):
        raise IDXFormatError(
            f"IDX file '{path}' has bytes past the end of the data declared by its header "
            f"(shape {shape} of {dtype.name}, {view.nbytes} bytes)."
        )
    if dtype.byteorder == ">":
        data = data.astype(dtype.newbyteorder("="))
    return data
