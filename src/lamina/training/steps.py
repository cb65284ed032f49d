"""The per-batch work of every loop: the model's objective, one optimizer step, running means.

`_Runner` looks everything up once per `fit`/`evaluate` call and runs one batch forward (and
backward when training); `_Tracker` keeps the running losses as tensors until they are read,
so that a loop synchronises with the device only when it needs a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from lamina import optimizers as optimizers_module
from lamina.core.tensor import flatten
from lamina.training import precision
from lamina.training.compile_utils import CompiledLoss, CompiledMetrics, flat_targets
from lamina.training.compiled import forward_for
from lamina.training.custom_steps import StepRunner, overrides


def runner_for(model: Any, step: str) -> _Runner | StepRunner:
    """The per-batch work of one loop: the model's own `step` ("train_step" or
    "test_step") when its class overrides it, else the fused default (decided once)."""
    return StepRunner(model) if overrides(model, step) else _Runner(model)


# ---------------------------------------------------------------------------- one step
class Regularized:
    """The model's weights that have a regularizer, and those that have a constraint.

    Found once, by `compile` (or after the first batch when the model was not built yet),
    and kept in the model's `CompileState`, so that a step does no search; both lists are
    usually empty. A weight frozen since then is skipped at each step, as Keras skips
    non-trainable weights.
    """

    __slots__ = ("constrained", "penalized")

    def __init__(self, model: Any) -> None:
        params = list(model.parameters())
        self.penalized = [p for p in params if getattr(p, "regularizer", None) is not None]
        self.constrained = [p for p in params if getattr(p, "constraint", None) is not None]


class _Runner:
    """The per-batch work of one fit/evaluate call, with everything looked up once."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.optimizer: optimizers_module.Optimizer = model.optimizer
        self.loss: CompiledLoss = model.compiled_loss
        self.metrics: CompiledMetrics = model.compiled_metrics
        self.names: list[str] = []
        self.regularized: Regularized | None = model._compile_state.regularized
        self.loss._checked = False  # check this call's targets against the outputs once
        self.forward = forward_for(model)
        self.optimizer = precision.optimizer_for(model, self.optimizer)

    def autocast(self) -> Any:
        return precision.autocast(self.model)

    def _prepare(self) -> None:
        if not self.loss.built:
            self.loss.build(self.model)
        self.names = self.loss.names

    def objective(
        self, x: Any, y: Any, weights: Any, *, training: bool
    ) -> tuple[torch.Tensor | None, list[torch.Tensor], list[Any], list[Any], list[Any]]:
        """Run the model; return the total loss, the per-output losses, and the flat
        targets, outputs and sample weights (for the metrics)."""
        with self.autocast():
            outputs, extra = self.forward(x, training)
        if not self.names:
            self._prepare()
        names = self.names
        flat_out = [outputs] if isinstance(outputs, torch.Tensor) else flatten(outputs)
        if len(names) == 1 and not isinstance(y, (list, tuple, dict)):
            flat_y, flat_w = [y], [weights]
        else:
            flat_y = flat_targets(y, names)
            flat_w = flat_targets(weights, names, "sample_weight")
        total, parts = self.loss(flat_y, flat_out, flat_w)
        for value in extra:
            total = value if total is None else total + value
        if self.regularized is None:  # a model built by this first batch
            self.regularized = Regularized(self.model)
            self.model._compile_state.regularized = self.regularized
        for param in self.regularized.penalized:
            if param.requires_grad:
                penalty = param.regularizer(param)
                total = penalty if total is None else total + penalty
        if not self.metrics.built:
            self.metrics.build(names, flat_y, flat_out)
        return total, parts, flat_y, flat_out, flat_w

    def reset(self) -> None:
        self.metrics.reset()
        self.model._compile_state.loss_tracker.reset_state()

    def tracker(self) -> _Tracker:
        return _Tracker(self)

    def train(self, x: Any, y: Any, weights: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
        total, parts, flat_y, flat_out, flat_w = self.objective(x, y, weights, training=True)
        if total is None:
            raise ValueError(
                f"Model '{self.model.name}': nothing to minimize: compile() was given no loss "
                "and the model has no add_loss() losses. Pass loss= to compile()."
            )
        optimizer = self.optimizer
        if not optimizer.built:  # a model built lazily by its first call
            optimizer.build(self.model.trainable_weights)
        optimizer.zero_grad(set_to_none=True)
        precision.backward(optimizer, total)
        optimizer.step()
        if self.regularized.constrained:  # type: ignore[union-attr]
            with torch.no_grad():
                for param in self.regularized.constrained:  # type: ignore[union-attr]
                    if param.requires_grad:
                        param.copy_(param.constraint(param))
        if self.metrics.metrics:
            self.metrics.update(flat_y, flat_out, flat_w)
        return total, parts

    def test(self, x: Any, y: Any, weights: Any) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        total, parts, flat_y, flat_out, flat_w = self.objective(x, y, weights, training=False)
        if self.metrics.metrics:
            self.metrics.update(flat_y, flat_out, flat_w)
        return total, parts


class _Tracker:
    """Running means of the loss (and per-output losses), kept as tensors until read.

    The model's loss `Mean` (`model.metrics[0]`, which a custom step updates itself) is set
    from the sums whenever the logs are read, rather than updated at every batch: the same
    result, and the batch loop stays as it is.
    """

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner
        self.pending: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self.sums: list[float] = []
        self.count = 0
        self.first_bad: int | None = None
        self.seen = 0

    def add(self, result: tuple[torch.Tensor | None, list[torch.Tensor]], size: int) -> None:
        total, parts = result
        if total is None:
            return
        value = total.detach()
        if len(parts) > 1:
            value = torch.stack([value, *(p.detach() for p in parts)])
        self.pending.append(value)
        self.sizes.append(size)

    def _read(self) -> None:
        if not self.pending:
            return
        rows = torch.stack(self.pending).tolist()
        sizes = self.sizes
        for j, row in enumerate(rows):
            row = row if isinstance(row, list) else [row]
            if self.first_bad is None and not math.isfinite(row[0]):
                self.first_bad = self.seen + j
            if not self.sums:
                self.sums = [0.0] * len(row)
            for k, value in enumerate(row):
                self.sums[k] += value * sizes[j]
            self.count += sizes[j]
        self.seen += len(rows)
        self.pending, self.sizes = [], []

    def logs(self) -> dict[str, float]:
        """The running means and metric results, as floats."""
        self._read()
        logs: dict[str, float] = {}
        if self.sums:
            logs["loss"] = self.sums[0] / self.count
            loss_tracker = self.runner.model._compile_state.loss_tracker
            loss_tracker.total = torch.tensor(self.sums[0])
            loss_tracker.count = float(self.count)
            if len(self.sums) > 1:
                names = [self.runner.names[i] for i in self.runner.loss.active]
                for name, total in zip(names, self.sums[1:]):
                    logs[f"{name}_loss"] = total / self.count
        for name, value in self.runner.metrics.results().items():
            logs[name] = float(value)
        return logs


@contextmanager
def _mode(model: Any, training: bool) -> Iterator[None]:
    """Put every module in train or eval mode, and restore each one's mode afterwards."""
    modules = list(model.modules())
    previous = [m.training for m in modules]
    model.train(training)
    try:
        yield
    finally:
        for module, mode in zip(modules, previous):
            module.training = mode
