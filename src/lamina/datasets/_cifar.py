"""Reading CIFAR's "python version" archives without trusting their pickles.

Each batch file of ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` is a pickled
dict of a ``data`` array (one row of 3,072 bytes per image: the red, green, then blue
32x32 planes) and a list of labels. The unpickler here builds nothing but numpy arrays,
lists, dicts, numbers and strings, so a file that is not what it claims cannot run code.
The archive is read in place (members are never extracted to disk); an extracted copy
works as well.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lamina.datasets._idx import DatasetFormatError
from lamina.datasets._loader import DatasetSpec

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2 (encodes a str)
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refused {module}.{name}: a CIFAR batch holds only numpy arrays and lists"
            )
        return super().find_class(module, name)


def finder(folder_name: str, archive: str, members: Sequence[str]) -> Any:
    """A `_loader.Finder` for one CIFAR dataset: a folder counts when it holds `archive`,
    the extracted `folder_name/` with every member, or the members themselves."""

    def find(spec: DatasetSpec, folder: Path) -> tuple[list[Path] | None, str]:
        if not folder.is_dir():
            return None, "no such folder"
        if (folder / archive).is_file():
            return [folder / archive], f"found {archive}"
        for candidate in (folder / folder_name, folder):
            if all((candidate / m).is_file() for m in members):
                return [candidate / m for m in members], f"found {candidate.name}/"
        return None, "no dataset files"

    return find


def read_batches(
    spec: DatasetSpec, files: list[Path], folder_name: str, members: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Each member's dict (keys decoded to str), from the archive or the extracted files."""
    if len(files) == 1 and files[0].name.endswith((".tar.gz", ".tgz")):
        archive = files[0]
        try:
            with tarfile.open(archive, "r:gz") as tar:
                blobs = {}
                for member in members:
                    handle = tar.extractfile(f"{folder_name}/{member}")
                    if handle is None:
                        raise KeyError(member)
                    blobs[member] = handle.read()
        except (KeyError, OSError, EOFError, tarfile.TarError) as err:
            raise DatasetFormatError(
                f"{spec.name}: '{archive}' is damaged or lacks {folder_name}/{err}; expected "
                f"the members {', '.join(members)} under {folder_name}/. Delete it to "
                "download it again."
            ) from err
        sources = {m: f"{archive}:{folder_name}/{m}" for m in members}
    else:
        blobs = {m: f.read_bytes() for m, f in zip(members, files)}
        sources = {m: str(f) for m, f in zip(members, files)}
    batches = {}
    for member, blob in blobs.items():
        try:
            raw = _ArraysOnly(io.BytesIO(blob), encoding="bytes").load()
        except Exception as err:
            raise DatasetFormatError(
                f"{spec.name}: '{sources[member]}' is not a CIFAR batch ({err})."
            ) from err
        if not isinstance(raw, dict):
            raise DatasetFormatError(
                f"{spec.name}: '{sources[member]}' holds a {type(raw).__name__}, expected a "
                "dict of data and labels."
            )
        batch = {k.decode() if isinstance(k, bytes) else str(k): v for k, v in raw.items()}
        batch["_source"] = sources[member]
        batches[member] = batch
    return batches


def images_and_labels(
    spec: DatasetSpec, batch: dict[str, Any], label_key: str, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """`(images (N, 3, 32, 32) uint8, labels (N,) int64)` from one batch, checked."""
    source = batch["_source"]
    data, labels = batch.get("data"), batch.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DatasetFormatError(
            f"{spec.name}: 'data' in '{source}' is not a 2-D uint8 array; expected one row "
            "of 3072 bytes per image."
        )
    if data.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(
            f"{spec.name}: 'data' in '{source}' has shape {data.shape}, expected (N, 3072)."
        )
    if labels is None:
        raise DatasetFormatError(f"{spec.name}: '{source}' has no '{label_key}'.")
    label_array = np.asarray(labels, dtype=np.int64).reshape(-1)
    if label_array.shape != (data.shape[0],):
        raise DatasetFormatError(
            f"{spec.name}: '{label_key}' in '{source}' holds {label_array.size} labels, "
            f"expected {data.shape[0]}, one per image."
        )
    if label_array.size and (label_array.min() < 0 or label_array.max() >= classes):
        raise DatasetFormatError(
            f"{spec.name}: '{label_key}' in '{source}' holds labels outside [0, {classes})."
        )
    return data.reshape(-1, 3, 32, 32), label_array


def to_layout(x: np.ndarray) -> np.ndarray:
    """`(N, 32, 32, 3)` under `image_data_format() == "channels_last"` (Keras's rule),
    otherwise the stored `(N, 3, 32, 32)`."""
    from lamina.config import image_data_format

    return x.transpose(0, 2, 3, 1) if image_data_format() == "channels_last" else x
