"""Callbacks that end training: `EarlyStopping` and `TerminateOnNaN`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lamina.callbacks.callback import Callback, Logs, _missing_monitor, _monitor_op


class EarlyStopping(Callback):
    """Stop training when a monitored quantity stops improving.

    Args:
        monitor: the log key to watch (`"val_loss"`, `"loss"`, `"val_accuracy"`, ...).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 to print when stopping.
        mode: `"min"`, `"max"`, or `"auto"` (from the metric's direction or name).
        baseline: a value the quantity must beat; training stops after `patience` epochs
            that do not.
        restore_best_weights: at the end of training, load the weights of the best epoch.
        start_from_epoch: epochs to wait before monitoring.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op: Callable[[float, float], bool] | None = None
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights: list[Any] | None = None
        self.best_epoch = 0
        self.monitor_op = None

    def _improved(self, current: float, reference: float) -> bool:
        assert self.monitor_op is not None
        delta = self.min_delta if self.monitor_op is np.greater else -self.min_delta
        return bool(self.monitor_op(current - delta, reference))

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.monitor_op is None:
            self.monitor_op = _monitor_op("EarlyStopping", self.monitor, self.mode, self.model)
            self.best = -math.inf if self.monitor_op is np.greater else math.inf
        current = logs.get(self.monitor)
        if current is None:
            _missing_monitor("EarlyStopping", self.monitor, logs)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_weights(self.model)
            self.best_epoch = epoch
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _copy_weights(self.model)
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


def _copy_weights(model: Any) -> list[np.ndarray]:
    # Copies: a CPU model's get_weights() arrays may share memory with its parameters, and
    # the best weights must not follow later training steps.
    return [np.array(w, copy=True) for w in model.get_weights()]


class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite (instead of `fit`'s error).

    Args:
        raise_error: raise a `RuntimeError` at once (other callbacks' `on_train_end` then
            does not run) instead of stopping quietly after this batch.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"TerminateOnNaN: the loss is {loss} at batch {batch} (counting from 0); "
                    "training stops. Lower the learning rate or check the loss's inputs."
                )
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
