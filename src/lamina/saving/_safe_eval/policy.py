"""What saved code may be and do, decided before anything runs.

The evaluator's vocabulary (its errors and the bindings that say what a free name means), the
parser with its caps on source size, node count and depth, the messages for refused
statements and expressions, and the static checks of names, attributes and the inert parts of
a signature (defaults and annotations). Nothing here builds code to run; ``expressions`` and
``statements`` use these checks while compiling.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MAX_SOURCE_CHARS = 65_536
MAX_NODES = 20_000
MAX_DEPTH = 120


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

# --------------------------------------------------------------------------- static checks


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
