"""`Model`'s summary, training and saving methods: thin forwards to `visualization/`,
`training/` and `saving/`.

Each method imports what it calls inside itself, so the core never depends on those packages
at import time. `Model` inherits them from `ModelForwards`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lamina.core import module_calls
from lamina.core.construct import construct
from lamina.core.layer import Layer

if TYPE_CHECKING:
    from lamina.core.model import Model


class ModelForwards(Layer):
    """The methods `Model` forwards to the packages above the core (its base class)."""

    _compile_state: Any = None
    """The `lamina.training.CompileState` of the latest `compile`; None before."""

    def summary(
        self,
        *,
        line_length: int | None = None,
        positions: Any = None,
        print_fn: Callable[[str], Any] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: tuple[str, str] | None = None,
    ) -> None:
        """Print a table of the layers: name (type), output shape, parameters, inputs.

        Keras's arguments: `show_trainable` adds a Trainable column (Y, N, or - for a layer
        without weights); `layer_range=(first, last)` shows the rows between two layer names;
        `positions` is accepted and unused (the table sizes its own columns). Once the
        optimizer has state, its size is shown too.
        """
        from lamina.visualization.summary import print_summary

        print_summary(
            self,
            line_length=line_length,
            expand_nested=expand_nested,
            print_fn=print_fn,
            show_trainable=show_trainable,
            layer_range=layer_range,
        )

    @property
    def metrics_names(self) -> list[str]:
        """The names of what `evaluate` returns, in order (`["loss", "accuracy"]`), as Keras
        2 gave them: known once the model has been trained or evaluated; `["loss"]` before."""
        state = self._compile_state
        if state is None:
            return []
        return list(state.metrics_names) or ["loss"]

    # ---------------------------------------------------------------- compile settings
    @property
    def compiled(self) -> bool:
        """Whether `compile` has been called (Keras 3's attribute)."""
        return self._compile_state is not None

    @property
    def optimizer(self) -> Any:
        """The compiled optimizer; None before `compile`."""
        return None if self._compile_state is None else self._compile_state.optimizer

    @property
    def loss(self) -> Any:
        """The `loss` given to `compile`; None before it."""
        return None if self._compile_state is None else self._compile_state.loss

    @property
    def loss_weights(self) -> Any:
        return None if self._compile_state is None else self._compile_state.loss_weights

    @property
    def compiled_loss(self) -> Any:
        return None if self._compile_state is None else self._compile_state.compiled_loss

    @property
    def compiled_metrics(self) -> Any:
        return None if self._compile_state is None else self._compile_state.compiled_metrics

    # ---------------------------------------------------------------- training (training/)
    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Configure training; see `lamina.training.compile`."""
        from lamina import training

        module_calls.disarm()  # the model is defined: see core/module_calls.py
        training.compile(self, *args, **kwargs)

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Train the model; see `lamina.training.fit`. Returns a `History`."""
        from lamina import training

        module_calls.disarm()  # the model is defined: see core/module_calls.py
        return training.fit(self, *args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        """Loss and metrics on data; see `lamina.training.evaluate`."""
        from lamina import training

        module_calls.disarm()  # the model is defined: see core/module_calls.py
        return training.evaluate(self, *args, **kwargs)

    def predict(self, x: Any, *, batch_size: int = 32, verbose: Any = "auto", **kwargs: Any) -> Any:
        """Run the model on `x` in batches, without gradients; numpy in, numpy out."""
        from lamina import training

        module_calls.disarm()  # the model is defined: see core/module_calls.py
        return training.predict(self, x, batch_size=batch_size, verbose=verbose, **kwargs)

    def train_on_batch(self, *args: Any, **kwargs: Any) -> Any:
        """One gradient step on one batch; see `lamina.training.train_on_batch`."""
        from lamina import training

        module_calls.disarm()  # the model is defined: see core/module_calls.py
        return training.train_on_batch(self, *args, **kwargs)

    def test_on_batch(self, *args: Any, **kwargs: Any) -> Any:
        """Loss and metrics on one batch; see `lamina.training.test_on_batch`."""
        from lamina import training

        module_calls.disarm()  # the model is defined: see core/module_calls.py
        return training.test_on_batch(self, *args, **kwargs)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch, as numpy."""
        from lamina import training

        module_calls.disarm()  # the model is defined: see core/module_calls.py
        return training.predict(self, x, batch_size=1 << 62, verbose=0)

    # ---------------------------------------------------------------- steps (custom_steps.py)
    # Override these as in Keras; fit/evaluate/predict run an override, and keep their fused
    # path otherwise (see lamina.training.custom_steps).
    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on `data` (`x`, `(x, y)` or `(x, y, sample_weight)`): Keras 3's
        torch step. Returns the metrics' results by name."""
        from lamina.training import custom_steps

        return custom_steps.train_step(self, data)

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step on `data`; returns the metrics' results by name."""
        from lamina.training import custom_steps

        return custom_steps.test_step(self, data)

    def predict_step(self, data: Any) -> Any:
        """The outputs for one batch `data`."""
        from lamina.training import custom_steps

        return custom_steps.predict_step(self, data)

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        """The compiled loss of `y_pred` against `y` plus the layers' `add_loss` losses."""
        from lamina.training import custom_steps

        return custom_steps.compute_loss(self, x, y, y_pred, sample_weight, training)

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """Update the compiled metrics with a batch; return `get_metrics_result()`."""
        from lamina.training import custom_steps

        return custom_steps.compute_metrics(self, x, y, y_pred, sample_weight)

    @property
    def metrics(self) -> list[Any]:
        """The loss tracker, then the compiled metrics (one entry holding them all)."""
        from lamina.training import custom_steps

        return custom_steps.model_metrics(self)

    def get_metrics_result(self) -> dict[str, Any]:
        """Each of `metrics`' results by name (a dict result adds its entries)."""
        from lamina.training import custom_steps

        return custom_steps.get_metrics_result(self)

    def reset_metrics(self) -> None:
        """Reset every metric in `metrics`."""
        for metric in self.metrics:
            metric.reset_state()

    # ---------------------------------------------------------------- saving (saving/)
    def get_config(self) -> dict[str, Any]:
        """The model's graph: each layer's class, config and inbound nodes.

        A subclass whose own `get_config()` calls this one (Keras's pattern) gets the base
        settings (`name`, `trainable`, `dtype`) to extend, or the graph of a functional
        subclass.
        """
        from lamina import saving
        from lamina.core.model import Model

        if type(self).get_config is not Model.get_config:
            from lamina.saving.graph import _builds_itself, _functional_config

            if self._functional and not _builds_itself(self):
                return _functional_config(self)
            return Layer.get_config(self)
        return saving.model_config(self)

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        custom_objects: dict[str, Any] | None = None,
        safe_mode: bool = True,
    ) -> Model:
        """Rebuild a model from `get_config()`; see `lamina.saving.model_from_config`.

        A subclass gets itself back: from a graph config (a functional subclass that keeps
        `Model`'s `__init__`), or, when the config is not a graph (the subclass's own
        `get_config()`), as `cls(**config)`, as in Keras.
        """
        from lamina import saving
        from lamina.core.model import Model
        from lamina.core.sequential import Sequential

        graph = isinstance(config, dict) and (
            "layers" in config or {"class_name", "config"} <= set(config)
        )
        if cls not in (Model, Sequential) and not graph:
            try:
                return construct(cls, config)  # type: ignore[no-any-return]
            except TypeError as error:
                raise TypeError(
                    f"{cls.__name__}.from_config: {cls.__name__}(**config) failed with config "
                    f"keys {sorted(config)}: {error}. A Model subclass whose get_config() "
                    "returns its own settings must accept them all in __init__ (or override "
                    "from_config)."
                ) from error
        return saving.model_from_config(  # type: ignore[no-any-return]
            config,
            custom_objects=custom_objects,
            safe_mode=safe_mode,
            model_class=None if cls in (Model, Sequential) else cls,
        )

    def to_json(self, **kwargs: Any) -> str:
        """The model's config as JSON text."""
        from lamina import saving

        return saving.model_to_json(self, **kwargs)

    def save(self, filepath: Any, **kwargs: Any) -> None:
        """Save the model (graph, weights, optimizer) to a `.lamina` file."""
        from lamina import saving

        saving.save_model(self, filepath, **kwargs)

    def export(self, filepath: Any, *, format: str = "torch") -> Any:
        """Export for inference (`torch.export` or ONNX); see `lamina.saving.export`."""
        from lamina.saving import export

        return export.export(self, filepath, format=format)

    def save_weights(self, filepath: Any, **kwargs: Any) -> None:
        """Save the weights to a `.safetensors` file."""
        from lamina import saving

        saving.save_weights(self, filepath, **kwargs)

    def load_weights(self, filepath: Any, **kwargs: Any) -> None:
        """Load weights saved by `save_weights` (or `save`)."""
        from lamina import saving

        saving.load_weights(self, filepath, **kwargs)
