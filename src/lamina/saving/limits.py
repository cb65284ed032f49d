"""`LoadLimits`: the one place that holds how much a load may read, parse and build.

Every bound is checked before the work it bounds: a JSON text's element count is counted
(`bytes.count`, at memory speed) before it is parsed, so `[],[],...` cannot expand a 64 MiB
text into gigabytes of Python lists; the tensor count before the header's tensors are
checked; the layer count before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamina.core.budget import BuildBudget

__all__ = ["LoadLimits", "build_budget", "count_layers"]


@dataclass(frozen=True)
class LoadLimits:
    """Bounds on what `load_model` and `load_weights` accept from a file.

    The defaults are far above any real model's needs and far below what hurts a machine;
    raise one for a file you trust: `load_model(path, limits=LoadLimits(max_layers=50_000))`.

    Attributes:
        max_json_bytes: largest `config.json` / `metadata.json` (after inflating).
        max_json_elements: most JSON values (lists, objects, items) in one of them; counted
            before parsing (an upper bound: commas inside strings count too).
        max_header_bytes: largest safetensors header.
        max_header_elements: most JSON values in the safetensors header.
        max_tensors: most tensors in the weights.
        max_layers: most layers, counting those of nested models.
        max_build_bytes: most bytes that the weights and inputs made while rebuilding the
            model and its compile settings may take beyond the bytes of the file's own
            tensors (which pay for the weights they fill): each weight is counted before it
            is made, on any device, so `Dense(10**9)` in a small file is refused before
            anything is allocated. The rebuild runs on the `meta` device where it can.

    Example:
        >>> LoadLimits().max_layers
        10000
    """

    max_json_bytes: int = 64 << 20
    max_json_elements: int = 2_000_000
    max_header_bytes: int = 100 << 20
    max_header_elements: int = 2_000_000
    max_tensors: int = 200_000
    max_layers: int = 10_000
    max_build_bytes: int = 1 << 30


def build_budget(limits: LoadLimits, file_bytes: int) -> BuildBudget:
    """The budget of a load whose file holds `file_bytes` of tensors (see `max_build_bytes`)."""
    limit = limits.max_build_bytes + file_bytes
    how = (
        f"LoadLimits.max_build_bytes is {limits.max_build_bytes:,} beyond the file's "
        f"{file_bytes:,} bytes of tensors; for a file you trust, raise it: "
        "load_model(..., limits=LoadLimits(max_build_bytes=...))."
    )
    return BuildBudget(limit, limit, how)


def json_elements(data: bytes | str) -> int:
    """An upper bound on the number of JSON values in `data`, without parsing it: every
    value but the first follows a `,`, or opens a list or object."""
    raw = data.encode() if isinstance(data, str) else data
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def count_layers(entry: Any) -> int:
    """How many layer entries a model config holds, nested models included."""
    count, level = 0, [entry]
    while level:
        children: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is dict:
                layers = item.get("layers")
                if type(layers) is list:
                    count += len(layers)
                children.extend(item.values())
            elif kind is list:
                children.extend(item)
        level = children
    return count
