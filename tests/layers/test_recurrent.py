"""Recurrent layers against Keras's fixtures, torch's modules and their own contracts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.helpers import check_layer
from tests.keras_fixtures import FIXTURES, load_fixture

import lamina.layers
from lamina import Input, Model
from lamina.core.errors import LayerError
from lamina.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    Embedding,
    GRUCell,
    LSTMCell,
    Masking,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
    TimeDistributed,
)

WRAPPED = ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed")


def _layer_of(name: str) -> str:
    with np.load(FIXTURES / "sequence" / f"{name}.npz") as data:
        return str(data["layer"]) if "layer" in data else ""


RECURRENT = [
    p.stem for p in sorted((FIXTURES / "sequence").glob("*.npz")) if _layer_of(p.stem) in WRAPPED
]


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("fused", [True, False])
def test_matches_keras(name: str, fused: bool) -> None:
    data = load_fixture(f"sequence/{name}")
    kwargs = json.loads(str(data["kwargs"]))
    wrapped = kwargs["layer"]["class_name"] if "layer" in kwargs else str(data["layer"])
    if not fused and wrapped in ("LSTM", "GRU"):  # the cell loop
        inner = kwargs["layer"]["config"] if "layer" in kwargs else kwargs
        inner["use_cudnn"] = False
    layer = getattr(lamina.layers, str(data["layer"]))(**kwargs)
    x = torch.from_numpy(data["x"])
    symbolic = layer(Input(shape=tuple(x.shape[1:])))
    count = sum(1 for key in data if key[0] == "w" and key[1:].isdigit())
    layer.set_weights([data[f"w{i}"] for i in range(count)])
    mask = torch.from_numpy(data["mask"]) if "mask" in data else None
    out = layer(x, mask=mask)
    outs = out if isinstance(out, list) else [out]
    for i, (got, sym) in enumerate(zip(outs, symbolic if isinstance(out, list) else [symbolic])):
        np.testing.assert_allclose(got.detach().numpy(), data[f"y{i}"], atol=1e-5, rtol=1e-5)
        assert sym.shape == (None, *data[f"y{i}"].shape[1:])


def test_padding_does_not_change_the_result() -> None:
    """An Embedding with mask_zero before an LSTM: padding after a sequence changes nothing,
    on the fused path (right padding) and the loop (GRU reset_after=False)."""
    for make in (lambda: LSTM(3), lambda: GRU(3, reset_after=False)):
        torch.manual_seed(0)
        x = Input(shape=(None,), dtype=torch.int64)
        model = Model(x, make()(Embedding(7, 2, mask_zero=True)(x)))
        short = model(torch.tensor([[3, 1, 4]]))
        padded = model(torch.tensor([[3, 1, 4, 0, 0], [2, 0, 0, 0, 0]]))
        torch.testing.assert_close(padded[:1], short, atol=1e-6, rtol=1e-6)
        alone = model(torch.tensor([[2]]))
        torch.testing.assert_close(padded[1:], alone, atol=1e-6, rtol=1e-6)


def test_masking_layer_feeds_an_rnn_and_return_sequences_keeps_the_mask() -> None:
    x = Input(shape=(4, 2))
    seq = SimpleRNN(3, return_sequences=True)(Masking()(x))
    assert seq._keras_mask is not None
    last = LSTM(2)(seq)
    assert last._keras_mask is None
    Dense(1)(last)  # no mask left: any layer follows


def test_fused_lstm_matches_torch_lstm() -> None:
    torch.manual_seed(0)
    layer = LSTM(5, return_sequences=True)
    x = torch.randn(3, 7, 4)
    layer(x)
    ref = torch.nn.LSTM(4, 5, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.cell.kernel.t())
        ref.weight_hh_l0.copy_(layer.cell.recurrent_kernel.t())
        ref.bias_ih_l0.copy_(layer.cell.bias)
        ref.bias_hh_l0.zero_()
    torch.testing.assert_close(layer(x), ref(x)[0])


def test_check_layer_contracts() -> None:
    def no_reference(x: np.ndarray, layer: lamina.layers.Layer) -> object:
        # Contracts only (config, save/load, shapes, gradients); values are checked above.
        out = layer(torch.from_numpy(x))
        return [t.detach().numpy() for t in out] if isinstance(out, list) else out.detach()

    check_layer(lambda: LSTM(3, return_sequences=True), (5, 2), no_reference)
    check_layer(lambda: GRU(2, reset_after=False), (4, 3), no_reference)
    check_layer(lambda: SimpleRNN(2, activation="relu"), (4, 3), no_reference)
    check_layer(lambda: RNN(StackedRNNCells([LSTMCell(3), GRUCell(2)])), (4, 3), no_reference)
    check_layer(lambda: RNN([SimpleRNNCell(2), SimpleRNNCell(3)], return_state=True), (4, 3),
                no_reference)  # fmt: skip
    check_layer(lambda: Bidirectional(GRU(2, return_sequences=True)), (4, 3), no_reference)
    check_layer(
        lambda: Bidirectional(LSTM(2, return_state=True), merge_mode=None), (4, 3), no_reference
    )
    check_layer(lambda: TimeDistributed(Dense(2)), (4, 3), no_reference)


def test_bidirectional_keeps_the_mask_for_the_next_rnn() -> None:
    x = Input(shape=(None,), dtype=torch.int64)
    h = Bidirectional(LSTM(2, return_sequences=True))(Embedding(5, 3, mask_zero=True)(x))
    assert h._keras_mask is not None
    model = Model(x, LSTM(2)(h))
    torch.testing.assert_close(
        model(torch.tensor([[1, 2, 0, 0]])), model(torch.tensor([[1, 2]])), atol=1e-6, rtol=1e-6
    )


def test_config_keys_follow_keras() -> None:
    config = LSTM(3, dropout=0.1, return_sequences=True).get_config()
    for key in ("units", "activation", "recurrent_activation", "unit_forget_bias", "dropout",
                "recurrent_dropout", "return_sequences", "return_state", "go_backwards",
                "stateful", "unroll", "kernel_initializer"):  # fmt: skip
        assert key in config
    assert GRU(2).get_config()["reset_after"] is True


def test_2d_input_names_the_layer_and_the_expected_shape() -> None:
    with pytest.raises(LayerError, match=r"LSTM 'lstm.*expected an input of shape \(batch, "):
        LSTM(2)(Input(shape=(4,)))


def test_user_cell_and_initial_state() -> None:
    class MinimalCell(lamina.layers.Layer):
        def __init__(self, units: int, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape: tuple[int, ...]) -> None:
            self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))

        def call(self, inputs: torch.Tensor, states: list[torch.Tensor]) -> object:
            out = inputs @ self.kernel + states[0]
            return out, [out]

    layer = RNN(MinimalCell(2))
    x = torch.ones(1, 3, 2)
    start = torch.full((1, 2), 5.0)
    out = layer(x, initial_state=[start])
    expected = start + 3 * (x[0, 0] @ layer.cell.kernel)
    torch.testing.assert_close(out, expected)
    seq, h0 = Input(shape=(3, 2)), Input(shape=(2,))
    model = Model([seq, h0], RNN(MinimalCell(2))(seq, initial_state=[h0]))
    assert model([x, start]).shape == (1, 2)


def test_stateful_carries_states_and_resets() -> None:
    torch.manual_seed(0)
    layer = LSTM(2, stateful=True)
    x = torch.randn(2, 3, 1)
    first = layer(x)
    second = layer(x)
    assert not torch.allclose(first, second)
    layer.reset_states()
    torch.testing.assert_close(layer(x), first)
    assert len(layer.get_weights()) == 3  # the states are not weights


def test_dropout_only_in_training() -> None:
    layer = LSTM(3, dropout=0.5, recurrent_dropout=0.5, seed=1)
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(layer(x), layer(x))
    assert not torch.allclose(layer(x, training=True), layer(x))


def test_a_masked_sequence_model_saves_loads_and_fits(tmp_path: object) -> None:
    import os

    import lamina

    x = Input(shape=(None,), dtype=torch.int64)
    h = Bidirectional(LSTM(3, return_sequences=True))(Embedding(9, 4, mask_zero=True)(x))
    attended = lamina.layers.MultiHeadAttention(2, 2)(h, h, use_causal_mask=True)
    model = Model(x, Dense(1)(GRU(2, reset_after=False)(attended)))
    path = os.path.join(str(tmp_path), "model.lamina")
    model.save(path)
    loaded = lamina.load_model(path)
    tokens = torch.tensor([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]])
    torch.testing.assert_close(loaded(tokens), model(tokens))
    torch.testing.assert_close(loaded(tokens[:1, :3]), loaded(tokens)[:1], atol=1e-6, rtol=1e-6)
    loaded.compile(optimizer="adam", loss="mse")
    loaded.fit(tokens, torch.ones(2, 1), epochs=1, verbose=0)
