"""Saving any Python callable into a JSON config that loads safely, in any process.

Keras stores a Lambda's function as marshal bytecode: it loads only with ``safe_mode=False`` and
only on the same Python version. lamina stores *what the function does*, never bytecode or
pickle, trying in order:

1. **Known by name** -- a registered object (``@register_serializable``), a torch function in
   ``op_table``, or a function of ``lamina.ops``/``lamina.activations``::

       {"kind": "registered", "version": 2, "name": "slice", "key": "Custom>slice"}
       {"kind": "named", "version": 2, "name": "exp", "path": "torch.exp"}
       {"kind": "partial", "version": 2, "name": "f", "func": {...}, "args": [...],
        "keywords": {...}}

2. **An op graph** -- a function layer's function, traced on the layer's input specs, or a
   loss, metric, activation, regularizer, initializer or constraint, traced on what lamina
   calls it with (``function_roles``; such a config adds ``"positional"``, the names of its
   positional arguments: ``["y_true", "y_pred"]``). ``function_trace`` documents the graph;
   ``function_graph`` loads it. It loads in safe mode: op names map through ``op_table``; the
   source is kept only for people and trusted loads::

       {"kind": "graph", "version": 2, "name": "sampling", "module": "__main__",
        "qualname": "sampling", "source": "def sampling(agrs): ...",
        "arguments": {"index": 0}, "inputs": [null, null],
        "input_specs": [[[null, 2], "float32"], [[null, 2], "float32"]], "batch": [0, 0],
        "keywords": [], "graphs": {"any": {"constants": [], "nodes": [...], "outputs": ...}}}

   ``keywords`` names ``training``/``mask`` when the function declares them; ``graphs`` then
   holds ``"training"`` and ``"inference"`` when the two traces differ.

3. **Importable code** that is not a graph -- loads only from ``trusted_modules``, from the
   registry, or with ``safe_mode=False``::

       {"kind": "module", "version": 2, "name": "f", "module": "pkg.mod", "qualname": "f",
        "source": "...", "reason": "it calls item, which reads a tensor's values ..."}

4. **Other source** (``__main__`` or notebook code that is not a graph): its ``source``,
   ``globals`` (what each free name referred to: a dotted name, ``"registered:<key>"``,
   ``"import:<module>[:<qualname>]"``, or a helper's config), ``constants``, ``defaults``,
   ``kwdefaults`` and ``reason``. Loads only with ``safe_mode=False``, then with ``exec``.
   Version 1 files call this ``"expression"`` when lamina's old evaluator accepted it; safe
   mode refuses those with a message to load trusted and save again.

5. Anything else (no source: made by ``exec``, a C builtin outside the table, a callable
   object) makes ``serialize_function`` raise ``FunctionSerializationError``.

Encoded values (constants, defaults, partial arguments) are JSON: ``None``, bools, numbers,
strings and lists as themselves; the rest tagged ``{"__lamina__": tag, ...}``:
``"tuple"``/``"dict"`` with ``"items"``, ``"float"`` with ``"value"`` (``"nan"``, ``"inf"``,
``"-inf"``), ``"ndarray"``/``"tensor"`` with ``"dtype"``, ``"shape"`` and ``"data"`` (a flat list,
or base64 of the little-endian bytes), ``"ref"`` with the ``"path"`` of a dtype.

This module holds the entry points; the work is done in ``function_config`` (version, kinds,
encoded values), ``function_source`` (finding a function's source), ``function_saver``,
``function_trace``, ``function_graph`` and ``function_loader``.

Example:
    >>> import torch
    >>> from lamina import Input
    >>> from lamina.layers import Lambda
    >>> def slice(x, index):
    ...     return x[:, :, index]
    >>> layer = Lambda(slice, arguments={"index": 0})
    >>> inputs = layer(Input(shape=(2, 3))).node.inputs
    >>> config = serialize_function(slice, trace=Trace(inputs, {"index": 0}, ()))
    >>> config["kind"], describe_function(config)
    ('graph', 'op graph (safe)')
    >>> deserialize_function(config)(torch.ones(1, 2, 3), index=0)
    tensor([[1., 1.]])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lamina.saving import registry
from lamina.saving.function_config import KINDS as KINDS
from lamina.saving.function_config import MAX_CONSTANT_ELEMENTS as MAX_CONSTANT_ELEMENTS
from lamina.saving.function_config import VERSION as VERSION
from lamina.saving.function_config import (
    FunctionDeserializationError as FunctionDeserializationError,
)
from lamina.saving.function_config import UnsafeFunctionError as UnsafeFunctionError
from lamina.saving.function_config import function_label as function_label
from lamina.saving.function_graph import GraphFunction as GraphFunction
from lamina.saving.function_loader import _Context, _Loader
from lamina.saving.function_saver import FunctionSerializationError as FunctionSerializationError
from lamina.saving.function_saver import Trace as Trace
from lamina.saving.function_saver import _Saver

__all__ = [
    "FunctionDeserializationError",
    "FunctionSerializationError",
    "GraphFunction",
    "UnsafeFunctionError",
    "describe_function",
    "deserialize_function",
    "function_label",
    "serialize_function",
]


def serialize_function(
    fn: Callable[..., Any], *, owner: str = "", trace: Trace | None = None
) -> dict[str, Any]:
    """Stores a callable as a JSON-compatible config that ``deserialize_function`` loads.

    Args:
        fn: A function, lambda, registered object, torch function in the op table or
            ``functools.partial`` of one of those.
        owner: Who owns the function, for messages, e.g. ``"Lambda 'lambda_1'"``.
        trace: What the function is called on (a function layer's input specs and
            arguments, a loss's ``y_true, y_pred``, ...), so that it is traced into an op
            graph; it is saved as source, with a warning, if it cannot be.

    Returns:
        A config dict (see the module docstring for its schema).

    Raises:
        FunctionSerializationError: If ``fn`` has no source and is not known by name, or uses
            a value that cannot be stored.

    Example:
        >>> import torch
        >>> serialize_function(torch.exp)["path"]
        'torch.exp'
    """
    return _Saver(owner, trace=trace).save(fn)


def _where(owner: str, source: str) -> str:
    if owner and source:
        return f"{owner} in {source!r}: "
    if owner or source:
        return f"{owner or repr(source)}: "
    return ""


def deserialize_function(
    config: dict[str, Any],
    *,
    safe_mode: bool = True,
    custom_objects: Mapping[str, Any] | None = None,
    trusted_modules: Sequence[str] = (),
    source: str = "",
    owner: str = "",
) -> Callable[..., Any]:
    """Loads a callable saved by ``serialize_function``.

    In safe mode (the default) nothing from the config is imported, ``exec``-ed or unpickled:
    names resolve through the registry and lamina's op table, and op graphs run only ops from
    that table. Saved source is never parsed or run in safe mode.

    Args:
        config: The dict ``serialize_function`` returned (e.g. after a JSON round trip).
        safe_mode: Refuse code that is not an op graph or known by name. Pass False only
            for files you trust: modules are then imported and source is ``exec``-ed.
        custom_objects: Name (or registered key) to object; a function whose saved name is
            here loads as that object instead.
        trusted_modules: Modules (and their submodules) whose functions may be imported even
            in safe mode.
        source: The file being loaded, for messages.
        owner: Who owns the function, e.g. ``"Lambda 'lambda_1'"``, for messages.

    Returns:
        A callable with the original's name and signature.

    Raises:
        UnsafeFunctionError: If safe mode refuses the function; the message names the construct
            and line and says how to load it anyway.
        FunctionDeserializationError: If the config is malformed or refers to something
            missing.

    Example:
        >>> import torch
        >>> f = deserialize_function(serialize_function(torch.exp))
        >>> f(torch.zeros(2))
        tensor([1., 1.])
    """
    if isinstance(trusted_modules, str):
        trusted_modules = (trusted_modules,)
    ctx = _Context(
        safe_mode=bool(safe_mode),
        custom_objects=dict(custom_objects or {}),
        trusted_modules=tuple(trusted_modules),
        where=_where(owner, source),
    )
    try:
        return _Loader(ctx, source).load(config)
    except RecursionError:
        raise FunctionDeserializationError(
            f"{ctx.where}function config is nested too deeply."
        ) from None


def describe_function(config: dict[str, Any]) -> str:
    """Says how a saved function would load in safe mode, without loading it.

    Returns:
        ``"op graph (safe)"``, ``"registered"`` (by name: registry, op table, lamina.ops),
        ``"module X: needs trust"``, ``"source: needs trust"``, ``"old safe expression: needs
        trust (re-save)"``, or ``"invalid (...)"`` for a malformed config.

    Example:
        >>> describe_function({"kind": "module", "version": 1, "name": "f",
        ...                    "module": "pkg.mod", "qualname": "f"})
        'module pkg.mod: needs trust'
    """
    if not isinstance(config, dict):
        return f"invalid (a config must be a dict, got {type(config).__name__})"
    kind = config.get("kind")
    if kind in ("registered", "named"):
        return "registered"
    if kind == "partial":
        return describe_function(config.get("func"))  # type: ignore[arg-type]
    module, qualname = str(config.get("module")), str(config.get("qualname"))
    if kind in ("module", "source", "expression"):
        if registry.find_registered(module, qualname) is not None:
            return "registered"
        if kind == "module":
            return f"module {module}: needs trust"
        return (
            "source: needs trust"
            if kind == "source"
            else "old safe expression: needs trust (re-save)"
        )
    try:
        _Loader(_Context(safe_mode=True)).load(config)
    except (FunctionDeserializationError, RecursionError) as err:
        return f"invalid ({err})"
    return "op graph (safe)"
