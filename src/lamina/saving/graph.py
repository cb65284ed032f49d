"""Model configs: a functional graph, a `Sequential`, or any layer, as JSON-safe values
(`rebuild.py` goes back).

A layer is stored as an *entry*: `{"class_name": ..., "config": ...}` (plus `"module"` for an
unregistered custom class, for the error message only; it is never imported). A functional
model's config lists its layers in execution order, each with its `inbound_nodes`: for every
call of the layer inside this model, the structure it was called on, with tensors given as
`{"__tensor__": [layer_name, node_index, tensor_index]}` (`node_index` counts that layer's calls
within this model; an `InputLayer`'s own tensor is its node 0). `input_layers`,
`output_layers` and `losses` (the symbolic losses of `model.add_loss`) are tensor references in
the same form.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import torch

from lamina.core.layer import Layer
from lamina.core.masking import input_masks
from lamina.core.shape_inference import Spec
from lamina.core.tensor import SymbolicTensor, flatten, map_structure
from lamina.saving import registry
from lamina.saving.errors import SaveError
from lamina.saving.values import EncodedFunction, encode_value

__all__ = [
    "FORMAT_VERSION",
    "TENSOR",
    "builtin_classes",
    "model_config",
    "model_to_json",
    "serialize_layer",
]

FORMAT_VERSION = 1
TENSOR = "__tensor__"


@functools.cache
def builtin_classes() -> dict[str, type[Layer]]:
    """lamina's own layer classes by name: every class exported by `lamina.layers`."""
    from lamina import layers
    from lamina.core.model import Model
    from lamina.core.sequential import Sequential

    table: dict[str, type[Layer]] = {}
    for name in layers.__all__:
        obj = vars(layers)[name]
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            table[name] = obj
    table["Functional"] = Model
    table["Sequential"] = Sequential
    return table


def _class_name(cls: type) -> tuple[str, str | None]:
    key = registry.registered_key(cls)
    if key is not None:
        return key, None
    if builtin_classes().get(cls.__name__) is cls:
        return cls.__name__, None
    return cls.__qualname__, cls.__module__


# ------------------------------------------------------------------------------ saving
def serialize_layer(layer: Layer) -> dict[str, Any]:
    """The entry of `layer`: `{"class_name", "config"}` (and `"module"` for a custom class
    that is not registered)."""
    from lamina.core.model import Model
    from lamina.core.sequential import Sequential

    owner = f"{type(layer).__name__} '{layer.name}'"
    if isinstance(layer, Model) and type(layer).get_config is Model.get_config:
        entry: dict[str, Any]
        if isinstance(layer, Sequential):
            entry = {"class_name": "Sequential", "config": _sequential_config(layer)}
        elif layer._functional and not _builds_itself(layer):
            entry = {"class_name": "Functional", "config": _functional_config(layer)}
        elif "_init_arguments" in layer.__dict__:
            # A subclassed model (call() is Python): it is rebuilt from its constructor's
            # arguments, as Layer.get_config gives them for a user's own layer class.
            return _entry(layer, owner, {**layer._constructor_config(), **Layer.get_config(layer)})
        else:
            raise _subclassed_model_error(owner)
        if type(layer) not in (Model, Sequential):
            # A functional subclass (extra methods, no __init__ of its own): loading gives
            # the class back when it is registered, a plain model with a warning otherwise.
            class_name, module = _class_name(type(layer))
            entry["subclass"] = {"class_name": class_name}
            if module is not None:
                entry["subclass"]["module"] = module
        return entry
    try:
        raw = layer.get_config()
    except Exception as error:
        raise SaveError(f"{owner}: get_config() failed: {type(error).__name__}: {error}") from error
    from lamina.layers.function import Lambda

    if isinstance(layer, Lambda) and isinstance(raw, dict) and "function" in raw:
        if not isinstance(layer.function, torch.nn.Module):  # a module saves as its entry
            raw = _traced_lambda_config(layer, owner, raw)
    elif isinstance(raw, dict):
        raw = _traced_settings(layer, owner, raw)
    return _entry(layer, owner, raw)


def _traced_lambda_config(layer: Any, owner: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A Lambda's function traced into an op graph on the layer's input specs; a callable
    `output_shape` (only ever checked) is stored as the shapes it was checked against."""
    from lamina.saving.functions import Trace, serialize_function

    specs = None
    if layer._inbound_nodes:
        specs = layer._inbound_nodes[0].inputs
    elif layer._build_input_specs is not None:
        specs = layer._build_input_specs
    keywords = tuple(k for k in ("training", "mask") if getattr(layer, f"_pass_{k}", False))
    trace = None if specs is None else Trace(specs, dict(layer._call_arguments()), keywords)
    if "mask" in keywords and layer._inbound_nodes:
        # Traced on the masks it is called with, not mask=None (which would load ignoring
        # them); masks on only some inputs are not traced (saved as source).
        masks = input_masks(specs)
        given = [m is not None for m in flatten(masks)]
        if all(given):
            trace = Trace(specs, dict(layer._call_arguments()), keywords, mask_specs=masks)
        elif any(given):
            trace = None
    try:
        function = serialize_function(layer.function, owner=owner, trace=trace)
    except ValueError as error:
        raise SaveError(str(error)) from error
    raw = {**raw, "function": EncodedFunction(function)}
    if callable(raw.get("mask")) and not isinstance(raw["mask"], torch.nn.Module):
        raw["mask"] = _traced_mask(layer, owner, raw["mask"])
    if callable(raw.get("output_shape")) and layer._inbound_nodes:
        outputs = layer._inbound_nodes[0].outputs
        raw["output_shape"] = map_structure(lambda t: tuple(t.shape), outputs)
    return raw


def _traced_mask(layer: Any, owner: str, mask: Any) -> EncodedFunction:
    """A Lambda's mask function traced on what `run_masked_plan` calls it with: the inputs
    and their masks, `None` when none has one (fixed in the graph). Masks on only some of
    several inputs are not traced (the function is saved as source)."""
    from lamina.saving.functions import Trace, serialize_function

    trace = None
    if layer._inbound_nodes:
        inputs = layer._inbound_nodes[0].inputs
        masks = input_masks(inputs)
        given = [m is not None for m in flatten(masks)]
        if not any(given):
            trace = Trace([inputs], {"mask": None}, positional=("inputs", "mask"))
        elif all(given):
            trace = Trace([inputs, masks], {}, positional=("inputs", "mask"))
    try:
        return EncodedFunction(serialize_function(mask, owner=f"{owner} mask", trace=trace))
    except ValueError as error:
        raise SaveError(str(error)) from error


def _traced_settings(layer: Layer, owner: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The user's activation, initializer, regularizer and constraint functions traced on
    what the layer calls them with (`function_roles`)."""
    from lamina.saving.function_roles import trace_settings

    try:
        return trace_settings(layer, owner, raw)
    except ValueError as error:
        raise SaveError(str(error)) from error


def _entry(layer: Layer, owner: str, raw: Any) -> dict[str, Any]:
    from lamina.core.model import Model

    if not isinstance(raw, dict):
        raise SaveError(f"{owner}: get_config() returned a {type(raw).__name__}, expected a dict.")
    class_name, module = _class_name(type(layer))
    entry: dict[str, Any] = {"class_name": class_name}
    if module is not None:
        entry["module"] = module
    if "name" not in raw:  # the graph refers to layers by name
        entry["name"] = layer.name
    try:
        entry["config"] = encode_value(raw, owner)
    except SaveError as error:
        if type(layer).get_config is not Layer.get_config or "_init_arguments" not in vars(layer):
            raise
        raise SaveError(
            f"{error} These are the arguments {type(layer).__name__}() was called with; give "
            "the class a get_config() that returns plain values it can be rebuilt from."
        ) from error
    if isinstance(layer, Model) and not layer._functional:
        # A subclassed model creates its weights on its first call: loading calls it again
        # on zeros of these shapes and dtypes (Keras's build_config).
        specs = layer._build_input_specs
        if specs is not None:
            entry["build_config"] = {"input_specs": encode_specs(specs)}
    return entry


def _builds_itself(model: Any) -> bool:
    """Whether a model is a subclass whose own constructor builds its graph: it is rebuilt
    by calling that constructor with the same arguments, not from the graph."""
    from lamina.core.model import Model

    return type(model).__init__ is not Model.__init__ and "_init_arguments" in vars(model)


def _subclassed_model_error(owner: str) -> SaveError:
    return SaveError(
        f"{owner} is a subclassed model: its call() is Python code that a config cannot "
        "describe. Give the class get_config() (and from_config() if needed) and register "
        "it with @lamina.saving.register_serializable(package=...), or save only its "
        "weights with model.save_weights('weights.safetensors')."
    )


def _functional_config(model: Any) -> dict[str, Any]:
    from lamina.layers.core import InputLayer

    if model._dirty:
        model._rebuild_graph()
    for tensor in model._flat_inputs:
        if not isinstance(tensor.node.layer, InputLayer) or tensor.node.flat_inputs:
            raise SaveError(
                f"Model '{model.name}': its input '{tensor.name}' is the output of layer "
                f"'{tensor.node.layer.name}', not of Input(); a saved model must start from "
                "Input() tensors. Build the model from Input(...) and call the layers on it."
            )
    members = {id(n) for n in model._nodes} | {id(t.node) for t in model._flat_inputs}
    node_index: dict[int, int] = {}
    own_nodes: dict[str, list[Any]] = {}
    for layer in model._model_layers:
        nodes = [n for n in layer._inbound_nodes if id(n) in members]
        own_nodes[layer.name] = nodes
        node_index.update((id(n), i) for i, n in enumerate(nodes))

    def ref(tensor: SymbolicTensor) -> dict[str, Any]:
        index = node_index.get(id(tensor.node))
        if index is None:
            raise SaveError(
                f"Model '{model.name}': tensor '{tensor.name}' is not computed inside the model."
            )
        return {TENSOR: [tensor.node.layer.name, index, tensor.index]}

    layers = []
    for layer in model._model_layers:
        entry = serialize_layer(layer)
        owner = f"{type(layer).__name__} '{layer.name}'"
        entry["inbound_nodes"] = [
            {
                "inputs": _encode_struct(n.inputs, ref),
                "kwargs": encode_value(n.kwargs, owner),
                "outputs": encode_specs(n.outputs),
            }
            for n in own_nodes[layer.name]
            if n.flat_inputs
        ]
        layers.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": _encode_struct(model._input_struct, ref),
        "output_layers": _encode_struct(model._output_struct, ref),
        "losses": [ref(t) for t in model._graph_losses],
    }


def _encode_struct(structure: Any, ref: Callable[[SymbolicTensor], Any]) -> Any:
    if isinstance(structure, SymbolicTensor):
        return ref(structure)
    if isinstance(structure, list):
        return [_encode_struct(v, ref) for v in structure]
    if isinstance(structure, tuple):
        return {"__tuple__": [_encode_struct(v, ref) for v in structure]}
    if isinstance(structure, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in structure):
            return {k: _encode_struct(v, ref) for k, v in structure.items()}
        return {
            "__dict__": [
                [encode_value(k, "dict key"), _encode_struct(v, ref)] for k, v in structure.items()
            ]
        }
    raise SaveError(f"Cannot store a {type(structure).__name__} among a layer's inputs.")


def _sequential_config(model: Any) -> dict[str, Any]:
    source = model._stack_input
    config = {
        "name": model.name,
        "trainable": model.trainable,
        "input": (
            encode_value(source.node.layer.get_config(), f"Sequential '{model.name}'")
            if source is not None
            else None
        ),
        "layers": [serialize_layer(layer) for layer in model._stack],
    }
    # The chain's output specs, walked back from the output, so loading need not run layers.
    outputs: list[Any] = []
    tensor = model._stack_output
    while tensor is not None and tensor is not source and len(outputs) < len(model._stack):
        outputs.append(encode_specs(tensor))
        tensor = tensor.node.flat_inputs[0] if len(tensor.node.flat_inputs) == 1 else None
    if source is not None and tensor is source and len(outputs) == len(model._stack):
        config["outputs"] = outputs[::-1]
    return config


def model_config(model: Layer) -> dict[str, Any]:
    """The config of `model` (what `Model.get_config()` returns).

    A functional model gives its graph (`name`, `trainable`, `layers` with their
    `inbound_nodes`, `input_layers`, `output_layers`, `losses`); a `Sequential` its `layers`
    and `input`; nested models appear as layers whose config is a model config. Every callable
    is stored by `serialize_function`, every constant JSON-safe.

    Raises:
        SaveError: naming the layer, for a function or value that cannot be stored.

    Example:
        >>> from lamina import Input, Model
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(3,), name="x")
        >>> config = model_config(Model(x, Dense(2, name="d")(x), name="m"))
        >>> [entry["class_name"] for entry in config["layers"]], config["output_layers"]
        (['InputLayer', 'Dense'], {'__tensor__': ['d', 0, 0]})
    """
    return serialize_layer(model)["config"]  # type: ignore[no-any-return]


def model_to_json(model: Layer, **json_kwargs: Any) -> str:
    """The model's entry as JSON text, for `lamina.models.model_from_json`.

    Args:
        model: the model.
        **json_kwargs: passed to `json.dumps` (`indent=2`, ...).
    """
    from lamina import __version__

    entry = serialize_layer(model)
    document = {"format_version": FORMAT_VERSION, "lamina_version": __version__, **entry}
    return json.dumps(document, **json_kwargs)


def encode_specs(structure: Any) -> Any:
    """A node's output shapes and dtypes, so loading need not run each layer to infer them:
    `["spec", shape, dtype]` per tensor, in `{"list": [...]}` / `{"tuple": [...]}` /
    `{"dict": [[key, value], ...]}` containers."""
    if isinstance(structure, (SymbolicTensor, Spec)):
        return ["spec", list(structure.shape), str(structure.dtype).removeprefix("torch.")]
    if isinstance(structure, dict):
        return {"dict": [[key, encode_specs(value)] for key, value in structure.items()]}
    kind = "tuple" if isinstance(structure, tuple) else "list"
    return {kind: [encode_specs(value) for value in structure]}
