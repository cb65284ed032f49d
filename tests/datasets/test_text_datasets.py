"""IMDB and Reuters: Keras's preprocessing on tiny fake files, downloads from a local server."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tests.datasets import test_datasets as base

from lamina.datasets import ChecksumError, DatasetFormatError, imdb, reuters
from lamina.datasets._loader import Remote

FAKE = pathlib.Path(__file__).parents[1] / "fixtures" / "keras" / "sequence" / "datasets"
EXPECTED = json.loads((FAKE / "expected.json").read_text())

# The offline sandbox (autouse) and the local HTTP server of the MNIST tests.
Server = base.Server
isolated = base.isolated
server = base.server


def _plain(result: tuple) -> list:
    (x_train, y_train), (x_test, y_test) = result
    return [[list(s) for s in x] for x in (x_train, x_test)] + [
        [int(v) for v in y] for y in (y_train, y_test)
    ]


@pytest.mark.parametrize("module", [imdb, reuters], ids=["imdb", "reuters"])
def test_matches_keras_on_a_fake_file(module: object) -> None:
    name = module.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    for kwargs, want in zip(EXPECTED["cases"], EXPECTED[name]):
        got = module.load_data(path=FAKE, **kwargs)  # type: ignore[attr-defined]
        assert _plain(got) == want, kwargs
        assert got[0][0].dtype == object


def test_download_with_checksum_then_cache(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (FAKE / "imdb.npz").read_bytes()
    words = json.dumps({"the": 1, "movie": 2}).encode()
    table = server.serve({"imdb.npz": body})
    table["imdb_word_index.json"] = Remote(
        urls=(server.base + "imdb_word_index.json",),
        sha256=None,
        md5=hashlib.md5(words, usedforsecurity=False).hexdigest(),
    )
    server.files["imdb_word_index.json"] = words
    monkeypatch.setattr(imdb, "DOWNLOADS", table)
    first = imdb.load_data(num_words=8)
    assert _plain(first) == _plain(imdb.load_data(path=FAKE, num_words=8))
    assert imdb.get_word_index() == {"the": 1, "movie": 2}
    imdb.load_data()
    imdb.get_word_index()
    assert server.requests == ["imdb.npz", "imdb_word_index.json"]  # then from the cache


def test_checksum_mismatch_raises(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    table = server.serve({"reuters.npz": (FAKE / "reuters.npz").read_bytes()})
    table["reuters.npz"] = Remote(urls=table["reuters.npz"].urls, sha256="0" * 64)
    monkeypatch.setattr(reuters, "DOWNLOADS", table)
    with pytest.raises(ChecksumError, match="expected sha256 0000"):
        reuters.load_data()


def test_offline_without_files_says_where_it_looked() -> None:
    with pytest.raises(FileNotFoundError, match=r"imdb\.npz"):
        imdb.load_data(download=False)


class Payload:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    evil = np.empty(1, dtype=object)
    evil[0] = Payload()
    buffer = io.BytesIO()
    np.save(buffer, evil, allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "reuters.npz", "w") as archive:
        archive.writestr("x.npy", buffer.getvalue())
        archive.writestr("y.npy", buffer.getvalue())
    with pytest.raises(DatasetFormatError, match="refused"):
        reuters.load_data(path=tmp_path)


def test_maxlen_that_leaves_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="maxlen=1 leaves no sequence"):
        imdb.load_data(path=FAKE, maxlen=1)
