"""Coalescing updates for the live widgets: at most N redraws a second, always of the latest state.

A live stream brings a message about every second (and a replay hundreds at once); pushing each
change to the browser would build a backlog there (DESIGN.md: ~30 redraws/s on 2 cores). The
widgets mark themselves dirty and redraw on the kernel's running loop at a bounded rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Throttle", "FollowsLog"]


class Throttle:
    """Calls `action` at most `rate` times a second on the running asyncio loop, after `poke()`.

    `poke()` only marks work pending; the call happens on the loop (never inside the caller), so
    a burst of pokes costs one call with the latest state. Without a running loop nothing is
    scheduled: the owner calls `flush()` (Jupyter's kernel loop is always running in a cell).

    >>> calls = []
    >>> throttle = Throttle(lambda: calls.append(1), rate=10)
    >>> throttle.poke(); throttle.poke(); calls
    []
    >>> throttle.flush(); calls
    [1]
    """

    def __init__(self, action: Callable[[], None], *, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 per second, got {rate}")
        self.action = action
        self.interval = 1.0 / rate
        self.pending = False
        self._handle: asyncio.TimerHandle | None = None
        self._last = float("-inf")

    def poke(self) -> None:
        self.pending = True
        if self._handle is not None:
            return  # already scheduled: that call will see the latest state
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a script, a test): flush() does the work
        # Even with no delay, call_later defers the call until the current burst (a replay at
        # full speed, a cell adding many entries) has finished.
        delay = max(0.0, self._last + self.interval - time.monotonic())
        self._handle = loop.call_later(delay, self._run)

    def _run(self) -> None:
        self._handle = None
        if self.pending:
            self.flush()

    def flush(self) -> None:
        """Do the work now (cancelling a scheduled call)."""
        self.cancel()
        self.pending = False
        self._last = time.monotonic()
        self.action()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class FollowsLog:
    """Shared lifecycle of the widgets that follow a SessionLog and redraw through a Throttle.

    The owner defines `load(log)` and `append(entry)`, and sets `_throttle`.
    """

    _throttle: Throttle | None = None
    _unsubscribe: Callable[[], None] | None = None

    def follow(self, log: Any) -> None:
        """Show `log` and every entry appended to it from now on (until `clear`, `load` or `close`)."""
        self.load(log)  # type: ignore[attr-defined]
        self._unsubscribe = log.subscribe(self.append)  # type: ignore[attr-defined]

    def _stop_following(self) -> None:
        # getattr: close() also runs from Widget.__del__, even when __init__ failed half-way.
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
            self._unsubscribe = None

    def _stop_updates(self) -> None:
        """Cancel pending redraws and stop following: the first half of a widget's close()."""
        throttle = getattr(self, "_throttle", None)
        if throttle is not None:
            throttle.cancel()
        self._stop_following()
