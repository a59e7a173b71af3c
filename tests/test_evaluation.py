"""Scoring end-of-speech decisions against the samples' ground truth."""

from __future__ import annotations

import pytest

from dgwidgets.evaluation import end_of_thought_times, score
from dgwidgets.samples import sample
from dgwidgets.utterances import Utterance


def U(end, decided, trigger="speech_final", start=0.3):
    return Utterance("x", start, end, trigger, decided)


def test_end_of_thought_times_skip_mid_thought_pauses():
    # every pause of the dictation is mid-thought: its only end of thought is the last word
    dictation = sample("dictation-pauses")
    assert end_of_thought_times(dictation) == [dictation.utterances[-1].end]
    assert len(end_of_thought_times(sample("credit-card"))) == 3
    assert len(end_of_thought_times(sample("voice-agent"))) == 1  # the docs' caveat: the speaker goes on


def test_hits_false_triggers_and_misses():
    truth = sample("dictation-pauses")
    pause_ends = [p.start for p in truth.pauses]
    inside = truth.utterances[2]  # a decision in the middle of "in the large conference room"
    last_end = truth.utterances[-1].end
    decisions = [
        U(pause_ends[0], pause_ends[0] + 0.3),
        U((inside.start + inside.end) / 2, inside.end),
        U(last_end, last_end + 0.4),
    ]
    s = score(decisions, truth)
    assert [d.verdict for d in s.decisions] == ["mid-thought", "inside-speech", "hit"]
    assert (s.hits, s.false_triggers, s.missed) == (1, 2, 0)
    assert s.latencies[0] == pytest.approx(0.4)


def test_stream_end_is_not_a_decision_and_each_end_matches_once():
    truth = sample("hello-there")
    first_end, last_end = (u.end for u in truth.utterances)
    decided = first_end + 0.38
    s = score(
        [U(first_end, decided), U(first_end, decided + 0.1), U(last_end, last_end + 0.1, trigger="stream_end")], truth
    )
    # the second decision at the same end is not a second hit; stream_end is not scored
    assert [d.verdict for d in s.decisions] == ["hit", "inside-speech"]
    assert s.missed == 1
    assert s.row() == {"hits": 1, "false triggers": 1, "missed": 1, "median latency (ms)": 380}


def test_no_decisions():
    s = score([], sample("yes"))
    assert (s.hits, s.missed, s.median_latency) == (0, 1, None)
