"""The weights' checksums: xxh3_64 of every 8 MiB block of every tensor, kept in `config.json`.

A save computes them while it writes the weights (on the thread that computes the zip's
CRC-32) and writes `config.json` after the weights entry, with a top-level `checksums`:
`{"algorithm": "xxh3_64", "block": 8388608, "header": HEX, "tensors": {name: HEX}}`, each
HEX the 16-digit digests of a byte string's blocks, concatenated (`""` for no bytes).
`config.json` itself is covered by the zip's CRC-32, which zipfile checks on every read.

A load hashes each block right after reading it, while it is still in the CPU's cache, on
the threads that read it, so checking costs a few percent of a load where zlib's CRC-32,
one more pass over the whole file after it, cost about as much as the load itself. Blocks,
not whole tensors, so that a 1 GB embedding is read and hashed by several threads.
xxh3 is not a cryptographic hash: this catches damage (a flipped bit, a bad copy), not an
attacker, who can rewrite `config.json` as easily as the weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import xxhash

from lamina.saving.values import LoadContext

__all__ = ["ALGORITHM", "BLOCK", "Checksums", "block_digests", "digest", "encode"]

ALGORITHM = "xxh3_64"
BLOCK = 8 << 20
_HEX = re.compile(r"(?:[0-9a-f]{16})*")


def digest(data: Any) -> int:
    """The xxh3_64 of a buffer (one block)."""
    return xxhash.xxh3_64_intdigest(data)


def block_digests(data: Any) -> list[int]:
    """The digest of each `BLOCK`-byte block of a buffer."""
    view = memoryview(data).cast("B")
    return [digest(view[start : start + BLOCK]) for start in range(0, view.nbytes, BLOCK)]


def _hex(digests: Sequence[int]) -> str:
    return "".join(f"{d:016x}" for d in digests)


def encode(header: Sequence[int], tensors: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """The `checksums` entry of `config.json`."""
    return {
        "algorithm": ALGORITHM,
        "block": BLOCK,
        "header": _hex(header),
        "tensors": {name: _hex(digests) for name, digests in tensors.items()},
    }


@dataclass(frozen=True)
class Checksums:
    """The checksums a file records, checked against what a load read.

    Attributes:
        header: the digests of the safetensors header's blocks.
        tensors: the digests of each tensor's blocks, by name.
    """

    header: tuple[int, ...]
    tensors: dict[str, tuple[int, ...]]

    @classmethod
    def parse(
        cls, value: Any, sizes: Mapping[str, int], header_size: int, ctx: LoadContext
    ) -> Checksums:
        """The checked `checksums` entry of a file whose tensors have the byte `sizes`."""
        what = "'config.json': checksums"
        if not isinstance(value, dict) or set(value) != {"algorithm", "block", "header", "tensors"}:
            raise ctx.error(f"{what} must hold exactly 'algorithm', 'block', 'header', 'tensors'.")
        if value["algorithm"] != ALGORITHM or value["block"] != BLOCK:
            raise ctx.error(
                f"{what} are {str(value['algorithm'])[:20]!r} of {str(value['block'])[:20]}-byte "
                f"blocks; this lamina checks {ALGORITHM!r} of {BLOCK}-byte blocks. Upgrade "
                "lamina, or load with verify=False to skip the check."
            )
        tensors = value["tensors"]
        if not isinstance(tensors, dict) or set(tensors) != set(sizes):
            raise ctx.error(f"{what}: 'tensors' must name exactly the tensors of the weights.")

        def parsed(text: Any, size: int, name: str) -> tuple[int, ...]:
            count = -(-size // BLOCK)
            if not isinstance(text, str) or len(text) != 16 * count or not _HEX.fullmatch(text):
                raise ctx.error(
                    f"{what}: {name} needs {count} digests of 16 hex digits, found "
                    f"{str(text)[:40]!r}."
                )
            return tuple(int(text[i : i + 16], 16) for i in range(0, len(text), 16))

        return cls(
            parsed(value["header"], header_size, "the header"),
            {k: parsed(v, sizes[k], f"tensor '{k[:80]}'") for k, v in tensors.items()},
        )
