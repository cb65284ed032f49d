"""CIFAR-10 and CIFAR-100 loaders, offline: tiny fake archives in the real format, served
by an http.server on 127.0.0.1 or put in a folder."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lamina import config
from lamina.datasets import (
    ChecksumError,
    DatasetFormatError,
    DatasetNotFoundError,
    _loader,
    cifar10,
    cifar100,
)
from lamina.datasets._loader import Remote


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real HOME, cache, LAMINA_DATA, system folder, proxy or download address."""
    for var in ("LAMINA_DATA", "XDG_CACHE_HOME", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_loader, "SYSTEM_DATA_DIR", tmp_path / "system")
    monkeypatch.setattr(_loader, "DOWNLOAD_TIMEOUT_S", 5.0)
    for module in (cifar10, cifar100):
        monkeypatch.setattr(module, "DOWNLOADS", {module.ARCHIVE: Remote((), "0" * 64)})
    return tmp_path


@pytest.fixture
def serve() -> Iterator[tuple[dict[str, bytes], list[str], str]]:
    """(files by name, the names requested, the base address) of a local HTTP server."""
    files: dict[str, bytes] = {}
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            requests.append(name)
            if name not in files:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(files[name])))
            self.end_headers()
            self.wfile.write(files[name])

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield files, requests, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def batch(n: int, seed: int, **labels: list[int]) -> bytes:
    """A pickled batch as CIFAR's files hold it: bytes keys, a (n, 3072) uint8 `data`."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    content = {b"batch_label": b"fake", b"data": data, b"filenames": [b"x.png"] * n}
    content.update({k.encode(): v for k, v in labels.items()})
    return pickle.dumps(content, protocol=2)


def archive(folder: str, members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def cifar10_members() -> dict[str, bytes]:
    members = {f"data_batch_{i}": batch(2, i, labels=[i, 9 - i]) for i in range(1, 6)}
    members["test_batch"] = batch(3, 0, labels=[0, 1, 2])
    # The real files were written by Python 2's numpy, which named numpy.core.
    old = members["data_batch_2"].replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    members["data_batch_2"] = old
    return members


def cifar100_members() -> dict[str, bytes]:
    return {
        "train": batch(4, 1, fine_labels=[0, 99, 5, 6], coarse_labels=[0, 19, 1, 1]),
        "test": batch(2, 2, fine_labels=[7, 8], coarse_labels=[2, 3]),
    }


def publish(module, files, base: str, body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    files[module.ARCHIVE] = body
    remote = Remote((base + module.ARCHIVE,), hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(module, "DOWNLOADS", {module.ARCHIVE: remote})


def test_cifar10_downloads_once_and_has_keras_shapes_and_layout(
    serve: tuple[dict[str, bytes], list[str], str],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files, requests, base = serve
    members = cifar10_members()
    publish(cifar10, files, base, archive(cifar10.FOLDER, members), monkeypatch)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (3, 32, 32, 3) and y_test.dtype == np.uint8
    assert y_train[:, 0].tolist() == [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]
    first = pickle.loads(members["data_batch_1"], encoding="bytes")[b"data"]
    # Row layout: the red plane, then green, then blue, each 32x32 row-major.
    assert x_train[0, 3, 5, 2] == first[0, 2 * 1024 + 3 * 32 + 5]
    cached = isolated / "home" / ".cache" / "lamina" / "datasets" / "cifar10" / cifar10.ARCHIVE
    assert cached.is_file() and requests == [cifar10.ARCHIVE]
    (again, _), _ = cifar10.load_data()
    assert requests == [cifar10.ARCHIVE] and np.array_equal(again, x_train)
    try:
        config.set_image_data_format("channels_first")
        (x_first, _), _ = cifar10.load_data()
    finally:
        config.set_image_data_format("channels_last")
    assert x_first.shape == (10, 3, 32, 32)


def test_cifar100_fine_and_coarse_from_an_extracted_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data" / cifar100.FOLDER
    folder.mkdir(parents=True)
    for name, body in cifar100_members().items():
        (folder / name).write_bytes(body)
    (x_train, y_train), (_, y_test) = cifar100.load_data(path=tmp_path / "data")
    assert x_train.shape == (4, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (4, 1) and y_train.dtype == np.int64  # as Keras returns them
    assert y_train[:, 0].tolist() == [0, 99, 5, 6] and y_test[:, 0].tolist() == [7, 8]
    (_, coarse), _ = cifar100.load_data("coarse", path=folder)
    assert coarse[:, 0].tolist() == [0, 19, 1, 1]
    with pytest.raises(ValueError, match=r"expected label_mode 'fine' or 'coarse', received 'x'"):
        cifar100.load_data("x", path=folder)


def test_cifar100_archive_download_and_checksum_mismatch(
    serve: tuple[dict[str, bytes], list[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files, _, base = serve
    body = archive(cifar100.FOLDER, cifar100_members())
    publish(cifar100, files, base, body, monkeypatch)
    (x_train, _), _ = cifar100.load_data()
    assert x_train.shape == (4, 32, 32, 3)
    files[cifar10.ARCHIVE] = body
    wrong = Remote((base + cifar10.ARCHIVE,), "1" * 64)
    monkeypatch.setattr(cifar10, "DOWNLOADS", {cifar10.ARCHIVE: wrong})
    with pytest.raises(ChecksumError, match="expected sha256 1111"):
        cifar10.load_data()


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.getcwd, ())


def test_pickles_that_would_run_code_are_refused(tmp_path: Path) -> None:
    members = cifar10_members()
    members["test_batch"] = pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2)
    (tmp_path / cifar10.ARCHIVE).write_bytes(archive(cifar10.FOLDER, members))
    with pytest.raises(DatasetFormatError, match=r"test_batch' is not a CIFAR batch \(refused"):
        cifar10.load_data(path=tmp_path)


def test_bad_batches_name_the_file(tmp_path: Path) -> None:
    members = cifar10_members()
    members["data_batch_3"] = batch(2, 0, labels=[0, 10])
    (tmp_path / cifar10.ARCHIVE).write_bytes(archive(cifar10.FOLDER, members))
    with pytest.raises(DatasetFormatError, match=r"data_batch_3' holds labels outside \[0, 10\)"):
        cifar10.load_data(path=tmp_path)
    del members["test_batch"]
    (tmp_path / cifar10.ARCHIVE).write_bytes(archive(cifar10.FOLDER, members))
    with pytest.raises(DatasetFormatError, match=r"is damaged or lacks cifar-10-batches-py/"):
        cifar10.load_data(path=tmp_path)


def test_offline_error_says_what_to_put_where() -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        cifar10.load_data(download=False)
    message = str(info.value)
    assert "CIFAR-10 not found" in message
    assert "cifar-10-python.tar.gz or its extracted cifar-10-batches-py/ folder" in message
