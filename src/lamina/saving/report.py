"""`inspect_file`: what a `.lamina` file holds and how its functions would load, without
building the model or running anything in it (what `lamina inspect` prints)."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from lamina.saving.archive import METADATA, Archive
from lamina.saving.model_loader import _checksums, _context, _read_config
from lamina.saving.values import FUNCTION, LAYER
from lamina.saving.weights import OPTIMIZER

__all__ = ["FileReport", "FunctionReport", "LayerReport", "inspect_file", "printable"]


def printable(text: object) -> str:
    """`text` with every control and format character escaped (`\\x1b`, `\\u202e`), so a
    name from a file cannot move the cursor, recolor or reorder what a terminal shows."""
    return "".join(
        char
        if not unicodedata.category(char).startswith("C")
        else (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        for char in str(text)
    )


@dataclass
class FunctionReport:
    """A function stored in a file: whose, which config field, and how it would load."""

    layer: str
    field: str
    name: str
    loads: str


@dataclass
class LayerReport:
    """One layer of a file's model (nested layers are named `outer.inner`)."""

    name: str
    class_name: str
    params: int


@dataclass
class FileReport:
    """What `inspect_file` found; `str(report)` is the text `lamina inspect` prints."""

    path: str
    format_version: int
    lamina_version: str
    metadata: dict[str, Any]
    model_class: str
    model_name: str
    layers: list[LayerReport] = field(default_factory=list)
    param_count: int = 0
    functions: list[FunctionReport] = field(default_factory=list)
    compiled: bool = False
    weights_verified: bool = False
    """Whether every byte of the weights was read and matched its checksums (or, in a file
    from before lamina kept them, the archive's CRC-32)."""

    def __str__(self) -> str:
        """The report, every string from the file escaped by `printable`."""
        p = printable
        saved_at = self.metadata.get("saved_at")
        lines = [
            f"{p(self.path)}: lamina model file, format {p(self.format_version)}, written by "
            f"lamina {p(self.lamina_version)}" + (f" on {p(saved_at)}" if saved_at else ""),
            f"model '{p(self.model_name)}' ({p(self.model_class)}): {len(self.layers)} layers, "
            f"{self.param_count:,} parameters" + (", compiled" if self.compiled else ""),
            *(["weights: every byte read, checksums match"] if self.weights_verified else []),
        ]
        width = max((len(p(layer.name)) for layer in self.layers), default=0)
        for layer in self.layers:
            name, cls = p(layer.name), p(layer.class_name)
            lines.append(f"  {name:<{width}}  {cls:<16} {layer.params:>12,}")
        if self.functions:
            lines.append("functions:")
            for fn in self.functions:
                lines.append(f"  {p(fn.layer)}.{p(fn.field)}: {p(fn.name)} -- {p(fn.loads)}")
        else:
            lines.append("functions: none")
        return "\n".join(lines)


def _model_class(entry: dict[str, Any]) -> str:
    """The entry's class, with the subclass a functional or Sequential model was saved from."""
    subclass = entry.get("subclass")
    name = subclass.get("class_name") if isinstance(subclass, dict) else None
    base = str(entry.get("class_name"))
    return f"{str(name)[:80]}, a {base} subclass" if isinstance(name, str) else base


def inspect_file(path: str | os.PathLike[str], *, verify: bool = False) -> FileReport:
    """Describe a `.lamina` file without building the model or running anything in it:
    format, layers, parameter count, and each function with how it would load (`registered`,
    `op graph (safe)`, `needs trust (...)`).

    Args:
        path: the file.
        verify: also read every byte of the weights and check them against their
            checksums (or, in a file from before lamina kept them, the zip's CRC-32).

    Raises:
        LoadError: naming the file, for a file that is not a valid lamina file, or a
            damaged one when `verify` is set.
    """
    from lamina.saving.functions import describe_function, function_label

    source = os.fspath(path)
    ctx = _context(source, None, True, ())
    with open(source, "rb") as handle:
        archive = Archive(handle, ctx)
        config = _read_config(archive, ctx)
        metadata = archive.read_json(METADATA)
        weights = archive.weights()
        if verify:
            weights.read(verify=True, checksums=_checksums(config, weights, ctx))
    sizes = {k: info.numel for k, info in weights.tensors.items() if not k.startswith(OPTIMIZER)}
    entry = config["model"]
    report = FileReport(
        path=source,
        format_version=config["format_version"],
        lamina_version=str(config.get("lamina_version", "?")),
        metadata=metadata if isinstance(metadata, dict) else {},
        model_class=_model_class(entry),
        model_name=str((entry.get("config") or {}).get("name", "?")),
        param_count=sum(sizes.values()),
        compiled="compile_config" in config,
        weights_verified=verify and weights.crc is not None,
    )

    def visit_layers(model_entry: dict[str, Any], prefix: str) -> None:
        body = model_entry.get("config") or {}
        entries = body.get("layers") if isinstance(body, dict) else None
        for layer_entry in entries if isinstance(entries, list) else []:
            if not isinstance(layer_entry, dict) or not isinstance(layer_entry.get("config"), dict):
                continue
            name = f"{prefix}{layer_entry['config'].get('name', '?')}"
            params = sum(n for k, n in sizes.items() if k.startswith(f"{name}."))
            report.layers.append(LayerReport(name, str(layer_entry.get("class_name")), params))
            if layer_entry.get("class_name") in ("Functional", "Sequential"):
                visit_layers(layer_entry, f"{name}.")
            else:
                visit_functions(layer_entry["config"], name, "")

    def visit_functions(value: Any, layer: str, where: str) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                visit_functions(item, layer, f"{where}[{i}]")
        elif isinstance(value, dict):
            if FUNCTION in value:
                body = value[FUNCTION]
                report.functions.append(
                    FunctionReport(
                        layer, where or "?", function_label(body), describe_function(body)
                    )
                )
                return
            if LAYER in value:
                return
            for key, item in value.items():
                # Encoding tags (`__tuple__`, ...) are not part of the field's name.
                inner = where if key.startswith("__") else f"{where}.{key}".lstrip(".")
                visit_functions(item, layer, inner)

    visit_layers(entry, "")
    if isinstance(config.get("compile_config"), dict):
        # Losses and metrics from the user's script are stored like Lambda functions.
        visit_functions(config["compile_config"], "compile", "")
    return report
