"""Plain torch modules called on symbolic tensors become layers.

`torch.nn.Conv2d(3, 8, 3)(x)` on a symbolic `x` must return what
`TorchModuleWrapper(module)(x)` returns, but `nn.Module.__call__` always runs `forward` and
offers no way to skip it. Two global module hooks do it:

- a forward pre-hook that, when the arguments hold symbolic tensors, records the wrapper's node
  (one wrapper per module, so a module called twice is one shared layer), then hands `forward`
  placeholders instead: zeros on the `meta` device, with the module's parameters and buffers
  swapped for `meta` copies (or, for a module the wrapper could only run on real zeros, real
  zeros under `no_grad` with the random state kept), so the run that cannot be skipped costs
  next to nothing and touches nothing;
- a forward hook registered with `always_call=True` that puts the parameters back (even when
  `forward` raised) and returns the wrapper's symbolic outputs in place of the throwaway ones.

Global hooks make torch take the slow path of `nn.Module.__call__` for every module in the
process (and `torch.compile` warn about them), so they are installed only while a model is
being defined: from the creation of a symbolic tensor (`arm`) until a `Model` is built from
them, or a model is compiled, trained, evaluated or used by `predict` (`disarm`). lamina's
own layers ignore them (`calls.global_hooks_active`), so only plain torch modules pay, and
only in that window (benchmarks/torch_module_hooks.py measures it). The price: a module
called on a symbolic tensor made before the last `Model(...)`, with no layer call in between,
is not wrapped and says so (wrap it yourself).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

_handles: list[RemovableHandle] = []
_lock = threading.Lock()
_intercepting = 0  # module calls being intercepted, in all threads: disarm waits for them
_symbolic_type: type | None = None  # SymbolicTensor, set by core/tensor.py


class _Interception:
    """One module call being answered with a wrapper's symbolic outputs."""

    __slots__ = ("module", "nested", "outputs", "restore")

    def __init__(self, module: nn.Module, outputs: Any, restore: contextlib.ExitStack) -> None:
        self.module = module
        self.outputs = outputs
        self.restore = restore
        self.nested = 0  # calls of the same module inside its own placeholder run


class _Stack(threading.local):
    def __init__(self) -> None:
        self.items: list[_Interception] = []


_stack = _Stack()


def installed() -> int:
    """How many of torch's global hooks are lamina's (0 or 2)."""
    return len(_handles)


def arm() -> None:
    """Install the hooks (idempotent): a model is being defined."""
    if _handles:
        return
    with _lock:
        if _handles:
            return
        _handles.append(nn.modules.module.register_module_forward_pre_hook(_pre_hook))
        _handles.append(
            nn.modules.module.register_module_forward_hook(_forward_hook, always_call=True)
        )


def disarm() -> None:
    """Remove the hooks: a model is about to be trained or run (and not while a module call
    is being intercepted, whose forward hook must still run)."""
    if not _handles or _intercepting:
        return
    with _lock:
        if _intercepting:
            return
        for handle in _handles:
            handle.remove()
        _handles.clear()


def register_symbolic_type(cls: type) -> None:
    global _symbolic_type
    _symbolic_type = cls


def _holds_symbolic(values: Any) -> bool:
    for value in values:
        if type(value) is _symbolic_type:
            return True
        if isinstance(value, (list, tuple)) and value and _holds_symbolic(value):
            return True
        if isinstance(value, dict) and value and _holds_symbolic(value.values()):
            return True
    return False


def _pre_hook(module: nn.Module, args: tuple[Any, ...]) -> Any:
    items = _stack.items
    if items and items[-1].module is module:
        items[-1].nested += 1  # the module calls itself inside its placeholder run
        return None
    kwargs = _call_kwargs()
    if not (_holds_symbolic(args) or (kwargs and _holds_symbolic(kwargs.values()))):
        return None
    if kwargs is None:
        raise TypeError(
            f"A {type(module).__name__} module received a symbolic tensor, and lamina could "
            "not read the keyword arguments of the call to wrap it (a torch version lamina "
            "does not know?). Wrap it yourself: lamina.layers.TorchModuleWrapper(module)(x)."
        )
    return _intercept(module, args, kwargs)


def _call_kwargs() -> dict[str, Any] | None:
    """The keyword arguments of the module call whose global pre-hook is running: torch
    passes a global pre-hook only the positional ones, so they are read from the frame of
    `nn.Module._call_impl`'s `inner`, which calls the hooks (a fresh dict per call, which
    `forward` then receives)."""
    frame = sys._getframe(2)  # _call_kwargs <- _pre_hook <- inner
    if frame.f_code.co_name != "inner" or "torch" not in frame.f_code.co_filename:
        return None
    kwargs = frame.f_locals.get("kwargs")
    return kwargs if isinstance(kwargs, dict) else None


def _forward_hook(module: nn.Module, args: Any, output: Any) -> Any:
    items = _stack.items
    if not items or items[-1].module is not module:
        return None
    entry = items[-1]
    if entry.nested:
        entry.nested -= 1
        return None
    global _intercepting
    items.pop()
    try:
        entry.restore.close()
    finally:
        with _lock:
            _intercepting -= 1
    return entry.outputs


def _intercept(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    from lamina.core.layer import Layer
    from lamina.layers.torch_module import wrapper_for

    if isinstance(module, Layer):  # a Layer's own __call__ handles symbolic inputs
        return None
    wrapper = wrapper_for(module)
    outputs = wrapper.call_on_arguments(args, kwargs)
    restore = contextlib.ExitStack()
    try:
        placeholders = _placeholder_arguments(
            (args, kwargs), restore, module, meta=wrapper.ran_on_meta
        )
    except BaseException:
        restore.close()
        raise
    global _intercepting
    with _lock:
        _intercepting += 1
    _stack.items.append(_Interception(module, outputs, restore))
    return placeholders


def _placeholder_arguments(
    arguments: tuple[tuple[Any, ...], dict[str, Any]],
    restore: contextlib.ExitStack,
    module: nn.Module,
    *,
    meta: bool,
) -> tuple[Any, ...]:
    """The arguments `forward` runs on instead of the symbolic ones, with the module set up
    for that run (undone by `restore`)."""
    from lamina.core.shape_inference import _random_state_kept
    from lamina.core.tensor import map_structure

    device = torch.device("meta") if meta else _device_of(module)

    def placeholder(value: Any) -> Any:
        if type(value) is not _symbolic_type:
            return value
        symbolic: Any = value  # sizes as in the wrapper's first placeholder run
        dims = [(2 if i == 0 else 5) if d is None else d for i, d in enumerate(symbolic.shape)]
        return torch.zeros(dims, dtype=symbolic.dtype, device=device)

    if meta:
        restore.callback(_swap_to_meta(module))
        restore.enter_context(torch.device("meta"))
    else:
        restore.enter_context(torch.no_grad())
        restore.enter_context(_random_state_kept())
    args, kwargs = arguments
    for key, value in kwargs.items():  # in place: this dict is what forward receives
        kwargs[key] = map_structure(placeholder, value)
    return tuple(map_structure(placeholder, list(args)))


def _swap_to_meta(module: nn.Module) -> Callable[[], None]:
    """Replace every parameter and buffer of `module` by a `meta` copy (tied ones stay tied);
    return what puts the originals back."""
    copies: dict[int, torch.Tensor] = {}
    swapped: list[tuple[nn.Module, str, Any]] = []
    for owner in {id(m): m for m in module.modules()}.values():
        for table, is_parameter in ((owner._parameters, True), (owner._buffers, False)):
            for name, tensor in list(table.items()):
                if tensor is None or tensor.is_meta:
                    continue
                copy = copies.get(id(tensor))
                if copy is None:
                    copy = tensor.detach().to("meta")
                    if is_parameter:
                        copy = nn.Parameter(copy, requires_grad=tensor.requires_grad)
                    copies[id(tensor)] = copy
                swapped.append((owner, name, tensor))
                setattr(owner, name, copy)  # setattr: nn.LSTM refreshes its flat weights

    def put_back() -> None:
        for owner, name, tensor in reversed(swapped):
            setattr(owner, name, tensor)

    return put_back


def _device_of(module: nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.empty(0).device


__all__ = ["arm", "disarm", "installed", "register_symbolic_type"]
