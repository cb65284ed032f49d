"""Reuters newswires: 11,228 newswires as lists of word indexes, labelled with one of 46
topics, in Keras's preprocessed form."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lamina.datasets import _sequences
from lamina.datasets._loader import DatasetSpec, Remote, locate

__all__ = ["DOWNLOADS", "SPEC", "get_word_index", "load_data"]

SPEC = DatasetSpec(name="Reuters", subdir="reuters", files_hint="reuters.npz")

# The files, addresses and checksums of keras/src/datasets/reuters.py (Keras pins only an
# MD5 for the word index). Tests patch this table to serve files from a local server.
_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DOWNLOADS: dict[str, Remote] = {
    "reuters.npz": Remote(
        urls=(_ORIGIN + "reuters.npz",),
        sha256="d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
    ),
    "reuters_word_index.json": Remote(
        urls=(_ORIGIN + "reuters_word_index.json",),
        sha256=None,
        md5="4d44cc38712099c9e383dc6e5f11a921",
    ),
}


def load_data(
    path: str | os.PathLike[str] | None = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    *,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Loads Reuters as ``keras.datasets.reuters.load_data`` does (same arguments and
    results): one shuffled set, split at ``1 - test_split``.

    Found or downloaded as `lamina.datasets.imdb` (folder ``reuters``, file
    ``reuters.npz``); the arguments are IMDB's, plus `test_split`, the fraction kept for the
    test split.

    Example:
        >>> from lamina.datasets import reuters
        >>> (x_train, y_train), _ = reuters.load_data(num_words=10000)  # doctest: +SKIP
        >>> len(x_train)  # doctest: +SKIP
        8982
    """
    remotes = {"reuters.npz": DOWNLOADS["reuters.npz"]}
    (found,) = locate(
        SPEC,
        path,
        remotes=remotes,
        download_missing=download,
        find=_sequences.finder("reuters.npz"),
    )
    arrays = _sequences.read_npz(found, ("x", "y"))
    (xs,), (labels,) = _sequences.prepare(
        [arrays["x"]],
        [arrays["y"]],
        seed=seed,
        start_char=start_char,
        oov_char=oov_char,
        index_from=index_from,
        maxlen=maxlen,
        num_words=num_words,
        skip_top=skip_top,
        name="reuters.load_data",
    )
    split = int(len(xs) * (1 - test_split))
    x = _sequences.as_object_array(xs)
    return (x[:split], labels[:split]), (x[split:], labels[split:])


def get_word_index(path: Any = None, *, download: bool = True) -> dict[str, int]:
    """The word -> index dict of Reuters (before `index_from`), as Keras's `get_word_index`."""
    return _sequences.word_index(SPEC, "reuters_word_index.json", path, DOWNLOADS, download)
