"""`Model` (a functional graph of layers) and `Sequential`.

At construction the graph is sorted once into a flat execution plan: a list of steps, each
naming a layer, where its inputs sit in a list of values and where its outputs go. Calling the
model walks that plan and does nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from lamina.core.construct import construct
from lamina.core.errors import LayerError
from lamina.core.layer import Layer, _accepted_keywords, run_collecting_losses, unique_name
from lamina.core.plan import Step, run_plan, topological_nodes
from lamina.core.tensor import Input, Node, SymbolicTensor, flatten, map_structure
from lamina.layers.core import InputLayer


class Model(Layer):
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
        default: str | None = "sequential" if isinstance(self, Sequential) else "functional"
        if type(self) not in (Model, Sequential) and inputs is None:
            default = None  # a subclass: named after its class
        super().__init__(
            name=name or (unique_name(default) if default else None), trainable=trainable
        )
        self._graph_losses: list[SymbolicTensor] = []
        self._plan: list[Step] = []
        self._loss_plan: list[Step] = []
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
        if isinstance(outputs, tuple):
            outputs = list(outputs)
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
            if tensor.node.layer not in layers:
                layers.append(tensor.node.layer)
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
        self._plan = self._make_plan(flat_out)
        self._loss_plan = self._make_plan(flat_out + self._graph_losses)
        self._input_ids = [self._ids[t] for t in flat_in]
        self._output_ids = [self._ids[t] for t in flat_out]
        self._loss_ids = [self._ids[t] for t in self._graph_losses]
        self._input_names = [t.name for t in flat_in]
        self.built = True
        self._build_input_shape = map_structure(lambda t: t.shape, inputs)

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
            missing = [n for n in self._input_names if n not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}': inputs dict lacks {missing}; expected keys "
                    f"{self._input_names}, received {list(inputs)}."
                )
            flat = [inputs[n] for n in self._input_names]
        elif len(ids) == 1:
            flat = [inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs]
        else:
            flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if len(flat) != len(ids):
                raise ValueError(
                    f"Model '{self.name}': expected {len(ids)} inputs {self._input_names}, "
                    f"received {len(flat)}."
                )
        for i, value in zip(ids, flat):
            values[i] = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        return values

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
        run_plan(self._plan, values, training)
        return self._pack_outputs(values)

    def call_with_losses(self, inputs: Any, training: bool | None = None) -> tuple[Any, list[Any]]:
        """Run the model and return `(outputs, losses)`: its graph losses (from
        `add_loss(symbolic)`) and the losses its layers added during this call."""
        if self._dirty:
            self._rebuild_graph()
        if not self._functional:
            return run_collecting_losses(lambda: self(inputs, training=training))
        values = self._values_from(inputs)
        _, layer_losses = run_collecting_losses(lambda: run_plan(self._loss_plan, values, training))
        losses = [values[i] for i in self._loss_ids]
        losses = [loss if loss.ndim == 0 else loss.mean() for loss in losses]
        return self._pack_outputs(values), losses + layer_losses

    def _rebuild_graph(self) -> None:
        """Bring a graph that was edited (`Sequential.add`) up to date."""

    def _call_keywords(self) -> frozenset[str]:
        return frozenset({"training", "mask"})

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

    def summary(
        self,
        *,
        line_length: int | None = None,
        positions: Any = None,
        print_fn: Callable[[str], Any] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: tuple[str, str] | None = None,
    ) -> None:
        """Print a table of the layers: name (type), output shape, parameters, inputs.

        Keras's arguments: `show_trainable` adds a Trainable column (Y, N, or - for a layer
        without weights); `layer_range=(first, last)` shows the rows between two layer names;
        `positions` is accepted and unused (the table sizes its own columns). Once the
        optimizer has state, its size is shown too.
        """
        from lamina.visualization.summary import print_summary

        print_summary(
            self,
            line_length=line_length,
            expand_nested=expand_nested,
            print_fn=print_fn,
            show_trainable=show_trainable,
            layer_range=layer_range,
        )

    @property
    def metrics_names(self) -> list[str]:
        """The names of what `evaluate` returns, in order (`["loss", "accuracy"]`), as Keras
        2 gave them: known once the model has been trained or evaluated; `["loss"]` before."""
        names = self.__dict__.get("_metrics_names")
        if names:
            return list(names)
        return ["loss"] if getattr(self, "_is_compiled", False) else []

    # ---------------------------------------------------------------- training (training/)
    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Configure training; see `lamina.training.compile`."""
        from lamina import training

        training.compile(self, *args, **kwargs)

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Train the model; see `lamina.training.fit`. Returns a `History`."""
        from lamina import training

        return training.fit(self, *args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        """Loss and metrics on data; see `lamina.training.evaluate`."""
        from lamina import training

        return training.evaluate(self, *args, **kwargs)

    def predict(self, x: Any, *, batch_size: int = 32, verbose: Any = "auto", **kwargs: Any) -> Any:
        """Run the model on `x` in batches, without gradients; numpy in, numpy out."""
        from lamina import training

        return training.predict(self, x, batch_size=batch_size, verbose=verbose, **kwargs)

    def train_on_batch(self, *args: Any, **kwargs: Any) -> Any:
        """One gradient step on one batch; see `lamina.training.train_on_batch`."""
        from lamina import training

        return training.train_on_batch(self, *args, **kwargs)

    def test_on_batch(self, *args: Any, **kwargs: Any) -> Any:
        """Loss and metrics on one batch; see `lamina.training.test_on_batch`."""
        from lamina import training

        return training.test_on_batch(self, *args, **kwargs)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch, as numpy."""
        from lamina import training

        return training.predict(self, x, batch_size=1 << 62, verbose=0)

    def _apply(self, fn: Any, recurse: bool = True) -> Model:
        """`nn.Module.to()` and friends; the compiled optimizer's state moves too.

        `torch.optim` puts a state it loads on each parameter's device and dtype, so reloading
        its own state moves it: a state restored by `load_model` on the CPU, then
        `model.to("cuda")`, trains on (a hand-written loop must build its optimizer after
        moving the model instead).
        """
        super()._apply(fn, recurse)
        torch_optimizer = getattr(getattr(self, "optimizer", None), "torch_optimizer", None)
        if isinstance(torch_optimizer, torch.optim.Optimizer) and torch_optimizer.state:
            torch_optimizer.load_state_dict(torch_optimizer.state_dict())
        return self

    # ---------------------------------------------------------------- saving (saving/)
    def get_config(self) -> dict[str, Any]:
        """The model's graph: each layer's class, config and inbound nodes."""
        from lamina import saving

        return saving.model_config(self)  # type: ignore[no-any-return]

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        custom_objects: dict[str, Any] | None = None,
        safe_mode: bool = True,
    ) -> Model:
        """Rebuild a model from `get_config()`; see `lamina.saving.model_from_config`.

        A subclass gets itself back: from a graph config (a functional subclass that keeps
        `Model`'s `__init__`), or, when the config is not a graph (the subclass's own
        `get_config()`), as `cls(**config)`, as in Keras.
        """
        from lamina import saving

        graph = isinstance(config, dict) and (
            "layers" in config or {"class_name", "config"} <= set(config)
        )
        if cls not in (Model, Sequential) and not graph:
            try:
                return construct(cls, config)  # type: ignore[no-any-return]
            except TypeError as error:
                raise TypeError(
                    f"{cls.__name__}.from_config: {cls.__name__}(**config) failed with config "
                    f"keys {sorted(config)}: {error}. A Model subclass whose get_config() "
                    "returns its own settings must accept them all in __init__ (or override "
                    "from_config)."
                ) from error
        return saving.model_from_config(  # type: ignore[no-any-return]
            config,
            custom_objects=custom_objects,
            safe_mode=safe_mode,
            model_class=None if cls in (Model, Sequential) else cls,
        )

    def to_json(self, **kwargs: Any) -> str:
        """The model's config as JSON text."""
        from lamina import saving

        return saving.model_to_json(self, **kwargs)  # type: ignore[no-any-return]

    def save(self, filepath: Any, **kwargs: Any) -> None:
        """Save the model (graph, weights, optimizer) to a `.lamina` file."""
        from lamina import saving

        saving.save_model(self, filepath, **kwargs)

    def save_weights(self, filepath: Any, **kwargs: Any) -> None:
        """Save the weights to a `.safetensors` file."""
        from lamina import saving

        saving.save_weights(self, filepath, **kwargs)

    def load_weights(self, filepath: Any, **kwargs: Any) -> None:
        """Load weights saved by `save_weights` (or `save`)."""
        from lamina import saving

        saving.load_weights(self, filepath, **kwargs)

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


class Sequential(Model):
    """A plain stack of layers, each called on the previous one's output.

    Args:
        layers: the layers; the first may be an `Input(...)` (or a layer given
            `input_shape=`), else the model is built on its first call.
        name: the model's name.

    Example:
        >>> import torch
        >>> from lamina import Input, Sequential
        >>> from lamina.layers import Dense
        >>> model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(1)])
        >>> model(torch.ones(2, 4)).shape
        torch.Size([2, 1])
    """

    def __init__(self, layers: Iterable[Any] | None = None, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._stack: list[Layer] = []
        self._stack_input: SymbolicTensor | None = None
        self._stack_output: SymbolicTensor | None = None
        for layer in layers or ():
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Append a layer (or, first, an `Input`)."""
        self._add(layer, None)

    def _add(self, layer: Any, specs: Any) -> None:
        # `specs`: the layer's output spec when already known (a saved file stores it).
        if isinstance(layer, InputLayer):
            layer = layer.output
        if isinstance(layer, SymbolicTensor):
            if self._stack or self._stack_input is not None:
                raise ValueError(
                    f"Sequential '{self.name}': an Input can only be the first entry; "
                    f"received {layer.name} after {len(self._stack)} layer(s)."
                )
            self._stack_input = self._stack_output = layer
            self._functional = self._dirty = True
            return
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"Sequential '{self.name}': expected a Layer, received {type(layer).__name__}."
            )
        if not isinstance(layer, Layer):
            from lamina.layers.function import Lambda

            layer = Lambda(layer, name=unique_name(type(layer).__name__.lower()))
        if self._stack_input is None and not self._stack and layer._input_shape_arg is not None:
            self._stack_input = self._stack_output = Input(shape=layer._input_shape_arg)
            self._functional = True
        self._stack.append(layer)
        # Registered at once, so parameters() and an optimizer made now see its weights.
        self._modules[layer.name] = layer
        if self._stack_output is not None:
            if specs is None:
                self._stack_output = layer(self._stack_output)
            else:
                self._stack_output = layer.record_call(self._stack_output, (), {}, specs)
            if not isinstance(self._stack_output, SymbolicTensor):
                raise ValueError(
                    f"Sequential '{self.name}': layer '{layer.name}' returned several outputs; "
                    "each layer of a Sequential must return one tensor."
                )
            self._dirty = True

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise IndexError(f"Sequential '{self.name}': pop from an empty model.")
        layer = self._stack.pop()
        if self._stack_input is not None:
            output = self._stack_input
            for kept in self._stack:
                output = kept(output)
            self._stack_output = output
            self._dirty = True
        self._modules.pop(layer.name, None)
        return layer

    def _rebuild_graph(self) -> None:
        self._dirty = False
        assert self._stack_input is not None and self._stack_output is not None
        self._init_graph(self._stack_input, self._stack_output)

    def forward(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if self._stack_input is None:
            self._build_from_values(inputs)
        return super().forward(inputs, training=training)

    def build(self, input_shape: Any) -> None:
        if self._stack_input is None:
            self.add_input(tuple(input_shape[1:]))

    def add_input(self, shape: tuple[int, ...], *, dtype: torch.dtype = torch.float32) -> None:
        """Give a lazily built Sequential its input shape and build its layers."""
        stack = self._stack
        self._stack = []
        self._modules.clear()
        self.add(Input(shape=shape, dtype=dtype))
        for layer in stack:
            self.add(layer)
        if not stack:
            raise LayerError(f"Sequential '{self.name}' has no layers to build.")

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the input layer (as Keras's Sequential)."""
        return list(self._stack)

    def _build_from_values(self, inputs: Any) -> None:
        # The first real batch gives the input's shape, dtype and the weights' device.
        if self._stack_input is None:
            first = flatten(inputs)[0]
            first = torch.as_tensor(first) if not isinstance(first, torch.Tensor) else first
            self.add_input(tuple(first.shape[1:]), dtype=first.dtype)
            if first.device.type not in ("cpu", "meta"):
                self.to(first.device)
        self.built = True
