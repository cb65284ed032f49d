"""`lamina.utils.pad_sequences` against Keras's output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.keras_fixtures import load_fixture

from lamina.utils import pad_sequences


def test_matches_keras() -> None:
    data = load_fixture("sequence/pad_sequences")
    sequences = json.loads(str(data["sequences"]))
    for i, kwargs in enumerate(json.loads(str(data["cases"]))):
        got = pad_sequences(sequences, **kwargs)
        assert got.dtype == data[f"y{i}"].dtype, kwargs
        np.testing.assert_array_equal(got, data[f"y{i}"])


def test_items_of_a_shape_and_text() -> None:
    out = pad_sequences([np.ones((2, 3)), np.ones((1, 3))], dtype="float32")
    assert out.shape == (2, 2, 3) and out[1, 0].sum() == 0
    words = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert words.tolist() == [["a", "b"], ["<pad>", "c"]]


def test_errors_say_what_was_wrong() -> None:
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="sequence 1 is a int"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="cannot hold the padding value"):
        pad_sequences([[1]], value="x")
