"""What IMDB and Reuters share: Keras's `.npz` of word-index lists, read without trusting
its pickles, Keras's preprocessing (shuffle, start and out-of-vocabulary marks, `maxlen`,
`num_words`) and the word index JSON."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from lamina.datasets._cifar import _ArraysOnly
from lamina.datasets._idx import DatasetFormatError
from lamina.datasets._loader import DatasetSpec, Remote, locate


def finder(*names: str) -> Any:
    """A `_loader.Finder`: a folder counts when it holds every file of `names`."""

    def find(spec: DatasetSpec, folder: Path) -> tuple[list[Path] | None, str]:
        if not folder.is_dir():
            return None, "no such folder"
        if all((folder / n).is_file() for n in names):
            return [folder / n for n in names], f"found {', '.join(names)}"
        return None, "no dataset files"

    return find


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays `keys` of Keras's `.npz`; object arrays (lists of word indexes) are
    unpickled by an unpickler that builds only numpy arrays and lists."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for key in keys:
                with archive.open(f"{key}.npy") as member:
                    data = io.BytesIO(member.read())
                version = npy_format.read_magic(data)
                read_header = (
                    npy_format.read_array_header_1_0
                    if version == (1, 0)
                    else npy_format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(data)
                if dtype.hasobject:
                    array = _ArraysOnly(data).load()
                else:
                    count = int(np.prod(shape))
                    array = np.frombuffer(data.read(), dtype=dtype, count=count)
                    array = array.reshape(shape, order="F" if fortran else "C")
                if not isinstance(array, np.ndarray):
                    raise DatasetFormatError(f"'{path}': {key} is not an array.")
                arrays[key] = array
    except (KeyError, zipfile.BadZipFile, ValueError, pickle.UnpicklingError, EOFError) as error:
        raise DatasetFormatError(
            f"'{path}' is not Keras's {path.name} with the arrays {list(keys)}: {error}"
        ) from error
    return arrays


def prepare(
    x: list[np.ndarray],
    labels: list[np.ndarray],
    *,
    seed: int,
    start_char: int | None,
    oov_char: int | None,
    index_from: int,
    maxlen: int | None,
    num_words: int | None,
    skip_top: int,
    name: str,
) -> tuple[list[list[list[int]]], list[np.ndarray]]:
    """Keras's steps, in its order, on one or more splits (`x[i]`, `labels[i]`): each split
    shuffled by one generator seeded once, indexes shifted by `index_from` after an optional
    `start_char`, sequences of `maxlen` or more dropped, and indexes outside
    `[skip_top, num_words)` replaced by `oov_char` (or removed when it is `None`)."""
    rng = np.random.RandomState(seed)
    sequences: list[list[list[int]]] = []
    kept_labels: list[np.ndarray] = []
    for xs, ys in zip(x, labels):
        order = np.arange(len(xs))
        rng.shuffle(order)
        xs, ys = xs[order], ys[order]
        shifted = [
            ([start_char] if start_char is not None else []) + [int(w) + index_from for w in s]
            for s in xs
        ]
        if maxlen:
            keep = [i for i, s in enumerate(shifted) if len(s) < maxlen]
            if not keep:
                raise ValueError(
                    f"{name}: maxlen={maxlen} leaves no sequence (all are at least that long); "
                    "raise maxlen."
                )
            shifted, ys = [shifted[i] for i in keep], ys[keep]
        sequences.append(shifted)
        kept_labels.append(ys)
    every = [s for split in sequences for s in split]
    top = num_words or max((max(s) for s in every if s), default=0)
    result = []
    for split in sequences:
        if oov_char is not None:
            split = [[w if skip_top <= w < top else oov_char for w in s] for s in split]
        else:
            split = [[w for w in s if skip_top <= w < top] for s in split]
        result.append(split)
    return result, kept_labels


def as_object_array(sequences: list[list[int]]) -> np.ndarray:
    """Keras's layout: a 1-D object array of Python lists."""
    out = np.empty(len(sequences), dtype=object)
    out[:] = sequences
    return out


def word_index(
    spec: DatasetSpec,
    file_name: str,
    path: Any,
    remotes: Mapping[str, Remote],
    download: bool,
) -> dict[str, int]:
    """The word -> index JSON, found or downloaded as the dataset's other files."""
    (found,) = locate(
        spec,
        path,
        remotes={file_name: remotes[file_name]},
        download_missing=download,
        find=finder(file_name),
    )
    with open(found, encoding="utf-8") as handle:
        index = json.load(handle)
    if not isinstance(index, dict):
        raise DatasetFormatError(f"'{found}' holds a {type(index).__name__}, expected a dict.")
    return index
