"""Download one file with a SHA-256 check and an atomic write, using only the standard library."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

__all__ = ["ChecksumError", "download"]

_logger = logging.getLogger("lamina.datasets")
_CHUNK = 1 << 16


class ChecksumError(OSError):
    """A downloaded file's SHA-256 does not match the pinned one.

    Attributes:
        url: Where the file came from.
        expected: The pinned SHA-256, as lowercase hex.
        received: The SHA-256 of what was received.
    """

    def __init__(self, url: str, expected: str, received: str) -> None:
        super().__init__(
            f"Checksum mismatch for {url}: expected {'sha256' if len(expected) == 64 else 'md5'} "
            f"{expected}, received {received}. "
            "The partial file was deleted and nothing was cached. Try again; if it keeps "
            "failing, the mirror serves different bytes than the ones lamina pins."
        )
        self.url = url
        self.expected = expected
        self.received = received


def download(
    url: str, dest: Path, *, sha256: str | None, timeout: float, md5: str | None = None
) -> None:
    """Downloads ``url`` to ``dest`` if and only if its SHA-256 matches.

    The bytes go to a temporary file in ``dest``'s folder, which is flushed, fsynced and then
    renamed over ``dest`` with ``os.replace``. A reader therefore sees either no file or the
    whole verified file, never a partial one, even if the process dies mid-download.

    Args:
        url: The address to fetch (any scheme ``urllib`` supports).
        dest: The final path. Its folder is created if needed.
        sha256: The expected SHA-256, as hex; `None` to check `md5` instead.
        timeout: Seconds to wait on the connection and on each read.

    Raises:
        ChecksumError: If the received bytes hash to something else. The temporary file is
            deleted first.
        OSError: If the transfer fails (``urllib.error.URLError`` is an ``OSError``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        if sha256 is None and md5 is None:
            raise ValueError(f"download of {url}: no checksum pinned (sha256 or md5).")
        digest = hashlib.sha256() if sha256 is not None else hashlib.md5(usedforsecurity=False)
        expected = (sha256 if sha256 is not None else md5 or "").lower()
        with os.fdopen(fd, "wb") as out:
            _logger.info("Downloading %s to %s", url, dest)
            with urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        received = digest.hexdigest()
        if received != expected:
            raise ChecksumError(url, expected, received)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_folder(dest.parent)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable. Not possible on Windows, where opening a folder fails.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
