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
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from .protocol import OptionsError

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
]

FLUX_MODELS = ("flux-general-en",)
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

    def __post_init__(self) -> None:
        if self.model not in FLUX_MODELS:
            raise OptionsError("model", self.model, f"Flux models are {', '.join(FLUX_MODELS)}")
        check_thresholds(self.eot_threshold, self.eager_eot_threshold)

    @classmethod
    def from_query(cls, query: str | Mapping[str, Any] | Iterable[tuple[str, str]]) -> FluxOptions:
        """Parse a ``/v2/listen`` query string; unknown parameters are an `OptionsError` (a 400)."""
        if isinstance(query, str):
            pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        elif isinstance(query, Mapping):
            pairs = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
        else:
            pairs = list(query)
        kwargs: dict[str, Any] = {}
        keyterms: list[str] = []
        ignored: list[tuple[str, str]] = []
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
            else:
                raise OptionsError(key, raw, "is not a /v2/listen parameter")
        if "model" not in kwargs:
            raise OptionsError("model", None, "is required (flux-general-en)")
        return cls(**kwargs, keyterm=tuple(keyterms), ignored=tuple(ignored))


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
    when it sent it), ``trigger`` e.g. ``"EndOfTurn:model"``.

    >>> msgs = [{"type": "TurnInfo", "event": "EndOfTurn", "audio_window_end": 1.6, "transcript": "hi",
    ...          "trigger": "model", "words": [{"word": "hi", "start": 0.3, "end": 1.1, "confidence": 0.9}]}]
    >>> [(u.text, u.end, u.trigger, round(u.latency, 2)) for u in turn_decisions(msgs)]
    [('hi', 1.1, 'EndOfTurn:model', 0.5)]
    """
    from .protocol import Word
    from .utterances import Utterance

    out = []
    for m in messages:
        if m.get("type", "TurnInfo") != "TurnInfo" or m.get("event") != event or not m.get("words"):
            continue
        words = tuple(
            Word(word=w["word"], start=float(w["start"]), end=float(w["end"]), confidence=float(w["confidence"]))
            for w in m["words"]
        )
        trigger = f"{event}:{m['trigger']}" if m.get("trigger") else event
        out.append(Utterance(m["transcript"], words[0].start, words[-1].end, trigger, float(m["audio_window_end"]), words))
    return out
