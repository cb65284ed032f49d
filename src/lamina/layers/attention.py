"""Attention layers: `MultiHeadAttention`, `Attention` (dot-product), `AdditiveAttention`.

The inputs travel as a dict (`{"query", "value", "key", "attention_mask"}` for
`MultiHeadAttention`, Keras's list `[query, value, key]` for the others), so that a model
records them as one node, and their masks come with them. Without requested scores (and
with dot-product scores), the work goes to `torch.nn.functional.scaled_dot_product_attention`,
so torch's fused kernels run.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lamina import constraints, initializers, regularizers
from lamina.core.errors import LayerError, format_shape
from lamina.core.layer import Layer


def _combined_mask(
    query_mask: Any,
    value_mask: Any,
    key_mask: Any,
    attention_mask: Any,
    causal: bool,
    t: int,
    s: int,
    device: torch.device,
) -> torch.Tensor | None:
    """Keras's rule: query, value and key masks, the causal mask and `attention_mask`,
    combined with `and` into one `(batch, T, S)` (or `(T, S)`) boolean mask."""
    mask: torch.Tensor | None = None
    for part in (
        None if query_mask is None else query_mask.bool().unsqueeze(-1),
        None if value_mask is None else value_mask.bool().unsqueeze(-2),
        None if key_mask is None else key_mask.bool().unsqueeze(-2),
        torch.ones(t, s, dtype=torch.bool, device=device).tril() if causal else None,
        None if attention_mask is None else attention_mask.bool(),
    ):
        if part is not None:
            mask = part if mask is None else mask & part
    return mask


def _attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    scale: float,
    dropout: float,
    scores: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Softmax attention on `(..., T, E)` queries; masked positions get zero weight and a
    fully masked row attends to nothing (Keras's masked softmax), never NaN."""
    if not scores:
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scale), None
        empty = ~mask.any(dim=-1, keepdim=True)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask | empty, dropout_p=dropout, scale=scale
        )
        return out.masked_fill(empty, 0.0), None
    logits = (q @ k.transpose(-1, -2)) * scale
    if mask is not None:
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    weights = torch.softmax(logits, dim=-1)
    if mask is not None:
        weights = weights * mask
    kept = F.dropout(weights, dropout) if dropout else weights
    return kept @ v, weights


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al. 2017), with Keras's weights and arguments.

    Args:
        num_heads: the number of heads.
        key_dim: the size of each head for the query and key.
        value_dim: the size of each head for the value (`key_dim` by default).
        dropout: the dropout rate of the attention weights, in training.
        use_bias: whether the projections have biases.
        output_shape: the last axes of the output (the query's last axis by default).
        attention_axes: `None` (attend over every axis but the batch and the features).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: of the four projections.
        seed: accepted for Keras's API.

    Call arguments:
        query: `(batch, T, dim)`; value: `(batch, S, dim)`; key: as value (value itself by
        default); attention_mask: `(batch, T, S)` booleans, `True` where a query may attend;
        return_attention_scores: also return the weights `(batch, heads, T, S)`;
        use_causal_mask: query `i` attends only to keys `<= i`; training: for dropout.

    Weights: `query`, `key`, `value` kernels `(dim, heads, head_dim)` with biases
    `(heads, head_dim)`, and `attention_output` `(heads, value_dim, *output_shape)`, as Keras's
    EinsumDense layers store them.

    Example:
        >>> import torch
        >>> from lamina.layers import MultiHeadAttention
        >>> x = torch.ones(2, 5, 8)
        >>> MultiHeadAttention(num_heads=2, key_dim=4)(x, x).shape
        torch.Size([2, 5, 8])
    """

    supports_masking = True

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | tuple[int, ...] | None = None,
        attention_axes: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self._output_shape = output_shape
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed

    # ---------------------------------------------------------------- calling
    def __call__(  # type: ignore[override]
        self,
        query: Any,
        value: Any = None,
        key: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
        **kwargs: Any,
    ) -> Any:
        if isinstance(query, (list, tuple)) and value is None:  # [query, value(, key)]
            query, value, key = (*query, None)[:3] if len(query) == 2 else query
        inputs = query
        if not isinstance(query, dict):  # a replayed node passes the dict itself
            inputs = {"query": query, "value": value}
            if key is not None:
                inputs["key"] = key
            if attention_mask is not None:
                inputs["attention_mask"] = attention_mask
        options: dict[str, Any] = dict(kwargs)
        if return_attention_scores:
            options["return_attention_scores"] = True
        if use_causal_mask:
            options["use_causal_mask"] = True
        if training is not None:
            options["training"] = training
        return super().__call__(inputs, **options)

    def build(self, input_shape: Any) -> None:
        if not isinstance(input_shape, dict) or "value" not in input_shape:
            raise LayerError(
                f"MultiHeadAttention '{self.name}': expected query and value, received "
                f"{format_shape(input_shape)}; call it as layer(query, value)."
            )
        query, value = input_shape["query"], input_shape["value"]
        key: Any = input_shape.get("key", value)
        if self.attention_axes not in (None, tuple(range(1, len(query) - 1))):
            raise LayerError(
                f"MultiHeadAttention '{self.name}': attention_axes={self.attention_axes} is "
                "not supported; lamina attends over every axis but the batch and features "
                "(attention_axes=None)."
            )
        out = self._output_shape or query[-1]
        self._out = (out,) if isinstance(out, int) else tuple(out)
        h, kv = self.num_heads, self._key_value_heads()
        for name, dim, heads, head in (
            ("query", query[-1], h, self.key_dim),
            ("key", key[-1], kv, self.key_dim),
            ("value", value[-1], kv, self.value_dim),
        ):
            self._projection(f"{name}_kernel", f"{name}_bias", (dim, heads, head), (heads, head))
        self._projection(
            "attention_output_kernel",
            "attention_output_bias",
            (h, self.value_dim, *self._out),
            self._out,
        )

    def _key_value_heads(self) -> int:
        return self.num_heads

    def _projection(self, kernel: str, bias: str, shape: tuple[Any, ...], bias_shape: Any) -> None:
        self.add_weight(
            kernel,
            tuple(int(d) for d in shape),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.add_weight(
                bias,
                tuple(bias_shape),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.register_parameter(bias, None)

    def _project(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """`(batch, N, dim)` -> `(batch, heads, N, head_dim)`."""
        kernel = getattr(self, f"{name}_kernel")
        bias = getattr(self, f"{name}_bias")
        y = x @ kernel.flatten(1)
        if bias is not None:
            y = y + bias.flatten()
        return y.unflatten(-1, kernel.shape[1:]).transpose(1, 2)  # type: ignore[no-any-return]

    def call(
        self,
        inputs: dict[str, torch.Tensor],
        mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Any:
        query, value = inputs["query"], inputs["value"]
        key = inputs.get("key", value)
        masks = mask if isinstance(mask, dict) else {}
        batch, query_axes = query.shape[0], query.shape[1:-1]
        # Several attention axes are one flattened axis (Keras's default attention_axes).
        query, key, value = (t.flatten(1, -2) for t in (query, key, value))
        q = self._project(query, "query")
        k, v = self._project(key, "key"), self._project(value, "value")
        repeats = q.shape[1] // k.shape[1]
        if repeats > 1:  # grouped query attention: each key/value head serves a group
            k, v = k.repeat_interleave(repeats, dim=1), v.repeat_interleave(repeats, dim=1)
        value_mask = masks.get("value")
        key_mask = masks.get("key") if "key" in inputs else None
        attention_mask = _combined_mask(
            _flat(masks.get("query")),
            _flat(value_mask),
            _flat(key_mask),
            inputs.get("attention_mask"),
            use_causal_mask,
            q.shape[2],
            k.shape[2],
            q.device,
        )
        if attention_mask is not None and attention_mask.ndim == 3:
            attention_mask = attention_mask.unsqueeze(1)  # the heads axis
        training = self.training if training is None else training
        out, scores = _attend(
            q,
            k,
            v,
            attention_mask,
            scale=1.0 / math.sqrt(self.key_dim),
            dropout=self.dropout if training else 0.0,
            scores=return_attention_scores,
        )
        kernel: Any = self.attention_output_kernel
        bias: Any = self.attention_output_bias
        y = out.transpose(1, 2).flatten(2) @ kernel.flatten(0, 1).flatten(1)
        if bias is not None:
            y = y + bias.flatten()
        y = y.reshape(batch, *query_axes, *self._out)
        if return_attention_scores:
            assert scores is not None
            return y, scores
        return y

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        query_mask = mask.get("query") if isinstance(mask, dict) else None
        return query_mask

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self._output_shape,
            "attention_axes": self.attention_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, key_dim={self.key_dim}"


class GroupQueryAttention(MultiHeadAttention):
    """Grouped-query attention (Ainslie et al. 2023): `num_query_heads` query heads share
    `num_key_value_heads` key and value heads, in groups, with Keras's weights.

    Args:
        head_dim: the size of each head.
        num_query_heads: the number of query heads.
        num_key_value_heads: the number of key and value heads; divides `num_query_heads`.
        dropout, use_bias, initializers, regularizers, constraints, seed: as
            `MultiHeadAttention`.

    Call arguments: as `MultiHeadAttention`. The output has the query's last axis.

    Example:
        >>> import torch
        >>> from lamina.layers import GroupQueryAttention
        >>> x = torch.ones(2, 5, 8)
        >>> GroupQueryAttention(4, num_query_heads=4, num_key_value_heads=2)(x, x).shape
        torch.Size([2, 5, 8])
    """

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
        flash_attention: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if num_query_heads % num_key_value_heads:
            raise ValueError(
                f"GroupQueryAttention: num_query_heads ({num_query_heads}) must be a multiple "
                f"of num_key_value_heads ({num_key_value_heads})."
            )
        super().__init__(num_query_heads, head_dim, dropout=dropout, use_bias=use_bias, **kwargs)
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.flash_attention = flash_attention

    def _key_value_heads(self) -> int:
        return self.num_key_value_heads

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("num_heads", "key_dim", "value_dim", "output_shape", "attention_axes"):
            del config[key]
        return {
            **config,
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "flash_attention": self.flash_attention,
        }


def _flat(mask: Any) -> Any:
    return mask if mask is None or mask.ndim <= 2 else mask.flatten(1)


__all__ = ["GroupQueryAttention", "MultiHeadAttention"]
