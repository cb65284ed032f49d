"""The loss and metrics that `compile` configures, matched to the model's outputs.

`CompiledLoss` turns `loss=` (one loss for every output, a list with one per output, or a dict
keyed by output name) and `loss_weights=` into one scalar per batch. `CompiledMetrics` does the
same for `metrics=`, resolving shape-dependent names (`"accuracy"`) on the first batch.
Output names are the model's output keys (dict outputs) or its output tensors' names, which
are the names of the layers that produce them.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import torch

from lamina import losses as losses_module
from lamina import metrics as metrics_module
from lamina.core.errors import format_shape
from lamina.core.tensor import flatten

__all__ = ["CompiledLoss", "CompiledMetrics", "output_names"]


def output_names(model: Any) -> list[str]:
    """The names `compile` uses for the model's outputs, in output order."""
    if getattr(model, "_dirty", False):
        model._rebuild_graph()
    structure = getattr(model, "_output_struct", None)
    if isinstance(structure, dict):
        return [str(k) for k in structure]
    outputs = model.outputs if getattr(model, "_functional", False) else []
    return [t.name for t in outputs] or ["output"]


def per_output(spec: Any, names: list[str], what: str) -> list[Any]:
    """`spec` (one value, a list or a dict by output name) as one entry per output."""
    if isinstance(spec, dict) and not (what == "loss_weights" and not names):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(
                f"compile: {what} names outputs {unknown} that the model does not have; its "
                f"outputs are {names}."
            )
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) == 1 and len(names) == 1:
            return [spec[0]]
        if len(spec) != len(names):
            raise ValueError(
                f"compile: {what} has {len(spec)} entries but the model has {len(names)} "
                f"outputs {names}; give one per output, or a dict by output name."
            )
        return list(spec)
    return [spec] * len(names)


def flat_targets(y: Any, names: list[str], what: str = "y") -> list[Any]:
    """`y` (one array, a list or a dict by output name) as one entry per output."""
    if y is None:
        return [None] * len(names)
    if isinstance(y, dict):
        unknown = [k for k in y if k not in names]
        if unknown:
            raise ValueError(
                f"{what} names outputs {unknown} that the model does not have; its outputs "
                f"are {names}."
            )
        return [y.get(name) for name in names]
    if len(names) == 1:
        if isinstance(y, (list, tuple)) and len(y) == 1:
            return [y[0]]
        return [y]
    if isinstance(y, (list, tuple)):
        if len(y) != len(names):
            raise ValueError(
                f"{what} has {len(y)} entries but the model has {len(names)} outputs {names}."
            )
        return list(y)
    if what == "sample_weight":
        return [y] * len(names)  # one weight per sample, for every output
    raise ValueError(
        f"{what} is one array but the model has {len(names)} outputs {names}; pass a list "
        "with one target per output, or a dict by output name."
    )


class CompiledLoss:
    """The objective: weighted losses of the outputs plus the model's `add_loss` losses."""

    def __init__(self, loss: Any, loss_weights: Any = None) -> None:
        self.spec = loss
        self.loss_weights = loss_weights
        # Resolve names now, so an unknown loss name fails in compile, not in fit.
        self._resolved = _map_spec(loss, losses_module.get)
        self.names: list[str] = []
        self.fns: list[losses_module.Loss | None] = []
        self.weights: list[float] = []
        self.built = False
        self._checked = False
        self.target_specs: list[tuple[tuple[int, ...], torch.dtype] | None] = []
        self.output_specs: list[tuple[tuple[int, ...], torch.dtype] | None] = []
        """Each output's and each target's shape (without the batch) and dtype, from the first
        batch: saving traces a loss or metric function of the user's own on them."""

    def build(self, model: Any) -> None:
        self.names = output_names(model)
        self.fns = per_output(self._resolved, self.names, "loss")
        weights = per_output(self.loss_weights, self.names, "loss_weights")
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.active = [i for i, fn in enumerate(self.fns) if fn is not None]
        self.built = True

    @property
    def multi(self) -> bool:
        return len(self.active) > 1

    def __call__(
        self, y: list[Any], outputs: list[torch.Tensor], sample_weight: list[Any]
    ) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        """The weighted sum of the output losses (None if no output has a loss), and each
        active output's loss."""
        if not self._checked:
            self.check_shapes(y, outputs)
            self._checked = True
        parts: list[torch.Tensor] = []
        total: torch.Tensor | None = None
        for i in self.active:
            fn = self.fns[i]
            assert fn is not None
            value = fn(y[i], outputs[i], sample_weight[i])
            parts.append(value)
            weighted = value if self.weights[i] == 1.0 else value * self.weights[i]
            total = weighted if total is None else total + weighted
        return total, parts

    def check_shapes(self, y: list[Any], outputs: list[torch.Tensor]) -> None:
        """Raise when a target cannot be compared with its output by a built-in loss."""
        self.target_specs = [_spec_of(t) for t in y]
        self.output_specs = [_spec_of(t) for t in outputs]
        for i in self.active:
            fn, target, output = self.fns[i], y[i], outputs[i]
            name = self.names[i]
            if target is None:
                raise ValueError(
                    f"fit: output '{name}' has the loss {fn!r} but no target was given; pass "
                    "y (or yield (x, y) batches), or compile with loss=None for that output."
                )
            if not isinstance(target, torch.Tensor) or not _builtin(fn):
                continue
            sparse = isinstance(fn, losses_module.SparseCategoricalCrossentropy)
            if _fits(tuple(target.shape), tuple(output.shape), sparse):
                continue
            want = (
                f"integer class labels of shape {format_shape((None, *output.shape[1:-1]))}"
                if sparse
                else f"targets of the output's shape {format_shape((None, *output.shape[1:]))}"
            )
            raise ValueError(
                f"fit: the target for output '{name}' has shape "
                f"{format_shape((None, *target.shape[1:]))} but the output has shape "
                f"{format_shape((None, *output.shape[1:]))}; {type(fn).__name__} needs {want}. "
                "Pass y of that shape, or change the loss (e.g. sparse_categorical_crossentropy "
                "for integer labels)."
            )


def _spec_of(value: Any) -> tuple[tuple[int, ...], torch.dtype] | None:
    if isinstance(value, torch.Tensor) and value.ndim:
        return tuple(value.shape[1:]), value.dtype
    return None


def _builtin(fn: Any) -> bool:
    return (
        type(fn).__name__ in losses_module._CLASSES
        and type(fn) is losses_module._CLASSES[type(fn).__name__]
    )


def _fits(target: tuple[int, ...], output: tuple[int, ...], sparse: bool) -> bool:
    if sparse:
        if len(target) == len(output) and target[-1:] == (1,):
            target = target[:-1]
        return target[1:] == output[1:-1]
    if len(target) == len(output) + 1 and target[-1] == 1:
        target = target[:-1]
    elif len(output) == len(target) + 1 and output[-1] == 1:
        output = output[:-1]
    return target[1:] == output[1:]


def _map_spec(spec: Any, fn: Any) -> Any:
    if isinstance(spec, dict):
        return {k: fn(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [fn(v) for v in spec]
    return fn(spec)


class CompiledMetrics:
    """The metrics of each output; resolved against the first batch's shapes."""

    def __init__(self, metrics: Any = None, weighted_metrics: Any = None) -> None:
        self.spec = metrics
        self.weighted_spec = weighted_metrics
        for spec in (metrics, weighted_metrics):
            for item in _spec_leaves(spec):
                if not (isinstance(item, str) and item in metrics_module.SHAPE_DEPENDENT):
                    metrics_module.get(item)  # fail in compile on unknown names
        self.metrics: list[metrics_module.Metric] = []
        self._entries: list[tuple[int, metrics_module.Metric, bool]] = []
        self.built = False

    def build(self, names: list[str], y: list[Any], outputs: list[torch.Tensor]) -> None:
        entries: list[tuple[int, metrics_module.Metric, bool]] = []
        plain: set[tuple[int, str]] = set()  # (output, name) of the unweighted metrics
        for spec, weighted in ((self.spec, False), (self.weighted_spec, True)):
            for i, group in enumerate(_metric_groups(spec, names)):
                if group is None or y[i] is None:
                    continue
                for item in group if isinstance(group, (list, tuple)) else [group]:
                    metric = metrics_module.resolve(item, y[i], outputs[i])
                    if metric is item and (
                        len(names) > 1 or any(m is metric for _, m, _ in entries)
                    ):
                        metric = copy.deepcopy(metric)
                    # Keras's names: `weighted_` only where an unweighted metric of the same
                    # output has the name already, then the output's name in front.
                    if weighted and (i, metric.name) in plain:
                        metric.name = f"weighted_{metric.name}"
                    elif not weighted:
                        plain.add((i, metric.name))
                    if len(names) > 1:
                        metric.name = f"{names[i]}_{metric.name}"
                    entries.append((i, metric, weighted))
        self._entries = entries
        self.metrics = [m for _, m, _ in entries]
        self.built = True

    @property
    def metrics_given(self) -> bool:
        """Whether compile() was given metrics= or weighted_metrics=."""
        return self.spec is not None or self.weighted_spec is not None

    def update(self, y: list[Any], outputs: list[torch.Tensor], sample_weight: list[Any]) -> None:
        for i, metric, weighted in self._entries:
            metric.update_state(y[i], outputs[i], sample_weight[i] if weighted else None)

    def reset(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def results(self) -> dict[str, torch.Tensor]:
        return {m.name: m.result() for m in self.metrics}

    def get_config(self) -> dict[str, Any]:
        def one(metric: Any) -> Any:
            return _by_value(metric, metrics_module.serialize)

        return {
            "metrics": _map_nested(self.spec, one),
            "weighted_metrics": _map_nested(self.weighted_spec, one),
        }


def _metric_groups(spec: Any, names: list[str]) -> list[Any]:
    """`metrics=` as one entry (a metric, a list of them, or None) per output.

    As in Keras, a dict is by output name and, for several outputs, a list as long as the
    outputs has one entry per output (`["mse", ["mae", "mse"]]`). lamina also accepts a list
    of another length for several outputs, applying every metric to every output.
    """
    if spec is None:
        return [None] * len(names)
    if isinstance(spec, dict):
        return per_output(spec, names, "metrics")
    if isinstance(spec, (list, tuple)) and len(names) > 1 and len(spec) == len(names):
        return list(spec)
    if isinstance(spec, (list, tuple)) and len(spec) == 1 and isinstance(spec[0], (list, tuple)):
        spec = spec[0]  # one output's list, nested: `[["mae"]]`
    return [spec] * len(names)


def _by_value(item: Any, serialize: Callable[[Any], Any]) -> Any:
    """`serialize(item)`, with a wrapped function of the user's own given as itself rather
    than by a name no other program knows: saving then stores it like a Lambda's function
    (see `lamina.saving.registry.function_reference`)."""
    config = serialize(item)
    fn = getattr(item, "fn", None) or (item if inspect.isfunction(item) else None)
    if isinstance(config, dict) and config.get("class_name") == "function" and fn is not None:
        from lamina.saving.registry import function_reference

        config = {**config, "config": {**config["config"], "function": function_reference(fn)}}
    return config


def _spec_leaves(spec: Any) -> list[Any]:
    if spec is None:
        return []
    if isinstance(spec, dict):
        spec = list(spec.values())
    return [leaf for leaf in flatten(spec) if leaf is not None]


def _map_nested(spec: Any, fn: Any) -> Any:
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {k: _map_nested(v, fn) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_map_nested(v, fn) for v in spec]
    return fn(spec)


def serialize_loss(spec: Any) -> Any:
    """`compile`'s `loss=` argument as a config: JSON-compatible but for the user's own
    functions (see `_by_value`)."""

    def one(item: Any) -> Any:
        if item is None or isinstance(item, str):
            return item
        return _by_value(losses_module.get(item), losses_module.serialize)

    return _map_nested(spec, one)


def deserialize_loss(spec: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The `loss=` argument that `serialize_loss` described."""
    return _deserialize_nested(spec, losses_module.deserialize, custom_objects)


def deserialize_metrics(spec: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The `metrics=` argument that `CompiledMetrics.get_config` described."""
    return _deserialize_nested(spec, metrics_module.deserialize, custom_objects)


def _deserialize_nested(
    spec: Any, deserialize: Callable[..., Any], custom_objects: dict[str, Any] | None
) -> Any:
    # Like `_map_nested`, but a dict with a "class_name" is one serialized object, not a
    # per-output mapping.
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        return deserialize(spec, custom_objects=custom_objects)
    if isinstance(spec, dict):
        return {k: _deserialize_nested(v, deserialize, custom_objects) for k, v in spec.items()}
    return [_deserialize_nested(v, deserialize, custom_objects) for v in spec]
