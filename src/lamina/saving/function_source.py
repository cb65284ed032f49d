"""Finding the source of a Python function: the one ``def`` or ``lambda`` its code came from.

Saving a function as an expression needs its exact AST node and source text. This walks the
function's file (parsed once and cached), narrows several candidates on one line down by
argument names, code positions and the names the code uses, and checks that the cut-out source
parses back to the same tree.
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import linecache
import textwrap
import types
import warnings


def _parse(source: str) -> ast.Lambda | ast.FunctionDef | None:
    """The one ``def`` or ``lambda`` in ``source`` (parsed, never run), or None."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(body) != 1:
        return None
    node = body[0]
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Lambda):
        return node.value
    return node if isinstance(node, ast.FunctionDef) else None


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
    again = _parse(source)
    bare = copy.copy(node)
    if isinstance(bare, ast.FunctionDef):
        bare.decorator_list = []
    if again is None or ast.dump(again) != ast.dump(bare):
        return f"lamina could not cut its source out of {filename!r} unchanged"
    return again, source, f"{filename}:{node.lineno}"
