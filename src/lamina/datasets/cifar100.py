"""CIFAR-100: 50,000 training and 10,000 test colour images of 32x32 pixels in 100 classes
(grouped in 20 coarse classes)."""

from __future__ import annotations

import os

import numpy as np

from lamina.datasets import _cifar
from lamina.datasets._loader import DatasetSpec, Remote, locate

__all__ = ["DOWNLOADS", "SPEC", "load_data"]

ARCHIVE = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"
MEMBERS = ("train", "test")
SPEC = DatasetSpec(
    name="CIFAR-100",
    subdir="cifar100",
    files_hint=f"{ARCHIVE} or its extracted {FOLDER}/ folder",
)

# The same archive, address and SHA-256 as Keras's cifar100 loader. Tests patch this table
# to serve files from a local server.
DOWNLOADS: dict[str, Remote] = {
    ARCHIVE: Remote(
        urls=(f"https://www.cs.toronto.edu/~kriz/{ARCHIVE}",),
        sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    ),
}


def load_data(
    label_mode: str = "fine",
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Loads CIFAR-100, as ``keras.datasets.cifar100.load_data`` does.

    The archive is found, downloaded and read as :func:`lamina.datasets.cifar10.load_data`
    describes (folder ``cifar100``; 161 MB).

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        path: A folder holding the files.
        download: Whether to download the archive when no folder holds it.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``uint8`` images of shape
        ``(N, 32, 32, 3)`` (channels first when ``image_data_format()`` says so) and
        ``int64`` labels of shape ``(N, 1)``, as Keras returns them; N is 50,000 and 10,000.

    Raises:
        ValueError: If ``label_mode`` is neither ``"fine"`` nor ``"coarse"``.
        DatasetNotFoundError, ChecksumError, DatasetFormatError: as for CIFAR-10.

    Example:
        >>> from lamina.datasets import cifar100
        >>> (x_train, y_train), _ = cifar100.load_data("coarse")  # doctest: +SKIP
        >>> x_train.shape, int(y_train.max())  # doctest: +SKIP
        ((50000, 32, 32, 3), 19)
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(
            f"cifar100.load_data: expected label_mode 'fine' or 'coarse', received {label_mode!r}."
        )
    files = locate(
        SPEC,
        path,
        remotes=DOWNLOADS,
        download_missing=download,
        find=_cifar.finder(FOLDER, ARCHIVE, MEMBERS),
    )
    batches = _cifar.read_batches(SPEC, files, FOLDER, MEMBERS)
    classes = 100 if label_mode == "fine" else 20
    key = f"{label_mode}_labels"
    (x_train, y_train), (x_test, y_test) = (
        _cifar.images_and_labels(SPEC, batches[m], key, classes) for m in MEMBERS
    )
    return (
        (_cifar.to_layout(x_train), y_train.reshape(-1, 1)),
        (_cifar.to_layout(x_test), y_test.reshape(-1, 1)),
    )
