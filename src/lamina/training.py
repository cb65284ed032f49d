"""compile / fit / evaluate / predict: plain code around a torch loop.

`Model` methods forward here; every function takes the model first. The training step is the
loop a PyTorch user would write: batches are slices of tensors already on the device, the
loss is computed in torch, `zero_grad(set_to_none=True)`, `backward()`, `step()`. Losses and
metrics stay tensors and are read (one host synchronisation) only when the progress bar
redraws, every `READ_EVERY` batches (to catch a NaN loss early), when a callback asks for
batch logs, and at the end of each epoch.

Denormal floats are flushed to zero for the duration of `fit`, `evaluate` and `predict` (see
`lamina.flush`), which makes CPU training several times faster; the previous state is
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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from lamina import callbacks as callbacks_module
from lamina import optimizers as optimizers_module
from lamina.compile_utils import (
    CompiledLoss,
    CompiledMetrics,
    deserialize_loss,
    deserialize_metrics,
    flat_targets,
    serialize_loss,
)
from lamina.data_adapter import DataHandler, is_stream, num_samples, to_tensors, unpack
from lamina.flush import flush_denormal
from lamina.progress import Progress, resolve_verbose
from lamina.tensor import flatten, map_structure

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

READ_EVERY = 32
"""Batches between two reads of the running loss when nothing else asks for it."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message says at which epoch and batch."""


# ---------------------------------------------------------------------------- compile
def compile(
    model: Any,
    optimizer: Any = "rmsprop",
    loss: Any = None,
    metrics: Any = None,
    loss_weights: Any = None,
    *,
    weighted_metrics: Any = None,
    run_eagerly: bool | None = None,
    jit_compile: bool | str | None = None,
) -> None:
    """Configure the model for training.

    Args:
        model: the model.
        optimizer: a name (`"adam"`, `"adamw"`, `"sgd"`, `"rmsprop"`, `"adagrad"`, ...), a
            `lamina.optimizers` object, or a `torch.optim` class or instance.
        loss: a name (`"mse"`, `"binary_crossentropy"`, ...), a `lamina.losses.Loss`, a
            function `(y_true, y_pred) -> tensor`, a list with one per output, or a dict by
            output name. `None` is allowed when the model has `add_loss` losses.
        metrics: metric names or objects (`["accuracy", "mae"]`); for several outputs, a list
            per output or a dict by output name. `"accuracy"` is resolved by shapes as in
            Keras.
        loss_weights: a weight per output (list or dict); the objective is the weighted sum.
        weighted_metrics: metrics that also receive `sample_weight` / `class_weight`.
        run_eagerly: accepted for Keras compatibility; lamina always runs eagerly.
        jit_compile: `None`, `False` or `"auto"`; compiling is not supported.

    After `compile`, `model.optimizer` is the optimizer (its `torch_optimizer` is built as
    soon as the model has weights), `model.loss` is the `loss` argument,
    `model.compiled_loss` / `model.compiled_metrics` hold the resolved objects, and
    `model._compile_config` is a JSON-compatible dict that `compile_from_config` accepts.
    """
    if jit_compile not in (None, False, "auto"):
        raise ValueError(
            f"Model '{model.name}': jit_compile={jit_compile!r} is not supported; lamina runs "
            "eagerly (call torch.compile on parts of your code if you need it)."
        )
    opt = optimizers_module.get(optimizer)
    compiled_loss = CompiledLoss(loss, loss_weights)
    compiled_metrics = CompiledMetrics(metrics, weighted_metrics)
    if model.built and getattr(model, "_functional", False):
        compiled_loss.build(model)  # output names known: check a loss dict's keys now
    if model.built and not opt.built:
        params = model.trainable_weights
        if params:
            opt.build(params)
    model.optimizer = opt
    model.loss = loss
    model.loss_weights = loss_weights
    model.compiled_loss = compiled_loss
    model.compiled_metrics = compiled_metrics
    model.stop_training = False
    model._is_compiled = True
    model._compile_config = {
        "optimizer": optimizers_module.serialize(opt),
        "loss": serialize_loss(loss),
        "loss_weights": loss_weights,
        **compiled_metrics.get_config(),
    }


def compile_from_config(
    model: Any, config: dict[str, Any], *, custom_objects: dict[str, Any] | None = None
) -> None:
    """Compile `model` again from `model._compile_config` (as saved with the model).

    Args:
        model: the model.
        config: the dict `compile` stored in `_compile_config`.
        custom_objects: user losses, metrics or optimizer classes by name (registered ones
            are found without it).
    """
    compile(
        model,
        optimizer=optimizers_module.deserialize(config["optimizer"], custom_objects=custom_objects),
        loss=deserialize_loss(config.get("loss"), custom_objects),
        metrics=deserialize_metrics(config.get("metrics"), custom_objects),
        loss_weights=config.get("loss_weights"),
        weighted_metrics=deserialize_metrics(config.get("weighted_metrics"), custom_objects),
    )


def _require_compiled(model: Any, where: str) -> None:
    if not getattr(model, "_is_compiled", False):
        raise RuntimeError(
            f"Model '{model.name}': call compile() before {where}(), e.g. "
            "model.compile(optimizer='adam', loss='mse')."
        )


# ---------------------------------------------------------------------------- one step
class _Runner:
    """The per-batch work of one fit/evaluate call, with everything looked up once."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.optimizer: optimizers_module.Optimizer = model.optimizer
        self.loss: CompiledLoss = model.compiled_loss
        self.metrics: CompiledMetrics = model.compiled_metrics
        self.names: list[str] = []
        self.loss._checked = False  # check this call's targets against the outputs once

    def _prepare(self) -> None:
        if not self.loss.built:
            self.loss.build(self.model)
        self.names = self.loss.names

    def objective(
        self, x: Any, y: Any, weights: Any, *, training: bool
    ) -> tuple[torch.Tensor | None, list[torch.Tensor], list[Any], list[Any], list[Any]]:
        """Run the model; return the total loss, the per-output losses, and the flat
        targets, outputs and sample weights (for the metrics)."""
        outputs, extra = self.model.call_with_losses(x, training=training)
        if not self.names:
            self._prepare()
        names = self.names
        flat_out = [outputs] if isinstance(outputs, torch.Tensor) else flatten(outputs)
        if len(names) == 1 and not isinstance(y, (list, tuple, dict)):
            flat_y, flat_w = [y], [weights]
        else:
            flat_y = flat_targets(y, names)
            flat_w = flat_targets(weights, names, "sample_weight")
        total, parts = self.loss(flat_y, flat_out, flat_w)
        for value in extra:
            total = value if total is None else total + value
        if not self.metrics.built:
            self.metrics.build(names, flat_y, flat_out)
        return total, parts, flat_y, flat_out, flat_w

    def train(self, x: Any, y: Any, weights: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
        total, parts, flat_y, flat_out, flat_w = self.objective(x, y, weights, training=True)
        if total is None:
            raise ValueError(
                f"Model '{self.model.name}': nothing to minimize: compile() was given no loss "
                "and the model has no add_loss() losses. Pass loss= to compile()."
            )
        optimizer = self.optimizer
        if not optimizer.built:  # a model built lazily by its first call
            optimizer.build(self.model.trainable_weights)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        if self.metrics.metrics:
            self.metrics.update(flat_y, flat_out, flat_w)
        return total, parts

    def test(self, x: Any, y: Any, weights: Any) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        total, parts, flat_y, flat_out, flat_w = self.objective(x, y, weights, training=False)
        if self.metrics.metrics:
            self.metrics.update(flat_y, flat_out, flat_w)
        return total, parts


class _Tracker:
    """Running means of the loss (and per-output losses), kept as tensors until read."""

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner
        self.pending: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self.sums: list[float] = []
        self.count = 0
        self.first_bad: int | None = None
        self.seen = 0

    def add(self, total: torch.Tensor | None, parts: list[torch.Tensor], size: int) -> None:
        if total is None:
            return
        value = total.detach()
        if len(parts) > 1:
            value = torch.stack([value, *(p.detach() for p in parts)])
        self.pending.append(value)
        self.sizes.append(size)

    def _read(self) -> None:
        if not self.pending:
            return
        rows = torch.stack(self.pending).tolist()
        sizes = self.sizes
        for j, row in enumerate(rows):
            row = row if isinstance(row, list) else [row]
            if self.first_bad is None and not math.isfinite(row[0]):
                self.first_bad = self.seen + j
            if not self.sums:
                self.sums = [0.0] * len(row)
            for k, value in enumerate(row):
                self.sums[k] += value * sizes[j]
            self.count += sizes[j]
        self.seen += len(rows)
        self.pending, self.sizes = [], []

    def logs(self) -> dict[str, float]:
        """The running means and metric results, as floats."""
        self._read()
        logs: dict[str, float] = {}
        if self.sums:
            logs["loss"] = self.sums[0] / self.count
            if len(self.sums) > 1:
                names = [self.runner.names[i] for i in self.runner.loss.active]
                for name, total in zip(names, self.sums[1:]):
                    logs[f"{name}_loss"] = total / self.count
        for name, value in self.runner.metrics.results().items():
            logs[name] = float(value)
        return logs


@contextmanager
def _mode(model: Any, training: bool) -> Iterator[None]:
    """Put every module in train or eval mode, and restore each one's mode afterwards."""
    modules = list(model.modules())
    previous = [m.training for m in modules]
    model.train(training)
    try:
        yield
    finally:
        for module, mode in zip(modules, previous):
            module.training = mode


# ---------------------------------------------------------------------------- fit
def fit(
    model: Any,
    x: Any = None,
    y: Any = None,
    *,
    batch_size: int | None = 32,
    epochs: int = 1,
    verbose: int | str = "auto",
    callbacks: list[callbacks_module.Callback] | None = None,
    validation_split: float = 0.0,
    validation_data: Any = None,
    shuffle: bool | str = True,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    class_weight: dict[int, float] | None = None,
    sample_weight: Any = None,
    validation_steps: int | None = None,
    validation_batch_size: int | None = None,
    validation_freq: int = 1,
) -> callbacks_module.History:
    """Train the model for `epochs` epochs.

    Args:
        model: a compiled model.
        x: inputs: an array or tensor, a list/dict of them (one per input), a torch
            `Dataset` or `DataLoader`, or a generator yielding `(x, y)` /
            `(x, y, sample_weight)` batches.
        y: targets, shaped like the outputs (arrays only; loaders yield their own).
        batch_size: samples per batch (arrays and datasets).
        epochs: the index of the last epoch (training runs `initial_epoch..epochs-1`).
        verbose: 0 silent, 1 a live bar per epoch, 2 a line per epoch, `"auto"` 1 on a
            terminal and 2 otherwise.
        callbacks: `lamina.callbacks.Callback` objects.
        validation_split: the fraction of the arrays, taken from their end before
            shuffling, held out for validation.
        validation_data: `(x_val, y_val)`, `(x_val, y_val, sample_weight)`, or a
            loader/generator; evaluated at the end of each epoch into `val_*` logs.
        shuffle: shuffle arrays each epoch (`"batch"`: only the order of batches).
        initial_epoch: the epoch to start at (to resume training).
        steps_per_epoch: batches per epoch (default: one pass over the data; required for
            an endless generator).
        class_weight: `{class: weight}` weighting each sample's loss by its label.
        sample_weight: a weight per sample (an array of length N).
        validation_steps: batches per validation (default: all).
        validation_batch_size: batch size for validation (default `batch_size`).
        validation_freq: validate every this many epochs.

    Returns:
        A `History` whose `history` maps each log key to its per-epoch values.

    Raises:
        RuntimeError: if the model is not compiled.
        ValueError: if x and y hold different numbers of samples, or a target's shape does
            not fit its output.
        NonFiniteLossError: if the loss becomes NaN or infinite (unless a `TerminateOnNaN`
            callback is given, which stops training quietly instead).
    """
    _require_compiled(model, "fit")
    verbose = resolve_verbose(verbose, where="fit")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), received {validation_split}.")
    if class_weight is not None and sample_weight is not None:
        raise ValueError("fit: pass class_weight or sample_weight, not both (Keras's rule).")
    data = DataHandler(
        model,
        x,
        y,
        sample_weight,
        batch_size=batch_size,
        shuffle=shuffle,
        steps=steps_per_epoch,
        class_weight=class_weight,
        where="fit",
    )
    val_data: DataHandler | None = None
    if validation_data is not None:
        val_data = _validation_handler(
            model, validation_data, validation_batch_size or batch_size, validation_steps
        )
    elif validation_split:
        val_data = data.split(validation_split)
    history = callbacks_module.History()
    history.model = model
    user_callbacks = list(callbacks or [])
    params = {"verbose": verbose, "epochs": epochs, "steps": data.steps}
    callback_list = callbacks_module.CallbackList(
        [*user_callbacks, history], model=model, params=params
    )
    history.params = params
    quiet_nan = any(isinstance(c, callbacks_module.TerminateOnNaN) for c in user_callbacks)
    runner = _Runner(model)
    model.stop_training = False
    model.history = history
    with flush_denormal(), _mode(model, True):
        callback_list.call("on_train_begin", None)
        logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            model.compiled_metrics.reset()
            callback_list.call("on_epoch_begin", epoch, None)
            progress = Progress(verbose=verbose, target=data.steps)
            progress.epoch_begin(epoch, epochs)
            try:
                tracker, steps_done = _train_epoch(
                    runner, data, callback_list, progress, epoch, epochs, quiet_nan
                )
            except BaseException:
                progress.close()
                raise
            if steps_done == 0:
                progress.close()
                warnings.warn(
                    f"fit: the input ran out of data at epoch {epoch + 1}; training stops. "
                    "Pass steps_per_epoch= with a generator, or a re-iterable DataLoader.",
                    stacklevel=2,
                )
                break
            logs = tracker.logs()
            if not quiet_nan:
                _check_finite(model, tracker, epoch, epochs, data.steps)
            if val_data is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                with _mode(model, False):
                    val_logs = _test_loop(
                        runner, val_data, callback_list, Progress(verbose=0, target=None)
                    )
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.call("on_epoch_end", epoch, logs)
            progress.finish(steps_done, logs)
            if model.stop_training:
                break
        callback_list.call("on_train_end", logs)
    return history


def _train_epoch(
    runner: _Runner,
    data: DataHandler,
    callback_list: callbacks_module.CallbackList,
    progress: Progress,
    epoch: int,
    epochs: int,
    quiet_nan: bool,
) -> tuple[_Tracker, int]:
    model = runner.model
    tracker = _Tracker(runner)
    hooks = callback_list.train_batch_hooks
    step = 0
    for step, (bx, by, bw, size) in enumerate(data.epoch(), start=1):
        if hooks:
            callback_list.batch(hooks, "on_train_batch_begin", step - 1, {})
        total, parts = runner.train(bx, by, bw)
        tracker.add(total, parts, size)
        if hooks:
            callback_list.batch(hooks, "on_train_batch_end", step - 1, tracker.logs())
        if progress.due():
            progress.update(step, tracker.logs())
        elif step % READ_EVERY == 0:
            tracker._read()
        if not quiet_nan and tracker.first_bad is not None:
            _check_finite(model, tracker, epoch, epochs, data.steps)
        if model.stop_training:
            break
    return tracker, step


def _check_finite(
    model: Any, tracker: _Tracker, epoch: int, epochs: int, steps: int | None
) -> None:
    tracker._read()
    if tracker.first_bad is None:
        return
    total = f"/{steps}" if steps else ""
    raise NonFiniteLossError(
        f"Model '{model.name}': the loss became NaN or infinite at epoch {epoch + 1}/{epochs}, "
        f"batch {tracker.first_bad + 1}{total} (counting from 1). Common causes: a learning "
        "rate too high (try 10x lower), a log or division of 0 in a loss or Lambda, or "
        "probabilities given to a loss that expects logits (from_logits=). To stop quietly "
        "instead, pass callbacks=[lamina.callbacks.TerminateOnNaN()]."
    )


def _validation_handler(
    model: Any, validation_data: Any, batch_size: int | None, steps: int | None
) -> DataHandler:
    if is_stream(validation_data):
        return DataHandler(
            model,
            validation_data,
            batch_size=batch_size,
            steps=steps,
            where="fit's validation_data",
        )
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "fit: validation_data must be (x_val, y_val), (x_val, y_val, sample_weight), a "
            f"DataLoader or a generator; received {type(validation_data).__name__}."
        )
    vx, vy, vw = unpack(tuple(validation_data))
    return DataHandler(
        model, vx, vy, vw, batch_size=batch_size, steps=steps, where="fit's validation_data"
    )


# ---------------------------------------------------------------------------- evaluate
def _test_loop(
    runner: _Runner,
    data: DataHandler,
    callback_list: callbacks_module.CallbackList,
    progress: Progress,
) -> dict[str, float]:
    runner.metrics.reset()
    tracker = _Tracker(runner)
    hooks = callback_list.test_batch_hooks
    callback_list.call("on_test_begin", None)
    progress.start()
    step = 0
    try:
        with torch.no_grad():
            for step, (bx, by, bw, size) in enumerate(data.epoch(), start=1):
                if hooks:
                    callback_list.batch(hooks, "on_test_batch_begin", step - 1, {})
                total, parts = runner.test(bx, by, bw)
                tracker.add(total, parts, size)
                if hooks:
                    callback_list.batch(hooks, "on_test_batch_end", step - 1, tracker.logs())
                if progress.due():
                    progress.update(step, tracker.logs())
    except BaseException:
        progress.close()
        raise
    logs = tracker.logs()
    callback_list.call("on_test_end", logs)
    progress.finish(step, logs)
    return logs


def evaluate(
    model: Any,
    x: Any = None,
    y: Any = None,
    *,
    batch_size: int | None = 32,
    verbose: int | str = "auto",
    sample_weight: Any = None,
    steps: int | None = None,
    callbacks: list[callbacks_module.Callback] | None = None,
    return_dict: bool = False,
) -> Any:
    """The loss (and metrics) of the model on data, in inference mode.

    Args:
        model: a compiled model.
        x, y, sample_weight: as in `fit`.
        batch_size: samples per batch.
        verbose: as in `fit` (one bar or line for the whole evaluation).
        steps: batches to evaluate (default: all).
        callbacks: callbacks receiving the `on_test_*` hooks.
        return_dict: return `{"loss": ..., metric: ...}` instead of a list.

    Returns:
        The loss as a float when there are no metrics, else `[loss, *metrics]`, or a dict.
    """
    _require_compiled(model, "evaluate")
    verbose = resolve_verbose(verbose, where="evaluate")
    data = DataHandler(
        model, x, y, sample_weight, batch_size=batch_size, steps=steps, where="evaluate"
    )
    callback_list = callbacks_module.CallbackList(
        callbacks, model=model, params={"verbose": verbose, "steps": data.steps}
    )
    with flush_denormal(), _mode(model, False):
        logs = _test_loop(
            _Runner(model), data, callback_list, Progress(verbose=verbose, target=data.steps)
        )
    return _logs_result(logs, return_dict)


def _logs_result(logs: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


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
    runner = _Runner(model)
    runner.metrics.reset()
    tracker = _Tracker(runner)
    with flush_denormal(), _mode(model, True):
        bx, by, bw, size = next(data.epoch())
        tracker.add(*runner.train(bx, by, bw), size)
    return _logs_result(tracker.logs(), return_dict)


def test_on_batch(
    model: Any, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
) -> Any:
    """The loss (and metrics) on one batch, in inference mode, without updating weights."""
    _require_compiled(model, "test_on_batch")
    data = DataHandler(model, x, y, sample_weight, batch_size=1 << 62, where="test_on_batch")
    runner = _Runner(model)
    runner.metrics.reset()
    tracker = _Tracker(runner)
    with flush_denormal(), _mode(model, False), torch.no_grad():
        bx, by, bw, size = next(data.epoch())
        tracker.add(*runner.test(bx, by, bw), size)
    return _logs_result(tracker.logs(), return_dict)


# ---------------------------------------------------------------------------- predict
def predict(
    model: Any,
    x: Any,
    *,
    batch_size: int | None = 32,
    verbose: int | str = "auto",
    steps: int | None = None,
    callbacks: list[callbacks_module.Callback] | None = None,
) -> Any:
    """Run `model` on `x` in batches, in inference mode, without gradients.

    Args:
        model: the model (it need not be compiled).
        x: an array or tensor, a list/dict of them (one per input), a `Dataset`,
            `DataLoader` or generator (batches may be `x` or `(x, y)`; `y` is ignored).
        batch_size: samples per batch.
        verbose: 0 silent, 1 a live bar, 2 one line at the end, `"auto"` as in `fit`.
        steps: batches to run (default: all).
        callbacks: callbacks receiving the `on_predict_*` hooks.

    Returns:
        numpy arrays in the structure of the model's outputs.
    """
    verbose = resolve_verbose(verbose, where="predict")
    data = DataHandler(model, x, batch_size=batch_size, steps=steps, where="predict")
    callback_list = callbacks_module.CallbackList(
        callbacks, model=model, params={"verbose": verbose, "steps": data.steps}
    )
    hooks = callback_list.predict_batch_hooks
    progress = Progress(verbose=verbose, target=data.steps)
    batches: list[Any] = []
    with flush_denormal(), _mode(model, False):
        callback_list.call("on_predict_begin", None)
        progress.start()
        try:
            with torch.inference_mode():
                for step, (bx, _, _, _) in enumerate(data.epoch(), start=1):
                    if hooks:
                        callback_list.batch(hooks, "on_predict_batch_begin", step - 1, {})
                    outputs = model(bx, training=False)
                    batches.append(outputs)
                    if hooks:
                        callback_list.batch(
                            hooks, "on_predict_batch_end", step - 1, {"outputs": outputs}
                        )
                    if progress.due():
                        progress.update(step, {})
        except BaseException:
            progress.close()
            raise
        callback_list.call("on_predict_end", None)
        progress.finish(len(batches), {})
    if not batches:
        raise ValueError(f"Model '{model.name}': predict received no samples.")
    leaves = [flatten(b) for b in batches]
    merged = [torch.cat([b[i] for b in leaves]).cpu().numpy() for i in range(len(leaves[0]))]
    it = iter(merged)
    return map_structure(lambda _: next(it), batches[0])
