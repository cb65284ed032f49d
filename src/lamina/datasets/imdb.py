"""IMDB movie reviews: 25,000 training and 25,000 test reviews as lists of word indexes,
labelled positive (1) or negative (0), in Keras's preprocessed form."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lamina.datasets import _sequences
from lamina.datasets._loader import DatasetSpec, Remote, locate

__all__ = ["DOWNLOADS", "SPEC", "get_word_index", "load_data"]

SPEC = DatasetSpec(name="IMDB", subdir="imdb", files_hint="imdb.npz")

# The files, addresses and checksums of keras/src/datasets/imdb.py (Keras pins only an MD5
# for the word index). Tests patch this table to serve files from a local server.
_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DOWNLOADS: dict[str, Remote] = {
    "imdb.npz": Remote(
        urls=(_ORIGIN + "imdb.npz",),
        sha256="69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    ),
    "imdb_word_index.json": Remote(
        urls=(_ORIGIN + "imdb_word_index.json",),
        sha256=None,
        md5="bfafd718b763782e994055a2d397834f",
    ),
}


def load_data(
    path: str | os.PathLike[str] | None = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    *,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Loads IMDB as ``keras.datasets.imdb.load_data`` does (same arguments and results).

    The file ``imdb.npz`` is looked for as MNIST's are (``path``, ``$LAMINA_DATA``, the cache,
    ``/usr/share/datasets/imdb``) and otherwise downloaded into the cache, checked against
    its SHA-256. Its pickled lists are read by an unpickler that builds only arrays and lists.

    Args:
        path: A folder holding ``imdb.npz``. Unlike Keras, not a file name in the cache.
        num_words: keep the `num_words` most frequent words (indexes below it); the others
            become `oov_char`. All by default.
        skip_top: also replace the `skip_top` most frequent words (stop words).
        maxlen: drop the reviews of `maxlen` words or more.
        seed: the seed of the shuffle.
        start_char: the index that starts every review (`None`: none).
        oov_char: the index of the words cut out (`None`: they are removed).
        index_from: the offset added to every word index.
        download: whether to download the file when no folder holds it.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: object arrays of lists of ints, and the
        labels as the file holds them (0 or 1).

    Example:
        >>> from lamina.datasets import imdb
        >>> (x_train, y_train), _ = imdb.load_data(num_words=10000)  # doctest: +SKIP
        >>> len(x_train), y_train[:3]  # doctest: +SKIP
        (25000, array([1, 0, 0]))
    """
    remotes = {"imdb.npz": DOWNLOADS["imdb.npz"]}
    (found,) = locate(
        SPEC, path, remotes=remotes, download_missing=download, find=_sequences.finder("imdb.npz")
    )
    arrays = _sequences.read_npz(found, ("x_train", "y_train", "x_test", "y_test"))
    (train, test), (y_train, y_test) = _sequences.prepare(
        [arrays["x_train"], arrays["x_test"]],
        [arrays["y_train"], arrays["y_test"]],
        seed=seed,
        start_char=start_char,
        oov_char=oov_char,
        index_from=index_from,
        maxlen=maxlen,
        num_words=num_words,
        skip_top=skip_top,
        name="imdb.load_data",
    )
    x_train, x_test = _sequences.as_object_array(train), _sequences.as_object_array(test)
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path: Any = None, *, download: bool = True) -> dict[str, int]:
    """The word -> index dict of IMDB (before `index_from`), as Keras's `get_word_index`."""
    return _sequences.word_index(SPEC, "imdb_word_index.json", path, DOWNLOADS, download)
