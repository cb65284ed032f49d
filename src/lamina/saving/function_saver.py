"""Turning a callable into a config: by name, as an op graph, or as trusted code.

``_Saver`` tries the kinds of ``lamina.saving.functions`` in order. A function layer's function
(given a ``Trace``) is traced into an op graph (``function_trace``); one that cannot be is saved
as source with a warning naming it and its file:line, recording what its free names refer to
(helper functions become nested configs) for a trusted load.
"""

from __future__ import annotations

import ast
import copy
import functools
import sys
import types
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lamina.core.errors import warn
from lamina.saving import op_table, registry
from lamina.saving.function_config import (
    _MAX_NESTING,
    VERSION,
    _encode,
    _Unencodable,
    function_label,
)
from lamina.saving.function_source import _code_names, _find_node
from lamina.saving.function_trace import Untraceable, trace_function


class FunctionSerializationError(ValueError):
    """A function cannot be stored in a config (raised before anything is written)."""


# --------------------------------------------------------------------------- saving


@dataclass(frozen=True)
class Trace:
    """What tracing a function needs: the specs of the tensors it is called on, its other
    arguments, and its keywords (see ``function_trace.trace_function``)."""

    specs: Any
    arguments: dict[str, Any]
    keywords: tuple[str, ...] = ()
    positional: tuple[str, ...] | None = None
    mask_specs: Any = None


@dataclass
class _Saver:
    owner: str
    stack: tuple[int, ...] = ()
    trace: Trace | None = None

    def error(self, fn: Any, message: str) -> FunctionSerializationError:
        prefix = f"{self.owner}: " if self.owner else ""
        return FunctionSerializationError(
            f"{prefix}cannot save function {function_label(fn)!r}: {message}"
        )

    def save(self, fn: Any) -> dict[str, Any]:
        config = getattr(fn, "__lamina_config__", None)
        if isinstance(config, dict):
            return copy.deepcopy(config)
        name = function_label(fn)
        key = registry.registered_key(fn)
        if key is not None:
            return {"kind": "registered", "version": VERSION, "name": name, "key": key}
        path = op_table.name_of(fn)
        if path is not None and not path.startswith("Tensor."):
            return {"kind": "named", "version": VERSION, "name": name, "path": path}
        if isinstance(fn, functools.partial):
            try:
                args = [_encode(a) for a in fn.args]
                keywords = {k: _encode(v) for k, v in fn.keywords.items()}
            except _Unencodable as err:
                raise self.error(fn, f"a bound argument cannot be saved: {err}") from None
            # Bound keywords are arguments the inner function is traced with; bound positional
            # arguments would shift what it is called on, so such a partial is not traced.
            trace = self.trace
            if trace is not None and not fn.args:
                trace = replace(trace, arguments={**trace.arguments, **fn.keywords})
            inner = replace(self, trace=None if fn.args else trace).save(fn.func)
            return {
                "kind": "partial",
                "version": VERSION,
                "name": name,
                "func": inner,
                "args": args,
                "keywords": keywords,
            }
        if isinstance(fn, types.MethodType):
            raise self.error(
                fn,
                f"it is a bound method (of a {type(fn.__self__).__name__}); lamina cannot save "
                "the object it is bound to. Use a plain function or a @staticmethod.",
            )
        if not isinstance(fn, types.FunctionType):
            raise self.error(fn, _why_not_a_function(fn))
        return self.save_python(fn)

    def save_python(self, fn: types.FunctionType) -> dict[str, Any]:
        module = getattr(fn, "__module__", None) or "__main__"
        base: dict[str, Any] = {
            "kind": "expression",
            "version": VERSION,
            "name": fn.__name__,
            "module": module,
            "qualname": fn.__qualname__,
        }
        found = _find_node(fn)
        reason = ""
        bindings: dict[str, tuple[str, Any]] = {}
        if isinstance(found, str):
            reason = found
            if self.trace is not None:  # a graph needs no source (typed at a prompt, exec-ed)
                graph = self.traced(fn, base)
                if isinstance(graph, dict):
                    return graph
        else:
            base["source"] = found[1]
            bindings = self.bindings(fn, found[0])
            try:
                base["defaults"] = [_encode(v) for v in fn.__defaults__ or ()]
                base["kwdefaults"] = {k: _encode(v) for k, v in (fn.__kwdefaults__ or {}).items()}
            except _Unencodable as err:
                reason = f"a default value cannot be saved: {err}"
            base["globals"] = {n: v for n, (k, v) in bindings.items() if k in ("ref", "config")}
            base["constants"] = {n: v for n, (k, v) in bindings.items() if k == "value"}
            unsupported = {n: v for n, (k, v) in bindings.items() if k in ("import", "missing")}
            if not reason and unsupported:
                name, (kind, detail) = next((n, bindings[n]) for n in bindings if n in unsupported)
                reason = (
                    f"it uses '{name}', {detail}"
                    if kind == "missing"
                    else f"it uses '{name}' ({detail}), which safe mode does not resolve"
                )
            # Why it is not a graph is what matters now: safe mode resolves no source at all.
            graph = self.traced(fn, base)
            if isinstance(graph, dict):
                return graph
            reason = graph
        if self.importable(fn):
            self.warn_trust(fn, reason, f"trusted_modules=[{module.split('.')[0]!r}]")
            return {
                "kind": "module",
                "version": VERSION,
                "name": fn.__name__,
                "module": module,
                "qualname": fn.__qualname__,
                "source": base.get("source"),
                "reason": reason,
            }
        if isinstance(found, str) or "defaults" not in base:
            raise self.error(
                fn,
                f"{reason}. Define it in a .py file or a notebook cell, or register it with "
                f"@register_serializable() and load with the same registration.",
            )
        missing = {n: d for n, (k, d) in bindings.items() if k == "missing"}
        if missing:
            name, detail = next(iter(missing.items()))
            raise self.error(
                fn,
                f"it uses '{name}', {detail}. Pass such values through the Lambda's arguments, "
                f"or register the function with @register_serializable().",
            )
        self.warn_trust(fn, reason, "safe_mode=False")
        base["kind"] = "source"
        base["globals"].update({n: v for n, (k, v) in bindings.items() if k == "import"})
        base["reason"] = reason
        return base

    def traced(self, fn: types.FunctionType, base: dict[str, Any]) -> dict[str, Any] | str:
        """The ``"graph"`` config of ``fn``, or why it cannot be one."""
        if self.trace is None:
            return (
                "lamina does not know what it is called on (a layer that was never called, "
                "or a setting other than a function layer's function, a loss, a metric, an "
                "activation, an initializer, a regularizer or a constraint)"
            )
        try:
            trace = self.trace
            fields = trace_function(
                fn, trace.specs, trace.arguments, trace.keywords, trace.positional, trace.mask_specs
            )
            modules = {path.split(".")[0] for path in fields.get("modules", ())}
            arguments = {k: _encode(v) for k, v in self.trace.arguments.items() if k not in modules}
        except (Untraceable, _Unencodable) as err:
            return str(err)
        config = {**base, "kind": "graph", "arguments": arguments, **fields}
        for key in ("globals", "constants", "defaults", "kwdefaults"):
            config.pop(key, None)
        return config

    def warn_trust(self, fn: types.FunctionType, reason: str, how: str) -> None:
        if self.stack:
            return  # a helper of a function saved as source: that one's warning covers it
        code = fn.__code__
        warn(
            f"{self.owner}: function {fn.__qualname__!r} ({code.co_filename}:"
            f"{code.co_firstlineno}) is saved as source, not as an op graph, because {reason}. "
            f"Loading it will need trust ({how}, or custom_objects)."
        )

    def importable(self, fn: types.FunctionType) -> bool:
        module = sys.modules.get(fn.__module__ or "")
        if module is None or fn.__module__ == "__main__" or "<" in fn.__qualname__:
            return False
        obj: Any = module
        for part in fn.__qualname__.split("."):
            obj = getattr(obj, part, None)
        return obj is fn

    def bindings(self, fn: types.FunctionType, node: ast.AST) -> dict[str, tuple[str, Any]]:
        """What each free name of ``fn`` refers to, as (how, stored form)."""
        code = fn.__code__
        found: dict[str, tuple[str, Any]] = {}
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                found[name] = ("missing", "a closure variable that has no value yet")
                continue
            found[name] = self.binding(fn, value)
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        for name in sorted(_code_names(code) & used):
            if name in found:
                continue
            # Builtins and undefined names get no binding: exec-ed source (a trusted load)
            # sees the real builtins.
            if name in fn.__globals__:
                found[name] = self.binding(fn, fn.__globals__[name])
        return found

    def binding(self, fn: Any, value: Any) -> tuple[str, Any]:
        path = op_table.name_of(value)
        if path is not None and not path.startswith("Tensor."):
            return "ref", path
        key = registry.registered_key(value)
        if key is not None:
            return "ref", f"registered:{key}"
        if isinstance(value, types.ModuleType):
            return "import", f"import:{value.__name__}"
        try:
            return "value", _encode(value)
        except _Unencodable as err:
            reason = str(err)
        if callable(value) and (
            isinstance(value, (types.FunctionType, functools.partial))
            or hasattr(value, "__lamina_config__")
        ):
            if id(value) in self.stack or value is fn:
                return "missing", "a function that calls itself, which lamina cannot save"
            if len(self.stack) >= _MAX_NESTING:
                return "missing", "helper functions nested too deeply"
            try:
                inner = replace(self, stack=(*self.stack, id(fn)), trace=None).save(value)
            except FunctionSerializationError as err:
                return "missing", f"a helper function that cannot be saved ({err})"
            return "config", inner
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str) and module != "__main__":
            owner_module = sys.modules.get(module)
            obj: Any = owner_module
            for part in qualname.split("."):
                obj = getattr(obj, part, None)
            if obj is value:
                return "import", f"import:{module}:{qualname}"
        return "missing", f"which holds a value lamina cannot save ({reason})"


def _why_not_a_function(fn: Any) -> str:
    if isinstance(fn, type):
        return (
            f"it is a class ({fn.__qualname__}); register it with @register_serializable() "
            f"or wrap the call in a function"
        )
    if isinstance(fn, (types.BuiltinFunctionType, np.ufunc)) or type(fn).__name__ in (
        "method-wrapper",
        "wrapper_descriptor",
        "method_descriptor",
    ):
        return (
            "it is built in (compiled code without Python source) and not on lamina's "
            "table of ops; wrap it in a function (def f(x): return np.exp(x)) or register it "
            "with register_serializable()(fn)"
        )
    if callable(fn):
        return (
            f"it is a {type(fn).__name__} instance, not a function; lamina saves functions. "
            f"Use a layer for modules, or wrap the call in a function"
        )
    return f"it is not callable (got a {type(fn).__name__})"
