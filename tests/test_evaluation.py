"""Scoring end-of-speech decisions against the samples' ground truth."""

from __future__ import annotations

import pytest

from dgwidgets.evaluation import end_of_thought_times, score
from dgwidgets.samples import sample
from dgwidgets.utterances import Utterance


def U(end, decided, trigger="speech_final", start=0.3):
    return Utterance("x", start, end, trigger, decided)


def test_end_of_thought_times_skip_mid_thought_pauses():
    assert end_of_thought_times(sample("dictation-pauses")) == [pytest.approx(8.84, abs=0.01)]
    assert len(end_of_thought_times(sample("credit-card"))) == 3
    assert len(end_of_thought_times(sample("voice-agent"))) == 1  # the docs' caveat: the speaker goes on


def test_hits_false_triggers_and_misses():
    truth = sample("dictation-pauses")
    pause_ends = [p.start for p in truth.pauses]
    decisions = [U(pause_ends[0], pause_ends[0] + 0.3), U(5.0, 5.2), U(8.84, 9.2)]
    s = score(decisions, truth)
    assert [d.verdict for d in s.decisions] == ["mid-thought", "inside-speech", "hit"]
    assert (s.hits, s.false_triggers, s.missed) == (1, 2, 0)
    assert s.latencies[0] == pytest.approx(9.2 - truth.utterances[-1].end)


def test_stream_end_is_not_a_decision_and_each_end_matches_once():
    truth = sample("hello-there")
    s = score([U(1.12, 1.5), U(1.12, 1.6), U(3.21, 3.3, trigger="stream_end")], truth)
    assert [d.verdict for d in s.decisions] == ["hit", "inside-speech"]
    assert s.missed == 1
    assert s.row() == {"hits": 1, "false triggers": 1, "missed": 1, "median latency (ms)": 380}


def test_no_decisions():
    s = score([], sample("yes"))
    assert (s.hits, s.missed, s.median_latency) == (0, 1, None)
