from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import check_layer
from keras_fixtures import check_against_keras, fixture_names
from lamina import Input
from lamina.core.layer import LayerError
from lamina.layers import Embedding


@pytest.mark.parametrize("name", fixture_names("normalization", "Embedding"))
def test_matches_keras(name: str) -> None:
    layer, data = check_against_keras(name)
    if "mask" in data:
        mask = layer.compute_mask(torch.from_numpy(data["x"]))
        np.testing.assert_array_equal(mask.numpy(), data["mask"])
    else:
        assert layer.compute_mask(torch.from_numpy(data["x"])) is None


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8])
def test_embedding_check_layer_on_integer_dtypes(dtype: torch.dtype) -> None:
    layer = check_layer(
        lambda: Embedding(6, 3, mask_zero=True),
        (4,),
        lambda x, layer: layer.get_weights()[0][x.astype("int64")],
        input_dtype=dtype,
        expected_shape=(None, 4, 3),
    )
    assert [n for n, _ in layer.named_parameters()] == ["embeddings"]
    assert layer.get_config()["mask_zero"] is True
    assert np.abs(layer.get_weights()[0]).max() <= 0.05  # Keras's "uniform" initializer


def test_embedding_float_indices_are_truncated_as_keras_casts() -> None:
    layer = Embedding(4, 2)
    table = layer(torch.tensor([0, 1, 2, 3])).detach()
    out = layer(torch.tensor([[1.0, 2.9]])).detach()
    torch.testing.assert_close(out[0], table[[1, 2]])


def test_embedding_errors() -> None:
    with pytest.raises(ValueError, match=r"Embedding: expected a positive int for input_dim, "):
        Embedding(0, 3)
    with pytest.raises(ValueError, match=r"for output_dim, received 2\.5"):
        Embedding(3, 2.5)  # type: ignore[arg-type]
    layer = Embedding(3, 2, name="words")
    with pytest.raises(LayerError, match=r"Embedding 'words': an index is out of range .*0\.\.2"):
        layer(torch.tensor([[1, 3]]))


def test_embedding_compute_output_shape() -> None:
    layer = Embedding(5, 4)
    assert layer(Input(shape=(None, 2), dtype=torch.int64)).shape == (None, None, 2, 4)
    assert layer.compute_output_shape((None, None, 2)) == (None, None, 2, 4)


def test_embedding_regularizer_and_constraint() -> None:
    from lamina import Model, regularizers

    layer = Embedding(4, 2, embeddings_regularizer="l2", embeddings_constraint="unit_norm")
    x = Input(shape=(3,), dtype=torch.int64)
    model = Model(x, layer(x))
    expected = 0.01 * float((layer.embeddings.detach() ** 2).sum())
    assert [v.item() for v in model.losses] == pytest.approx([expected])
    config = layer.get_config()
    assert config["embeddings_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert isinstance(Embedding.from_config(config).embeddings_regularizer, regularizers.L2)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.array([[0, 1, 3]]), np.ones((1, 3, 2), "float32"))
    norms = np.linalg.norm(layer.get_weights()[0], axis=0)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
