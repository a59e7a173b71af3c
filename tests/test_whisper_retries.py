"""Which Whisper finals are decoded a second time, and which are only cut.

A final that *loops* (repeated n-grams, a high zlib ratio, the token cap) is decoded again with a
longer window (15 s, then 30 s). Words Whisper *invents in the zero padding* after the audio
(``past_end``: its DTW puts them on the audio's last frame) are cut off with no second decode: that
second decode cost ~3x and was what made those speech_finals late, and it read no better (see
`dgwidgets.engine.whisper._past_end`). The decoder's output is scripted here, so each rule is tested
on its own; the real-model tests are in test_engine_whisper.py and test_whisper_batch.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from dgwidgets.engine import whisper
from dgwidgets.engine.whisper import DecodeRequest, WhisperModel


@pytest.fixture(scope="module")
def model() -> WhisperModel:
    return WhisperModel.load()


def _scripted(monkeypatch, model: WhisperModel, outputs: list[tuple]) -> list[float]:
    """Make `_decode_groups` return `outputs` one decode at a time; returns the windows asked for."""
    windows: list[float] = []
    queue = list(outputs)

    def decode_groups(plans):
        out = []
        for plan in plans:
            windows.append(plan.window_s)
            out.append(queue.pop(0))
        return out

    monkeypatch.setattr(model, "_decode_groups", decode_groups)
    monkeypatch.setattr(model, "forced_alignment", False)  # word times as scripted
    return windows


TWO_SECONDS = DecodeRequest(np.zeros(32000, dtype=np.int16), final=True)
# (text, tokens, no_speech_prob, hit_token_cap, aligned words)
INVENTED_AT_THE_END = (
    "How are you? How are you?",
    [1, 2, 3, 4, 5, 6],
    0.05,
    False,
    [(" How", 0.3, 0.5, 0.9), (" are", 0.5, 0.7, 0.9), (" you?", 0.7, 1.1, 0.9),
     (" How", 1.99, 2.0, 0.2), (" are", 2.0, 2.0, 0.2), (" you?", 2.0, 2.0, 0.2)],
)
LOOPING = (
    "testing 123 testing 123 testing 123 testing 123 testing 123 testing 123",
    list(range(30)),
    0.05,
    True,
    [(" testing", 0.1 + 0.15 * k, 0.2 + 0.15 * k, 0.5) for k in range(12)],
)
# codec2-examples' hts1a at the VAD's flip: the sentence, then the same sentence DTW put on one frame
STACKED_BEFORE_THE_END = (
    "The Navy attacked the big task force. The Navy attacked the big task force",
    list(range(16)),
    0.03,
    False,
    [(" The", 0.0, 0.48, 0.4), (" Navy", 0.48, 0.76, 0.9), (" attacked", 0.76, 1.18, 0.9), (" the", 1.18, 1.5, 0.9),
     (" big", 1.5, 1.82, 0.9), (" task", 1.82, 2.16, 0.9), (" force.", 2.16, 2.36, 0.9)]
    + [(f" {w}", 2.36, 2.36, 0.2) for w in "The Navy attacked the big task".split()]
    + [(" force", 2.36, 2.44, 0.2)],
)
CLEAN = ("How are you?", [1, 2, 3], 0.05, False, [(" How", 0.3, 0.5, 0.9), (" are", 0.5, 0.7, 0.9), (" you?", 0.7, 1.1, 0.9)])


def test_words_invented_past_the_end_are_cut_with_one_decode(model, monkeypatch):
    windows = _scripted(monkeypatch, model, [INVENTED_AT_THE_END])
    result = model.transcribe(TWO_SECONDS)
    assert windows == [whisper.MIN_WINDOW_S]  # no second decode
    assert [w.word for w in result.words] == ["how", "are", "you"]
    assert result.truncated and not result.retried and result.rejected is None


def test_a_final_that_loops_is_decoded_again_with_a_longer_window(model, monkeypatch):
    windows = _scripted(monkeypatch, model, [LOOPING, CLEAN])
    result = model.transcribe(TWO_SECONDS)
    assert windows == [whisper.MIN_WINDOW_S, whisper.RETRY_WINDOWS_S[0]]
    assert result.retried and [w.word for w in result.words] == ["how", "are", "you"]


def test_an_interim_that_loops_is_truncated_not_decoded_again(model, monkeypatch):
    windows = _scripted(monkeypatch, model, [LOOPING])
    result = model.transcribe(DecodeRequest(np.zeros(32000, dtype=np.int16), final=False))
    assert windows == [whisper.MIN_WINDOW_S]
    assert result.truncated and not result.retried


def test_past_end_inside_a_batch_costs_no_decode_for_the_others(model, monkeypatch):
    windows = _scripted(monkeypatch, model, [INVENTED_AT_THE_END, CLEAN])
    results = model.transcribe_batch([TWO_SECONDS, TWO_SECONDS])
    assert windows == [whisper.MIN_WINDOW_S, whisper.MIN_WINDOW_S]
    assert [[w.word for w in r.words] for r in results] == [["how", "are", "you"]] * 2


def test_a_repeat_stacked_on_one_frame_before_the_end_is_cut_too(model, monkeypatch):
    windows = _scripted(monkeypatch, model, [STACKED_BEFORE_THE_END])
    result = model.transcribe(DecodeRequest(np.zeros(int(2.59 * 16000), dtype=np.int16), final=True))
    assert windows == [whisper.MIN_WINDOW_S]
    assert " ".join(w.word for w in result.words) == "the navy attacked the big task force"
    assert result.truncated and not result.retried
