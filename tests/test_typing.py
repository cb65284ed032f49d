"""lamina's public names have their real types for a user's type checker (`py.typed`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "typing"


def test_a_user_program_type_checks_strictly_and_mistakes_are_caught() -> None:
    script, mistakes = HERE / "user_script.py", HERE / "user_mistakes.py"
    # The repository's cache: .ci/run type-checks src first, so this run is warm there.
    cache = ["--cache-dir", str(ROOT / ".mypy_cache")]
    out, err, _ = mypy_api.run(
        ["--strict", "--no-error-summary", *cache, str(script), str(mistakes)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert not [line for line in errors if script.name in line], out
    marked = [
        n for n, line in enumerate(mistakes.read_text().splitlines(), 1) if "# error:" in line
    ]
    caught = sorted({int(m[1]) for m in re.finditer(rf"{mistakes.name}:(\d+):", out)})
    assert caught == marked, (out, err)
