"""`Callback`, the base class with every hook; `CallbackList`, which calls them; `History`,
`LambdaCallback`; and the monitor helpers the callbacks that watch a metric share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from lamina.core.errors import warn

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
    return np.greater if mode == "max" else np.less


def _missing_monitor(owner: str, monitor: str, logs: Logs) -> None:
    warn(
        f"{owner} monitors '{monitor}', which is not in the logs; available: "
        f"{', '.join(logs) or 'none'}. Pass monitor= one of those (val_* needs validation "
        "data).",
    )
