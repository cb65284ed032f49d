"""How a layer finds its output shapes without real data.

`ShapeInference` runs the layer on the `meta` device at batch sizes 2 and 3 (dimensions that
differ are `None`), falls back to a real run on zeros under `no_grad` with the random state
saved, and last to the layer's own `compute_output_shape`. `Layer` inherits it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina.core.budget import BuildLimitError
from lamina.core.errors import LayerError, format_shape
from lamina.core.tensor import Shape, SymbolicTensor, flatten, map_structure, pack_like


@contextlib.contextmanager
def _random_state_kept() -> Iterator[None]:
    """Leave torch's (CPU), numpy's and Python's global generators as they were: inferring a
    shape must not change what the user's program draws next."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


class ShapeInference(nn.Module):
    """The shape inference half of `Layer` (a mixin: only `Layer` inherits it)."""

    name: str
    built: bool
    _build_input_shape: Any
    _cast_inputs_to: torch.dtype | None
    _autocast_to: torch.dtype | None
    _autocast: Callable[[Any], Any]
    _build_from_shapes: Callable[[Any], None]

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape (or shapes) for inputs of `input_shape` (batch dimension first,
        `None` where unknown), as Keras gives it: the layer is built if needed and run on the
        `meta` device. Override it only for a layer that cannot be run that way."""
        shapes = _as_shapes(input_shape)
        dtypes = iter(self._input_dtypes(shapes))
        placeholders = _as_shapes(
            shapes, lambda shape: SymbolicTensor(shape, next(dtypes), name="input")
        )
        if not self.built:
            self._build_from_shapes(shapes)
        specs = self._infer_output_specs(placeholders, {})
        return map_structure(lambda spec: spec.shape, specs)

    def _input_dtypes(self, shapes: Any) -> list[torch.dtype]:
        """The dtypes `compute_output_shape` feeds (a functional model knows its inputs')."""
        return [torch.get_default_dtype()] * len(flatten(shapes))

    # ---------------------------------------------------------------- shape inference
    def _infer_output_specs(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        """Run the layer on placeholders of two batch sizes; return (shape, dtype) leaves."""
        # Sublayers first called inside the meta run are built for real after it, drawing
        # their initial values as an eager first call would: outside the kept state.
        try:
            with _random_state_kept():
                runs = [self._placeholder_run(inputs, kwargs, size, meta=True) for size in (2, 3)]
        except BuildLimitError:
            raise  # a load's limit, not a layer that cannot run on meta
        except Exception:
            self._materialize_sublayers_built_on_meta()
            try:
                with _random_state_kept(), torch.no_grad():
                    runs = [self._placeholder_run(inputs, kwargs, s, meta=False) for s in (2, 3)]
            except BuildLimitError:
                raise
            except Exception as error:
                return self._declared_output_specs(inputs, error)
        else:
            self._materialize_sublayers_built_on_meta()
        first, second = runs
        leaves_a, leaves_b = flatten(first), flatten(second)
        for leaf in leaves_a:
            if not isinstance(leaf, torch.Tensor):
                raise LayerError(
                    f"{type(self).__name__} '{self.name}': call() returned a "
                    f"{type(leaf).__name__}; expected a tensor or a list/tuple/dict of tensors."
                )
        specs = [
            Spec(tuple(da if da == db else None for da, db in zip(a.shape, b.shape)), a.dtype)
            for a, b in zip(leaves_a, leaves_b)
        ]
        return pack_like(first, specs)

    def _materialize_sublayers_built_on_meta(self) -> None:
        """Build again, for real, the sublayers first called inside the meta run.

        A layer that creates sublayers in `__init__` and calls them in `call()` (the Keras
        way) has them built lazily, by their first call: the meta run, so their weights
        were made on the meta device. Each is built again from the input shapes it recorded,
        on the layer's device, drawing its initial values as an eager first call would.
        """
        modules = [m for m in self.modules() if m is not self and isinstance(m, ShapeInference)]
        if not any(_has_meta_state(m) for m in modules):
            return
        real = [t for t in (*self.parameters(), *self.buffers()) if not t.is_meta]
        device = real[0].device if real else torch.empty(0).device  # the default device
        for module in modules:
            if not _has_meta_state(module):
                continue
            for table in (module._parameters, module._buffers):
                for name in [n for n, t in table.items() if t is not None and t.is_meta]:
                    del table[name]
            # Weights a sublayer makes in call() rather than build() are dropped here and
            # made again by its first real call.
            module.built = False
            with torch.device(device):
                module._build_from_shapes(module._build_input_shape)

    def _placeholder_run(
        self, inputs: Any, kwargs: dict[str, Any], size: int, *, meta: bool
    ) -> Any:
        device = torch.device("meta") if meta else self._device()

        def placeholder(t: SymbolicTensor) -> torch.Tensor:
            dims = [size if d is None else d for d in t.shape]
            for i in range(1, len(dims)):
                if t.shape[i] is None:
                    dims[i] = size + 3
            dtype = t.dtype
            if self._cast_inputs_to is not None and dtype.is_floating_point:
                dtype = self._cast_inputs_to  # as a real call casts them
            return torch.zeros(dims, dtype=dtype, device=device)

        if meta and self._autocast_to is not None:
            # torch.autocast has no meta device: a mixed-precision layer gets the real run.
            raise NotImplementedError("autocast on the meta device")
        values = map_structure(placeholder, inputs)
        if not meta:
            with self._autocast(values):
                return self.forward(values, **kwargs)
        # Every path to a tensor, aliases included (a module registered twice): functional_call
        # must swap and restore each of them, or the real tensors could stay on meta.
        named = (
            *self.named_parameters(remove_duplicate=False),
            *self.named_buffers(remove_duplicate=False),
        )
        state = {k: v.to("meta") for k, v in named}
        with torch.device("meta"):
            return torch.func.functional_call(self, state, (values,), kwargs, strict=False)

    def _declared_output_specs(self, inputs: Any, error: Exception) -> Any:
        if type(self).compute_output_shape is not ShapeInference.compute_output_shape:
            shapes = self.compute_output_shape(map_structure(lambda t: t.shape, inputs))
            dtype = flatten(inputs)[0].dtype
            if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
                return Spec(tuple(shapes), dtype)
            return [Spec(tuple(s), dtype) for s in shapes]
        received = map_structure(lambda t: t.shape, inputs)
        built_for = self._build_input_shape
        hint = (
            f" (it was built for input shape {format_shape(built_for)})"
            if built_for is not None and built_for != received
            else ""
        )
        raise LayerError(
            f"{type(self).__name__} '{self.name}': calling it on input shape "
            f"{format_shape(received)} failed with {type(error).__name__}: {error}{hint}"
        ) from error

    def _device(self) -> torch.device:
        for param in self.parameters():
            return param.device
        for buffer in self.buffers():
            return buffer.device
        return torch.device("cpu")


def _as_shapes(value: Any, leaf: Callable[[Shape], Any] = lambda shape: shape) -> Any:
    """`leaf` of each shape (a tuple or list of ints and None, made a tuple) in a structure."""
    if isinstance(value, (list, tuple)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in value
    ):
        return leaf(tuple(None if d is None else int(d) for d in value))
    if isinstance(value, dict):
        return {k: _as_shapes(v, leaf) for k, v in value.items()}
    return type(value)(_as_shapes(v, leaf) for v in value)


def _has_meta_state(module: nn.Module) -> bool:
    own = (*module._parameters.values(), *module._buffers.values())
    return any(t is not None and t.is_meta for t in own)


class Spec:
    """The inferred shape and dtype of one output (a leaf, unlike a tuple)."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: Shape, dtype: torch.dtype) -> None:
        self.shape = shape
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"Spec({self.shape}, {self.dtype})"
