"""Layers that wrap another layer: `Bidirectional` (an RNN both ways) and `TimeDistributed`
(a layer applied to every time step)."""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.errors import LayerError, format_shape
from lamina.core.layer import Layer
from lamina.core.tensor import SymbolicTensor
from lamina.layers.rnn_cells import construct_cell, serialize_cell

_MERGES = ("concat", "sum", "mul", "ave", None)


def _layer_from(value: Any) -> Any:
    return construct_cell(value) if isinstance(value, dict) else value


class Bidirectional(Layer):
    """Run an RNN forwards and a copy backwards over the sequence, and merge the two.

    Args:
        layer: the forward RNN (`LSTM`, `GRU`, `SimpleRNN`, `RNN`).
        merge_mode: `"concat"` (default), `"sum"`, `"mul"`, `"ave"`, or `None` for the list
            `[forward, backward]`.
        backward_layer: the backward RNN (with `go_backwards=True`); a copy of `layer` going
            backwards, with fresh weights, by default.

    Call arguments:
        inputs, mask, training, initial_state: as the RNN's (`initial_state` lists the forward
            states, then the backward ones).

    Output shape:
        The RNN's, with the last axis doubled for `"concat"`; with `return_state`, the outputs
        then the forward and the backward states.

    Example:
        >>> import torch
        >>> from lamina.layers import LSTM, Bidirectional
        >>> Bidirectional(LSTM(4, return_sequences=True))(torch.ones(2, 5, 3)).shape
        torch.Size([2, 5, 8])
    """

    supports_masking = True

    def __init__(
        self,
        layer: Any,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: Any = None,
        **kwargs: Any,
    ) -> None:
        layer, backward_layer = _layer_from(layer), _layer_from(backward_layer)
        if merge_mode not in _MERGES:
            raise ValueError(
                f"Bidirectional: merge_mode must be one of {list(_MERGES)}, received "
                f"{merge_mode!r}."
            )
        super().__init__(**kwargs)
        if backward_layer is None:
            config = {**layer.get_config(), "go_backwards": not layer.go_backwards}
            config["name"] = f"backward_{layer.name}"
            backward_layer = type(layer).from_config(config)
            self._backward_given = False
        else:
            self._backward_given = True
            for attr in ("return_sequences", "return_state"):
                if getattr(layer, attr) != getattr(backward_layer, attr):
                    raise ValueError(
                        f"Bidirectional: the forward and backward layers differ in {attr} "
                        f"({getattr(layer, attr)} vs {getattr(backward_layer, attr)}); "
                        "expected the same."
                    )
        for rnn in (layer, backward_layer):  # Keras's rule: padded steps give zeros
            rnn.zero_output_for_mask = rnn.return_sequences
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial_weights = weights

    def build(self, input_shape: Any) -> None:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer._build_from_shapes(shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _symbolic_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        state = kwargs.pop("initial_state", None)
        if state is not None:
            if not all(isinstance(s, SymbolicTensor) for s in state):
                raise LayerError(
                    f"Bidirectional '{self.name}': initial_state must be symbolic tensors "
                    "when the input is."
                )
            return self.record_call([inputs, *state], args, kwargs)
        return self.record_call(inputs, args, kwargs)

    def call(
        self,
        inputs: Any,
        initial_state: Any = None,
        mask: Any = None,
        training: bool | None = None,
    ) -> Any:
        if isinstance(inputs, (list, tuple)):
            inputs, initial_state = inputs[0], list(inputs[1:])
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        forward_state = backward_state = None
        if initial_state:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        forward = self.forward_layer(
            inputs, initial_state=forward_state, mask=mask, training=training
        )
        backward = self.backward_layer(
            inputs, initial_state=backward_state, mask=mask, training=training
        )
        states: list[torch.Tensor] = []
        if self.return_state:
            states = [*forward[1:], *backward[1:]]
            forward, backward = forward[0], backward[0]
        if self.return_sequences:
            backward = backward.flip(1)  # back in time order
        if self.merge_mode == "concat":
            merged: Any = torch.cat([forward, backward], dim=-1)
        elif self.merge_mode == "sum":
            merged = forward + backward
        elif self.merge_mode == "mul":
            merged = forward * backward
        elif self.merge_mode == "ave":
            merged = (forward + backward) / 2
        else:
            merged = [forward, backward]
        if self.return_state:
            return [*merged, *states] if self.merge_mode is None else [merged, *states]
        return merged

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        outputs = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            states = len(self.forward_layer.state_size) * 2
            return [*outputs, *([None] * states)]
        return outputs if self.merge_mode is None else output_mask

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "layer": serialize_cell(self.forward_layer),
            "merge_mode": self.merge_mode,
        }
        if self._backward_given:
            config["backward_layer"] = serialize_cell(self.backward_layer)
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, merge_mode={self.merge_mode!r}"


class TimeDistributed(Layer):
    """Apply a layer to every time step: `(batch, timesteps, ...)` as `batch * timesteps`
    samples.

    Args:
        layer: the layer (one set of weights for all steps).

    Example:
        >>> import torch
        >>> from lamina.layers import Dense, TimeDistributed
        >>> TimeDistributed(Dense(4))(torch.ones(2, 5, 3)).shape
        torch.Size([2, 5, 4])
    """

    supports_masking = True

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = _layer_from(layer)

    def build(self, input_shape: Any) -> None:
        if not isinstance(input_shape, tuple) or len(input_shape) < 3:
            raise LayerError(
                f"TimeDistributed '{self.name}': expected an input of shape (batch, "
                f"timesteps, ...) with at least 3 axes, received {format_shape(input_shape)}."
            )
        if not self.layer.built:
            self.layer._build_from_shapes((None, *input_shape[2:]))

    def call(
        self, inputs: torch.Tensor, training: bool | None = None, mask: Any = None
    ) -> torch.Tensor:
        batch, steps = inputs.shape[:2]
        flat = inputs.reshape(batch * steps, *inputs.shape[2:])
        keywords = self.layer._call_keywords()
        kwargs: dict[str, Any] = {}
        if training is not None and "training" in keywords:
            kwargs["training"] = training
        if mask is not None and mask.ndim > 2 and "mask" in keywords:
            kwargs["mask"] = mask.reshape(batch * steps, *mask.shape[2:])
        out = self.layer(flat, **kwargs)
        return out.reshape(batch, steps, *out.shape[1:])  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": serialize_cell(self.layer)}


__all__ = ["Bidirectional", "TimeDistributed"]
