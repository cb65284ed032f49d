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

from lamina.callbacks.backup import BackupAndRestore as BackupAndRestore
from lamina.callbacks.callback import Callback as Callback
from lamina.callbacks.callback import CallbackList as CallbackList
from lamina.callbacks.callback import History as History
from lamina.callbacks.callback import LambdaCallback as LambdaCallback
from lamina.callbacks.ema import SwapEMAWeights as SwapEMAWeights
from lamina.callbacks.files import CSVLogger as CSVLogger
from lamina.callbacks.files import ModelCheckpoint as ModelCheckpoint
from lamina.callbacks.learning_rate import LearningRateScheduler as LearningRateScheduler
from lamina.callbacks.learning_rate import ReduceLROnPlateau as ReduceLROnPlateau
from lamina.callbacks.progbar import ProgbarLogger as ProgbarLogger
from lamina.callbacks.stopping import EarlyStopping as EarlyStopping
from lamina.callbacks.stopping import TerminateOnNaN as TerminateOnNaN
from lamina.callbacks.tensorboard import TensorBoard as TensorBoard

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
]
