"""Flushing denormal floats to zero while lamina trains, evaluates or predicts.

Denormals (floats below about 1e-38 in float32) take a slow path on x86 CPUs, and networks
produce them all the time: Adam's second-moment estimates, saturated softplus/sigmoid units,
tiny gradients. A hand-written PyTorch loop for the seed's VAE takes 14.8 s per Fashion-MNIST
epoch on CPU and 2.06 s with ``torch.set_flush_denormal(True)``. TensorFlow flushes by
default, so Keras users expect the fast number; lamina gives it to them inside ``fit``,
``evaluate`` and ``predict`` only, and puts the process back as it was afterwards.

PyTorch offers a setter (``torch.set_flush_denormal``) but no getter, so
:func:`denormals_flushed` finds the current state by experiment: it multiplies two float64
numbers whose product is a denormal (1e-300 * 1e-20 = 1e-320) in a torch kernel. With
flush-to-zero on, the product comes out as 0.

Two limits, both PyTorch's: the flag lives in the CPU's control register of the calling
thread (MXCSR on x86), so it covers the thread that runs ``fit`` (where the optimizer and
autograd's CPU work run) but not worker threads that already exist; and on CPUs without the
feature (non-x86) ``torch.set_flush_denormal`` returns False and nothing changes. While the
flag is on it also applies to plain Python float arithmetic on that thread (a callback
computing ``1e-300 * 1e-20`` gets 0.0).

Example:
    >>> from lamina.training.flush import denormals_flushed, flush_denormal
    >>> before = denormals_flushed()
    >>> with flush_denormal():
    ...     inside = denormals_flushed()
    >>> denormals_flushed() == before
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["denormals_flushed", "flush_denormal"]


def denormals_flushed() -> bool:
    """Whether denormal results are flushed to zero on this thread right now.

    Returns:
        True when ``torch.set_flush_denormal(True)`` is in effect on the calling thread.
    """
    # Two steps in torch kernels, not Python floats: CPython may fold constant arithmetic at
    # compile time, under whatever mode was set then.
    tiny = torch.full((1,), 1e-300, dtype=torch.float64)
    return bool((tiny * 1e-20).item() == 0.0)


@contextmanager
def flush_denormal(enabled: bool = True) -> Iterator[bool]:
    """Flush denormals to zero inside the ``with`` block, then restore the previous state.

    Nesting is safe: an inner block finds the flag already on and leaves it alone, so only the
    outermost block that turned it on turns it off.

    Args:
        enabled: whether to flush; ``False`` makes the block a no-op.

    Yields:
        Whether denormals are flushed inside the block.
    """
    if not enabled:
        yield denormals_flushed()
        return
    if denormals_flushed():
        yield True
        return
    changed = torch.set_flush_denormal(True)
    try:
        yield changed
    finally:
        if changed:
            torch.set_flush_denormal(False)
