"""torch's dtypes by name, from a fixed table.

A name from a saved file must never reach `getattr(torch, name)`: torch's module
`__getattr__` imports lazy submodules (`_dynamo`, `_inductor`, sympy: hundreds of modules,
and a temporary folder) for names it does not hold. `vars(torch)` is a plain dict, so
building the table imports nothing.
"""

from __future__ import annotations

import torch

__all__ = ["DTYPES", "dtype_named"]

DTYPES: dict[str, torch.dtype] = {
    name: value for name, value in vars(torch).items() if isinstance(value, torch.dtype)
}
"""Every torch dtype by each of its names (`"float32"`, `"float"`, ...)."""


def dtype_named(name: object) -> torch.dtype | None:
    """The torch dtype called `name` (`"float32"`, `"torch.int64"`), or None."""
    if not isinstance(name, str):
        return None
    return DTYPES.get(name.removeprefix("torch."))
