"""ConvLSTM1D/2D/3D against Keras 3's outputs (scripts/keras_fixtures_conv_lstm.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lamina
from helpers import check_layer
from keras_fixtures import FIXTURES, load_fixture
from lamina import Input
from lamina.core.errors import LayerError
from lamina.layers import ConvLSTM1D, ConvLSTM2D

NAMES = sorted(f"sequence/{path.stem}" for path in (FIXTURES / "sequence").glob("conv_lstm*.npz"))


def test_every_conv_lstm_fixture_is_found() -> None:
    assert len(NAMES) == 5


@pytest.mark.parametrize("name", NAMES)
def test_conv_lstm_matches_keras(name: str) -> None:
    data = load_fixture(name)
    layer = getattr(lamina.layers, str(data["layer"]))(**json.loads(str(data["kwargs"])))
    x = torch.from_numpy(data["x"])
    symbolic = layer(Input(shape=tuple(x.shape[1:])))
    count = sum(1 for key in data if key[0] == "w" and key[1:].isdigit())
    layer.set_weights([data[f"w{i}"] for i in range(count)])
    outputs = layer(x)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    symbolic = symbolic if isinstance(symbolic, list) else [symbolic]
    for i, (got, sym) in enumerate(zip(outputs, symbolic)):
        np.testing.assert_allclose(got.detach().numpy(), data[f"y{i}"], atol=1e-5, rtol=1e-5)
        assert sym.shape == (None, *data[f"y{i}"].shape[1:])


def test_conv_lstm2d_layer_contract() -> None:
    def reference(x: np.ndarray, layer: ConvLSTM2D) -> np.ndarray:
        return layer(torch.from_numpy(x)).detach().numpy()  # shapes, config and saving checked

    check_layer(
        lambda: ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        (3, 4, 4, 1),
        reference,
        expected_shape=(None, 3, 4, 4, 2),
    )


def test_conv_lstm_channels_first_matches_channels_last() -> None:
    last = ConvLSTM1D(2, 2, return_sequences=True)
    first = ConvLSTM1D(2, 2, return_sequences=True, data_format="channels_first")
    x = torch.randn(2, 3, 5, 2)
    last(x)
    first(x.movedim(-1, 2))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(
        first(x.movedim(-1, 2)).movedim(2, -1).detach().numpy(), last(x).detach().numpy(),
        atol=1e-6,
    )  # fmt: skip


def test_conv_lstm_errors_name_the_layer() -> None:
    with pytest.raises(LayerError, match=r"ConvLSTM2D 'clstm': expected an input of shape"):
        ConvLSTM2D(2, 3, name="clstm")(Input(shape=(4, 4, 1)))
    with pytest.raises(ValueError, match=r"ConvLSTM2D: expected a positive int for filters"):
        ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match=r"expected dropout in \[0, 1\)"):
        ConvLSTM2D(2, 3, dropout=1.5)
