"""Tests for lamina.datasets: IDX parsing, search order, download, checksums, the subset.

No test touches the network: downloads go to an http.server on 127.0.0.1, and every other
download address is pointed at a closed local port.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lamina.datasets import (
    ChecksumError,
    DatasetFormatError,
    DatasetNotFoundError,
    IDXFormatError,
    _loader,
    cache_dir,
    fashion_mnist,
    mnist,
    read_idx,
)
from lamina.datasets._loader import Remote

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# The real download tables, saved before the autouse fixture swaps them for offline ones.
OFFICIAL_DOWNLOADS = {"fashion_mnist": fashion_mnist.DOWNLOADS, "mnist": mnist.DOWNLOADS}
_TYPE_CODES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


# ---------------------------------------------------------------------------------------------
# Reference files, built with NumPy independently of the parser under test.


def idx_bytes(array: np.ndarray, dtype: str = "u1") -> bytes:
    """The IDX encoding of ``array`` as ``dtype``, following the format's published spec."""
    magic = bytes([0, 0, _TYPE_CODES[dtype], array.ndim])
    return magic + np.asarray(array.shape, dtype=">u4").tobytes() + array.astype(dtype).tobytes()


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    return x, y


def fake_dataset(seed: int, n_train: int = 6, n_test: int = 3) -> _loader.LoadedData:
    return fake_split(n_train, seed), fake_split(n_test, seed + 1000)


def idx_files(data: _loader.LoadedData, *, gz: bool) -> dict[str, bytes]:
    (x_train, y_train), (x_test, y_test) = data
    files = {}
    for name, array in zip(IDX_NAMES, (x_train, y_train, x_test, y_test)):
        raw = idx_bytes(array)
        files[name + ".gz" if gz else name] = gzip.compress(raw) if gz else raw
    return files


def write_dataset(folder: Path, data: _loader.LoadedData, *, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in idx_files(data, gz=gz).items():
        (folder / name).write_bytes(content)
    return folder


def assert_same(got: _loader.LoadedData, want: _loader.LoadedData) -> None:
    for got_split, want_split in zip(got, want):
        for g, w in zip(got_split, want_split):
            assert g.dtype == np.uint8
            np.testing.assert_array_equal(g, w)


def closed_port_url(name: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real HOME, cache, LAMINA_DATA, system folder, proxy or download address."""
    for var in ("LAMINA_DATA", "XDG_CACHE_HOME", "http_proxy", "HTTP_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_loader, "SYSTEM_DATA_DIR", tmp_path / "system")
    monkeypatch.setattr(_loader, "DOWNLOAD_TIMEOUT_S", 5.0)
    for module in (fashion_mnist, mnist):
        offline = {
            name: Remote(urls=(closed_port_url(name),), sha256=remote.sha256)
            for name, remote in module.DOWNLOADS.items()
        }
        monkeypatch.setattr(module, "DOWNLOADS", offline)
    return tmp_path


class Server:
    """A local HTTP server that serves ``files`` by name and counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        files, requests = self.files, self.requests

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

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def serve(self, files: dict[str, bytes]) -> dict[str, Remote]:
        """Serves ``files`` and returns the download table that points at them."""
        self.files.update(files)
        return {
            name: Remote(urls=(self.base + name,), sha256=hashlib.sha256(body).hexdigest())
            for name, body in files.items()
        }


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join()


# ---------------------------------------------------------------------------------------------
# IDX parsing.


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("dtype", "shape"),
    [("u1", (7, 28, 28)), ("u1", (11,)), ("i1", (3, 4)), (">i2", (5,)), (">i4", (2, 3)),
     (">f4", (4,)), (">f8", (2, 2, 2)), ("u1", (0, 28, 28))],
)  # fmt: skip
def test_read_idx_matches_numpy_reference(
    tmp_path: Path, gz: bool, dtype: str, shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(0)
    want = (rng.standard_normal(shape) * 100).astype(dtype)
    raw = idx_bytes(want, dtype)
    path = tmp_path / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    got = read_idx(path)
    assert got.shape == shape
    assert got.dtype == np.dtype(dtype).newbyteorder("=")
    assert got.flags.writeable
    np.testing.assert_array_equal(got, want)


def test_read_idx_rejects_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "not-idx"
    path.write_bytes(b"\x00\x00\x07\x01" + b"\x00" * 20)
    with pytest.raises(IDXFormatError, match=r"not-idx.*magic number 0x00000701"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    with pytest.raises(IDXFormatError, match="not an IDX file"):
        read_idx(path)


@pytest.mark.parametrize(
    ("cut", "message"),
    [(2, "at least a 4-byte"), (9, "inside its header"), (16 + 100, "only 100 bytes follow")],
)
def test_read_idx_rejects_truncated_file(tmp_path: Path, cut: int, message: str) -> None:
    raw = idx_bytes(np.zeros((2, 28, 28), np.uint8))[:cut]
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(raw)
    with pytest.raises(IDXFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(3, np.uint8)) + b"\x00")
    with pytest.raises(IDXFormatError, match="past the end"):
        read_idx(path)


def test_read_idx_rejects_truncated_gzip(tmp_path: Path) -> None:
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8) % 7))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(IDXFormatError, match=r"cut\.gz.*damaged or truncated gzip"):
        read_idx(path)


def test_format_error_names_file_with_wrong_shape(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path / "d", fake_dataset(1))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(4))))
    with pytest.raises(DatasetFormatError, match=r"y_test from '.*t10k-labels.*' has shape \(4,\)"):
        fashion_mnist.load_data(folder, download=False)


# ---------------------------------------------------------------------------------------------
# Search order.


def test_search_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    places = {
        "path": isolated / "given",
        "env": isolated / "env",
        "cache": isolated / "home" / ".cache" / "lamina" / "datasets" / "fashion-mnist",
        "system": isolated / "system" / "fashion-mnist",
    }
    data = {name: fake_dataset(seed) for seed, name in enumerate(places)}
    for name, folder in places.items():
        write_dataset(folder, data[name], gz=name != "system")
    monkeypatch.setenv("LAMINA_DATA", str(places["env"]))

    assert_same(fashion_mnist.load_data(places["path"], download=False), data["path"])
    assert_same(fashion_mnist.load_data(download=False), data["env"])
    monkeypatch.delenv("LAMINA_DATA")
    assert_same(fashion_mnist.load_data(download=False), data["cache"])
    # A path= folder without the files does not stop the search.
    empty = isolated / "empty"
    empty.mkdir()
    assert_same(fashion_mnist.load_data(empty, download=False), data["cache"])
    for path in places["cache"].iterdir():
        path.unlink()
    assert_same(fashion_mnist.load_data(download=False), data["system"])


def test_lamina_data_subfolder(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fashion, digits = fake_dataset(1), fake_dataset(2)
    write_dataset(isolated / "data" / "fashion-mnist", fashion)
    write_dataset(isolated / "data" / "mnist", digits, gz=False)
    monkeypatch.setenv("LAMINA_DATA", str(isolated / "data"))
    assert_same(fashion_mnist.load_data(download=False), fashion)
    assert_same(mnist.load_data(download=False), digits)


def test_cache_honours_xdg_cache_home(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir() == isolated / "home" / ".cache" / "lamina" / "datasets"
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated / "xdg"))
    assert cache_dir() == isolated / "xdg" / "lamina" / "datasets"
    data = fake_dataset(3)
    write_dataset(isolated / "xdg" / "lamina" / "datasets" / "fashion-mnist", data)
    assert_same(fashion_mnist.load_data(download=False), data)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir() == isolated / "home" / ".cache" / "lamina" / "datasets"


def test_mnist_reads_keras_npz(tmp_path: Path) -> None:
    (x_train, y_train), (x_test, y_test) = data = fake_dataset(4)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    assert_same(mnist.load_data(tmp_path, download=False), data)


def test_path_must_be_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "mnist.npz"
    file.write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=rf"received the file '{file}'.*path='{tmp_path}'"):
        mnist.load_data(file)


# ---------------------------------------------------------------------------------------------
# Download.


def test_download_fills_cache_atomically(
    server: Server, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = fake_dataset(5)
    monkeypatch.setattr(fashion_mnist, "DOWNLOADS", server.serve(idx_files(data, gz=True)))

    assert_same(fashion_mnist.load_data(), data)
    cache = cache_dir() / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(n + ".gz" for n in IDX_NAMES)
    assert len(server.requests) == 4
    # The second call is served from the cache.
    assert_same(fashion_mnist.load_data(), data)
    assert len(server.requests) == 4


def test_download_fetches_only_missing_files_and_tries_next_mirror(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = fake_dataset(6)
    files = idx_files(data, gz=True)
    table = server.serve(files)
    # The first mirror answers 404; the second one works.
    table = {n: Remote(urls=(server.base + "missing/" + n, *r.urls), sha256=r.sha256)
             for n, r in table.items()}  # fmt: skip
    monkeypatch.setattr(fashion_mnist, "DOWNLOADS", table)
    cache = cache_dir() / "fashion-mnist"
    cache.mkdir(parents=True)
    (cache / "train-images-idx3-ubyte.gz").write_bytes(files["train-images-idx3-ubyte.gz"])

    assert_same(fashion_mnist.load_data(), data)
    assert "train-images-idx3-ubyte.gz" not in server.requests
    assert len(server.requests) == 6


def test_checksum_mismatch_raises_and_leaves_no_partial_file(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    (_, y), _ = fake_dataset(7)
    good = gzip.compress(idx_bytes(y))
    expected = hashlib.sha256(good).hexdigest()
    corrupted = bytearray(good)
    corrupted[len(corrupted) // 2] ^= 0xFF
    server.files["mnist.npz"] = bytes(corrupted)
    url = server.base + "mnist.npz"
    monkeypatch.setattr(mnist, "DOWNLOADS", {"mnist.npz": Remote(urls=(url,), sha256=expected)})

    with pytest.raises(ChecksumError) as info:
        mnist.load_data()
    received = hashlib.sha256(corrupted).hexdigest()
    assert (info.value.url, info.value.expected, info.value.received) == (url, expected, received)
    for part in (url, expected, received):
        assert part in str(info.value)
    cache = cache_dir() / "mnist"
    assert list(cache.iterdir()) == []


def test_offline_error_lists_places_and_remedies(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_DATA", str(isolated / "env"))
    partial = write_dataset(isolated / "given", fake_dataset(8))
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist.load_data(partial)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for expected in (
        f"path= argument: {partial} (incomplete, missing t10k-labels-idx1-ubyte[.gz])",
        f"$LAMINA_DATA: {isolated / 'env'} (no such folder)",
        f"$LAMINA_DATA subfolder: {isolated / 'env' / 'fashion-mnist'}",
        f"user cache: {cache_dir() / 'fashion-mnist'}",
        f"system data folder: {isolated / 'system' / 'fashion-mnist'}",
        "download: " + fashion_mnist.DOWNLOADS["train-images-idx3-ubyte.gz"].urls[0] + " failed",
        "pass path= a folder",
        "set LAMINA_DATA",
        "apt-get install dataset-fashion-mnist",
        "fallback_to_subset=True",
    ):
        assert expected in message
    assert len(info.value.tried) == 6
    # Nothing half-downloaded was left behind.
    assert list((cache_dir() / "fashion-mnist").iterdir()) == []

    monkeypatch.delenv("LAMINA_DATA")
    with pytest.raises(DatasetNotFoundError, match=r"(?s)\$LAMINA_DATA: not set.*download=False"):
        mnist.load_data(download=False)


def test_official_download_tables_are_well_formed() -> None:
    for table in OFFICIAL_DOWNLOADS.values():
        for name, remote in table.items():
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0
            assert remote.urls and all(url.endswith("/" + name) for url in remote.urls)
    assert set(OFFICIAL_DOWNLOADS["fashion_mnist"]) == {n + ".gz" for n in IDX_NAMES}
    assert set(OFFICIAL_DOWNLOADS["mnist"]) == {"mnist.npz"}


# ---------------------------------------------------------------------------------------------
# The shipped subset.


def test_subset_shapes_dtypes_and_labels() -> None:
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_subset()
    assert (x_train.shape, y_train.shape) == ((2000, 28, 28), (2000,))
    assert (x_test.shape, y_test.shape) == ((500, 28, 28), (500,))
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [200] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [50] * 10)
    assert x_train.max() == 255 and x_train.min() == 0
    data_dir = Path(fashion_mnist.__file__).parent / "data"
    assert (data_dir / fashion_mnist.SUBSET_FILE).stat().st_size < 1_500_000
    assert "Zalando SE" in (data_dir / "LICENSE-fashion-mnist.txt").read_text()


def test_fallback_to_subset(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(DatasetNotFoundError):
        fashion_mnist.load_data(download=False)
    with caplog.at_level(logging.WARNING, logger="lamina.datasets"):
        got = fashion_mnist.load_data(download=False, fallback_to_subset=True)
    assert_same(got, fashion_mnist.load_subset())
    assert "subset" in caplog.text


DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_subset_matches_full_dataset() -> None:
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(DEBIAN, download=False)
    assert (x_train.shape, x_test.shape) == ((60000, 28, 28), (10000, 28, 28))
    subset_file = Path(fashion_mnist.__file__).parent / "data" / fashion_mnist.SUBSET_FILE
    with np.load(subset_file) as subset:
        train_idx, test_idx = subset["train_indices"], subset["test_indices"]
        np.testing.assert_array_equal(subset["x_train"], x_train[train_idx])
        np.testing.assert_array_equal(subset["y_train"], y_train[train_idx])
        np.testing.assert_array_equal(subset["x_test"], x_test[test_idx])
        np.testing.assert_array_equal(subset["y_test"], y_test[test_idx])
    for label in range(10):
        chosen = train_idx[y_train[train_idx] == label]
        np.testing.assert_array_equal(chosen, np.flatnonzero(y_train == label)[:200])
