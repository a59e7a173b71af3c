"""Cached runs of the streaming transcriber over the sample audio, shared by the engine tests.

A full sample run costs ~0.5-0.8 s of CPU, and many tests look at the same run from different
angles, so every run is cached per process on (sample, options, chunking). The transcriber is a
pure state machine in audio time, so a cached run is exactly what a fresh run would give.

Helpers here are plain functions (no pytest), so a run can be reproduced by hand::

    >>> from tests.engine_runs import run, options_for, show
    >>> print(show(run("hello-there", options_for("hello-there", interim_results=True))))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np
import soundfile as sf

from dgwidgets.engine.transcriber import SAMPLE_RATE, StreamTranscriber
from dgwidgets.protocol import LiveOptions, Message, Results, SpeechStarted, UtteranceEnd, Word
from dgwidgets.samples import sample

#: The options most tests start from (the brief's "docs" setting).
DOCS = dict(interim_results=True, endpointing=300, utterance_end_ms=1000)
#: Everything that changes the message stream switched on.
ALL_FEATURES = dict(interim_results=True, endpointing=300, utterance_end_ms=1000, vad_events=True, smart_format=True)


@functools.cache
def pcm_of(name: str) -> np.ndarray:
    """A sample's audio as int16 mono at 16 kHz (read once; do not modify the array)."""
    pcm, rate = sf.read(sample(name).path, dtype="int16")
    assert rate == SAMPLE_RATE and pcm.ndim == 1, (name, rate, pcm.shape)
    pcm.setflags(write=False)
    return pcm


def duration_of(name: str) -> float:
    return pcm_of(name).size / SAMPLE_RATE


def options_for(name: str, **changes) -> LiveOptions:
    """LiveOptions with the sample's keyterms (the local engine's language model) plus `changes`."""
    return LiveOptions(keyterm=sample(name).keyterms, **changes)


def stream(pcm: np.ndarray, options: LiveOptions, chunk: float | None = 0.25) -> list[Message]:
    """Feed `pcm` in chunks of `chunk` seconds (None: all at once), then close; all messages."""
    transcriber = StreamTranscriber(options)
    step = pcm.shape[0] if chunk is None else max(1, round(chunk * SAMPLE_RATE))
    out: list[Message] = []
    for i in range(0, pcm.shape[0], step):
        out.extend(transcriber.feed(pcm[i : i + step]))
    out.extend(transcriber.close())
    return out


@functools.cache
def run(name: str, options: LiveOptions, chunk: float | None = 0.25) -> tuple[Message, ...]:
    """All messages for sample `name` streamed with `options` and closed (cached)."""
    return tuple(stream(pcm_of(name), options, chunk))


# -- views of a message list ---------------------------------------------------------------------


def results(messages: Iterable[Message]) -> list[Results]:
    return [m for m in messages if isinstance(m, Results)]


def finals(messages: Iterable[Message]) -> list[Results]:
    return [m for m in messages if isinstance(m, Results) and m.is_final]


def interims(messages: Iterable[Message]) -> list[Results]:
    return [m for m in messages if isinstance(m, Results) and not m.is_final]


def speech_finals(messages: Iterable[Message]) -> list[Results]:
    return [m for m in messages if isinstance(m, Results) and m.speech_final]


def utterance_ends(messages: Iterable[Message]) -> list[UtteranceEnd]:
    return [m for m in messages if isinstance(m, UtteranceEnd)]


def speech_starts(messages: Iterable[Message]) -> list[SpeechStarted]:
    return [m for m in messages if isinstance(m, SpeechStarted)]


def final_words(messages: Iterable[Message]) -> list[Word]:
    return [w for m in finals(messages) for w in m.words]


def final_text(messages: Iterable[Message]) -> str:
    """The plain (unpunctuated) words of all finals, joined."""
    return " ".join(w.word for w in final_words(messages))


def show(messages: Iterable[Message]) -> str:
    """A readable table of a run, for assertion messages."""
    lines = []
    for m in messages:
        if isinstance(m, Results):
            flags = f"{'F' if m.is_final else '.'}{'S' if m.speech_final else '.'}{'z' if m.from_finalize else '.'}"
            lines.append(f"  {m.start:7.3f}-{m.end:7.3f} {flags} {m.channel_index} {m.transcript!r}")
        elif isinstance(m, UtteranceEnd):
            lines.append(f"  UtteranceEnd last_word_end={m.last_word_end} {m.channel}")
        elif isinstance(m, SpeechStarted):
            lines.append(f"  SpeechStarted timestamp={m.timestamp} {m.channel}")
        else:
            lines.append(f"  {m!r}")
    return "\n".join(lines)


# -- word error rate ------------------------------------------------------------------------------


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitution, insertion, deletion all 1).

    >>> edit_distance("a b c".split(), "a x c d".split())
    2
    """
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def wer(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """Word error rate of `hypothesis` against a non-empty `reference` (strings are split on spaces).

    >>> wer("two two two two", "two two two")
    0.25
    """
    ref = reference.split() if isinstance(reference, str) else list(reference)
    hyp = hypothesis.split() if isinstance(hypothesis, str) else list(hypothesis)
    if not ref:
        raise ValueError("WER needs a non-empty reference")
    return edit_distance(ref, hyp) / len(ref)
