"""`Model`: a functional graph of layers (`Sequential` is in sequential.py).

At construction the graph is sorted once into a flat execution plan: a list of steps, each
naming a layer, where its inputs sit in a list of values and where its outputs go. Calling the
model walks that plan and does nothing else.
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.core import module_calls
from lamina.core.calls import run_collecting_losses
from lamina.core.construct import _accepted_keywords
from lamina.core.layer import Layer, unique_name
from lamina.core.model_forwards import ModelForwards
from lamina.core.plan import Runner, Step, plan_runner, run_plan, topological_nodes
from lamina.core.tensor import Node, SymbolicTensor, flatten, map_structure


class Model(ModelForwards):
    """A model: a graph of layers from `inputs` to `outputs`, itself a layer and a
    `torch.nn.Module`.

    Args:
        inputs: a symbolic tensor from `Input()`, or a list or dict of them.
        outputs: the symbolic tensor(s) computed from `inputs`: one, a list or a dict.
        name: the model's name.

    Subclassing is supported too: call `super().__init__()` without a graph, create layers in
    `__init__`, and override `call`.

    Example:
        >>> import torch
        >>> from lamina import Input, Model
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(4,))
        >>> model = Model(x, Dense(2)(x))
        >>> model(torch.ones(3, 4)).shape
        torch.Size([3, 2])
    """

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        *,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        from lamina.core.sequential import Sequential  # a subclass, defined after Model

        default: str | None = "sequential" if isinstance(self, Sequential) else "functional"
        if type(self) not in (Model, Sequential) and inputs is None:
            default = None  # a subclass: named after its class
        super().__init__(
            name=name or (unique_name(default) if default else None), trainable=trainable
        )
        self._graph_losses: list[SymbolicTensor] = []
        self._plan: list[Step] = []
        self._loss_plan: list[Step] = []
        self._run_plan: Runner = run_plan
        self._run_loss_plan: Runner = run_plan
        self._nodes: list[Node] = []
        self._model_layers: list[Layer] = []
        self._input_struct: Any = None
        self._output_struct: Any = None
        self._functional = inputs is not None or outputs is not None
        self._dirty = False
        if self._functional:
            if inputs is None or outputs is None:
                raise ValueError(
                    f"Model '{self.name}': expected both inputs and outputs, received "
                    f"inputs={inputs!r}, outputs={outputs!r}."
                )
            self._init_graph(inputs, outputs)

    # ---------------------------------------------------------------- graph
    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        for kind, structure in (("input", inputs), ("output", outputs)):
            for leaf in flatten(structure):
                if not isinstance(leaf, SymbolicTensor):
                    raise TypeError(
                        f"Model '{self.name}': every {kind} must be a symbolic tensor (from "
                        f"Input() or a layer call), received {type(leaf).__name__}."
                    )
        flat_in, flat_out = flatten(inputs), flatten(outputs)
        if len(set(flat_in)) != len(flat_in):
            raise ValueError(f"Model '{self.name}': the same input is given twice.")
        nodes = topological_nodes(flat_out + self._graph_losses, flat_in, self.name)
        layers: list[Layer] = []
        for tensor in flat_in:
            source = self._input_layer_of(tensor)
            if source not in layers:
                layers.append(source)
        for node in nodes:
            if node.layer not in layers:
                layers.append(node.layer)
        names: dict[str, Layer] = {}
        for layer in layers:
            if layer is self:
                raise ValueError(f"Model '{self.name}' cannot contain itself.")
            if layer.name in names:
                raise ValueError(
                    f"Model '{self.name}': two different layers are named '{layer.name}'; "
                    "layer names must be unique within a model. Pass name= to rename one."
                )
            if "." in layer.name or not layer.name:
                raise ValueError(
                    f"Model '{self.name}': layer name {layer.name!r} must be non-empty and "
                    "contain no '.'."
                )
            names[layer.name] = layer
        for name in list(self._modules):
            del self._modules[name]
        for layer in layers:
            # Direct registration: a layer may be named like a Model attribute ('output').
            self._modules[layer.name] = layer
        self._input_struct, self._output_struct = inputs, outputs
        self._flat_inputs, self._flat_outputs = flat_in, flat_out
        self._nodes, self._model_layers = nodes, layers
        self._ids: dict[SymbolicTensor, int] = {}
        for tensor in flat_in:
            self._ids.setdefault(tensor, len(self._ids))
        for node in nodes:
            for tensor in node.flat_outputs:
                self._ids.setdefault(tensor, len(self._ids))
            for mask in node.output_masks or ():
                if mask is not None:
                    self._ids.setdefault(mask, len(self._ids))
        self._plan = self._make_plan(flat_out)
        self._loss_plan = self._make_plan(flat_out + self._graph_losses)
        self._run_plan, self._run_loss_plan = plan_runner(self._plan), plan_runner(self._loss_plan)
        self._input_ids = [self._ids[t] for t in flat_in]
        self._output_ids = [self._ids[t] for t in flat_out]
        self._loss_ids = [self._ids[t] for t in self._graph_losses]
        self._input_names = [t.name for t in flat_in]
        self.built = True
        self._build_input_shape = map_structure(lambda t: t.shape, inputs)
        module_calls.disarm()  # the model is defined: see core/module_calls.py

    def _input_layer_of(self, tensor: SymbolicTensor) -> Layer:
        """The layer listed for an input: its `InputLayer`, or for an intermediate tensor (a
        model from `h = Dense(4)(x)` to its outputs) a new `InputLayer` of its shape, as in
        Keras: the layer that made it is not part of the model."""
        from lamina.layers.core import InputLayer

        if isinstance(tensor.node.layer, InputLayer) and not tensor.node.flat_inputs:
            return tensor.node.layer
        proxies = self.__dict__.setdefault("_input_proxies", {})
        if tensor not in proxies:
            # Named as the tensor, so that summaries and plots connect to it by that name.
            proxies[tensor] = InputLayer(
                batch_shape=tensor.shape, dtype=tensor.dtype, name=tensor.name
            )
        return proxies[tensor]  # type: ignore[no-any-return]

    def _make_plan(self, targets: list[SymbolicTensor]) -> list[Step]:
        needed = {id(n) for n in topological_nodes(targets, self._flat_inputs, self.name)}
        return [Step(node, self._ids) for node in self._nodes if id(node) in needed]

    def add_loss(self, value: Any) -> None:
        """Add a loss to the model's objective.

        A symbolic tensor computed from the model's inputs (as the VAE's KL term, which
        Keras 3 dropped) is computed in every training step; a non-scalar one is averaged.
        Inside a layer's `call`, `self.add_loss(tensor)` adds a concrete loss instead.
        """
        if not isinstance(value, SymbolicTensor):
            super().add_loss(value)
            return
        if not self._functional:
            raise ValueError(
                f"Model '{self.name}': add_loss with a symbolic tensor needs a functional model."
            )
        self._graph_losses.append(value)
        try:
            self._init_graph(self._input_struct, self._output_struct)
        except ValueError:
            self._graph_losses.pop()
            raise

    # ---------------------------------------------------------------- calling
    def _values_from(self, inputs: Any) -> list[Any]:
        values: list[Any] = [None] * len(self._ids)
        ids = self._input_ids
        if len(ids) == 1 and isinstance(inputs, torch.Tensor):
            values[ids[0]] = inputs
            return values
        if isinstance(inputs, dict):
            # By the keys of a dict of inputs (Keras 3), else by the inputs' names.
            struct = self._input_struct
            keys = list(struct) if isinstance(struct, dict) else self._input_names
            missing = [n for n in keys if n not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}': inputs dict lacks {missing}; expected keys "
                    f"{keys}, received {list(inputs)}."
                )
            flat = [inputs[n] for n in keys]
        elif len(ids) == 1:
            flat = [inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs]
        else:
            flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if len(flat) != len(ids):
                raise ValueError(
                    f"Model '{self.name}': expected {len(ids)} inputs {self._input_names}, "
                    f"received {len(flat)}."
                )
        for i, value, tensor in zip(ids, flat, self._flat_inputs):
            # numpy arrays take the Input's dtype (float64 data into a float32 Input).
            if value is None and not tensor.node.layer.__dict__.get("optional"):
                raise ValueError(
                    f"Model '{self.name}': received None for input '{tensor.name}'; expected "
                    "a tensor. Create it with Input(..., optional=True) to allow None."
                )
            values[i] = (
                value
                if value is None or isinstance(value, torch.Tensor)
                else torch.as_tensor(value, dtype=tensor.dtype)
            )
        return values

    def _checked_call(self, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._functional and self.input_spec is None:
            return self._eager_call(inputs, *args, **kwargs)  # _values_from converts
        return super()._checked_call(inputs, args, kwargs)

    def _pack_outputs(self, values: list[Any]) -> Any:
        structure = self._output_struct
        if isinstance(structure, SymbolicTensor):
            return values[self._output_ids[0]]
        leaves = iter([values[i] for i in self._output_ids])
        return map_structure(lambda _: next(leaves), structure)

    def forward(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if self._dirty:
            self._rebuild_graph()
        if not self._functional:  # a subclass: its own call, given training= if it names it
            if training is not None and "training" in _accepted_keywords(type(self).call):
                return self.call(inputs, training=training)
            return self.call(inputs)
        values = self._values_from(inputs)
        self._run_plan(self._plan, values, training)
        return self._pack_outputs(values)

    def call_with_losses(self, inputs: Any, training: bool | None = None) -> tuple[Any, list[Any]]:
        """Run the model and return `(outputs, losses)`: its graph losses (from
        `add_loss(symbolic)`) and the losses its layers added during this call."""
        if self._dirty:
            self._rebuild_graph()
        if not self._functional:
            return run_collecting_losses(lambda: self(inputs, training=training))
        values = self._values_from(inputs)
        _, layer_losses = run_collecting_losses(
            lambda: self._run_loss_plan(self._loss_plan, values, training)
        )
        losses = [values[i] for i in self._loss_ids]
        losses = [loss if loss.ndim == 0 else loss.mean() for loss in losses]
        return self._pack_outputs(values), losses + layer_losses

    def _rebuild_graph(self) -> None:
        """Bring a graph that was edited (`Sequential.add`) up to date."""

    def _call_keywords(self) -> frozenset[str]:
        return frozenset({"training", "mask"})

    def _input_dtypes(self, shapes: Any) -> list[torch.dtype]:
        if self._functional:
            return [t.dtype for t in self.inputs]
        return super()._input_dtypes(shapes)

    def check_input_shape(self, shapes: Any) -> None:
        expected = self._build_input_shape
        if expected is None:
            return
        got, want = flatten_shapes(shapes), flatten_shapes(expected)
        compatible = len(got) == len(want) and all(
            len(g) == len(w) and all(a is None or b is None or a == b for a, b in zip(g, w))
            for g, w in zip(got, want)
        )
        if not compatible:
            raise self.incompatible_shape(expected, shapes)

    # ---------------------------------------------------------------- introspection
    @property
    def layers(self) -> list[Layer]:
        """The model's layers in execution order (input layers first)."""
        if self._dirty:
            self._rebuild_graph()
        if not self._functional:
            return list(self._sublayers())
        return list(self._model_layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by `name` or by position `index` in `layers`."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Model '{self.name}': layer index {index} out of range; the model has "
                    f"{len(layers)} layers."
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"Model '{self.name}': no layer named {name!r}; layers are {[x.name for x in layers]}."
        )

    def _sync(self) -> None:
        if self._dirty:
            self._rebuild_graph()
        if not self._functional:
            raise AttributeError(
                f"Model '{self.name}' has no graph yet: it is built on its first call, or "
                "give it an Input first."
            )

    @property
    def inputs(self) -> list[SymbolicTensor]:
        self._sync()
        return list(self._flat_inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        self._sync()
        return list(self._flat_outputs)

    @property
    def input(self) -> Any:
        self._sync()
        return self._input_struct

    @property
    def output(self) -> Any:
        self._sync()
        return self._output_struct

    @property
    def input_shape(self) -> Any:
        return map_structure(lambda t: t.shape, self.input)

    @property
    def output_shape(self) -> Any:
        return map_structure(lambda t: t.shape, self.output)

    def _apply(self, fn: Any, recurse: bool = True) -> Model:
        """`nn.Module.to()` and friends; the compiled optimizer's state moves too.

        `torch.optim` puts a state it loads on each parameter's device and dtype, so reloading
        its own state moves it: a state restored by `load_model` on the CPU, then
        `model.to("cuda")`, trains on (a hand-written loop must build its optimizer after
        moving the model instead).
        """
        super()._apply(fn, recurse)  # type: ignore[no-untyped-call]
        optimizer = getattr(self, "optimizer", None)
        torch_optimizer = getattr(optimizer, "torch_optimizer", None)
        if isinstance(torch_optimizer, torch.optim.Optimizer) and torch_optimizer.state:
            torch_optimizer.load_state_dict(torch_optimizer.state_dict())
        if getattr(optimizer, "_ema", None):  # use_ema's averages follow their weights
            optimizer._follow_params()  # type: ignore[union-attr]
        return self

    # ---------------------------------------------------------------- notebooks (plot.py)
    def _repr_svg_(self) -> str | None:
        from lamina.visualization import plot

        return plot.model_svg(self)

    def _repr_html_(self) -> str:
        # Notebooks prefer HTML: the summary table and, with a renderer, the diagram.
        from lamina.visualization import plot

        return plot.model_html(self)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def flatten_shapes(shapes: Any) -> list[tuple[int | None, ...]]:
    if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
        return [shapes]
    if isinstance(shapes, dict):
        shapes = list(shapes.values())
    return [s for item in shapes for s in flatten_shapes(item)]
