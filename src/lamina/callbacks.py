"""Callbacks: Keras's hooks into `fit`, `evaluate` and `predict`, and the usual ones.

A callback overrides any of `on_{train,test,predict}_{begin,end}`, `on_epoch_{begin,end}` and
`on_{train,test,predict}_batch_{begin,end}` (`on_batch_*` are aliases of the train-batch
hooks). `self.model` is the model and `self.params` holds `epochs`, `steps` and `verbose`.
Setting `self.model.stop_training = True` ends `fit` after the current batch.

Logs passed to the hooks are Python floats. `fit` only computes them per batch when some
callback overrides a batch hook, so the training loop stays free of host synchronisation
otherwise; epoch logs (`loss`, metrics, `val_*`) are always computed.

Example:
    >>> import numpy as np
    >>> from lamina import Input, Model, callbacks
    >>> from lamina.layers import Dense
    >>> x = Input(shape=(1,)); model = Model(x, Dense(1)(x))
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    >>> history = model.fit(np.ones((8, 1)), np.ones((8, 1)), epochs=5, verbose=0,
    ...                     callbacks=[stop])
    >>> len(history.history["loss"])  # the second epoch did not improve by 10
    2
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import numpy as np

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]

Logs = dict[str, Any]

_BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class Callback:
    """Base class of callbacks; every hook does nothing by default."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_test_begin(self, logs: Logs | None = None) -> None: ...
    def on_test_end(self, logs: Logs | None = None) -> None: ...
    def on_predict_begin(self, logs: Logs | None = None) -> None: ...
    def on_predict_end(self, logs: Logs | None = None) -> None: ...

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def _overrides(self, *hooks: str) -> bool:
        return any(getattr(type(self), h) is not getattr(Callback, h) for h in hooks)


class CallbackList:
    """The callbacks of one `fit`/`evaluate`/`predict` call, called in order."""

    def __init__(
        self, callbacks: Iterable[Callback] | None, *, model: Any, params: dict[str, Any]
    ) -> None:
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks: expected lamina.callbacks.Callback objects, received "
                    f"{type(callback).__name__} ({callback!r})."
                )
            callback.set_model(model)
            callback.set_params(params)
        names = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")
        self.train_batch_hooks = [c for c in self.callbacks if c._overrides(*names)]
        self.test_batch_hooks = [
            c for c in self.callbacks if c._overrides("on_test_batch_begin", "on_test_batch_end")
        ]
        self.predict_batch_hooks = [
            c
            for c in self.callbacks
            if c._overrides("on_predict_batch_begin", "on_predict_batch_end")
        ]

    def call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def batch(self, hooks: list[Callback], hook: str, batch: int, logs: Logs) -> None:
        for callback in hooks:
            getattr(callback, hook)(batch, logs)


class History(Callback):
    """Records the epoch logs; `fit` returns it.

    Attributes:
        history: a dict from each log key (`loss`, `val_loss`, metrics) to its values, one
            per epoch.
        epoch: the epoch indices run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _monitor_op(owner: str, monitor: str, mode: str, model: Any) -> Callable[[float, float], bool]:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', received {mode!r}.")
    if mode == "auto":
        name = monitor.removeprefix("val_")
        directions = {m.name: m.direction for m in getattr(model, "metrics_objects", lambda: [])()}
        if name in directions:
            mode = "max" if directions[name] == "up" else "min"
        elif name == "loss" or name.endswith("_loss"):
            mode = "min"
        elif any(key in name for key in ("acc", "auc", "precision", "recall")):
            mode = "max"
        else:
            mode = "min"
    return np.greater if mode == "max" else np.less  # type: ignore[return-value]


def _missing_monitor(owner: str, monitor: str, logs: Logs) -> None:
    warnings.warn(
        f"{owner} monitors '{monitor}', which is not in the logs; available: "
        f"{', '.join(logs) or 'none'}. Pass monitor= one of those (val_* needs validation "
        "data).",
        stacklevel=3,
    )


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


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) after epochs, optionally only when improved.

    Args:
        filepath: where to save; may hold `{epoch}` and log keys as format fields
            (`"ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"`; epochs count from 1).
        monitor: the log key compared when `save_best_only`.
        verbose: 1 to print each save.
        save_best_only: save only when `monitor` improves on the best so far.
        save_weights_only: save with `model.save_weights` (a `.safetensors` file) rather
            than `model.save`.
        mode: `"min"`, `"max"` or `"auto"`.
        save_freq: `"epoch"`, or a number of batches between saves.
        initial_value_threshold: the value `monitor` must beat for the first save.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(
                f"ModelCheckpoint: save_freq must be 'epoch' or a positive int, received "
                f"{save_freq!r}."
            )
        self.filepath = os.fspath(filepath)
        from lamina.saving.model_io import check_suffix

        check_suffix(self.filepath, weights_only=save_weights_only)  # now, not after an epoch
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.monitor_op: Callable[[float, float], bool] | None = None
        self.best: float | None = initial_value_threshold
        self._batches_seen = 0
        self._epoch = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.monitor_op = _monitor_op("ModelCheckpoint", self.monitor, self.mode, self.model)
        if self.best is None:
            self.best = -math.inf if self.monitor_op is np.greater else math.inf

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % int(self.save_freq) == 0:
            self._save(self._epoch, logs or {}, batch=batch)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, logs or {})

    def _save(self, epoch: int, logs: Logs, batch: int | None = None) -> None:
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except KeyError as error:
            raise KeyError(
                f"ModelCheckpoint: filepath {self.filepath!r} names {error}, which is not in "
                f"the logs; available: epoch, batch, {', '.join(logs)}."
            ) from error
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                _missing_monitor("ModelCheckpoint", self.monitor, logs)
                return
            assert self.monitor_op is not None and self.best is not None
            if not self.monitor_op(current, self.best):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


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


class TerminateOnNaN(Callback):
    """Stop training quietly when the loss becomes NaN or infinite (instead of `fit`'s
    error)."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file: a header, then one row per epoch.

    Args:
        filename: the CSV file.
        separator: the column separator.
        append: append to an existing file (without repeating the header) instead of
            overwriting it.
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file: TextIO | None = None
        self._writer: Any = None
        self._append_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.append:
            self._append_header = not (
                os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
            )
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            assert self._file is not None
            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch", *self.keys], delimiter=self.sep
            )
            if self._append_header:
                self._writer.writeheader()
        row = {"epoch": epoch, **{k: _csv_value(logs.get(k, "NA")) for k in self.keys}}
        self._writer.writerow(row)
        assert self._file is not None
        self._file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._writer = None


def _csv_value(value: Any) -> Any:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return value
    return f'"[{", ".join(str(v) for v in value)}]"'


class LambdaCallback(Callback):
    """A callback from plain functions, each optional.

    Args:
        on_epoch_begin, on_epoch_end: `(epoch, logs)`.
        on_train_begin, on_train_end: `(logs)`.
        on_train_batch_begin, on_train_batch_end: `(batch, logs)`.
        **kwargs: any other hook by name (`on_test_end=...`, `on_batch_end=...`).

    Example:
        >>> from lamina.callbacks import LambdaCallback
        >>> seen = []
        >>> callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            **kwargs,
        }
        for name, fn in hooks.items():
            if not hasattr(Callback, name) or not name.startswith("on_"):
                raise ValueError(
                    f"LambdaCallback: unknown hook {name!r}; hooks are "
                    f"{', '.join(h for h in dir(Callback) if h.startswith('on_'))}."
                )
            if fn is not None:
                setattr(self, name, fn)

    def _overrides(self, *hooks: str) -> bool:
        return any(h in vars(self) for h in hooks)
