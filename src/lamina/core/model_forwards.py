"""`Model`'s summary, training and saving methods: thin forwards to `visualization/`,
`training/` and `saving/`.

Each method imports what it calls inside itself, so the core never depends on those packages
at import time. `Model` inherits them from `ModelForwards`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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

        training.compile(self, *args, **kwargs)

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Train the model; see `lamina.training.fit`. Returns a `History`."""
        from lamina import training

        return training.fit(self, *args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        """Loss and metrics on data; see `lamina.training.evaluate`."""
        from lamina import training

        return training.evaluate(self, *args, **kwargs)

    def predict(self, x: Any, *, batch_size: int = 32, verbose: Any = "auto", **kwargs: Any) -> Any:
        """Run the model on `x` in batches, without gradients; numpy in, numpy out."""
        from lamina import training

        return training.predict(self, x, batch_size=batch_size, verbose=verbose, **kwargs)

    def train_on_batch(self, *args: Any, **kwargs: Any) -> Any:
        """One gradient step on one batch; see `lamina.training.train_on_batch`."""
        from lamina import training

        return training.train_on_batch(self, *args, **kwargs)

    def test_on_batch(self, *args: Any, **kwargs: Any) -> Any:
        """Loss and metrics on one batch; see `lamina.training.test_on_batch`."""
        from lamina import training

        return training.test_on_batch(self, *args, **kwargs)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch, as numpy."""
        from lamina import training

        return training.predict(self, x, batch_size=1 << 62, verbose=0)

    # ---------------------------------------------------------------- saving (saving/)
    def get_config(self) -> dict[str, Any]:
        """The model's graph: each layer's class, config and inbound nodes."""
        from lamina import saving

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
