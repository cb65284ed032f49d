"""Turning a config back into a callable, safely by default.

``_Loader`` checks a config's version and kind and loads it: by registered key or by a name in
``op_table``, as a partial, as an op graph (``function_graph``), by import (trusted modules or
``safe_mode=False`` only), or, with ``safe_mode=False`` only, by running its source with
``exec``. Safe mode never parses, compiles or runs saved source.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import importlib
import importlib.util
import linecache
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lamina.saving import op_table, registry
from lamina.saving.function_config import (
    _MAX_NESTING,
    KINDS,
    VERSION,
    FunctionDeserializationError,
    UnsafeFunctionError,
    _decode,
)
from lamina.saving.function_graph import GraphFunction

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
        found = op_table.lookup(path)
        if found is None:
            if not self.ctx.safe_mode:
                return self.check_callable(self.import_path(path, name), name)
            raise self.fail(
                f"function {name!r} refers to {path!r}, which is not in lamina's table of ops. "
                f"{_fix(name, self.source)}",
                unsafe=True,
            )
        return self.check_callable(found, name)

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

    def load_graph(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        try:
            return GraphFunction(config, self.ctx.where)
        except UnsafeFunctionError as err:
            raise self.fail(f"function {name!r}: {err}", unsafe=True) from None
        except FunctionDeserializationError as err:
            if str(err).startswith(self.ctx.where):
                raise
            # A value decoder's error names the value, not the function or the file.
            raise self.fail(f"function {name!r}: {err}") from None
        except RecursionError:
            raise
        except Exception as err:  # a hostile graph may make an op fail in odd ways
            raise self.fail(f"function {name!r}: malformed op graph: {err}") from None

    def load_source(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        found = registry.find_registered(str(config.get("module")), str(config.get("qualname")))
        if found is not None:
            return self.check_callable(found, name)
        if not self.ctx.safe_mode:
            return self.exec_source(config, name)
        if config.get("kind") == "expression":
            why = (
                f"function {name!r} was saved by an older lamina (function format 1) as source "
                f"for the safe evaluator, which lamina no longer has: safe mode loads only op "
                f"graphs. If you trust the file, load it with safe_mode=False and save it "
                f"again; the new file loads in safe mode."
            )
        else:
            reason = str(config.get("reason") or "")[:300]
            why = (
                f"function {name!r} was saved as source, not as an op graph"
                f"{f' ({reason})' if reason else ''}, and safe mode never runs saved source."
            )
        raise self.fail(f"{why}\n{_fix(name, self.source)}", unsafe=True)

    load_expression = load_source

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

    def import_path(self, path: str, name: str) -> Any:
        """A dotted name, imported (trusted loads only)."""
        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            module = ".".join(parts[:i])
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                found = None
            if found is not None:
                return self.import_object(module, ".".join(parts[i:]), name)
        raise self.fail(f"function {name!r}: cannot import {path!r}.")

    def unsafe_ref(self, alias: str, ref: Any, name: str) -> Any:
        if isinstance(ref, dict):
            return self.child().load(ref)
        if not isinstance(ref, str):
            raise self.fail(f"function {name!r}: global {alias!r} must be a string or a config.")
        if ref.startswith("registered:"):
            obj = registry.get_registered_object(ref[11:], self.ctx.custom_objects)
            if obj is None:
                raise self.fail(
                    f"function {name!r} calls {alias!r}, saved as the registered object "
                    f"{ref[11:]!r}, which is not registered in this program. Import the module "
                    f"that registers it, or pass custom_objects={{{ref[11:]!r}: function}}."
                )
            return obj
        if ref.startswith("import:"):
            module, _, qualname = ref[7:].partition(":")
            return self.import_object(module, qualname, name)
        found = op_table.lookup(ref)
        return found if found is not None else self.import_path(ref, name)

    def exec_source(self, config: dict[str, Any], name: str) -> Callable[..., Any]:
        """Runs trusted source with ``exec`` (only reached with ``safe_mode=False``)."""
        source = config.get("source")
        if not isinstance(source, str):
            raise self.fail(f"function {name!r} has no source to run.")
        try:
            tree = ast.parse(source)
        except SyntaxError as err:
            raise self.fail(f"function {name!r} is malformed: {err}.") from None
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda))]
        if not nodes:
            raise self.fail(f"function {name!r}: its source holds no def or lambda.")
        node: Any = nodes[0]
        namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": "lamina_loaded"}
        where = f"{self.ctx.where}function {name!r}"
        for alias, value in self.names(config, "constants", name).items():
            namespace[alias] = _decode(value, where)
        for alias, ref in self.names(config, "globals", name).items():
            namespace[alias] = self.unsafe_ref(alias, ref, name)
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
