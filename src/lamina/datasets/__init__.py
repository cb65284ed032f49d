"""Dataset loaders that return NumPy arrays, as ``keras.datasets`` does.

Each loader looks for its files in the ``path=`` argument, ``$LAMINA_DATA``, the user cache
and the system data folder, and downloads them into the cache (checked against a pinned
SHA-256) only when none holds them. See :mod:`lamina.datasets._loader` for the details.

Example:
    >>> from lamina.datasets import fashion_mnist
    >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_subset()
    >>> x_train.shape, x_test.shape
    ((2000, 28, 28), (500, 28, 28))
"""

from __future__ import annotations

from lamina.datasets import cifar10 as cifar10
from lamina.datasets import cifar100 as cifar100
from lamina.datasets import fashion_mnist as fashion_mnist
from lamina.datasets import imdb as imdb
from lamina.datasets import mnist as mnist
from lamina.datasets import reuters as reuters
from lamina.datasets._fetch import ChecksumError as ChecksumError
from lamina.datasets._idx import DatasetFormatError as DatasetFormatError
from lamina.datasets._idx import IDXFormatError as IDXFormatError
from lamina.datasets._idx import read_idx as read_idx
from lamina.datasets._loader import DatasetNotFoundError as DatasetNotFoundError
from lamina.datasets._loader import cache_dir as cache_dir

__all__ = [
    "ChecksumError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "IDXFormatError",
    "cache_dir",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "mnist",
    "read_idx",
    "reuters",
]
