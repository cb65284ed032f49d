"""Read the Keras 3 fixtures that scripts/keras_fixtures_activation.py writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures" / "keras"


class Case:
    """One fixture case: its description (`function`/`layer`, `args`, `call`) and arrays."""

    def __init__(self, data: Any, index: int) -> None:
        self.spec: dict[str, Any] = json.loads(str(data["cases"][index]))
        self.input: np.ndarray = data[f"input_{index}"]
        self.output: np.ndarray = data[f"output_{index}"]
        self.weights = [
            data[f"weight{j}_{index}"] for j in range(8) if f"weight{j}_{index}" in data
        ]
        self.config: dict[str, Any] | None = (
            json.loads(str(data[f"config_{index}"])) if f"config_{index}" in data else None
        )
        self.extra = {
            key.rsplit("_", 1)[0]: data[key]
            for key in data.files
            if key.endswith(f"_{index}") and key.split("_")[0] in ("loss", "adapt")
        }

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.spec.get("args", {}))

    @property
    def call(self) -> dict[str, Any]:
        return dict(self.spec.get("call", {}))

    def __repr__(self) -> str:
        return json.dumps(self.spec, sort_keys=True)


def keras_cases(name: str, *, layer: str | None = None) -> list[Case]:
    """The cases of `fixtures/keras/<name>.npz` (only those of `layer` when given)."""
    with np.load(FIXTURES / f"{name}.npz") as data:
        cases = [Case(data, i) for i in range(len(data["cases"]))]
    return [c for c in cases if layer is None or c.spec.get("layer") == layer]


def case_id(case: Case) -> str:
    name = case.spec.get("function") or case.spec.get("layer")
    args = ",".join(f"{k}={v}" for k, v in sorted(case.args.items()))
    call = ",".join(f"{k}={v}" for k, v in sorted(case.call.items()) if k != "mask")
    return (
        f"{name}({args})" + (f"[{call}]" if call else "") + ("+mask" if "mask" in case.call else "")
    )


def config_keys(case: Case) -> set[str]:
    """Keras's config keys, without the ones every layer has."""
    assert case.config is not None
    return set(case.config) - {"name", "dtype", "trainable"}
