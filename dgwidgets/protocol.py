"""The live listen protocol: query options and the messages on the wire.

Pure data: no sockets, no clocks. Everything the kit sends or receives goes
through here, so the local engine, Deepgram's cloud and a saved session are
read the same way.

>>> opts = LiveOptions(interim_results=True, endpointing=300, utterance_end_ms=1000)
>>> opts.to_query()
'interim_results=true&endpointing=300&utterance_end_ms=1000'
>>> LiveOptions.from_query(opts.to_query()) == opts
True
>>> msg = parse_message('{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.395}')
>>> msg.last_word_end
2.395
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "ENCODINGS",
    "DEFAULT_ENDPOINTING_MS",
    "MIN_UTTERANCE_END_MS",
    "MAX_UTTERANCE_END_MS",
    "KEYWORDS_NOVA3_MESSAGE",
    "LOCAL_ENGINE_IGNORES",
    "OptionsError",
    "MessageError",
    "LiveOptions",
    "Word",
    "Alternative",
    "ResultsMetadata",
    "Results",
    "SpeechStarted",
    "UtteranceEnd",
    "Metadata",
    "ErrorMessage",
    "ConfigureSuccess",
    "ConfigureFailure",
    "ConfigureRequest",
    "parse_configure",
    "is_nova3_model",
    "KEYTERM_TOKEN_LIMIT",
    "CONFIGURABLE_FEATURES",
    "UnknownMessage",
    "Message",
    "parse_message",
    "message_from_dict",
    "serialize_message",
]

#: Raw encodings Deepgram accepts for live audio; without one, audio must be in a container (WAV, …).
ENCODINGS = (
    "linear16",
    "linear32",
    "flac",
    "alaw",
    "mulaw",
    "amr-nb",
    "amr-wb",
    "opus",
    "ogg-opus",
    "speex",
    "g729",
)
#: Deepgram's default endpointing: an endpoint after 10 ms of silence.
DEFAULT_ENDPOINTING_MS = 10
#: Interim results come about once a second, so a shorter UtteranceEnd gap cannot work; Deepgram rejects it.
MIN_UTTERANCE_END_MS = 1000
#: The docs' upper limit for utterance_end_ms (a longer gap is refused at the handshake, like a shorter one).
MAX_UTTERANCE_END_MS = 5000
#: Deepgram's own 400 text when `keywords` is sent with a Nova-3 model (keyterm replaced it there).
KEYWORDS_NOVA3_MESSAGE = "Keywords are not supported for Nova-3. Please use `keyterm` instead."
#: Parameters that change what Deepgram sends but that the local engine does not emulate, with what
#: a learner would miss. A value other than "false" earns a note (`LiveOptions.local_engine_notes`).
LOCAL_ENGINE_IGNORES = {
    "diarize": "speaker labels (a `speaker` number on every word)",
    "diarize_model": "speaker labels (a `speaker` number on every word)",
    "filler_words": "filler words such as 'uh' and 'um' kept in the transcript",
    "dictation": "spoken punctuation ('comma', 'period', 'new line') turned into marks",
    "redact": "redaction of numbers, card details and names",
    "profanity_filter": "profanity masked in the transcript",
    "replace": "find-and-replace of terms in the transcript",
    "search": "search hits for the given terms",
    "detect_entities": "entity detection (an `entities` list in Results)",
    "measurements": "spoken measurements written as abbreviations",
    "callback": "results posted to a callback URL instead of the websocket",
    "detect_language": "language detection",
}
_MAX_SAMPLE_RATE = 384_000
_LANGUAGE_RE = re.compile(r"^(multi|[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)$")


class OptionsError(ValueError):
    """An invalid live option. Names the parameter, the value and the rule it breaks.

    >>> try:
    ...     LiveOptions(utterance_end_ms=999)
    ... except OptionsError as err:
    ...     print(err.parameter, err.value)
    utterance_end_ms 999
    """

    def __init__(self, parameter: str, value: Any, rule: str, *, wire_message: str | None = None):
        self.parameter = parameter
        self.value = value
        self.rule = rule
        #: Deepgram's exact `err_msg` when it words this error itself (else the server derives one).
        self.wire_message = wire_message
        super().__init__(f"Invalid {parameter!r} value {value!r}: {rule}")


class MessageError(ValueError):
    """A server message that cannot be read: bad JSON or a missing/mistyped field (named in the text)."""


# --------------------------------------------------------------------------- options


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_tuple(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise OptionsError(name, value, "must be a string or a list of strings") from None
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise OptionsError(name, value, "every item must be a non-empty string")
    return items


def _as_extra(value: Any) -> tuple[tuple[str, str], ...]:
    """`extra` is key:value pairs; accept a mapping, pairs, or 'k:v' strings."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        pairs = []
        for item in _as_tuple("extra", value) if isinstance(value, str) else value:
            if isinstance(item, str):
                key, sep, val = item.partition(":")
                if not sep or not key:
                    raise OptionsError("extra", item, "each item must look like key:value")
                pairs.append((key, val))
            elif isinstance(item, tuple) and len(item) == 2:
                pairs.append(item)
            else:
                raise OptionsError("extra", item, "each item must look like key:value")
    for key, val in pairs:
        if not isinstance(key, str) or not isinstance(val, str) or not key or ":" in key:
            raise OptionsError("extra", (key, val), "keys and values must be strings, keys without ':'")
    return tuple(pairs)


@dataclass(frozen=True)
class LiveOptions:
    """The query parameters of a live `/v1/listen` stream, validated before any connection.

    Defaults are Deepgram's; only values that differ from them are sent. `other` keeps
    parameters the kit does not model (diarize, redact, …) so they still reach the cloud.

    >>> LiveOptions(endpointing=False, vad_events=True).to_query()
    'endpointing=false&vad_events=true'
    >>> LiveOptions(encoding="linear16")
    Traceback (most recent call last):
    ...
    dgwidgets.protocol.OptionsError: Invalid 'sample_rate' value None: required when encoding is set (encoding='linear16')
    """

    model: str | None = None
    language: str = "en"
    encoding: str | None = None
    sample_rate: int | None = None
    channels: int = 1
    multichannel: bool = False
    interim_results: bool = False
    endpointing: int | bool = DEFAULT_ENDPOINTING_MS
    utterance_end_ms: int | None = None
    vad_events: bool = False
    punctuate: bool = False
    smart_format: bool = False
    numerals: bool = False
    no_delay: bool = False
    keywords: tuple[str, ...] = ()
    keyterm: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    other: tuple[tuple[str, str], ...] = ()

    _BOOLS: ClassVar[tuple[str, ...]] = (
        "multichannel",
        "interim_results",
        "vad_events",
        "punctuate",
        "smart_format",
        "numerals",
        "no_delay",
    )
    _LISTS: ClassVar[tuple[str, ...]] = ("keywords", "keyterm", "tag")

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, here
        if self.model is not None and (not isinstance(self.model, str) or not self.model.strip()):
            raise OptionsError("model", self.model, "must be a non-empty string")
        if not isinstance(self.language, str) or not _LANGUAGE_RE.match(self.language):
            raise OptionsError("language", self.language, "must be a BCP-47 tag such as 'en' or 'en-US'")
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise OptionsError("encoding", self.encoding, f"must be one of {', '.join(ENCODINGS)}")
        if self.sample_rate is not None and (
            not _is_int(self.sample_rate) or not 0 < self.sample_rate <= _MAX_SAMPLE_RATE
        ):
            raise OptionsError("sample_rate", self.sample_rate, f"must be an integer in 1..{_MAX_SAMPLE_RATE} Hz")
        if self.encoding is not None and self.sample_rate is None:
            raise OptionsError("sample_rate", None, f"required when encoding is set (encoding={self.encoding!r})")
        if not _is_int(self.channels) or self.channels < 1:
            raise OptionsError("channels", self.channels, "must be an integer >= 1")
        for name in self._BOOLS:
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(name, getattr(self, name), "must be true or false")
        if self.endpointing is True:  # legacy `endpointing=true` means the default
            set_(self, "endpointing", DEFAULT_ENDPOINTING_MS)
        if not (self.endpointing is False or (_is_int(self.endpointing) and self.endpointing >= 0)):
            raise OptionsError("endpointing", self.endpointing, "must be a whole number of milliseconds >= 0, or false")
        if self.utterance_end_ms is not None and (
            not _is_int(self.utterance_end_ms)
            or not MIN_UTTERANCE_END_MS <= self.utterance_end_ms <= MAX_UTTERANCE_END_MS
        ):
            raise OptionsError(
                "utterance_end_ms",
                self.utterance_end_ms,
                f"must be a whole number of milliseconds from {MIN_UTTERANCE_END_MS} to {MAX_UTTERANCE_END_MS} "
                "(interim results arrive about once a second, so shorter gaps cannot be seen; the docs cap it at 5 s)",
            )
        for name in self._LISTS:
            set_(self, name, _as_tuple(name, getattr(self, name)))
        if self.keywords and self.model is not None and is_nova3_model(self.model):
            raise OptionsError(
                "keywords",
                self.keywords[0],
                f"Nova-3 models take keyterm instead (keyterm={self.keywords[0].rpartition(':')[0] or self.keywords[0]!r})",
                wire_message=KEYWORDS_NOVA3_MESSAGE,
            )
        set_(self, "extra", _as_extra(self.extra))
        other = tuple((str(k), str(v)) for k, v in (self.other or ()))
        for key, _ in other:
            if key in _FIELD_NAMES and key != "other":  # a parameter named "other" is just unknown
                raise OptionsError(key, dict(other)[key], "is a modelled option: pass it by name, not in other")
        set_(self, "other", other)

    # -- derived facts ---------------------------------------------------------------------------

    @property
    def punctuation(self) -> bool:
        """True when transcripts are punctuated (smart_format implies punctuate)."""
        return self.punctuate or self.smart_format

    @property
    def endpointing_ms(self) -> int | None:
        """Silence (ms) that ends speech, or None when endpointing is off."""
        return None if self.endpointing is False else int(self.endpointing)

    def advice(self) -> list[str]:
        """Valid on the wire but without effect: plain-language notes for a learner.

        >>> LiveOptions(utterance_end_ms=1000).advice()
        ['utterance_end_ms needs interim_results=true: UtteranceEnd is computed from interim results, so none will be sent.']
        """
        notes = []
        if self.utterance_end_ms is not None and not self.interim_results:
            notes.append(
                "utterance_end_ms needs interim_results=true: UtteranceEnd is computed from interim "
                "results, so none will be sent."
            )
        if self.no_delay and not self.smart_format:
            notes.append("no_delay only changes anything with smart_format=true.")
        if self.multichannel and self.channels == 1:
            notes.append("multichannel=true with channels=1 transcribes the single channel as usual.")
        return notes

    def local_engine_notes(self) -> list[str]:
        """What the local engine will not do that Deepgram would, for these options (empty: nothing missed).

        Options that only change Deepgram's own bookkeeping (tag, mip_opt_out, version) need no note;
        `extra` is echoed as Deepgram does. Anything that would change the messages' content is named.

        >>> LiveOptions(other=(("diarize", "true"),)).local_engine_notes()
        ["diarize=true is ignored by the local engine: no speaker labels (a `speaker` number on every word). Deepgram's cloud applies it."]
        >>> LiveOptions(language="multi").local_engine_notes()[0].startswith("language=multi: the local engine")
        True
        """
        notes = []
        if not self.language.lower().startswith("en"):
            what = (
                "multilingual code-switching (words tagged with their `language`)"
                if self.language == "multi"
                else f"{self.language} transcription"
            )
            notes.append(
                f"language={self.language}: the local engine recognizes English only, so there is no {what}; "
                "transcripts will be English guesses. Deepgram's cloud applies it."
            )
        for key, value in self.other:
            if key in LOCAL_ENGINE_IGNORES and value.strip().lower() != "false":
                notes.append(
                    f"{key}={value} is ignored by the local engine: no {LOCAL_ENGINE_IGNORES[key]}. "
                    "Deepgram's cloud applies it."
                )
        return notes

    # -- query string ---------------------------------------------------------------------------

    def to_params(self) -> list[tuple[str, str]]:
        """The (key, value) pairs to send: non-default values only, lists as repeated keys."""
        params: list[tuple[str, str]] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("extra", "other") or value == f.default:
                continue
            if f.name in self._LISTS:
                params.extend((f.name, item) for item in value)
            elif isinstance(value, bool):
                params.append((f.name, "true" if value else "false"))
            else:
                params.append((f.name, str(value)))
        params.extend(("extra", f"{k}:{v}") for k, v in self.extra)
        params.extend(self.other)
        return params

    def to_query(self) -> str:
        """The URL query string (without '?')."""
        return urlencode(self.to_params())

    def url(self, base: str) -> str:
        """`base` (e.g. 'ws://127.0.0.1:8765/v1/listen') with this query appended."""
        query = self.to_query()
        if not query:
            return base
        return f"{base}{'&' if '?' in base else '?'}{query}"  # a base URL may carry its own parameters

    def replace(self, **changes: Any) -> LiveOptions:
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_query(cls, query: str | Mapping[str, Any] | Iterable[tuple[str, str]]) -> LiveOptions:
        """Parse a query string (or pairs) as a server would; unknown parameters go to `other`.

        >>> LiveOptions.from_query("endpointing=false&keyterm=two&keyterm=three").keyterm
        ('two', 'three')
        """
        if isinstance(query, str):
            pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        elif isinstance(query, Mapping):
            pairs = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
        else:
            pairs = list(query)
        kwargs: dict[str, Any] = {}
        lists: dict[str, list[str]] = {name: [] for name in (*cls._LISTS, "extra")}
        other: list[tuple[str, str]] = []
        for key, raw in pairs:
            raw = str(raw)
            if key in lists:
                lists[key].append(raw)
            elif key in cls._BOOLS:
                kwargs[key] = _parse_bool(key, raw)
            elif key == "endpointing":
                low = raw.lower()
                kwargs[key] = False if low == "false" else True if low == "true" else _parse_int(key, raw)
            elif key in ("sample_rate", "channels", "utterance_end_ms"):
                kwargs[key] = _parse_int(key, raw)
            elif key in ("model", "language", "encoding"):
                kwargs[key] = raw
            else:
                other.append((key, raw))
        for key, values in lists.items():
            if values:
                kwargs[key] = tuple(values)
        return cls(**kwargs, other=tuple(other))


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(LiveOptions))


def is_nova3_model(model: str) -> bool:
    """The Nova-3 family: `nova-3` and `nova-3-…` (not `nova-30`).

    >>> is_nova3_model("nova-3-medical"), is_nova3_model("nova-30"), is_nova3_model("nova-2")
    (True, False, False)
    """
    return model == "nova-3" or model.startswith("nova-3-")


def _parse_bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    raise OptionsError(name, raw, "must be true or false")


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise OptionsError(name, raw, "must be a whole number") from None


# --------------------------------------------------------------------------- messages
#
# Each model knows its wire fields in wire order. Fields the kit does not know are kept
# in `unknown` (in arrival order) and written back after the known ones, so a message read
# from the cloud and saved loses nothing.


def _require(data: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise MessageError(f"{where}: missing field {key!r}")
    value = data[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise MessageError(f"{where}: field {key!r} should be a number, got {value!r}")
    if not isinstance(value, types):
        raise MessageError(f"{where}: field {key!r} has the wrong type ({type(value).__name__}: {value!r})")
    return value


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    return _require(data, key, (int, float), where)


def _rest(data: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in known}


def _channel_pair(data: Mapping[str, Any], key: str, where: str) -> tuple[int, int]:
    value = _require(data, key, list, where)
    if len(value) != 2 or not all(_is_int(v) for v in value):
        raise MessageError(f"{where}: field {key!r} should be [index, count], got {value!r}")
    return (value[0], value[1])


@dataclass(frozen=True)
class Word:
    """One recognised word; times are seconds from the stream's start.

    >>> Word("big", 0.85, 1.04, 0.96).to_dict()
    {'word': 'big', 'start': 0.85, 'end': 1.04, 'confidence': 0.96}
    """

    word: str
    start: float
    end: float
    confidence: float
    punctuated_word: str | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    _KNOWN: ClassVar[tuple[str, ...]] = ("word", "start", "end", "confidence", "punctuated_word")

    @property
    def text(self) -> str:
        """The punctuated form when present, else the plain word."""
        return self.punctuated_word or self.word

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "word") -> Word:
        pw = data.get("punctuated_word")
        if pw is not None and not isinstance(pw, str):
            raise MessageError(f"{where}: field 'punctuated_word' should be a string")
        return cls(
            word=_require(data, "word", str, where),
            start=_number(data, "start", where),
            end=_number(data, "end", where),
            confidence=_number(data, "confidence", where),
            punctuated_word=pw,
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "word": self.word,
            "start": self.start,
            "end": self.end,
            "confidence": self.confidence,
        }
        if self.punctuated_word is not None:
            out["punctuated_word"] = self.punctuated_word
        out.update(self.unknown)
        return out


@dataclass(frozen=True)
class Alternative:
    """A transcript hypothesis; the first alternative is the one everybody reads."""

    transcript: str
    confidence: float
    words: tuple[Word, ...] = ()
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    _KNOWN: ClassVar[tuple[str, ...]] = ("transcript", "confidence", "words")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "alternative") -> Alternative:
        words = _require(data, "words", list, where)
        return cls(
            transcript=_require(data, "transcript", str, where),
            confidence=_number(data, "confidence", where),
            words=tuple(Word.from_dict(w, f"{where}.words[{i}]") for i, w in enumerate(words)),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "transcript": self.transcript,
            "confidence": self.confidence,
            "words": [w.to_dict() for w in self.words],
        }
        out.update(self.unknown)
        return out


@dataclass(frozen=True)
class ResultsMetadata:
    """`metadata` inside a Results message: the request id and the model that answered."""

    request_id: str = ""
    model_info: Mapping[str, Any] = field(default_factory=dict)
    model_uuid: str = ""
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    _KNOWN: ClassVar[tuple[str, ...]] = ("request_id", "model_info", "model_uuid")

    @classmethod
    def from_dict(cls, data: Any, where: str = "metadata") -> ResultsMetadata:
        if not isinstance(data, Mapping):
            raise MessageError(f"{where}: should be an object")
        return cls(
            request_id=str(data.get("request_id", "")),
            model_info=dict(data.get("model_info") or {}),
            model_uuid=str(data.get("model_uuid", "")),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "request_id": self.request_id,
            "model_info": dict(self.model_info),
            "model_uuid": self.model_uuid,
        }
        out.update(self.unknown)
        return out


@dataclass(frozen=True)
class Results:
    """A transcript for the audio window [start, start+duration] of one channel.

    >>> r = Results(start=0.0, duration=1.1, is_final=False, speech_final=False,
    ...             alternatives=(Alternative("yeah so", 0.9),))
    >>> r.transcript, r.end
    ('yeah so', 1.1)
    """

    start: float
    duration: float
    is_final: bool
    speech_final: bool
    alternatives: tuple[Alternative, ...] = (Alternative("", 0.0),)
    channel_index: tuple[int, int] = (0, 1)
    metadata: ResultsMetadata = field(default_factory=ResultsMetadata)
    from_finalize: bool = False
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)
    channel_unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "Results"
    _KNOWN: ClassVar[tuple[str, ...]] = (
        "type",
        "channel_index",
        "duration",
        "start",
        "is_final",
        "speech_final",
        "channel",
        "metadata",
        "from_finalize",
    )

    @property
    def end(self) -> float:
        """End of the window in stream seconds (start + duration)."""
        return self.start + self.duration

    @property
    def transcript(self) -> str:
        return self.alternatives[0].transcript if self.alternatives else ""

    @property
    def words(self) -> tuple[Word, ...]:
        return self.alternatives[0].words if self.alternatives else ()

    @property
    def confidence(self) -> float:
        return self.alternatives[0].confidence if self.alternatives else 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        where = "Results"
        channel = _require(data, "channel", dict, where)
        alts = _require(channel, "alternatives", list, f"{where}.channel")
        return cls(
            channel_index=_channel_pair(data, "channel_index", where),
            duration=_number(data, "duration", where),
            start=_number(data, "start", where),
            is_final=_require(data, "is_final", bool, where),
            speech_final=bool(_require(data, "speech_final", bool, where)) if "speech_final" in data else False,
            alternatives=tuple(
                Alternative.from_dict(a, f"{where}.channel.alternatives[{i}]") for i, a in enumerate(alts)
            ),
            metadata=ResultsMetadata.from_dict(data.get("metadata", {})),
            from_finalize=bool(data.get("from_finalize", False)),
            unknown=_rest(data, cls._KNOWN),
            channel_unknown=_rest(channel, ("alternatives",)),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "Results",
            "channel_index": list(self.channel_index),
            "duration": self.duration,
            "start": self.start,
            "is_final": self.is_final,
            "speech_final": self.speech_final,
            "channel": {"alternatives": [a.to_dict() for a in self.alternatives], **self.channel_unknown},
            "metadata": self.metadata.to_dict(),
            "from_finalize": self.from_finalize,
        }
        out.update(self.unknown)
        return out


@dataclass(frozen=True)
class SpeechStarted:
    """The VAD heard speech begin at `timestamp` (needs vad_events=true)."""

    timestamp: float
    channel: tuple[int, int] = (0, 1)
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "SpeechStarted"
    _KNOWN: ClassVar[tuple[str, ...]] = ("type", "channel", "timestamp")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeechStarted:
        return cls(
            channel=_channel_pair(data, "channel", "SpeechStarted"),
            timestamp=_number(data, "timestamp", "SpeechStarted"),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "SpeechStarted",
            "channel": list(self.channel),
            "timestamp": self.timestamp,
            **self.unknown,
        }


@dataclass(frozen=True)
class UtteranceEnd:
    """A gap of utterance_end_ms followed the word that ended at `last_word_end`."""

    last_word_end: float
    channel: tuple[int, int] = (0, 1)
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "UtteranceEnd"
    _KNOWN: ClassVar[tuple[str, ...]] = ("type", "channel", "last_word_end")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UtteranceEnd:
        return cls(
            channel=_channel_pair(data, "channel", "UtteranceEnd"),
            last_word_end=_number(data, "last_word_end", "UtteranceEnd"),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "UtteranceEnd",
            "channel": list(self.channel),
            "last_word_end": self.last_word_end,
            **self.unknown,
        }


@dataclass(frozen=True)
class Metadata:
    """Sent once at the end of a stream: request id, audio duration, models."""

    request_id: str
    duration: float
    channels: int = 1
    created: str = ""
    sha256: str = ""
    models: tuple[str, ...] = ()
    model_info: Mapping[str, Any] = field(default_factory=dict)
    transaction_key: str = "deprecated"
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "Metadata"
    _KNOWN: ClassVar[tuple[str, ...]] = (
        "type",
        "transaction_key",
        "request_id",
        "sha256",
        "created",
        "duration",
        "channels",
        "models",
        "model_info",
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metadata:
        where = "Metadata"
        return cls(
            transaction_key=str(data.get("transaction_key", "deprecated")),
            request_id=_require(data, "request_id", str, where),
            sha256=str(data.get("sha256", "")),
            created=str(data.get("created", "")),
            duration=_number(data, "duration", where),
            channels=int(data.get("channels", 1)),
            models=tuple(data.get("models") or ()),
            model_info=dict(data.get("model_info") or {}),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "transaction_key": self.transaction_key,
            "request_id": self.request_id,
            "sha256": self.sha256,
            "created": self.created,
            "duration": self.duration,
            "channels": self.channels,
            "models": list(self.models),
            "model_info": dict(self.model_info),
            **self.unknown,
        }


@dataclass(frozen=True)
class ErrorMessage:
    """An error the server reports in-band (e.g. a SchemaError for a bad control message)."""

    description: str
    variant: str = ""
    message: str = ""
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "Error"
    _KNOWN: ClassVar[tuple[str, ...]] = ("type", "variant", "description", "message")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorMessage:
        return cls(
            variant=str(data.get("variant", "")),
            description=str(data.get("description", "")),
            message=str(data.get("message", "")),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "Error",
            "variant": self.variant,
            "description": self.description,
            "message": self.message,
            **self.unknown,
        }


@dataclass(frozen=True)
class ConfigureSuccess:
    """The answer to a Configure that was applied; `keyterms` only when it replaced them.

    >>> ConfigureSuccess("id-1", keyterms=("Deepgram",)).to_dict()
    {'type': 'ConfigureSuccess', 'request_id': 'id-1', 'keyterms': ['Deepgram']}
    """

    request_id: str
    keyterms: tuple[str, ...] | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "ConfigureSuccess"
    _KNOWN: ClassVar[tuple[str, ...]] = ("type", "request_id", "keyterms")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfigureSuccess:
        keyterms = data.get("keyterms")
        return cls(
            request_id=_require(data, "request_id", str, "ConfigureSuccess"),
            keyterms=None if keyterms is None else tuple(str(k) for k in keyterms),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "ConfigureSuccess", "request_id": self.request_id}
        if self.keyterms is not None:
            out["keyterms"] = list(self.keyterms)
        out.update(self.unknown)
        return out


@dataclass(frozen=True)
class ConfigureFailure:
    """The answer to a Configure that was refused; nothing of it was applied.

    Codes (Deepgram's): CONFIGURE_KEYTERMS_NOT_SUPPORTED (not a Nova-3 model),
    CONFIGURE_KEYTERM_LIMIT_EXCEEDED (over 500 tokens), CONFIGURE_ALREADY_PENDING (an earlier
    Configure is not answered yet), CONFIGURE_INTERNAL_ERROR (it could not be applied).
    """

    request_id: str
    code: str
    description: str
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=True, repr=False)

    type: ClassVar[str] = "ConfigureFailure"
    _KNOWN: ClassVar[tuple[str, ...]] = ("type", "request_id", "code", "description")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfigureFailure:
        return cls(
            request_id=_require(data, "request_id", str, "ConfigureFailure"),
            code=str(data.get("code", "")),
            description=str(data.get("description", "")),
            unknown=_rest(data, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "ConfigureFailure",
            "request_id": self.request_id,
            "code": self.code,
            "description": self.description,
            **self.unknown,
        }


#: Deepgram's limit on keyterms per request and per Configure. The kit counts whitespace-separated
#: words as tokens (Deepgram's tokenizer is not published; a word is at least one token).
KEYTERM_TOKEN_LIMIT = 500
#: Formatting features a Configure can switch on the local engine.
CONFIGURABLE_FEATURES = ("numerals",)


@dataclass(frozen=True)
class ConfigureRequest:
    """A client's Configure message, read: `keyterms` None keeps them, () clears them.

    >>> parse_configure({"type": "Configure", "keyterms": ["two two"], "features": {"numerals": True}})
    ConfigureRequest(keyterms=('two two',), features={'numerals': True})
    """

    keyterms: tuple[str, ...] | None = None
    features: Mapping[str, bool] = field(default_factory=dict)

    def token_count(self) -> int:
        return sum(len(term.split()) for term in self.keyterms or ())


def parse_configure(data: Mapping[str, Any]) -> ConfigureRequest:
    """Read a decoded `{"type": "Configure", ...}`; MessageError names the field that is malformed.

    >>> parse_configure({"type": "Configure", "features": {"numerals": "yes"}})
    Traceback (most recent call last):
    ...
    dgwidgets.protocol.MessageError: Configure: features.numerals must be true or false, got 'yes'
    """
    keyterms = data.get("keyterms")
    if keyterms is not None:
        if not isinstance(keyterms, list) or not all(isinstance(k, str) and k.strip() for k in keyterms):
            raise MessageError("Configure: keyterms must be a list of non-empty strings, or null")
        keyterms = tuple(keyterms)
    features = data.get("features")
    if features is None:
        features = {}
    if not isinstance(features, dict):
        raise MessageError("Configure: features must be an object of feature names to true/false")
    for name, value in features.items():
        if not isinstance(value, bool):
            raise MessageError(f"Configure: features.{name} must be true or false, got {value!r}")
    return ConfigureRequest(keyterms=keyterms, features=dict(features))


@dataclass(frozen=True)
class UnknownMessage:
    """A message of a type the kit does not know; kept whole so nothing is lost."""

    data: Mapping[str, Any]

    @property
    def type(self) -> str:  # type: ignore[override]
        return str(self.data.get("type", ""))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


Message = (
    Results | SpeechStarted | UtteranceEnd | Metadata | ErrorMessage | ConfigureSuccess | ConfigureFailure | UnknownMessage
)

_BY_TYPE: dict[str, Any] = {
    cls.type: cls
    for cls in (Results, SpeechStarted, UtteranceEnd, Metadata, ErrorMessage, ConfigureSuccess, ConfigureFailure)
}


def message_from_dict(data: Any) -> Message:
    """Build the typed message for a decoded JSON object."""
    if not isinstance(data, Mapping):
        raise MessageError(f"a message must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return UnknownMessage(dict(data))
    return cls.from_dict(data)


def parse_message(text: str | bytes) -> Message:
    """Parse one server text frame.

    >>> parse_message('{"type":"SpeechStarted","channel":[0,1],"timestamp":9.54}').timestamp
    9.54
    >>> parse_message('{"type": "Results"}')
    Traceback (most recent call last):
    ...
    dgwidgets.protocol.MessageError: Results: missing field 'channel'
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise MessageError(f"not valid JSON: {err}") from None
    return message_from_dict(data)


def serialize_message(message: Message) -> str:
    """Compact JSON in the wire's field order (what the local server sends)."""
    return json.dumps(message.to_dict(), separators=(",", ":"), ensure_ascii=False)
