"""What a layer accepts on a real call: its dtype policy, its `InputSpec`, numpy arrays.

`DTypePolicy` is Keras's: `"float16"`, `"bfloat16"`, `"float64"` set both the weights' and
the computation's dtype; `"mixed_float16"` / `"mixed_bfloat16"` keep the weights in float32
and compute in the low precision. `InputSpec` is what custom layers set as
`self.input_spec` to have their inputs checked on every call, with Keras's error.
`prepare_inputs` is the slow branch of `Layer.__call__`: it runs only for layers given a
`dtype=` or an input spec, and for inputs that are not a single tensor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from lamina.core.construct import _to_dtype
from lamina.core.tensor import SymbolicTensor, flatten, map_structure


class DTypePolicy:
    """A layer's dtypes: `variable_dtype` for its weights, `compute_dtype` for its inputs.

    Args:
        name: a dtype name (`"float32"`, `"bfloat16"`, ...) or `"mixed_float16"` /
            `"mixed_bfloat16"`; `None` for torch's default dtype.

    Example:
        >>> from lamina.layers import Dense
        >>> layer = Dense(2, dtype="mixed_bfloat16")
        >>> layer.variable_dtype, layer.compute_dtype
        ('float32', 'bfloat16')
    """

    def __init__(self, name: str | torch.dtype | None = None) -> None:
        if name is None:
            name = _dtype_name(torch.get_default_dtype())
        if isinstance(name, torch.dtype):
            name = _dtype_name(name)
        if name in ("mixed_float16", "mixed_bfloat16"):
            self.variable = torch.float32
            self.compute = _to_dtype(name.removeprefix("mixed_"))
        else:
            self.variable = self.compute = _to_dtype(name)
        self.name = str(name)

    @property
    def variable_dtype(self) -> str:
        return _dtype_name(self.variable)

    @property
    def compute_dtype(self) -> str:
        return _dtype_name(self.compute)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


def policy_of(dtype: Any) -> DTypePolicy:
    """A layer's `dtype=` argument as a policy (a dtype, its name, a policy or its config)."""
    if isinstance(dtype, DTypePolicy):
        return dtype
    if isinstance(dtype, dict):  # Keras's serialized policy
        dtype = dtype.get("config", dtype).get("name")
    return DTypePolicy(dtype)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class InputSpec:
    """The rank, dtype and axis sizes a layer accepts, checked on every call (Keras's class).

    Args:
        dtype: the expected dtype, or `None` for any.
        shape: the full expected shape (`None` entries match any size).
        ndim: the exact rank; `max_ndim` / `min_ndim` bound it instead.
        axes: `{axis: size}` for axes whose size is fixed (negative axes count from the end).
        allow_last_axis_squeeze: accepted for Keras compatibility.
        name: the input's name, shown in errors.

    Example:
        >>> from lamina.layers import InputSpec
        >>> InputSpec(ndim=2, axes={-1: 3}).axes
        {-1: 3}
    """

    def __init__(
        self,
        dtype: Any = None,
        shape: Sequence[int | None] | None = None,
        ndim: int | None = None,
        max_ndim: int | None = None,
        min_ndim: int | None = None,
        axes: dict[int, int] | None = None,
        allow_last_axis_squeeze: bool = False,
        name: str | None = None,
        optional: bool = False,
    ) -> None:
        self.dtype = _to_dtype(dtype) if dtype is not None else None
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = {int(k): int(v) for k, v in (axes or {}).items()}
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.name, self.optional = name, optional

    def __repr__(self) -> str:
        return f"InputSpec(ndim={self.ndim}, axes={self.axes}, shape={self.shape})"


def check_input_spec(layer: Any, inputs: Any) -> None:
    """Raise Keras's ValueError when `inputs` do not match `layer.input_spec`."""
    specs = layer.input_spec
    specs = list(specs) if isinstance(specs, (list, tuple)) else [specs]
    leaves = flatten(inputs)
    if len(leaves) != len(specs):
        raise ValueError(
            f"Layer '{layer.name}' expects {len(specs)} input(s), but it received "
            f"{len(leaves)} input tensors."
        )
    for index, (spec, leaf) in enumerate(zip(specs, leaves)):
        if spec is None:
            continue
        shape = tuple(leaf.shape)
        head = (
            f"Input {index} with name '{spec.name}' of layer '{layer.name}' is incompatible "
            "with the layer:"
        )
        rank = len(shape)
        if spec.ndim is not None and rank != spec.ndim:
            raise ValueError(
                f"{head} expected ndim={spec.ndim}, found ndim={rank}. Full shape received: {shape}"
            )
        if spec.max_ndim is not None and rank > spec.max_ndim:
            raise ValueError(f"{head} expected max_ndim={spec.max_ndim}, found ndim={rank}")
        if spec.min_ndim is not None and rank < spec.min_ndim:
            raise ValueError(
                f"{head} expected min_ndim={spec.min_ndim}, found ndim={rank}. Full shape "
                f"received: {shape}"
            )
        if spec.dtype is not None and leaf.dtype != spec.dtype:
            raise ValueError(f"{head} expected dtype={spec.dtype}, found dtype={leaf.dtype}")
        for axis, size in spec.axes.items():
            if -rank <= axis < rank and shape[axis] not in (None, size):
                raise ValueError(
                    f"{head} expected axis {axis} of input shape to have value {size}, but "
                    f"received input with shape {shape}"
                )
        if spec.shape is not None:
            for want, got in zip(spec.shape, shape):
                if want is not None and got is not None and want != got:
                    raise ValueError(f"{head} expected shape={spec.shape}, found shape={shape}")


def prepare_inputs(layer: Any, inputs: Any) -> Any:
    """Numpy arrays become tensors (floats in torch's default dtype); floating inputs are cast
    to the layer's compute dtype when it was given `dtype=`; the input spec is checked."""
    compute = layer._cast_inputs_to

    def convert(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            value = torch.as_tensor(value)
            if value.is_floating_point() and compute is None:
                value = value.to(torch.get_default_dtype())
        if compute is not None and isinstance(value, torch.Tensor) and value.is_floating_point():
            value = value.to(compute)
        return value

    if not isinstance(inputs, SymbolicTensor):
        inputs = map_structure(convert, inputs)
    if layer.input_spec is not None:
        check_input_spec(layer, inputs)
    return inputs


class LayerDTypes(torch.nn.Module):
    """The dtype policy and input spec half of `Layer` (a mixin: only `Layer` inherits it)."""

    _dtype_policy: DTypePolicy
    _cast_inputs_to: torch.dtype | None
    _autocast_to: torch.dtype | None
    _slow_call: bool
    _eager_call: Callable[..., Any]

    def _set_dtype_policy(self, dtype: Any) -> None:
        policy = policy_of(dtype)
        self._dtype_policy = policy
        self._dtype = policy.variable
        explicit = dtype is not None and policy.compute.is_floating_point
        self._cast_inputs_to = policy.compute if explicit else None
        # Mixed: float32 weights, so the computation runs under torch.autocast.
        self._autocast_to = policy.compute if policy.compute != policy.variable else None
        self._slow_call = self._cast_inputs_to is not None or self.input_spec is not None

    @property
    def dtype_policy(self) -> DTypePolicy:
        return self._dtype_policy

    @property
    def dtype(self) -> str:
        """The dtype of the layer's weights, as a name (Keras's `layer.dtype`)."""
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self) -> str:
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype_policy.variable_dtype

    @property
    def input_spec(self) -> Any:
        """An `InputSpec` (or a list of them) that every call's inputs are checked against."""
        return self.__dict__.get("_input_spec")

    @input_spec.setter
    def input_spec(self, spec: Any) -> None:
        self.__dict__["_input_spec"] = spec
        cast = self.__dict__.get("_cast_inputs_to")
        self.__dict__["_slow_call"] = spec is not None or cast is not None

    def _checked_call(self, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """`__call__` for inputs that are not one tensor, or a layer that casts or checks them."""
        inputs = prepare_inputs(self, inputs)
        with self._autocast(inputs):
            return self._eager_call(inputs, *args, **kwargs)

    def _step_call(self, inputs: Any, **kwargs: Any) -> Any:
        """What a model's plan calls for such a layer (it calls `forward` for the others)."""
        inputs = prepare_inputs(self, inputs)
        with self._autocast(inputs):
            return self.forward(inputs, **kwargs)

    def _autocast(self, inputs: Any) -> Any:
        if self._autocast_to is None:
            return contextlib.nullcontext()
        first = next((t for t in flatten(inputs) if isinstance(t, torch.Tensor)), None)
        device = first.device.type if first is not None else "cpu"
        return torch.autocast(device, dtype=self._autocast_to)
