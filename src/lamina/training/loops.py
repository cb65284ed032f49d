"""`fit`, `evaluate` and `predict`: plain loops over batches.

Each loop wraps its batches in callbacks, a progress bar, train or eval mode and flushed
denormals; the per-batch work is `steps._Runner`, the running means `steps._Tracker`. The
one-batch variants are in `on_batch.py`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from lamina import callbacks as callbacks_module
from lamina.core.errors import warn
from lamina.core.tensor import flatten, map_structure
from lamina.training import distributed, precision
from lamina.training.compiled import CompiledForward, forward_for
from lamina.training.custom_steps import StepRunner, StepTracker, overrides
from lamina.training.data_adapter import DataHandler, is_stream, unpack
from lamina.training.flush import flush_denormal
from lamina.training.progress import Progress, resolve_verbose
from lamina.training.steps import _mode, _Runner, _Tracker, runner_for

READ_EVERY = 32
"""Batches between two reads of the running loss when nothing else asks for it."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message says at which epoch and batch."""


def _require_compiled(model: Any, where: str) -> None:
    if model._compile_state is None:
        raise RuntimeError(
            f"Model '{model.name}': call compile() before {where}(), e.g. "
            "model.compile(optimizer='adam', loss='mse')."
        )


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
        batch_size: samples per batch (arrays and datasets); under `torchrun` the global
            batch, of which each rank takes `batch_size / world_size` (see
            `lamina.training.distributed`).
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
    parallel = distributed.active()
    shard = distributed.sharding(training=True) if parallel else None
    if parallel:
        callbacks = distributed.rank_zero_callbacks(list(callbacks or []))
        verbose = verbose if distributed.rank() == 0 else 0
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
        shard=shard,
    )
    val_data: DataHandler | None = None
    if validation_data is not None:
        val_data = _validation_handler(
            model,
            validation_data,
            validation_batch_size or batch_size,
            validation_steps,
            shard and shard.evaluation(),
        )
    elif validation_split:
        val_data = data.split(validation_split)
    history = callbacks_module.History()
    history.model = model
    user_callbacks = list(callbacks or [])
    params = {"verbose": verbose, "epochs": epochs, "steps": data.steps}
    # A ProgbarLogger of the user's own draws the bar instead of fit (as in Keras).
    has_bar = any(isinstance(c, callbacks_module.ProgbarLogger) for c in user_callbacks)
    bar_verbose = 0 if has_bar else verbose
    callback_list = callbacks_module.CallbackList(
        [*user_callbacks, history], model=model, params=params
    )
    history.params = params
    quiet_nan = any(isinstance(c, callbacks_module.TerminateOnNaN) for c in user_callbacks)
    runner = runner_for(model, "train_step")
    synced: Any = contextlib.nullcontext()
    if parallel and isinstance(runner, _Runner):
        runner.forward = distributed.wrap_forward(model)
    elif parallel:  # the model's own train_step: no forward of lamina's to wrap
        synced = distributed.averaged_gradients(model)
    val_runner = runner_for(model, "test_step") if val_data is not None else runner
    model.stop_training = False
    model.history = history
    with flush_denormal(), _mode(model, True), synced:
        model._initial_epoch = None
        callback_list.call("on_train_begin", None)
        # A callback that restored a backup (BackupAndRestore) says where to go on from.
        initial_epoch = model.__dict__.pop("_initial_epoch", None) or initial_epoch
        logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            runner.reset()
            callback_list.call("on_epoch_begin", epoch, None)
            progress = Progress(verbose=bar_verbose, target=data.steps)
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
                warn(
                    f"fit: the input ran out of data at epoch {epoch + 1}; training stops. "
                    "Pass steps_per_epoch= with a generator, or a re-iterable DataLoader.",
                )
                break
            logs = tracker.logs()
            if parallel:
                logs = distributed.reduce_logs(runner, tracker, model._device())
            if not quiet_nan:
                _check_finite(model, tracker, epoch, epochs, data.steps)
            if val_data is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                with _mode(model, False):
                    val_logs = _test_loop(
                        val_runner,
                        val_data,
                        callback_list,
                        Progress(verbose=0, target=None),
                        reduce=parallel,
                    )
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.call("on_epoch_end", epoch, logs)
            progress.finish(steps_done, logs)
            if model.stop_training:
                break
        if epochs > 0:  # with use_ema, the weights become their moving averages (Keras)
            finalize = getattr(model.optimizer, "finalize_variable_values", None)
            if finalize is not None:
                finalize(model.trainable_weights)
        callback_list.call("on_train_end", logs)
    model._compile_state.metrics_names = [k for k in logs if not k.startswith("val_")]
    return history


def _train_epoch(
    runner: _Runner | StepRunner,
    data: DataHandler,
    callback_list: callbacks_module.CallbackList,
    progress: Progress,
    epoch: int,
    epochs: int,
    quiet_nan: bool,
) -> tuple[_Tracker | StepTracker, int]:
    model = runner.model
    tracker = runner.tracker()
    hooks = callback_list.train_batch_hooks
    step = 0
    for step, (bx, by, bw, size) in enumerate(data.epoch(epoch), start=1):
        if hooks:
            callback_list.batch(hooks, "on_train_batch_begin", step - 1, {})
        tracker.add(runner.train(bx, by, bw), size)  # type: ignore[arg-type]
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
    model: Any, tracker: _Tracker | StepTracker, epoch: int, epochs: int, steps: int | None
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
    model: Any, validation_data: Any, batch_size: int | None, steps: int | None, shard: Any
) -> DataHandler:
    where = "fit's validation_data"
    if is_stream(validation_data):
        return DataHandler(
            model, validation_data, batch_size=batch_size, steps=steps, where=where, shard=shard
        )
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "fit: validation_data must be (x_val, y_val), (x_val, y_val, sample_weight), a "
            f"DataLoader or a generator; received {type(validation_data).__name__}."
        )
    vx, vy, vw = unpack(tuple(validation_data))
    return DataHandler(
        model, vx, vy, vw, batch_size=batch_size, steps=steps, where=where, shard=shard
    )


# ---------------------------------------------------------------------------- evaluate
def _test_loop(
    runner: _Runner | StepRunner,
    data: DataHandler,
    callback_list: callbacks_module.CallbackList,
    progress: Progress,
    *,
    reduce: bool = False,
) -> dict[str, float]:
    """One pass of `runner`'s test step over `data`; `reduce`: the logs are over the samples
    of every rank (under torchrun)."""
    runner.reset()
    tracker = runner.tracker()
    hooks = callback_list.test_batch_hooks
    callback_list.call("on_test_begin", None)
    progress.start()
    step = 0
    try:
        with torch.no_grad():
            for step, (bx, by, bw, size) in enumerate(data.epoch(), start=1):
                if hooks:
                    callback_list.batch(hooks, "on_test_batch_begin", step - 1, {})
                tracker.add(runner.test(bx, by, bw), size)  # type: ignore[arg-type]
                if hooks:
                    callback_list.batch(hooks, "on_test_batch_end", step - 1, tracker.logs())
                if progress.due():
                    progress.update(step, tracker.logs())
    except BaseException:
        progress.close()
        raise
    logs = tracker.logs()
    if reduce:
        logs = distributed.reduce_logs(runner, tracker, runner.model._device())
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
        Under `torchrun` the ranks share the samples and every rank gets the values over
        all of them.
    """
    _require_compiled(model, "evaluate")
    parallel = distributed.active()
    if parallel:
        callbacks = distributed.rank_zero_callbacks(list(callbacks or []))
        verbose = verbose if distributed.rank() == 0 else 0
    verbose = resolve_verbose(verbose, where="evaluate")
    data = DataHandler(
        model,
        x,
        y,
        sample_weight,
        batch_size=batch_size,
        steps=steps,
        where="evaluate",
        shard=distributed.sharding(training=False) if parallel else None,
    )
    callback_list = callbacks_module.CallbackList(
        callbacks, model=model, params={"verbose": verbose, "steps": data.steps}
    )
    with flush_denormal(), _mode(model, False):
        logs = _test_loop(
            runner_for(model, "test_step"),
            data,
            callback_list,
            Progress(verbose=verbose, target=data.steps),
            reduce=parallel,
        )
    return _logs_result(model, logs, return_dict)


def _logs_result(model: Any, logs: dict[str, float], return_dict: bool) -> Any:
    model._compile_state.metrics_names = list(logs)  # what `[loss, *metrics]` lists
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


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
        numpy arrays in the structure of the model's outputs. Under `torchrun` the ranks
        share the work and every rank gets every row, in the data's order (a generator's or
        other source lamina cannot split gives each rank its own rows).
    """
    parallel = distributed.active()
    if parallel:
        callbacks = distributed.rank_zero_callbacks(list(callbacks or []))
        verbose = verbose if distributed.rank() == 0 else 0
    verbose = resolve_verbose(verbose, where="predict")
    shard = distributed.sharding(training=False) if parallel else None
    data = DataHandler(model, x, batch_size=batch_size, steps=steps, where="predict", shard=shard)
    callback_list = callbacks_module.CallbackList(
        callbacks, model=model, params={"verbose": verbose, "steps": data.steps}
    )
    hooks = callback_list.predict_batch_hooks
    # The model's own predict_step if its class has one; decided once, not per batch.
    own_step = model.predict_step if overrides(model, "predict_step") else None
    forward = forward_for(model)
    compiled_forward = forward if isinstance(forward, CompiledForward) else None
    progress = Progress(verbose=verbose, target=data.steps)
    batches: list[Any] = []
    sizes: list[int] = []
    with flush_denormal(), _mode(model, False):
        callback_list.call("on_predict_begin", None)
        progress.start()
        try:
            with torch.inference_mode(), precision.autocast(model):
                for step, (bx, _, _, size) in enumerate(data.epoch(), start=1):
                    if hooks:
                        callback_list.batch(hooks, "on_predict_batch_begin", step - 1, {})
                    if own_step is not None:
                        outputs = own_step(bx)
                    elif compiled_forward is None:
                        outputs = model(bx, training=False)
                    else:
                        outputs, _ = compiled_forward(bx, False)
                    batches.append(outputs)
                    sizes.append(size)
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
    leaves = [flatten(b) for b in batches]
    merged = (
        [torch.cat([b[i] for b in leaves]).cpu() for i in range(len(leaves[0]))] if leaves else []
    )
    # The outputs' structure, its leaves placeholders (what gather_rows sends to the ranks).
    template = map_structure(lambda _: 0, batches[0]) if batches else None
    keys = data.keys(sizes) if shard is not None else None
    if keys is not None:  # every rank's rows, in the data's order
        merged, template = distributed.gather_rows(merged, keys, template)
    if template is None:
        raise ValueError(f"Model '{model.name}': predict received no samples.")
    it = iter(merged)
    return map_structure(lambda _: next(it).numpy(), template)
