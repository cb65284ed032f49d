"""`ProgbarLogger`: Keras's progress-bar callback, for code that passes one to `fit`."""

from __future__ import annotations

from typing import Any

from lamina.callbacks.callback import Callback, Logs


class ProgbarLogger(Callback):
    """Print `fit`'s progress bar and epoch lines, at `fit`'s `verbose` level (0 prints
    nothing). `fit` draws its own bar otherwise; given this callback, it leaves the bar to it,
    so no line is printed twice.

    Example:
        >>> import numpy as np
        >>> from lamina import Input, Model, callbacks
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(2,)); model = Model(x, Dense(1)(x))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0,
        ...               callbacks=[callbacks.ProgbarLogger()])
    """

    def __init__(self) -> None:
        super().__init__()
        self._progress: Any = None
        self._steps = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        from lamina.training.progress import Progress

        self._progress = Progress(
            verbose=self.params.get("verbose", 1), target=self.params.get("steps")
        )
        self._progress.epoch_begin(epoch, int(self.params.get("epochs", epoch + 1)))
        self._steps = 0

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._steps = batch + 1
        if self._progress is not None and self._progress.due():
            self._progress.update(self._steps, logs or {})

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._progress is not None:
            self._progress.finish(self._steps, logs or {})
            self._progress = None
