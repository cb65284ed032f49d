"""Finding a dataset's files on disk, or downloading them into the cache.

Every loader searches the same places, in this order, and takes the first folder that holds a
complete set of files:

1. the ``path=`` argument (a folder);
2. ``$LAMINA_DATA`` and its ``<dataset>`` subfolder (``mnist``, ``fashion-mnist``);
3. the user cache, ``$XDG_CACHE_HOME/lamina/datasets/<dataset>`` (``~/.cache/...`` when
   ``XDG_CACHE_HOME`` is unset);
4. the system data folder, ``/usr/share/datasets/<dataset>``, where Debian's
   ``dataset-fashion-mnist`` package installs its files;
5. a download from the dataset's official addresses into the user cache, each file checked
   against a pinned SHA-256.

When nothing is found, :class:`DatasetNotFoundError` lists every place tried and how to get
the files.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lamina.datasets._fetch import ChecksumError, download
from lamina.datasets._idx import DatasetFormatError, read_idx

__all__ = [
    "DatasetNotFoundError",
    "DatasetSpec",
    "LoadedData",
    "Remote",
    "cache_dir",
    "load",
    "locate",
]

Split = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]
LoadedData = tuple[Split, Split]

# Module-level so tests (and unusual installs) can point them elsewhere.
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
DOWNLOAD_TIMEOUT_S = 60.0

# The four files of the MNIST layout, in the order (x_train, y_train, x_test, y_test).
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetNotFoundError(FileNotFoundError):
    """No complete copy of a dataset was found and none could be downloaded.

    Attributes:
        tried: One line per place looked at, with what was found there.
    """

    def __init__(self, message: str, tried: Sequence[str]) -> None:
        super().__init__(message)
        self.tried = list(tried)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Remote:
    """Where to download one file from, and the SHA-256 it must have.

    Attributes:
        urls: Addresses to try in order; the next one is tried when a transfer fails. A
            checksum mismatch is never retried: it raises at once.
        sha256: The expected SHA-256 of the file, as hex; `None` where the publisher pins
            only an MD5.
        md5: The expected MD5, checked when `sha256` is `None` (Keras's word indexes of
            IMDB and Reuters: it catches a damaged transfer, not a forged file).
    """

    urls: tuple[str, ...]
    sha256: str | None
    md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """What a loader looks for.

    Attributes:
        name: Human name used in messages, e.g. ``"Fashion-MNIST"``.
        subdir: Folder name under ``$LAMINA_DATA``, the cache and the system data folder.
        npz_name: File name of a Keras-style ``.npz`` copy (keys ``x_train``, ``y_train``,
            ``x_test``, ``y_test``), or ``None`` if the dataset has no such form.
        apt_package: Debian package that installs the files, or ``None``.
        extra_hint: One more line for the "how to get the files" list, or ``None``.
        files_hint: What a folder must hold, for the "how to get the files" list, when the
            dataset is not in the ``.npz`` or IDX layout (CIFAR's archives).
    """

    name: str
    subdir: str
    npz_name: str | None = None
    apt_package: str | None = None
    extra_hint: str | None = None
    files_hint: str | None = None


Finder = Callable[[DatasetSpec, Path], tuple[list[Path] | None, str]]
"""Looks in one folder: the files of a complete copy (or ``None``) and a note for messages."""


def cache_dir() -> Path:
    """Returns lamina's dataset cache folder, honouring ``$XDG_CACHE_HOME``.

    Returns:
        ``$XDG_CACHE_HOME/lamina/datasets`` when that variable holds an absolute path (the XDG
        spec says to ignore relative ones), else ``~/.cache/lamina/datasets``.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "lamina" / "datasets"


def load(
    spec: DatasetSpec,
    path: str | os.PathLike[str] | None,
    *,
    remotes: Mapping[str, Remote],
    download_missing: bool,
) -> LoadedData:
    """Finds ``spec``'s files (see the module docstring for the order) and loads them.

    Args:
        spec: The dataset.
        path: The ``path=`` argument of the public loader, or ``None``.
        remotes: File name -> where to download it. The names must form one complete layout:
            either ``spec.npz_name`` alone, or the four IDX files each with ``.gz``.
        download_missing: Whether step 5 (download) may run.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as ``uint8`` arrays.

    Raises:
        DatasetNotFoundError: If no place holds the files and the download failed or was
            disabled.
        NotADirectoryError: If ``path`` is an existing file rather than a folder.
        ChecksumError: If a download does not match its pinned SHA-256.
        DatasetFormatError: If a file found is damaged, or holds arrays of the wrong shape.
    """
    return _read(spec, locate(spec, path, remotes=remotes, download_missing=download_missing))


def locate(
    spec: DatasetSpec,
    path: str | os.PathLike[str] | None,
    *,
    remotes: Mapping[str, Remote],
    download_missing: bool,
    find: Finder | None = None,
) -> list[Path]:
    """The files of the first complete copy of ``spec``'s dataset, searched and downloaded
    as :func:`load` does; ``find`` looks in one folder (default: the ``.npz`` or IDX files).
    """
    find = find or _find_files
    tried: list[str] = []
    for label, folder in _search_folders(spec, path):
        if folder is None:
            tried.append(f"{label}: not set")
            continue
        found, note = find(spec, folder)
        tried.append(f"{label}: {folder} ({note})")
        if found is not None:
            return found

    cache = cache_dir() / spec.subdir
    if not download_missing:
        tried.append("download: skipped (download=False)")
        raise _not_found(spec, tried, remotes, cache)

    for name, remote in remotes.items():
        if _existing(cache, name) is not None:
            continue
        errors = []
        for url in remote.urls:
            try:
                download(
                    url,
                    cache / name,
                    sha256=remote.sha256,
                    md5=remote.md5,
                    timeout=DOWNLOAD_TIMEOUT_S,
                )
                break
            except ChecksumError:
                raise
            except OSError as err:  # urllib.error.URLError included
                errors.append(f"{url} failed: {_describe(err)}")
                if isinstance(err, urllib.error.HTTPError):
                    err.close()  # it holds the open connection
        else:
            tried.append("download: " + "; ".join(errors or ["no URL configured"]))
            raise _not_found(spec, tried, remotes, cache)

    found, note = find(spec, cache)
    if found is None:
        tried.append(f"download into {cache}: still incomplete afterwards ({note})")
        raise _not_found(spec, tried, remotes, cache)
    return found


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err) or type(err).__name__


def _search_folders(
    spec: DatasetSpec, path: str | os.PathLike[str] | None
) -> list[tuple[str, Path | None]]:
    """Where to look, as (label, folder); a ``None`` folder is a place that is not set."""
    folders: list[tuple[str, Path | None]] = []
    if path is not None:
        given = Path(path).expanduser()
        if given.is_file():
            raise NotADirectoryError(
                f"{spec.name}: path= must be a folder holding the dataset's files; received "
                f"the file '{given}'. Pass its folder instead: path='{given.parent}'."
            )
        folders.append(("path= argument", given))
    env = os.environ.get("LAMINA_DATA")
    if env:
        root = Path(env).expanduser()
        folders.append(("$LAMINA_DATA", root))
        folders.append(("$LAMINA_DATA subfolder", root / spec.subdir))
    else:
        folders.append(("$LAMINA_DATA", None))
    folders.append(("user cache", cache_dir() / spec.subdir))
    folders.append(("system data folder", SYSTEM_DATA_DIR / spec.subdir))
    return folders


def _existing(folder: Path, name: str) -> Path | None:
    """The file ``name`` in ``folder``, uncompressed or gzipped, whichever exists first."""
    stem = name.removesuffix(".gz")
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find_files(spec: DatasetSpec, folder: Path) -> tuple[list[Path] | None, str]:
    """A complete set of files in ``folder`` (one ``.npz`` or four IDX files), and a note."""
    if not folder.is_dir():
        return None, "no such folder"
    if spec.npz_name is not None and (folder / spec.npz_name).is_file():
        return [folder / spec.npz_name], f"found {spec.npz_name}"
    idx = [_existing(folder, name) for name in IDX_FILES]
    present = [p for p in idx if p is not None]
    if len(present) == len(IDX_FILES):
        return present, "found the IDX files"
    if not present:
        return None, "no dataset files"
    missing = [name for name, p in zip(IDX_FILES, idx) if p is None]
    return None, "incomplete, missing " + ", ".join(f"{m}[.gz]" for m in missing)


def _read(spec: DatasetSpec, files: list[Path]) -> LoadedData:
    if len(files) == 1:
        arrays = _read_npz(files[0])
        sources = files * len(_NPZ_KEYS)
    else:
        arrays = tuple(read_idx(p) for p in files)
        sources = files
    for array, source, key in zip(arrays, sources, _NPZ_KEYS):
        if array.dtype != np.uint8:
            raise DatasetFormatError(
                f"{spec.name}: {key} from '{source}' has dtype {array.dtype}, expected uint8."
            )
    for i in (0, 2):
        (x, x_src), (y, y_src) = (arrays[i], sources[i]), (arrays[i + 1], sources[i + 1])
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetFormatError(
                f"{spec.name}: {_NPZ_KEYS[i]} from '{x_src}' has shape {x.shape}, expected "
                "(N, 28, 28)."
            )
        if y.shape != (x.shape[0],):
            raise DatasetFormatError(
                f"{spec.name}: {_NPZ_KEYS[i + 1]} from '{y_src}' has shape {y.shape}, expected "
                f"({x.shape[0]},) to match the {x.shape[0]} images in '{x_src}'."
            )
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in _NPZ_KEYS if k not in data.files]
        if missing:
            raise DatasetFormatError(
                f"'{path}' lacks the arrays {missing}; it holds {sorted(data.files)}, expected "
                f"{list(_NPZ_KEYS)}."
            )
        return tuple(data[k] for k in _NPZ_KEYS)


def _not_found(
    spec: DatasetSpec, tried: list[str], remotes: Mapping[str, Remote], cache: Path
) -> DatasetNotFoundError:
    if spec.files_hint is not None:
        wanted = spec.files_hint
    elif spec.npz_name is not None and spec.npz_name in remotes:
        wanted = f"{spec.npz_name} or the four IDX files"
    else:
        wanted = ", ".join(f"{n}.gz" for n in IDX_FILES) + " (gzipped or not)"
    how = [
        f"pass path= a folder holding {wanted}",
        f"or set LAMINA_DATA to such a folder, or to a folder with a '{spec.subdir}' subfolder",
    ]
    if spec.apt_package:
        how.append(
            f"or on Debian/Ubuntu: sudo apt-get install {spec.apt_package} "
            f"(installs into {SYSTEM_DATA_DIR / spec.subdir})"
        )
    for remote in remotes.values():
        if remote.urls:
            how.append(f"or download {remote.urls[0]} into {cache} (sha256 {remote.sha256})")
    if spec.extra_hint:
        how.append(spec.extra_hint)
    message = (
        f"{spec.name} not found. Looked in:\n"
        + "".join(f"  - {line}\n" for line in tried)
        + "To get the files:\n"
        + "".join(f"  - {line}\n" for line in how)
    )
    return DatasetNotFoundError(message.rstrip("\n"), tried)
