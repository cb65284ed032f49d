"""`SimpleRNN`, `LSTM`, `GRU`: `RNN` (rnn.py) with Keras's cells and flattened arguments.

`LSTM` and `GRU` run torch's fused kernels (`torch._VF.lstm` / `gru`) on the cell's own
weights, transposed and reordered per call, when the settings are what those kernels
compute: default activations, no recurrent dropout, and no mask or a right-padded one (as
packed sequences). Otherwise they loop the cell.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.nn.utils import rnn as rnn_utils

from lamina import activations
from lamina.core.construct import _accepted_keywords
from lamina.layers.rnn import RNN
from lamina.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, _dropout_mask


class _KerasRNN(RNN):
    """`SimpleRNN`, `LSTM`, `GRU`: the cell's arguments flattened into the layer's."""

    cell_class: type[Any]

    def __init__(self, units: int, **kwargs: Any) -> None:
        cell_keys = set(_accepted_keywords(self.cell_class.__init__)) | set(_CELL_BASE_ARGS)
        cell_keys -= {"self", "kwargs", "name", "units"}
        cell_args = {k: kwargs.pop(k) for k in list(kwargs) if k in cell_keys}
        self.use_cudnn = kwargs.pop("use_cudnn", "auto")
        cell = self.cell_class(units, name=f"{self._cell_name()}", **cell_args)
        super().__init__(cell, **kwargs)

    def _cell_name(self) -> str:
        from lamina.core.layer import snake_case

        return snake_case(self.cell_class.__name__)

    def __getattr__(self, name: str) -> Any:
        if name in _CELL_BASE_ARGS or name in ("units", "unit_forget_bias", "reset_after"):
            return getattr(self._modules["cell"], name)
        return super().__getattr__(name)

    def get_config(self) -> dict[str, Any]:
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**super().get_config(), **cell_config}

    def _fusable(self, mask: Any) -> bool:
        cell: Any = self.cell
        if type(cell) is not self.cell_class or cell.recurrent_dropout:
            return False
        if activations.serialize(cell.activation) != "tanh":
            return False
        if activations.serialize(cell.recurrent_activation) != "sigmoid":
            return False
        return mask is None or not self.go_backwards

    def _run(
        self, x: torch.Tensor, states: list[torch.Tensor], mask: Any, training: bool
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        if self.use_cudnn is False or not hasattr(self, "_torch_params") or not self._fusable(mask):
            return self._loop(x, states, mask, training)
        if mask is not None:
            lengths = mask.sum(dim=1)
            right_padded = torch.arange(x.shape[1], device=mask.device) < lengths.unsqueeze(1)
            if not bool((lengths > 0).all()) or not torch.equal(right_padded, mask.bool()):
                return self._loop(x, states, mask, training)
        if training and self.cell.dropout:
            keep = _dropout_mask(x[:, 0], self.cell.dropout, self.cell.seed)
            x = x * keep.unsqueeze(1)
        if self.go_backwards:
            x = x.flip(1)
        return self._fused(x, states, mask, training)

    def _fused(
        self, x: torch.Tensor, states: list[torch.Tensor], mask: Any, training: bool
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        params, has_bias = self._torch_params()
        if x.is_cuda:
            # cuDNN wants one flat weight buffer; the cell's weights are separate (Keras's
            # layout), so each call packs them, and torch would warn about it at every call.
            params = [p.contiguous() for p in params]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="RNN module weights are not part")
                return self._fused_call(x, states, mask, training, params, has_bias)
        return self._fused_call(x, states, mask, training, params, has_bias)

    def _fused_call(
        self,
        x: torch.Tensor,
        states: list[torch.Tensor],
        mask: Any,
        training: bool,
        params: list[torch.Tensor],
        has_bias: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        hx = [s.unsqueeze(0) for s in states]
        if mask is None:
            out, *final = self._kernel(x, hx, params, has_bias, training)
        else:
            packed = rnn_utils.pack_padded_sequence(
                x, mask.sum(dim=1).cpu(), batch_first=True, enforce_sorted=False
            )
            order = packed.sorted_indices
            assert order is not None and packed.unsorted_indices is not None
            hx = [h.index_select(1, order) for h in hx]
            data, *final = self._kernel(
                (packed.data, packed.batch_sizes), hx, params, has_bias, training
            )
            final = [h.index_select(1, packed.unsorted_indices) for h in final]
            packed_out = rnn_utils.PackedSequence(
                data, packed.batch_sizes, order, packed.unsorted_indices
            )
            out, _ = rnn_utils.pad_packed_sequence(
                packed_out, batch_first=True, total_length=x.shape[1]
            )
            if not self.zero_output_for_mask:  # a padded step repeats the last output
                out = torch.where(mask.unsqueeze(-1), out, final[0][0].unsqueeze(1))
        new_states = [h[0] for h in final]
        return out, new_states[0], new_states

    def _kernel(
        self, x: Any, hx: list[torch.Tensor], params: list[torch.Tensor], bias: bool, train: bool
    ) -> Any:
        raise NotImplementedError


_CELL_BASE_ARGS = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
    "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
    "dropout", "recurrent_dropout", "seed",
)  # fmt: skip


class SimpleRNN(_KerasRNN):
    """A fully connected RNN: `h = activation(x @ kernel + h @ recurrent_kernel + bias)`.

    Args:
        units: the size of the output and state. The other arguments are `SimpleRNNCell`'s
            and `RNN`'s.

    Example:
        >>> import torch
        >>> from lamina.layers import SimpleRNN
        >>> SimpleRNN(4)(torch.ones(2, 5, 3)).shape
        torch.Size([2, 4])
    """

    cell_class = SimpleRNNCell


class LSTM(_KerasRNN):
    """Long short-term memory (Hochreiter 1997), with Keras's weights and defaults.

    Args:
        units: the size of the output and of the states `[h, c]`. The other arguments are
            `LSTMCell`'s (`activation`, `recurrent_activation`, `use_bias`, initializers,
            regularizers, constraints, `unit_forget_bias`, `dropout`, `recurrent_dropout`,
            `seed`) and `RNN`'s (`return_sequences`, `return_state`, `go_backwards`,
            `stateful`, `unroll`); `use_cudnn=False` forces the cell loop.

    Example:
        >>> import torch
        >>> from lamina.layers import LSTM
        >>> out, h, c = LSTM(4, return_state=True)(torch.ones(2, 5, 3))
        >>> out.shape, c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    cell_class = LSTMCell

    def _torch_params(self) -> tuple[list[torch.Tensor], bool]:
        cell = self.cell
        params = [cell.kernel.t(), cell.recurrent_kernel.t()]
        if cell.bias is None:
            return params, False
        return [*params, cell.bias, torch.zeros_like(cell.bias)], True

    def _kernel(
        self, x: Any, hx: list[torch.Tensor], params: list[torch.Tensor], bias: bool, train: bool
    ) -> Any:
        if isinstance(x, tuple):
            return torch._VF.lstm(x[0], x[1], hx, params, bias, 1, 0.0, train, False)
        return torch._VF.lstm(x, hx, params, bias, 1, 0.0, train, False, True)


class GRU(_KerasRNN):
    """Gated recurrent unit (Cho et al. 2014), with Keras's weights and defaults.

    Args:
        units: the size of the output and state. `reset_after=True` (Keras 3's default and
            torch's convention) runs torch's fused kernel; `False` loops the cell. The other
            arguments are `GRUCell`'s and `RNN`'s, as for `LSTM`.

    Example:
        >>> import torch
        >>> from lamina.layers import GRU
        >>> GRU(4, return_sequences=True)(torch.ones(2, 5, 3)).shape
        torch.Size([2, 5, 4])
    """

    cell_class = GRUCell

    def _fusable(self, mask: Any) -> bool:
        return bool(self.cell.reset_after) and super()._fusable(mask)

    def _torch_params(self) -> tuple[list[torch.Tensor], bool]:
        cell = self.cell
        u = cell.units
        # Keras's gates z, r, h; torch's r, z, n.
        order = torch.cat([torch.arange(u, 2 * u), torch.arange(u), torch.arange(2 * u, 3 * u)])
        order = order.to(cell.kernel.device)
        params = [cell.kernel[:, order].t(), cell.recurrent_kernel[:, order].t()]
        if cell.bias is None:
            return params, False
        return [*params, cell.bias[0, order], cell.bias[1, order]], True

    def _kernel(
        self, x: Any, hx: list[torch.Tensor], params: list[torch.Tensor], bias: bool, train: bool
    ) -> Any:
        if isinstance(x, tuple):
            return torch._VF.gru(x[0], x[1], hx[0], params, bias, 1, 0.0, train, False)
        return torch._VF.gru(x, hx[0], params, bias, 1, 0.0, train, False, True)


__all__ = ["GRU", "LSTM", "RNN", "SimpleRNN"]
