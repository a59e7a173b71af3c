"""The pure Flux turn machine with fake VAD frames, a fake recognizer and fake detectors.

The fakes make every input explicit: a frame is speech or not, the recognizer hears one word per
0.128 s of speech fed to it, the detector returns a chosen probability. Property tests drive
random speech/silence patterns, thresholds, ForceEndTurn and Configure through the machine and
check Flux's ordering rules on everything it says.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgwidgets.engine.recognizer import RecognizedWord
from dgwidgets.engine.turns import EOT_DELAY, UPDATE_INTERVAL, TurnMachine, TurnSettings, end_of_turn_confidence
from dgwidgets.engine.vad import VadFrame
from dgwidgets.flux import Sequencer, turn_info

FRAME = 512
DT = FRAME / 16000
SPEECH = np.full(FRAME, 1000, dtype=np.int16)
QUIET = np.zeros(FRAME, dtype=np.int16)
WORD_FRAMES = 4  # one word per 4 speech frames (0.128 s)


class FakeRecognizer:
    """Hears one word per WORD_FRAMES frames of non-zero audio fed since start()."""

    sample_rate = 16000

    def __init__(self, name: str = "w") -> None:
        self.name = name
        self.starts = 0
        self.fed = 0
        self.speech_frames: list[int] = []

    def start(self) -> None:
        self.starts += 1
        self.fed = 0
        self.speech_frames = []

    def feed(self, pcm: np.ndarray) -> None:
        if np.any(pcm):
            self.speech_frames.append(self.fed)
        self.fed += 1

    def _words(self) -> list[RecognizedWord]:
        out = []
        for i in range(len(self.speech_frames) // WORD_FRAMES):
            first = self.speech_frames[i * WORD_FRAMES]
            last = self.speech_frames[(i + 1) * WORD_FRAMES - 1]
            out.append(RecognizedWord(f"{self.name}{i}", first * DT, (last + 1) * DT, 0.9))
        return out

    def partial(self) -> list[RecognizedWord]:
        return self._words()

    def finish(self) -> list[RecognizedWord]:
        return self._words()


class FixedDetector:
    name = "fixed"

    def __init__(self, p: float) -> None:
        self.p = p
        self.calls = 0

    def probability(self, audio, words) -> float:
        self.calls += 1
        return self.p


def run(pattern, machine, *, actions=None):
    """Feed (is_speech, frames) runs; `actions` maps a frame number to a callable(machine) -> events."""
    actions = actions or {}
    events, i = [], round(machine.now / DT)  # a later call goes on from where the last one stopped
    for speech, n in pattern:
        for _ in range(n):
            frame = VadFrame(i * DT, (i + 1) * DT, 0.9 if speech else 0.05, speech)
            events += machine.frame(frame, SPEECH if speech else QUIET)
            i += 1
            if i in actions:
                events += actions[i](machine)
    return events


def frames(seconds: float) -> int:
    return round(seconds / DT)


def turn_events(events):
    return [e for e in events if e["event"] != "Update"]


def check_rules(events, *, eager_allowed: bool, duration_frames: int, eager_required: bool = False):
    """Flux's ordering rules; returns the list of turns (each a list of non-Update events)."""
    turns, current, index = [], None, 0
    last_end = 0.0
    last_nonupdate = None
    for e in events:
        assert e["audio_window_end"] + 1e-9 >= last_end, "time never goes back"
        last_end = e["audio_window_end"]
        assert e["audio_window_start"] <= e["audio_window_end"]
        assert 0.0 <= e["end_of_turn_confidence"] <= 1.0
        assert ("trigger" in e) == (e["event"] == "EndOfTurn"), "trigger on EndOfTurn only"
        assert e["turn_index"] == index, "turn_index goes up by one after each EndOfTurn, only then"
        assert e["transcript"] == " ".join(w["word"] for w in e["words"])
        kind = e["event"]
        if kind == "Update":
            continue
        if kind == "StartOfTurn":
            assert current is None, "StartOfTurn only between turns"
            assert e["transcript"], "StartOfTurn always has a transcript"
            current = [e]
        else:
            assert current is not None, f"{kind} outside a turn"
            current.append(e)
        if kind in ("EagerEndOfTurn", "TurnResumed"):
            assert eager_allowed, f"{kind} without eager_eot_threshold"
        if kind == "TurnResumed":
            assert last_nonupdate == "EagerEndOfTurn", "TurnResumed only right after an EagerEndOfTurn"
        if kind == "EagerEndOfTurn":
            assert last_nonupdate in ("StartOfTurn", "TurnResumed"), "one EagerEndOfTurn per stretch of speech"
        if kind == "EndOfTurn" and e["trigger"] == "model" and eager_required:
            assert last_nonupdate == "EagerEndOfTurn", "in eager mode a model EndOfTurn follows an EagerEndOfTurn"
        if kind == "EndOfTurn":
            assert e["trigger"] in ("model", "manual", "timeout")
            if last_nonupdate == "EagerEndOfTurn":
                assert e["transcript"] == current[-2]["transcript"], "EndOfTurn repeats the EagerEndOfTurn"
            turns.append(current)
            current = None
            index += 1
        last_nonupdate = kind if kind != "EndOfTurn" else None
    # one Update (or the StartOfTurn) per UPDATE_INTERVAL tick; a StartOfTurn may also come at a pause
    n_ticks = int(duration_frames * DT / UPDATE_INTERVAL + 1e-9)
    updates = sum(e["event"] == "Update" for e in events)
    starts = sum(e["event"] == "StartOfTurn" for e in events)
    assert updates <= n_ticks <= updates + starts
    return turns


# -- examples -----------------------------------------------------------------------------------


def test_confidence_needs_silence_and_grows_with_it():
    assert end_of_turn_confidence(1.0, EOT_DELAY - 0.01) == 0.0
    values = [end_of_turn_confidence(0.3, EOT_DELAY + k * 0.1) for k in range(30)]
    assert values == sorted(values) and values[0] == pytest.approx(0.3) and values[-1] > 0.9


def test_a_sure_detector_ends_the_turn_right_after_the_delay():
    m = TurnMachine(FakeRecognizer(), FixedDetector(0.95), TurnSettings())
    events = run([(False, 10), (True, 20), (False, 40)], m)
    kinds = [e["event"] for e in turn_events(events)]
    assert kinds == ["StartOfTurn", "EndOfTurn"]
    end = turn_events(events)[-1]
    speech_end = 30 * DT
    assert end["trigger"] == "model"
    assert 0 < end["audio_window_end"] - speech_end <= EOT_DELAY + DT
    assert end["transcript"] == "w0 w1 w2 w3 w4"
    assert end["words"][0]["start"] == pytest.approx(10 * DT, abs=1e-3)  # stream time, not utterance time


def test_an_unsure_detector_waits_and_a_short_pause_keeps_the_turn():
    det = FixedDetector(0.0)
    m = TurnMachine(FakeRecognizer(), det, TurnSettings())
    # 0.6 s pause: too short for p = 0 (needs about 1.4 s); then more speech and a long silence
    events = run([(True, 20), (False, frames(0.6)), (True, 20), (False, frames(2.0))], m)
    kinds = [e["event"] for e in turn_events(events)]
    assert kinds == ["StartOfTurn", "EndOfTurn"]
    silence = turn_events(events)[-1]["audio_window_end"] - 40 * DT - frames(0.6) * DT
    assert 1.3 < silence < 1.5  # EOT_DELAY + 1.2 s for 0.7 at p = 0
    assert det.calls == 2  # once per silence, not per frame


def test_eager_then_resumed_then_end_repeats_the_eager_transcript():
    m = TurnMachine(FakeRecognizer(), FixedDetector(0.5), TurnSettings(eager_eot_threshold=0.5))
    # eager fires at EOT_DELAY (0.5 already); EndOfTurn needs about 0.5 s more: a 0.4 s pause resumes
    events = run([(True, 20), (False, frames(0.4)), (True, 12), (False, frames(1.5))], m)
    kinds = [e["event"] for e in turn_events(events)]
    assert kinds == ["StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EagerEndOfTurn", "EndOfTurn"]
    eager, end = turn_events(events)[-2:]
    assert end["transcript"] == eager["transcript"] == "w0 w1 w2 w3 w4 w0 w1 w2"
    assert end["audio_window_end"] > eager["audio_window_end"]


def test_timeout_ends_a_turn_the_model_would_not():
    m = TurnMachine(FakeRecognizer(), FixedDetector(1.0), TurnSettings(eot_threshold=1.0, eot_timeout_ms=800))
    events = run([(True, 20), (False, frames(1.5))], m)
    (start, end) = turn_events(events)
    assert end["trigger"] == "timeout"
    assert end["audio_window_end"] - 20 * DT == pytest.approx(0.8, abs=DT)


def test_force_end_is_manual_and_ignored_without_words():
    m = TurnMachine(FakeRecognizer(), FixedDetector(0.0), TurnSettings())
    assert m.force_end() == []  # nothing heard
    events = run([(True, 20)], m)
    events += m.force_end()
    kinds = [e["event"] for e in turn_events(events)]
    assert kinds == ["StartOfTurn", "EndOfTurn"] and turn_events(events)[-1]["trigger"] == "manual"
    assert m.turn_index == 1 and m.force_end() == []
    # speech too short for a word: a candidate turn, and ForceEndTurn says nothing
    run([(True, 2)], m)
    assert m.force_end() == []


def test_noise_without_words_never_starts_a_turn():
    m = TurnMachine(FakeRecognizer(), FixedDetector(1.0), TurnSettings())
    events = run([(True, 3), (False, 30), (True, 2), (False, 30)], m)
    assert turn_events(events) == [] and m.turn_index == 0


def test_start_of_turn_comes_on_the_update_grid():
    m = TurnMachine(FakeRecognizer(), FixedDetector(0.0), TurnSettings())
    events = run([(False, 3), (True, 30)], m)
    start = turn_events(events)[0]
    # first word after 4 speech frames (0.224 s); the next tick is 0.25 s
    assert start["audio_window_end"] == pytest.approx(UPDATE_INTERVAL, abs=DT)
    ends = [e["audio_window_end"] for e in events]
    assert all(b - a == pytest.approx(UPDATE_INTERVAL, abs=DT) for a, b in zip(ends, ends[1:]))


def test_configure_changes_thresholds_mid_stream():
    m = TurnMachine(FakeRecognizer(), FixedDetector(0.6), TurnSettings(eot_threshold=0.9))
    run([(True, 20), (False, frames(0.5))], m)  # at 0.9 nothing yet
    m.configure(TurnSettings(eot_threshold=0.65))
    events = run([(False, 5)], m)
    assert [e["event"] for e in turn_events(events)] == ["EndOfTurn"]


def test_configured_keyterms_take_the_next_turns_recognizer():
    first = FakeRecognizer("a")
    m = TurnMachine(first, FixedDetector(0.95), TurnSettings())
    run([(True, 20), (False, 20)], m)
    m.next_recognizer = lambda: FakeRecognizer("b")
    events = run([(True, 20), (False, 20)], m)
    assert turn_events(events)[-1]["transcript"].startswith("b0")


def test_sequence_ids_count_every_message():
    stamp = Sequencer("r")
    m = TurnMachine(FakeRecognizer(), FixedDetector(0.95), TurnSettings())
    events = run([(True, 20), (False, 40)] * 3, m)
    messages = [stamp({"type": "Connected"})] + [stamp(turn_info(e)) for e in events]
    assert [msg["sequence_id"] for msg in messages] == list(range(len(messages)))
    assert {msg["request_id"] for msg in messages} == {"r"}


# -- properties -----------------------------------------------------------------------------------

runs = st.lists(st.tuples(st.booleans(), st.integers(1, 60)), min_size=1, max_size=12)
probability = st.floats(0.0, 1.0)
eot = st.floats(0.5, 1.0)


@st.composite
def thresholds(draw):
    e = draw(eot)
    eager = draw(st.one_of(st.none(), st.floats(0.3, min(e, 0.9))))
    return TurnSettings(eot_threshold=e, eager_eot_threshold=eager, eot_timeout_ms=draw(st.integers(500, 3000)))


@settings(max_examples=300, deadline=None)
@given(runs, probability, thresholds(), st.lists(st.integers(1, 400), max_size=3))
def test_event_rules_hold_for_any_speech_pattern(pattern, p, config, force_at):
    m = TurnMachine(FakeRecognizer(), FixedDetector(p), config)
    events = run(pattern, m, actions={i: TurnMachine.force_end for i in force_at})
    total = sum(n for _, n in pattern)
    eager = config.eager_eot_threshold is not None
    turns = check_rules(events, eager_allowed=eager, eager_required=eager, duration_frames=total)
    for turn in turns:
        end = turn[-1]
        if end["trigger"] == "model":
            assert end["end_of_turn_confidence"] >= config.eot_threshold - 1e-4  # rounded to 4 places
            assert config.eot_threshold < 1.0
        if end["trigger"] == "manual":
            assert force_at
    for e in events:
        if e["event"] == "EagerEndOfTurn":
            assert e["end_of_turn_confidence"] >= config.eager_eot_threshold - 1e-4


@settings(max_examples=150, deadline=None)
@given(runs, probability, thresholds(), thresholds(), st.integers(1, 300))
def test_rules_hold_across_a_configure(pattern, p, before, after, at):
    m = TurnMachine(FakeRecognizer(), FixedDetector(p), before)
    events = run(pattern, m, actions={at: lambda machine: machine.configure(after) or []})
    eager = before.eager_eot_threshold is not None or after.eager_eot_threshold is not None
    check_rules(events, eager_allowed=eager, duration_frames=sum(n for _, n in pattern))


@settings(max_examples=100, deadline=None)
@given(runs, probability, thresholds())
def test_silence_long_enough_always_ends_an_open_turn(pattern, p, config):
    m = TurnMachine(FakeRecognizer(), FixedDetector(p), config)
    events = run([*pattern, (False, frames(config.eot_timeout_ms / 1000 + 0.2))], m)
    starts = sum(e["event"] == "StartOfTurn" for e in events)
    ends = [e for e in events if e["event"] == "EndOfTurn"]
    assert starts == len(ends) == m.turn_index
    assert not m.in_turn
