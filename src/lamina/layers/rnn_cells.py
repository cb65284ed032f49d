"""Recurrent cells: one time step of `SimpleRNN`, `LSTM` and `GRU`, and `StackedRNNCells`.

A cell's `call(inputs, states, training=None)` takes one step `(batch, features)` and a list of
states and returns `(output, new_states)`. Weights keep Keras's names and layout: `kernel`
`(input_dim, gates * units)`, `recurrent_kernel` `(units, gates * units)`, `bias`; gates in
Keras's order (LSTM: i, f, c, o; GRU: z, r, h), so Keras's weights load with `set_weights`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lamina import activations, constraints, initializers, regularizers
from lamina.core.construct import construct
from lamina.core.layer import Layer
from lamina.core.tensor import Shape


def _dropout_mask(like: torch.Tensor, rate: float, seed: int | None) -> torch.Tensor:
    generator = None
    if seed is not None:
        generator = torch.Generator(device=like.device).manual_seed(seed)
    keep = torch.rand(like.shape, generator=generator, device=like.device) >= rate
    return keep.to(like.dtype) / (1.0 - rate)


class _Cell(Layer):
    """The settings and weights every Keras cell shares."""

    gates = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"{type(self).__name__}: expected a positive int for units, received {units!r}."
            )
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, dropout))
        self.recurrent_dropout = min(1.0, max(0.0, recurrent_dropout))
        self.seed = seed
        # Dropout masks drawn once per sequence by the RNN (`begin_sequence`).
        self._masks: tuple[torch.Tensor | None, torch.Tensor | None] | None = None

    @property
    def state_size(self) -> Any:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def build(self, input_shape: Shape) -> None:
        width = self.gates * self.units
        self.kernel = self.add_weight(
            "kernel",
            (int(input_shape[-1] or 0), width),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (self.units, width),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.register_parameter("bias", None)
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                self._bias_shape(),
                self._bias_init(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _bias_init(self) -> Any:
        return self.bias_initializer

    # ---------------------------------------------------------------- dropout
    def begin_sequence(self, step: torch.Tensor, state: torch.Tensor, training: bool) -> None:
        """Draw the dropout masks one sequence shares (Keras's rule)."""
        dp = _dropout_mask(step, self.dropout, self.seed) if training and self.dropout else None
        rdp = None
        if training and self.recurrent_dropout:
            rdp = _dropout_mask(state, self.recurrent_dropout, self.seed)
        self._masks = (dp, rdp)

    def end_sequence(self) -> None:
        self._masks = None

    def _dropped(
        self, inputs: torch.Tensor, h: torch.Tensor, training: bool | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        masks = self._masks
        if masks is None:  # called alone: masks for this step
            self.begin_sequence(inputs, h, bool(training))
            masks, self._masks = self._masks, None
        assert masks is not None
        dp, rdp = masks
        return (inputs if dp is None else inputs * dp), (h if rdp is None else h * rdp)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def extra_repr(self) -> str:
        return f"{self.units}"


class SimpleRNNCell(_Cell):
    """One step of `SimpleRNN`: `h = activation(x @ kernel + h @ recurrent_kernel + bias)`.

    Args:
        units: the size of the state and output. Other arguments as `LSTMCell` (no
            `recurrent_activation`).

    Example:
        >>> import torch
        >>> from lamina.layers import SimpleRNNCell
        >>> out, states = SimpleRNNCell(4)(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> out.shape
        torch.Size([2, 4])
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, **kwargs)

    def call(
        self, inputs: torch.Tensor, states: Sequence[torch.Tensor], training: bool | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, h = self._dropped(inputs, states[0], training)
        z = x @ self.kernel + h @ self.recurrent_kernel
        if self.bias is not None:
            z = z + self.bias
        out = self.activation(z)
        return out, [out]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class LSTMCell(_Cell):
    """One step of `LSTM`: gates i, f, c, o (Keras's order, torch's i, f, g, o).

    Args:
        units: the size of the states `[h, c]` and of the output.
        activation: of the candidate and the output (`tanh`).
        recurrent_activation: of the gates (`sigmoid`).
        use_bias: whether to add `bias`.
        unit_forget_bias: start the forget gate's bias at 1 (Keras's default).
        kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: per weight.
        dropout: the fraction of the inputs dropped in training (one mask per sequence).
        recurrent_dropout: the fraction of the state `h` dropped in training.
        seed: a seed for the dropout masks.

    Example:
        >>> import torch
        >>> from lamina.layers import LSTMCell
        >>> out, (h, c) = LSTMCell(4)(torch.ones(2, 3), [torch.zeros(2, 4), torch.zeros(2, 4)])
        >>> out.shape, c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    gates = 4

    def __init__(self, units: int, *, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self) -> Any:
        return [self.units, self.units]

    def _bias_init(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def forget_ones(shape: Any, dtype: Any = None) -> torch.Tensor:
            values = torch.as_tensor(base((units,), dtype=dtype))
            ones = torch.ones(units, dtype=values.dtype)
            rest = torch.as_tensor(base((2 * units,), dtype=dtype))
            return torch.cat([values, ones, rest])

        return forget_ones

    def call(
        self, inputs: torch.Tensor, states: Sequence[torch.Tensor], training: bool | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, h = self._dropped(inputs, states[0], training)
        z = x @ self.kernel + h @ self.recurrent_kernel
        if self.bias is not None:
            z = z + self.bias
        i, f, c, o = z.chunk(4, dim=-1)
        gate = self.recurrent_activation
        c = gate(f) * states[1] + gate(i) * self.activation(c)
        h = gate(o) * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """One step of `GRU`: gates z, r, h (Keras's order; torch's is r, z, n).

    Args:
        units: the size of the state and output.
        reset_after: apply the reset gate after the recurrent matrix product (Keras 3's and
            torch's convention: `bias` is then `(2, 3 * units)`, input and recurrent biases).
        Others as `LSTMCell`.

    Example:
        >>> import torch
        >>> from lamina.layers import GRUCell
        >>> GRUCell(4)(torch.ones(2, 3), [torch.zeros(2, 4)])[0].shape
        torch.Size([2, 4])
    """

    gates = 3

    def __init__(self, units: int, *, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(
        self, inputs: torch.Tensor, states: Sequence[torch.Tensor], training: bool | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h_prev = states[0]
        x, h = self._dropped(inputs, h_prev, training)
        u = self.units
        bias = self.bias
        gx = x @ self.kernel
        if self.reset_after:
            gh = h @ self.recurrent_kernel
            if bias is not None:
                gx, gh = gx + bias[0], gh + bias[1]
            xz, xr, xh = gx.chunk(3, dim=-1)
            hz, hr, hh = gh.chunk(3, dim=-1)
            z = self.recurrent_activation(xz + hz)
            r = self.recurrent_activation(xr + hr)
            candidate = self.activation(xh + r * hh)
        else:
            if bias is not None:
                gx = gx + bias
            xz, xr, xh = gx.chunk(3, dim=-1)
            kernel = self.recurrent_kernel
            z = self.recurrent_activation(xz + h @ kernel[:, :u])
            r = self.recurrent_activation(xr + h @ kernel[:, u : 2 * u])
            candidate = self.activation(xh + (r * h) @ kernel[:, 2 * u :])
        out = z * h_prev + (1 - z) * candidate
        return out, [out]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}


class StackedRNNCells(Layer):
    """Cells applied one after the other at each step, as one cell.

    Args:
        cells: the cells; the states are the cells' states, in order.

    Example:
        >>> import torch
        >>> from lamina.layers import LSTMCell, RNN, StackedRNNCells
        >>> RNN(StackedRNNCells([LSTMCell(4), LSTMCell(2)]))(torch.ones(1, 5, 3)).shape
        torch.Size([1, 2])
    """

    def __init__(self, cells: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cells = torch.nn.ModuleList(
            construct_cell(c) if isinstance(c, dict) else c for c in cells
        )

    @property
    def state_size(self) -> list[Any]:
        sizes: list[Any] = []
        for cell in self.cells:
            size = cell.state_size
            sizes += list(size) if isinstance(size, (list, tuple)) else [size]
        return sizes

    @property
    def output_size(self) -> int:
        last = self.cells[-1]
        return int(getattr(last, "output_size", _first(last.state_size)))

    def build(self, input_shape: Shape) -> None:
        shape = input_shape
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell._build_from_shapes(shape)
            shape = (shape[0], getattr(cell, "output_size", _first(cell.state_size)))

    def begin_sequence(self, step: torch.Tensor, state: torch.Tensor, training: bool) -> None:
        cell: Any
        for cell in self.cells:
            if hasattr(cell, "begin_sequence"):
                size = getattr(cell, "output_size", _first(cell.state_size))
                cell.begin_sequence(step, state.new_zeros(state.shape[0], size), training)
                step = step.new_zeros(step.shape[0], size)

    def end_sequence(self) -> None:
        cell: Any
        for cell in self.cells:
            if hasattr(cell, "end_sequence"):
                cell.end_sequence()

    def call(
        self, inputs: torch.Tensor, states: Sequence[torch.Tensor], training: bool | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        new_states: list[torch.Tensor] = []
        position = 0
        for cell in self.cells:
            size = cell.state_size
            count = len(size) if isinstance(size, (list, tuple)) else 1
            own = list(states[position : position + count])
            position += count
            inputs, own = cell(inputs, own, training=training)
            new_states += list(own) if isinstance(own, (list, tuple)) else [own]
        return inputs, new_states

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cells": [serialize_cell(c) for c in self.cells]}


def _first(size: Any) -> int:
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def serialize_cell(cell: Any) -> dict[str, Any]:
    """A cell as `{"class_name", "config"}`, as Keras nests layers in configs."""
    return {"class_name": type(cell).__name__, "config": cell.get_config()}


def construct_cell(config: dict[str, Any]) -> Layer:
    """A cell from `serialize_cell`'s dict: lamina's cells by name, a user's cell from the
    registry."""
    import lamina.layers
    from lamina.saving.registry import get_registered_object

    name = config["class_name"]
    cls = getattr(lamina.layers, name, None) or get_registered_object(name)
    if cls is None:
        raise ValueError(
            f"Unknown cell class {name!r}; register it with "
            "@lamina.saving.register_serializable() so that a saved RNN can rebuild it."
        )
    return construct(cls, dict(config["config"]))  # type: ignore[no-any-return]


__all__ = ["GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells"]
