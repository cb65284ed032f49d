"""Callbacks that write files: `ModelCheckpoint` and `CSVLogger`."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import numpy as np

from lamina.callbacks.callback import Callback, Logs, _missing_monitor, _monitor_op


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
        from lamina.saving.model_saver import check_suffix

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
            # Keras counts both from 1 in file names.
            batch_number = None if batch is None else batch + 1
            path = self.filepath.format(epoch=epoch + 1, batch=batch_number, **logs)
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
            # As Keras: with no validation yet, keep columns for it, in case validation
            # starts at a later epoch (validation_freq); they read "NA" until then.
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
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
