"""`train_on_batch` and `test_on_batch`: one batch, no loop.

The metrics are reset first, so a result describes that batch only (Keras 2's default).
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.training.data_adapter import DataHandler
from lamina.training.flush import flush_denormal
from lamina.training.loops import _logs_result, _require_compiled
from lamina.training.steps import _mode, runner_for


def train_on_batch(
    model: Any,
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    class_weight: dict[int, float] | None = None,
    return_dict: bool = False,
) -> Any:
    """One gradient step on one batch; returns that batch's loss (and metrics).

    Metrics are reset first, so the result describes this batch only (Keras 2's default).
    """
    _require_compiled(model, "train_on_batch")
    data = DataHandler(
        model,
        x,
        y,
        sample_weight,
        batch_size=1 << 62,
        class_weight=class_weight,
        where="train_on_batch",
    )
    runner = runner_for(model, "train_step")
    runner.reset()
    tracker = runner.tracker()
    with flush_denormal(), _mode(model, True):
        bx, by, bw, size = next(data.epoch())
        tracker.add(runner.train(bx, by, bw), size)  # type: ignore[arg-type]
    return _logs_result(model, tracker.logs(), return_dict)


def test_on_batch(
    model: Any, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
) -> Any:
    """The loss (and metrics) on one batch, in inference mode, without updating weights."""
    _require_compiled(model, "test_on_batch")
    data = DataHandler(model, x, y, sample_weight, batch_size=1 << 62, where="test_on_batch")
    runner = runner_for(model, "test_step")
    runner.reset()
    tracker = runner.tracker()
    with flush_denormal(), _mode(model, False), torch.no_grad():
        bx, by, bw, size = next(data.epoch())
        tracker.add(runner.test(bx, by, bw), size)  # type: ignore[arg-type]
    return _logs_result(model, tracker.logs(), return_dict)
