"""`compile(jit_compile=...)`: the model's forward pass (with its `add_loss` losses) run
through `torch.compile` in the train, test and predict steps.

The optimizer step, losses, metrics and callbacks stay eager: they are cheap beside the model
and change between calls. `jit_compile`:

- `True`: `torch.compile` with its default mode;
- a dict: `torch.compile`'s keyword arguments, e.g. `{"mode": "max-autotune"}` or
  `{"backend": "aot_eager", "dynamic": True}`;
- `"auto"` or `None` (the default): compiled when the model's weights are on a CUDA device,
  eager otherwise (compiling on CPU takes longer than most CPU trainings gain from it);
- `False`: eager.

If compiling fails (an unsupported operation, no compiler on the machine), the step warns once
and runs eagerly from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lamina.core.errors import warn

Forward = Callable[[Any, bool], tuple[Any, list[Any]]]


def resolve(model: Any, jit_compile: Any) -> dict[str, Any] | None:
    """`torch.compile`'s keyword arguments for `jit_compile`, or None to run eagerly."""
    if jit_compile is True:
        return {}
    if isinstance(jit_compile, dict):
        return dict(jit_compile)
    if jit_compile in (None, "auto"):
        on_cuda = any(p.is_cuda for p in model.parameters())
        return {} if on_cuda else None
    if jit_compile is False:
        return None
    raise ValueError(
        f"Model '{model.name}': jit_compile must be True, False, 'auto' or a dict of "
        f"torch.compile options such as {{'mode': 'max-autotune'}}; received {jit_compile!r}."
    )


class CompiledForward:
    """`model.call_with_losses` through `torch.compile`, falling back to eager on failure."""

    def __init__(self, model: Any, options: dict[str, Any]) -> None:
        self.model = model
        self.options = options
        self.failed = False
        try:
            self._compiled: Any = torch.compile(self._run, **options)
        except Exception as error:
            self._fall_back(error)

    def _run(self, x: Any, training: bool) -> tuple[Any, list[Any]]:
        result: tuple[Any, list[Any]] = self.model.call_with_losses(x, training=training)
        return result

    def __call__(self, x: Any, training: bool) -> tuple[Any, list[Any]]:
        if self.failed:
            return self._run(x, training)
        try:
            result: tuple[Any, list[Any]] = self._compiled(x, training)
            return result
        except Exception as error:
            if not _is_compile_error(error):
                raise
            self._fall_back(error)
            return self._run(x, training)

    def _fall_back(self, error: Exception) -> None:
        self.failed = True
        warn(
            f"Model '{self.model.name}': torch.compile failed ({type(error).__name__}: "
            f"{str(error)[:200]}); running eagerly instead. Pass jit_compile=False to skip "
            "compiling."
        )


def _is_compile_error(error: Exception) -> bool:
    module = type(error).__module__
    return module.startswith(("torch._dynamo", "torch._inductor")) or "compile" in str(error)[:200]


def forward_for(model: Any) -> Forward:
    """The forward pass the steps use: compiled per the model's `jit_compile`, made once."""
    state = model._compile_state
    if state is None:
        return _eager(model)
    if state.forward is None:
        options = resolve(model, state.jit_compile)
        state.forward = _eager(model) if options is None else CompiledForward(model, options)
    forward: Forward = state.forward
    return forward


def _eager(model: Any) -> Forward:
    def forward(x: Any, training: bool) -> tuple[Any, list[Any]]:
        result: tuple[Any, list[Any]] = model.call_with_losses(x, training=training)
        return result

    return forward
