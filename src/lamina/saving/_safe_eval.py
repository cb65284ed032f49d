"""lamina's evaluator for saved function source: checks the AST, then runs it without ``exec``.

``compile_function`` walks the AST of one ``def`` or ``lambda`` once and turns every node into a
small Python closure over pre-resolved objects; a node the policy does not allow raises
``Refusal`` with its line. Nothing of the source is ever passed to ``eval``, ``exec`` or
``compile``, and nothing runs while checking, so refusing a hostile file has no side effects.

What is allowed (everything else is refused): parameters and local names; constants; tuple,
list, set and dict literals (with ``*``/``**`` unpacking); subscripts and slices; arithmetic,
bitwise, comparison, boolean and unary operators; conditional expressions; list/set/dict
comprehensions and generator expressions (evaluated eagerly); ``if``; ``for`` over anything
(with ``break``/``continue``/``else``); assignments to names, tuples and subscripts (also
augmented); ``return``; ``pass``; docstrings; calls to names the environment binds as callables,
to allowlisted dotted names (``torch.nn.functional.relu``) and to methods in the attribute
allowlist. Refused: ``while``, imports, ``global``/``nonlocal``, nested ``def``/``lambda``/
``class``, ``try``/``with``/``raise``/``assert``/``del``, f-strings, ``%`` formatting of strings,
walrus, ``yield``/``await``, attributes starting with ``_`` or not on the allowlist, decorators.

Time and memory stay bounded: source size, node count and nesting depth are capped before the
walk (so no RecursionError), integer ``**``/``<<``/``*`` refuse results past ``MAX_INT_BITS``,
sequence repetition and ``range`` past ``MAX_SEQUENCE_LENGTH``, and all loops of one call
(including calls into other safely loaded functions) share ``MAX_LOOP_ITERATIONS``. Constant
subexpressions are folded with the same guards at load time, so ``10**10**10`` is refused before
anything runs. Tensor sizes are not bounded: like a layer's units, they are the model's business.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import operator
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_LOOP_ITERATIONS",
    "Forbidden",
    "FunctionDeserializationError",
    "Refusal",
    "SafeFunction",
    "UnsafeFunctionError",
    "compile_function",
    "parse_function_source",
]

MAX_SOURCE_CHARS = 65_536
MAX_NODES = 20_000
MAX_DEPTH = 120
MAX_LOOP_ITERATIONS = 1_000_000
MAX_INT_BITS = 65_536
MAX_SEQUENCE_LENGTH = 10_000_000


class FunctionDeserializationError(ValueError):
    """A saved function config is malformed or refers to something that does not exist."""


class UnsafeFunctionError(FunctionDeserializationError):
    """Safe mode refused a saved function, or a safely loaded function hit a safety limit."""


class Refusal(Exception):
    """Raised while checking: ``node`` uses a construct the safe evaluator does not allow."""

    def __init__(self, node: ast.AST | None, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.lineno: int | None = getattr(node, "lineno", None)


# --------------------------------------------------------------------------- bindings


@dataclass(frozen=True)
class Module:
    """A name bound to an allowlisted module: only the head of a dotted name."""

    path: str


@dataclass(frozen=True)
class Callee:
    """A name bound to something that may be called (not used as a value)."""

    obj: Callable[..., Any]
    label: str


@dataclass(frozen=True)
class Value:
    """A name bound to a constant value."""

    obj: Any


@dataclass(frozen=True)
class Forbidden:
    """A name bound to something safe mode refuses: refused where (and if) it is used, so that
    errors come in source order with their line."""

    reason: str


Binding = Module | Callee | Value | Forbidden
Resolver = Callable[[str], "Binding | None"]

# --------------------------------------------------------------------------- parsing


def parse_function_source(source: object, name: str) -> ast.Lambda | ast.FunctionDef:
    """Parses saved source into exactly one ``lambda`` or ``def`` named ``name``.

    Raises:
        Refusal: If the source is too big or deep, does not parse, or is not exactly one
            function with that name.
    """
    if not isinstance(source, str):
        raise Refusal(None, f"'source' must be a string, got {type(source).__name__}")
    if len(source) > MAX_SOURCE_CHARS:
        raise Refusal(None, f"source is {len(source)} characters, more than {MAX_SOURCE_CHARS}")
    is_lambda = name == "<lambda>"
    try:
        with warnings.catch_warnings():
            # A file's odd literals ('\d', 1if x) must not print warnings while loading.
            warnings.simplefilter("ignore")
            if is_lambda:
                # Parenthesized so a lambda that spanned lines inside a call still parses.
                tree: ast.AST = ast.parse("(" + source + "\n)", mode="eval")
            else:
                tree = ast.parse(source, mode="exec")
    except SyntaxError as err:
        raise Refusal(None, f"source does not parse: {err.msg} (line {err.lineno})") from None
    except (ValueError, MemoryError, RecursionError, OverflowError) as err:
        raise Refusal(None, f"source does not parse ({type(err).__name__})") from None
    _check_size(tree)
    if is_lambda:
        assert isinstance(tree, ast.Expression)
        if not isinstance(tree.body, ast.Lambda):
            raise Refusal(tree.body, "the name is '<lambda>' but the source is not one lambda")
        return tree.body
    assert isinstance(tree, ast.Module)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        kinds = ", ".join(type(node).__name__ for node in tree.body[:3]) or "nothing"
        raise Refusal(
            tree.body[0] if tree.body else None,
            f"the source must be exactly one 'def {name}(...)' and nothing else, found {kinds}",
        )
    func = tree.body[0]
    if func.name != name:
        raise Refusal(func, f"the source defines '{func.name}' but the config names '{name}'")
    if func.decorator_list:
        raise Refusal(func.decorator_list[0], "decorators are not allowed")
    return func


def _check_size(tree: ast.AST) -> None:
    # Iterative, so a hostile 10,000-deep expression gives a clean refusal, not RecursionError.
    stack = [(tree, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise Refusal(node, f"expressions are nested more than {MAX_DEPTH} levels deep")
        if count > MAX_NODES:
            raise Refusal(None, f"the function has more than {MAX_NODES} syntax nodes")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


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

_REFUSED_STATEMENTS: dict[type, str] = {
    ast.While: "while loops are not allowed (their running time has no bound); use a for loop "
    "over range(n) or tensor operations",
    ast.Import: "import statements are not allowed",
    ast.ImportFrom: "import statements are not allowed",
    ast.Global: "global statements are not allowed",
    ast.Nonlocal: "nonlocal statements are not allowed",
    ast.FunctionDef: "nested function definitions are not allowed",
    ast.AsyncFunctionDef: "nested function definitions are not allowed",
    ast.ClassDef: "class definitions are not allowed",
    ast.Try: "try statements are not allowed",
    ast.With: "with statements are not allowed",
    ast.AsyncWith: "with statements are not allowed",
    ast.AsyncFor: "async for is not allowed",
    ast.Raise: "raise statements are not allowed",
    ast.Assert: "assert statements are not allowed",
    ast.Delete: "del statements are not allowed",
}
_REFUSED_EXPRESSIONS: dict[type, str] = {
    ast.Lambda: "nested lambdas are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed (generators cannot be saved safely)",
    ast.YieldFrom: "yield is not allowed (generators cannot be saved safely)",
}

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


class _Compiler:
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


def _check_name(node: ast.AST, name: str) -> None:
    if name.startswith("__"):
        raise Refusal(node, f"names starting with '__' ({name}) are not allowed")


def _check_attribute(node: ast.Attribute) -> None:
    if node.attr.startswith("_"):
        raise Refusal(node, f"attributes starting with '_' (.{node.attr}) are not allowed")


_INERT_NODES = (
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Set,
    ast.UnaryOp,
    ast.BinOp,
    ast.Load,
    ast.unaryop,
    ast.operator,
)


def _inert_parts(node: ast.Lambda | ast.FunctionDef) -> list[ast.expr]:
    """Default expressions and annotations: kept in the source for readers, never evaluated."""
    args = node.args
    parts: list[ast.expr | None] = [*args.defaults, *args.kw_defaults]
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            parts.append(arg.annotation)
    if isinstance(node, ast.FunctionDef):
        parts.append(node.returns)
    return [p for p in parts if p is not None]


def _check_inert(expr: ast.expr) -> None:
    # Their values come from the config, so they need not be safe to run; still, only plain
    # literals and names may appear, so that the source a reader sees cannot hide a call.
    for child in ast.walk(expr):
        if not isinstance(child, _INERT_NODES):
            raise Refusal(
                child,
                f"{type(child).__name__} in a default value or annotation is not allowed "
                f"(only literals and names)",
            )
        if isinstance(child, ast.Name):
            _check_name(child, child.id)
        elif isinstance(child, ast.Attribute):
            _check_attribute(child)


def _target_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for e in node.elts for n in _target_names(e)]
    if isinstance(node, ast.Starred):
        return _target_names(node.value)
    return []  # subscripts and attributes bind no name


def _assigned_names(stmts: Iterable[ast.stmt]) -> list[str]:
    """Names a function body binds (its locals), not looking inside comprehensions."""
    names: list[str] = []
    for stmt in stmts:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                names.extend(_target_names(target))
        elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign, ast.For)):
            names.extend(_target_names(stmt.target))
        if isinstance(stmt, (ast.For, ast.If)):
            names.extend(_assigned_names(stmt.body))
            names.extend(_assigned_names(stmt.orelse))
    return names


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
