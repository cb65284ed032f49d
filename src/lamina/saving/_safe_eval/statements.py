"""The compiler's binding half: assignment targets, comprehensions and statements.

Everything that stores into frame slots or loops lives here: comprehensions (with their own
scope) and ``for`` loops both draw on the shared loop budget, and the statements track which
locals are surely bound. ``_Compiler`` extends the compiler of ``calls`` (literals and calls),
which extends that of ``expressions``.
"""

from __future__ import annotations

import ast
import itertools
import operator
from collections.abc import Callable
from typing import Any

from lamina.saving._safe_eval.calls import _CallCompiler
from lamina.saving._safe_eval.expressions import (
    _BREAK,
    _CONTINUE,
    _RET,
    _RETURN,
    Fn,
    _Scope,
)
from lamina.saving._safe_eval.guards import _AUGOPS, _BUDGET, _out_of_loop_budget
from lamina.saving._safe_eval.policy import _REFUSED_STATEMENTS, Refusal, _check_name, _target_names


class _Compiler(_CallCompiler):
    """The whole compiler: expressions, plus assignment targets, comprehensions and statements."""

    # ----------------------------------------------------------------- comprehensions

    def comprehension(
        self,
        node: ast.AST,
        generators: list[ast.comprehension],
        emit: Callable[[], Callable[[list[Any], Any], None]],
        make: Callable[[], Any],
    ) -> Fn:
        self.has_loops = True
        # The first iterable is evaluated in the enclosing scope, as in Python.
        first_iter = self.expr(generators[0].iter)
        slots: dict[str, int] = {}
        for gen in generators:
            if gen.is_async:
                raise Refusal(gen, "async comprehensions are not allowed")
            for name in _target_names(gen.target):
                if name not in slots:
                    slots[name] = self.new_slot()
        self.scopes.append(_Scope(slots, frozenset()))
        try:
            levels = []
            for i, gen in enumerate(generators):
                it = first_iter if i == 0 else self.expr(gen.iter)
                levels.append((it, self.target(gen.target), [self.expr(c) for c in gen.ifs]))
            sink = emit()
        finally:
            self.scopes.pop()

        def run_level(f: list[Any], acc: Any, k: int) -> None:
            it, assign, conds = levels[k]
            last = k == len(levels) - 1
            budget = _BUDGET
            for item in it(f):
                budget.left -= 1
                if budget.left < 0:
                    raise _out_of_loop_budget()
                assign(f, item)
                if all(c(f) for c in conds):
                    if last:
                        sink(f, acc)
                    else:
                        run_level(f, acc, k + 1)

        def run(f: list[Any]) -> Any:
            acc = make()
            run_level(f, acc, 0)
            return acc

        return run

    def expr_ListComp(self, node: ast.ListComp) -> Fn:
        def emit() -> Callable[[list[Any], Any], None]:
            elt = self.expr(node.elt)
            return lambda f, acc: acc.append(elt(f))

        return self.comprehension(node, node.generators, emit, list)

    def expr_GeneratorExp(self, node: ast.GeneratorExp) -> Fn:
        run = self.expr_ListComp(ast.ListComp(elt=node.elt, generators=node.generators))
        return lambda f: iter(run(f))

    def expr_SetComp(self, node: ast.SetComp) -> Fn:
        def emit() -> Callable[[list[Any], Any], None]:
            elt = self.expr(node.elt)
            return lambda f, acc: acc.add(elt(f))

        return self.comprehension(node, node.generators, emit, set)

    def expr_DictComp(self, node: ast.DictComp) -> Fn:
        def emit() -> Callable[[list[Any], Any], None]:
            key, value = self.expr(node.key), self.expr(node.value)
            return lambda f, acc: acc.__setitem__(key(f), value(f))

        return self.comprehension(node, node.generators, emit, dict)

    # ----------------------------------------------------------------- assignment targets

    def target(self, node: ast.expr) -> Callable[[list[Any], Any], None]:
        if isinstance(node, ast.Name):
            _check_name(node, node.id)
            slot = self.lookup_local(node.id)[0]
            if slot < 0:  # every assigned name got a slot up front
                raise Refusal(node, f"cannot assign to '{node.id}' here")

            def store(f: list[Any], v: Any) -> None:
                f[slot] = v

            return store
        if isinstance(node, (ast.Tuple, ast.List)):
            return self.unpack(node.elts)
        if isinstance(node, ast.Subscript):
            obj, index = self.expr(node.value), self.index(node.slice)
            return lambda f, v: operator.setitem(obj(f), index(f), v)
        if isinstance(node, ast.Attribute):
            raise Refusal(node, "assigning to attributes is not allowed")
        raise Refusal(node, f"cannot assign to {type(node).__name__}")

    def unpack(self, elts: list[ast.expr]) -> Callable[[list[Any], Any], None]:
        stars = [i for i, e in enumerate(elts) if isinstance(e, ast.Starred)]
        if len(stars) > 1:
            raise Refusal(elts[stars[1]], "several '*' targets in one assignment")
        if not stars:
            stores = [self.target(e) for e in elts]
            n = len(stores)

            def store_all(f: list[Any], v: Any) -> None:
                items = list(itertools.islice(iter(v), n + 1))
                if len(items) != n:
                    raise ValueError(
                        f"expected {n} values to unpack, got {len(items)}"
                        + (" or more" if len(items) > n else "")
                    )
                for store, item in zip(stores, items):
                    store(f, item)

            return store_all
        s = stars[0]
        before = [self.target(e) for e in elts[:s]]
        starred = elts[s]
        assert isinstance(starred, ast.Starred)
        middle = self.target(starred.value)
        after = [self.target(e) for e in elts[s + 1 :]]

        def store_star(f: list[Any], v: Any) -> None:
            items = list(v)
            if len(items) < len(before) + len(after):
                raise ValueError(
                    f"expected at least {len(before) + len(after)} values, got {len(items)}"
                )
            for store, item in zip(before, items):
                store(f, item)
            middle(f, items[len(before) : len(items) - len(after)])
            for store, item in zip(after, items[len(items) - len(after) :]):
                store(f, item)

        return store_star

    # ----------------------------------------------------------------- statements

    def block(self, stmts: list[ast.stmt]) -> Fn:
        fns = []
        for stmt in stmts:
            fn = self.stmt(stmt)
            if fn is not None:
                fns.append(fn)
            if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and (
                not isinstance(stmt, ast.AnnAssign) or stmt.value is not None
            ):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    self.bound.update(_target_names(target))
        if not fns:
            return lambda f: None
        if len(fns) == 1:
            return fns[0]

        def run(f: list[Any]) -> Any:
            for fn in fns:
                signal = fn(f)
                if signal is not None:
                    return signal
            return None

        return run

    def stmt(self, node: ast.stmt) -> Fn | None:
        reason = _REFUSED_STATEMENTS.get(type(node))
        if reason is not None:
            raise Refusal(node, reason)
        method = getattr(self, "stmt_" + type(node).__name__, None)
        if method is None:
            raise Refusal(node, f"{type(node).__name__} statements are not allowed")
        fn: Fn | None = method(node)
        return fn

    def stmt_Pass(self, node: ast.Pass) -> None:
        return None

    def stmt_Expr(self, node: ast.Expr) -> Fn | None:
        if isinstance(node.value, ast.Constant):
            return None  # docstring or a bare literal
        value = self.expr(node.value)

        def run(f: list[Any]) -> None:
            value(f)

        return run

    def stmt_Return(self, node: ast.Return) -> Fn:
        value = self.expr(node.value) if node.value is not None else self.const(None)

        def run(f: list[Any]) -> object:
            f[_RET] = value(f)
            return _RETURN

        return run

    def stmt_Assign(self, node: ast.Assign) -> Fn:
        if len(node.targets) == 1:
            parallel = self.parallel_assign(node.targets[0], node.value)
            if parallel is not None:
                return parallel
        value = self.expr(node.value)
        stores = [self.target(t) for t in node.targets]
        if len(stores) == 1:
            store = stores[0]

            def run_one(f: list[Any]) -> None:
                store(f, value(f))

            return run_one

        def run(f: list[Any]) -> None:
            v = value(f)
            for store in stores:
                store(f, v)

        return run

    def parallel_assign(self, target: ast.expr, value: ast.expr) -> Fn | None:
        """``a, b = x[0], x[1]`` without building and unpacking a tuple."""
        if not (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and all(isinstance(e, ast.Name) for e in target.elts)
            and not any(isinstance(e, ast.Starred) for e in value.elts)
        ):
            return None
        values = [self.expr(e) for e in value.elts]
        stores = [self.target(e) for e in target.elts]
        pairs = list(zip(stores, values))

        def run(f: list[Any]) -> None:
            computed = [v(f) for v in values]
            for (store, _), item in zip(pairs, computed):
                store(f, item)

        return run

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> Fn | None:
        # The annotation is never evaluated, as for locals in Python.
        if node.value is None:
            return None
        return self.stmt_Assign(ast.Assign(targets=[node.target], value=node.value))

    def stmt_AugAssign(self, node: ast.AugAssign) -> Fn:
        op = _AUGOPS.get(type(node.op))
        if op is None:
            raise Refusal(node, f"operator {type(node.op).__name__} is not allowed")
        value = self.expr(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            load, store = self.expr_Name(target), self.target(target)

            def run_name(f: list[Any]) -> None:
                store(f, op(load(f), value(f)))

            return run_name
        if isinstance(target, ast.Subscript):
            obj, index = self.expr(target.value), self.index(target.slice)

            def run_item(f: list[Any]) -> None:
                o, i = obj(f), index(f)
                o[i] = op(o[i], value(f))

            return run_item
        raise Refusal(node, f"cannot assign to {type(target).__name__}")

    def stmt_If(self, node: ast.If) -> Fn:
        test = self.expr(node.test)
        before = set(self.bound)
        body = self.block(node.body)
        after_body, self.bound = self.bound, set(before)
        orelse = self.block(node.orelse)
        self.bound = after_body & self.bound  # bound after the if only if bound in both
        return lambda f: body(f) if test(f) else orelse(f)

    def stmt_For(self, node: ast.For) -> Fn:
        self.has_loops = True
        iterable, store = self.expr(node.iter), self.target(node.target)
        before = set(self.bound)
        self.bound.update(_target_names(node.target))
        self.loop_depth += 1
        body = self.block(node.body)
        self.loop_depth -= 1
        self.bound = set(before)  # the body may run zero times
        orelse = self.block(node.orelse)
        self.bound = before

        def run(f: list[Any]) -> Any:
            budget = _BUDGET
            for item in iterable(f):
                budget.left -= 1
                if budget.left < 0:
                    raise _out_of_loop_budget()
                store(f, item)
                signal = body(f)
                if signal is not None:
                    if signal is _BREAK:
                        return None
                    if signal is _CONTINUE:
                        continue
                    return signal
            return orelse(f)

        return run

    def stmt_Break(self, node: ast.Break) -> Fn:
        if not self.loop_depth:
            raise Refusal(node, "'break' outside a loop")
        return lambda f: _BREAK

    def stmt_Continue(self, node: ast.Continue) -> Fn:
        if not self.loop_depth:
            raise Refusal(node, "'continue' outside a loop")
        return lambda f: _CONTINUE
