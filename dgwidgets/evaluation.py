"""Score end-of-speech decisions against a sample's ground truth (pure).

A sample's JSON says where each phrase really ends and which pauses fall inside a thought. A
strategy's utterance *hits* a true end of thought when its last word is that phrase's end (its
latency is how long after the true end it decided); it is a *false trigger* when it ends at a
mid-thought pause or inside speech. True ends with no decision are *missed*. Utterances flushed
at the end of the stream (`stream_end`) are not decisions and are not scored.

>>> from dgwidgets.samples import sample
>>> from dgwidgets.utterances import Utterance
>>> truth = sample("hello-there")
>>> [(u.text, u.end) for u in truth.utterances]
[('hello there', 0.8552), ('how are you', 2.9668)]
>>> decisions = [Utterance("hello there", 0.3, 0.9, "speech_final", 1.2), Utterance("how are you", 2.4, 3.0, "speech_final", 3.3)]
>>> s = score(decisions, truth)
>>> (s.hits, s.false_triggers, s.missed), [round(x, 2) for x in s.latencies]
((2, 0, 0), [0.34, 0.33])
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from .samples import Sample
from .utterances import Utterance

__all__ = ["Score", "ScoredDecision", "score", "end_of_thought_times", "TOLERANCE"]

#: How far a decision's last word may be from a true phrase end (recognizer timing is ~10-100 ms off).
TOLERANCE = 0.35


@dataclass(frozen=True)
class ScoredDecision:
    utterance: Utterance
    verdict: str  # "hit", "mid-thought", "inside-speech"
    true_end: float | None
    latency: float | None


@dataclass(frozen=True)
class Score:
    """How one strategy did on one sample."""

    decisions: tuple[ScoredDecision, ...] = ()
    missed: int = 0
    latencies: tuple[float, ...] = field(default=())

    @property
    def hits(self) -> int:
        return sum(d.verdict == "hit" for d in self.decisions)

    @property
    def false_triggers(self) -> int:
        return sum(d.verdict != "hit" for d in self.decisions)

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    def row(self) -> dict[str, object]:
        """A flat dict for a results table."""
        median = self.median_latency
        return {
            "hits": self.hits,
            "false triggers": self.false_triggers,
            "missed": self.missed,
            "median latency (ms)": None if median is None else round(median * 1000),
        }


def end_of_thought_times(sample: Sample) -> list[float]:
    """The true ends of thoughts: phrase ends followed by a pause that is not mid-thought, and the last."""
    ends = []
    for i, utterance in enumerate(sample.utterances):
        pause = sample.pauses[i] if i < len(sample.pauses) else None
        if pause is None or not pause.mid_thought:
            ends.append(utterance.end)
    return ends


def _mid_thought_times(sample: Sample) -> list[float]:
    return [p.start for p in sample.pauses if p.mid_thought]


def score(utterances: Sequence[Utterance], sample: Sample, *, tolerance: float = TOLERANCE) -> Score:
    """Score a strategy's utterances on `sample` (one channel)."""
    ends = end_of_thought_times(sample)
    mids = _mid_thought_times(sample)
    matched: set[float] = set()
    scored = []
    latencies = []
    for u in utterances:
        if u.trigger == "stream_end":
            continue
        near_end = [e for e in ends if abs(u.end - e) <= tolerance and e not in matched]
        if near_end:
            true_end = min(near_end, key=lambda e: abs(u.end - e))
            matched.add(true_end)
            latency = u.decided_at - true_end
            latencies.append(latency)
            scored.append(ScoredDecision(u, "hit", true_end, latency))
        elif any(abs(u.end - m) <= tolerance for m in mids):
            scored.append(ScoredDecision(u, "mid-thought", None, None))
        else:
            scored.append(ScoredDecision(u, "inside-speech", None, None))
    # the stream's last end is reached by stream_end anyway; a live app would still be waiting
    return Score(tuple(scored), missed=len(ends) - len(matched), latencies=tuple(latencies))
