"""CIFAR-10: 50,000 training and 10,000 test colour images of 32x32 pixels in 10 classes."""

from __future__ import annotations

import os

import numpy as np

from lamina.datasets import _cifar
from lamina.datasets._loader import DatasetSpec, Remote, locate

__all__ = ["DOWNLOADS", "SPEC", "load_data"]

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
MEMBERS = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
SPEC = DatasetSpec(
    name="CIFAR-10",
    subdir="cifar10",
    files_hint=f"{ARCHIVE} or its extracted {FOLDER}/ folder",
)

# The same archive, address and SHA-256 as Keras's cifar10 loader. Tests patch this table
# to serve files from a local server.
DOWNLOADS: dict[str, Remote] = {
    ARCHIVE: Remote(
        urls=(f"https://www.cs.toronto.edu/~kriz/{ARCHIVE}",),
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ),
}


def load_data(
    path: str | os.PathLike[str] | None = None, *, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Loads CIFAR-10, as ``keras.datasets.cifar10.load_data`` does.

    The archive (or its extracted folder) is looked for in ``path``, ``$LAMINA_DATA`` (and
    its ``cifar10`` subfolder), the user cache ``~/.cache/lamina/datasets/cifar10`` and
    ``/usr/share/datasets/cifar10``; if none holds it, it is downloaded (163 MB) from
    Keras's address into the cache and checked against its SHA-256. It is read in place,
    never extracted, and its pickled batches are read without running code.

    Args:
        path: A folder holding the files.
        download: Whether to download the archive when no folder holds it.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``uint8`` images of shape
        ``(N, 32, 32, 3)`` (``(N, 3, 32, 32)`` when ``lamina.config.image_data_format()`` is
        ``"channels_first"``) and ``uint8`` labels 0-9 of shape ``(N, 1)``; N is 50,000 for
        the training split and 10,000 for the test split.

    Raises:
        DatasetNotFoundError: If no place holds the files and the download failed or was
            disabled.
        ChecksumError: If the download does not match its pinned SHA-256.
        DatasetFormatError: If a file found is damaged or holds arrays of the wrong shape.

    Example:
        >>> from lamina.datasets import cifar10
        >>> (x_train, y_train), (x_test, y_test) = cifar10.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train.shape  # doctest: +SKIP
        ((50000, 32, 32, 3), (50000, 1))
    """
    files = locate(
        SPEC,
        path,
        remotes=DOWNLOADS,
        download_missing=download,
        find=_cifar.finder(FOLDER, ARCHIVE, MEMBERS),
    )
    batches = _cifar.read_batches(SPEC, files, FOLDER, MEMBERS)
    pairs = [_cifar.images_and_labels(SPEC, batches[m], "labels", 10) for m in MEMBERS]
    x_train = np.concatenate([x for x, _ in pairs[:-1]])
    y_train = np.concatenate([y for _, y in pairs[:-1]]).astype(np.uint8).reshape(-1, 1)
    x_test, y_test = pairs[-1]
    return (
        (_cifar.to_layout(x_train), y_train),
        (_cifar.to_layout(x_test), y_test.astype(np.uint8).reshape(-1, 1)),
    )
