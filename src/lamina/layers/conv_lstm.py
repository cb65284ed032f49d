"""`ConvLSTM1D/2D/3D`: an LSTM whose gates are convolutions, over sequences of images.

Keras's math and layout: the input `(batch, time, *spatial, channels)` (channels-last) goes
through `kernel` (`(*kernel_size, channels, 4 * filters)`, gates in Keras's order i, f, c, o)
with the layer's strides, padding and dilation; the hidden state goes through
`recurrent_kernel` (`(*kernel_size, filters, 4 * filters)`) with "same" padding and stride 1.
The input convolution runs once for every time step together; the loop only does the
recurrent one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina import activations, constraints, initializers, regularizers
from lamina.core.errors import LayerError, format_shape
from lamina.core.layer import Layer
from lamina.layers.conv_utils import (
    conv_output_length,
    pad_for_torch,
    same_pads,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)
from lamina.layers.rnn_cells import _dropout_mask

_CONV: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class _ConvLSTM(Layer):
    rank = 2
    supports_masking = True

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        *,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{name}: expected a positive int for filters, received {filters!r}.")
        for arg, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name}: expected {arg} in [0, 1), received {rate!r}.")
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = standardize_tuple(name, "kernel_size", kernel_size, self.rank)
        self.strides = standardize_tuple(name, "strides", strides, self.rank)
        self.padding = standardize_padding(name, padding, ("valid", "same"))
        self.data_format = standardize_data_format(name, data_format)
        self.dilation_rate = standardize_tuple(name, "dilation_rate", dilation_rate, self.rank)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = unit_forget_bias
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout, self.recurrent_dropout, self.seed = dropout, recurrent_dropout, seed
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful = go_backwards, stateful
        self._states: list[torch.Tensor] | None = None

    # ---------------------------------------------------------------- building
    def _check_rank(self, shape: Any) -> None:
        if len(shape) != self.rank + 3:
            layout = ", ".join(["time", *("dim" for _ in range(self.rank)), "channels"])
            raise LayerError(
                f"{type(self).__name__} '{self.name}': expected an input of shape (batch, "
                f"{layout}), rank {self.rank + 3}, received {format_shape(shape)}."
            )

    def build(self, input_shape: Any) -> None:
        self._check_rank(input_shape)
        channels = input_shape[2] if self.data_format == "channels_first" else input_shape[-1]
        if channels is None:
            raise LayerError(
                f"{type(self).__name__} '{self.name}': the channels axis must be known, "
                f"received {format_shape(input_shape)}."
            )
        width = 4 * self.filters
        self.kernel = self.add_weight(
            "kernel",
            (*self.kernel_size, channels, width),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (*self.kernel_size, self.filters, width),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.register_parameter("bias", None)
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (width,),
                self._bias_init(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _bias_init(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, filters = self.bias_initializer, self.filters

        def forget_ones(shape: Any, dtype: Any = None) -> torch.Tensor:
            value = base((filters,), dtype)
            return torch.cat([value, torch.ones_like(value), base((2 * filters,), dtype)])

        return forget_ones

    # ---------------------------------------------------------------- calling
    def _torch_kernel(self, kernel: torch.Tensor) -> torch.Tensor:
        # Keras's (*k, in, out) as torch's (out, in, *k).
        return kernel.permute(self.rank + 1, self.rank, *range(self.rank))

    def call(
        self,
        inputs: torch.Tensor,
        initial_state: Any = None,
        mask: torch.Tensor | None = None,
        training: bool | None = None,
    ) -> Any:
        if isinstance(inputs, (list, tuple)):
            inputs, initial_state = inputs[0], list(inputs[1:])
        self._check_rank(tuple(inputs.shape))
        x = inputs if self.data_format == "channels_first" else inputs.movedim(-1, 2)
        batch, steps = x.shape[:2]
        training = self.training if training is None else bool(training)
        if training and self.dropout:
            x = x * _dropout_mask(x[:, :1], self.dropout, self.seed)
        # The input convolution of every step at once.
        frames = x.reshape(batch * steps, *x.shape[2:])
        pads = same_pads(frames.shape[2:], self.kernel_size, self.strides, self.dilation_rate)
        if self.padding == "valid":
            pads = [(0, 0)] * self.rank
        frames, padding = pad_for_torch(frames, pads)
        conv = _CONV[self.rank]
        projected = conv(
            frames, self._torch_kernel(self.kernel), self.bias, self.strides, padding,
            self.dilation_rate,
        )  # fmt: skip
        projected = projected.reshape(batch, steps, *projected.shape[1:])
        h, c = self._initial_states(projected, initial_state)
        recurrent = self._torch_kernel(self.recurrent_kernel)
        state_pads = same_pads(h.shape[2:], self.kernel_size, (1,) * self.rank, (1,) * self.rank)
        drop_h = None
        if training and self.recurrent_dropout:
            drop_h = _dropout_mask(h, self.recurrent_dropout, self.seed)
        outputs = []
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        for t in order:
            state, state_padding = pad_for_torch(h if drop_h is None else h * drop_h, state_pads)
            z = projected[:, t] + conv(state, recurrent, None, 1, state_padding)
            zi, zf, zc, zo = z.chunk(4, dim=1)
            new_c = self.recurrent_activation(zf) * c + self.recurrent_activation(
                zi
            ) * self.activation(zc)
            new_h = self.recurrent_activation(zo) * self.activation(new_c)
            if mask is not None:
                keep = mask[:, t].reshape(batch, *([1] * (self.rank + 1)))
                new_h, new_c = torch.where(keep, new_h, h), torch.where(keep, new_c, c)
            h, c = new_h, new_c
            if self.return_sequences:
                outputs.append(h)
        if self.stateful:
            self._states = [h.detach(), c.detach()]
        output = torch.stack(outputs, dim=1) if self.return_sequences else h
        results = [output, h, c] if self.return_state else [output]
        if self.data_format == "channels_last":
            results = [r.movedim(2 if r.ndim == self.rank + 3 else 1, -1) for r in results]
        return results if self.return_state else results[0]

    def _initial_states(self, projected: torch.Tensor, given: Any) -> list[torch.Tensor]:
        if given is not None:
            states = list(given) if isinstance(given, (list, tuple)) else [given]
            if self.data_format == "channels_last":
                states = [s.movedim(-1, 1) for s in states]
            return states
        if self.stateful and self._states is not None and not projected.is_meta:
            return [s.to(projected.device) for s in self._states]
        shape = (projected.shape[0], self.filters, *projected.shape[3:])
        zeros = projected.new_zeros(shape)
        return [zeros, zeros]

    def reset_states(self) -> None:
        """Zero a stateful layer's states (the next batch starts afresh)."""
        self._states = None

    reset_state = reset_states

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        self._check_rank(input_shape)
        first = self.data_format == "channels_first"
        sizes = input_shape[3:] if first else input_shape[2:-1]
        out = tuple(
            conv_output_length(n, k, s, d, self.padding)
            for n, k, s, d in zip(sizes, self.kernel_size, self.strides, self.dilation_rate)
        )
        frame = (self.filters, *out) if first else (*out, self.filters)
        batch = input_shape[0]
        output = (batch, input_shape[1], *frame) if self.return_sequences else (batch, *frame)
        return [output, (batch, *frame), (batch, *frame)] if self.return_state else output

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
        }

    def extra_repr(self) -> str:
        return f"name={self.name!r}, filters={self.filters}, kernel_size={self.kernel_size}"


class ConvLSTM1D(_ConvLSTM):
    """A convolutional LSTM over sequences of 1-D signals, `(batch, time, steps, channels)`.

    Example:
        >>> import torch
        >>> ConvLSTM1D(4, 3, padding="same")(torch.ones(2, 5, 6, 1)).shape
        torch.Size([2, 6, 4])
    """

    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """A convolutional LSTM over sequences of images, `(batch, time, rows, cols, channels)`.

    Args:
        filters: channels of the output (and of both states).
        kernel_size, strides, padding, data_format, dilation_rate: of the input convolution,
            as in `Conv2D`; the state convolution is "same" with stride 1.
        activation, recurrent_activation, use_bias, the initializers, regularizers and
            constraints, unit_forget_bias, dropout, recurrent_dropout, seed,
            return_sequences, return_state, go_backwards, stateful: as in `LSTM`.

    Example:
        >>> import torch
        >>> layer = ConvLSTM2D(4, 3, padding="same", return_sequences=True)
        >>> layer(torch.ones(2, 5, 8, 8, 1)).shape
        torch.Size([2, 5, 8, 8, 4])
    """

    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """A convolutional LSTM over sequences of volumes, `(batch, time, d1, d2, d3, channels)`."""

    rank = 3


__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
