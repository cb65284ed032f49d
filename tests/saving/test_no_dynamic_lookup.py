"""No string from a file reaches `getattr` on torch, numpy or a module: a module's lazy
`__getattr__` imports code (torch's pulls in `_dynamo`, `_inductor`, sympy). Names go through
fixed tables (`lamina.core.dtypes.DTYPES`, `vars(module)`, the op graphs' `op_table`); this
scans the code that loads, the function serializer included."""

from __future__ import annotations

import ast
from pathlib import Path

import lamina

SRC = Path(lamina.__file__).parent
SCANNED = ["saving", "core", "layers", "ops", "optimizers", "metrics", "losses", "backend.py"]
MODULES = {"torch", "np", "numpy", "module", "builtins", "layers", "importlib", "sys"}
ALLOWED = {
    # An nn.Module instance's attributes, named by its own class's signature (save side).
    "losses/torch_losses.py",
    "layers/torch_module.py",
    # The op table is built from its own literal name lists, never from a file's strings.
    "saving/op_table.py",
}


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def dynamic_lookups(text: str) -> list[str]:
    """`getattr`/`hasattr` calls on a module with a name that is not a literal."""
    return [
        f"{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
        and len(node.args) >= 2
        and not isinstance(node.args[1], ast.Constant)
        and _root(node.args[0]) in MODULES
    ]


def test_no_name_from_a_file_reaches_getattr_on_a_module() -> None:
    files = []
    for part in SCANNED:
        root = SRC / part
        files.extend([root] if root.is_file() else sorted(root.rglob("*.py")))
    found = [
        hit
        for path in files
        if str(path.relative_to(SRC)) not in ALLOWED
        for hit in dynamic_lookups(path.read_text())
    ]
    assert len(files) > 50
    assert found == []


def test_the_scan_finds_a_dynamic_lookup() -> None:
    text = "import torch\ndef f(name):\n    return getattr(torch.nn, name), getattr(torch, 'x')\n"
    assert dynamic_lookups(text) == ["3: getattr(torch.nn, name)"]
