"""Tracing a function into an op graph: data that loads without running any saved code.

``trace_function`` calls the function on real tensors of the layer's input specs while a
``TorchFunctionMode`` records every torch function, Tensor method, operator and property read
it makes: each call must be in ``op_table``, and its non-tensor arguments become plain JSON.
Python logic (``isinstance``, ``assert``, f-strings, loops over constants, numpy on
constants) runs here, in the user's own process, and leaves no trace.

The batch size stays symbolic: the function is traced at batch sizes 2 and 3 (every unknown
dimension at that size), and an int argument that differs between the two is stored as
``{"batch": [a, c]}`` (``a * batch + c``); a third trace at batch 5 (other unknown dimensions
at 7) must agree, so an int that depends on something else is caught. A function whose graph
changes in any other way between the traces, that reads tensor values into Python
(``.item()``, ``if x.sum() > 0``), or calls something outside the table raises ``Untraceable``
with the reason; it is then saved as source that needs trust.

The graph config (``"graph"`` in a function config of kind ``"graph"``)::

    {"constants": [<encoded tensor or array>, ...],
     "nodes": [{"op": "torch.randn_like", "args": [{"tensor": 0}], "kwargs": {},
                "outputs": 1, "specs": [[[null, 2], "float32"]]}, ...],
     "outputs": {"tensor": 3}}

A function layer's function is called as ``fn(inputs, **arguments)``; a loss, activation,
... (``function_roles``) with named positional arguments (``positional``), tensors and plain
values such as an initializer's ``shape`` and ``dtype``, which are fixed in the graph.

Slots number the input tensors first (``"inputs"`` of them), then each node's tensor outputs in
order. Argument values are JSON scalars and lists, or one-key dicts: ``{"tensor": slot}``,
``{"constant": i}``, ``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}``, ``{"slice": [start,
stop, step]}``, ``{"ellipsis": null}``, ``{"dtype": "float32"}``, ``{"device": null}`` (the
inputs' device), ``{"batch": [a, c]}``, ``{"float": "nan" | "inf" | "-inf"}``.

A torch module among a function layer's arguments (``arguments={"net": nn.Linear(4, 4)}``)
is not traced into: its calls become nodes ``"op": "module:net"`` and the function config
lists ``"modules": ["net"]`` (the items of a list, tuple or dict of modules: ``nets.0``,
``heads.mean``). The module itself is saved as the layer's argument (its
entry and its weights), so a load calls the rebuilt module, whose weights are the trained
ones and stay trainable; inlining its ops would have stored its weights as constants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from lamina.core.shape_inference import _random_state_kept
from lamina.core.tensor import flatten, pack_like
from lamina.saving import op_table
from lamina.saving.function_config import _encode, _Unencodable

__all__ = ["Untraceable", "trace_function"]

_SIZES = ((2, 2), (3, 3), (5, 7))  # (batch, other unknown dimensions) per trace
_GRAD_MODE = (torch._C._set_grad_enabled, torch.set_grad_enabled)
_DTYPE_NAMES = {dtype: name for name, dtype in op_table.DTYPES.items()}


class Untraceable(Exception):
    """The function cannot be stored as an op graph; the message says why."""


class _Slot:
    __slots__ = ("index", "kind")

    def __init__(self, kind: str, index: int) -> None:
        self.kind, self.index = kind, index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Slot) and (self.kind, self.index) == (other.kind, other.index)

    __hash__ = None  # type: ignore[assignment]


class _Device:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Device)

    __hash__ = None  # type: ignore[assignment]


def _mutates(name: str) -> bool:
    method = name.removeprefix("Tensor.")
    return method == "__setitem__" or method.startswith("__i") or method.endswith("_")


class _ModuleCall:
    """Stands in for a module argument while tracing: a call goes through the recorder's
    ``__torch_function__`` (``handle_torch_function``), which records one node for it and
    runs the module with the recording off."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name, self.module = name, module

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if torch.overrides.has_torch_function(args) or torch._C._is_torch_function_mode_enabled():
            return torch.overrides.handle_torch_function(_call_module, args, self, *args, **kwargs)
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # net.weight: refused as a trainable constant
        return getattr(self.__dict__["module"], name)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The module's call, leaving the module as it was: the buffers a call updates (a
        BatchNorm's running statistics, in training mode) are put back."""
        saved = [(buffer, buffer.clone()) for buffer in self.module.buffers()]
        try:
            return self.module(*args, **kwargs)
        finally:
            with torch.no_grad():
                for buffer, value in saved:
                    buffer.copy_(value)


def _call_module(call: _ModuleCall, *args: Any, **kwargs: Any) -> Any:
    return call.module(*args, **kwargs)


class _Recorder(TorchFunctionMode):
    def __init__(self, inputs: list[torch.Tensor]) -> None:
        super().__init__()
        self.slots = {id(t): i for i, t in enumerate(inputs)}
        self.count = len(inputs)
        self.alive: list[Any] = list(inputs)  # keeps ids unique while tracing
        self.constants: list[Any] = []
        self.constant_ids: dict[int, int] = {}
        self.nodes: list[dict[str, Any]] = []
        self.failure = ""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _GRAD_MODE:  # `with torch.no_grad():` in the function: not part of the graph
            return func(*args, **kwargs)
        if func is _call_module:  # a module argument: one node, run with recording off
            call, args = args[0], tuple(args[1:])
            name: str | None = f"module:{call.name}"
            func = call.run
        else:
            name = op_table.name_of(func)
        if name is None or self.failure:
            label = getattr(func, "__name__", repr(func))
            if label == "__get__":
                label = getattr(getattr(func, "__self__", None), "__name__", label)
            if not self.failure:
                self.failure = (
                    f"it calls {label}, which reads a tensor's values into Python (the graph "
                    "cannot record what the code does with them)"
                    if label in op_table.VALUE_READS
                    else f"it calls {label}, which is not in lamina's table of ops"
                )
            raise Untraceable(self.failure)
        try:
            template = (self.value(list(args)), self.value(kwargs))
        except Untraceable as error:
            self.failure = f"{name}: {error}"
            raise
        out = func(*args, **kwargs)
        leaves = [t for t in flatten(out) if isinstance(t, torch.Tensor)]
        if not leaves and not _mutates(name):
            return out  # a shape or dtype query: its result is a Python value
        self.nodes.append(
            {
                "op": name,
                "args": template[0],
                "kwargs": template[1],
                "specs": [(tuple(t.shape), t.dtype) for t in leaves],
            }
        )
        for leaf in leaves:
            self.slots[id(leaf)] = self.count
            self.count += 1
            self.alive.append(leaf)
        return out

    def value(self, value: Any, depth: int = 0) -> Any:
        if depth > 16:
            raise Untraceable("an argument is nested too deeply")
        if isinstance(value, torch.Tensor) or (
            isinstance(value, np.ndarray) and value.dtype != object
        ):
            slot = self.slots.get(id(value))
            if slot is not None:
                return _Slot("tensor", slot)
            return _Slot("constant", self.constant(value))
        if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
            return value
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            return value.item()
        if isinstance(value, (slice, type(Ellipsis))):
            return value
        if isinstance(value, torch.dtype):
            if value not in _DTYPE_NAMES:
                raise Untraceable(f"the dtype {value} is not one a graph can name")
            return value
        if isinstance(value, torch.device):
            return _Device()
        if isinstance(value, torch.Size):
            return tuple(value)
        if isinstance(value, (list, tuple)):
            items = [self.value(v, depth + 1) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: self.value(v, depth + 1) for k, v in value.items()}
        raise Untraceable(f"it passes a {type(value).__name__}, which a graph cannot store")

    def constant(self, value: Any) -> int:
        if isinstance(value, nn.Parameter) or (
            isinstance(value, torch.Tensor) and value.requires_grad
        ):
            raise Untraceable(
                "it uses a trainable tensor from outside the function (a parameter, or a "
                "module's weights: a graph stores constants, which would stop training)"
            )
        index = self.constant_ids.get(id(value))
        if index is None:
            index = self.constant_ids[id(value)] = len(self.constants)
            self.constants.append(value)
            self.alive.append(value)
        return index


def _placeholders(specs: list[tuple[tuple[int | None, ...], torch.dtype]], sizes: Any) -> Any:
    batch, other = sizes
    out = []
    for shape, dtype in specs:
        dims = [(batch if i == 0 else other) if d is None else d for i, d in enumerate(shape)]
        if dtype.is_floating_point or dtype.is_complex:
            out.append(torch.randn(dims, dtype=dtype))
        else:
            out.append(torch.zeros(dims, dtype=dtype))
    return out


def _trace_once(
    call: Callable[[list[torch.Tensor]], Any],
    specs: list[tuple[tuple[int | None, ...], torch.dtype]],
    sizes: tuple[int, int],
) -> _Recorder:
    inputs = _placeholders(specs, sizes)
    recorder = _Recorder(inputs)
    try:
        with _random_state_kept(), torch.no_grad(), recorder:
            result = call(inputs)
    except Untraceable:
        raise
    except Exception as error:
        if recorder.failure:
            raise Untraceable(recorder.failure) from None
        raise Untraceable(
            f"it raised {type(error).__name__} when traced on inputs of shapes "
            f"{[tuple(t.shape) for t in inputs]}: {error}"
        ) from None
    if recorder.failure:  # the function caught the error and went on
        raise Untraceable(recorder.failure)
    leaves = flatten(result)
    if not leaves or not all(isinstance(t, torch.Tensor) for t in leaves):
        raise Untraceable("it does not return a tensor or a list/tuple/dict of tensors")
    recorder.nodes.append({"op": "", "args": recorder.value(result), "kwargs": {}, "specs": []})
    return recorder


def _merge(values: list[Any], where: str) -> Any:
    """One template from the three traces' (2, 3, 5/7), with batch-dependent ints as ranges."""
    first = values[0]
    if all(type(v) is int for v in values) and not all(v == first for v in values):
        a = values[1] - values[0]
        c = values[0] - 2 * a
        if values[2] != 5 * a + c:
            raise Untraceable(f"{where}: an int argument depends on an unknown dimension")
        return ("batch", a, c)
    if any(type(v) is not type(first) for v in values):
        raise Untraceable(f"{where}: the graph changes with the batch size")
    if isinstance(first, (list, tuple)):
        if any(len(v) != len(first) for v in values):
            raise Untraceable(f"{where}: the graph changes with the batch size")
        items = [_merge([v[i] for v in values], where) for i in range(len(first))]
        return items if isinstance(first, list) else tuple(items)
    if isinstance(first, dict):
        if any(list(v) != list(first) for v in values):
            raise Untraceable(f"{where}: the graph changes with the batch size")
        return {k: _merge([v[k] for v in values], where) for k in first}
    if isinstance(first, float) and all(math.isnan(v) for v in values):
        return first
    if any(v != first for v in values):
        raise Untraceable(f"{where}: an argument changes with the batch size")
    return first


def _same_constant(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    return False


def _encode_template(value: Any) -> Any:
    if isinstance(value, _Slot):
        return {value.kind: value.index}
    if isinstance(value, _Device):
        return {"device": None}
    if isinstance(value, torch.dtype):
        return {"dtype": _DTYPE_NAMES[value]}
    if isinstance(value, slice):
        return {"slice": [_encode_template(v) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": None}
    if isinstance(value, tuple) and len(value) == 3 and value[0] == "batch":
        return {"batch": [value[1], value[2]]}
    if isinstance(value, tuple):
        return {"tuple": [_encode_template(v) for v in value]}
    if isinstance(value, list):
        return [_encode_template(v) for v in value]
    if isinstance(value, dict):
        return {"dict": [[k, _encode_template(v)] for k, v in value.items()]}
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": "nan" if math.isnan(value) else str(value)}
    return value


def _spec(shapes: list[tuple[int, ...]], dtype: torch.dtype) -> list[Any]:
    first, second = shapes[0], shapes[1]
    shape = [a if a == b else None for a, b in zip(first, second)]
    return [shape, _DTYPE_NAMES.get(dtype, str(dtype).removeprefix("torch."))]


def trace_graph(
    call: Callable[[list[torch.Tensor]], Any],
    specs: list[tuple[tuple[int | None, ...], torch.dtype]],
) -> dict[str, Any]:
    """The graph config of ``call(inputs)`` (see the module docstring).

    Raises:
        Untraceable: saying why the function cannot be a graph.
    """
    traces = [_trace_once(call, specs, sizes) for sizes in _SIZES]
    nodes = [trace.nodes for trace in traces]
    if len({len(n) for n in nodes}) != 1:
        raise Untraceable("the number of operations changes with the batch size")
    constants = traces[0].constants
    for other in traces[1:]:
        if len(other.constants) != len(constants) or not all(
            _same_constant(a, b) for a, b in zip(constants, other.constants)
        ):
            raise Untraceable("its constant tensors change from one call to the next")
    graph_nodes = []
    for i, versions in enumerate(zip(*nodes)):
        op = versions[0]["op"]
        where = f"operation {i} ({op or 'the result'})"
        if any(v["op"] != op or len(v["specs"]) != len(versions[0]["specs"]) for v in versions):
            raise Untraceable(f"{where}: the operations change with the batch size")
        args = _merge([v["args"] for v in versions], where)
        if not op:
            outputs = _encode_template(args)
            continue
        kwargs = _merge([v["kwargs"] for v in versions], where)
        specs_out = [
            _spec([v["specs"][k][0] for v in versions], versions[0]["specs"][k][1])
            for k in range(len(versions[0]["specs"]))
        ]
        graph_nodes.append(
            {
                "op": op,
                "args": _encode_template(args),
                "kwargs": {k: _encode_template(v) for k, v in kwargs.items()},
                "outputs": len(specs_out),
                "specs": specs_out,
            }
        )
    try:
        encoded = [_encode(c) for c in constants]
    except _Unencodable as error:
        raise Untraceable(f"a constant cannot be saved: {error}") from None
    return {"constants": encoded, "nodes": graph_nodes, "outputs": outputs}


def trace_function(
    fn: Callable[..., Any],
    specs: Any,
    arguments: dict[str, Any],
    keywords: tuple[str, ...],
    positional: tuple[str, ...] | None = None,
    mask_specs: Any = None,
) -> dict[str, Any]:
    """The fields of a ``"graph"`` function config for ``fn(inputs, **arguments)``.

    Args:
        fn: the function.
        specs: the structure of the layer's inputs, with leaves that have a ``shape``
            (``None`` for unknown dimensions) and a ``dtype``: symbolic tensors or ``Spec``s.
        arguments: the keyword arguments the layer passes (``Lambda(arguments=...)``); torch
            modules among them (or the items of a list, tuple or dict of modules) are called
            by name in the graph (``"modules"``: ``net``, ``nets.0``, ``nets.key``).
        keywords: ``"training"`` and/or ``"mask"`` when the function declares them: traced
            with ``training=True`` and ``False``, and ``mask=None`` (or ``mask_specs``).
        positional: for a function called with several positional arguments (a loss's
            ``y_true, y_pred``, an initializer's ``shape, dtype``), their names: each one
            in ``arguments`` is that plain value, the others take the items of ``specs``
            (a list: a tensor each, or a structure of tensors, as a ``Lambda``'s mask
            function's ``inputs, mask``) in order. ``None`` for a function layer's
            ``fn(inputs, **arguments)``.
        mask_specs: the masks of a function layer's inputs (the structure of ``specs``),
            when it declares ``mask`` and every input has one: traced as inputs of the
            graph after ``specs``' (``"mask_inputs"``), so a load passes the real masks.

    Raises:
        Untraceable: saying why the function cannot be a graph.
    """
    flat = [(tuple(leaf.shape), leaf.dtype) for leaf in flatten(specs)]
    if not flat and positional is None:
        raise Untraceable("the layer has not been called, so its input shapes are unknown")
    inputs_count = len(flat)
    if mask_specs is not None:
        flat += [(tuple(leaf.shape), leaf.dtype) for leaf in flatten(mask_specs)]
    modules: list[str] = []
    arguments = {k: _module_calls(k, v, modules) for k, v in arguments.items()}

    def variant(training: bool | None) -> dict[str, Any]:
        def call(inputs: list[torch.Tensor]) -> Any:
            extra: dict[str, Any] = {"mask": None} if "mask" in keywords else {}
            if mask_specs is not None:
                inputs, masks = inputs[:inputs_count], inputs[inputs_count:]
                extra["mask"] = pack_like(mask_specs, masks)
            if training is not None:
                extra["training"] = training
            if positional is None:
                return fn(pack_like(specs, inputs), **arguments, **extra)
            tensors = iter(pack_like(specs, inputs))
            args = [arguments[n] if n in arguments else next(tensors) for n in positional]
            rest = {k: v for k, v in arguments.items() if k not in positional}
            return fn(*args, **rest, **extra)

        return trace_graph(call, flat)

    if "training" in keywords:
        graphs = {"training": variant(True), "inference": variant(False)}
        if graphs["training"] == graphs["inference"]:
            graphs = {"any": graphs["training"]}
    else:
        graphs = {"any": variant(None)}
    batch = next(
        ([i, d] for i, (shape, _) in enumerate(flat) for d, n in enumerate(shape) if n is None),
        None,
    )
    fields = {
        "inputs": _encode_inputs(specs),
        "input_specs": [[list(s), _DTYPE_NAMES.get(d, str(d))] for s, d in flat],
        "batch": batch,
        "keywords": list(keywords),
        "graphs": graphs,
        **({"modules": modules} if modules else {}),
        **({"mask_inputs": _encode_inputs(mask_specs)} if mask_specs is not None else {}),
    }
    return fields if positional is None else {**fields, "positional": list(positional)}


def _module_calls(key: str, value: Any, modules: list[str]) -> Any:
    """`value` with a `_ModuleCall` for a module, or for each item of a list, tuple or dict
    (string keys) of modules only, named `key`, `key.0`, `key.name`; their names added to
    `modules`."""
    if isinstance(value, nn.Module):
        modules.append(key)
        return _ModuleCall(key, value)
    if isinstance(value, dict) and all(isinstance(k, str) and k.isidentifier() for k in value):
        items = list(value.items())
    elif type(value) in (list, tuple):
        items = list(enumerate(value))
    else:
        return value
    if not items or not all(isinstance(v, nn.Module) for _, v in items):
        return value
    calls = [(k, _module_calls(f"{key}.{k}", v, modules)) for k, v in items]
    return dict(calls) if isinstance(value, dict) else type(value)(c for _, c in calls)


def _encode_inputs(specs: Any) -> Any:
    """The structure of the inputs: ``null`` for a tensor, else lists, tuples and dicts."""
    if isinstance(specs, dict):
        return {"dict": [[k, _encode_inputs(v)] for k, v in specs.items()]}
    if isinstance(specs, (list, tuple)):
        items = [_encode_inputs(v) for v in specs]
        return items if isinstance(specs, list) else {"tuple": items}
    return None
