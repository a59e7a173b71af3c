"""What the results table and the word-timing plot show, computed from SessionLog entries.

Pure view-models: no widgets, no plotly, no clocks. The widgets in `table.py` and `timeline.py`
only copy these read-outs into traits and traces, so everything a learner sees is tested here,
without a browser or a kernel.

>>> from dgwidgets.examples import example
>>> table, timeline = TableModel(), TimelineModel()
>>> for entry in example("credit-card"):
...     table.add(entry)
...     timeline.add(entry)
>>> [row["n"] for row in table.rows if row["superseded"]]
[1, 2, 3, 4, 6, 8, 10]
>>> len(timeline.words), [m.time for m in timeline.speech_finals]
(23, [5.5, 6.86, 8.09])

A Flux (``/v2/listen``) log goes through the same models: the table gets one row per turn event
(turn, event, window, transcript, end_of_turn_confidence, trigger, arrival), the timeline the
turns' words and a marker per StartOfTurn / EagerEndOfTurn / TurnResumed / EndOfTurn.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..flux import FluxMessage, TurnInfo
from ..protocol import ErrorMessage, Metadata, Results, SpeechStarted, UtteranceEnd
from ..session import Received, TableFormatter, TurnFormatter

__all__ = [
    "TableModel",
    "TimelineModel",
    "TimelineView",
    "TimedWord",
    "Window",
    "Gap",
    "Marker",
    "Decision",
    "TurnMarker",
    "ROW_KINDS",
    "TURN_ROW_KINDS",
    "TURN_MARKER_EVENTS",
    "TURN_EVENT_COLORS",
    "turn_event_color",
    "Label",
    "STRATEGY_COLORS",
    "strategy_color",
    "strategy_order",
    "fit_labels",
    "gaps_that_matter",
    "confidence_color",
    "text_width",
]

#: Every value a table row's "kind" can take.
ROW_KINDS = ("interim", "final", "speech_final", "SpeechStarted", "UtteranceEnd", "Metadata", "Error", "other")
#: The kinds of a Flux (v2) table's rows: the TurnInfo events, then the other v2 messages.
TURN_ROW_KINDS = (
    "Update",
    "StartOfTurn",
    "EagerEndOfTurn",
    "TurnResumed",
    "EndOfTurn",
    "Connected",
    "ConfigureSuccess",
    "ConfigureFailure",
    "Warning",
    "Error",
    "other",
)
#: The TurnInfo events the timeline marks (Update is every 0.25 s: its words fill the interim lane).
TURN_MARKER_EVENTS = ("StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EndOfTurn")
#: What a Flux table does with Update events: one row replaced by each ("latest"), every one, or none.
_UPDATE_MODES = ("latest", "all", "none")

# Word times are floats from JSON; anything within a millisecond is the same instant
# (the same tolerance as dgwidgets.utterances).
_EPS = 1e-3


def _window_key(start: float) -> float:
    # Window starts are compared as numbers read from JSON: round away float noise.
    return round(start, 6)


# ---------------------------------------------------------------------------------------- table


class TableModel:
    """The rows of the rolling results table: the last `max_rows` of them, numbered as in the docs.

    Results rows are numbered 1, 2, … exactly as `SessionLog.to_text()` numbers them; events
    (SpeechStarted, UtteranceEnd, Metadata, Error) get unnumbered rows. An interim row becomes
    `superseded` as soon as a later interim or final of the same segment (same channel, same
    window start) arrives, so the table shows interims being replaced. Only the visible window is
    kept (bounded memory); the whole history is the SessionLog's job.

    >>> from dgwidgets.examples import example
    >>> model = TableModel(max_rows=3)
    >>> for entry in example("credit-card"):
    ...     model.add(entry)
    >>> model.total, [(r["n"], r["kind"], r["window"]) for r in model.rows]
    (11, [(9, 'speech_final', '5.500-6.860'), (10, 'interim', '6.860-7.900'), (11, 'speech_final', '6.860-8.090')])
    >>> print(model.doc_text().splitlines()[-1])
    11 6.860-8.090 ["is_final": true ] ["speech_final": true ] five five five five

    A Flux log (`TurnInfo` messages) makes it a v2 table (`api` ``"v2"``): one row per turn event
    with ``turn``, ``event``, ``window``, ``text`` (the transcript), ``confidence``
    (end_of_turn_confidence), ``trigger`` and ``at``, numbered by TurnInfo message. With
    ``updates="latest"`` (the default) a run of Update events is one row, replaced by each Update
    (``updates`` counts them) and marked `superseded` once the next event arrives; ``"all"`` gives
    each its row, ``"none"`` none.

    >>> from dgwidgets.flux import TurnInfo
    >>> flux = TableModel()
    >>> for at, info in [(0.5, TurnInfo("Update", 0, 0.0, 0.5, "")), (0.75, TurnInfo("Update", 0, 0.0, 0.75, "")),
    ...                  (1.01, TurnInfo("StartOfTurn", 0, 0.3, 1.0, "hi")),
    ...                  (1.62, TurnInfo("EndOfTurn", 0, 0.3, 1.6, "hi", end_of_turn_confidence=0.8, trigger="model"))]:
    ...     flux.add(Received(at, info))
    >>> flux.api, [(r["event"], r["updates"], r["superseded"], r["trigger"]) for r in flux.rows]
    ('v2', [('Update', 2, True, ''), ('StartOfTurn', 0, False, ''), ('EndOfTurn', 0, False, 'model')])
    """

    def __init__(self, max_rows: int = 200, *, updates: str = "latest") -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        if updates not in _UPDATE_MODES:
            raise ValueError(f"updates must be one of {', '.join(_UPDATE_MODES)}, got {updates!r}")
        self.updates = updates
        self.max_rows = int(max_rows)
        self._rows: deque[dict[str, Any]] = deque(maxlen=self.max_rows)
        # The doc-format line of each visible row (None for rows the docs' table has no line for),
        # kept beside the rows so the row dicts stay exactly what the browser receives.
        self._lines: deque[str | None] = deque(maxlen=self.max_rows)
        self._formatter = TableFormatter()
        self._turns = TurnFormatter(updates=updates == "all")
        # The latest interim row of each channel's current segment: (window start, row).
        self._open_interim: dict[int, tuple[float, dict[str, Any]]] = {}
        # v2: the row of the current run of Update events (updates="latest")
        self._update_row: dict[str, Any] | None = None
        #: "v1" (Results rows) until the first Flux message, then "v2" (turn event rows)
        self.api = "v1"
        self.total = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The visible rows, oldest first (at most `max_rows`)."""
        return list(self._rows)

    @property
    def results_count(self) -> int:
        """How many Results rows were added (the number of the latest one); for Flux, TurnInfo messages."""
        return self._turns.count if self.api == "v2" else self._formatter.count

    def clear(self) -> None:
        self._rows.clear()
        self._lines.clear()
        self._formatter = TableFormatter()
        self._turns = TurnFormatter(updates=self.updates == "all")
        self._open_interim.clear()
        self._update_row = None
        self.api = "v1"
        self.total = 0

    def extend(self, entries: Iterable[Received]) -> None:
        for entry in entries:
            self.add(entry)

    def add(self, entry: Received) -> None:
        """Add one received message as a row."""
        message = entry.message
        if isinstance(message, (TurnInfo, FluxMessage)):
            self._add_flux(entry)
            return
        if isinstance(message, Results) and message.channel_index[1] > 1:
            # SessionLog names channels when its stream has several; every Results of a stream
            # carries the same count, so switching on at the first one matches its text.
            self._formatter.show_channel = True
        line = self._formatter.format(entry)
        row = self._row(entry, line)
        if isinstance(message, Results):
            channel = message.channel_index[0]
            key = _window_key(message.start)
            previous = self._open_interim.pop(channel, None)
            if previous is not None and previous[0] == key:
                previous[1]["superseded"] = True
            if not message.is_final:
                self._open_interim[channel] = (key, row)
        self._rows.append(row)
        self._lines.append(line)
        self.total += 1

    def _add_flux(self, entry: Received) -> None:
        self.api = "v2"
        self.total += 1
        message = entry.message
        line = self._turns.format(entry)
        is_update = isinstance(message, TurnInfo) and message.event == "Update"
        if is_update and self.updates == "none":
            return
        if isinstance(message, TurnInfo) and not is_update and self._update_row is not None:
            self._update_row["superseded"] = True  # its words were the turn so far; this event says more
            self._update_row = None
        if is_update and self.updates == "latest" and self._update_row is not None:
            count = self._update_row["updates"] + 1
            self._update_row.update(self._flux_row(entry, self._turns.count), updates=count)
            return
        row = self._flux_row(entry, self._turns.count if isinstance(message, TurnInfo) else None)
        if is_update and self.updates == "latest":
            row["updates"] = 1
            self._update_row = row
        self._rows.append(row)
        self._lines.append(line)

    @staticmethod
    def _flux_row(entry: Received, n: int | None) -> dict[str, Any]:
        message = entry.message
        row: dict[str, Any] = {
            "n": n,
            "kind": "other",
            "window": "",
            "is_final": False,
            "speech_final": False,
            "from_finalize": False,
            "text": "",
            "at": float(entry.at),
            "channel": 0,
            "superseded": False,
            "turn": None,
            "event": "",
            "confidence": None,
            "trigger": "",
            "updates": 0,
        }
        if isinstance(message, TurnInfo):
            row.update(
                kind=message.event if message.event in TURN_ROW_KINDS else "other",
                event=message.event,
                turn=message.turn_index,
                window=f"{message.audio_window_start:.3f}-{message.audio_window_end:.3f}",
                is_final=message.event == "EndOfTurn",
                text=message.transcript,
                confidence=float(message.end_of_turn_confidence),
                trigger=message.trigger or "",
            )
        elif isinstance(message, FluxMessage):
            kind = message.type if message.type in TURN_ROW_KINDS else "other"
            # The same words as the doc line, without its "-- " marker and arrival time.
            text = TurnFormatter().format(Received(entry.at, message)) or ""
            row.update(kind=kind, event=message.type, text=text[3:].rsplit(" (received at ", 1)[0])
        return row

    def doc_text(self) -> str:
        """The visible rows in the documentation's format (as `SessionLog.to_text()` prints them)."""
        return "\n".join(line for line in self._lines if line is not None)

    def _row(self, entry: Received, line: str | None) -> dict[str, Any]:
        message = entry.message
        row: dict[str, Any] = {
            "n": None,
            "kind": "other",
            "window": "",
            "is_final": False,
            "speech_final": False,
            "from_finalize": False,
            "text": "",
            "at": float(entry.at),
            "channel": 0,
            "superseded": False,
        }
        if isinstance(message, Results):
            row.update(
                n=self._formatter.count,
                kind="speech_final" if message.speech_final else "final" if message.is_final else "interim",
                window=f"{message.start:.3f}-{message.end:.3f}",
                is_final=bool(message.is_final),
                speech_final=bool(message.speech_final),
                from_finalize=bool(message.from_finalize),
                text=message.transcript,
                channel=message.channel_index[0],
            )
        elif isinstance(message, (SpeechStarted, UtteranceEnd)):
            # The same words as the doc line, without its "-- " marker.
            row.update(kind=message.type, text=(line or "")[3:], channel=message.channel[0])
        elif isinstance(message, Metadata):
            row.update(
                kind="Metadata",
                text=f"Metadata duration={message.duration:.3f} request_id={message.request_id}",
            )
        elif isinstance(message, ErrorMessage):
            row.update(kind="Error", text=" ".join(p for p in (message.variant, message.description) if p))
        else:
            row.update(text=str(getattr(message, "type", "")) or type(message).__name__)
        return row


# ------------------------------------------------------------------------------------- timeline


class TimedWord(NamedTuple):
    """A word on the timeline (stream seconds)."""

    word: str
    start: float
    end: float
    confidence: float
    channel: int = 0


class Window(NamedTuple):
    """The audio window [start, end] of one Results message, and when it arrived."""

    start: float
    end: float
    is_final: bool
    speech_final: bool
    channel: int = 0
    at: float = 0.0


class Gap(NamedTuple):
    """Silence between two consecutive finalized words of one channel (also inside one final)."""

    start: float
    end: float
    length: float
    over_threshold: bool
    channel: int = 0


class Marker(NamedTuple):
    """An event at stream time `time`, which arrived at `at`.

    speech_final: `time` is the final's window end; UtteranceEnd: `last_word_end`;
    SpeechStarted: `timestamp`.
    """

    time: float
    at: float
    channel: int = 0


class TurnMarker(NamedTuple):
    """A Flux TurnInfo event the timeline marks: it arrived at `at`, when the server had judged the
    audio up to `time` (``audio_window_end``)."""

    event: str
    time: float
    at: float
    turn: int
    transcript: str
    trigger: str = ""
    confidence: float = 0.0


class Decision(NamedTuple):
    """An end-of-speech decision of a client-side strategy (from a `dgwidgets.utterances.Utterance`)."""

    strategy: str
    end: float
    decided_at: float
    trigger: str
    provisional: bool
    start: float
    text: str
    channel: int = 0


@dataclass
class TimelineView:
    """Everything the plot draws, as plain lists (all of a session, or the last seconds of it)."""

    words: list[TimedWord] = field(default_factory=list)
    interim_words: list[TimedWord] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    speech_finals: list[Marker] = field(default_factory=list)
    utterance_ends: list[Marker] = field(default_factory=list)
    speech_starts: list[Marker] = field(default_factory=list)
    #: Flux: StartOfTurn / EagerEndOfTurn / TurnResumed / EndOfTurn, in arrival order
    turn_events: list[TurnMarker] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    duration: float = 0.0
    #: Where the view begins (0.0 for a whole session).
    since: float = 0.0


@dataclass
class _Channel:
    words: list[TimedWord] = field(default_factory=list)  # finalized, sorted by start
    gaps: list[Gap] = field(default_factory=list)
    interim: list[TimedWord] = field(default_factory=list)


class TimelineModel:
    """Word timings, windows, gaps and events of a stream, ready for plotting.

    Feed it entries in arrival order with `add`, and strategy decisions with `add_utterance`.
    Finalized words tile the timeline; the latest interim words of each channel form a ghost
    lane, trimmed when a final covers them and replaced by the next interim. Gaps are measured
    between consecutive finalized words of a channel, including words of one final (which
    UtteranceEnd does not look at, but a client-side silence rule does).

    Everything of a session is kept (a one-hour session is ~10k words); `window(seconds)`
    returns only the last seconds for drawing, so a redraw costs the same at minute 1 and 60.
    `revision` counts changes per kind so a plot can resend only what changed.

    >>> from dgwidgets.examples import example
    >>> model = TimelineModel(gap_threshold=1.0)
    >>> for entry in example("utterance-end"):
    ...     model.add(entry)
    >>> model.utterance_ends
    [Marker(time=1.2, at=2.2, channel=0)]
    >>> [(round(g.length, 3), g.over_threshold) for g in model.gaps]
    [(0.1, False)]
    >>> [w.word for w in model.interim_words], model.duration
    (['How', 'are', 'you?'], 3.5)

    A Flux log: each EndOfTurn's words are the finalized words; the open turn's words (from
    Update, StartOfTurn, EagerEndOfTurn, TurnResumed) are the interim lane; the turn events but
    Update are windows (EndOfTurn as a final one) and `turn_events` markers.

    >>> from dgwidgets.flux import TurnInfo
    >>> from dgwidgets.protocol import Word
    >>> hi = (Word("hi", 0.3, 0.7, 0.9),)
    >>> flux = TimelineModel()
    >>> flux.add(Received(0.76, TurnInfo("StartOfTurn", 0, 0.2, 0.75, "hi", hi)))
    >>> [w.word for w in flux.interim_words], flux.words
    (['hi'], [])
    >>> flux.add(Received(1.21, TurnInfo("EndOfTurn", 0, 0.2, 1.2, "hi", hi, 0.8, "model")))
    >>> [w.word for w in flux.words], flux.interim_words, [(m.event, m.at) for m in flux.turn_events]
    (['hi'], [], [('StartOfTurn', 0.76), ('EndOfTurn', 1.21)])
    """

    KINDS = ("words", "interim", "windows", "gaps", "events", "decisions")

    def __init__(self, gap_threshold: float = 1.0) -> None:
        if gap_threshold <= 0:
            raise ValueError(f"gap_threshold must be > 0 seconds, got {gap_threshold}")
        self.gap_threshold = float(gap_threshold)
        self.clear()

    def clear(self) -> None:
        self._channels: dict[int, _Channel] = {}
        self._windows: list[Window] = []
        self._speech_finals: list[Marker] = []
        self._utterance_ends: list[Marker] = []
        self._speech_starts: list[Marker] = []
        self._turn_events: list[TurnMarker] = []
        self._decisions: list[Decision] = []
        self._strategies: list[str] = []
        self.duration = 0.0
        # Bumped per kind on every change (never reset, so a plot never mistakes a cleared model
        # for an unchanged one).
        self.revision: dict[str, int] = dict.fromkeys(self.KINDS, 0) | getattr(self, "revision", {})
        for kind in self.KINDS:
            self.revision[kind] += 1

    # -- feeding --------------------------------------------------------------------------------

    def extend(self, entries: Iterable[Received]) -> None:
        for entry in entries:
            self.add(entry)

    def add(self, entry: Received) -> None:
        """Add one received message (other message types are ignored)."""
        message, at = entry.message, float(entry.at)
        if isinstance(message, Results):
            self._add_results(message, at)
        elif isinstance(message, UtteranceEnd):
            self._utterance_ends.append(Marker(message.last_word_end, at, message.channel[0]))
            self._seen(message.last_word_end, at)
            self._bump("events")
        elif isinstance(message, SpeechStarted):
            self._speech_starts.append(Marker(message.timestamp, at, message.channel[0]))
            self._seen(message.timestamp, at)
            self._bump("events")
        elif isinstance(message, TurnInfo):
            self._add_turn(message, at)

    def add_utterance(self, strategy_name: str, utterance: Any) -> None:
        """Record a strategy's decision (a `dgwidgets.utterances.Utterance`) in the strategy's lane."""
        name = str(getattr(strategy_name, "name", strategy_name))
        if name not in self._strategies:
            self._strategies.append(name)
        self._decisions.append(
            Decision(
                name,
                float(utterance.end),
                float(utterance.decided_at),
                str(utterance.trigger),
                bool(utterance.provisional),
                float(utterance.start),
                str(utterance.text),
                int(getattr(utterance, "channel", 0)),
            )
        )
        self._seen(utterance.end, utterance.decided_at)
        self._bump("decisions")

    def _bump(self, kind: str) -> None:
        self.revision[kind] += 1

    def _seen(self, *times: float) -> None:
        self.duration = max(self.duration, *(float(t) for t in times))

    def _channel(self, index: int) -> _Channel:
        return self._channels.setdefault(index, _Channel())

    def _add_results(self, results: Results, at: float) -> None:
        index = results.channel_index[0]
        channel = self._channel(index)
        words = sorted(
            (TimedWord(w.text, float(w.start), float(w.end), float(w.confidence), index) for w in results.words),
            key=lambda w: w.start,
        )
        self._windows.append(Window(results.start, results.end, results.is_final, results.speech_final, index, at))
        self._bump("windows")
        self._seen(results.end, at, *(w.end for w in words))
        if not results.is_final:
            if channel.interim or words:
                channel.interim = words
                self._bump("interim")
            return
        if results.speech_final:
            self._speech_finals.append(Marker(results.end, at, index))
            self._bump("events")
        kept = [w for w in channel.interim if w.start >= results.end - _EPS]
        if len(kept) != len(channel.interim):
            channel.interim = kept
            self._bump("interim")
        if words:
            self._add_final_words(channel, results.start, results.end, words)
            self._bump("words")
            self._bump("gaps")

    def _add_turn(self, info: TurnInfo, at: float) -> None:
        channel = self._channel(0)
        words = sorted(
            (TimedWord(w.text, float(w.start), float(w.end), float(w.confidence), 0) for w in info.words),
            key=lambda w: w.start,
        )
        self._seen(info.audio_window_end, at, *(w.end for w in words))
        ends = info.event == "EndOfTurn"
        if ends:
            if channel.interim:
                channel.interim = []
                self._bump("interim")
            if words:
                self._add_final_words(channel, info.audio_window_start, info.audio_window_end, words)
                self._bump("words")
                self._bump("gaps")
        elif channel.interim or words:
            channel.interim = words
            self._bump("interim")
        if info.event in TURN_MARKER_EVENTS:
            self._windows.append(Window(info.audio_window_start, info.audio_window_end, ends, False, 0, at))
            self._bump("windows")
            self._turn_events.append(
                TurnMarker(
                    info.event,
                    info.audio_window_end,
                    at,
                    info.turn_index,
                    info.transcript,
                    info.trigger or "",
                    float(info.end_of_turn_confidence),
                )
            )
            self._bump("events")

    def _add_final_words(self, channel: _Channel, start: float, end: float, words: list[TimedWord]) -> None:
        final = channel.words
        if not final or words[0].start >= final[-1].start + _EPS:
            # The usual case: finals tile the timeline, so new words go at the end and only the
            # gaps they add need computing (a one-hour session stays cheap).
            before = len(final)
            final.extend(words)
            self._extend_gaps(channel, max(before - 1, 0))
            return
        # Out of order (a repeated or overlapping final, or several channels' logs merged): a
        # later final replaces the finalized words inside its window, then gaps are redone.
        low = min(start, words[0].start) - _EPS
        high = max(end, words[-1].end)
        channel.words = sorted(
            [w for w in final if not (low <= w.start < high - _EPS)] + words,
            key=lambda w: w.start,
        )
        channel.gaps = []
        self._extend_gaps(channel, 0)

    def _extend_gaps(self, channel: _Channel, first: int) -> None:
        words = channel.words
        for previous, word in zip(words[first:], words[first + 1 :]):
            length = word.start - previous.end
            if length > 0:
                channel.gaps.append(
                    Gap(previous.end, word.start, length, length >= self.gap_threshold - _EPS, word.channel)
                )

    # -- read-outs ------------------------------------------------------------------------------

    @property
    def channels(self) -> list[int]:
        return sorted(self._channels)

    @property
    def words(self) -> list[TimedWord]:
        """Finalized words of all channels, sorted by start."""
        return self._merged("words")

    @property
    def gaps(self) -> list[Gap]:
        """Gaps between consecutive finalized words of each channel, sorted by start."""
        return self._merged("gaps")

    @property
    def interim_words(self) -> list[TimedWord]:
        """The latest interim words of each channel not yet covered by a final (the ghost lane)."""
        return self._merged("interim")

    @property
    def windows(self) -> list[Window]:
        return list(self._windows)

    @property
    def speech_finals(self) -> list[Marker]:
        return list(self._speech_finals)

    @property
    def utterance_ends(self) -> list[Marker]:
        return list(self._utterance_ends)

    @property
    def speech_starts(self) -> list[Marker]:
        return list(self._speech_starts)

    @property
    def turn_events(self) -> list[TurnMarker]:
        """Flux turn events (all but Update), in arrival order."""
        return list(self._turn_events)

    @property
    def decisions(self) -> list[Decision]:
        return list(self._decisions)

    @property
    def strategies(self) -> list[str]:
        """Strategy names in order of first decision (one plot lane each)."""
        return list(self._strategies)

    def _merged(self, name: str) -> list[Any]:
        lists = [getattr(self._channels[c], name) for c in sorted(self._channels)]
        if len(lists) == 1:
            return list(lists[0])
        return list(heapq.merge(*lists, key=lambda item: item.start))

    def snapshot(self) -> TimelineView:
        """The whole session."""
        return self.window(None)

    def window(self, seconds: float | None) -> TimelineView:
        """What lies in the last `seconds` of stream time (everything when None).

        An item is kept when any part of it (for events: the stream time or the arrival) falls
        at or after `duration - seconds`.
        """
        if seconds is None or seconds >= self.duration:
            since = 0.0
            keep = _everything
        else:
            since = self.duration - float(seconds)

            def keep(first: float, last: float) -> bool:
                return last >= since

        words: list[list[TimedWord]] = []
        gaps: list[list[Gap]] = []
        for index in sorted(self._channels):
            channel = self._channels[index]
            words.append(_tail(channel.words, since))
            # Gaps of a channel never overlap, so their ends are sorted too: an exact search.
            gaps.append(channel.gaps[bisect.bisect_left(channel.gaps, since, key=lambda g: g.end) :])

        def merged(lists: list[list[Any]]) -> list[Any]:
            return list(lists[0]) if len(lists) == 1 else list(heapq.merge(*lists, key=lambda item: item.start))

        return TimelineView(
            words=merged(words) if words else [],
            interim_words=[w for w in self.interim_words if keep(w.start, w.end)],
            windows=[w for w in self._windows if keep(w.start, w.end)],
            gaps=merged(gaps) if gaps else [],
            speech_finals=[m for m in self._speech_finals if keep(m.time, max(m.time, m.at))],
            utterance_ends=[m for m in self._utterance_ends if keep(m.time, max(m.time, m.at))],
            speech_starts=[m for m in self._speech_starts if keep(m.time, max(m.time, m.at))],
            turn_events=[m for m in self._turn_events if keep(min(m.time, m.at), max(m.time, m.at))],
            decisions=[d for d in self._decisions if keep(d.end, max(d.end, d.decided_at))],
            strategies=list(self._strategies),
            duration=self.duration,
            since=since,
        )


def _everything(first: float, last: float) -> bool:
    return True


# No word lasts longer than this; it bounds the search of `_tail` (word ends need not be sorted).
_LONGEST_WORD = 30.0


def _tail(items: list[Any], since: float) -> list[Any]:
    """Words (sorted by start) that end at or after `since`, found without scanning the whole list."""
    if since <= 0:
        return list(items)
    first = bisect.bisect_left(items, since - _LONGEST_WORD, key=lambda item: item.start)
    return [item for item in items[first:] if item.end >= since]


# ------------------------------------------------------------------------------ plot styling


#: One colour per client-side strategy, in lane order: the plot's strategy lanes and the panels
#: below it both read this registry, so a strategy looks the same in every notebook. Chosen apart
#: from the event colours (speech_final green, UtteranceEnd purple, SpeechStarted orange).
STRATEGY_COLORS: dict[str, str] = {
    "speech_final": "#17becf",
    "speech_final_or_utterance_end": "#8c564b",
    "silence_interval": "#a6a11f",
    "punctuation_or_gap": "#e377c2",
    "low_latency": "#393b79",
    # Flux's own decisions (dgwidgets.utterances.FLUX_STRATEGIES), in lanes like the client-side rules
    "flux_end_of_turn": "#a50f15",
    "flux_eager_end_of_turn": "#fb6a4a",
}
# Strategies outside the registry (a user's own) get these, picked by name so a name always
# gets the same colour.
_EXTRA_COLORS = ("#637939", "#843c39", "#5254a3", "#8c6d31", "#7b4173")


#: The Flux turn events' colours on the timeline: an EndOfTurn (EagerEndOfTurn) marker has the
#: colour of the flux_end_of_turn (flux_eager_end_of_turn) lane that scores it, so the server's
#: event and the decision read from it match; the others are apart from every colour above.
TURN_EVENT_COLORS: dict[str, str] = {
    "StartOfTurn": "#e6ab02",
    "EagerEndOfTurn": STRATEGY_COLORS["flux_eager_end_of_turn"],
    "TurnResumed": "#1b9e77",
    "EndOfTurn": STRATEGY_COLORS["flux_end_of_turn"],
}


def turn_event_color(event: str) -> str:
    """The fixed colour of a Flux turn event's markers.

    >>> turn_event_color("EndOfTurn") == strategy_color("flux_end_of_turn")
    True
    """
    return TURN_EVENT_COLORS.get(event, "#7f7f7f")


def strategy_color(name: str) -> str:
    """The fixed colour of a strategy, the same in every plot and panel.

    >>> strategy_color("speech_final"), strategy_color("speech_final") == strategy_color("speech_final")
    ('#17becf', True)
    >>> strategy_color("my_rule") in _EXTRA_COLORS
    True
    """
    color = STRATEGY_COLORS.get(name)
    if color is not None:
        return color
    return _EXTRA_COLORS[sum(name.encode()) % len(_EXTRA_COLORS)]


def strategy_order(names: Iterable[str]) -> list[str]:
    """`names` in the registry's fixed lane order; strategies outside it follow in the order given.

    >>> strategy_order(["silence_interval", "mine", "speech_final"])
    ['speech_final', 'silence_interval', 'mine']
    """
    known = list(STRATEGY_COLORS)
    unique = list(dict.fromkeys(names))
    return sorted(unique, key=lambda n: (known.index(n), 0) if n in known else (len(known), unique.index(n)))


#: Average width of a character of the plot's label font, in pixels per point of font size
#: (Open Sans / Arial average about 0.55 em; a little more so labels never touch).
CHAR_WIDTH_EM = 0.62


def text_width(text: str, font_size: float) -> float:
    """Estimated width in pixels of `text` in the plot's font at `font_size` px."""
    return len(text) * font_size * CHAR_WIDTH_EM


class Label(NamedTuple):
    """A text label placed on the plot: item `index`, centred at `x` seconds, in `row` (0 first)."""

    index: int
    x: float
    text: str
    row: int


def fit_labels(
    items: Iterable[tuple[float, float, str]],
    px_per_second: float,
    *,
    font_size: float = 10.0,
    rows: int = 1,
    must: Iterable[int] = (),
    padding_px: float = 6.0,
) -> list[Label]:
    """Place horizontal labels so none overlaps another: the rest are left to the hover text.

    `items` are ``(start, end, text)`` in seconds, each label centred on its span; `px_per_second`
    is the plot's scale. Labels are tried row by row (row 0 first) and kept in the first row where
    they do not overlap an already placed label. Indices in `must` are placed first and always
    kept: if no row has room, they go in the least crowded row anyway (those are the gaps that
    matter). Returns the placed labels sorted by index.

    >>> words = [(0.0, 0.3, "hello"), (0.3, 0.5, "there"), (0.5, 0.6, "you")]
    >>> [(l.text, l.row) for l in fit_labels(words, px_per_second=100)]
    [('hello', 0), ('you', 0)]
    >>> [(l.text, l.row) for l in fit_labels(words, px_per_second=100, rows=2)]
    [('hello', 0), ('there', 1), ('you', 0)]
    >>> [l.text for l in fit_labels(words, px_per_second=10, must=[1])]
    ['there']
    """
    if px_per_second <= 0:
        raise ValueError(f"px_per_second must be > 0, got {px_per_second}")
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    items = list(items)
    must_set = {i for i in must if 0 <= i < len(items)}
    # Each row keeps its placed extents (left, right) in pixels, sorted by left edge.
    placed: list[list[tuple[float, float]]] = [[] for _ in range(rows)]
    labels: list[Label] = []

    def extent(i: int) -> tuple[float, float]:
        start, end, text = items[i]
        mid = (start + end) / 2 * px_per_second
        half = text_width(text, font_size) / 2 + padding_px / 2
        return mid - half, mid + half

    def overlaps(row: list[tuple[float, float]], box: tuple[float, float]) -> int:
        return sum(1 for left, right in row if left < box[1] and box[0] < right)

    order = sorted(must_set) + [i for i in range(len(items)) if i not in must_set]
    for i in order:
        box = extent(i)
        row = next((r for r in range(rows) if not overlaps(placed[r], box)), None)
        if row is None:
            if i not in must_set:
                continue
            row = min(range(rows), key=lambda r: overlaps(placed[r], box))
        bisect.insort(placed[row], box)
        start, end, text = items[i]
        labels.append(Label(i, (start + end) / 2, text, row))
    return sorted(labels)


def gaps_that_matter(gaps: Iterable[Gap], *thresholds_ms: float | None) -> list[int]:
    """Indices of the gaps at least as long as any given threshold (endpointing, utterance_end_ms)
    or over the plot's own gap threshold: their labels are always shown.

    >>> gaps = [Gap(0, 0.1, 0.1, False), Gap(1, 1.4, 0.4, False), Gap(2, 3.2, 1.2, True)]
    >>> gaps_that_matter(gaps, 300, None), gaps_that_matter(gaps, None)
    ([1, 2], [2])
    """
    limits = [float(t) / 1000 for t in thresholds_ms if t is not None and t is not False]
    return [
        i for i, gap in enumerate(gaps) if gap.over_threshold or any(gap.length >= limit - _EPS for limit in limits)
    ]


def confidence_color(confidence: float) -> str:
    """A word bar's fill: very light blue at confidence 0 to light blue at 1 (dark labels stay readable on it), as an ``rgb()`` string.

    Plotly is given colour strings, never bare numbers (a number where a colour is expected makes
    the browser log "Invalid color specifier").

    >>> confidence_color(0.0), confidence_color(1.0), confidence_color(7)
    ('rgb(228,238,250)', 'rgb(135,177,228)', 'rgb(135,177,228)')
    """
    c = min(1.0, max(0.0, float(confidence))) if confidence == confidence else 0.0
    low, high = (228, 238, 250), (135, 177, 228)
    r, g, b = (round(lo + (hi - lo) * c) for lo, hi in zip(low, high))
    return f"rgb({r},{g},{b})"
