"""Tests for dgwidgets.engine.recognizer (pocketsphinx with an in-process keyterm LM)."""

from __future__ import annotations

import numpy as np
import pytest

from dgwidgets.engine.recognizer import (
    BASE_VOCABULARY,
    PocketsphinxRecognizer,
    RecognizedWord,
    StreamingRecognizer,
)

try:
    from tests.audio_fixtures import RATE, TRANSCRIPTS, chunks, padded, silence
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from audio_fixtures import RATE, TRANSCRIPTS, chunks, padded, silence

# What an app would pass for these prompts: the phrases it expects to hear.
KEYTERMS = {
    "card": ["my credit card number is"],
    "hello_there": ["hello there"],
    "yes": ["yes"],
}
TOLERANCE = 0.150  # seconds


def wer(ref: str, hyp: str) -> float:
    r, h = ref.split(), hyp.split()
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)] / max(len(r), 1)


def decode(rec: PocketsphinxRecognizer, pcm: np.ndarray, chunk_seconds: float = 0.1) -> list[RecognizedWord]:
    rec.start()
    for piece in chunks(pcm, chunk_seconds):
        rec.feed(piece)
    return rec.finish()


def text(words: list[RecognizedWord]) -> str:
    return " ".join(w.word for w in words)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_recognizes_fixture_with_keyterms(name: str) -> None:
    pcm, true_start, true_end = padded(name)
    words = decode(PocketsphinxRecognizer(keyterms=KEYTERMS[name]), pcm)
    assert wer(TRANSCRIPTS[name], text(words)) <= 0.10, text(words)

    # Times: ordered, inside the audio fed, and around the true speech region.
    for w in words:
        assert 0.0 <= w.start < w.end <= pcm.size / RATE, w
        assert 0.0 <= w.confidence <= 1.0, w
        assert w.word == w.word.lower() and "(" not in w.word, w
    assert all(a.end <= b.start for a, b in zip(words, words[1:], strict=False)), words
    assert abs(words[0].start - true_start) <= TOLERANCE, (words[0], true_start)
    assert abs(words[-1].end - true_end) <= TOLERANCE, (words[-1], true_end)


def test_chunk_size_does_not_change_anything() -> None:
    """Same audio, any chunking: the same words, times and confidences, utterance after utterance."""

    def run(chunk_seconds: float) -> list[list[RecognizedWord]]:
        rec = PocketsphinxRecognizer(keyterms=[*KEYTERMS["card"], *KEYTERMS["hello_there"]])
        return [decode(rec, padded(name)[0], chunk_seconds) for name in ("hello_there", "card")]

    whole = run(10.0)
    assert text(whole[1]) == TRANSCRIPTS["card"]
    for seconds in (0.020, 0.250, 137 / RATE):
        assert run(seconds) == whole, seconds


def test_partial_grows_as_audio_comes() -> None:
    pcm, _, _ = padded("card")
    rec = PocketsphinxRecognizer(keyterms=KEYTERMS["card"])
    rec.start()
    assert rec.partial() == []
    seen: list[list[RecognizedWord]] = []
    for piece in chunks(pcm, 0.1):
        rec.feed(piece)
        seen.append(rec.partial())
        fed = rec.samples_fed / RATE
        assert all(0.0 <= w.start <= w.end <= fed for w in seen[-1]), (fed, seen[-1])
        assert all(a.end <= b.start for a, b in zip(seen[-1], seen[-1][1:], strict=False))
    counts = [len(p) for p in seen]
    third = len(counts) // 3
    assert counts[0] == 0 and 0 < counts[third] < counts[-1], counts
    assert wer(TRANSCRIPTS["card"], text(seen[-1])) <= 0.2, text(seen[-1])
    final = rec.finish()
    assert rec.partial() == []  # no utterance any more
    assert wer(TRANSCRIPTS["card"], text(final)) <= 0.10


def test_unknown_keyterm_words_are_reported_not_fatal() -> None:
    rec = PocketsphinxRecognizer(keyterms=["hello zorblaxian there", "Quuxifier!"])
    assert rec.unknown_words == ("quuxifier", "zorblaxian")
    assert rec.vocabulary is not None and {"hello", "there"} | set(BASE_VOCABULARY) <= rec.vocabulary
    pcm, _, _ = padded("hello_there")
    assert text(decode(rec, pcm)) == "hello there"


def test_two_utterances_on_one_instance() -> None:
    rec = PocketsphinxRecognizer(keyterms=[*KEYTERMS["hello_there"], *KEYTERMS["yes"]])
    first = decode(rec, padded("hello_there")[0])
    assert not rec.in_utterance
    pcm, true_start, _ = padded("yes", before=0.3)
    second = decode(rec, pcm)
    assert text(first) == "hello there" and text(second) == "yes"
    # Times restart with each utterance: the caller offsets them.
    assert abs(second[0].start - true_start) <= TOLERANCE


def test_lifecycle_misuse_and_edge_cases() -> None:
    rec = PocketsphinxRecognizer(keyterms=["yes"])
    assert isinstance(rec, StreamingRecognizer)
    assert rec.finish() == [] and rec.partial() == []  # nothing started: harmless
    with pytest.raises(RuntimeError, match="start"):
        rec.feed(silence(0.1))
    rec.start()
    rec.start()  # no audio yet: a repeated start() is a no-op
    assert rec.finish() == []  # an utterance with no audio
    rec.start()
    rec.feed(np.zeros(0, np.int16))
    rec.feed(silence(0.3))
    with pytest.raises(RuntimeError, match="finish"):
        rec.start()
    with pytest.raises(TypeError, match="int16"):
        rec.feed(np.zeros(160, np.float32))
    with pytest.raises(TypeError, match="int16"):
        rec.feed(np.zeros((160, 2), np.int16))
    assert rec.finish() == []  # silence only
    assert text(decode(rec, padded("yes")[0])) == "yes"  # still usable afterwards


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="16000"):
        PocketsphinxRecognizer(keyterms=["yes"], sample_rate=8000)
    rec = PocketsphinxRecognizer(keyterms="hello there")  # a bare string is one phrase, not letters
    assert rec.keyterms == ("hello there",) and rec.unknown_words == ()


@pytest.mark.slow
def test_general_model_without_keyterms() -> None:
    rec = PocketsphinxRecognizer()  # ~5 s: loads the full en-us LM and dictionary
    assert rec.vocabulary is None and rec.unknown_words == ()
    pcm, _, _ = padded("hello_there")
    words = decode(rec, pcm)
    assert words and all(0.0 <= w.confidence <= 1.0 for w in words)
    assert all(0.0 <= w.start < w.end <= pcm.size / RATE for w in words)
