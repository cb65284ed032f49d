"""Utilities Keras users look for under `keras.utils`."""

from __future__ import annotations

import random as _random
from typing import Any

import numpy as np
import torch

from lamina.core.layer import clear_session as clear_session
from lamina.saving.registry import register_keras_serializable as register_keras_serializable
from lamina.training.custom_steps import pack_x_y_sample_weight as pack_x_y_sample_weight
from lamina.training.data_adapter import unpack as unpack_x_y_sample_weight
from lamina.training.py_dataset import PyDataset as PyDataset
from lamina.visualization.dot import model_to_dot as model_to_dot
from lamina.visualization.figures import plot_history as plot_history
from lamina.visualization.figures import plot_image_grid as plot_image_grid
from lamina.visualization.figures import plot_latent_space as plot_latent_space
from lamina.visualization.plot import plot_model as plot_model

plot = plot_model
"""Keras 1's name (`keras.utils.visualize_util.plot`), so the seed's `plot(model, ...)` runs."""

__all__ = [
    "PyDataset",
    "clear_session",
    "model_to_dot",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot",
    "plot_history",
    "plot_image_grid",
    "plot_latent_space",
    "plot_model",
    "register_keras_serializable",
    "set_random_seed",
    "to_categorical",
    "unpack_x_y_sample_weight",
]


def set_random_seed(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators, so a run repeats exactly.

    Example:
        >>> import torch
        >>> from lamina.utils import set_random_seed
        >>> set_random_seed(0); a = torch.rand(2)
        >>> set_random_seed(0); bool((a == torch.rand(2)).all())
        True
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int, received {seed!r}.")
    _random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_categorical(x: Any, num_classes: int | None = None) -> Any:
    """One-hot encode integer class labels: an array of shape `s` gives `s + (num_classes,)`.

    A trailing axis of size 1 (labels as a column, `(n, 1)`) is dropped first, as in Keras.
    A numpy array (or list) gives a float64 numpy array as Keras does; a torch tensor gives a
    tensor in torch's default float dtype.

    Args:
        x: integer labels in `[0, num_classes)`.
        num_classes: the number of classes; `max(x) + 1` when `None`.

    Example:
        >>> from lamina.utils import to_categorical
        >>> to_categorical([0, 2], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.]])
    """
    tensor = isinstance(x, torch.Tensor)
    labels = x.detach().cpu().numpy() if tensor else np.asarray(x)
    fractional = not np.issubdtype(labels.dtype, np.integer)
    if labels.size and fractional and not np.array_equal(labels, np.round(labels)):
        raise ValueError(
            f"to_categorical: expected integer class labels, received {labels.dtype} "
            "values with fractions."
        )
    labels = labels.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"to_categorical: expected a positive int for num_classes, received {num_classes!r}."
        )
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        bad = flat[(flat < 0) | (flat >= num_classes)][0]
        raise ValueError(
            f"to_categorical: received label {bad}, expected labels in [0, {num_classes}); "
            "pass num_classes= to cover every class."
        )
    categorical = np.zeros((flat.size, num_classes))
    categorical[np.arange(flat.size), flat] = 1
    categorical = categorical.reshape((*shape, num_classes))
    if tensor:
        return torch.as_tensor(categorical, dtype=torch.get_default_dtype(), device=x.device)
    return categorical


def normalize(x: Any, axis: int = -1, order: float = 2) -> Any:
    """Divide `x` by its `order`-norm along `axis`; slices whose norm is 0 stay 0.

    A numpy array (or list) gives a numpy array, a torch tensor a tensor, as in Keras.

    Args:
        x: the array to normalize.
        axis: the axis the norm is taken along.
        order: the norm's order (2: Euclidean, 1: sum of absolute values).

    Example:
        >>> from lamina.utils import normalize
        >>> normalize([[3.0, 4.0]])
        array([[0.6, 0.8]])
    """
    if isinstance(x, torch.Tensor):
        norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
        return x / torch.where(norm == 0, torch.ones_like(norm), norm)
    array = np.asarray(x)
    if not -array.ndim <= axis < max(array.ndim, 1):
        raise ValueError(
            f"normalize: received axis={axis} for an array of shape {array.shape}; expected "
            f"an axis in [{-array.ndim}, {array.ndim})."
        )
    norm = np.linalg.norm(array, ord=order, axis=axis, keepdims=True)
    return array / np.where(norm == 0, 1, norm)


def pad_sequences(
    sequences: Any,
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (or cut) sequences of different lengths to one length, as a numpy array.

    Args:
        sequences: a list of sequences (lists or arrays, whose items may themselves be
            arrays of one shape).
        maxlen: the length of the result; the longest sequence's by default.
        dtype: the result's dtype (`"int32"`; use `"object"` or a string dtype for text).
        padding: `"pre"` (default) or `"post"`: where the padding goes.
        truncating: `"pre"` (default) or `"post"`: which end of a long sequence is cut.
        value: the padding value.

    Returns:
        An array `(len(sequences), maxlen, *item_shape)`.

    Example:
        >>> from lamina.utils import pad_sequences
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post").tolist()
        [[2, 3], [4, 0]]
    """
    for name, setting in (("padding", padding), ("truncating", truncating)):
        if setting not in ("pre", "post"):
            raise ValueError(
                f"pad_sequences: {name} must be 'pre' or 'post', received {setting!r}."
            )
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: `sequences` must be iterable (a list of sequences).")
    lengths: list[int] = []
    item_shape: tuple[int, ...] = ()
    found_shape = False
    for i, sequence in enumerate(sequences):
        try:
            lengths.append(len(sequence))
        except TypeError:
            raise ValueError(
                f"pad_sequences: sequence {i} is a {type(sequence).__name__}, expected a list "
                "or array."
            ) from None
        if not found_shape and len(sequence):
            item_shape = np.asarray(sequence).shape[1:]
            found_shape = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    text = np.issubdtype(np.dtype(dtype), np.str_) or np.dtype(dtype) == object
    if isinstance(value, str) and not text:
        raise ValueError(
            f"pad_sequences: dtype {dtype!r} cannot hold the padding value {value!r}; pass "
            "dtype=object or a string dtype for text."
        )
    out = np.full((len(lengths), maxlen, *item_shape), value, dtype=dtype)
    for i, sequence in enumerate(sequences):
        if not len(sequence):
            continue
        kept = sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != item_shape:
            raise ValueError(
                f"pad_sequences: sequence {i} has items of shape {kept.shape[1:]}, expected "
                f"{item_shape} as the first non-empty sequence's."
            )
        if maxlen == 0:
            continue
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept) :] = kept
    return out
