"""`RNN`: a cell (`rnn_cells.py`) looped over the time axis, with Keras's masking (a masked
step keeps the states and repeats the previous output), `go_backwards`, `stateful` and
`initial_state`. `recurrent.py` builds `SimpleRNN`, `LSTM` and `GRU` on it."""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.construct import _accepted_keywords
from lamina.core.errors import LayerError, format_shape
from lamina.core.layer import Layer
from lamina.core.tensor import SymbolicTensor, flatten
from lamina.layers.rnn_cells import (
    construct_cell,
    serialize_cell,
)

_RNN_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")


def _sizes(state_size: Any) -> list[int]:
    return [int(s) for s in state_size] if isinstance(state_size, (list, tuple)) else [state_size]


class RNN(Layer):
    """Run a cell over the time axis of `(batch, timesteps, features)` inputs.

    Args:
        cell: a cell (`LSTMCell`, ..., a `StackedRNNCells`, or a layer of your own with
            `state_size` and `call(inputs, states) -> (output, new_states)`), or a list of
            cells (stacked).
        return_sequences: return the output of every step, `(batch, timesteps, units)`,
            instead of the last one.
        return_state: also return the final states: `[output, *states]`.
        go_backwards: process the sequence in reverse (the outputs come in that order).
        stateful: carry the final states of a batch over as the next batch's initial ones
            (sample `i` continues sample `i`); `reset_states()` zeroes them. They are not
            weights.
        unroll: accepted for Keras's API; the loop is a Python loop either way.
        zero_output_for_mask: give masked steps a zero output instead of the previous one.

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        initial_state: a list of state tensors (symbolic ones too) instead of zeros.
        mask: `(batch, timesteps)` booleans; `False` steps are skipped.
        training: whether dropout applies.

    Example:
        >>> import torch
        >>> from lamina.layers import RNN, SimpleRNNCell
        >>> RNN(SimpleRNNCell(4), return_sequences=True)(torch.ones(2, 5, 3)).shape
        torch.Size([2, 5, 4])
    """

    supports_masking = True

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = construct_cell(cell)
        elif isinstance(cell, (list, tuple)):
            from lamina.layers.rnn_cells import StackedRNNCells

            cell = StackedRNNCells(cell)
        if not hasattr(cell, "state_size") or not hasattr(cell, "call"):
            raise ValueError(
                f"{type(self).__name__}: the cell must have `state_size` and "
                f"`call(inputs, states)`, received {cell!r}."
            )
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self._states: list[torch.Tensor] | None = None

    @property
    def state_size(self) -> list[int]:
        return _sizes(self.cell.state_size)

    # ---------------------------------------------------------------- building
    def build(self, input_shape: Any) -> None:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        if len(shape) != 3:
            raise LayerError(
                f"{type(self).__name__} '{self.name}': expected an input of shape (batch, "
                f"timesteps, features), received {format_shape(shape)}. Add a time axis "
                "(Reshape, or an Embedding of the token ids) first."
            )
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell._build_from_shapes((shape[0], shape[-1]))

    def _symbolic_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        state = kwargs.pop("initial_state", None)
        if state is not None:
            states = list(state) if isinstance(state, (list, tuple)) else [state]
            if not all(isinstance(s, SymbolicTensor) for s in states):
                raise LayerError(
                    f"{type(self).__name__} '{self.name}': initial_state must be symbolic "
                    "tensors when the input is."
                )
            return self.record_call([inputs, *states], args, kwargs)
        return self.record_call(inputs, args, kwargs)

    # ---------------------------------------------------------------- calling
    def call(
        self,
        sequences: Any,
        initial_state: Any = None,
        mask: Any = None,
        training: bool | None = None,
    ) -> Any:
        if isinstance(sequences, (list, tuple)):  # [sequences, *initial_state], as recorded
            sequences, initial_state = sequences[0], list(sequences[1:])
        if mask is not None:
            mask = flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask
        if sequences.ndim != 3:
            raise LayerError(
                f"{type(self).__name__} '{self.name}': expected an input of shape (batch, "
                f"timesteps, features), received {tuple(sequences.shape)}."
            )
        states = self._initial_states(sequences, initial_state)
        training = self.training if training is None else training
        output, last, states = self._run(sequences, states, mask, bool(training))
        if self.stateful:
            self._states = [s.detach() for s in states]
        result = output if self.return_sequences else last
        return [result, *states] if self.return_state else result

    def _initial_states(self, x: torch.Tensor, given: Any) -> list[torch.Tensor]:
        batch = x.shape[0]
        if given is not None:
            return list(given) if isinstance(given, (list, tuple)) else [given]
        if self.stateful and self._states is not None and not x.is_meta:
            if self._states[0].shape[0] != batch:
                raise LayerError(
                    f"{type(self).__name__} '{self.name}': stateful, with states for batch "
                    f"size {self._states[0].shape[0]}, received a batch of {batch}; keep the "
                    "batch size fixed or call reset_states()."
                )
            return [s.to(x.device) for s in self._states]
        make = getattr(self.cell, "get_initial_state", None)
        if make is not None:
            made = make(batch_size=batch)
            return list(made) if isinstance(made, (list, tuple)) else [made]
        return [x.new_zeros(batch, size) for size in self.state_size]

    def reset_states(self) -> None:
        """Zero a stateful RNN's states (the next batch starts afresh)."""
        if self._states is not None:
            self._states = [torch.zeros_like(s) for s in self._states]

    reset_state = reset_states

    def _run(
        self, x: torch.Tensor, states: list[torch.Tensor], mask: Any, training: bool
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        return self._loop(x, states, mask, training)

    def _loop(
        self, x: torch.Tensor, states: list[torch.Tensor], mask: Any, training: bool
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        cell = self.cell
        steps = x.shape[1]
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        pass_training = "training" in _accepted_keywords(type(cell).call)
        begin = getattr(cell, "begin_sequence", None)
        if begin is not None:
            begin(x[:, 0], states[0], training)
        outputs: list[torch.Tensor] = []
        last: torch.Tensor | None = None
        try:
            for t in order:
                if pass_training:
                    out, new = cell(x[:, t], states, training=training)
                else:
                    out, new = cell(x[:, t], states)
                new = list(new) if isinstance(new, (list, tuple)) else [new]
                if mask is not None:
                    keep = mask[:, t].unsqueeze(-1)
                    new = [torch.where(keep, n, s) for n, s in zip(new, states)]
                    previous = torch.zeros_like(out) if last is None else last
                    last = torch.where(keep, out, previous)
                    out = (
                        torch.where(keep, out, torch.zeros_like(out))
                        if (self.zero_output_for_mask)
                        else last
                    )
                else:
                    last = out
                states = new
                if self.return_sequences:
                    outputs.append(out)
        finally:
            end = getattr(cell, "end_sequence", None)
            if end is not None:
                end()
        assert last is not None, "an RNN needs at least one time step"
        sequence = torch.stack(outputs, dim=1) if self.return_sequences else last
        return sequence, last, states

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {**super().get_config()}
        if type(self) is RNN:
            config["cell"] = serialize_cell(self.cell)
        for key in _RNN_ARGS:
            config[key] = getattr(self, key)
        config["zero_output_for_mask"] = self.zero_output_for_mask
        return config

    def extra_repr(self) -> str:
        flags = [k for k in _RNN_ARGS if getattr(self, k)]
        return ", ".join([f"name={self.name!r}", *flags])


__all__ = ["RNN"]
