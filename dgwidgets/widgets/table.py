"""ResultsTable: the documentation's rolling results table, live in the notebook.

The rows come from `TableModel` (only the last `max_rows` are synced to the browser, so a long
session does not slow the page down); the whole session stays in a SessionLog, from which the
"copy as doc text" and "export JSONL" buttons are answered on request (custom messages), not
synced on every update.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import anywidget
import traitlets

from ..flux import FluxMessage, FluxOptions, TurnInfo
from ..protocol import LiveOptions
from ..session import Received, SessionLog
from .coalesce import FollowsLog, Throttle
from .viewmodels import TableModel

__all__ = ["ResultsTable"]

_STATIC = pathlib.Path(__file__).parent / "static"


class ResultsTable(FollowsLog, anywidget.AnyWidget):
    """The rolling table of Results (numbered as in the docs) and events, interims as they are replaced.

    Without a `log`, the table keeps its own SessionLog of what it was given (`append`/`extend`),
    so `to_text()` and `to_jsonl()` cover the whole session while only the last `max_rows` rows
    are shown. With a `log`, the table shows it and exports from it; `append` then only updates
    the view (record entries in the log, e.g. with `follow(log)`, which subscribes the table).

    Inside a running asyncio loop (Jupyter) the rows reach the browser at most `max_fps` times a
    second, the latest each time; without one they are synced on every change (`refresh()` syncs now).

    In the browser: one row per message with classes `dg-row-interim`, `dg-row-superseded`,
    `dg-row-final` (every is_final row), `dg-row-speech-final` and `dg-row-event`, and attributes
    `data-kind` and `data-n`; buttons copy the doc-format text and download the session as JSONL.

    A Flux (``/v2/listen``) log switches the table to turn events (`api` ``"v2"``): columns #, turn,
    event, window, transcript, end_of_turn_confidence, trigger, received at; rows `dg-row-turn`
    with `dg-row-start-of-turn`, `dg-row-eager-end-of-turn`, `dg-row-turn-resumed`,
    `dg-row-end-of-turn` or `dg-row-update` and `data-event`. `updates` says what to do with the
    Update events (``"latest"``: one row per run, replaced by each; ``"all"``; ``"none"``).

    >>> from dgwidgets.examples import example
    >>> table = ResultsTable(max_rows=200)
    >>> table.extend(example("credit-card"))
    >>> table.total, table.rows[4]["kind"], table.rows[3]["superseded"]
    (11, 'final', True)
    >>> print(table.to_text().splitlines()[6])
    7 3.260-5.500 ["is_final": true ] ["speech_final": true ] two two three three three three
    >>> flux = ResultsTable()
    >>> flux.append(Received(1.62, TurnInfo("EndOfTurn", 0, 0.3, 1.6, "hi", end_of_turn_confidence=0.8, trigger="model")))
    >>> flux.api, flux.rows[0]["event"], flux.rows[0]["trigger"], flux.to_text()
    ('v2', 'EndOfTurn', 'model', 'turn 0 EndOfTurn      0.300-1.600 eot 0.80 [model] hi (received at 1.620)')
    """

    _esm = _STATIC / "table.js"
    _css = _STATIC / "table.css"

    # No per-element trait: validating 200 dicts on every update cost more than the update itself.
    rows = traitlets.List().tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    max_rows = traitlets.Int(200, read_only=True).tag(sync=True)
    #: "v1" (Results rows) or "v2" (Flux turn events), from what the table shows
    api = traitlets.Unicode("v1").tag(sync=True)

    def __init__(
        self,
        *,
        max_rows: int = 200,
        log: SessionLog | None = None,
        title: str = "",
        max_fps: float = 20.0,
        updates: str = "latest",
        **kwargs: Any,
    ) -> None:
        super().__init__(title=title, **kwargs)
        self._throttle = Throttle(self._push, rate=max_fps)
        self.set_trait("max_rows", int(max_rows))
        self.model = TableModel(max_rows=max_rows, updates=updates)
        # Not `self.log`: ipywidgets uses that name for its logger.
        #: The session the table exports (its own, or the one given to `load`/`follow`).
        self.session_log = SessionLog()
        self._owns_log = True
        self._unsubscribe: Callable[[], None] | None = None
        self.on_msg(self._on_browser_message)
        if log is not None:
            self.load(log)

    # -- feeding ------------------------------------------------------------------------------

    def append(self, entry: Received) -> None:
        """Show one received message (and record it, when the table keeps its own log)."""
        self._record(entry)
        self.model.add(entry)
        self._changed()

    def extend(self, entries: Iterable[Received]) -> None:
        """Show many messages with one update to the browser."""
        for entry in entries:
            self._record(entry)
            self.model.add(entry)
        self._changed()

    def load(self, log: SessionLog) -> None:
        """Show `log` from its start and export from it (the table does not write to it)."""
        self._stop_following()
        self.model.clear()
        self.session_log = log
        self._owns_log = False
        self.extend(log.entries)

    def clear(self) -> None:
        """Empty the table and start a new log of its own (keeping the previous log's options)."""
        self._stop_following()
        self.model.clear()
        old = self.session_log
        self.session_log = SessionLog(options=old.options, source=old.source, backend=old.backend)
        self._owns_log = True
        self._changed()

    def _record(self, entry: Received) -> None:
        if self._owns_log:
            # The table's own log takes the API of what it is given, so its text and JSONL read right.
            api = "v2" if isinstance(entry.message, (TurnInfo, FluxMessage)) else "v1"
            if api != self.session_log.api and not self.session_log.entries:
                self.session_log.options = FluxOptions() if api == "v2" else LiveOptions()
            # Straight into the list: SessionLog.append would make a new Received and notify
            # subscribers, and this entry was already received elsewhere.
            self.session_log.entries.append(entry)

    def _changed(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # No loop (a script, a test): sync now, so `rows` is always current there.
            self._throttle.flush()
            return
        # In a running loop (Jupyter), a burst of messages (a replay at full speed) is synced
        # at most max_fps times a second, with the latest rows.
        self._throttle.poke()

    def refresh(self) -> None:
        """Sync the latest rows to the browser now."""
        self._throttle.flush()

    def _push(self) -> None:
        # Fresh dicts: TableModel marks rows superseded in place, and traitlets would see a list
        # of the same (mutated) dicts as unchanged and not sync it.
        with self.hold_sync():
            self.rows = [dict(row) for row in self.model.rows]
            self.total = self.model.total
            self.api = self.model.api

    # -- export -------------------------------------------------------------------------------

    def to_text(self, *, events: bool = True) -> str:
        """The whole session as the documentation's table (as `SessionLog.to_text()`; Flux: its turn events)."""
        return self.session_log.to_text(events=events, updates=self.model.updates == "all")

    def to_jsonl(self) -> str:
        """The whole session as a JSONL SessionLog file (`SessionLog.load` reads it back)."""
        return self.session_log.to_jsonl()

    def export_filename(self) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.session_log.source or self.title or "session").strip("-.")
        return f"dgwidgets-{stem or 'session'}.jsonl"

    def _on_browser_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "copy":
            text = self.to_text()
            self.send({"type": "doc_text", "text": text, "lines": text.count("\n") + 1 if text else 0})
        elif kind == "export":
            self.send({"type": "export", "filename": self.export_filename(), "text": self.to_jsonl()})

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._stop_updates()
        super().close()
