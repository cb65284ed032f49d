"""Keras-style progress output for `fit`, `evaluate` and `predict`, drawn with rich.

`verbose=1`: a live line per epoch, redrawn at most every `interval` seconds::

    Epoch 1/10
    123/469 ━━━━━╸━━━━━━━━━━━━━━ 2s 5ms/step - loss: 0.2828

and left as `469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step - loss: 0.2751 - val_loss: 0.2678`.
`verbose=2`: one plain line per epoch (`469/469 - 3s - 6ms/step - loss: ...`), for logs and
pipes. `verbose=0`: nothing. `"auto"` is 1 on a terminal or in a notebook, 2 otherwise.

The training loop asks `due()` each batch (a clock read) and only then computes the numbers
to show, so the bar costs nothing between redraws.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

__all__ = ["Progress", "format_logs", "resolve_verbose"]

BAR_WIDTH = 20


def resolve_verbose(verbose: Any, *, where: str = "fit") -> int:
    """0, 1 or 2 from Keras's `verbose` argument (`"auto"`: 1 on a terminal, else 2)."""
    if verbose == "auto":
        console = Console(file=sys.stdout)
        return 1 if (console.is_terminal or console.is_jupyter) else 2
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{where}: verbose must be 0, 1, 2 or 'auto', received {verbose!r}.")
    return int(verbose)


def format_value(value: float) -> str:
    """Keras's number format: 4 decimals, or scientific notation below 1e-3."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_logs(logs: Mapping[str, Any]) -> str:
    """`" - loss: 0.2828 - accuracy: 0.9000"` from a logs dict (numbers only)."""
    return "".join(
        f" - {key}: {format_value(value)}"
        for key, value in logs.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    )


def format_duration(seconds: float) -> str:
    """`3s`, `2:05` or `1:02:05`, as Keras writes times and ETAs."""
    seconds = max(seconds, 0.0)
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def format_rate(seconds: float, unit: str = "step") -> str:
    """`5ms/step`, `120us/step` or `2s/step`."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progress:
    """One progress display for a loop of `target` steps (`None` when unknown).

    Args:
        verbose: 0, 1 or 2 (already resolved, see `resolve_verbose`).
        target: the number of steps, or `None`.
        interval: the least time between two redraws with `verbose=1`, in seconds.
        console: where to draw; a console on the current `sys.stdout` by default.
    """

    def __init__(
        self,
        *,
        verbose: int,
        target: int | None,
        interval: float = 0.1,
        console: Console | None = None,
    ) -> None:
        self.verbose = verbose
        self.target = target
        self.interval = interval
        # soft_wrap: a long line of metrics stays one line in logs and pipes.
        self.console = console or Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self._live: Live | None = None
        self._start = time.perf_counter()
        self._next = self._start + interval

    def epoch_begin(self, epoch: int, epochs: int) -> None:
        """Print `Epoch 3/10` (both verbose levels)."""
        if self.verbose:
            self.console.print(f"Epoch {epoch + 1}/{epochs}")
        self.start()

    def start(self) -> None:
        """Start timing (and, with `verbose=1`, the live line)."""
        self._start = time.perf_counter()
        self._next = self._start + self.interval
        interactive = self.console.is_terminal or self.console.is_jupyter
        # Off a terminal a live display only prints its last frame (without a newline);
        # there the final line is printed by `finish` instead.
        if self.verbose == 1 and self._live is None and interactive:
            self._live = Live(Text(""), console=self.console, auto_refresh=False, transient=False)
            self._live.start()

    def due(self) -> bool:
        """Whether a redraw is due (always false unless a live line is shown)."""
        return self._live is not None and time.perf_counter() >= self._next

    def update(self, step: int, logs: Mapping[str, Any]) -> None:
        """Redraw the live line at `step` steps done, showing `logs`."""
        now = time.perf_counter()
        self._next = now + self.interval
        if self._live is not None:
            self._live.update(self._line(step, logs, now, final=False), refresh=True)

    def finish(self, step: int, logs: Mapping[str, Any]) -> None:
        """Draw the final line for this loop (verbose 1 or 2) and stop the live display."""
        now = time.perf_counter()
        if self.verbose == 1:
            line = self._line(step, logs, now, final=True)
            if self._live is not None:
                self._live.update(line, refresh=True)
                self._live.stop()
                self._live = None
            else:
                self.console.print(line)
        elif self.verbose == 2:
            elapsed = now - self._start
            per_step = elapsed / step if step else 0.0
            self.console.print(
                f"{step}/{self.target or step} - {format_duration(elapsed)} - "
                f"{format_rate(per_step)}{format_logs(logs)}"
            )

    def close(self) -> None:
        """Stop the live display without a final line (after an error)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _line(self, step: int, logs: Mapping[str, Any], now: float, *, final: bool) -> Text:
        elapsed = now - self._start
        per_step = elapsed / step if step else 0.0
        text = Text()
        if self.target:
            text.append(f"{step}/{self.target} ")
            done = min(BAR_WIDTH * step / self.target, BAR_WIDTH)
            full = int(done)
            text.append("━" * full, style="bar.complete" if not final else "bar.finished")
            if full < BAR_WIDTH:
                text.append("╸" if done - full >= 0.5 else " ", style="bar.complete")
                text.append("━" * (BAR_WIDTH - full - 1), style="bar.back")
            if final:
                text.append(f" {format_duration(elapsed)}")
            else:
                text.append(f" {format_duration(per_step * (self.target - step))}")
        else:
            text.append(f"{step}/Unknown {format_duration(elapsed)}")
        text.append(f" {format_rate(per_step)}{format_logs(logs)}")
        return text
