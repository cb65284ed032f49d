"""What lamina calls a user's loss, metric, activation, ... function on, so that it is traced.

A function layer's function is traced on the layer's inputs (``graph``). The user's functions
among a layer's other settings and in ``compile()`` are called by lamina in fixed ways, and
are traced (``function_trace``) on the same arguments:

- an activation (any setting ending in ``activation``): ``fn(x)`` with the spec it is called
  with when its layer runs (recorded on ``meta``; an RNN's sees one step), else the spec of
  the layer's output; ``activity_regularizer``: the spec of the layer's output;
- ``<weight>_regularizer`` and ``<weight>_constraint``: ``fn(w)`` with that weight's shape and
  dtype;
- ``<weight>_initializer``: ``fn(shape, dtype)``, plain values, so the graph holds the
  creation ops (a load that asks for another shape is refused, naming the traced one);
- a loss or metric function of ``compile``: ``fn(y_true, y_pred, **kwargs)``, ``y_pred`` with
  the spec of the model output it applies to, ``y_true`` with that of the targets the first
  batch of training had (integer labels for a sparse loss), or ``y_pred``'s before any
  training (sample weights are applied outside the function, by the loss's or metric's
  reduction, as in Keras).

The settings of a nested layer (a wrapper's layer, an RNN's cell) are traced the same way; an
activation there on the output shape the layer gives (on the ``meta`` device) for the shape
it was built for. A function lamina cannot find the arguments of (a layer that was never
called, a setting of another name, the loss of a subclassed model never trained) is saved
as before: by name,
or as source that needs trust, with a warning.
"""

from __future__ import annotations

import functools
import inspect
import types
from typing import Any

import torch

from lamina.core.dtypes import DTYPES
from lamina.core.shape_inference import Spec, _random_state_kept
from lamina.core.tensor import SymbolicTensor, flatten
from lamina.saving.function_saver import Trace
from lamina.saving.functions import serialize_function
from lamina.saving.values import EncodedFunction

__all__ = ["trace_compile_config", "trace_settings"]

_WEIGHT_ROLES = ("_regularizer", "_constraint", "_initializer")
_NOT_ARGUMENTS = ("function", "name", "reduction", "dtype")
_FUNCTIONS = (types.FunctionType, functools.partial)


def trace_settings(
    layer: Any,
    owner: str,
    config: dict[str, Any],
    calls: dict[tuple[str, int], Spec | None] | None = None,
) -> dict[str, Any]:
    """``config`` (a layer's ``get_config()``) with each user function among its settings
    saved with a trace; the rest unchanged."""
    if calls is None:
        calls = _activation_calls(layer)
    out = dict(config)
    for key, value in config.items():
        if isinstance(value, _FUNCTIONS):
            if (key, id(value)) in calls:  # an activation, traced on what it is called with
                spec = calls[(key, id(value))]
                trace = (
                    None if spec is None else Trace([spec], {}, positional=_names(value, ("x",)))
                )
            else:
                trace = _setting_trace(layer, key, value)
            if trace is not None:
                out[key] = EncodedFunction(serialize_function(value, owner=owner, trace=trace))
        elif isinstance(value, dict) and isinstance(value.get("config"), dict):
            child = _sublayer(layer, key, value.get("class_name"))
            if child is not None:  # a wrapper's layer, an RNN's cell
                config_out = trace_settings(child, owner, value["config"], calls)
                out[key] = {**value, "config": config_out}
    return out


def _activation_calls(layer: Any) -> dict[tuple[str, int], Spec | None]:
    """The spec each user activation of ``layer`` and its sublayers is called with, keyed by
    (setting, id of the function: an LSTM's config names its cell's activation). Found by
    running the layer on ``meta`` at two batch sizes, each activation recording what it
    receives. An RNN's activation sees one step, not the sequence its layer returns, so the
    layer's output spec would be the wrong one: a graph that reads a size (``x.shape[1]``)
    would be fixed to the wrong value. ``None`` where an activation is called on several
    shapes (its function is then saved as source)."""
    nodes = getattr(layer, "_inbound_nodes", None)
    targets = [
        (module, name, value)
        for module in (layer.modules() if isinstance(layer, torch.nn.Module) else ())
        for name, value in vars(module).items()
        if name.endswith("activation") and isinstance(value, _FUNCTIONS)
    ]
    if not nodes or not targets or not hasattr(layer, "_placeholder_run"):
        return {}
    runs: list[dict[tuple[str, int], set[tuple[tuple[int, ...], torch.dtype]]]] = []
    try:
        for size in (2, 3):
            seen: dict[tuple[str, int], set[tuple[tuple[int, ...], torch.dtype]]] = {}
            for module, name, fn in targets:
                record = seen.setdefault((name, id(fn)), set())

                def recorder(x: Any, *args: Any, _fn: Any = fn, _record: Any = record) -> Any:
                    _record.add((tuple(x.shape), x.dtype))
                    return _fn(x, *args)

                setattr(module, name, recorder)
            with _random_state_kept():
                layer._placeholder_run(nodes[0].inputs, dict(nodes[0].kwargs), size, meta=True)
            runs.append(seen)
    except Exception:  # a layer that cannot run on meta: its output spec is used instead
        return {}
    finally:
        for module, name, fn in targets:
            setattr(module, name, fn)
    calls: dict[tuple[str, int], Spec | None] = {}
    for key, first in runs[0].items():
        second = runs[1][key]
        if not first:
            continue  # never called: the output spec is used
        if len(first) != 1 or len(second) != 1:
            calls[key] = None
            continue
        (a, dtype), (b, _) = next(iter(first)), next(iter(second))
        if len(a) != len(b):
            calls[key] = None
            continue
        calls[key] = Spec(tuple(x if x == y else None for x, y in zip(a, b)), dtype)
    return calls


def _sublayer(layer: Any, key: str, class_name: Any) -> Any:
    """The layer a nested ``{"class_name", "config"}`` setting describes: the attribute of
    that name (``cell``, ``backward_layer``), or ``forward_<name>`` (``Bidirectional``)."""
    for attribute in (key, f"forward_{key}"):
        child = getattr(layer, attribute, None)
        if isinstance(child, torch.nn.Module) and type(child).__name__ == class_name:
            return child
    return None


def _setting_trace(layer: Any, key: str, fn: Any) -> Trace | None:
    if key.endswith("activation") or key == "activity_regularizer":
        output = _output_spec(layer)
        if output is None:
            return None
        return Trace([output], {}, positional=_names(fn, ("x",)))
    suffix = next((s for s in _WEIGHT_ROLES if key.endswith(s)), None)
    if suffix is None:
        return None
    weight = _weight(layer, key.removesuffix(suffix), suffix, fn)
    if weight is None:
        return None
    if suffix == "_initializer":
        shape, dtype = _names(fn, ("shape", "dtype"))
        return Trace(
            [], {shape: tuple(weight.shape), dtype: weight.dtype}, positional=(shape, dtype)
        )
    spec = torch.empty(weight.shape, dtype=weight.dtype, device="meta")
    return Trace([spec], {}, positional=_names(fn, ("w",)))


def _output_spec(layer: Any) -> Any:
    """The spec of the layer's (first) output: from its first call on symbolic tensors, or,
    for a layer only ever called inside another (a wrapper's layer), worked out on the
    ``meta`` device from the shape it was built for."""
    nodes = getattr(layer, "_inbound_nodes", None)
    output = flatten(nodes[0].outputs)[0] if nodes and flatten(nodes[0].outputs) else None
    if isinstance(output, SymbolicTensor):
        return output
    built_for = getattr(layer, "_build_input_shape", None)
    if built_for is None or not getattr(layer, "built", False):
        return None
    try:
        shape = layer.compute_output_shape(built_for)
    except Exception:  # a layer that cannot say: its activation is saved as source
        return None
    if isinstance(shape, list) and shape and isinstance(shape[0], tuple):
        shape = shape[0]  # an RNN's sequence and states
    if not isinstance(shape, tuple) or not all(d is None or type(d) is int for d in shape):
        return None
    dtype = DTYPES.get(str(getattr(layer, "compute_dtype", "")), torch.get_default_dtype())
    return Spec(shape, dtype)


def _weight(layer: Any, name: str, suffix: str, fn: Any) -> torch.Tensor | None:
    """The weight a setting belongs to: Keras names it (``kernel_regularizer`` regularizes
    ``kernel``, ``recurrent_initializer`` ``recurrent_kernel``); else the one weight the
    function is attached to."""
    params = list(layer.named_parameters()) if hasattr(layer, "named_parameters") else []
    for wanted in (name, f"{name}_kernel"):
        for path, param in params:
            if path.rsplit(".", 1)[-1] == wanted:
                return param  # type: ignore[no-any-return]
    attached = [p for _, p in params if getattr(p, suffix[1:], None) is fn]
    return attached[0] if len(attached) == 1 else None


def _names(fn: Any, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The names of ``fn``'s first positional parameters, as many as ``defaults``."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return defaults
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in parameters if p.kind in kinds][: len(defaults)]
    names += [d for d in defaults[len(names) :] if d not in names]
    return tuple(names) if len(set(names)) == len(defaults) else defaults


def trace_compile_config(model: Any, config: dict[str, Any], owner: str) -> dict[str, Any]:
    """``compile``'s config with each user loss and metric function saved with a trace on the
    model output it applies to; the rest unchanged (``model_saver`` stores it by name where it
    cannot be saved)."""
    from lamina.training.compile_utils import output_names

    names = output_names(model)
    # y_pred: the output's spec, from the graph or, for a subclassed model, from the first
    # batch of training; y_true: the first batch's targets (integer labels for a sparse
    # loss), or y_pred's spec when the model was never trained.
    compiled = getattr(getattr(model, "_compile_state", None), "compiled_loss", None)
    seen_outputs = getattr(compiled, "output_specs", None) or []
    if getattr(model, "_functional", False):
        predictions: list[Any] = flatten(model.outputs)
    elif len(seen_outputs) == len(names) and None not in seen_outputs:
        predictions = [Spec((None, *shape), dtype) for shape, dtype in seen_outputs]
    else:
        return config
    if len(predictions) != len(names):
        return config
    seen = getattr(compiled, "target_specs", None) or []
    targets: list[Any] = list(predictions)
    for i, found in enumerate(seen[: len(names)]):
        if found is not None:
            targets[i] = Spec((None, *found[0]), found[1])
    pairs = [[t, p] for t, p in zip(targets, predictions)]
    out = dict(config)
    for key in ("loss", "metrics", "weighted_metrics"):
        spec = config.get(key)
        if isinstance(spec, dict) and "class_name" not in spec:
            out[key] = {
                k: _traced(v, pairs[names.index(k)], owner) if k in names else v
                for k, v in spec.items()
            }
        elif isinstance(spec, (list, tuple)) and len(names) > 1 and len(spec) == len(names):
            out[key] = [_traced(v, pair, owner) for v, pair in zip(spec, pairs)]
        elif spec is not None and len({_spec_of(pair) for pair in pairs}) == 1:
            out[key] = _traced(spec, pairs[0], owner)
    return out


def _spec_of(pair: list[Any]) -> tuple[Any, ...]:
    return tuple((tuple(t.shape), t.dtype) for t in pair)


def _traced(value: Any, pair: list[Any], owner: str) -> Any:
    if isinstance(value, (list, tuple)):
        return [_traced(v, pair, owner) for v in value]
    if not isinstance(value, dict) or value.get("class_name") != "function":
        return value
    settings = value.get("config")
    fn = settings.get("function") if isinstance(settings, dict) else None
    if not isinstance(fn, _FUNCTIONS) or not isinstance(settings, dict):
        return value
    arguments = {k: v for k, v in settings.items() if k not in _NOT_ARGUMENTS}
    trace = Trace(pair, arguments, positional=_names(fn, ("y_true", "y_pred")))
    try:
        encoded = EncodedFunction(serialize_function(fn, owner=owner, trace=trace))
    except ValueError:
        return value  # no source and no graph: saved by name, with model_saver's warning
    return {**value, "config": {**settings, "function": encoded}}
