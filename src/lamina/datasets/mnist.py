"""MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28 pixels."""

from __future__ import annotations

import os

from lamina.datasets._loader import DatasetSpec, LoadedData, Remote, load

__all__ = ["DOWNLOADS", "SPEC", "load_data"]

SPEC = DatasetSpec(name="MNIST", subdir="mnist", npz_name="mnist.npz")

# The same file, address and SHA-256 as keras/src/datasets/mnist.py. Tests patch this table
# to serve files from a local server.
DOWNLOADS: dict[str, Remote] = {
    "mnist.npz": Remote(
        urls=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",),
        sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    ),
}


def load_data(path: str | os.PathLike[str] | None = None, *, download: bool = True) -> LoadedData:
    """Loads the MNIST dataset, as ``keras.datasets.mnist.load_data`` does.

    The files are looked for, in order, in ``path``; in ``$LAMINA_DATA`` and its ``mnist``
    subfolder; in the user cache ``$XDG_CACHE_HOME/lamina/datasets/mnist`` (default
    ``~/.cache/lamina/datasets/mnist``); and in ``/usr/share/datasets/mnist``. A folder counts
    when it holds Keras's ``mnist.npz`` or the four IDX files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
    gzipped or not). If none does, ``mnist.npz`` is downloaded from Keras's address into the
    cache and checked against its SHA-256.

    Args:
        path: A folder holding the files. Unlike Keras, not a file name inside the cache.
        download: Whether to download the files when no folder holds them.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``uint8`` images of shape ``(N, 28, 28)``
        with values 0-255 and ``uint8`` labels 0-9 of shape ``(N,)``; N is 60,000 for the
        training split and 10,000 for the test split.

    Raises:
        DatasetNotFoundError: If no place holds the files and the download failed or was
            disabled. The message lists every place tried and how to get the files.
        ChecksumError: If the downloaded file does not match its pinned SHA-256.
        DatasetFormatError: If a file found is damaged or holds arrays of the wrong shape.

    Example:
        >>> from lamina.datasets import mnist
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_test.shape  # doctest: +SKIP
        ((60000, 28, 28), (10000,))

    License:
        Yann LeCun and Corinna Cortes hold the copyright of MNIST, a derivative of the NIST
        datasets, available under the Creative Commons Attribution-Share Alike 3.0 license.
    """
    return load(SPEC, path, remotes=DOWNLOADS, download_missing=download)
