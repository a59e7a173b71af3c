"""StreamTranscriber.configure, the pure core of Configure: numerals at once, keyterms (a new
recognizer) from the next segment, so the utterance being decoded keeps its vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from dgwidgets.engine.recognizer import RecognizedWord
from dgwidgets.engine.transcriber import MAX_SEGMENT, SAMPLE_RATE, StreamTranscriber
from dgwidgets.protocol import LiveOptions, Results


class VocabularyRecognizer:
    """Hears one word per utterance: the first of its keyterms (or 'general'), so the test sees which
    recognizer decoded which segment."""

    sample_rate = SAMPLE_RATE

    def __init__(self, keyterms):
        self.word = (list(keyterms) or ["general"])[0]
        self.samples = 0

    def start(self) -> None:
        self.samples = 0

    def feed(self, pcm: np.ndarray) -> None:
        self.samples += pcm.size

    def partial(self):
        return [RecognizedWord(self.word, 0.0, 0.2, 0.9)] if self.samples else []

    def finish(self):
        return self.partial()


def _finals(messages):
    return [m for m in messages if isinstance(m, Results) and m.is_final]


def test_keyterms_take_effect_at_the_next_segment_and_numerals_at_once():
    made = []

    def factory(keyterms):
        made.append(tuple(keyterms))
        return VocabularyRecognizer(keyterms)

    t = StreamTranscriber(LiveOptions(keyterm=("alpha",), endpointing=False), recognizer_factory=factory)
    tone = (np.sin(np.arange(SAMPLE_RATE) / 3) * 8000).astype(np.int16)
    loud = np.concatenate((tone, np.zeros(SAMPLE_RATE // 2, dtype=np.int16)))  # quiet gaps set the floor low
    out = t.feed(loud)
    t.configure(keyterms=["bravo"], numerals=True)
    assert made == [("alpha",), ("bravo",)] and t.options.keyterm == ("bravo",) and t.options.numerals
    out += t.feed(loud)  # still the first segment: decoded by the old recognizer
    first = t.finalize()
    out += first + t.feed(loud) + t.close()
    words = [f.transcript for f in _finals(out)]
    assert words == ["alpha", "bravo"], words
    assert first[0].end == pytest.approx(3.0, abs=0.033), "the open segment (up to the last decided VAD frame) was finalized whole by the recognizer that began it"


def test_configure_with_nothing_changes_nothing_and_empty_keyterms_clear_them():
    made = []

    def factory(keyterms):
        made.append(tuple(keyterms))
        return VocabularyRecognizer(keyterms)

    t = StreamTranscriber(
        LiveOptions(keyterm=("alpha",), keywords=("zulu:2",)), recognizer_factory=factory, keyterms_default=()
    )
    t.configure()
    assert made == [("alpha", "zulu")]
    t.configure(keyterms=[])
    assert t.options.keyterm == () and t.options.keywords == () and made[-1] == ()
    silence = np.zeros(int(SAMPLE_RATE * (MAX_SEGMENT + 1.2)), dtype=np.int16)
    assert _finals(t.feed(silence))[0].transcript == "", "silence: nothing heard by either recognizer"
