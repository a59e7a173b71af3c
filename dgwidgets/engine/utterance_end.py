"""UtteranceEnd as Deepgram describes it: from word timings, not from the VAD.

Fed the Results a channel sends (interim and final, in order), it decides when a gap of
`utterance_end_ms` follows the last *finalized* word, judged by a later result:

- a result whose first new word (one starting after the last finalized word) starts at least
  the gap after it, or
- a result with no new words whose window reaches ``last_word_end + gap``.

Consequences the docs spell out, kept on purpose: the final that holds the last word does not
judge its own trailing silence (the blind spot inside one final, so a later interim is needed);
it fires even when speech resumes after the gap (the voice-agent caveat); background noise that
keeps a VAD in speech does not stop it; it never fires twice for one last word.

>>> from dgwidgets.protocol import Alternative, Results, Word
>>> det = UtteranceEndDetector(gap_seconds=1.0)
>>> final = Results(0.0, 2.0, True, True, (Alternative("hello there", 0.9,
...     (Word("hello", 0.1, 0.6, 0.9), Word("there", 0.7, 1.2, 0.9))),))
>>> det.observe(final) is None   # its own silence (1.2-2.0) is inside the final: not judged
True
>>> det.observe(Results(2.0, 1.0, False, False)).last_word_end
1.2
"""

from __future__ import annotations

from ..protocol import Results, UtteranceEnd

__all__ = ["UtteranceEndDetector"]

_EPS = 1e-6


class UtteranceEndDetector:
    """Decides UtteranceEnd for one channel from the Results it emits."""

    def __init__(self, gap_seconds: float, channel: tuple[int, int] = (0, 1)) -> None:
        if gap_seconds <= 0:
            raise ValueError(f"gap_seconds must be > 0, got {gap_seconds}")
        self.gap = gap_seconds
        self.channel = channel
        self.last_final_word_end: float | None = None
        self._fired_for: float | None = None

    def observe(self, results: Results) -> UtteranceEnd | None:
        """Look at the next Results; return the UtteranceEnd it reveals, if any."""
        event = None
        last = self.last_final_word_end
        if last is not None and last != self._fired_for:
            new_words = [w for w in results.words if w.start > last - _EPS]
            if new_words:
                revealed = new_words[0].start - last >= self.gap - _EPS
            else:
                revealed = results.end - last >= self.gap - _EPS
            if revealed:
                self._fired_for = last
                event = UtteranceEnd(last_word_end=last, channel=self.channel)
        if results.is_final and results.words:
            self.last_final_word_end = results.words[-1].end
        return event
