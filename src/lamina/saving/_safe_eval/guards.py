"""Runtime bounds of safely loaded code: guarded operators and builtins, and the loop budget.

Integer ``**``, ``<<`` and ``*``, sequence repetition and concatenation, ``range``, ``round``
and ``sum`` refuse results past ``MAX_INT_BITS`` or ``MAX_SEQUENCE_LENGTH``; every loop of one
call shares ``MAX_LOOP_ITERATIONS`` through a thread-local budget. The tables map AST operator
types to these guarded functions for the compiler, which also folds constants with them.
"""

from __future__ import annotations

import ast
import operator
import threading
from collections.abc import Callable, Iterable
from typing import Any

from lamina.saving._safe_eval.policy import UnsafeFunctionError

MAX_LOOP_ITERATIONS = 1_000_000
MAX_INT_BITS = 65_536
MAX_SEQUENCE_LENGTH = 10_000_000

# --------------------------------------------------------------------------- guards


class _LoopBudget(threading.local):
    def __init__(self) -> None:
        self.left = MAX_LOOP_ITERATIONS
        self.depth = 0


_BUDGET = _LoopBudget()


def _limit(message: str) -> UnsafeFunctionError:
    return UnsafeFunctionError(f"safely loaded function stopped: {message}.")


def _out_of_loop_budget() -> UnsafeFunctionError:
    return _limit(
        f"its loops ran more than {MAX_LOOP_ITERATIONS:,} iterations in one call, the bound "
        "lamina puts on saved code; use tensor operations instead of Python loops"
    )


def _pow(a: Any, b: Any) -> Any:
    ints = type(a) is int and type(b) is int
    if ints and b > 0 and a not in (0, 1, -1) and a.bit_length() * b > MAX_INT_BITS:
        raise _limit(f"{a} ** {b} would be an integer of more than {MAX_INT_BITS} bits")
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int and a and b > MAX_INT_BITS:
        raise _limit(f"{a} << {b} would be an integer of more than {MAX_INT_BITS} bits")
    return a << b


_SEQUENCES = (str, bytes, list, tuple)
_GUARDED = frozenset((int, str, bytes, list, tuple))


def _check_mul(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise _limit(f"a product would be an integer of more than {MAX_INT_BITS} bits")
    elif isinstance(a, _SEQUENCES) and isinstance(b, int):
        if len(a) * b > MAX_SEQUENCE_LENGTH:
            raise _limit(f"repeating a sequence {b} times exceeds {MAX_SEQUENCE_LENGTH} items")
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_mul(b, a)


def _mul(a: Any, b: Any) -> Any:
    if type(a) in _GUARDED or type(b) in _GUARDED:
        _check_mul(a, b)
    return a * b


def _imul(a: Any, b: Any) -> Any:
    if type(a) in _GUARDED or type(b) in _GUARDED:
        _check_mul(a, b)
    a *= b
    return a


_CONCATENABLE = frozenset((str, bytes, list, tuple))


def _too_long(result: Any) -> Any:
    # Checked after the fact: one step at most doubles a bounded sequence, but x = x + x in a
    # loop would exhaust memory after 40 iterations.
    if len(result) > MAX_SEQUENCE_LENGTH:
        raise _limit(f"a sequence grew past {MAX_SEQUENCE_LENGTH} items")
    return result


def _add(a: Any, b: Any) -> Any:
    result = a + b
    return _too_long(result) if type(result) in _CONCATENABLE else result


def _iadd(a: Any, b: Any) -> Any:
    a += b
    return _too_long(a) if type(a) in _CONCATENABLE else a


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        raise _limit("'%' formatting of strings is not allowed")
    return a % b


def _range(*args: Any) -> range:
    result = range(*args)
    if len(result) > MAX_SEQUENCE_LENGTH:
        raise _limit(f"range of {len(result)} items exceeds {MAX_SEQUENCE_LENGTH}")
    return result


def _round(number: Any, ndigits: Any = None) -> Any:
    # round(5, -10**9) computes 10**(10**9).
    if type(ndigits) is int and abs(ndigits) > 400:
        raise _limit(f"round(..., {ndigits}) asks for too many digits")
    return round(number) if ndigits is None else round(number, ndigits)


def _sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    # sum(lists, []) is quadratic; tensors and numbers are what sum is for here.
    if isinstance(start, (list, tuple, bytes, bytearray)):
        raise _limit("sum() of sequences is not allowed; use a comprehension or torch.cat")
    return sum(iterable, start)


def safe_builtins() -> dict[str, Callable[..., Any]]:
    """The builtins a safe function may call, with ``range``, ``round`` and ``sum`` bounded."""
    import builtins

    from lamina.saving.allowlist import SAFE_BUILTIN_NAMES

    table = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES}
    table.update(range=_range, round=_round, sum=_sum)
    return table


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.MatMult: operator.matmul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
    ast.LShift: _lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
}
_AUGOPS: dict[type, Callable[[Any, Any], Any]] = {
    **_BINOPS,
    ast.Add: _iadd,
    ast.Sub: operator.isub,
    ast.Mult: _imul,
    ast.MatMult: operator.imatmul,
    ast.Div: operator.itruediv,
    ast.FloorDiv: operator.ifloordiv,
    ast.BitOr: operator.ior,
    ast.BitXor: operator.ixor,
    ast.BitAnd: operator.iand,
}
_UNARYOPS: dict[type, Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Invert: operator.invert,
    ast.Not: operator.not_,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
