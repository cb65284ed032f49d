"""The compiler's literals and calls: tuples, lists, sets, dicts, starred items, and calls.

A call is compiled only when its target is known at load time: a name or dotted path bound to a
function lamina allows, or a method on lamina's allowlist of tensor methods. ``_CallCompiler``
extends the expression compiler of ``expressions``; ``statements`` extends it in turn.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from lamina.saving._safe_eval.expressions import Fn, _ExpressionCompiler
from lamina.saving._safe_eval.policy import Callee, Refusal, _check_attribute, _check_name


class _CallCompiler(_ExpressionCompiler):
    """Adds literals and calls to the expression compiler."""

    def items(self, elts: list[ast.expr]) -> Callable[[list[Any]], list[Any]]:
        parts: list[tuple[bool, Fn]] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                parts.append((True, self.expr(elt.value)))
            else:
                parts.append((False, self.expr(elt)))
        if not any(star for star, _ in parts):
            fns = [fn for _, fn in parts]
            return lambda f: [fn(f) for fn in fns]

        def build(f: list[Any]) -> list[Any]:
            out: list[Any] = []
            for star, fn in parts:
                if star:
                    out.extend(fn(f))
                else:
                    out.append(fn(f))
            return out

        return build

    def expr_Tuple(self, node: ast.Tuple) -> Fn:
        build = self.items(node.elts)
        return lambda f: tuple(build(f))

    def expr_List(self, node: ast.List) -> Fn:
        return self.items(node.elts)

    def expr_Set(self, node: ast.Set) -> Fn:
        build = self.items(node.elts)
        return lambda f: set(build(f))

    def expr_Dict(self, node: ast.Dict) -> Fn:
        pairs = [
            (self.expr(k) if k is not None else None, self.expr(v))
            for k, v in zip(node.keys, node.values)
        ]

        def build(f: list[Any]) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for key, value in pairs:
                if key is None:
                    out.update(value(f))
                else:
                    out[key(f)] = value(f)
            return out

        return build

    def expr_Starred(self, node: ast.Starred) -> Fn:
        raise Refusal(node, "'*' unpacking is only allowed in calls, literals and assignments")

    def expr_Call(self, node: ast.Call) -> Fn:
        target = self.call_target(node.func)
        simple = not any(isinstance(a, ast.Starred) for a in node.args)
        arg_fns = [self.expr(a) for a in node.args] if simple else []
        args = self.items(node.args) if not simple else lambda f: [a(f) for a in arg_fns]
        kwargs: list[tuple[str | None, Fn]] = []
        for keyword in node.keywords:
            if keyword.arg is not None:
                _check_name(keyword, keyword.arg)
            kwargs.append((keyword.arg, self.expr(keyword.value)))
        if isinstance(target, tuple):  # a method: (object, name)
            obj, getter = target
            if not kwargs and simple and len(arg_fns) <= 2:
                if not arg_fns:
                    return lambda f: getter(obj(f))()
                if len(arg_fns) == 1:
                    a0 = arg_fns[0]
                    return lambda f: getter(obj(f))(a0(f))
                a0, a1 = arg_fns
                return lambda f: getter(obj(f))(a0(f), a1(f))
            call_kwargs = self.keywords(kwargs)
            return lambda f: getter(obj(f))(*args(f), **call_kwargs(f))
        fn = target
        if not kwargs and simple and len(arg_fns) <= 3:
            if not arg_fns:
                return lambda f: fn()
            if len(arg_fns) == 1:
                a0 = arg_fns[0]
                return lambda f: fn(a0(f))
            if len(arg_fns) == 2:
                a0, a1 = arg_fns
                return lambda f: fn(a0(f), a1(f))
            a0, a1, a2 = arg_fns
            return lambda f: fn(a0(f), a1(f), a2(f))
        call_kwargs = self.keywords(kwargs)
        return lambda f: fn(*args(f), **call_kwargs(f))

    def keywords(
        self, kwargs: list[tuple[str | None, Fn]]
    ) -> Callable[[list[Any]], dict[str, Any]]:
        def build(f: list[Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, value in kwargs:
                if name is None:
                    out.update(value(f))
                else:
                    out[name] = value(f)
            return out

        return build

    def call_target(self, func: ast.expr) -> Any:
        """Returns the callable to call, or ``(object_fn, method_getter)`` for a method call."""
        if isinstance(func, ast.Name):
            _check_name(func, func.id)
            if self.lookup_local(func.id)[0] >= 0:
                raise Refusal(func, f"calling the local variable '{func.id}' is not allowed")
            binding = self.binding(func)
            if isinstance(binding, Callee):
                return binding.obj
            raise Refusal(func, f"'{func.id}' is not a function lamina allows calling")
        if isinstance(func, ast.Attribute):
            static = self.static_path(func)
            if static is not None:
                binding, path, _ = static
                if isinstance(binding, Callee):
                    return binding.obj
                raise Refusal(func, f"{path} is not a function lamina allows calling")
            receiver = self.expr(func.value)
            _check_attribute(func)
            if func.attr not in self.attributes:
                raise Refusal(
                    func,
                    f"method '.{func.attr}()' is not on lamina's allowlist of safe tensor methods",
                )
            return receiver, operator.attrgetter(func.attr)
        self.expr(func)  # refuse what is inside first, e.g. getattr(...)(...)
        raise Refusal(func, "only named functions and methods may be called")
