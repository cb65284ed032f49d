"""The compiler's expression half: turns each expression node into a closure over a frame.

A compiled function runs on a frame, a list with the return value in slot 0 and parameters and
locals after it; each node becomes a small closure ``f(frame)`` over pre-resolved objects.
Names, constants, operators (with constant folding), attributes and subscripts are here;
literals and calls are in ``calls`` and what binds names (targets, comprehensions, statements)
in ``statements``, each extending the one before.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from lamina.saving._safe_eval.guards import (
    _BINOPS,
    _CMPOPS,
    _CONCATENABLE,
    _GUARDED,
    _UNARYOPS,
    _add,
    _check_mul,
    _mod,
    _mul,
    _too_long,
)
from lamina.saving._safe_eval.policy import (
    _REFUSED_EXPRESSIONS,
    Binding,
    Callee,
    Forbidden,
    Module,
    Refusal,
    Resolver,
    UnsafeFunctionError,
    Value,
    _check_attribute,
    _check_name,
)

Fn = Callable[[list[Any]], Any]
_NO = object()  # "not a constant"
_UNBOUND = object()
_RETURN = object()
_BREAK = object()
_CONTINUE = object()
_RET = 0  # frame slot of the return value; parameters and locals follow


def _binop(op: Callable[[Any, Any], Any], left: Fn, right: Fn, consts: dict[Fn, Any]) -> Fn:
    """One closure per operator node: ``+`` and ``*`` inline their guard, and the common
    operators run inline instead of through ``operator`` (this is the training hot path)."""
    if op is _add:

        def add(f: list[Any]) -> Any:
            result = left(f) + right(f)
            return _too_long(result) if type(result) in _CONCATENABLE else result

        return add
    if op is _mul:

        def mul(f: list[Any]) -> Any:
            a, b = left(f), right(f)
            if type(a) in _GUARDED or type(b) in _GUARDED:
                _check_mul(a, b)
            return a * b

        return mul
    if right in consts:
        c = consts[right]
        if op is operator.sub:
            return lambda f: left(f) - c
        if op is operator.truediv:
            return lambda f: left(f) / c
        return lambda f: op(left(f), c)
    if op is operator.sub:
        return lambda f: left(f) - right(f)
    if op is operator.truediv:
        return lambda f: left(f) / right(f)
    if op is operator.matmul:
        return lambda f: left(f) @ right(f)
    return lambda f: op(left(f), right(f))


def _const_fn(value: Any) -> Fn:
    return lambda f: value


# --------------------------------------------------------------------------- compiler


class _Scope:
    def __init__(self, slots: dict[str, int], params: frozenset[str]) -> None:
        self.slots = slots
        self.params = params


class _ExpressionCompiler:
    """Compiles expressions that read names; ``calls._CallCompiler`` adds literals and calls,
    and ``statements._Compiler`` everything that binds names (assignment targets,
    comprehensions, statements)."""

    def __init__(
        self, bindings: Mapping[str, Binding], resolve: Resolver, attributes: frozenset[str]
    ) -> None:
        self.bindings = bindings
        self.resolve = resolve
        self.attributes = attributes
        self.scopes: list[_Scope] = []
        self.n_slots = 1
        self.consts: dict[Fn, Any] = {}
        self.has_loops = False
        self.loop_depth = 0
        self.bound: set[str] = set()  # function locals surely assigned at this point

    # ----------------------------------------------------------------- names

    def new_slot(self) -> int:
        self.n_slots += 1
        return self.n_slots - 1

    def const(self, value: Any) -> Fn:
        fn = _const_fn(value)
        self.consts[fn] = value
        return fn

    def lookup_local(self, name: str) -> tuple[int, bool]:
        """Returns (slot, surely bound here) of a local name, or (-1, False)."""
        for scope in reversed(self.scopes):
            if name in scope.slots:
                surely = name in scope.params or (scope is self.scopes[0] and name in self.bound)
                return scope.slots[name], surely
        return -1, False

    def binding(self, node: ast.Name) -> Binding:
        binding = self.bindings.get(node.id)
        if binding is None:
            raise Refusal(
                node,
                f"name '{node.id}' is not a parameter, a local variable, a saved global or an "
                f"allowed builtin",
            )
        if isinstance(binding, Forbidden):
            raise Refusal(node, binding.reason)
        return binding

    # ----------------------------------------------------------------- expressions

    def expr(self, node: ast.expr) -> Fn:
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            reason = _REFUSED_EXPRESSIONS.get(type(node), f"{type(node).__name__} is not allowed")
            raise Refusal(node, reason)
        fn: Fn = method(node)
        return fn

    def expr_Constant(self, node: ast.Constant) -> Fn:
        return self.const(node.value)

    def expr_Name(self, node: ast.Name) -> Fn:
        _check_name(node, node.id)
        slot, always_bound = self.lookup_local(node.id)
        if slot >= 0:
            if always_bound:
                return operator.itemgetter(slot)
            name = node.id

            def load(f: list[Any]) -> Any:
                value = f[slot]
                if value is _UNBOUND:
                    raise UnboundLocalError(f"local variable '{name}' referenced before assignment")
                return value

            return load
        binding = self.binding(node)
        if isinstance(binding, Value):
            return self.const(binding.obj)
        if isinstance(binding, Callee):
            raise Refusal(
                node, f"'{node.id}' ({binding.label}) may only be called, not used as a value"
            )
        assert isinstance(binding, Module)
        raise Refusal(node, f"module '{node.id}' ({binding.path}) may only be used as 'mod.name'")

    def static_path(self, node: ast.expr) -> tuple[Binding, str, ast.AST] | None:
        """Resolves ``alias.a.b`` where ``alias`` is bound to a module, else returns None."""
        chain: list[ast.Attribute] = []
        while isinstance(node, ast.Attribute):
            chain.append(node)
            node = node.value
        if not isinstance(node, ast.Name) or self.lookup_local(node.id)[0] >= 0:
            return None
        binding = self.bindings.get(node.id)
        if isinstance(binding, Forbidden):
            raise Refusal(node, binding.reason)
        if not isinstance(binding, Module):
            return None
        path = binding.path
        for attr in reversed(chain):
            _check_attribute(attr)
            if not isinstance(binding, Module):
                return None
            path = f"{path}.{attr.attr}"
            found = self.resolve(path)
            if found is None:
                raise Refusal(attr, f"{path} is not on lamina's allowlist of safe functions")
            binding = found
            if not isinstance(found, Module) and attr is not chain[0]:
                return None  # e.g. torch.float32.is_floating_point: a value's attribute
        return binding, path, chain[0] if chain else node

    def expr_Attribute(self, node: ast.Attribute) -> Fn:
        static = self.static_path(node)
        if static is not None:
            binding, path, _ = static
            if isinstance(binding, Value):
                return self.const(binding.obj)
            if isinstance(binding, Callee):
                raise Refusal(node, f"{path} may only be called, not used as a value")
            raise Refusal(node, f"module {path} may only be used as '{path}.name'")
        value = self.expr(node.value)  # first, so that refusals come in evaluation order
        _check_attribute(node)
        if node.attr not in self.attributes:
            raise Refusal(
                node,
                f"attribute '.{node.attr}' is not on lamina's allowlist of safe tensor "
                f"attributes and methods",
            )
        getter = operator.attrgetter(node.attr)
        return lambda f: getter(value(f))

    def expr_Subscript(self, node: ast.Subscript) -> Fn:
        value = self.expr(node.value)
        index = self.index(node.slice)
        if index in self.consts:
            key = self.consts[index]
            return lambda f: value(f)[key]
        return lambda f: value(f)[index(f)]

    def index(self, node: ast.expr) -> Fn:
        if isinstance(node, ast.Slice):
            parts = [
                self.expr(p) if p is not None else self.const(None)
                for p in (node.lower, node.upper, node.step)
            ]
            if all(p in self.consts for p in parts):
                return self.const(slice(*(self.consts[p] for p in parts)))
            lower, upper, step = parts
            return lambda f: slice(lower(f), upper(f), step(f))
        if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts):
            items = [self.index(e) for e in node.elts]
            dynamic = [k for k, i in enumerate(items) if i not in self.consts]
            if not dynamic:
                return self.const(tuple(self.consts[i] for i in items))
            if len(dynamic) == 1:  # x[:, :, index]: one tuple concatenation per call
                k = dynamic[0]
                head = tuple(self.consts[i] for i in items[:k])
                tail = tuple(self.consts[i] for i in items[k + 1 :])
                item = items[k]
                if not tail:
                    return lambda f: (*head, item(f))
                return lambda f: (*head, item(f), *tail)
            return lambda f: tuple([i(f) for i in items])
        return self.expr(node)

    def expr_Slice(self, node: ast.Slice) -> Fn:
        return self.index(node)

    def expr_BinOp(self, node: ast.BinOp) -> Fn:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise Refusal(node, f"operator {type(node.op).__name__} is not allowed")
        if (
            op is _mod
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, (str, bytes))
        ):
            raise Refusal(node, "'%' formatting of strings is not allowed")
        left, right = self.expr(node.left), self.expr(node.right)
        if left in self.consts and right in self.consts:
            folded = self.fold(node, op, self.consts[left], self.consts[right])
            if folded is not _NO:
                return self.const(folded)
        return _binop(op, left, right, self.consts)

    def fold(self, node: ast.AST, op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
        """Computes an operation on two literals now, with the runtime guards."""
        if not (isinstance(a, (int, float, str, bytes)) and isinstance(b, (int, float))):
            return _NO
        try:
            return op(a, b)
        except UnsafeFunctionError as err:
            raise Refusal(node, str(err).removeprefix("safely loaded function stopped: ")) from None
        except (ArithmeticError, TypeError, ValueError):
            return _NO  # let it fail when called, like Python would

    def expr_UnaryOp(self, node: ast.UnaryOp) -> Fn:
        op = _UNARYOPS[type(node.op)]
        operand = self.expr(node.operand)
        if operand in self.consts and isinstance(self.consts[operand], (int, float)):
            try:
                return self.const(op(self.consts[operand]))
            except TypeError:  # ~1.5: let it fail when called, like Python would
                pass
        return lambda f: op(operand(f))

    def expr_BoolOp(self, node: ast.BoolOp) -> Fn:
        values = [self.expr(v) for v in node.values]
        if isinstance(node.op, ast.And):

            def run_and(f: list[Any]) -> Any:
                result = None
                for value in values:
                    result = value(f)
                    if not result:
                        return result
                return result

            return run_and

        def run_or(f: list[Any]) -> Any:
            result = None
            for value in values:
                result = value(f)
                if result:
                    return result
            return result

        return run_or

    def expr_Compare(self, node: ast.Compare) -> Fn:
        left = self.expr(node.left)
        ops = [_CMPOPS[type(op)] for op in node.ops]
        rights = [self.expr(c) for c in node.comparators]
        if len(ops) == 1:
            op, right = ops[0], rights[0]
            return lambda f: op(left(f), right(f))
        pairs = list(zip(ops, rights))

        def chain(f: list[Any]) -> Any:
            a = left(f)
            result: Any = True
            for op, right in pairs:
                b = right(f)
                result = op(a, b)
                if not result:
                    return result
                a = b
            return result

        return chain

    def expr_IfExp(self, node: ast.IfExp) -> Fn:
        test, body, orelse = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
        return lambda f: body(f) if test(f) else orelse(f)
