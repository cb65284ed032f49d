"""`Masking`: mark time steps whose features all equal `mask_value` as padding."""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.layer import Layer


class Masking(Layer):
    """Skip the time steps whose features all equal `mask_value`.

    The output is the input with those steps zeroed, and carries a mask (`False` at them) that
    downstream layers which support masking use or pass on (RNNs skip the steps).

    Args:
        mask_value: the padding value.

    Call arguments:
        inputs: a tensor `(batch, timesteps, features)` (any rank of at least 2).

    Output shape:
        The input's; the mask is the input's shape without its last axis.

    Example:
        >>> import torch
        >>> from lamina.layers import Masking
        >>> x = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])
        >>> Masking()(x).tolist(), Masking().compute_mask(x).tolist()
        ([[[1.0, 2.0], [0.0, 0.0]]], [[True, False]])
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        keep = (inputs != self.mask_value).any(dim=-1, keepdim=True)
        return inputs * keep.to(inputs.dtype)

    def compute_mask(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        return (inputs != self.mask_value).any(dim=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}

    def extra_repr(self) -> str:
        return f"mask_value={self.mask_value}"


__all__ = ["Masking"]
