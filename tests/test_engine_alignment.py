"""Forced alignment (Whisper's words, pocketsphinx's times) on real speech, and what its decoders load.

The aligner's decoders load no language model: alignment follows the words it is given, and the
en-us LM was most of a decoder's creation time, spent holding the GIL (a fresh server's first
stream heard its SpeechStarted ~0.5 s late while two decode workers each built one).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pocketsphinx
import pytest

from dgwidgets.audio import load_audio
from dgwidgets.engine.alignment import ForcedAligner

REAL = Path(__file__).parent / "data" / "real"
# The checked transcripts of the real clips: a reference to align against, as the timing benchmark
# does. (Alignment is the step after recognition; nothing here reaches the recognizer.)
TRANSCRIPTS = {name: text for name, text in json.loads((REAL / "transcripts.json").read_text()).items() if text}


def _with_language_model() -> ForcedAligner:
    """An aligner whose decoders load pocketsphinx's default en-us LM, as they once did."""
    aligner = ForcedAligner()
    decoder = pocketsphinx.Decoder(samprate=16000, loglevel="FATAL", bestpath=False)
    aligner._pool.put((decoder, decoder.get_cmn()))
    return aligner


def test_aligner_decoders_load_no_language_model():
    aligner = ForcedAligner()
    aligner.prepare()
    decoder, _ = aligner._pool.get_nowait()
    assert decoder.config["lm"] is None
    assert decoder.lookup_word("hello") is not None  # the dictionary is still there


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_word_times_on_real_speech_are_those_of_a_decoder_with_the_language_model(name):
    pcm = load_audio(REAL / name)[:, 0]
    words = TRANSCRIPTS[name].split()
    times = ForcedAligner().align(pcm, words)
    assert times is not None and len(times) == len(words)
    assert times == _with_language_model().align(pcm, words)
    starts = [start for start, _ in times]
    assert starts == sorted(starts)
    assert all(0 <= start < end <= pcm.size / 16000 for start, end in times)


def test_an_unknown_word_or_too_little_audio_gives_none():
    aligner = ForcedAligner()
    assert aligner.align(np.zeros(16000, np.int16), ["zyxwq"]) is None
    assert aligner.align(np.zeros(800, np.int16), ["hello"]) is None
    assert aligner.align(np.zeros(16000, np.int16), []) is None
