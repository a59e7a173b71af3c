"""The documentation's examples as data: each one a SessionLog that replays like a live stream.

Where the documentation prints a full message (the "another big" interim results, the
"Testing. 123." final) the values are copied verbatim. Where it prints only windows and
transcripts (the credit-card table, the Hello-there and voice-agent walk-throughs), the word
timings, confidences and arrival times are derived to fit what it shows, and the log's
`info["derived"]` says exactly what was derived.

>>> log = example("credit-card")
>>> print(log.to_text().splitlines()[4])
5 0.000-3.260 ["is_final": true ] ["speech_final": false] yeah so my credit card number is two two
>>> sorted(EXAMPLES)
['credit-card', 'interim-results', 'testing-123', 'utterance-end', 'voice-agent-caveat']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .protocol import (
    Alternative,
    LiveOptions,
    Message,
    Results,
    SpeechStarted,
    UtteranceEnd,
    Word,
)
from .session import SessionLog

__all__ = ["EXAMPLES", "ExampleInfo", "example", "UnknownExampleError"]

_DERIVED_TIMINGS = (
    "word start/end times, word confidences and arrival times are derived (the documentation shows "
    "only each message's window and transcript); windows, flags and transcripts are verbatim"
)


class UnknownExampleError(KeyError):
    """No documentation example has that name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class ExampleInfo:
    name: str
    title: str
    teaches: str
    build: Callable[[], SessionLog]


# A derived word: (word, start, end) with an optional punctuated form.
_W = tuple


def _results(
    start: float,
    end: float,
    is_final: bool,
    speech_final: bool,
    transcript: str,
    words: Sequence[_W],
    *,
    confidence: float | None = None,
    word_confidence: float = 0.97,
) -> Results:
    built = tuple(
        Word(
            w[0],
            w[1],
            w[2],
            w[3] if len(w) > 3 and isinstance(w[3], float) else word_confidence,
            punctuated_word=w[-1] if isinstance(w[-1], str) and len(w) > 3 else None,
        )
        for w in words
    )
    conf = confidence if confidence is not None else (min((w.confidence for w in built), default=0.0))
    return Results(
        start=start,
        duration=round(end - start, 6),
        is_final=is_final,
        speech_final=speech_final,
        alternatives=(Alternative(transcript, conf, built),),
    )


def _log(
    name: str, title: str, options: LiveOptions, items: Sequence[tuple[float, Message]], derived: str
) -> SessionLog:
    log = SessionLog.from_messages(items, options=options, source=f"doc:{name}")
    log.backend = "documentation"
    log.info = {"example": name, "title": title, "derived": derived}
    return log


# ----------------------------------------------------------------------------- credit card

# The dictation's words on one timeline (derived). Interims reuse the same timings, cut at their
# window end as the docs describe ("the stream cuts off the word").
_CC = {
    "yeah": (0.08, 0.40),
    "so": (0.46, 0.80),
    "my": (1.10, 1.26),
    "credit": (1.30, 1.62),
    "card": (1.66, 1.92),
    "number": (1.96, 2.24),
    "is": (2.30, 2.44),
    "two1": (2.50, 2.80),
    "two2": (2.86, 3.16),
    "two3": (3.26, 3.54),
    "two4": (3.60, 3.88),
    "three1": (3.94, 4.22),
    "three2": (4.28, 4.56),
    "three3": (4.62, 4.90),
    "three4": (4.96, 5.24),
    "four1": (5.52, 5.78),
    "four2": (5.84, 6.10),
    "four3": (6.16, 6.42),
    "four4": (6.48, 6.74),
    "five1": (6.88, 7.14),
    "five2": (7.20, 7.46),
    "five3": (7.52, 7.78),
    "five4": (7.84, 8.06),
}


def _cc_words(keys: str, cut: float) -> list[_W]:
    out = []
    for key in keys.split():
        start, end = _CC[key]
        if start >= cut:
            break
        out.append((key.rstrip("1234"), start, min(end, cut)))
    return out


def _credit_card() -> SessionLog:
    first = "yeah so my credit card number is two1 two2"
    rows = [
        (0.000, 1.100, False, False, "yeah so", _cc_words(first, 1.1)),
        (0.000, 2.200, False, False, "yeah so my credit card number", _cc_words(first, 2.2)),
        (0.000, 3.200, False, False, "yeah so my credit card number is two two", _cc_words(first, 3.2)),
        (
            0.000,
            4.300,
            False,
            False,
            "yeah so my credit card number is two two two two three",
            _cc_words(first + " two3 two4 three1", 4.3),
        ),
        (0.000, 3.260, True, False, "yeah so my credit card number is two two", _cc_words(first, 3.26)),
        (
            3.260,
            5.100,
            False,
            False,
            "two two three three three three",
            _cc_words("two3 two4 three1 three2 three3 three4", 5.1),
        ),
        (
            3.260,
            5.500,
            True,
            True,
            "two two three three three three",
            _cc_words("two3 two4 three1 three2 three3 three4", 5.5),
        ),
        # The docs' interim mishears "four four or four four"; its words are spread over the window.
        (
            5.500,
            6.600,
            False,
            False,
            "four four or four four",
            [
                ("four", 5.52, 5.78),
                ("four", 5.84, 6.00),
                ("or", 6.00, 6.10),
                ("four", 6.16, 6.42),
                ("four", 6.48, 6.60),
            ],
        ),
        (5.500, 6.860, True, True, "four four four four", _cc_words("four1 four2 four3 four4", 6.86)),
        (6.860, 7.900, False, False, "five five five five", _cc_words("five1 five2 five3 five4", 7.9)),
        (6.860, 8.090, True, True, "five five five five", _cc_words("five1 five2 five3 five4", 8.09)),
    ]
    items: list[tuple[float, Message]] = []
    at = 0.0
    for start, end, is_final, speech_final, transcript, words in rows:
        # A message can only go out once its audio has arrived, and messages arrive in order.
        at = max(end, at + 0.05) if items else end
        items.append((round(at, 3), _results(start, end, is_final, speech_final, transcript, words)))
    return _log(
        "credit-card",
        "Credit card number: is_final vs speech_final",
        LiveOptions(interim_results=True),
        items,
        _DERIVED_TIMINGS,
    )


# ----------------------------------------------------------------------------- interim results


def _interim_results() -> SessionLog:
    # Verbatim from the Interim Results reference page.
    first = Results(
        start=0.0,
        duration=1.039875,
        is_final=False,
        speech_final=False,
        alternatives=(
            Alternative(
                "another big",
                0.9600255,
                (
                    Word("another", 0.2971154, 0.7971154, 0.9588303),
                    Word("big", 0.85173076, 1.039875, 0.9600255),
                ),
            ),
        ),
    )
    second = Results(
        start=0.0,
        duration=2.039875,
        is_final=False,
        speech_final=False,
        alternatives=(
            Alternative(
                "another big problem",
                0.9939844,
                (
                    Word("another", 0.29852942, 0.7985294, 0.9939844),
                    Word("big", 0.8557843, 1.3557843, 0.98220366),
                    Word("problem", 1.5722549, 2.039875, 0.9953441),
                ),
            ),
        ),
    )
    return _log(
        "interim-results",
        "Interim results: another big / another big problem",
        LiveOptions(interim_results=True),
        [(1.039875, first), (2.039875, second)],
        "arrival times are derived (each message at its window end); messages are verbatim",
    )


# ----------------------------------------------------------------------------- utterance end


def _utterance_end() -> SessionLog:
    hello = [("hello", 0.1, 0.6, 0.97, "Hello"), ("there", 0.7, 1.2, 0.97, "there")]
    how = [("how", 2.7, 2.9, 0.97, "How"), ("are", 2.95, 3.1, 0.97, "are"), ("you", 3.15, 3.4, 0.97, "you?")]
    items: list[tuple[float, Message]] = [
        (0.5, _results(0.0, 0.5, False, False, "Hello", [("hello", 0.1, 0.5, 0.9, "Hello")])),
        (1.0, _results(0.0, 1.0, False, False, "Hello there", [hello[0], ("there", 0.7, 1.0, 0.9, "there")])),
        (2.0, _results(0.0, 2.0, True, True, "Hello there", hello)),
        (2.2, UtteranceEnd(last_word_end=1.2)),
        (3.5, _results(2.0, 3.5, False, False, "How are you?", how)),
    ]
    return _log(
        "utterance-end",
        "UtteranceEnd: Hello there … How are you?",
        LiveOptions(interim_results=True, utterance_end_ms=1000, punctuate=True),
        items,
        "word timings of 'Hello' and 'there' and all arrival times follow the docs' walk-through; the words of "
        "'How are you?', the interim windows and the speech_final flag are derived",
    )


def _testing_123() -> SessionLog:
    # The final's words and confidences are verbatim from the UtteranceEnd reference page.
    final = Results(
        start=0.745,
        duration=1.65,
        is_final=True,
        speech_final=True,
        alternatives=(
            Alternative(
                "Testing. 123.",
                0.77905273,
                (
                    Word("testing", 1.07, 1.57, 0.69189453, punctuated_word="Testing."),
                    Word("123", 1.895, 2.395, 0.77905273, punctuated_word="123."),
                ),
            ),
        ),
    )
    items: list[tuple[float, Message]] = [
        (1.02, SpeechStarted(timestamp=1.0)),
        (
            1.745,
            _results(0.745, 1.745, False, False, "Testing.", [("testing", 1.07, 1.57, 0.69, "Testing.")]),
        ),
        (2.395, final),
        (3.395, _results(2.395, 3.395, False, False, "", [])),
        (3.4, UtteranceEnd(last_word_end=2.395)),
    ]
    return _log(
        "testing-123",
        "UtteranceEnd after 'Testing. 123.'",
        LiveOptions(interim_results=True, utterance_end_ms=1000, vad_events=True, smart_format=True, endpointing=300),
        items,
        "the final's words, confidences, duration and last_word_end are verbatim; its start, the "
        "SpeechStarted, the interims and all arrival times are derived",
    )


def _voice_agent_caveat() -> SessionLog:
    this_is = [
        ("hello", 0.5, 0.8, 0.97, "Hello"),
        ("there", 0.85, 1.2, 0.97, "there."),
        ("this", 1.9, 2.1, 0.97, "This"),
        ("is", 2.2, 2.35, 0.97, "is"),
        ("a", 2.4, 2.5, 0.97, "a"),
        ("test", 2.9, 3.4, 0.97, "test."),
    ]
    go_on = [
        ("i'm", 5.5, 5.7, 0.95, "I'm"),
        ("going", 5.75, 5.95, 0.95, "going"),
        ("to", 6.0, 6.1, 0.95, "to"),
        ("continue", 6.15, 6.5, 0.95, "continue"),
    ]
    items: list[tuple[float, Message]] = [
        (2.2, _results(0.0, 2.2, False, False, "Hello there. This", this_is[:3])),
        (3.5, _results(0.0, 3.5, False, False, "Hello there. This is a test.", this_is)),
        (3.6, _results(0.0, 3.6, True, False, "Hello there. This is a test.", this_is)),
        (4.7, _results(3.6, 4.7, False, False, "", [])),
        (6.5, _results(3.6, 6.5, False, False, "I'm going to continue", go_on)),
        (6.5, UtteranceEnd(last_word_end=3.4)),
    ]
    return _log(
        "voice-agent-caveat",
        "The voice-agent caveat: UtteranceEnd fires although speech continues",
        LiveOptions(interim_results=True, utterance_end_ms=2000, endpointing=False, punctuate=True),
        items,
        "last_word_end 3.4, result_end 4.7 and first_word_start 5.5 are the docs'; the other word timings, "
        "the windows, endpointing=false (so no speech_final) and the arrival times are derived",
    )


EXAMPLES: dict[str, ExampleInfo] = {
    info.name: info
    for info in (
        ExampleInfo(
            "credit-card",
            "Credit card number: is_final vs speech_final",
            "A long utterance is finalized in pieces (is_final) before its endpoint (speech_final): "
            "concatenate finals until speech_final.",
            _credit_card,
        ),
        ExampleInfo(
            "interim-results",
            "Interim results: another big / another big problem",
            "Interim windows grow from the segment start; the last word is cut at the window end, then corrected.",
            _interim_results,
        ),
        ExampleInfo(
            "utterance-end",
            "UtteranceEnd: Hello there … How are you?",
            "UtteranceEnd fires once a gap of utterance_end_ms follows the last finalized word.",
            _utterance_end,
        ),
        ExampleInfo(
            "testing-123",
            "UtteranceEnd after 'Testing. 123.'",
            "last_word_end equals the end of the last finalized word.",
            _testing_123,
        ),
        ExampleInfo(
            "voice-agent-caveat",
            "The voice-agent caveat",
            "UtteranceEnd fires on a long mid-thought pause even though speech continues.",
            _voice_agent_caveat,
        ),
    )
}


def example(name: str) -> SessionLog:
    """A fresh SessionLog of the documentation example `name` (with or without a `doc:` prefix)."""
    key = name.removeprefix("doc:")
    info = EXAMPLES.get(key)
    if info is None:
        raise UnknownExampleError(f"no documentation example {name!r}; choose one of: {', '.join(sorted(EXAMPLES))}")
    return info.build()
