"""``compile_function`` and the ``SafeFunction`` it returns: the evaluator's entry point.

``compile_function`` checks a parsed ``def`` or ``lambda`` (parameters, inert defaults, the
whole body through the compiler) and wraps the result in a ``SafeFunction``, which binds call
arguments into a frame, runs the compiled body and keeps the config it came from for saving.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from lamina.saving._safe_eval.expressions import _RET, _RETURN, _UNBOUND, Fn, _Scope
from lamina.saving._safe_eval.guards import _BUDGET, MAX_LOOP_ITERATIONS
from lamina.saving._safe_eval.policy import (
    Binding,
    Refusal,
    Resolver,
    _assigned_names,
    _check_inert,
    _check_name,
    _inert_parts,
)
from lamina.saving._safe_eval.statements import _Compiler

# --------------------------------------------------------------------------- the function


class SafeFunction:
    """A function loaded from saved source and run by lamina's evaluator.

    It behaves like the original: call it with the same arguments, ``inspect.signature`` sees
    the same parameters, and ``__name__`` is the original's. ``__lamina_config__`` is the config
    it came from, so saving it again writes the same config.
    """

    def __init__(
        self,
        *,
        name: str,
        qualname: str,
        signature: inspect.Signature,
        binder: Callable[[tuple[Any, ...], dict[str, Any]], list[Any]],
        body: Fn,
        is_lambda: bool,
        has_loops: bool,
        config: dict[str, Any],
    ) -> None:
        self.__name__ = name
        self.__qualname__ = qualname
        self.__signature__ = signature
        self.__lamina_config__ = config
        self.__doc__ = None
        self._bind = binder
        self._body = body
        self._is_lambda = is_lambda
        self._has_loops = has_loops

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        frame = self._bind(args, kwargs)
        if not self._has_loops:
            if self._is_lambda:
                return self._body(frame)
            return frame[_RET] if self._body(frame) is _RETURN else None
        budget = _BUDGET
        if budget.depth == 0:
            budget.left = MAX_LOOP_ITERATIONS
        budget.depth += 1
        try:
            if self._is_lambda:
                return self._body(frame)
            return frame[_RET] if self._body(frame) is _RETURN else None
        finally:
            budget.depth -= 1

    def __repr__(self) -> str:
        return f"<safely loaded function {self.__qualname__}{self.__signature__}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling (torch.save of a whole model, multiprocessing) stores the config, not code.
        from lamina.saving.functions import deserialize_function

        return deserialize_function, (self.__lamina_config__,)

    def __copy__(self) -> SafeFunction:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SafeFunction:
        return self


def _make_binder(
    name: str,
    args: ast.arguments,
    slots: dict[str, int],
    defaults: list[Any],
    kwdefaults: dict[str, Any],
    n_slots: int,
) -> tuple[Callable[[tuple[Any, ...], dict[str, Any]], list[Any]], inspect.Signature]:
    P = inspect.Parameter
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    n_pos = len(positional)
    n_posonly = len(args.posonlyargs)
    pos_slots = [slots[p] for p in positional]
    kwonly = [a.arg for a in args.kwonlyargs]
    default_for: dict[str, Any] = dict(zip(positional[n_pos - len(defaults) :], defaults))
    default_for.update(kwdefaults)
    kw_slots = {p: slots[p] for p in positional[n_posonly:] + kwonly}
    vararg = slots[args.vararg.arg] if args.vararg else -1
    varkw = slots[args.kwarg.arg] if args.kwarg else -1
    required = [(p, slots[p]) for p in positional + kwonly if p not in default_for]
    fill = [(slots[p], v) for p, v in default_for.items()]
    template = [None] + [_UNBOUND] * (n_slots - 1)
    simple = vararg < 0 and varkw < 0 and not kwonly and not args.posonlyargs

    def bind(call_args: tuple[Any, ...], call_kwargs: dict[str, Any]) -> list[Any]:
        n = len(call_args)
        if simple and n <= n_pos:
            # The hot path: slots of positional parameters are 1..n_pos, in order.
            frame = template.copy()
            frame[1 : 1 + n] = call_args
            for key, value in call_kwargs.items():
                slot = kw_slots.get(key, 0)
                if slot <= n:  # unknown, or given twice: let the full binder say which
                    return bind_all(call_args, call_kwargs)
                frame[slot] = value
            if n + len(call_kwargs) == n_pos:
                return frame
            for slot, value in fill:
                if frame[slot] is _UNBOUND:
                    frame[slot] = value
            for param, slot in required:
                if frame[slot] is _UNBOUND:
                    raise TypeError(f"{name}() missing required argument '{param}'")
            return frame
        return bind_all(call_args, call_kwargs)

    def bind_all(call_args: tuple[Any, ...], call_kwargs: dict[str, Any]) -> list[Any]:
        frame = template.copy()
        n = len(call_args)
        if n > n_pos:
            if vararg < 0:
                raise TypeError(f"{name}() takes {n_pos} positional arguments but {n} were given")
            frame[vararg] = tuple(call_args[n_pos:])
            n = n_pos
        elif vararg >= 0:
            frame[vararg] = ()
        for slot, value in zip(pos_slots, call_args[:n]):
            frame[slot] = value
        extra: dict[str, Any] = {}
        for key, value in call_kwargs.items():
            kw_slot = kw_slots.get(key)
            if kw_slot is None:
                if varkw < 0:
                    raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
                extra[key] = value
            elif frame[kw_slot] is not _UNBOUND:
                raise TypeError(f"{name}() got multiple values for argument '{key}'")
            else:
                frame[kw_slot] = value
        if varkw >= 0:
            frame[varkw] = extra
        for slot, value in fill:
            if frame[slot] is _UNBOUND:
                frame[slot] = value
        for param, slot in required:
            if frame[slot] is _UNBOUND:
                raise TypeError(f"{name}() missing required argument '{param}'")
        return frame

    params: list[inspect.Parameter] = []
    for i, p in enumerate(positional):
        kind = P.POSITIONAL_ONLY if i < n_posonly else P.POSITIONAL_OR_KEYWORD
        params.append(P(p, kind, default=default_for.get(p, P.empty)))
    if args.vararg:
        params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    for p in kwonly:
        params.append(P(p, P.KEYWORD_ONLY, default=default_for.get(p, P.empty)))
    if args.kwarg:
        params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    return bind, inspect.Signature(params)


def compile_function(
    node: ast.Lambda | ast.FunctionDef,
    *,
    bindings: Mapping[str, Binding],
    resolve: Resolver,
    attributes: frozenset[str],
    defaults: list[Any],
    kwdefaults: dict[str, Any],
    config: dict[str, Any],
) -> SafeFunction:
    """Checks a parsed function against the policy and builds a callable that runs it.

    Args:
        node: The ``lambda`` or ``def`` from ``parse_function_source``.
        bindings: What free names mean: constants, callables and modules.
        resolve: Looks up an allowlisted dotted name such as ``"torch.exp"``.
        attributes: Attribute and method names that may be used on values.
        defaults: Values of the positional parameters' defaults (never the source's
            expressions, which are not evaluated).
        kwdefaults: Values of the keyword-only parameters' defaults.
        config: The config, kept on the result for saving again.

    Raises:
        Refusal: If the function uses anything the policy does not allow.
    """
    args = node.args
    all_params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    all_params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    for name in all_params:
        _check_name(node, name)
    if len(set(all_params)) != len(all_params):
        raise Refusal(node, "a parameter name is repeated")
    for inert in _inert_parts(node):
        _check_inert(inert)
    n_defaults = len(args.defaults)
    if len(defaults) != n_defaults:
        raise Refusal(
            node, f"the source has {n_defaults} default values, the config {len(defaults)}"
        )
    with_kwdefault = {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None}
    if set(kwdefaults) != with_kwdefault:
        raise Refusal(
            node,
            f"the source has keyword defaults for {sorted(with_kwdefault)}, the config for "
            f"{sorted(kwdefaults)}",
        )
    compiler = _Compiler(bindings, resolve, attributes)
    slots: dict[str, int] = {}
    for name in all_params:
        slots[name] = compiler.new_slot()
    is_lambda = isinstance(node, ast.Lambda)
    if not is_lambda:
        assert isinstance(node, ast.FunctionDef)
        for name in _assigned_names(node.body):
            if name not in slots:
                slots[name] = compiler.new_slot()
    compiler.scopes.append(_Scope(slots, frozenset(all_params)))
    try:
        if isinstance(node, ast.Lambda):
            body = compiler.expr(node.body)
        else:
            body = compiler.block(node.body)
    except RecursionError:
        raise Refusal(node, "the function is nested too deeply") from None
    try:
        binder, signature = _make_binder(
            getattr(node, "name", "<lambda>"), args, slots, defaults, kwdefaults, compiler.n_slots
        )
    except (ValueError, TypeError) as err:  # what inspect.Signature rejects
        raise Refusal(node, f"bad parameters: {err}") from None
    name = getattr(node, "name", "<lambda>")
    qualname = config.get("qualname") if isinstance(config.get("qualname"), str) else name
    return SafeFunction(
        name=name,
        qualname=str(qualname),
        signature=signature,
        binder=binder,
        body=body,
        is_lambda=is_lambda,
        has_loops=compiler.has_loops,
        config=config,
    )
