"""The weights' checksums: xxh3_64 of every 8 MiB block of every tensor, kept in `config.json`.

A save computes them while it writes the weights (on the thread that computes the zip's
CRC-32) and writes `config.json` after the weights entry, with a top-level `checksums`:
`{"algorithm": "xxh3_64", "block": 8388608, "header": HEX, "tensors": {name: HEX}}`, each
HEX the 16-digit digests of a byte string's blocks, concatenated (`""` for no bytes).
`config.json` itself is covered by the zip's CRC-32, which zipfile checks on every read.

A `.safetensors` file from `save_weights` keeps the same entry without `"header"` (the
digests are inside the header) as JSON in the header's string metadata, under
`lamina_checksums`; the save computes them before writing the header, one extra pass over
weights already in memory (about 28 GB/s). Its header is checked by parsing alone.

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


def encode(header: Sequence[int] | None, tensors: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """The `checksums` entry of `config.json` (of a `.safetensors` file's metadata: `header`
    None)."""
    return {
        "algorithm": ALGORITHM,
        "block": BLOCK,
        **({} if header is None else {"header": _hex(header)}),
        "tensors": {name: _hex(digests) for name, digests in tensors.items()},
    }


@dataclass(frozen=True)
class Checksums:
    """The checksums a file records, checked against what a load read.

    Attributes:
        header: the digests of the safetensors header's blocks.
        tensors: the digests of each tensor's blocks, by name.
    """

    header: tuple[int, ...] | None
    tensors: dict[str, tuple[int, ...]]
    source: str = "config.json"

    @classmethod
    def parse(
        cls,
        value: Any,
        sizes: Mapping[str, int],
        header_size: int | None,
        ctx: LoadContext,
        source: str = "config.json",
    ) -> Checksums:
        """The checked `checksums` entry of a file whose tensors have the byte `sizes`;
        `header_size` None for the entry of a `.safetensors` file's metadata (`source`)."""
        what = f"{source!r}: checksums" if source == "config.json" else f"{source}: checksums"
        keys = {"algorithm", "block", "tensors"}
        if header_size is not None:
            keys.add("header")
        if not isinstance(value, dict) or set(value) != keys:
            raise ctx.error(f"{what} must hold exactly {', '.join(map(repr, sorted(keys)))}.")
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
            None if header_size is None else parsed(value["header"], header_size, "the header"),
            {k: parsed(v, sizes[k], f"tensor '{k[:80]}'") for k, v in tensors.items()},
            source,
        )
