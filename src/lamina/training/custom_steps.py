"""Keras's overridable steps: `train_step`, `test_step`, `predict_step`, and what they call
(`compute_loss`, `compute_metrics`, `metrics`, `get_metrics_result`, `reset_metrics`).

`Model`'s methods of these names forward here. The loops run a model's own `train_step` (or
`test_step`, `predict_step`) when its class overrides it, decided once per call through
`StepRunner`; a model that overrides none keeps the fused per-batch path of `steps._Runner`.
The default steps below are Keras 3's torch-backend steps, for `super().train_step(data)`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lamina import metrics as metrics_module
from lamina.core.tensor import flatten
from lamina.training.compile_utils import flat_targets
from lamina.training.data_adapter import unpack

__all__ = ["CompiledMetricsView", "StepRunner", "overrides"]


def overrides(model: Any, name: str) -> bool:
    """Whether the model's class defines its own `name` step (not `Model`'s)."""
    from lamina.core.model_forwards import ModelForwards

    return getattr(type(model), name) is not getattr(ModelForwards, name)


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """The batch a step receives: `x` (or `(x,)` when x is a list/tuple), `(x, y)` or
    `(x, y, sample_weight)`, as Keras packs it."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


# ---------------------------------------------------------------------------- the defaults
def _call(model: Any, x: Any, training: bool) -> Any:
    """`model(x)`, keeping the losses of this call for `compute_loss`: graph losses
    (`add_loss(symbolic)`) only exist on this path, not in `model.losses`."""
    y_pred, losses = model.call_with_losses(x, training=training)
    model.__dict__["_lamina_step_losses"] = losses
    return y_pred


def train_step(model: Any, data: Any) -> dict[str, Any]:
    x, y, sample_weight = unpack(data)
    y_pred = _call(model, x, training=True)
    model.zero_grad()
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
    _loss_tracker(model).update_state(loss.detach(), sample_weight=_batch_size(x))
    weights = model.trainable_weights
    if weights:
        model.optimizer.scale_loss(loss).backward()
        model.optimizer.apply([w.grad for w in weights], weights)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)  # type: ignore[no-any-return]


def test_step(model: Any, data: Any) -> dict[str, Any]:
    x, y, sample_weight = unpack(data)
    y_pred = _call(model, x, training=False)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
    _loss_tracker(model).update_state(loss.detach(), sample_weight=_batch_size(x))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)  # type: ignore[no-any-return]


def predict_step(model: Any, data: Any) -> Any:
    x, _, _ = unpack(data)
    return model(x, training=False)


def _batch_size(x: Any) -> int:
    return next(int(t.shape[0]) for t in flatten(x) if t is not None)


def _loss_tracker(model: Any) -> metrics_module.Mean:
    return model._compile_state.loss_tracker  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- loss, metrics
def _flat(model: Any, y: Any, y_pred: Any, sample_weight: Any) -> tuple[list[Any], ...]:
    compiled_loss = model.compiled_loss
    if not compiled_loss.built:
        compiled_loss.build(model)
    names = compiled_loss.names
    flat_out = [y_pred] if isinstance(y_pred, torch.Tensor) else flatten(y_pred)
    if len(names) == 1 and not isinstance(y, (list, tuple, dict)):
        return [y], flat_out, [sample_weight]
    return flat_targets(y, names), flat_out, flat_targets(sample_weight, names, "sample_weight")


def compute_loss(
    model: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool
) -> torch.Tensor:
    """The compiled losses of `y_pred` against `y`, plus the `add_loss` losses of the
    model's latest call: Keras's `Model.compute_loss`."""
    state = model._compile_state
    if state is None:
        raise RuntimeError(
            f"Model '{model.name}': compute_loss() needs compile() first, e.g. "
            "model.compile(optimizer='adam', loss='mse')."
        )
    total: torch.Tensor | None = None
    if state.compiled_loss.spec is not None:
        flat_y, flat_out, flat_w = _flat(model, y, y_pred, sample_weight)
        total, _ = state.compiled_loss(flat_y, flat_out, flat_w)
    # The default steps' call kept its losses (graph ones included); a step of the user's
    # own that called `self(x)` finds its layers' add_loss losses in `model.losses`.
    kept = model.__dict__.pop("_lamina_step_losses", None)
    for extra in model.losses if kept is None else kept:
        extra = extra.sum()
        total = extra if total is None else total + extra
    if total is None:
        raise ValueError(
            f"Model '{model.name}': compute_loss() has no loss to compute: compile() was "
            "given no loss and the model's layers added none. Pass loss= to compile(), or "
            "compute the loss yourself in train_step."
        )
    return total


def compute_metrics(model: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
    """Update the compiled metrics with this batch and return every metric's result."""
    state = model._compile_state
    if state is not None and state.compiled_metrics.metrics_given:
        state.metrics_view.update_state(y, y_pred, sample_weight)
    return get_metrics_result(model)


def model_metrics(model: Any) -> list[Any]:
    """`Model.metrics`: the loss tracker, then the compiled metrics (one entry that holds
    them all, as in Keras); empty before `compile`."""
    state = model._compile_state
    if state is None:
        return []
    found: list[Any] = [state.loss_tracker]
    if state.compiled_metrics.metrics_given:
        found.append(state.metrics_view)
    return found


def get_metrics_result(model: Any) -> dict[str, Any]:
    """Every metric's result by name; a metric whose result is a dict adds its entries."""
    logs: dict[str, Any] = {}
    for metric in model.metrics:
        result = metric.result()
        if isinstance(result, dict):
            logs.update(result)
        else:
            logs[metric.name] = result
    return logs


class CompiledMetricsView(metrics_module.Metric):
    """The compiled metrics as one metric (Keras's `compile_metrics` entry of
    `model.metrics`): `update_state(y, y_pred)` updates them all, `result()` is a dict."""

    def __init__(self, model: Any) -> None:
        super().__init__(name="compile_metrics")
        self._model = model

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        model = self._model
        flat_y, flat_out, flat_w = _flat(model, y_true, y_pred, sample_weight)
        metrics = model.compiled_metrics
        if not metrics.built:
            metrics.build(model.compiled_loss.names, flat_y, flat_out)
        with torch.no_grad():
            metrics.update(flat_y, flat_out, flat_w)

    def result(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return self._model.compiled_metrics.results()  # type: ignore[no-any-return]

    def reset_state(self) -> None:
        self._model.compiled_metrics.reset()


# ---------------------------------------------------------------------------- in the loops
class StepRunner:
    """The loops' per-batch work for a model with its own steps: the model's `train_step` /
    `test_step` on each packed batch; the logs are what the step returns."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def reset(self) -> None:
        self.model.reset_metrics()

    def train(self, x: Any, y: Any, weights: Any) -> dict[str, Any]:
        return self.model.train_step(pack_x_y_sample_weight(x, y, weights))  # type: ignore[no-any-return]

    def test(self, x: Any, y: Any, weights: Any) -> dict[str, Any]:
        return self.model.test_step(pack_x_y_sample_weight(x, y, weights))  # type: ignore[no-any-return]

    def tracker(self) -> StepTracker:
        return StepTracker(self)


class StepTracker:
    """The latest logs a step returned, read as floats (nested dicts flattened) on demand."""

    def __init__(self, runner: StepRunner) -> None:
        self.runner = runner
        self.latest: dict[str, Any] = {}
        self.first_bad: int | None = None
        self.seen = 0

    def add(self, logs: Any, size: int) -> None:
        if not isinstance(logs, dict):
            raise TypeError(
                f"Model '{self.runner.model.name}': train_step/test_step must return a dict of "
                f"results (e.g. {{m.name: m.result() for m in self.metrics}}); it returned "
                f"{type(logs).__name__}."
            )
        self.latest = logs
        self.seen += 1

    def _read(self) -> None:
        loss = self.latest.get("loss")
        finite = not isinstance(loss, (torch.Tensor, float)) or math.isfinite(float(loss))
        if self.first_bad is None and not finite:
            self.first_bad = self.seen - 1

    def logs(self) -> dict[str, float]:
        self._read()
        return _pythonify(self.latest)


def _pythonify(logs: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            result.update(_pythonify(value))
        elif isinstance(value, torch.Tensor) and value.numel() == 1:
            result[key] = float(value)
        else:
            result[key] = value
    return result
