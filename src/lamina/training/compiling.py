"""`compile` and `compile_from_config`: resolving the optimizer, losses and metrics.

`compile` stores the resolved objects in a `CompileState` the model owns, with a `config` that
`compile_from_config` (used when loading a saved model) turns back into the same call. It is
JSON-compatible but for the user's own loss and metric functions, which appear as
themselves, for saving to store like a Lambda's function.
Nothing here runs the model; the loops are in `loops`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lamina import metrics as metrics_module
from lamina import optimizers as optimizers_module
from lamina.training import compiled
from lamina.training.compile_utils import (
    CompiledLoss,
    CompiledMetrics,
    deserialize_loss,
    deserialize_metrics,
    serialize_loss,
)
from lamina.training.custom_steps import CompiledMetricsView
from lamina.training.steps import Regularized


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
        jit_compile: `True` or a dict of `torch.compile` options (`{"mode":
            "max-autotune"}`) to run the model's forward pass in the train, test and predict
            steps through `torch.compile`; `False` for eager; `"auto"`/`None` compile on CUDA
            only (see `lamina.training.compiled`).

    After `compile`, `model._compile_state` is a `CompileState`: `model.optimizer` is the
    optimizer (its `torch_optimizer` is built as soon as the model has weights),
    `model.loss` is the `loss` argument, `model.compiled_loss` / `model.compiled_metrics`
    hold the resolved objects, and its `config` is the dict `compile_from_config` accepts.
    """
    compiled.resolve(model, jit_compile)  # checks the value now; resolved again at fit
    opt = optimizers_module.get(optimizer)
    compiled_loss = CompiledLoss(loss, loss_weights)
    compiled_metrics = CompiledMetrics(metrics, weighted_metrics)
    if model.built and getattr(model, "_functional", False):
        compiled_loss.build(model)  # output names known: check a loss dict's keys now
    if model.built and not opt.built:
        params = model.trainable_weights
        if params:
            opt.build(params)
    model.stop_training = False
    # One plain object, not attributes: a torch loss module passed as `loss` must not become
    # a child module of the model (saved with its weights, moved by .to()).
    model._compile_state = CompileState(
        optimizer=opt,
        loss=loss,
        loss_weights=loss_weights,
        compiled_loss=compiled_loss,
        compiled_metrics=compiled_metrics,
        config={
            "optimizer": optimizers_module.serialize(opt),
            "loss": serialize_loss(loss),
            "loss_weights": loss_weights,
            **compiled_metrics.get_config(),
            **({"jit_compile": jit_compile} if jit_compile not in (None, "auto") else {}),
        },
        loss_tracker=metrics_module.Mean(name="loss"),
        metrics_view=CompiledMetricsView(model),
        # The weights with regularizers or constraints, found once here rather than per step.
        regularized=Regularized(model) if model.built else None,
        jit_compile=jit_compile,
    )


@dataclasses.dataclass
class CompileState:
    """What `compile` settled, owned by the model (`model._compile_state`; None before
    `compile`). `Model.optimizer`, `.loss`, `.compiled_loss`, ... read it."""

    optimizer: optimizers_module.Optimizer
    loss: Any
    """The `loss` argument as given."""
    loss_weights: Any
    compiled_loss: CompiledLoss
    compiled_metrics: CompiledMetrics
    config: dict[str, Any]
    """The dict `compile_from_config` accepts: what saving stores."""
    loss_tracker: metrics_module.Mean
    """The running loss a `train_step` updates (`model.metrics[0]`)."""
    metrics_view: CompiledMetricsView
    """The compiled metrics as one metric (`model.metrics[1]`, when metrics were given)."""
    regularized: Regularized | None = None
    """The weights with a regularizer or a constraint (None until the model is built)."""
    metrics_names: list[str] = dataclasses.field(default_factory=list)
    """What the latest fit or evaluate logged, in order (`Model.metrics_names`)."""
    jit_compile: Any = None
    """The `jit_compile` argument (`training.compiled` resolves it)."""
    forward: Any = None
    """The forward pass the steps use, made at the first step (`compiled.forward_for`)."""


def compile_from_config(
    model: Any, config: dict[str, Any], *, custom_objects: dict[str, Any] | None = None
) -> None:
    """Compile `model` again from a `CompileState.config` (as saved with the model).

    Args:
        model: the model.
        config: the dict `compile` stored in `CompileState.config`.
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
        jit_compile=config.get("jit_compile"),
    )
