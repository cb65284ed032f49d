"""Saving any Python callable into a JSON config that loads safely, in any process.

Keras stores a Lambda's function as marshal bytecode: it loads only with ``safe_mode=False`` and
only on the same Python version. lamina stores *what the function is*, never bytecode or pickle,
trying in order:

1. **Known by name** -- a registered object (``@register_serializable``), an allowlisted torch
   or ``math`` function, or a function of ``lamina.ops``/``lamina.activations``::

       {"kind": "registered", "version": 1, "name": "slice", "key": "Custom>slice"}
       {"kind": "named", "version": 1, "name": "exp", "path": "torch.exp"}
       {"kind": "partial", "version": 1, "name": "f", "func": {...}, "args": [...],
        "keywords": {...}}

2. **A safe expression** -- the source of a ``def`` or ``lambda`` that passes the checks of
   ``lamina.saving._safe_eval`` (tensor math, allowlisted calls, bounded loops; see there).
   It loads in safe mode and runs on lamina's own evaluator, never ``exec``::

       {"kind": "expression", "version": 1, "name": "sampling",
        "source": "def sampling(agrs):\\n    ...",
        "globals": {"torch": "torch", "F": "torch.nn.functional", "h": {<function config>}},
        "constants": {"k": 2.0, "mask": {"__lamina__": "ndarray", ...}},
        "defaults": [0.5], "kwdefaults": {"axis": -1},
        "module": "__main__", "qualname": "sampling"}

   ``globals`` maps each free name the function uses to what it referred to: an allowlisted
   dotted name (``"torch"``, ``"torch.exp"``, ``"torch.float32"``), ``"registered:<key>"``, or
   the config of a helper function it calls. ``constants`` holds closure values and global
   constants by value; ``defaults``/``kwdefaults`` the parameters' default values (the source's
   default expressions are never evaluated).

3. **Importable code** that is not a safe expression -- loads only from ``trusted_modules``,
   from the registry, or with ``safe_mode=False``::

       {"kind": "module", "version": 1, "name": "f", "module": "pkg.mod", "qualname": "f",
        "source": "...", "reason": "line 3: while loops are not allowed ..."}

4. **Other source** (``__main__`` or notebook code that is not a safe expression) -- the same
   fields as an expression plus ``"reason"``; ``globals`` may also hold ``"import:<module>"`` or
   ``"import:<module>:<qualname>"``. Loads only with ``safe_mode=False``, then with ``exec``.

5. Anything else (no source: made by ``exec``, a C builtin that is not allowlisted, a callable
   object) makes ``serialize_function`` raise ``FunctionSerializationError``.

Encoded values (``constants``, ``defaults``, partial arguments) are JSON: ``None``, bools,
numbers, strings and lists as themselves; the rest tagged ``{"__lamina__": tag, ...}``:
``"tuple"``/``"dict"`` with ``"items"``, ``"float"`` with ``"value"`` (``"nan"``, ``"inf"``,
``"-inf"``), ``"ndarray"``/``"tensor"`` with ``"dtype"``, ``"shape"`` and ``"data"`` (a flat list,
or base64 of the little-endian bytes), ``"ref"`` with an allowlisted ``"path"`` (e.g. a dtype).

Which kind a config is does not decide how it loads: a config loads in safe mode exactly when its
source passes the checks *now*, so a hand-edited file cannot promote itself.

Example:
    >>> import torch
    >>> def slice(x, index):
    ...     return x[:, :, index]
    >>> config = serialize_function(slice)
    >>> config["kind"], describe_function(config)
    ('expression', 'safe expression')
    >>> deserialize_function(config)(torch.ones(1, 2, 3), index=0)
    tensor([[1., 1.]])
"""

from __future__ import annotations

import ast
import base64
import builtins
import copy
import functools
import importlib
import importlib.util
import inspect
import linecache
import math
import sys
import textwrap
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from lamina.saving import allowlist, registry
from lamina.saving._safe_eval import (
    Binding,
    Callee,
    Forbidden,
    Module,
    Refusal,
    Value,
    compile_function,
    parse_function_source,
    safe_builtins,
)
from lamina.saving._safe_eval import FunctionDeserializationError as FunctionDeserializationError
from lamina.saving._safe_eval import SafeFunction as SafeFunction
from lamina.saving._safe_eval import UnsafeFunctionError as UnsafeFunctionError

__all__ = [
    "FunctionDeserializationError",
    "FunctionSerializationError",
    "SafeFunction",
    "UnsafeFunctionError",
    "describe_function",
    "deserialize_function",
    "function_label",
    "serialize_function",
]

VERSION = 1
KINDS = ("registered", "named", "partial", "expression", "module", "source")
MAX_CONSTANT_ELEMENTS = 1_000_000
_MAX_NESTING = 8  # helper functions inside helper functions
_MAX_VALUE_DEPTH = 32
_TAG = "__lamina__"
_ARRAY_DTYPES = frozenset(
    ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
) | {"complex64", "complex128"}


class FunctionSerializationError(ValueError):
    """A function cannot be stored in a config (raised before anything is written)."""


# --------------------------------------------------------------------------- values


class _Unencodable(Exception):
    pass


def _encode(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_VALUE_DEPTH:
        raise _Unencodable("it is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {_TAG: "float", "value": "nan" if math.isnan(value) else str(value)}
    if type(value) is list:
        return [_encode(v, depth + 1) for v in value]
    if type(value) is tuple:
        return {_TAG: "tuple", "items": [_encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        items = [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]
        return {_TAG: "dict", "items": items}
    if isinstance(value, torch.dtype):
        entry = allowlist.path_of(value)
        if entry is not None:
            return {_TAG: "ref", "path": entry.path}
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(np.asarray(value), "ndarray", value.dtype.name)
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().resolve_conj().resolve_neg()
        dtype = str(tensor.dtype).removeprefix("torch.")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return _encode_array(tensor.numpy(), "tensor", dtype)
    raise _Unencodable(f"it is a {type(value).__name__}")


def _encode_array(array: np.ndarray, tag: str, dtype: str) -> dict[str, Any]:
    if array.dtype.name not in _ARRAY_DTYPES:
        raise _Unencodable(f"it is an array of dtype {array.dtype}")
    if array.size > MAX_CONSTANT_ELEMENTS:
        raise _Unencodable(
            f"it is an array of {array.size:,} values, more than {MAX_CONSTANT_ELEMENTS:,}; "
            f"make it a layer weight or a model input instead"
        )
    out: dict[str, Any] = {_TAG: tag, "dtype": dtype, "shape": list(array.shape)}
    if array.size <= 64 and array.dtype.kind in "biuf" and np.isfinite(array).all():
        out["data"] = array.reshape(-1).tolist()
    else:
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        out["data"] = base64.b64encode(np.ascontiguousarray(little).tobytes()).decode("ascii")
    return out


def _decode(value: Any, where: str, depth: int = 0) -> Any:
    if depth > _MAX_VALUE_DEPTH:
        raise FunctionDeserializationError(f"{where}: value is nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, where, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise FunctionDeserializationError(
            f"{where}: expected a JSON value, got {type(value).__name__}"
        )
    tag = value.get(_TAG)
    if tag in ("tuple", "dict"):
        items = value.get("items")
        if not isinstance(items, list):
            raise FunctionDeserializationError(f"{where}: a {tag} needs a list of 'items'")
        if tag == "tuple":
            return tuple(_decode(v, where, depth + 1) for v in items)
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                raise FunctionDeserializationError(f"{where}: dict items must be [key, value]")
            key = _decode(pair[0], where, depth + 1)
            try:
                out[key] = _decode(pair[1], where, depth + 1)
            except TypeError:
                raise FunctionDeserializationError(f"{where}: unhashable dict key") from None
        return out
    if tag == "float" and value.get("value") in ("nan", "inf", "-inf"):
        return float(value["value"])
    if tag == "ref":
        path = value.get("path")
        entry = allowlist.lookup(path) if isinstance(path, str) else None
        if entry is None or entry.kind != "constant":
            raise UnsafeFunctionError(
                f"{where}: reference {value.get('path')!r} is not an allowlisted constant"
            )
        return entry.obj
    if tag in ("ndarray", "tensor"):
        return _decode_array(value, tag, where)
    raise FunctionDeserializationError(
        f"{where}: unknown encoded value {str(value)[:80]}; expected plain JSON or a "
        f"{{'{_TAG}': 'tuple' | 'dict' | 'float' | 'ref' | 'ndarray' | 'tensor', ...}} dict"
    )


def _decode_array(value: dict[str, Any], tag: str, where: str) -> Any:
    dtype, shape, data = value.get("dtype"), value.get("shape"), value.get("data")
    allowed = _ARRAY_DTYPES | ({"bfloat16"} if tag == "tensor" else set())
    if not isinstance(dtype, str) or dtype not in allowed:
        raise FunctionDeserializationError(
            f"{where}: array dtype {dtype!r} is not one of {sorted(allowed)}"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > 32
        or not all(type(d) is int and 0 <= d <= MAX_CONSTANT_ELEMENTS for d in shape)
    ):
        raise FunctionDeserializationError(f"{where}: bad array shape {str(shape)[:80]}")
    size = math.prod(shape)
    if size > MAX_CONSTANT_ELEMENTS:
        raise FunctionDeserializationError(f"{where}: array of {size} values is too big")
    np_dtype = np.dtype("float32" if dtype == "bfloat16" else dtype)
    if isinstance(data, list):
        kinds = {"b": (bool,), "i": (bool, int), "u": (bool, int)}.get(np_dtype.kind)
        if len(data) != size or not all(type(v) in (kinds or (bool, int, float)) for v in data):
            raise FunctionDeserializationError(
                f"{where}: array data must be {size} numbers of dtype {dtype} for shape {shape}"
            )
        try:
            with np.errstate(all="raise"):
                array = np.array(data, dtype=np_dtype).reshape(shape)
        except (OverflowError, ValueError, FloatingPointError) as err:
            raise FunctionDeserializationError(f"{where}: bad array data: {err}") from None
    elif isinstance(data, str):
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise FunctionDeserializationError(f"{where}: array data is not base64") from None
        if len(raw) != size * np_dtype.itemsize:
            raise FunctionDeserializationError(
                f"{where}: array data has {len(raw)} bytes, expected "
                f"{size * np_dtype.itemsize} for shape {shape} and dtype {dtype}"
            )
        little = np.frombuffer(raw, dtype=np_dtype.newbyteorder("<"))
        array = little.astype(np_dtype).reshape(shape)
    else:
        raise FunctionDeserializationError(f"{where}: array data must be a list or base64")
    if tag == "ndarray":
        return array
    tensor = torch.from_numpy(array)
    return tensor.to(torch.bfloat16) if dtype == "bfloat16" else tensor


# --------------------------------------------------------------------------- finding source

_PARSED: dict[tuple[str, int], ast.Module] = {}


def _parse_file(filename: str, text: str) -> ast.Module | None:
    key = (filename, hash(text))
    if key not in _PARSED:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        if len(_PARSED) > 32:
            _PARSED.clear()
        _PARSED[key] = tree
    return _PARSED[key]


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _node_identifiers(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _arg_names(args: ast.arguments) -> list[str]:
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return names + [a.arg for a in (args.vararg, args.kwarg) if a is not None]


def _code_arg_names(code: types.CodeType) -> list[str]:
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return list(code.co_varnames[:n])


def _inside(node: ast.AST, code: types.CodeType) -> bool:
    positions = getattr(code, "co_positions", None)
    if positions is None:  # Python 3.10
        return True
    start = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
    end = (node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
    for line, end_line, col, end_col in positions():
        if None in (line, end_line, col, end_col) or (col == 0 and end_col == 0):
            continue
        if not (start <= (line, col) and (end_line, end_col) <= end):
            return False
    return True


def _find_node(fn: types.FunctionType) -> tuple[ast.Lambda | ast.FunctionDef, str, str] | str:
    """Returns the function's AST node and the source text to store, or why there is none."""
    code = fn.__code__
    filename = code.co_filename
    linecache.checkcache(filename)
    lines = linecache.getlines(filename, fn.__globals__)
    if not lines:
        return (
            f"its source code is not available (file {filename!r}; functions made with exec or "
            f"eval, or typed into a plain interactive prompt, have none)"
        )
    found = _locate(code, filename, "".join(lines))
    if isinstance(found, str):
        return found
    node, source, where = found
    return copy.deepcopy(node), source, where  # callers may change the tree


@functools.lru_cache(maxsize=256)
def _locate(
    code: types.CodeType, filename: str, text: str
) -> tuple[ast.Lambda | ast.FunctionDef, str, str] | str:
    # Cached: finding a function walks its whole file's tree, which dominates saving a model
    # whose functions live in a long module; the file's text is part of the key, so an edited
    # file is searched again.
    tree = _parse_file(filename, text)
    if tree is None:
        return f"its file {filename!r} does not parse any more"
    is_lambda = code.co_name == "<lambda>"
    candidates: list[ast.Lambda | ast.FunctionDef] = []
    for node in ast.walk(tree):
        if is_lambda and isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno:
            candidates.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name == code.co_name:
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if first == code.co_firstlineno:
                candidates.append(node)
    arg_names = _code_arg_names(code)
    candidates = [c for c in candidates if _arg_names(c.args) == arg_names]
    # Several lambdas on one line: narrow down by where the code's instructions are, then by
    # the names it uses.
    if len(candidates) > 1:
        candidates = [c for c in candidates if _inside(c, code)]
    if len(candidates) > 1:
        names = _code_names(code)
        candidates = [c for c in candidates if names <= _node_identifiers(c)]
    if not candidates:
        return (
            f"its source in {filename!r} line {code.co_firstlineno} does not match the function "
            f"(was the file edited after it was imported?)"
        )
    if len({ast.dump(c) for c in candidates}) > 1:
        return (
            f"several different lambdas on line {code.co_firstlineno} of {filename!r} look alike; "
            f"put this one on its own line or make it a def"
        )
    node = candidates[0]
    if isinstance(node, ast.Lambda):
        source = ast.get_source_segment(text, node)
    else:
        segment = ast.get_source_segment(text, node, padded=True)
        source = textwrap.dedent(segment) + "\n" if segment is not None else None
    if source is None:
        return f"lamina could not cut its source out of {filename!r}"
    try:
        again = parse_function_source(source, "<lambda>" if is_lambda else code.co_name)
    except Refusal:
        again = None
    bare = copy.copy(node)
    if isinstance(bare, ast.FunctionDef):
        bare.decorator_list = []
    if again is None or ast.dump(again) != ast.dump(bare):
        return f"lamina could not cut its source out of {filename!r} unchanged"
    return again, source, f"{filename}:{node.lineno}"


# --------------------------------------------------------------------------- saving


@dataclass
class _Saver:
    owner: str
    stack: tuple[int, ...] = ()

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
        entry = allowlist.path_of(fn)
        if entry is not None and entry.kind == "function":
            return {"kind": "named", "version": VERSION, "name": name, "path": entry.path}
        if isinstance(fn, functools.partial):
            try:
                args = [_encode(a) for a in fn.args]
                keywords = {k: _encode(v) for k, v in fn.keywords.items()}
            except _Unencodable as err:
                raise self.error(fn, f"a bound argument cannot be saved: {err}") from None
            inner = self.save(fn.func)
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
            if not reason:
                # Exactly the check loading will do, so what saves as an expression loads.
                try:
                    _Loader(_Context(safe_mode=True)).compile(base, fn.__name__, found[0])
                    return base
                except Refusal as refusal:
                    line = f"line {refusal.lineno} of {fn.__name__}: " if refusal.lineno else ""
                    reason = f"{line}{refusal.message} (defined at {found[2]})"
                except FunctionDeserializationError as err:  # e.g. from a helper's config
                    reason = str(err).split("\n", 1)[0]
        if self.importable(fn):
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
        base["kind"] = "source"
        base["globals"].update({n: v for n, (k, v) in bindings.items() if k == "import"})
        base["reason"] = reason
        return base

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
            # Builtins and undefined names get no binding: the evaluator has its own builtins
            # and refuses unknown names, and exec-ed source sees the real builtins.
            if name in fn.__globals__:
                found[name] = self.binding(fn, fn.__globals__[name])
        return found

    def binding(self, fn: Any, value: Any) -> tuple[str, Any]:
        entry = allowlist.path_of(value)
        if entry is not None:
            return "ref", entry.path
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
                inner = replace(self, stack=(*self.stack, id(fn))).save(value)
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
            "allowlist; wrap it in a function (def f(x): return np.exp(x)) or register it "
            "with register_serializable()(fn)"
        )
    if callable(fn):
        return (
            f"it is a {type(fn).__name__} instance, not a function; lamina saves functions. "
            f"Use a layer for modules, or wrap the call in a function"
        )
    return f"it is not callable (got a {type(fn).__name__})"


def serialize_function(fn: Callable[..., Any], *, owner: str = "") -> dict[str, Any]:
    """Stores a callable as a JSON-compatible config that ``deserialize_function`` loads.

    Args:
        fn: A function, lambda, registered object, allowlisted torch function or
            ``functools.partial`` of one of those.
        owner: Who owns the function, for messages, e.g. ``"Lambda 'lambda_1'"``.

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
    return _Saver(owner).save(fn)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Context:
    safe_mode: bool
    custom_objects: Mapping[str, Any] = field(default_factory=dict)
    trusted_modules: tuple[str, ...] = ()
    where: str = ""
    depth: int = 0


def _fix(name: str, source: str) -> str:
    target = f"the file {source!r}" if source else "the file"
    return (
        f"If you trust {target}, load it with safe_mode=False. Or define the function in the "
        f"loading program and register it with @register_serializable(), or pass "
        f"custom_objects={{{name!r}: your_function}}."
    )


class _Loader:
    def __init__(self, ctx: _Context, source: str = "") -> None:
        self.ctx = ctx
        self.source = source

    def fail(self, message: str, unsafe: bool = False) -> FunctionDeserializationError:
        cls = UnsafeFunctionError if unsafe else FunctionDeserializationError
        return cls(f"{self.ctx.where}{message}")

    def load(self, config: Any) -> Callable[..., Any]:
        if not isinstance(config, dict):
            raise self.fail(f"a function config must be a dict, got {type(config).__name__}.")
        version, kind, name = config.get("version"), config.get("kind"), config.get("name")
        if type(version) is not int or version < 1:
            raise self.fail(f"function config has version {version!r}, expected {VERSION}.")
        if version > VERSION:
            raise self.fail(
                f"function config has version {version}, this lamina reads up to {VERSION}; "
                f"upgrade lamina to load this file."
            )
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise self.fail(f"function config needs a 'name' string, got {str(name)[:80]!r}.")
        if kind not in KINDS:
            raise self.fail(
                f"function {name!r} has unknown kind {str(kind)[:40]!r}; "
                f"expected one of {', '.join(KINDS)}."
            )
        if self.ctx.depth > _MAX_NESTING:
            raise self.fail(f"function {name!r}: helper functions are nested too deeply.")
        override = self.ctx.custom_objects.get(name)
        if override is not None:
            return self.check_callable(override, name)
        loader: Callable[[dict[str, Any], str], Callable[..., Any]] = getattr(self, f"load_{kind}")
        return loader(config, name)

    def check_callable(self, obj: Any, name: str) -> Callable[..., Any]:
        if not callable(obj):
            raise self.fail(f"function {name!r} resolved to {type(obj).__name__}, not a callable.")
        return obj  # type: ignore[no-any-return]

    def text(self, config: dict[str, Any], field: str, name: str) -> str:
        value = config.get(field)
        if not isinstance(value, str) or not value or len(value) > 500:
            raise self.fail(f"function {name!r} needs a {field!r} string, got {str(value)[:80]!r}.")
        return value

    def load_registered(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        key = self.text(config, "key", name)
        obj = registry.get_registered_object(key, self.ctx.custom_objects)
        if obj is None:
            raise self.fail(
                f"function {name!r} was saved as the registered object {key!r}, but nothing is "
                f"registered under that key in this program. Import the module that defines it "
                f"with @register_serializable(), or pass custom_objects={{{key!r}: function}}."
            )
        return self.check_callable(obj, name)

    def load_named(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        path = self.text(config, "path", name)
        entry = allowlist.lookup(path)
        if entry is None or entry.kind != "function":
            hint = " (lamina.ops could not be imported)" if path.startswith("lamina.") else ""
            raise self.fail(
                f"function {name!r} refers to {path!r}, which is not on lamina's allowlist of "
                f"functions{hint}. {_fix(name, self.source)}",
                unsafe=True,
            )
        return self.check_callable(entry.obj, name)

    def load_partial(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        args, keywords = config.get("args", []), config.get("keywords", {})
        if not isinstance(args, list) or not isinstance(keywords, dict):
            raise self.fail(f"partial {name!r} needs an 'args' list and a 'keywords' dict.")
        func = self.child().load(config.get("func"))
        where = f"{self.ctx.where}partial {name!r}"
        return functools.partial(
            func,
            *[_decode(a, where) for a in args],
            **{str(k): _decode(v, where) for k, v in keywords.items()},
        )

    def child(self) -> _Loader:
        return _Loader(replace(self.ctx, depth=self.ctx.depth + 1), self.source)

    def load_module(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        module = self.text(config, "module", name)
        qualname = self.text(config, "qualname", name)
        if not all(p.isidentifier() for p in (*module.split("."), *qualname.split("."))):
            raise self.fail(f"function {name!r} has a bad module or qualname: {module}:{qualname}.")
        found = registry.find_registered(module, qualname)
        if found is not None:
            return self.check_callable(found, name)
        trusted = any(module == t or module.startswith(t + ".") for t in self.ctx.trusted_modules)
        if self.ctx.safe_mode and not trusted:
            raise self.fail(
                f"function {name!r} is code from module {module!r} ({module}.{qualname}), and "
                f"safe mode does not import modules. If you trust {module!r}, pass "
                f"trusted_modules=[{module.split('.')[0]!r}] (or safe_mode=False); or register "
                f"the function with @register_serializable() before loading.",
                unsafe=True,
            )
        return self.check_callable(self.import_object(module, qualname, name), name)

    def import_object(self, module: str, qualname: str, name: str) -> Any:
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split(".") if qualname else ():
                obj = getattr(obj, part)
        except ImportError as err:
            raise self.fail(f"function {name!r}: cannot import {module!r}: {err}.") from None
        except AttributeError:
            raise self.fail(f"function {name!r}: module {module!r} has no {qualname!r}.") from None
        return obj

    def load_expression(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        try:
            node = parse_function_source(config.get("source"), name)
        except Refusal as refusal:
            raise self.fail(f"function {name!r} is malformed: {refusal.message}.") from None
        try:
            return self.compile(config, name, node)
        except Refusal as refusal:
            found = registry.find_registered(str(config.get("module")), str(config.get("qualname")))
            if found is not None:
                return self.check_callable(found, name)
            if not self.ctx.safe_mode:
                return self.exec_source(config, name, node)
            raise self.fail(self.refusal_message(config, name, refusal), unsafe=True) from None

    load_source = load_expression

    def refusal_message(self, config: dict[str, Any], name: str, refusal: Refusal) -> str:
        where, snippet = "", ""
        source = config.get("source")
        if refusal.lineno is not None and isinstance(source, str):
            lines = source.splitlines()
            if 0 < refusal.lineno <= len(lines):
                where = f"line {refusal.lineno}: "
                snippet = f"\n    {refusal.lineno} | {lines[refusal.lineno - 1].strip()[:120]}"
        return (
            f"function {name!r} cannot be loaded in safe mode: {where}{refusal.message}."
            f"{snippet}\n{_fix(name, self.source)}"
        )

    def names(self, config: dict[str, Any], field: str, name: str) -> dict[str, Any]:
        table = config.get(field, {})
        if not isinstance(table, dict):
            raise self.fail(f"function {name!r}: {field!r} must be a dict.")
        for alias in table:
            if not isinstance(alias, str) or not alias.isidentifier() or alias.startswith("__"):
                raise self.fail(f"function {name!r}: bad name {str(alias)[:40]!r} in {field!r}.")
        return table

    def defaults(self, config: dict[str, Any], name: str) -> tuple[list[Any], dict[str, Any]]:
        where = f"{self.ctx.where}function {name!r}"
        defaults, kwdefaults = config.get("defaults", []), config.get("kwdefaults", {})
        if not isinstance(defaults, list) or not isinstance(kwdefaults, dict):
            raise self.fail(f"function {name!r}: 'defaults' must be a list, 'kwdefaults' a dict.")
        return (
            [_decode(v, where) for v in defaults],
            {str(k): _decode(v, where) for k, v in kwdefaults.items()},
        )

    def compile(self, config: dict[str, Any], name: str, node: Any) -> SafeFunction:
        refs = self.names(config, "globals", name)
        constants = self.names(config, "constants", name)
        clash = set(refs) & set(constants)
        if clash:
            raise self.fail(f"function {name!r}: {sorted(clash)} in both globals and constants.")
        bindings: dict[str, Binding] = {key: Callee(fn, key) for key, fn in safe_builtins().items()}
        where = f"{self.ctx.where}function {name!r}"
        for alias, value in constants.items():
            bindings[alias] = Value(_decode(value, where))
        for alias, ref in refs.items():
            bindings[alias] = self.safe_ref(alias, ref, name)
        defaults, kwdefaults = self.defaults(config, name)
        return compile_function(
            node,
            bindings=bindings,
            resolve=_resolve_path,
            attributes=allowlist.TENSOR_ATTRIBUTES,
            defaults=defaults,
            kwdefaults=kwdefaults,
            config=copy.deepcopy(config),
        )

    def safe_ref(self, alias: str, ref: Any, name: str) -> Binding:
        if isinstance(ref, dict):
            inner = self.child().load(ref)
            return Callee(inner, function_label(inner))
        if not isinstance(ref, str):
            raise self.fail(f"function {name!r}: global {alias!r} must be a string or a config.")
        if ref.startswith("registered:"):
            obj = registry.get_registered_object(ref[11:], self.ctx.custom_objects)
            if obj is None or not callable(obj):
                raise self.fail(
                    f"function {name!r} calls {alias!r}, saved as the registered object "
                    f"{ref[11:]!r}, which is not registered in this program. Import the module "
                    f"that registers it, or pass custom_objects={{{ref[11:]!r}: function}}."
                )
            return Callee(obj, ref)
        binding = _resolve_path(ref)
        if binding is None:
            return Forbidden(
                f"'{alias}' refers to {ref[:80]!r}, which is not on lamina's allowlist of safe "
                f"modules, functions and constants"
            )
        return binding

    def unsafe_ref(self, alias: str, ref: Any, name: str) -> Any:
        if isinstance(ref, str) and ref.startswith("import:"):
            module, _, qualname = ref[7:].partition(":")
            return self.import_object(module, qualname, name)
        binding = self.safe_ref(alias, ref, name)
        if isinstance(binding, Forbidden):  # a dotted name off the allowlist: import it
            parts = str(ref).split(".")
            for i in range(len(parts), 0, -1):
                module = ".".join(parts[:i])
                try:
                    found = importlib.util.find_spec(module)
                except (ImportError, ValueError):
                    found = None
                if found is not None:
                    return self.import_object(module, ".".join(parts[i:]), name)
            raise self.fail(f"function {name!r}: cannot import {ref!r} for {alias!r}.")
        if isinstance(binding, Module):
            entry = allowlist.lookup(binding.path)
            return entry.obj if entry is not None else None
        return binding.obj

    def exec_source(self, config: dict[str, Any], name: str, node: Any) -> Callable[..., Any]:
        """Runs trusted source with ``exec`` (only reached with ``safe_mode=False``)."""
        namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": "lamina_loaded"}
        where = f"{self.ctx.where}function {name!r}"
        for alias, value in self.names(config, "constants", name).items():
            namespace[alias] = _decode(value, where)
        for alias, ref in self.names(config, "globals", name).items():
            try:
                namespace[alias] = self.unsafe_ref(alias, ref, name)
            except Refusal as refusal:
                raise self.fail(f"function {name!r}: {refusal.message}.") from None
        defaults, kwdefaults = self.defaults(config, name)
        # The saved default values replace the source's default expressions, which may name
        # things that were not saved.
        node.args.defaults = [ast.Constant(None) for _ in node.args.defaults]
        node.args.kw_defaults = [
            ast.Constant(None) if d is not None else None for d in node.args.kw_defaults
        ]
        filename = f"<lamina {self.source or 'config'}: {name}>"
        if isinstance(node, ast.Lambda):
            target = ast.Name("__lamina_function__", ast.Store())
            module = ast.Module([ast.Assign([target], node)], type_ignores=[])
        else:
            module = ast.Module([node], type_ignores=[])
        ast.fix_missing_locations(module)
        exec(compile(module, filename, "exec"), namespace)  # only reached with safe_mode=False
        fn = namespace["__lamina_function__" if isinstance(node, ast.Lambda) else name]
        fn.__defaults__ = tuple(defaults) or None
        fn.__kwdefaults__ = kwdefaults or None
        fn.__lamina_config__ = copy.deepcopy(config)
        source = str(config.get("source"))
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        return fn  # type: ignore[no-any-return]


def _resolve_path(path: str) -> Binding | None:
    entry = allowlist.lookup(path)
    if entry is None:
        return None
    if entry.kind == "module":
        return Module(entry.path)
    if entry.kind == "function":
        return Callee(entry.obj, entry.path)
    return Value(entry.obj)


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
    names resolve through the registry and lamina's allowlist, and source runs on lamina's own
    evaluator only if it passes its checks.

    Args:
        config: The dict ``serialize_function`` returned (e.g. after a JSON round trip).
        safe_mode: Refuse code that is not a safe expression. Pass False only for files you
            trust: module references are then imported and other source is ``exec``-ed.
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
        >>> f = deserialize_function(serialize_function(lambda x, k=3: x * k))
        >>> f(torch.ones(2))
        tensor([3., 3.])
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
    """Says how a saved function would load in safe mode.

    Returns:
        ``"registered"`` (by name: registry, allowlist, lamina.ops), ``"safe expression"``,
        ``"needs trust (module X)"``, ``"needs trust (arbitrary source)"``, or
        ``"invalid (...)"`` for a malformed config.

    Example:
        >>> describe_function({"kind": "module", "version": 1, "name": "f",
        ...                    "module": "pkg.mod", "qualname": "f"})
        'needs trust (module pkg.mod)'
    """
    if not isinstance(config, dict):
        return f"invalid (a config must be a dict, got {type(config).__name__})"
    kind = config.get("kind")
    if kind in ("registered", "named"):
        return "registered"
    if kind == "partial":
        return describe_function(config.get("func"))  # type: ignore[arg-type]
    if kind == "module":
        module, qualname = str(config.get("module")), str(config.get("qualname"))
        if registry.find_registered(module, qualname) is not None:
            return "registered"
        return f"needs trust (module {module})"
    try:
        _Loader(_Context(safe_mode=True)).load(config)
    except UnsafeFunctionError:
        return "needs trust (arbitrary source)"
    except (FunctionDeserializationError, RecursionError) as err:
        return f"invalid ({err})"
    return "safe expression"


def function_label(fn_or_config: Any) -> str:
    """A short name for display: ``'slice'``, ``'<lambda>'``, ``'exp'``.

    Example:
        >>> function_label(lambda x: x)
        '<lambda>'
        >>> function_label({"kind": "named", "name": "exp", "path": "torch.exp"})
        'exp'
    """
    if isinstance(fn_or_config, dict):
        name = fn_or_config.get("name")
        return name if isinstance(name, str) else "?"
    if isinstance(fn_or_config, functools.partial):
        return function_label(fn_or_config.func)
    name = getattr(fn_or_config, "__name__", None)
    return name if isinstance(name, str) else type(fn_or_config).__name__
