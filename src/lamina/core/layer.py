"""`Layer`: a `torch.nn.Module` that can also be called on symbolic tensors.

`Layer.__call__` has two paths. Symbolic inputs build the layer if needed, infer the output
shapes by running the layer on the `meta` device, and record a `Node`. Real tensors go straight
to `nn.Module.__call__` (hooks included) and `forward`, which calls the user's `call`.
`Layer` inherits its shape inference (`shape_inference.py`) and its weights (`weights.py`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch

from lamina import regularizers
from lamina.core.calls import _call_ids, _state, global_hooks_active, hooked
from lamina.core.construct import _accepted_keywords, construct, constructor_arguments
from lamina.core.dtype_policy import LayerDTypes, check_input_spec

# LayerError and format_shape are re-exported: layers import them from here.
from lamina.core.errors import LayerError as LayerError
from lamina.core.errors import format_shape as format_shape
from lamina.core.masking import attach_masks
from lamina.core.shape_inference import ShapeInference, Spec
from lamina.core.tensor import (
    Node,
    Shape,
    SymbolicTensor,
    flatten,
    is_symbolic,
    map_structure,
    pack_like,
)
from lamina.core.weights import LayerWeights

_name_counts: defaultdict[str, int] = defaultdict(int)


def unique_name(base: str) -> str:
    """`base`, then `base_1`, `base_2`, ... for each later request in this session."""
    count = _name_counts[base]
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Restart automatic layer names (`dense`, `dense_1`, ...) from the beginning."""
    _name_counts.clear()


def snake_case(name: str) -> str:
    """Keras's automatic layer names: `UpSampling2D` -> `up_sampling2d`, `Dense` -> `dense`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer(ShapeInference, LayerWeights, LayerDTypes):
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
        dtype: the dtype of the layer's weights and computation (inputs are cast to it), or
            a `DTypePolicy` name such as `"mixed_bfloat16"` (float32 weights, bfloat16
            computation); torch's default dtype otherwise.
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
        dtype: Any = None,
        input_shape: Sequence[int | None] | None = None,
        input_dim: int | None = None,
        activity_regularizer: Any = None,
    ) -> None:
        super().__init__()
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.built = False
        self._trainable = trainable
        self._set_dtype_policy(dtype)
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

    # Whether a mask on the input passes on to the output (core/masking.py); layers whose
    # output lines up with their input's time steps set it, as in Keras.
    supports_masking = False

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The output's mask: the input's mask when `supports_masking`, else `None`."""
        return mask if self.supports_masking else None

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (weights excluded).

        A layer class of your own that does not override this gets the arguments its
        constructor was called with, as in Keras 3; override it when they are not plain
        values (numbers, strings, lists, dicts, arrays, functions).
        """
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self._dtype_policy.name != str(torch.get_default_dtype()).removeprefix("torch."):
            config["dtype"] = self._dtype_policy.name
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
        return cast("Layer", construct(cls, config))

    # ---------------------------------------------------------------- calling
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs):
            return self._symbolic_call(inputs, *args, **kwargs)
        if self._slow_call or not isinstance(inputs, torch.Tensor):
            return self._checked_call(inputs, args, kwargs)
        return self._eager_call(inputs, *args, **kwargs)

    def _eager_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.built:
            self._build_from_values(inputs)
        state = _state
        if state.depth:
            return self._dispatch(inputs, *args, **kwargs)
        state.depth, state.call, state.losses = 1, next(_call_ids), []
        try:
            return self._dispatch(inputs, *args, **kwargs)
        finally:
            state.depth = 0

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
        if self.input_spec is not None:
            check_input_spec(self, inputs)
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
        attach_masks(self, node, inputs)
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

    def _has_unbuilt_sublayers(self) -> bool:
        return any(isinstance(m, Layer) and not m.built for m in self.modules() if m is not self)

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

    # ---------------------------------------------------------------- losses
    def add_loss(self, value: torch.Tensor) -> None:
        """Add a loss tensor computed inside `call`; `fit` adds it to the objective.

        Only the losses of the latest top-level call are kept.
        """
        call = _state.call
        if self._eager_losses and self._eager_losses[0][0] != call:
            self._eager_losses.clear()
        self._eager_losses.append((call, value))
        _state.losses.append(value)

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
            if call == _state.call
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
