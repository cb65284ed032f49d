"""compile / fit / evaluate / predict: plain code around a torch loop.

`Model` methods forward here; every function takes the model first. The training step is the
loop a PyTorch user would write: batches are slices of tensors already on the device, the
loss is computed in torch, `zero_grad(set_to_none=True)`, `backward()`, `step()`. Losses and
metrics stay tensors and are read (one host synchronisation) only when the progress bar
redraws, every `READ_EVERY` batches (to catch a NaN loss early), when a callback asks for
batch logs, and at the end of each epoch.

Denormal floats are flushed to zero for the duration of `fit`, `evaluate` and `predict` (see
`lamina.training.flush`), which makes CPU training several times faster; the previous state is
restored afterwards.

Example:
    >>> import numpy as np
    >>> from lamina import Input, Model
    >>> from lamina.layers import Dense
    >>> from lamina.utils import set_random_seed
    >>> set_random_seed(0)
    >>> x = Input(shape=(3,)); model = Model(x, Dense(1)(x))
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> data = np.random.rand(64, 3).astype("float32"); target = data.sum(1, keepdims=True)
    >>> history = model.fit(data, target, epochs=20, batch_size=16, verbose=0)
    >>> history.history["loss"][-1] < history.history["loss"][0]
    True

The package holds `compiling` (`compile`, `compile_from_config`), `steps` (the per-batch work
and running means shared by every loop), `loops` (`fit`, `evaluate`, `predict`) and
`on_batch` (`train_on_batch`, `test_on_batch`); this module re-exports them.
"""

from __future__ import annotations

from lamina.training.compiling import compile as compile
from lamina.training.compiling import compile_from_config as compile_from_config
from lamina.training.data_adapter import num_samples as num_samples
from lamina.training.data_adapter import to_tensors as to_tensors
from lamina.training.loops import READ_EVERY as READ_EVERY
from lamina.training.loops import NonFiniteLossError as NonFiniteLossError
from lamina.training.loops import evaluate as evaluate
from lamina.training.loops import fit as fit
from lamina.training.loops import predict as predict
from lamina.training.on_batch import test_on_batch as test_on_batch
from lamina.training.on_batch import train_on_batch as train_on_batch

__all__ = [
    "NonFiniteLossError",
    "compile",
    "compile_from_config",
    "evaluate",
    "fit",
    "num_samples",
    "predict",
    "test_on_batch",
    "to_tensors",
    "train_on_batch",
]
