"""Replay a SessionLog as if it were arriving live: in real time, faster or slower, or at once.

>>> import asyncio
>>> from dgwidgets.examples import example
>>> seen = []
>>> copy = asyncio.run(replay(example("credit-card"), seen.append, speed=0))
>>> len(seen), len(copy)
(11, 11)
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

from .session import Received, SessionLog

__all__ = ["replay", "Consumer"]

Consumer = Callable[[Received], None] | Callable[[Received], Awaitable[None]] | SessionLog


async def replay(
    log: SessionLog,
    consumer: Consumer | None = None,
    *,
    speed: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SessionLog:
    """Deliver each entry of `log` to `consumer` at its arrival time divided by `speed`.

    `speed=1` is real time, `2` twice as fast, `0` (or `float('inf')`) delivers everything at once.
    `consumer` may be a function, a coroutine function, or a SessionLog to append to. Returns a new
    SessionLog holding what was delivered, with the original options and source (so a replay cut
    short by cancellation still has every entry delivered before it).
    """
    if speed < 0:
        raise ValueError(f"speed must be >= 0 (0 means as fast as possible), got {speed}")
    copy = SessionLog(options=log.options, source=log.source, backend=log.backend, info=dict(log.info))
    target = consumer
    if isinstance(consumer, SessionLog):
        target = lambda entry: consumer.append(entry.message, entry.at)  # noqa: E731
    started = clock()
    for entry in list(log.entries):
        if speed and speed != float("inf"):
            delay = started + entry.at / speed - clock()
            if delay > 0:
                await sleep(delay)
        copy.append(entry.message, entry.at)
        if target is not None:
            outcome = target(entry)
            if inspect.isawaitable(outcome):
                await outcome
    return copy
