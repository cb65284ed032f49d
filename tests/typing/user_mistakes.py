"""Mistakes a user's type checker must catch: each line marked `error` is one mypy error."""

from __future__ import annotations

import lamina


def mistakes() -> None:
    lamina.load_model(3)  # error: a path, not an int
    print(lamina.no_such_name)  # error: not in lamina
    lamina.utils.set_random_seed("0")  # error: an int
