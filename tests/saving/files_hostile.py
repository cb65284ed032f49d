"""Helpers to build `.lamina` files by hand: a valid reference file, and ways to take it apart
and put it back together with one hostile change."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina import Input, Model, Sequential, ops
from lamina.layers import Dense, Lambda
from lamina.saving import checksums
from lamina.saving.checksums import block_digests

ENTRIES = ("config.json", "metadata.json", "model.safetensors")


def scale(x, factor):
    return x * factor


def reference_model() -> Model:
    """A small model with a Lambda (an op graph), an Operation and Dense weights."""
    torch.manual_seed(0)
    x = Input(shape=(4,), name="x")
    h = Dense(3, name="dense")(x)
    h = Lambda(scale, arguments={"factor": 2.0}, name="scale")(h)
    return Model(x, h[:, :2] + 1.0, name="reference")


def nested_reference_model() -> Model:
    """A Sequential holding a functional model, a shared layer and a graph loss."""
    torch.manual_seed(0)
    inner_in = Input(shape=(3,), name="inner_in")
    shared = Dense(3, name="shared")
    inner = Model(inner_in, shared(shared(inner_in)), name="inner")
    inner.add_loss(ops.mean(abs(inner.output)) * 0.1)
    return Sequential([Input(shape=(3,), name="x"), inner, Dense(2, name="head")], name="seq")


def reference_file(folder: Path) -> Path:
    path = folder / "reference.lamina"
    reference_model().save(path)
    return path


def read_entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(
    path: Path, entries: list[tuple[str, bytes]] | dict[str, bytes], *, compress: bool = True
) -> Path:
    """Write `entries` (name, bytes) as a zip, JSON deflated and weights stored; with the
    checksums in `config.json` made to match the weights, as anyone who edits a file can."""
    items = _resealed(entries).items() if isinstance(entries, dict) else entries
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in items:
            method = (
                zipfile.ZIP_DEFLATED if compress and name.endswith(".json") else zipfile.ZIP_STORED
            )
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            archive.writestr(info, data)
    path.write_bytes(buffer.getvalue())
    return path


def _resealed(entries: dict[str, bytes]) -> dict[str, bytes]:
    """`entries` with the checksums in `config.json` (when it has them) recomputed from the
    weights, or dropped where the weights are too broken to hash."""
    weights = entries.get("model.safetensors")
    # A file built to overflow a bound (a config or header of millions of values) is refused
    # by that bound before any checksum is read: parsing it here would only cost seconds.
    big = 1 << 20
    if len(entries.get("config.json", b"")) > big or (
        weights is not None and int.from_bytes(weights[:8], "little") > big
    ):
        return entries
    try:
        config = json.loads(entries["config.json"])
    except (KeyError, ValueError, RecursionError):
        return entries
    if not isinstance(config, dict) or "checksums" not in config or weights is None:
        return entries
    try:
        start = 8 + int.from_bytes(weights[:8], "little")
        header = json.loads(weights[8:start])
        header.pop("__metadata__", None)
        tensors = {
            name: block_digests(
                weights[start + spec["data_offsets"][0] : start + spec["data_offsets"][1]]
            )
            for name, spec in header.items()
        }
        sums = checksums.encode(block_digests(weights[:start]), tensors)
    except Exception:  # a hostile header: no checksums, as in a file from an older lamina
        del config["checksums"]
    else:
        if sums == config["checksums"]:
            return entries
        config["checksums"] = sums
    return {**entries, "config.json": json.dumps(config).encode()}


def with_config(source: Path, target: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """`source` with `change` applied to its parsed `config.json`."""
    entries = read_entries(source)
    config = json.loads(entries["config.json"])
    change(config)
    entries["config.json"] = json.dumps(config).encode()
    return write_zip(target, entries)


def layer_entry(config: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in config["model"]["config"]["layers"]:
        if entry["config"]["name"] == name:
            return entry  # type: ignore[no-any-return]
    raise KeyError(name)


def set_function(config: dict[str, Any], function: dict[str, Any]) -> None:
    """Replace the reference model's Lambda function config."""
    layer_entry(config, "scale")["config"]["function"] = {"__function__": function}


def expression(source: str, *, name: str = "<lambda>", **fields: Any) -> dict[str, Any]:
    """A function config of kind "expression", as `serialize_function` writes it."""
    return {
        "kind": "expression",
        "version": 1,
        "name": name,
        "module": "__main__",
        "qualname": name,
        "source": source,
        "defaults": [],
        "kwdefaults": {},
        "globals": {},
        "constants": {},
        **fields,
    }


def safetensors_bytes(
    tensors: dict[str, np.ndarray | torch.Tensor], header_extra: Any = None
) -> bytes:
    """A safetensors file written by the safetensors library (the reference writer)."""
    from safetensors.torch import save

    return save({k: torch.as_tensor(v) for k, v in tensors.items()})


def raw_safetensors(header: dict[str, Any], data: bytes) -> bytes:
    """A safetensors file with a hand-written (possibly lying) header."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data
