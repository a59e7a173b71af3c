"""Deepgram Flux (``/v2/listen``) protocol: query options, client messages and server messages (pure).

Flux is Deepgram's turn-taking API for voice agents: instead of interim/final Results,
endpointing and UtteranceEnd, the server sends one kind of transcript message, ``TurnInfo``,
whose ``event`` says where the speaker is in their turn. See ``docs/flux.md`` for the rules
in full; in short:

* server messages: ``Connected`` (always first), ``TurnInfo``, ``ConfigureSuccess``,
  ``ConfigureFailure``, ``Warning`` and ``Error``; each carries ``sequence_id``, 0 for the first
  message of the stream and one more for each message after it, whatever its type;
* query: ``model`` (flux-general-en), ``encoding``, ``sample_rate``, ``eot_threshold`` (0.5-1.0,
  default 0.7), ``eager_eot_threshold`` (0.3-0.9, unset by default, at most eot_threshold),
  ``eot_timeout_ms`` (500-60000, default 5000), ``keyterm`` (repeatable); the ranges are the
  ones the official SDK 7.17 documents;
* client messages: binary audio, ``CloseStream``, ``Configure`` and ``ForceEndTurn``.

>>> options = FluxOptions.from_query("model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.5")
>>> options.eot_threshold, options.eager_eot_threshold, options.eot_timeout_ms
(0.7, 0.5, 5000)
>>> stamp = Sequencer("req-1")
>>> [stamp(connected())["sequence_id"], stamp(warning("X", "y"))["sequence_id"]]
[0, 1]
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

from .protocol import ENCODINGS, MessageError, OptionsError, UnknownMessage, Word

__all__ = [
    "FluxOptions",
    "Sequencer",
    "ClientMessage",
    "parse_client_message",
    "apply_configure",
    "connected",
    "turn_info",
    "configure_success",
    "configure_failure",
    "warning",
    "error",
    "FLUX_MODELS",
    "EOT_THRESHOLD_RANGE",
    "EAGER_EOT_THRESHOLD_RANGE",
    "EOT_TIMEOUT_RANGE",
    "SERVER_MESSAGE_TYPES",
    "TURN_EVENTS",
    "turn_decisions",
    "TurnInfo",
    "FluxMessage",
    "flux_message_from_dict",
    "parse_flux_message",
    "FLUX_PATH",
    "FLUX_CLOUD_URL",
]

FLUX_MODELS = ("flux-general-en",)
#: The path of Flux streams (``/v1/listen`` is the path of the Results API).
FLUX_PATH = "/v2/listen"
FLUX_CLOUD_URL = "wss://api.deepgram.com/v2/listen"
EOT_THRESHOLD_RANGE = (0.5, 1.0)
EAGER_EOT_THRESHOLD_RANGE = (0.3, 0.9)
EOT_TIMEOUT_RANGE = (500, 60_000)
SERVER_MESSAGE_TYPES = ("Connected", "TurnInfo", "ConfigureSuccess", "ConfigureFailure", "Warning", "Error")
TURN_EVENTS = ("Update", "StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EndOfTurn")
CLIENT_MESSAGE_TYPES = ("CloseStream", "Configure", "ForceEndTurn")
#: Query parameters Flux accepts that change nothing in the local engine.
_IGNORED = ("mip_opt_out", "tag", "language_hint", "profanity_filter", "numerals")


def _number(name: str, raw: Any, low: float, high: float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise OptionsError(name, raw, "must be a number") from None
    if isinstance(raw, bool) or not math.isfinite(value) or not low <= value <= high:
        raise OptionsError(name, raw, f"must be between {low} and {high}")
    return value


def _timeout(raw: Any) -> int:
    low, high = EOT_TIMEOUT_RANGE
    if isinstance(raw, bool):
        raise OptionsError("eot_timeout_ms", raw, "must be a whole number of milliseconds")
    try:
        value = int(raw) if isinstance(raw, int) else int(str(raw).strip())
    except ValueError:
        raise OptionsError("eot_timeout_ms", raw, "must be a whole number of milliseconds") from None
    if not low <= value <= high:
        raise OptionsError("eot_timeout_ms", raw, f"must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class FluxOptions:
    """A ``/v2/listen`` request's options, validated like Deepgram (raises `OptionsError`).

    The constructor checks every value (as `LiveOptions` does for ``/v1/listen``), so a client
    learns about a bad value before it connects. `to_query` sends ``model`` and the values that
    differ from the defaults; `other` holds parameters the kit does not model, sent as they are
    (Deepgram's cloud may know them; the local server answers an unknown one with a 400).

    >>> FluxOptions(eager_eot_threshold=0.5, keyterm=("Deepgram",)).to_query()
    'model=flux-general-en&eager_eot_threshold=0.5&keyterm=Deepgram'
    >>> FluxOptions(eot_threshold=0.2)
    Traceback (most recent call last):
    ...
    dgwidgets.protocol.OptionsError: Invalid 'eot_threshold' value 0.2: must be between 0.5 and 1.0
    >>> FluxOptions.from_query("model=flux-general-en&eot_threshold=0.6&eager_eot_threshold=0.7")
    Traceback (most recent call last):
    ...
    dgwidgets.protocol.OptionsError: Invalid 'eager_eot_threshold' value '0.7': must not exceed eot_threshold (0.6)
    """

    model: str = "flux-general-en"
    encoding: str | None = None
    sample_rate: int | None = None
    eot_threshold: float = 0.7
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int = 5000
    keyterm: tuple[str, ...] = ()
    #: accepted parameters the local engine does not act on (name, value)
    ignored: tuple[tuple[str, str], ...] = field(default=())
    #: parameters the kit does not model, sent as they are (never filled by `from_query`)
    other: tuple[tuple[str, str], ...] = field(default=())

    #: Which API these options are for (`SessionLog` and `LiveClient` read it).
    api: ClassVar[str] = "v2"
    #: Flux audio is mono.
    channels: ClassVar[int] = 1

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, here
        if self.model not in FLUX_MODELS:
            raise OptionsError("model", self.model, f"Flux models are {', '.join(FLUX_MODELS)}")
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise OptionsError("encoding", self.encoding, f"must be one of {', '.join(ENCODINGS)}")
        if self.sample_rate is not None and (
            isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) or self.sample_rate <= 0
        ):
            raise OptionsError("sample_rate", self.sample_rate, "must be a positive whole number of Hz")
        if self.encoding is not None and self.sample_rate is None:  # raw audio has no header to say its rate
            raise OptionsError("sample_rate", None, f"required when encoding is set (encoding={self.encoding!r})")
        set_(self, "eot_threshold", _number("eot_threshold", self.eot_threshold, *EOT_THRESHOLD_RANGE))
        if self.eager_eot_threshold is not None:
            set_(
                self,
                "eager_eot_threshold",
                _number("eager_eot_threshold", self.eager_eot_threshold, *EAGER_EOT_THRESHOLD_RANGE),
            )
        set_(self, "eot_timeout_ms", _timeout(self.eot_timeout_ms))
        check_thresholds(self.eot_threshold, self.eager_eot_threshold)
        keyterm = (self.keyterm,) if isinstance(self.keyterm, str) else tuple(self.keyterm or ())
        if not all(isinstance(k, str) and k.strip() for k in keyterm):
            raise OptionsError("keyterm", self.keyterm, "every item must be a non-empty string")
        set_(self, "keyterm", keyterm)
        set_(self, "ignored", tuple((str(k), str(v)) for k, v in (self.ignored or ())))
        other = tuple((str(k), str(v)) for k, v in (self.other or ()))
        for key, value in other:
            if key in _FIELDS:
                raise OptionsError(key, value, "is a modelled option: pass it by name, not in other")
        set_(self, "other", other)

    # -- query string ---------------------------------------------------------------------------

    def to_params(self) -> list[tuple[str, str]]:
        """The (key, value) pairs to send: ``model`` always, other values when not the default."""
        params: list[tuple[str, str]] = [("model", self.model)]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("model", "keyterm", "ignored", "other") or value == f.default:
                continue
            params.append((f.name, _short(value) if isinstance(value, float) else str(value)))
        params.extend(("keyterm", k) for k in self.keyterm)
        params.extend(self.ignored)
        params.extend(self.other)
        return params

    def to_query(self) -> str:
        """The URL query string (without '?')."""
        return urlencode(self.to_params())

    def url(self, base: str) -> str:
        """`base` (e.g. 'ws://127.0.0.1:8765/v2/listen') with this query appended."""
        return f"{base}{'&' if '?' in base else '?'}{self.to_query()}"

    def replace(self, **changes: Any) -> FluxOptions:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_query(
        cls, query: str | Mapping[str, Any] | Iterable[tuple[str, str]], *, keep_unknown: bool = False
    ) -> FluxOptions:
        """Parse a ``/v2/listen`` query string; unknown parameters are an `OptionsError` (a 400),
        or, with `keep_unknown` (a saved session, a client's own parameters), kept in `other`."""
        if isinstance(query, str):
            pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        elif isinstance(query, Mapping):
            pairs = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
        else:
            pairs = list(query)
        kwargs: dict[str, Any] = {}
        keyterms: list[str] = []
        ignored: list[tuple[str, str]] = []
        other: list[tuple[str, str]] = []
        for key, raw in pairs:
            raw = str(raw)
            if key == "model":
                kwargs["model"] = raw
            elif key == "encoding":
                kwargs["encoding"] = raw
            elif key == "sample_rate":
                try:
                    kwargs["sample_rate"] = int(raw.strip())
                except ValueError:
                    raise OptionsError(key, raw, "must be a whole number") from None
                if kwargs["sample_rate"] <= 0:
                    raise OptionsError(key, raw, "must be positive")
            elif key == "eot_threshold":
                kwargs[key] = _number(key, raw, *EOT_THRESHOLD_RANGE)
            elif key == "eager_eot_threshold":
                kwargs[key] = _number(key, raw, *EAGER_EOT_THRESHOLD_RANGE)
            elif key == "eot_timeout_ms":
                kwargs[key] = _timeout(raw)
            elif key == "keyterm":
                keyterms.append(raw)
            elif key in _IGNORED:
                ignored.append((key, raw))
            elif keep_unknown:
                other.append((key, raw))
            else:
                raise OptionsError(key, raw, "is not a /v2/listen parameter")
        if "model" not in kwargs:
            raise OptionsError("model", None, "is required (flux-general-en)")
        return cls(**kwargs, keyterm=tuple(keyterms), ignored=tuple(ignored), other=tuple(other))


_FIELDS = frozenset(f.name for f in fields(FluxOptions)) - {"other", "ignored"}


def check_thresholds(eot: float, eager: float | None) -> None:
    if eager is not None and eager > eot:
        raise OptionsError("eager_eot_threshold", _short(eager), f"must not exceed eot_threshold ({_short(eot)})")


def _short(x: float) -> str:
    return f"{x:g}"


class Sequencer:
    """Stamps ``request_id`` and ``sequence_id`` on server messages, in the order they are sent."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.next_id = 0

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        message = dict(body)
        if message.get("type") != "Error":  # Flux's Error has no request_id field
            message["request_id"] = self.request_id
        message["sequence_id"] = self.next_id
        self.next_id += 1
        return message


def connected(**extra: Any) -> dict[str, Any]:
    """``Connected``; `extra` fields (e.g. which turn detector runs) are tolerated by the SDK's models."""
    return {"type": "Connected", **extra}


def turn_info(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "TurnInfo", **body}


def configure_success(options: FluxOptions) -> dict[str, Any]:
    thresholds: dict[str, Any] = {"eot_threshold": options.eot_threshold, "eot_timeout_ms": options.eot_timeout_ms}
    if options.eager_eot_threshold is not None:
        thresholds["eager_eot_threshold"] = options.eager_eot_threshold
    return {"type": "ConfigureSuccess", "thresholds": thresholds, "keyterms": list(options.keyterm)}


def configure_failure(code: str, description: str) -> dict[str, Any]:
    return {"type": "ConfigureFailure", "code": code, "description": description}


def warning(code: str, description: str) -> dict[str, Any]:
    return {"type": "Warning", "code": code, "description": description}


def error(code: str, description: str) -> dict[str, Any]:
    return {"type": "Error", "code": code, "description": description}


@dataclass(frozen=True)
class ClientMessage:
    """A text message from the client: ``kind`` is a Flux message type, or ``"invalid"`` with a reason."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def parse_client_message(text: str) -> ClientMessage:
    """Read a client text frame.

    >>> parse_client_message('{"type": "ForceEndTurn"}').kind
    'ForceEndTurn'
    >>> parse_client_message('{"type": "KeepAlive"}').reason
    "'KeepAlive' is not a /v2/listen message (expected CloseStream, Configure or ForceEndTurn); websocket pings keep a Flux stream open"
    """
    try:
        data = json.loads(text)
    except RecursionError:
        return ClientMessage("invalid", reason="not valid JSON (nested too deeply)")
    except ValueError as err:
        return ClientMessage("invalid", reason=f"not valid JSON ({err})")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return ClientMessage("invalid", reason='expected an object with a "type" field')
    kind = data["type"]
    if kind in CLIENT_MESSAGE_TYPES:
        return ClientMessage(kind, data)
    shown = repr(kind) if len(kind) <= 100 else repr(kind[:100]) + "..."
    hint = "; websocket pings keep a Flux stream open" if kind == "KeepAlive" else ""
    hint = "; use ForceEndTurn to end a turn now" if kind == "Finalize" else hint
    return ClientMessage(
        "invalid", data, reason=f"{shown} is not a /v2/listen message (expected CloseStream, Configure or ForceEndTurn){hint}"
    )


def apply_configure(options: FluxOptions, data: Mapping[str, Any]) -> FluxOptions:
    """The options after a ``Configure`` message; raises `OptionsError` and changes nothing if any value is bad.

    >>> new = apply_configure(FluxOptions(), {"type": "Configure", "thresholds": {"eot_threshold": 0.8}, "keyterms": ["Deepgram"]})
    >>> new.eot_threshold, new.keyterm
    (0.8, ('Deepgram',))
    """
    changes: dict[str, Any] = {}
    thresholds = data.get("thresholds")
    if thresholds is not None:
        if not isinstance(thresholds, dict):
            raise OptionsError("thresholds", thresholds, "must be an object")
        for key, value in thresholds.items():
            if key == "eot_threshold":
                changes[key] = _number(key, value, *EOT_THRESHOLD_RANGE)
            elif key == "eager_eot_threshold":
                changes[key] = None if value is None else _number(key, value, *EAGER_EOT_THRESHOLD_RANGE)
            elif key == "eot_timeout_ms":
                changes[key] = _timeout(value)
            else:
                raise OptionsError(f"thresholds.{key}", value, "is not a Flux threshold")
    keyterms = data.get("keyterms")
    if keyterms is not None:
        if isinstance(keyterms, str):
            keyterms = [keyterms]
        if not isinstance(keyterms, list) or not all(isinstance(k, str) for k in keyterms):
            raise OptionsError("keyterms", keyterms, "must be a list of strings")
        changes["keyterm"] = tuple(keyterms)
    if "language_hints" in data:
        raise OptionsError("language_hints", data["language_hints"], "applies to flux-general-multi only")
    for key in data:
        if key not in ("type", "thresholds", "keyterms", "numerals"):
            raise OptionsError(key, data[key], "is not a Configure field")
    if "numerals" in data and not isinstance(data["numerals"], bool):
        raise OptionsError("numerals", data["numerals"], "must be true or false")
    new = replace(options, **changes)  # __post_init__ checks eager <= eot
    return new


def turn_decisions(messages: Iterable[Mapping[str, Any]], event: str = "EndOfTurn"):
    """Flux TurnInfo messages as `dgwidgets.utterances.Utterance` decisions, for `dgwidgets.evaluation.score`.

    Each `event` (EndOfTurn, or EagerEndOfTurn to score the eager signal) with words becomes one
    utterance: its words' span, decided at ``audio_window_end`` (the audio the server had heard
    when it sent it), ``trigger`` e.g. ``"EndOfTurn:model"``. `messages` are decoded dicts,
    `TurnInfo` objects or SessionLog entries (other messages are skipped). For decisions timed by
    their arrival on the stream clock, feed a log to the ``flux_end_of_turn`` strategy instead
    (`dgwidgets.utterances.FluxEndOfTurn`).

    >>> msgs = [{"type": "TurnInfo", "event": "EndOfTurn", "audio_window_end": 1.6, "transcript": "hi",
    ...          "trigger": "model", "words": [{"word": "hi", "start": 0.3, "end": 1.1, "confidence": 0.9}]}]
    >>> [(u.text, u.end, u.trigger, round(u.latency, 2)) for u in turn_decisions(msgs)]
    [('hi', 1.1, 'EndOfTurn:model', 0.5)]
    """
    from .protocol import Word
    from .utterances import Utterance

    out = []
    for item in messages:
        m: Any = getattr(item, "message", item)  # a SessionLog entry: its message
        if isinstance(m, TurnInfo):
            m = m.to_dict()
        elif not isinstance(m, Mapping):
            continue
        if m.get("type", "TurnInfo") != "TurnInfo" or m.get("event") != event or not m.get("words"):
            continue
        words = tuple(
            Word(word=w["word"], start=float(w["start"]), end=float(w["end"]), confidence=float(w["confidence"]))
            for w in m["words"]
        )
        trigger = f"{event}:{m['trigger']}" if m.get("trigger") else event
        out.append(Utterance(m["transcript"], words[0].start, words[-1].end, trigger, float(m["audio_window_end"]), words))
    return out


# --------------------------------------------------------------------------- server messages, typed
#
# What a client reads from /v2/listen. Like the v1 models in `dgwidgets.protocol`, fields the kit
# does not know are kept in `unknown` and written back, so a message saved and loaded loses nothing.


def _field(data: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise MessageError(f"{where}: missing field {key!r}")
    value = data[key]
    wanted = types if isinstance(types, tuple) else (types,)
    if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
        raise MessageError(f"{where}: field {key!r} has the wrong type ({type(value).__name__}: {value!r})")
    return value


@dataclass(frozen=True)
class TurnInfo:
    """A ``TurnInfo`` message: where the speaker is in their turn (``event``) and what was said.

    `words` are `dgwidgets.protocol.Word` (times in seconds of stream audio); `trigger` is set on
    ``EndOfTurn`` only (``model``, ``manual`` or ``timeout``).

    >>> m = flux_message_from_dict({"type": "TurnInfo", "event": "EndOfTurn", "turn_index": 0,
    ...     "audio_window_start": 0.0, "audio_window_end": 1.6, "transcript": "hi",
    ...     "words": [{"word": "hi", "confidence": 0.9, "start": 0.3, "end": 1.1}],
    ...     "end_of_turn_confidence": 0.81, "trigger": "model", "request_id": "r", "sequence_id": 7})
    >>> m.event, m.trigger, m.words[0].end, m.sequence_id, m.ends_turn
    ('EndOfTurn', 'model', 1.1, 7, True)
    """

    event: str
    turn_index: int
    audio_window_start: float
    audio_window_end: float
    transcript: str
    words: tuple[Word, ...] = ()
    end_of_turn_confidence: float = 0.0
    trigger: str | None = None
    request_id: str = ""
    sequence_id: int | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "TurnInfo"
    _KNOWN: ClassVar[tuple[str, ...]] = (
        "type",
        "event",
        "turn_index",
        "audio_window_start",
        "audio_window_end",
        "transcript",
        "words",
        "end_of_turn_confidence",
        "trigger",
        "request_id",
        "sequence_id",
    )

    @property
    def ends_turn(self) -> bool:
        return self.event == "EndOfTurn"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnInfo:
        where = "TurnInfo"
        words = _field(data, "words", list, where)
        trigger = data.get("trigger")
        sequence_id = data.get("sequence_id")
        if trigger is not None and not isinstance(trigger, str):
            raise MessageError(f"{where}: field 'trigger' should be a string, got {trigger!r}")
        if sequence_id is not None and (isinstance(sequence_id, bool) or not isinstance(sequence_id, int)):
            raise MessageError(f"{where}: field 'sequence_id' should be a whole number, got {sequence_id!r}")
        return cls(
            event=_field(data, "event", str, where),
            turn_index=_field(data, "turn_index", int, where),
            audio_window_start=float(_field(data, "audio_window_start", (int, float), where)),
            audio_window_end=float(_field(data, "audio_window_end", (int, float), where)),
            transcript=_field(data, "transcript", str, where),
            words=tuple(Word.from_dict(w, f"{where}.words[{i}]") for i, w in enumerate(words)),
            end_of_turn_confidence=float(_field(data, "end_of_turn_confidence", (int, float), where)),
            trigger=trigger,
            request_id=str(data.get("request_id", "")),
            sequence_id=sequence_id,
            unknown={k: v for k, v in data.items() if k not in cls._KNOWN},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "TurnInfo",
            "event": self.event,
            "turn_index": self.turn_index,
            "audio_window_start": self.audio_window_start,
            "audio_window_end": self.audio_window_end,
            "transcript": self.transcript,
            "words": [w.to_dict() for w in self.words],
            "end_of_turn_confidence": self.end_of_turn_confidence,
        }
        if self.trigger is not None:
            out["trigger"] = self.trigger
        if self.request_id:
            out["request_id"] = self.request_id
        if self.sequence_id is not None:
            out["sequence_id"] = self.sequence_id
        out.update(self.unknown)
        return out


@dataclass(frozen=True)
class FluxMessage:
    """Any other ``/v2/listen`` server message (``Connected``, ``ConfigureSuccess``, ``ConfigureFailure``,
    ``Warning``, ``Error``), kept whole; `code`, `description` and `sequence_id` read its fields.

    >>> m = flux_message_from_dict({"type": "Warning", "code": "NO_ACTIVE_TURN", "description": "x", "sequence_id": 3})
    >>> m.type, m.code, m.sequence_id, m.to_dict()["description"]
    ('Warning', 'NO_ACTIVE_TURN', 3, 'x')
    """

    data: Mapping[str, Any]

    @property
    def type(self) -> str:  # type: ignore[override]
        return str(self.data.get("type", ""))

    @property
    def code(self) -> str:
        return str(self.data.get("code", ""))

    @property
    def description(self) -> str:
        return str(self.data.get("description", ""))

    @property
    def request_id(self) -> str:
        return str(self.data.get("request_id", ""))

    @property
    def sequence_id(self) -> int | None:
        value = self.data.get("sequence_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def flux_message_from_dict(data: Any) -> TurnInfo | FluxMessage | UnknownMessage:
    """The typed message for a decoded ``/v2/listen`` server message (unknown types kept whole)."""
    if not isinstance(data, Mapping):
        raise MessageError(f"a message must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if kind == "TurnInfo":
        return TurnInfo.from_dict(data)
    if kind in SERVER_MESSAGE_TYPES:
        return FluxMessage(dict(data))
    return UnknownMessage(dict(data))


def parse_flux_message(text: str | bytes) -> TurnInfo | FluxMessage | UnknownMessage:
    """Parse one ``/v2/listen`` server text frame (`MessageError` when it cannot be read).

    >>> parse_flux_message('{"type": "Connected", "request_id": "r", "sequence_id": 0}').type
    'Connected'
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise MessageError(f"not valid JSON: {err}") from None
    return flux_message_from_dict(data)
