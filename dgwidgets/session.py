"""SessionLog: what a stream received, when, with which options and from which audio.

The log is the kit's record of truth. Widgets, strategies and the table text are all
computed from it, it is saved as JSONL while the stream runs (so a crash keeps every
line written so far), and a saved log replays exactly.

File format (one JSON object a line)::

    {"dgwidgets_session": 1, "options": "interim_results=true&endpointing=300", "source": "sample:credit-card", ...}
    {"at": 1.103, "message": {"type": "Results", ...}}
    {"at": 1.412, "message": {"type": "SpeechStarted", ...}}

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
    "format_results_line",
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
    message: Message

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


@dataclass
class SessionLog:
    """The messages of one stream with their arrival times, its options and its audio source.

    `append` records a message (and writes it through to the attached file, if any).
    `to_text()` renders the documentation's table; `save`/`load` keep it as JSONL.

    >>> log = SessionLog(source="sample:yes")
    >>> len(log), log.results()
    (0, [])
    """

    options: LiveOptions = field(default_factory=LiveOptions)
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

    def results(self) -> list[Results]:
        return [e.message for e in self.entries if isinstance(e.message, Results)]

    def finals(self) -> list[Results]:
        return [r for r in self.results() if r.is_final]

    def final_transcript(self) -> str:
        """All finalized transcripts joined (what a captioning app would keep)."""
        return " ".join(r.transcript for r in self.finals() if r.transcript)

    def of_type(self, kind: type) -> list[Any]:
        return [e.message for e in self.entries if isinstance(e.message, kind)]

    @property
    def channels(self) -> int:
        counts = [r.channel_index[1] for r in self.results()]
        return max(counts) if counts else self.options.channels

    def to_text(self, *, events: bool = True) -> str:
        """The rolling table exactly as the documentation prints it, one line per Results.

        SpeechStarted and UtteranceEnd appear as their own lines starting with `--`
        (omit them with `events=False`). Lines are numbered by Results only, as in the docs.
        """
        return "\n".join(self.table_lines(events=events))

    def table_lines(self, *, events: bool = True) -> list[str]:
        formatter = TableFormatter(show_channel=self.channels > 1, events=events)
        return [line for line in map(formatter.format, self.entries) if line is not None]

    # -- files ----------------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        return {
            _HEADER_KEY: FORMAT_VERSION,
            "options": self.options.to_query(),
            "source": self.source,
            "backend": self.backend,
            "info": self.info,
        }

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
                log.entries.append(_entry_from_dict(data))
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
        try:
            options = LiveOptions.from_query(str(data.get("options", "")))
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
        received: Iterable[tuple[float, Message]],
        *,
        options: LiveOptions | None = None,
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


def _entry_from_dict(data: Any) -> Received:
    if not isinstance(data, Mapping):
        raise ValueError("an entry must be a JSON object")
    if "at" not in data or "message" not in data:
        raise ValueError('an entry needs "at" (seconds) and "message"')
    at = data["at"]
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise ValueError(f'"at" must be a number of seconds, got {at!r}')
    return Received(float(at), message_from_dict(data["message"]))
