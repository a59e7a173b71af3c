"""SessionLog: what a stream received, when, with which options and from which audio.

The log is the kit's record of truth. Widgets, strategies and the table text are all
computed from it, it is saved as JSONL while the stream runs (so a crash keeps every
line written so far), and a saved log replays exactly.

File format (one JSON object a line)::

    {"dgwidgets_session": 1, "options": "interim_results=true&endpointing=300", "source": "sample:credit-card", ...}
    {"at": 1.103, "message": {"type": "Results", ...}}
    {"at": 1.412, "message": {"type": "SpeechStarted", ...}}

A Flux (``/v2/listen``) session has ``"api": "v2"`` in its header, `FluxOptions` as its options and
the v2 messages (`TurnInfo`, `FluxMessage`) as entries; its text has one line per turn event
(`TurnFormatter`). The ``at`` of every entry is on the same stream clock for both APIs: seconds
since the first audio sample was captured.

>>> log = SessionLog(options=LiveOptions(interim_results=True), source="doc")
>>> entry = log.append(UtteranceEnd(last_word_end=2.395), at=3.4)
>>> print(log.to_text())
-- UtteranceEnd last_word_end=2.395 (received at 3.400)
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .flux import FluxMessage, FluxOptions, TurnInfo, flux_message_from_dict
from .protocol import (
    LiveOptions,
    Message,
    MessageError,
    OptionsError,
    Results,
    SpeechStarted,
    UtteranceEnd,
    message_from_dict,
)

__all__ = [
    "Received",
    "SessionLog",
    "SessionFileError",
    "TableFormatter",
    "TurnFormatter",
    "format_results_line",
    "format_turn_line",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 1
_HEADER_KEY = "dgwidgets_session"


class SessionFileError(ValueError):
    """A saved session that cannot be read; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Received:
    """One message and the time it arrived, in seconds since the stream started."""

    at: float
    message: Message | TurnInfo | FluxMessage

    def to_dict(self) -> dict[str, Any]:
        return {"at": round(self.at, 6), "message": self.message.to_dict()}


def _bool(value: bool) -> str:
    # The docs pad `true` with a space to the width of `false`, so the columns line up.
    return "true " if value else "false"


def format_results_line(number: int, results: Results, *, show_channel: bool = False) -> str:
    """One row of the documentation's rolling table.

    >>> from dgwidgets.protocol import Alternative
    >>> r = Results(start=0.0, duration=3.26, is_final=True, speech_final=False,
    ...             alternatives=(Alternative("yeah so my credit card number is two two", 0.9),))
    >>> format_results_line(5, r)
    '5 0.000-3.260 ["is_final": true ] ["speech_final": false] yeah so my credit card number is two two'
    """
    channel = f"[channel {results.channel_index[0]}] " if show_channel else ""
    line = (
        f'{number} {channel}{results.start:.3f}-{results.end:.3f} ["is_final": {_bool(results.is_final)}] '
        f'["speech_final": {_bool(results.speech_final)}] {results.transcript}'
    )
    return line.rstrip()


class TableFormatter:
    """Formats entries one at a time as rows of the rolling table (for live printing).

    Results are numbered 1, 2, … as in the docs; SpeechStarted and UtteranceEnd become `--` lines.

    >>> fmt = TableFormatter()
    >>> fmt.format(Received(2.2, UtteranceEnd(last_word_end=1.2)))
    '-- UtteranceEnd last_word_end=1.200 (received at 2.200)'
    """

    def __init__(self, *, show_channel: bool = False, events: bool = True) -> None:
        self.show_channel = show_channel
        self.events = events
        self.count = 0

    def format(self, entry: Received) -> str | None:
        msg = entry.message
        if isinstance(msg, Results):
            self.count += 1
            return format_results_line(self.count, msg, show_channel=self.show_channel)
        if self.events and isinstance(msg, SpeechStarted):
            return f"-- SpeechStarted timestamp={msg.timestamp:.3f} (received at {entry.at:.3f})"
        if self.events and isinstance(msg, UtteranceEnd):
            return f"-- UtteranceEnd last_word_end={msg.last_word_end:.3f} (received at {entry.at:.3f})"
        return None


def format_turn_line(info: TurnInfo, at: float) -> str:
    """One readable line for a Flux `TurnInfo`: turn, event, audio window, end-of-turn confidence,
    trigger (EndOfTurn only), transcript, arrival time on the stream clock.

    >>> info = TurnInfo("EndOfTurn", 0, 0.0, 2.56, "hello there", end_of_turn_confidence=0.83, trigger="model")
    >>> format_turn_line(info, 2.611)
    'turn 0 EndOfTurn      0.000-2.560 eot 0.83 [model] hello there (received at 2.611)'
    """
    trigger = f" [{info.trigger}]" if info.trigger else ""
    text = f" {info.transcript}" if info.transcript else ""
    return (
        f"turn {info.turn_index} {info.event:<14} {info.audio_window_start:.3f}-{info.audio_window_end:.3f} "
        f"eot {info.end_of_turn_confidence:.2f}{trigger}{text} (received at {at:.3f})"
    )


def _flux_event_text(message: FluxMessage) -> str:
    """A v2 message other than TurnInfo in a few words (what a `--` line shows after its type)."""
    data = message.data
    if message.type == "Connected":
        extra = " ".join(f"{k}={v}" for k, v in data.items() if k not in ("type", "request_id", "sequence_id"))
        return f"request_id={message.request_id}" + (f" {extra}" if extra else "")
    if message.type == "ConfigureSuccess":
        thresholds = " ".join(f"{k}={v}" for k, v in (data.get("thresholds") or {}).items())
        return f"{thresholds} keyterms={list(data.get('keyterms') or [])}".strip()
    return f"{message.code}: {message.description}" if message.code else message.description


class TurnFormatter:
    """Formats the entries of a Flux session one at a time (for live printing and `to_text`).

    Every TurnInfo event gets a `format_turn_line`, except ``Update`` (four a second of audio)
    unless `updates`; other v2 messages become ``--`` lines.

    >>> fmt = TurnFormatter()
    >>> fmt.format(Received(0.5, TurnInfo("Update", 0, 0.0, 0.5, ""))) is None
    True
    >>> fmt.format(Received(0.1, FluxMessage({"type": "Warning", "code": "NO_ACTIVE_TURN", "description": "nothing said"})))
    '-- Warning NO_ACTIVE_TURN: nothing said (received at 0.100)'
    """

    def __init__(self, *, updates: bool = False, events: bool = True) -> None:
        self.updates = updates
        self.events = events
        self.count = 0

    def format(self, entry: Received) -> str | None:
        msg = entry.message
        if isinstance(msg, TurnInfo):
            self.count += 1
            if msg.event == "Update" and not self.updates:
                return None
            return format_turn_line(msg, entry.at)
        if self.events and isinstance(msg, FluxMessage):
            return f"-- {msg.type} {_flux_event_text(msg)} (received at {entry.at:.3f})"
        return None


Options = LiveOptions | FluxOptions


@dataclass
class SessionLog:
    """The messages of one stream with their arrival times, its options and its audio source.

    `append` records a message (and writes it through to the attached file, if any).
    `to_text()` renders the documentation's table; `save`/`load` keep it as JSONL. With
    `FluxOptions` it is a ``/v2/listen`` session (`api` is ``"v2"``): `turns()` gives its TurnInfo
    messages, `final_transcript()` joins its EndOfTurn transcripts, `to_text()` prints one line per
    turn event.

    >>> log = SessionLog(source="sample:yes")
    >>> len(log), log.results(), log.api
    (0, [], 'v1')
    >>> flux = SessionLog(options=FluxOptions())
    >>> _ = flux.append(TurnInfo("EndOfTurn", 0, 0.0, 1.6, "hi", trigger="model"), at=1.62)
    >>> flux.api, flux.final_transcript(), flux.to_text()
    ('v2', 'hi', 'turn 0 EndOfTurn      0.000-1.600 eot 0.00 [model] hi (received at 1.620)')
    """

    options: Options = field(default_factory=LiveOptions)
    source: str = ""
    backend: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    entries: list[Received] = field(default_factory=list)
    #: Set by `load` when the file's last line was cut off (a crash mid-write); that line is dropped.
    recovered_from_truncation: bool = False
    _sink: IO[str] | None = field(default=None, repr=False, compare=False)
    _subscribers: list[Callable[[Received], None]] = field(default_factory=list, repr=False, compare=False)

    # -- recording ------------------------------------------------------------------------------

    def append(self, message: Message, at: float) -> Received:
        """Record a message that arrived `at` seconds after the stream started."""
        entry = Received(float(at), message)
        self.entries.append(entry)
        if self._sink is not None:
            self._sink.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
            self._sink.flush()
        for subscriber in list(self._subscribers):
            subscriber(entry)
        return entry

    def subscribe(self, callback: Callable[[Received], None]) -> Callable[[], None]:
        """Call `callback(entry)` for every appended entry; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def attach_file(self, path: str | os.PathLike[str]) -> None:
        """Write the header and every entry so far to `path`, then append each new entry as it comes.

        Every line is flushed at once, so a crash mid-stream keeps all lines received before it.
        """
        self.close_file()
        sink = open(path, "w", encoding="utf-8")  # noqa: SIM115 - kept open for the stream's life
        sink.write(json.dumps(self.header(), ensure_ascii=False) + "\n")
        for entry in self.entries:
            sink.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
        sink.flush()
        self._sink = sink

    def close_file(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    # -- reading --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Received]:
        return iter(self.entries)

    def messages(self) -> list[Message]:
        return [e.message for e in self.entries]

    @property
    def api(self) -> str:
        """``"v1"`` (``/v1/listen``: Results, SpeechStarted, UtteranceEnd) or ``"v2"`` (Flux: TurnInfo)."""
        return getattr(self.options, "api", "v1")

    def turns(self, *events: str) -> list[TurnInfo]:
        """The TurnInfo messages (of the given `events` only, e.g. ``"EndOfTurn"``), in arrival order."""
        return [
            e.message
            for e in self.entries
            if isinstance(e.message, TurnInfo) and (not events or e.message.event in events)
        ]

    def results(self) -> list[Results]:
        return [e.message for e in self.entries if isinstance(e.message, Results)]

    def finals(self) -> list[Results]:
        return [r for r in self.results() if r.is_final]

    def final_transcript(self) -> str:
        """All finalized transcripts joined (what a captioning app would keep); for Flux, every EndOfTurn's."""
        if self.api == "v2":
            return " ".join(t.transcript for t in self.turns("EndOfTurn") if t.transcript)
        return " ".join(r.transcript for r in self.finals() if r.transcript)

    def of_type(self, kind: type) -> list[Any]:
        return [e.message for e in self.entries if isinstance(e.message, kind)]

    @property
    def channels(self) -> int:
        counts = [r.channel_index[1] for r in self.results()]
        return max(counts) if counts else self.options.channels

    def to_text(self, *, events: bool = True, updates: bool = False) -> str:
        """The rolling table exactly as the documentation prints it, one line per Results.

        SpeechStarted and UtteranceEnd appear as their own lines starting with `--`
        (omit them with `events=False`). Lines are numbered by Results only, as in the docs.
        A Flux session has one line per turn event instead (`TurnFormatter`; Update events only
        with `updates`).
        """
        return "\n".join(self.table_lines(events=events, updates=updates))

    def table_lines(self, *, events: bool = True, updates: bool = False) -> list[str]:
        formatter: TableFormatter | TurnFormatter
        if self.api == "v2":
            formatter = TurnFormatter(updates=updates, events=events)
        else:
            formatter = TableFormatter(show_channel=self.channels > 1, events=events)
        return [line for line in map(formatter.format, self.entries) if line is not None]

    # -- files ----------------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        header = {
            _HEADER_KEY: FORMAT_VERSION,
            "options": self.options.to_query(),
            "source": self.source,
            "backend": self.backend,
            "info": self.info,
        }
        if self.api != "v1":  # v1 headers stay as they always were
            header["api"] = self.api
        return header

    def to_jsonl(self) -> str:
        lines = [json.dumps(self.header(), ensure_ascii=False)]
        lines += [json.dumps(e.to_dict(), ensure_ascii=False) for e in self.entries]
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole log to `path` as JSONL (atomically: a temp file, then a rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_jsonl(), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, strict: bool = False) -> SessionLog:
        """Read a JSONL session written by `save` or `attach_file`.

        A last line cut off mid-write (no newline, invalid JSON) is what a crash leaves: it is
        dropped and `recovered_from_truncation` is set, unless `strict`. Any other bad line
        raises `SessionFileError` naming the line.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SessionFileError(f"{path}: no such file") from None
        except UnicodeDecodeError as err:
            raise SessionFileError(f"{path}: not a text file ({err.reason})") from None
        return cls.from_jsonl(text, name=str(path), strict=strict)

    @classmethod
    def from_jsonl(cls, text: str, *, name: str = "<session>", strict: bool = False) -> SessionLog:
        raw_lines = text.split("\n")
        ends_cleanly = text.endswith("\n")
        if not text.strip():
            raise SessionFileError(f"{name}: empty file, expected a dgwidgets session header")
        log: SessionLog | None = None
        last_index = max(i for i, line in enumerate(raw_lines) if line.strip())
        for index, line in enumerate(raw_lines):
            if not line.strip():
                continue
            number = index + 1
            try:
                data = json.loads(line)
            except ValueError as err:
                if index == last_index and not ends_cleanly and not strict and log is not None:
                    log.recovered_from_truncation = True
                    break
                if log is None:  # the header itself is not JSON: some other kind of file
                    raise SessionFileError(
                        f"{name}, line {number}: not a dgwidgets session (a JSONL file whose first line is "
                        f'its header with "{_HEADER_KEY}"; sessions come from --save or SessionLog.save)'
                    ) from None
                hint = " (the file ends mid-line: was the stream interrupted?)" if index == last_index else ""
                raise SessionFileError(f"{name}, line {number}: not valid JSON: {err}{hint}") from None
            if log is None:
                log = cls._from_header(data, name)
                continue
            try:
                log.entries.append(_entry_from_dict(data, log.api))
            except (MessageError, KeyError, TypeError, ValueError) as err:
                raise SessionFileError(f"{name}, line {number}: {err}") from None
        assert log is not None
        return log

    @classmethod
    def _from_header(cls, data: Any, name: str) -> SessionLog:
        if not isinstance(data, Mapping) or _HEADER_KEY not in data:
            raise SessionFileError(
                f'{name}, line 1: not a dgwidgets session (the first line must be its header with "{_HEADER_KEY}")'
            )
        version = data[_HEADER_KEY]
        if version != FORMAT_VERSION:
            raise SessionFileError(f"{name}, line 1: session format {version!r}, this dgwidgets reads {FORMAT_VERSION}")
        api = data.get("api", "v1")
        if api not in ("v1", "v2"):
            raise SessionFileError(f'{name}, line 1: "api" is {api!r}, this dgwidgets reads "v1" and "v2" sessions')
        try:
            query = str(data.get("options", ""))
            options: Options = (
                FluxOptions.from_query(query, keep_unknown=True) if api == "v2" else LiveOptions.from_query(query)
            )
        except OptionsError as err:
            raise SessionFileError(f"{name}, line 1: {err}") from None
        return cls(
            options=options,
            source=str(data.get("source", "")),
            backend=str(data.get("backend", "")),
            info=dict(data.get("info") or {}),
        )

    @classmethod
    def from_messages(
        cls,
        received: Iterable[tuple[float, Any]],
        *,
        options: Options | None = None,
        source: str = "",
    ) -> SessionLog:
        """Build a log from (arrival time, message) pairs."""
        log = cls(options=options or LiveOptions(), source=source)
        for at, message in received:
            log.entries.append(Received(float(at), message))
        return log

    def __del__(self) -> None:  # a forgotten log must not leak its file handle
        sink = self.__dict__.get("_sink")
        if isinstance(sink, io.TextIOBase) and not sink.closed:
            sink.close()


def _entry_from_dict(data: Any, api: str = "v1") -> Received:
    if not isinstance(data, Mapping):
        raise ValueError("an entry must be a JSON object")
    if "at" not in data or "message" not in data:
        raise ValueError('an entry needs "at" (seconds) and "message"')
    at = data["at"]
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise ValueError(f'"at" must be a number of seconds, got {at!r}')
    parse = flux_message_from_dict if api == "v2" else message_from_dict
    return Received(float(at), parse(data["message"]))
