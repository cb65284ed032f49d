"""Attention layers against Keras's fixtures and their own contracts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.helpers import check_layer
from tests.keras_fixtures import FIXTURES, load_fixture

import lamina.layers
from lamina import Input, Model
from lamina.layers import (
    AdditiveAttention,
    Attention,
    Embedding,
    GroupQueryAttention,
    LayerNormalization,
    MultiHeadAttention,
)

MHA = sorted(p.stem for p in (FIXTURES / "sequence").glob("mha_*.npz"))


@pytest.mark.parametrize("name", MHA)
def test_multi_head_attention_matches_keras(name: str) -> None:
    data = load_fixture(f"sequence/{name}")
    layer = getattr(lamina.layers, str(data["layer"]))(**json.loads(str(data["kwargs"])))
    flags = json.loads(str(data["call"]))
    query, value = torch.from_numpy(data["query"]), torch.from_numpy(data["value"])
    key = torch.from_numpy(data["key"]) if "key" in data else None
    layer(query, value, key=key)
    count = sum(1 for k in data if k[0] == "w" and k[1:].isdigit())
    layer.set_weights([data[f"w{i}"] for i in range(count)])
    inputs = {"query": query, "value": value}
    if key is not None:
        inputs["key"] = key
    if "attention_mask" in data:
        inputs["attention_mask"] = torch.from_numpy(data["attention_mask"])
    masks = None
    if "query_mask" in data:
        masks = {"query": torch.from_numpy(data["query_mask"]),
                 "value": torch.from_numpy(data["value_mask"])}  # fmt: skip
    out = layer.call(inputs, mask=masks, **flags)
    outs = list(out) if isinstance(out, tuple) else [out]
    keep = np.ones(data["y0"].shape[:2], bool) if masks is None else data["query_mask"]
    if flags.get("return_attention_scores"):
        keep = np.ones_like(keep)
    # Padded queries attend to nothing (zero weights, as Keras's own scores path gives);
    # Keras's fused path gives them arbitrary values there, so those rows are not compared.
    for i, got in enumerate(outs):
        got_np, want = got.detach().numpy(), data[f"y{i}"]
        if i == 0:
            got_np, want = got_np[keep], want[keep]
        np.testing.assert_allclose(got_np, want, atol=1e-5, rtol=1e-5)


def test_group_query_attention_contracts() -> None:
    def no_reference(x: list[np.ndarray], layer: MultiHeadAttention) -> np.ndarray:
        q, v = (torch.from_numpy(a) for a in x)
        return layer(q, v).detach().numpy()  # contracts only; values against Keras above

    layer = check_layer(lambda: GroupQueryAttention(2, 4, 2), [(3, 5), (4, 5)], no_reference)
    assert [tuple(w.shape) for w in layer.get_weights()][::2] == [
        (5, 4, 2), (5, 2, 2), (5, 2, 2), (4, 2, 5),
    ]  # fmt: skip
    assert layer.get_config()["num_key_value_heads"] == 2


def test_weights_have_keras_shapes() -> None:
    layer = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=5)
    layer(torch.ones(1, 2, 6), torch.ones(1, 3, 7))
    assert [tuple(w.shape) for w in layer.get_weights()] == [
        (6, 2, 3), (2, 3), (7, 2, 3), (2, 3), (7, 2, 4), (2, 4), (2, 4, 5), (5,),
    ]  # fmt: skip


def test_check_layer_contracts_and_symbolic_options() -> None:
    def no_reference(x: list[np.ndarray], layer: MultiHeadAttention) -> np.ndarray:
        q, v = (torch.from_numpy(a) for a in x)
        return layer(q, v).detach().numpy()  # contracts only; values against Keras above

    check_layer(lambda: MultiHeadAttention(2, 3), [(4, 6), (5, 6)], no_reference)
    q = Input(shape=(4, 6))
    out, scores = MultiHeadAttention(2, 3)(q, q, return_attention_scores=True, use_causal_mask=True)
    assert scores.shape == (None, 2, 4, 4)
    model = Model(q, [out, scores])
    _, weights = model(torch.randn(2, 4, 6))
    assert torch.all(weights[..., 0, 1:] == 0)  # causal: the first query sees itself only


def test_padding_does_not_change_a_transformer_block() -> None:
    torch.manual_seed(0)
    x = Input(shape=(None,), dtype=torch.int64)
    h = Embedding(9, 8, mask_zero=True)(x)
    attended = MultiHeadAttention(2, 4)(h, h)
    assert attended._keras_mask is h._keras_mask
    model = Model(x, LayerNormalization()(h + attended))
    short = model(torch.tensor([[3, 1, 4]]))
    padded = model(torch.tensor([[3, 1, 4, 0, 0]]))
    torch.testing.assert_close(padded[:, :3], short, atol=1e-5, rtol=1e-5)


DOT = sorted(p.stem for p in (FIXTURES / "sequence").glob("*attention*.npz"))


@pytest.mark.parametrize("name", DOT)
def test_dot_and_additive_attention_match_keras(name: str) -> None:
    data = load_fixture(f"sequence/{name}")
    layer = getattr(lamina.layers, str(data["layer"]))(**json.loads(str(data["kwargs"])))
    inputs = [torch.from_numpy(data[k]) for k in ("query", "value", "key") if k in data]
    layer(inputs)
    count = sum(1 for k in data if k[0] == "w" and k[1:].isdigit())
    layer.set_weights([data[f"w{i}"] for i in range(count)])
    mask = None
    if "query_mask" in data:
        mask = [torch.from_numpy(data["query_mask"]), torch.from_numpy(data["value_mask"])]
    out = layer(inputs, mask=mask, **json.loads(str(data["call"])))
    for i, got in enumerate(out if isinstance(out, tuple) else [out]):
        np.testing.assert_allclose(got.detach().numpy(), data[f"y{i}"], atol=1e-5, rtol=1e-5)


def test_dot_attention_layers_in_models() -> None:
    def no_reference(x: list[np.ndarray], layer: lamina.layers.Layer) -> np.ndarray:
        return layer([torch.from_numpy(a) for a in x]).detach().numpy()  # contracts only

    check_layer(lambda: Attention(use_scale=True), [(4, 3), (5, 3)], no_reference)
    check_layer(lambda: AdditiveAttention(), [(4, 3), (5, 3)], no_reference)
    x = Input(shape=(None,), dtype=torch.int64)
    h = Embedding(9, 4, mask_zero=True)(x)
    attended = Attention()([h, h], use_causal_mask=True)
    assert attended._keras_mask is h._keras_mask
    model = Model(x, attended)
    short, padded = model(torch.tensor([[3, 1]])), model(torch.tensor([[3, 1, 0]]))
    torch.testing.assert_close(padded[:, :2], short)
    assert torch.all(padded[:, 2] == 0)  # the padded query's output is zeroed (Keras)
