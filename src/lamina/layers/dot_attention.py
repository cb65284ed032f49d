"""`Attention` (Luong's dot-product) and `AdditiveAttention` (Bahdanau's), called on Keras's
list `[query, value]` or `[query, value, key]`, with the masks of the query and the value.

`Attention` with dot scores and no learned scale runs
`torch.nn.functional.scaled_dot_product_attention` unless the scores are requested.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.errors import LayerError, format_shape
from lamina.core.layer import Layer

_LARGE = 1.0e9  # Keras's padding penalty (not -inf: a fully masked row stays finite)


class _BaseAttention(Layer):
    supports_masking = True

    def __init__(self, *, dropout: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dropout = dropout
        self.seed = seed

    def _check(self, input_shape: Any) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3):
            raise LayerError(
                f"{type(self).__name__} '{self.name}': expected a list [query, value] or "
                f"[query, value, key], received {format_shape(input_shape)}."
            )

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _fusable(self) -> bool:
        return False

    def call(
        self,
        inputs: Any,
        mask: Any = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Any:
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask and len(mask) > 1 else None
        keep: torch.Tensor | None = None
        if v_mask is not None:
            keep = v_mask.bool().unsqueeze(-2)
        if use_causal_mask:
            causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device)
            keep = causal.tril() if keep is None else keep & causal.tril()
        training = self.training if training is None else training
        dropout = self.dropout if training else 0.0
        if self._fusable() and not return_attention_scores:
            bias = None if keep is None else (~keep).to(q.dtype) * -_LARGE
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=dropout, scale=1.0
            )
            weights = None
        else:
            scores = self._scores(q, k)
            if keep is not None:
                scores = torch.where(keep, scores, scores - _LARGE)
            weights = torch.softmax(scores, dim=-1)
            out = F.dropout(weights, dropout) @ v if dropout else weights @ v
        if q_mask is not None:
            out = out * q_mask.unsqueeze(-1).to(out.dtype)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not mask or mask[0] is None:
            return None
        return mask[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


class Attention(_BaseAttention):
    """Dot-product attention: `softmax(query @ key^T) @ value` (Luong et al. 2015).

    Args:
        use_scale: learn a scalar `scale` of the scores.
        score_mode: `"dot"` or `"concat"` (`sum(tanh(query + key))`, with a learned
            `concat_score_weight`).
        dropout: the dropout rate of the attention weights, in training.
        seed: accepted for Keras's API.

    Call arguments:
        inputs: `[query (batch, Tq, dim), value (batch, Tv, dim)]`, or with a `key` third.
        mask: `[query_mask, value_mask]`, as a model passes them.
        return_attention_scores: also return the weights `(batch, Tq, Tv)`.
        use_causal_mask: query `i` attends only to values `<= i`.

    Example:
        >>> import torch
        >>> from lamina.layers import Attention
        >>> Attention()([torch.ones(2, 3, 4), torch.ones(2, 5, 4)]).shape
        torch.Size([2, 3, 4])
    """

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"Attention: score_mode must be 'dot' or 'concat', received {score_mode!r}."
            )
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        self.register_parameter("scale", None)
        self.register_parameter("concat_score_weight", None)
        if self.use_scale:
            self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.add_weight("concat_score_weight", (), "ones")

    def _fusable(self) -> bool:
        return self.score_mode == "dot" and self.scale is None

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        scale: Any = self.scale
        if self.score_mode == "dot":
            scores = q @ k.transpose(-1, -2)
            return scores if scale is None else scores * scale
        pairs = q.unsqueeze(-2) + k.unsqueeze(-3)
        if scale is not None:
            pairs = scale * pairs
        weight: Any = self.concat_score_weight
        return weight * torch.tanh(pairs).sum(dim=-1)  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


class AdditiveAttention(_BaseAttention):
    """Additive attention: scores `sum(scale * tanh(query + key))` (Bahdanau et al. 2015).

    Args:
        use_scale: learn a per-feature `scale` `(dim,)`.
        dropout: the dropout rate of the attention weights, in training.

    Call arguments: as `Attention`.

    Example:
        >>> import torch
        >>> from lamina.layers import AdditiveAttention
        >>> AdditiveAttention()([torch.ones(2, 3, 4), torch.ones(2, 5, 4)]).shape
        torch.Size([2, 3, 4])
    """

    def __init__(
        self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = use_scale

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        self.register_parameter("scale", None)
        if self.use_scale:
            self.add_weight("scale", (int(input_shape[0][-1]),), "glorot_uniform")

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        pairs = torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3))
        scale: Any = self.scale
        return (pairs if scale is None else scale * pairs).sum(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale}


__all__ = ["AdditiveAttention", "Attention"]
