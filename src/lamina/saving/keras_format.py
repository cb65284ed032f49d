"""Keras models in lamina: `load_keras` reads a Keras 3 `.keras` archive (config.json,
metadata.json, model.weights.h5) or a Keras 2 whole-model `.h5` file.

Nothing in the file runs or is imported: the zip's names and sizes are checked before
anything is read, classes come from a fixed table (`keras_layers`), lambdas stored as
bytecode are reported and taken from `custom_objects`, and every weight's shape is checked
against lamina's layer before it is set (`keras_weights`).

Example:
    >>> from lamina.saving import load_keras
    >>> load_keras("missing.keras")
    Traceback (most recent call last):
    ...
    lamina.saving.errors.LoadError: 'missing.keras': no such file.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any

from lamina.saving.errors import LoadError
from lamina.saving.keras_layers import KerasGraph, build_keras_model
from lamina.saving.keras_weights import (
    h5py_module,
    load_h5_weights,
    load_legacy_weights,
)
from lamina.saving.values import LoadContext

__all__ = ["KerasFile", "describe_keras", "load_keras", "read_keras"]

_ENTRIES = {"config.json", "metadata.json", "model.weights.h5"}
_MAX_JSON = 64 * 2**20
_MAX_WEIGHTS = 4 * 2**30
_HDF5 = b"\x89HDF\r\n\x1a\n"


class KerasFile:
    """A Keras file's parts: its model config, metadata and weights (an h5py File)."""

    def __init__(self, config: dict[str, Any], metadata: dict[str, Any], weights: Any) -> None:
        self.config, self.metadata, self.weights = config, metadata, weights
        self.legacy = False


def _json(data: bytes, what: str, ctx: LoadContext) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise ctx.error(f"{what} is not valid JSON ({error}).") from None
    if not isinstance(value, dict):
        raise ctx.error(f"{what} is not a JSON object.")
    return value


def read_keras(
    path: str | os.PathLike[str], ctx: LoadContext, *, weights: bool = True
) -> KerasFile:
    """Open a `.keras` zip or a Keras 2 `.h5`, checking its entries before reading them."""
    if not os.path.isfile(path):
        raise ctx.error("no such file.")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == _HDF5:
        return _read_legacy(path, ctx, weights=weights)
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ctx.error(f"not a Keras .keras file: not a zip archive ({error}).") from None
    with archive:
        names = {}
        for info in infos:
            name = info.filename
            if name not in _ENTRIES:
                # Keras writes only these three; anything else (a path like '../x' or '/etc')
                # is refused rather than skipped, and nothing is ever extracted to disk.
                raise ctx.error(f"unexpected entry {name[:120]!r} in a .keras file.")
            if name in names:
                raise ctx.error(f"entry {name!r} appears twice.")
            limit = _MAX_WEIGHTS if name.endswith(".h5") else _MAX_JSON
            if info.file_size > limit:
                raise ctx.error(
                    f"entry {name!r} declares {info.file_size:,} bytes, over {limit:,}."
                )
            names[name] = info
        if "config.json" not in names:
            raise ctx.error("not a Keras model file: it lacks config.json.")
        config = _json(archive.read("config.json"), "config.json", ctx)
        metadata = (
            _json(archive.read("metadata.json"), "metadata.json", ctx)
            if "metadata.json" in names
            else {}
        )
        h5 = None
        if weights and "model.weights.h5" in names:
            h5py = h5py_module(ctx)
            data = archive.read("model.weights.h5")
            try:
                h5 = h5py.File(io.BytesIO(data), "r")
            except OSError as error:
                raise ctx.error(f"model.weights.h5 is not an HDF5 file ({error}).") from None
    return KerasFile(config, metadata, h5)


def _read_legacy(path: str | os.PathLike[str], ctx: LoadContext, *, weights: bool) -> KerasFile:
    h5py = h5py_module(ctx)
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise ctx.error(f"not a readable HDF5 file ({error}).") from None
    raw = h5.attrs.get("model_config")
    if raw is None:
        h5.close()
        raise ctx.error(
            "this .h5 file holds weights only (no model_config); build the model with "
            "lamina's layers and load them layer by layer."
        )
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    config = _json(text.encode(), "model_config", ctx)
    compile_raw = h5.attrs.get("training_config")
    if compile_raw is not None:
        text = compile_raw.decode() if isinstance(compile_raw, bytes) else str(compile_raw)
        config["compile_config"] = _json(text.encode(), "training_config", ctx)
    keras_version = h5.attrs.get("keras_version")
    file = KerasFile(config, {"keras_version": str(keras_version)}, h5 if weights else None)
    file.legacy = True
    if not weights:
        h5.close()
    return file


def describe_keras(path: str | os.PathLike[str], *, custom_objects: Any = None) -> dict[str, Any]:
    """What `load_keras` would build from a Keras file: classes, Lambda layers, problems."""
    ctx = LoadContext(source=str(path), custom_objects=dict(custom_objects or {}))
    file = read_keras(path, ctx, weights=False)
    graph = KerasGraph(ctx, check_only=True)
    build_keras_model(file.config, graph)
    name = (file.config.get("config") or {}).get("name")
    return {
        "format": "Keras 2 .h5" if file.legacy else "Keras 3 .keras",
        "keras_version": file.metadata.get("keras_version"),
        "model": f"{file.config.get('class_name')} '{name}'",
        "layers": dict(sorted(graph.classes.items())),
        "function layers": graph.lambdas,
        "custom classes": graph.custom,
        "compiled": bool(file.config.get("compile_config")),
        "problems": graph.problems,
        "loads": "yes" if not graph.problems else "no: see problems",
    }


def _check_sizes(file: KerasFile, graph: KerasGraph) -> None:
    """Refuse a config whose weights would be bigger than the weights file holds: the model
    is built first on the `meta` device, where no memory is taken, and its values counted."""
    import torch

    from lamina.saving.keras_weights import declared_values

    limit = declared_values(file.weights, graph.ctx) if file.weights is not None else 2**24
    try:
        with torch.device("meta"):
            probe = build_keras_model(file.config, graph)
    except LoadError:
        raise
    except Exception:  # a layer that cannot be built on meta is built for real, as load_model
        graph.problems.clear()
        return
    graph.raise_problems()
    size = sum(t.numel() for t in probe.state_dict().values())
    if size > limit:
        raise graph.ctx.error(
            f"the config declares {size:,} weight values but the weights file holds "
            f"{limit:,}; refusing to allocate them."
        )


def load_keras(
    path: str | os.PathLike[str],
    *,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
    compile: bool = True,
) -> Any:
    """A lamina model from a Keras 3 `.keras` file or a Keras 2 whole-model `.h5` file.

    Args:
        path: the Keras file.
        custom_objects: functions and classes by name: a Lambda's function by the layer's
            name (Keras stores lambdas as bytecode, which lamina never runs) or by the
            function's name, custom layers by class name.
        safe_mode: kept for Keras's signature; lamina never runs code from a Keras file in
            either mode.
        compile: compile the model with the file's optimizer, loss and metrics (by Keras's
            serialized names) when it has them.

    Returns:
        a lamina `Model` or `Sequential` with Keras's weights.

    Raises:
        LoadError: naming the file: every layer or argument lamina cannot map, at once.
    """
    del safe_mode  # nothing in a Keras file is ever run: bytecode lambdas are refused
    ctx = LoadContext(source=str(path), custom_objects=dict(custom_objects or {}))
    file = read_keras(path, ctx)
    try:
        graph = KerasGraph(ctx, check_only=True)
        build_keras_model(file.config, graph)  # check everything first, build nothing
        graph.raise_problems()
        graph.check_only = False
        _check_sizes(file, graph)
        model = build_keras_model(file.config, graph)
        graph.raise_problems()
        if file.weights is not None:
            if file.legacy:
                load_legacy_weights(model, file.weights["model_weights"], ctx)
            else:
                load_h5_weights(model, file.weights, ctx)
        if compile and file.config.get("compile_config"):
            from lamina.saving.keras_compile import compile_from_keras

            compile_from_keras(model, file.config["compile_config"], file.weights, ctx)
    except LoadError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise ctx.error(f"malformed Keras file ({type(error).__name__}: {error}).") from None
    finally:
        if file.weights is not None:
            file.weights.close()
    return model
