"""`Embedding`: integer indices to dense vectors, with Keras's arguments and defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from lamina import constraints, initializers, regularizers
from lamina.core.errors import LayerError
from lamina.core.layer import Layer
from lamina.core.tensor import Shape

_INDEX_DTYPES = (torch.int32, torch.int64)


class Embedding(Layer):
    """Turn indices in `[0, input_dim)` into rows of an `(input_dim, output_dim)` table.

    Args:
        input_dim: the number of rows (the vocabulary size, largest index + 1).
        output_dim: the size of each vector.
        embeddings_initializer: initializer of the table (Keras's default: uniform in
            `[-0.05, 0.05]`).
        embeddings_regularizer: a regularizer (`lamina.regularizers`) of the table.
        embeddings_constraint: a constraint (`lamina.constraints`) of the table.
        mask_zero: whether index 0 is padding: `compute_mask` then returns `inputs != 0`, and
            `input_dim` should count index 0.

    Call arguments:
        inputs: indices of any integer dtype; floats holding integers are truncated to
            integers, as Keras casts them.

    Output shape:
        `(*input_shape, output_dim)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Embedding
        >>> layer = Embedding(10, 4, mask_zero=True)
        >>> layer(torch.tensor([[0, 7, 2]])).shape
        torch.Size([1, 3, 4])
        >>> layer.compute_mask(torch.tensor([[0, 7, 2]]))
        tensor([[False,  True,  True]])
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: str | dict[str, Any] | Callable[..., Any] = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        **kwargs: Any,
    ) -> None:
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Embedding: expected a positive int for {arg}, received {value!r}."
                )
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero

    def build(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dtype not in _INDEX_DTYPES:
            inputs = inputs.to(torch.int64)
        try:
            return F.embedding(inputs, self.embeddings)
        except IndexError as error:  # raised by the CPU kernel, without a check of our own
            raise LayerError(
                f"Embedding '{self.name}': an index is out of range for input_dim="
                f"{self.input_dim} (valid indices: 0..{self.input_dim - 1}); raise input_dim "
                "to the vocabulary size (largest index + 1)."
            ) from error

    def compute_mask(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor | None:
        """`inputs != 0` when `mask_zero`, else `None`."""
        if not self.mask_zero:
            return None
        return inputs != 0

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }

    def extra_repr(self) -> str:
        return f"{self.input_dim}, {self.output_dim}" + (
            ", mask_zero=True" if self.mask_zero else ""
        )
