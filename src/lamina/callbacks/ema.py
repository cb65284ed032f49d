"""`SwapEMAWeights`: evaluate (and save) with the optimizer's moving averages of the weights."""

from __future__ import annotations

from typing import Any

from lamina.callbacks.callback import Callback, Logs


class SwapEMAWeights(Callback):
    """Swap the optimizer's exponential moving averages of the weights into the model for
    evaluation and prediction (and, with `swap_on_epoch`, at the end of each epoch), then
    swap the trained weights back.

    Needs an optimizer made with `use_ema=True`. In `fit`, validation then runs on the
    averaged weights; with `swap_on_epoch=True` the callbacks after this one in the list
    (put `ModelCheckpoint` there) see the averaged weights at the end of each epoch, and
    the trained weights come back at the start of the next. After the last epoch the model
    keeps the averages, as `fit` does with `use_ema` anyway.

    Args:
        swap_on_epoch: also swap at the end of each epoch, for the callbacks that follow.

    Example:
        >>> import numpy as np
        >>> from lamina import Input, Model, callbacks, optimizers
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(2,)); model = Model(x, Dense(1)(x))
        >>> model.compile(optimizer=optimizers.SGD(use_ema=True), loss="mse")
        >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
        ...                     validation_split=0.25, callbacks=[callbacks.SwapEMAWeights()])
        >>> sorted(history.history)
        ['loss', 'val_loss']
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self) -> Any:
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                f"SwapEMAWeights needs an optimizer with use_ema=True; model "
                f"'{self.model.name}' has {type(optimizer).__name__} with use_ema="
                f"{getattr(optimizer, 'use_ema', False)}. Compile with e.g. "
                "lamina.optimizers.Adam(use_ema=True)."
            )
        return optimizer

    def _swap(self, ema_in_model: bool) -> None:
        if self._ema_weights_in_model != ema_in_model:
            self._optimizer()._swap_ema_weights()
            self._ema_weights_in_model = ema_in_model

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch:
            self._swap(False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap(True)
            if epoch == self.params.get("epochs", 0) - 1:
                # fit ends by writing the averages into the weights: let them be these.
                optimizer = self._optimizer()
                optimizer._ema = [p.detach().clone() for p in optimizer._params]

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._swap(True)

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._swap(False)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._swap(True)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        # Keras 3.15 leaves the averages in after predict (its check is inverted); lamina
        # restores the trained weights, as it does after evaluate.
        self._swap(False)
