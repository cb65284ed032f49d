from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import check_layer
from keras_cases import case_id, config_keys, keras_cases
from lamina import Input
from lamina.core.layer import LayerError
from lamina.layers import CenterCrop, Normalization, Rescaling, Resizing

CLASSES = {
    "CenterCrop": CenterCrop,
    "Normalization": Normalization,
    "Rescaling": Rescaling,
    "Resizing": Resizing,
}
CASES = [c for c in keras_cases("preprocessing") if c.spec["layer"] in CLASSES]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case) -> None:
    layer = CLASSES[case.spec["layer"]](**case.args)
    if "adapt" in case.extra:
        layer.adapt(case.extra["adapt"])
    got = layer(torch.from_numpy(case.input))
    np.testing.assert_allclose(got.numpy(), case.output, atol=1e-5, rtol=1e-5)
    assert set(layer.get_config()) - {"name", "trainable"} == config_keys(case)


def test_rescaling() -> None:
    check_layer(lambda: Rescaling(0.5, offset=1.0), (3,), lambda x, layer: x * 0.5 + 1)
    out = Rescaling(1 / 255)(torch.tensor([[0, 255]], dtype=torch.uint8))
    assert out.dtype == torch.float32 and out.tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize(
    ("axis", "shape", "keep"),
    [(-1, (3, 4), (2,)), (1, (3, 4), (1,)), ([1, 2], (3, 4), (1, 2)), (None, (3, 4), ())],
)
def test_normalization_adapts_numpy_tensors_and_batches(axis, shape, keep) -> None:
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((12, *shape)) * 3 + 1).astype("float32")
    reduce = tuple(a for a in range(data.ndim) if a not in keep)
    mean = data.mean(axis=reduce, keepdims=True)
    std = data.std(axis=reduce, keepdims=True)

    def reference(x, layer):
        return (x - mean) / std

    def make() -> Normalization:
        layer = Normalization(axis=axis)
        layer.adapt(data)
        return layer

    layer = check_layer(make, shape, reference, atol=1e-5)
    assert {n for n, _ in layer.named_parameters()} == {"mean", "variance"}
    assert not layer.trainable_weights
    for source in (torch.from_numpy(data), [data[:5], data[5:]], _loader(data)):
        other = Normalization(axis=axis)
        other.adapt(source)
        torch.testing.assert_close(other.mean, layer.mean)
        torch.testing.assert_close(other.variance, layer.variance)


def _loader(data: np.ndarray):
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(data), torch.zeros(len(data)))
    return torch.utils.data.DataLoader(dataset, batch_size=5)


def test_normalization_adapts_python_lists() -> None:
    layer = Normalization()
    layer.adapt([[1.0, 2.0], [3.0, 6.0]])
    assert layer.mean.tolist() == [2.0, 4.0] and layer.variance.tolist() == [1.0, 4.0]


def test_normalization_with_given_statistics_and_invert() -> None:
    check_layer(
        lambda: Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0]),
        (2,),
        lambda x, layer: (x - [1.0, 2.0]) / [2.0, 3.0],
    )
    check_layer(
        lambda: Normalization(mean=1.0, variance=4.0, invert=True),
        (2,),
        lambda x, layer: x * 2.0 + 1.0,
    )


def test_normalization_errors() -> None:
    with pytest.raises(ValueError, match=r"Normalization: pass both mean and variance"):
        Normalization(mean=1.0)
    with pytest.raises(LayerError, match=r"Normalization 'n': it was given mean and variance"):
        Normalization(mean=0.0, variance=1.0, name="n").adapt(np.ones((2, 3)))
    with pytest.raises(LayerError, match=r"Normalization 'm': the kept axes \[1\].*\(None, None\)"):
        Normalization(axis=1, name="m")(Input(shape=(None,)))
    with pytest.raises(LayerError, match=r"Normalization 'k': axis=\[3\] does not name"):
        Normalization(axis=3, name="k")(Input(shape=(2,)))
    layer = Normalization(name="a")
    layer.adapt(np.ones((2, 3)))
    with pytest.raises(LayerError, match=r"Normalization 'a': expected input shape \(None, 3\)"):
        layer(Input(shape=(4,)))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
def test_resizing(interpolation) -> None:
    mode = {"nearest": "nearest-exact"}.get(interpolation, interpolation)

    def reference(x, layer):
        images = torch.from_numpy(x).permute(0, 3, 1, 2)
        corners = None if mode == "nearest-exact" else False
        out = F.interpolate(images, size=(3, 4), mode=mode, align_corners=corners)
        return out.permute(0, 2, 3, 1).numpy()

    check_layer(
        lambda: Resizing(3, 4, interpolation=interpolation),
        (5, 6, 2),
        reference,
        expected_shape=(None, 3, 4, 2),
        atol=1e-5,
    )


def test_resizing_channels_first_and_single_images() -> None:
    x = torch.randn(2, 5, 6, 3)
    last = Resizing(3, 4)(x)
    first = Resizing(3, 4, data_format="channels_first")(x.permute(0, 3, 1, 2))
    torch.testing.assert_close(first, last.permute(0, 3, 1, 2))
    torch.testing.assert_close(Resizing(3, 4)(x[0]), last[0])


def test_center_crop() -> None:
    check_layer(
        lambda: CenterCrop(2, 3),
        (5, 6, 1),
        lambda x, layer: x[:, 1:3, 1:4],
        expected_shape=(None, 2, 3, 1),
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Resizing(0, 3), r"Resizing: expected a positive int for height, received 0"),
        (lambda: Resizing(2, 3, interpolation="cubic"), r"interpolation to be one of"),
        (lambda: Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "both"),
        (lambda: CenterCrop(2, 2, data_format="nhwc"), r"data_format to be one of"),
    ],
)
def test_bad_arguments(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_image_layers_reject_non_images() -> None:
    with pytest.raises(LayerError, match=r"Resizing 'r': expected images of shape \(batch, h"):
        Resizing(2, 2, name="r")(Input(shape=(4,)))
