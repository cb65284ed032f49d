"""Callbacks that set the learning rate: `ReduceLROnPlateau` and `LearningRateScheduler`."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lamina.callbacks.callback import Callback, Logs, _missing_monitor, _monitor_op


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when a quantity stops improving.

    Args:
        monitor: the log key to watch.
        factor: the factor (< 1) applied to the learning rate.
        patience: epochs without improvement before reducing.
        verbose: 1 to print each reduction.
        mode: `"min"`, `"max"` or `"auto"`.
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, received {factor}.")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.wait = 0
        self.cooldown_counter = 0
        self.monitor_op: Callable[[float, float], bool] | None = None
        self.best = math.inf

    def on_train_begin(self, logs: Logs | None = None) -> None:
        op = _monitor_op("ReduceLROnPlateau", self.monitor, self.mode, self.model)
        if op is np.greater:
            self.monitor_op = lambda a, b: bool(np.greater(a, b + self.min_delta))
            self.best = -math.inf
        else:
            self.monitor_op = lambda a, b: bool(np.less(a, b - self.min_delta))
            self.best = math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            _missing_monitor("ReduceLROnPlateau", self.monitor, logs)
            return
        assert self.monitor_op is not None
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(
                            f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from `schedule(epoch, lr)`.

    Args:
        schedule: `(epoch, lr) -> new lr` (epochs count from 0), or `epoch -> lr`.
        verbose: 1 to print each change.

    Example:
        >>> from lamina.callbacks import LearningRateScheduler
        >>> halve = LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # a one-argument schedule, as Keras also allows
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError(
                f"LearningRateScheduler: the schedule returned {lr!r} for epoch {epoch}; "
                "expected a number."
            )
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
