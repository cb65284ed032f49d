"""What one top-level call collects, per thread, and when a layer must be called through
`nn.Module.__call__`.

A top-level call (a user calling a layer or model, or one training step) starts a fresh
collection of `add_loss` losses; calls made inside it join it. The state is per thread, so
two threads calling models do not mix their losses.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lamina.core import module_calls


class _CallState(threading.local):
    """What one thread's current top-level call (a user calling a layer or model, or one
    training step) collects: `add_loss` keeps only the losses of the latest one; calls made
    inside a call join it. Per thread, so two threads calling models do not mix losses."""

    def __init__(self) -> None:
        self.depth = 0
        self.call = 0  # the id of the latest top-level call, unique across threads
        self.losses: list[torch.Tensor] = []


_state = _CallState()
_call_ids = itertools.count(1)


def run_collecting_losses(run: Callable[[], Any]) -> tuple[Any, list[torch.Tensor]]:
    """Run `run()` as one top-level call; return its result and the losses that layers
    added with `add_loss` during it. Inside another call, it joins that call instead."""
    state = _state
    if state.depth:
        before = len(state.losses)
        return run(), state.losses[before:]
    state.depth, state.call, state.losses = 1, next(_call_ids), []
    try:
        result = run()
    finally:
        state.depth = 0
    return result, list(state.losses)


try:  # torch's global hook tables; if they move, every call goes through nn.Module.__call__
    from torch.nn.modules.module import (
        _global_backward_hooks,
        _global_backward_pre_hooks,
        _global_forward_hooks,
        _global_forward_pre_hooks,
    )

    _GLOBAL_HOOKS: tuple[Any, ...] | None = (
        _global_backward_hooks,
        _global_backward_pre_hooks,
        _global_forward_hooks,
        _global_forward_pre_hooks,
    )
except ImportError:  # pragma: no cover
    _GLOBAL_HOOKS = None


def global_hooks_active() -> bool:
    """Whether torch has global module hooks other than lamina's own (module_calls.py), which
    act only on plain torch modules and so do not make lamina's layers take the slow path."""
    return _GLOBAL_HOOKS is None or (
        any(_GLOBAL_HOOKS) and sum(map(len, _GLOBAL_HOOKS)) > module_calls.installed()
    )


def hooked(module: nn.Module) -> bool:
    """Whether `module` has hooks of its own or was compiled, so that it must be called
    through `nn.Module.__call__`. Otherwise calling `forward` directly is equivalent and skips
    that method's bookkeeping, which costs more than a small layer's own work."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or getattr(module, "_compiled_call_impl", None) is not None
    )
