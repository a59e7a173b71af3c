"""UtteranceEndDetector on hand-made Results: the rules of PROTOCOL.md, edge by edge."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dgwidgets.engine.utterance_end import UtteranceEndDetector
from dgwidgets.protocol import Alternative, Results, UtteranceEnd, Word


def result(start: float, end: float, *words: tuple[str, float, float], final: bool = False) -> Results:
    ws = tuple(Word(w, s, e, 0.9) for w, s, e in words)
    return Results(
        start=start,
        duration=round(end - start, 6),
        is_final=final,
        speech_final=final,
        alternatives=(Alternative(" ".join(w.word for w in ws), 0.9 if ws else 0.0, ws),),
    )


def feed(detector: UtteranceEndDetector, *items: Results) -> list[UtteranceEnd | None]:
    return [detector.observe(r) for r in items]


def test_gap_must_be_positive():
    with pytest.raises(ValueError, match="gap_seconds"):
        UtteranceEndDetector(0)
    with pytest.raises(ValueError):
        UtteranceEndDetector(-1.0)


def test_nothing_fires_before_any_word_is_finalized():
    det = UtteranceEndDetector(1.0)
    # interims with a long gap between words, and long empty windows: no finalized word yet
    out = feed(
        det,
        result(0.0, 1.0),
        result(0.0, 4.0, ("hello", 0.2, 0.5), ("there", 3.0, 3.5)),
        result(0.0, 9.0, ("hello", 0.2, 0.5), ("there", 3.0, 3.5)),
    )
    assert out == [None, None, None]
    assert det.last_final_word_end is None


def test_blind_spot_the_final_does_not_judge_its_own_trailing_silence():
    det = UtteranceEndDetector(1.0)
    final = result(0.0, 3.0, ("hello", 0.1, 0.6), ("there", 0.7, 1.2), final=True)  # 1.8 s of silence inside
    assert det.observe(final) is None
    assert det.last_final_word_end == 1.2
    event = det.observe(result(3.0, 3.5))  # the next (short, empty) interim reveals it
    assert event == UtteranceEnd(last_word_end=1.2, channel=(0, 1))


def test_a_gap_inside_one_final_is_never_seen():
    det = UtteranceEndDetector(1.0)
    final = result(0.0, 4.0, ("hello", 0.1, 0.5), ("there", 3.0, 3.6), final=True)  # 2.5 s gap inside
    assert det.observe(final) is None
    # the next result is judged against the final's *last* word (3.6): 4.5 - 3.6 < 1.0
    assert det.observe(result(4.0, 4.5)) is None
    assert det.observe(result(4.0, 4.6)).last_word_end == 3.6


def test_window_exactly_at_the_gap_fires_and_just_short_does_not():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 1.5, ("yes", 0.3, 1.2), final=True))
    assert det.observe(result(1.5, 2.19)) is None
    assert det.observe(result(1.5, 2.2)).last_word_end == 1.2


def test_voice_agent_caveat_fires_although_speech_continues():
    # The docs: "Hello there. This is a test." (last word 3.4 s), interim up to 4.7 s, next word at 5.5 s,
    # utterance_end_ms=2000: UtteranceEnd fires even though the speaker goes on.
    det = UtteranceEndDetector(2.0)
    assert det.observe(result(0.0, 3.5, ("test", 2.9, 3.4), final=True)) is None
    assert det.observe(result(3.5, 4.7)) is None  # 1.3 s: not yet
    event = det.observe(result(3.5, 6.0, ("i'm", 5.5, 5.7), ("going", 5.75, 5.95)))  # a new word 2.1 s later
    assert event is not None and event.last_word_end == 3.4


def test_new_word_decides_even_when_the_window_is_long():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 1.5, ("one", 0.5, 1.0), final=True))
    # the window reaches far past 1.0 + gap, but the first new word is only 0.5 s after: no gap
    assert det.observe(result(1.5, 5.0, ("two", 1.5, 1.8), ("three", 4.0, 4.4))) is None


def test_new_word_exactly_gap_after_fires():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 1.5, ("one", 0.5, 1.0), final=True))
    assert det.observe(result(1.5, 2.5, ("two", 2.0, 2.3))).last_word_end == 1.0


def test_gap_shorter_than_utterance_end_ms_never_fires():
    det = UtteranceEndDetector(1.0)
    out = []
    # words every 0.9 s (0.5 s long, so 0.4 s gaps), finalized one per result, interims in between
    for i in range(8):
        s = 0.5 + 0.9 * i
        out.append(det.observe(result(s - 0.3, s + 0.6, (f"w{i}", s, s + 0.5))))
        out.append(det.observe(result(s - 0.3, s + 0.6, (f"w{i}", s, s + 0.5), final=True)))
    assert out == [None] * len(out)


def test_not_repeated_during_continued_silence():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 1.5, ("yes", 0.3, 1.0), final=True))
    first = det.observe(result(1.5, 2.5))
    assert first is not None and first.last_word_end == 1.0
    # more empty interims and finals: silence goes on, no second UtteranceEnd
    later = feed(det, result(1.5, 3.5), result(1.5, 4.0, final=True), result(4.0, 5.0), result(4.0, 9.0, final=True))
    assert later == [None] * 4


def test_rearms_for_each_new_finalized_word():
    det = UtteranceEndDetector(1.0)
    events = feed(
        det,
        result(0.0, 1.5, ("hello", 0.3, 1.2), final=True),
        result(1.5, 2.5),  # fires for 1.2
        result(1.5, 3.5, ("how", 2.6, 2.9), ("are", 2.9, 3.1), ("you", 3.1, 3.3)),  # interim: does not re-arm
        result(1.5, 3.6, ("how", 2.6, 2.9), ("are", 2.9, 3.1), ("you", 3.1, 3.3), final=True),
        result(3.6, 4.2),  # 0.9 s after "you": not yet
        result(3.6, 4.3),  # fires for 3.3
        result(3.6, 5.3),
    )
    assert [e.last_word_end if e else None for e in events] == [None, 1.2, None, None, None, 3.3, None]


def test_interim_words_do_not_move_the_last_finalized_word():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 1.0, ("one", 0.2, 0.6), final=True))
    det.observe(result(1.0, 1.5, ("two", 1.2, 1.4)))  # interim, 0.6 s after: no event
    assert det.last_final_word_end == 0.6
    # the interim word vanished (the recognizer changed its mind): the empty window reveals the gap
    assert det.observe(result(1.0, 1.7)).last_word_end == 0.6


def test_an_empty_final_can_reveal_the_gap_and_does_not_reset_it():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 1.0, ("one", 0.2, 0.6), final=True))
    event = det.observe(result(1.0, 2.0, final=True))
    assert event is not None and event.last_word_end == 0.6
    assert det.last_final_word_end == 0.6


def test_final_that_reveals_the_gap_then_becomes_the_new_reference():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 1.0, ("one", 0.2, 0.6), final=True))
    event = det.observe(result(1.0, 3.0, ("two", 2.0, 2.4), final=True))  # 1.4 s after "one"
    assert event is not None and event.last_word_end == 0.6
    assert det.last_final_word_end == 2.4
    assert det.observe(result(3.0, 3.39)) is None
    assert det.observe(result(3.0, 3.4)).last_word_end == 2.4


def test_words_before_the_last_finalized_word_are_not_new():
    det = UtteranceEndDetector(1.0)
    det.observe(result(0.0, 2.0, ("one", 1.0, 1.5), final=True))
    # a result that (oddly) repeats an old word: it is not a new word, so the window decides
    assert det.observe(result(0.0, 2.4, ("one", 1.0, 1.5))) is None
    assert det.observe(result(0.0, 2.5, ("one", 1.0, 1.5))).last_word_end == 1.5


@pytest.mark.parametrize("channel", [(0, 1), (1, 2), (3, 4)])
def test_channel_pair_is_passed_through(channel):
    det = UtteranceEndDetector(1.0, channel)
    det.observe(result(0.0, 1.0, ("one", 0.2, 0.6), final=True))
    event = det.observe(result(1.0, 2.0))
    assert event == UtteranceEnd(last_word_end=0.6, channel=channel)
    assert event.to_dict() == {"type": "UtteranceEnd", "channel": list(channel), "last_word_end": 0.6}


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0.05, max_value=3.0), min_size=1, max_size=12),
    utterance_end=st.sampled_from([1.0, 1.5, 2.0]),
)
def test_fires_exactly_for_the_gaps_that_are_long_enough(gaps, utterance_end):
    """Words finalized one per final, each followed by an empty interim at the next word's start:
    an UtteranceEnd for word i exactly when the gap after it reaches utterance_end (and at the end)."""
    assume(all(abs(g - utterance_end) > 1e-3 for g in gaps))  # no float coin flips at the boundary
    det = UtteranceEndDetector(utterance_end)
    t = 0.0
    words = []
    for gap in gaps:
        words.append((t, t + 0.3))
        t += 0.3 + gap
    fired = []
    for i, (s, e) in enumerate(words):
        nxt = words[i + 1][0] if i + 1 < len(words) else e + 10.0
        for r in (
            result(s, e, (f"w{i}", s, e), final=True),
            result(e, nxt),  # the silence after the word, as an interim
        ):
            event = det.observe(r)
            if event is not None:
                fired.append(event.last_word_end)
    next_starts = [w[0] for w in words[1:]] + [words[-1][1] + 10.0]
    expected = [e for (_, e), nxt in zip(words, next_starts) if nxt - e >= utterance_end - 1e-6]
    assert fired == expected
    assert len(set(fired)) == len(fired)
