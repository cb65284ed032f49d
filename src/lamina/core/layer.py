"""`Layer`: a `torch.nn.Module` that can also be called on symbolic tensors.

`Layer.__call__` has two paths. Symbolic inputs build the layer if needed, infer the output
shapes by running the layer on the `meta` device, and record a `Node`. Real tensors go straight
to `nn.Module.__call__` (hooks included) and `forward`, which calls the user's `call`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina import constraints, initializers, regularizers
from lamina.core.tensor import (
    Node,
    Shape,
    SymbolicTensor,
    flatten,
    is_symbolic,
    map_structure,
    pack_like,
)

_name_counts: defaultdict[str, int] = defaultdict(int)
# Top-level calls (a user calling a layer or model, or one training step) are counted, so
# that `add_loss` keeps only the losses of the latest one; calls made inside a call are not.
_depth = 0
_call_count = 0
_call_losses: list[torch.Tensor] = []


def unique_name(base: str) -> str:
    """`base`, then `base_1`, `base_2`, ... for each later request in this session."""
    count = _name_counts[base]
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Restart automatic layer names (`dense`, `dense_1`, ...) from the beginning."""
    _name_counts.clear()


def snake_case(name: str) -> str:
    """Keras's default layer names: `Conv2DTranspose` -> `conv2d_transpose` (no `_` after a
    digit)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def format_shape(shape: Any) -> str:
    """`(None, 4)` for a shape, `[(None, 4), (None, 2)]` for several; names of axes in an
    expected shape print bare: `(None, rows, cols, channels)`."""
    if isinstance(shape, tuple) and all(d is None or isinstance(d, (int, str)) for d in shape):
        return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k!r}: {format_shape(v)}" for k, v in shape.items()) + "}"
    return "[" + ", ".join(format_shape(s) for s in shape) + "]"


@functools.lru_cache(maxsize=1024)
def _accepted_keywords(fn: Callable[..., Any]) -> frozenset[str]:
    """The parameter names `fn` declares; `training`/`mask` are passed only when named, as in
    Keras (a `**kwargs` catch-all does not count)."""
    if isinstance(fn, nn.Module):
        fn = fn.forward
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p.name for p in params if p.kind is not p.VAR_KEYWORD)


class LayerError(ValueError):
    """A layer could not be built or called on the inputs it was given."""


class Layer(nn.Module):
    """The base class of all lamina layers; a `torch.nn.Module`.

    Subclasses override `__init__`, `build(input_shape)` (called once, with the first input's
    shape, to create weights with `add_weight`), `call(inputs, *, training=None, mask=None)` and
    `get_config()`. Output shapes are inferred by running `call` on the `meta` device;
    override `compute_output_shape` only when that cannot work.

    Layers start in inference mode (`training=False` semantics, as Keras's `model(x)`);
    `fit` switches to training mode and back, and `.train()` / `.eval()` work as in torch.

    Args:
        name: the layer's name; a unique snake_case name of the class otherwise.
        trainable: whether the layer's weights are updated by training.
        dtype: the dtype of the layer's weights (default: torch's default dtype).
        input_shape: for the first layer of a `Sequential`, the shape of one sample.
        activity_regularizer: a regularizer (`lamina.regularizers`) of the layer's outputs,
            whose penalty `add_loss` adds at each call.

    Example:
        >>> import torch
        >>> from lamina.layers import Layer
        >>> class Scale(Layer):
        ...     def build(self, input_shape):
        ...         self.scale = self.add_weight("scale", (input_shape[-1],), "ones")
        ...     def call(self, inputs):
        ...         return inputs * self.scale
        >>> Scale()(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        layer = super().__new__(cls)
        if cls.__init__ is not Layer.__init__ and not cls.__module__.startswith("lamina."):
            # A user's layer: its constructor arguments are its config unless it overrides
            # get_config() (Keras 3's rule), so that saving does not silently lose them.
            layer.__dict__["_init_arguments"] = (args, kwargs)
        return layer

    def __init__(
        self,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: torch.dtype | str | None = None,
        input_shape: Sequence[int | None] | None = None,
        input_dim: int | None = None,
        activity_regularizer: Any = None,
    ) -> None:
        super().__init__()
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.built = False
        self._trainable = trainable
        self._dtype = _to_dtype(dtype) if dtype is not None else torch.get_default_dtype()
        self._inbound_nodes: list[Node] = []
        self._build_input_shape: Any = None
        self._build_input_specs: Any = None
        self._eager_losses: list[tuple[int, torch.Tensor]] = []
        self._warned_output_shape = False
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.train(False)

    # ---------------------------------------------------------------- user-facing hooks
    def build(self, input_shape: Any) -> None:
        """Create the layer's weights; `input_shape` has `None` for the batch dimension."""

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} '{self.name}' does not define call().")

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape, for layers whose shape cannot be inferred by running them."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (weights excluded).

        A layer class of your own that does not override this gets the arguments its
        constructor was called with, as in Keras 3; override it when they are not plain
        values (numbers, strings, lists, dicts, arrays, functions).
        """
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self._dtype != torch.get_default_dtype():
            config["dtype"] = str(self._dtype).replace("torch.", "")
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if type(self).get_config is Layer.get_config:
            config = {**self._constructor_config(), **config}
        return config

    def _constructor_config(self) -> dict[str, Any]:
        """The arguments a user's layer class was constructed with (empty for lamina's)."""
        arguments = self.__dict__.get("_init_arguments")
        return {} if arguments is None else constructor_arguments(type(self), *arguments)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return construct(cls, config)

    # ---------------------------------------------------------------- calling
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs):
            return self._symbolic_call(inputs, *args, **kwargs)
        if not self.built:
            self._build_from_values(inputs)
        global _depth, _call_count, _call_losses
        if _depth:
            return self._dispatch(inputs, *args, **kwargs)
        _depth = 1
        _call_count += 1
        _call_losses = []
        try:
            return self._dispatch(inputs, *args, **kwargs)
        finally:
            _depth = 0

    def _dispatch(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if hooked(self) or global_hooks_active():
            return super().__call__(inputs, *args, **kwargs)
        return self.forward(inputs, *args, **kwargs)

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = self.call(inputs, *args, **kwargs)
        if self.activity_regularizer is not None:  # the plan calls `call` when it is None
            for output in flatten(outputs):
                if isinstance(output, torch.Tensor) and not output.is_meta:
                    self.add_loss(regularizers.activity_loss(self.activity_regularizer, output))
        return outputs

    def _call_keywords(self) -> frozenset[str]:
        """The keywords (`training`, `mask`) this layer's `call` accepts."""
        return _accepted_keywords(type(self).call)

    def _symbolic_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self.record_call(inputs, args, kwargs)

    def record_call(
        self, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any], specs: Any = None
    ) -> Any:
        """Build the layer if needed and record a node on symbolic `inputs`.

        `specs`, when given, are the output shapes and dtypes already known (a structure of
        `Spec`, as a saved file stores them); the layer is then not run to infer them.
        """
        if args:
            raise LayerError(
                f"{type(self).__name__} '{self.name}': extra positional arguments are not "
                "supported on symbolic tensors; pass several inputs as a list."
            )
        for leaf in flatten(inputs):
            if not isinstance(leaf, SymbolicTensor):
                raise LayerError(
                    f"{type(self).__name__} '{self.name}': received a {type(leaf).__name__} "
                    "among symbolic inputs; expected only symbolic tensors. Pass constants "
                    "through Lambda(..., arguments={...}) instead."
                )
        shapes = map_structure(lambda t: t.shape, inputs)
        if not self.built:
            self._build_from_shapes(shapes)
        else:
            self.check_input_shape(shapes)
        if specs is None or self._has_unbuilt_sublayers():
            # Sublayers built by their first call get built by the inference run.
            specs = self._infer_output_specs(inputs, kwargs)
            self._check_output_spec(shapes, specs)
        node = Node(self, inputs, None, kwargs)
        leaves = flatten(specs)
        outputs = [
            SymbolicTensor(
                spec.shape,
                spec.dtype,
                name=self.name if len(leaves) == 1 else f"{self.name}:{i}",
                node=node,
                index=i,
            )
            for i, spec in enumerate(leaves)
        ]
        node.outputs = pack_like(specs, outputs)
        node.flat_outputs = outputs
        self._inbound_nodes.append(node)
        return node.outputs

    # ---------------------------------------------------------------- building
    def _build_from_shapes(self, shapes: Any) -> None:
        try:
            self.build(shapes)
        except LayerError:
            raise
        except Exception as error:
            raise LayerError(
                f"{type(self).__name__} '{self.name}': building for input shape "
                f"{format_shape(shapes)} failed: {error}"
            ) from error
        self._build_input_shape = shapes
        self.built = True
        self.trainable = self._trainable

    def _build_from_values(self, inputs: Any) -> None:
        def shape_of(t: Any) -> Shape:
            return (None, *tuple(t.shape)[1:]) if isinstance(t, torch.Tensor) and t.ndim else ()

        self._build_from_shapes(map_structure(shape_of, inputs))
        # What a saved subclassed model is called on again to rebuild its weights.
        self._build_input_specs = map_structure(
            lambda t: Spec(shape_of(t), t.dtype if isinstance(t, torch.Tensor) else torch.float32),
            inputs,
        )
        first = next((t for t in flatten(inputs) if isinstance(t, torch.Tensor)), None)
        if first is not None and first.device.type != "cpu":
            self.to(first.device)

    def check_input_shape(self, shapes: Any) -> None:
        """Raise if a built layer cannot take inputs of `shapes`; layers with weights override."""

    def _check_output_spec(self, input_shapes: Any, specs: Any) -> None:
        """Compare inferred output specs with declared ones (see `Lambda`)."""

    def incompatible_shape(self, expected: Any, received: Any, why: str = "") -> LayerError:
        return LayerError(
            f"{type(self).__name__} '{self.name}': expected input shape "
            f"{format_shape(expected)}, received {format_shape(received)}"
            + (f" ({why})" if why else "")
            + "."
        )

    # ---------------------------------------------------------------- shape inference
    def _infer_output_specs(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        """Run the layer on placeholders of two batch sizes; return (shape, dtype) leaves."""
        try:
            runs = [self._placeholder_run(inputs, kwargs, size, meta=True) for size in (2, 3)]
        except Exception:
            # Sublayers the failed meta run built must be real before the real run.
            self._materialize_sublayers_built_on_meta()
            try:
                with torch.random.fork_rng(devices=[]), torch.no_grad():
                    runs = [self._placeholder_run(inputs, kwargs, s, meta=False) for s in (2, 3)]
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

    def _has_unbuilt_sublayers(self) -> bool:
        return any(isinstance(m, Layer) and not m.built for m in self.modules() if m is not self)

    def _materialize_sublayers_built_on_meta(self) -> None:
        """Build again, for real, the sublayers first called inside the meta run.

        A layer that creates sublayers in `__init__` and calls them in `call()` (the Keras
        way) has them built lazily, by their first call: the meta run, so their weights
        were made on the meta device. Each is built again from the input shapes it recorded,
        on the layer's device, drawing its initial values as an eager first call would.
        """
        modules = [m for m in self.modules() if m is not self and isinstance(m, Layer)]
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
            return torch.zeros(dims, dtype=t.dtype, device=device)

        values = map_structure(placeholder, inputs)
        if not meta:
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
        if type(self).compute_output_shape is not Layer.compute_output_shape:
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

    # ---------------------------------------------------------------- weights
    def add_weight(
        self,
        name: str | None = None,
        shape: Sequence[int] = (),
        initializer: str | Callable[..., torch.Tensor] | None = "glorot_uniform",
        trainable: bool = True,
        *,
        dtype: torch.dtype | None = None,
        regularizer: Any = None,
        constraint: Any = None,
    ) -> nn.Parameter:
        """Create, register and return a weight.

        Args:
            name: the attribute name of the weight (`kernel`, `bias`, ...).
            shape: its shape.
            initializer: an initializer name (`"glorot_uniform"`, `"zeros"`, ...) or a function
                `(shape, dtype) -> tensor`.
            trainable: whether training updates it.
            dtype: its dtype; the layer's dtype otherwise.
            regularizer: a `lamina.regularizers` object or name; training adds its penalty
                to the loss (as `param.regularizer`).
            constraint: a `lamina.constraints` object or name; training applies it after
                each optimizer step (as `param.constraint`).
        """
        if name is None:
            name = f"weight_{len(self._parameters)}"
        shape = tuple(int(d) for d in shape)
        value = initializers.get(initializer)(shape, dtype or self._dtype)
        param = nn.Parameter(value, requires_grad=trainable and self._trainable)
        param._lamina_trainable = trainable  # type: ignore[attr-defined]
        param.regularizer = regularizers.get(regularizer)  # type: ignore[attr-defined]
        param.constraint = constraints.get(constraint)  # type: ignore[attr-defined]
        self.register_parameter(name, param)
        return param

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for module in self.modules():
            if isinstance(module, Layer):
                module._trainable = value
        for param in self.parameters():
            param.requires_grad_(value and getattr(param, "_lamina_trainable", True))

    @property
    def weights(self) -> list[nn.Parameter]:
        """Trainable weights first, then non-trainable ones, as in Keras."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if not p.requires_grad]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as numpy arrays, in `weights` order and Keras's layout."""
        return [p.detach().cpu().numpy().copy() for p in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load `weights` (as from `get_weights`), checking their number and shapes."""
        params = self.weights
        if len(weights) != len(params):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': set_weights received {len(weights)} "
                f"arrays, expected {len(params)}."
            )
        names = {id(p): n for n, p in self.named_parameters()}
        with torch.no_grad():
            for param, value in zip(params, weights):
                tensor = torch.as_tensor(np.asarray(value))
                if tuple(tensor.shape) != tuple(param.shape):
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}': weight '{names[id(param)]}' has "
                        f"shape {tuple(param.shape)}, received an array of shape "
                        f"{tuple(tensor.shape)}."
                    )
                param.copy_(tensor)

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---------------------------------------------------------------- losses
    def add_loss(self, value: torch.Tensor) -> None:
        """Add a loss tensor computed inside `call`; `fit` adds it to the objective.

        Only the losses of the latest top-level call are kept.
        """
        if self._eager_losses and self._eager_losses[0][0] != _call_count:
            self._eager_losses.clear()
        self._eager_losses.append((_call_count, value))
        _call_losses.append(value)

    @property
    def losses(self) -> list[torch.Tensor]:
        """The losses added by `add_loss` during the latest call, this layer's and its
        sublayers' (activity regularization included), then the penalties of the trainable
        weights' regularizers, as in Keras."""
        added = [
            loss
            for module in self.modules()
            if isinstance(module, Layer)
            for call, loss in module._eager_losses
            if call == _call_count
        ]
        return added + regularizers.regularization_losses(self.parameters())

    # ---------------------------------------------------------------- introspection
    def _sublayers(self) -> Iterator[Layer]:
        for module in self.children():
            if isinstance(module, Layer):
                yield module

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call (Keras 3's rule for shared layers)."""
        return self._node_attr("inputs")

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call (Keras 3's rule for shared layers)."""
        return self._node_attr("outputs")

    @property
    def input_shape(self) -> Any:
        return map_structure(lambda t: t.shape, self.input)

    @property
    def output_shape(self) -> Any:
        return map_structure(lambda t: t.shape, self.output)

    def _node_attr(self, attr: str) -> Any:
        if not self._inbound_nodes:
            # Not an AttributeError: nn.Module.__getattr__ would replace its message with
            # "object has no attribute".
            raise LayerError(
                f"{type(self).__name__} '{self.name}' has never been called on symbolic "
                f"inputs, so it has no {attr.rstrip('s')} yet; call it on Input(...) tensors "
                "first."
            )
        return getattr(self._inbound_nodes[0], attr)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def constructor_arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The arguments of a `cls(*args, **kwargs)` call by parameter name (`**kwargs` spread)."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)  # type: ignore[misc]
    except TypeError:
        return dict(kwargs)
    bound.apply_defaults()
    named: dict[str, Any] = {}
    for index, (key, value) in enumerate(bound.arguments.items()):
        parameter = bound.signature.parameters[key]
        if index == 0:
            continue  # self
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                named[key] = list(value)  # `construct` passes them back by position
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[key] = value
    return named


def construct(cls: type, config: dict[str, Any]) -> Any:
    """`cls(**config)`; the base settings (`name`, `trainable`, `dtype`) a constructor without
    `**kwargs` does not take are set on the new layer instead."""
    try:
        parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    except (TypeError, ValueError):
        return cls(**config)
    config = dict(config)
    positional: list[Any] = []
    for name, parameter in parameters.items():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL and name in config:
            positional = list(config.pop(name))
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return cls(*positional, **config)
    later = {
        k: config[k]
        for k in ("name", "trainable", "dtype", "activity_regularizer")
        if k in config and k not in parameters
    }
    layer = cls(*positional, **{k: v for k, v in config.items() if k not in later})
    if "name" in later:
        layer.name = later["name"]
    if "trainable" in later:
        layer.trainable = later["trainable"]
    if "activity_regularizer" in later:
        layer.activity_regularizer = regularizers.get(later["activity_regularizer"])
    return layer


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


def _to_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}; expected a torch dtype or its name.")
    return value


def run_collecting_losses(run: Callable[[], Any]) -> tuple[Any, list[torch.Tensor]]:
    """Run `run()` as one top-level call; return its result and the losses that layers
    added with `add_loss` during it. Inside another call, it joins that call instead."""
    global _depth, _call_count, _call_losses
    if _depth:
        before = len(_call_losses)
        return run(), _call_losses[before:]
    _depth = 1
    _call_count += 1
    _call_losses = []
    try:
        result = run()
    finally:
        _depth = 0
    return result, list(_call_losses)


try:  # torch's global hook tables; if they move, every call goes through nn.Module.__call__
    from torch.nn.modules.module import (
        _global_backward_hooks,
        _global_backward_pre_hooks,
        _global_forward_hooks,
        _global_forward_pre_hooks,
    )

    _GLOBAL_HOOKS: tuple[Any, ...] | None = (
        _global_backward_hooks,
        _global_backward_pre_hooks,
        _global_forward_hooks,
        _global_forward_pre_hooks,
    )
except ImportError:  # pragma: no cover
    _GLOBAL_HOOKS = None


def global_hooks_active() -> bool:
    return _GLOBAL_HOOKS is None or any(_GLOBAL_HOOKS)


def hooked(module: nn.Module) -> bool:
    """Whether `module` has hooks of its own or was compiled, so that it must be called
    through `nn.Module.__call__`. Otherwise calling `forward` directly is equivalent and skips
    that method's bookkeeping, which costs more than a small layer's own work."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or getattr(module, "_compiled_call_impl", None) is not None
    )
