"""Fashion-MNIST: 60,000 training and 10,000 test images of clothing, 28x28 pixels, 10 classes.

A 2,000-image training and 500-image test subset ships inside lamina (see :func:`load_subset`)
so that examples and tests run without the full dataset. ``scripts/make_fashion_subset.py``
rebuilds it.
"""

from __future__ import annotations

import logging
import os
from importlib import resources

import numpy as np

from lamina.datasets._loader import (
    DatasetNotFoundError,
    DatasetSpec,
    LoadedData,
    Remote,
    load,
)

__all__ = ["CLASS_NAMES", "DOWNLOADS", "SPEC", "SUBSET_FILE", "load_data", "load_subset"]

_logger = logging.getLogger("lamina.datasets")

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

SPEC = DatasetSpec(
    name="Fashion-MNIST",
    subdir="fashion-mnist",
    apt_package="dataset-fashion-mnist",
    extra_hint=(
        "or, for the 2,000/500-image subset shipped with lamina: "
        "load_data(fallback_to_subset=True) or load_subset()"
    ),
)

# Name of the shipped subset inside lamina/datasets/data/.
SUBSET_FILE = "fashion_mnist_subset.npz"

_KERAS_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ZALANDO = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# Zalando Research's original gzipped IDX files. The first address is the mirror Keras
# downloads from (HTTPS); the second is the one Zalando's README links (HTTP only, which the
# pinned hash makes safe). Both serve the same bytes.
#
# The SHA-256 values are those pinned in keras/src/datasets/fashion_mnist.py (FILE_HASHES);
# other loaders pin the same values next to Zalando's published MD5s (batchup's
# fashion_mnist.py, Flux.jl's FashionMNIST). They could not be computed here: Debian's
# dataset-fashion-mnist package recompresses the files (its .gz MD5s differ from the ones in
# Zalando's README), so its .gz bytes are not the official ones.
DOWNLOADS: dict[str, Remote] = {
    name: Remote(urls=(_KERAS_MIRROR + name, _ZALANDO + name), sha256=sha256)
    for name, sha256 in (
        (
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    )
}


def load_data(
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    fallback_to_subset: bool = False,
) -> LoadedData:
    """Loads Fashion-MNIST, as ``keras.datasets.fashion_mnist.load_data`` does.

    The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each gzipped or not) are looked for,
    in order, in ``path``; in ``$LAMINA_DATA`` and its ``fashion-mnist`` subfolder; in the user
    cache ``$XDG_CACHE_HOME/lamina/datasets/fashion-mnist`` (default
    ``~/.cache/lamina/datasets/fashion-mnist``); and in ``/usr/share/datasets/fashion-mnist``,
    where ``apt-get install dataset-fashion-mnist`` puts them. If no folder holds all four,
    the missing ones are downloaded into the cache and checked against their SHA-256.

    Args:
        path: A folder holding the files.
        download: Whether to download the files when no folder holds them.
        fallback_to_subset: If true and the full dataset cannot be found or downloaded, return
            :func:`load_subset`'s 2,000 + 500 images instead of raising, and log a warning on
            the ``lamina.datasets`` logger. Examples use this to run anywhere; check
            ``len(x_train)`` to tell which one you got. Checksum and format errors still raise.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``uint8`` images of shape ``(N, 28, 28)``
        with values 0-255 and ``uint8`` labels 0-9 (see ``CLASS_NAMES``) of shape ``(N,)``;
        N is 60,000 for the training split and 10,000 for the test split.

    Raises:
        DatasetNotFoundError: If no place holds the files and the download failed or was
            disabled, and ``fallback_to_subset`` is false. The message lists every place
            tried and how to get the files.
        ChecksumError: If a downloaded file does not match its pinned SHA-256.
        DatasetFormatError: If a file found is damaged or holds arrays of the wrong shape.

    Example:
        >>> from lamina.datasets import fashion_mnist
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(
        ...     download=False, fallback_to_subset=True
        ... )
        >>> x_train.shape[1:], x_train.dtype.name, int(y_train.max())
        ((28, 28), 'uint8', 9)

    License:
        The copyright for Fashion-MNIST is held by Zalando SE. Fashion-MNIST is licensed
        under the MIT license.
    """
    try:
        return load(SPEC, path, remotes=DOWNLOADS, download_missing=download)
    except DatasetNotFoundError as err:
        if not fallback_to_subset:
            raise
        _logger.warning(
            "Full Fashion-MNIST not found; using the 2,000/500-image subset shipped with "
            "lamina.\n%s",
            err,
        )
        return load_subset()


def load_subset() -> LoadedData:
    """Loads the small Fashion-MNIST subset that ships inside lamina.

    The subset holds the first 200 training and the first 50 test images of each of the 10
    classes, in their original order: 2,000 training and 500 test images. It needs no
    download and loads in milliseconds, for examples, tests and quick experiments.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``uint8`` images of shapes
        ``(2000, 28, 28)`` and ``(500, 28, 28)``, and ``uint8`` labels 0-9 of shapes
        ``(2000,)`` and ``(500,)``.

    Example:
        >>> from lamina.datasets import fashion_mnist
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_subset()
        >>> x_train.shape, y_train.shape, x_test.shape, y_test.shape
        ((2000, 28, 28), (2000,), (500, 28, 28), (500,))
        >>> fashion_mnist.CLASS_NAMES[y_train[0]]
        'Ankle boot'
    """
    ref = resources.files("lamina.datasets") / "data" / SUBSET_FILE
    with resources.as_file(ref) as file, np.load(file, allow_pickle=False) as data:
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
