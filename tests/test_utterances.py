"""End-of-speech strategies on the doc examples, hand-made streams, and generated streams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgwidgets.examples import example
from dgwidgets.protocol import Alternative, Results, SpeechStarted, UtteranceEnd, Word
from dgwidgets.utterances import (
    STRATEGIES,
    LowLatency,
    PunctuationOrGap,
    SilenceInterval,
    SpeechFinal,
    SpeechFinalOrUtteranceEnd,
    UnknownStrategyError,
    make_strategy,
)

CREDIT_CARD_UTTERANCES = [
    "yeah so my credit card number is two two two two three three three three",
    "four four four four",
    "five five five five",
]


def W(word, start, end, punct=None):
    return Word(word, start, end, 0.9, punctuated_word=punct)


def R(start, end, words, *, final=False, sf=False, channel=(0, 1)):
    return Results(
        start=start,
        duration=round(end - start, 6),
        is_final=final,
        speech_final=sf,
        alternatives=(Alternative(" ".join(w.text for w in words), 0.9, tuple(words)),),
        channel_index=channel,
    )


# --------------------------------------------------------------------------- doc examples


@pytest.mark.parametrize("strategy", [SpeechFinal(), SpeechFinalOrUtteranceEnd()])
def test_credit_card_speech_final_assembles_the_dictated_groups(strategy):
    utterances = strategy.run(example("credit-card"))
    assert [u.text for u in utterances] == CREDIT_CARD_UTTERANCES
    assert [u.trigger for u in utterances] == ["speech_final"] * 3
    assert [u.decided_at for u in utterances] == [5.5, 6.86, 8.09]
    assert not any(u.provisional for u in utterances)


def test_speech_final_alone_loses_the_first_piece():
    # the docs' warning: reading only speech_final messages drops "yeah so my credit card number is two two"
    only_sf = [r.transcript for r in example("credit-card").results() if r.speech_final]
    assert only_sf[0] == "two two three three three three"


def test_utterance_end_is_ignored_after_speech_final():
    utterances = SpeechFinalOrUtteranceEnd().run(example("utterance-end"))
    assert [(u.text, u.trigger, u.decided_at) for u in utterances] == [("Hello there", "speech_final", 2.0)]


def test_voice_agent_caveat_fires_mid_thought():
    (u,) = SpeechFinalOrUtteranceEnd().run(example("voice-agent-caveat"))
    assert (u.text, u.trigger, u.end, u.decided_at) == (
        "Hello there. This is a test.",
        "utterance_end",
        3.4,
        6.5,
    )


def test_silence_interval_on_the_caveat_sees_the_gap_before_the_server():
    # 2 s after "test." (3.4) the interim ending 4.7 shows nothing new; the gap is seen when
    # "I'm" starts at 5.5, the same moment the server's UtteranceEnd arrives.
    utterances = SilenceInterval(2.0).run(example("voice-agent-caveat"))
    assert utterances[0].text == "Hello there. This is a test."
    assert utterances[0].trigger == "silence_interval" and utterances[0].decided_at == 6.5
    # a 1 s interval decides at the empty interim ending 4.7, long before
    early = SilenceInterval(1.0).run(example("voice-agent-caveat"))
    assert early[0].decided_at == 4.7 and early[0].latency == pytest.approx(1.3)


def test_silence_interval_sees_gaps_inside_one_final():
    final = R(0, 4, [W("hello", 0.1, 0.5), W("there", 3.0, 3.4)], final=True)
    utterances = SilenceInterval(2.0).run([final])
    assert [(u.text, u.trigger) for u in utterances] == [
        ("hello", "silence_interval"),
        ("there", "stream_end"),
    ]


def test_silence_interval_fires_once_per_last_word():
    msgs = [R(0, 1, [W("hi", 0.2, 0.6)], final=True)] + [R(t, t + 1, [], final=True) for t in (1, 2, 3, 4)]
    utterances = SilenceInterval(1.0).run(msgs)
    assert [(u.text, u.decided_at) for u in utterances] == [("hi", 2.0)]


def test_punctuation_or_gap_uses_finals_only():
    msgs = [
        R(0, 1.0, [W("testing", 0.1, 0.5, "Testing.")]),  # interim: ignored
        R(
            0,
            2.0,
            [W("testing", 0.1, 0.5, "Testing."), W("one", 0.6, 0.9), W("two", 1.0, 1.4, "two.")],
            final=True,
        ),
        R(2.0, 4.0, [W("next", 3.2, 3.5)], final=True),
    ]
    utterances = PunctuationOrGap(gap=1.0).run(msgs)
    assert [(u.text, u.trigger, u.decided_at) for u in utterances] == [
        ("Testing.", "punctuation", 2.0),
        ("one two.", "punctuation", 2.0),
        ("next", "stream_end", 4.0),
    ]


def test_punctuation_or_gap_breaks_on_adjacent_word_gap():
    msgs = [R(0, 3.0, [W("a", 0.1, 0.3), W("b", 0.4, 0.6), W("c", 2.0, 2.2)], final=True)]
    assert [u.text for u in PunctuationOrGap(gap=1.0).run(msgs)] == ["a b", "c"]


def test_low_latency_reads_interims_and_can_fire_falsely():
    msgs = [
        R(0, 1.0, [W("i", 0.1, 0.2), W("want", 0.3, 0.6, "want.")]),  # interim punctuates too early
        R(0, 2.0, [W("i", 0.1, 0.2), W("want", 0.3, 0.6), W("fries", 0.7, 1.1)]),
        R(0, 2.1, [W("i", 0.1, 0.2), W("want", 0.3, 0.6), W("fries", 0.7, 1.1, "fries.")], final=True),
    ]
    utterances = LowLatency(gap=1.0, tolerance=0.8).run(msgs)
    assert utterances[0].text == "i want." and utterances[0].provisional and utterances[0].decided_at == 1.0
    # the finalized "i want" were covered by the provisional utterance: not repeated
    # the next interim's window ends 0.9 s after "fries": past the tolerance, decided at 2.0
    assert [(u.text, u.trigger, u.decided_at, u.provisional) for u in utterances[1:]] == [
        ("fries", "tolerance", 2.0, True)
    ]


def test_channels_are_independent():
    msgs = [
        R(0, 1, [W("left", 0.1, 0.5)], final=True, sf=False, channel=(0, 2)),
        R(0, 1, [W("right", 0.1, 0.5)], final=True, sf=True, channel=(1, 2)),
        R(1, 2, [W("more", 1.1, 1.5)], final=True, sf=True, channel=(0, 2)),
    ]
    utterances = SpeechFinal().run(msgs)
    assert [(u.channel, u.text) for u in utterances] == [(1, "right"), (0, "left more")]


def test_events_without_words_do_nothing():
    s = SpeechFinalOrUtteranceEnd()
    assert s.feed(SpeechStarted(timestamp=1.0)) == []
    assert s.feed(UtteranceEnd(last_word_end=1.0)) == []
    assert s.finish() == []


def test_registry_and_parameters():
    assert set(STRATEGIES) == {
        "speech_final",
        "speech_final_or_utterance_end",
        "silence_interval",
        "punctuation_or_gap",
        "low_latency",
    }
    assert make_strategy("silence-interval", seconds=1.5).gap == 1.5
    with pytest.raises(UnknownStrategyError, match="choose one of: speech_final"):
        make_strategy("magic")
    with pytest.raises(ValueError, match="gap must be > 0"):
        SilenceInterval(0)
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        LowLatency(tolerance=-1)


# --------------------------------------------------------------------------- generated streams


@st.composite
def protocol_streams(draw):
    """A stream the protocol allows: words in time order, interims growing from the segment
    start (possibly wrong about the last words), finals tiling the timeline, speech_final only on
    finals, UtteranceEnd after a final naming the last finalized word, SpeechStarted anywhere."""
    n = draw(st.integers(0, 18))
    t = draw(st.floats(0.0, 1.0))
    words = []
    for i in range(n):
        t += draw(st.sampled_from([0.0, 0.05, 0.3, 0.8, 1.2, 2.5]))
        dur = draw(st.sampled_from([0.1, 0.25, 0.4]))
        punct = f"w{i}." if draw(st.integers(0, 4)) == 0 else None
        words.append(W(f"w{i}", round(t, 3), round(t + dur, 3), punct))
        t += dur
    stream_end = round(t + draw(st.sampled_from([0.0, 0.5, 3.0])), 3)
    cut_points = sorted(set(draw(st.lists(st.integers(1, max(n, 1)), max_size=5)))) if n else []
    bounds = [0] + [c for c in cut_points if c < n] + [n]
    messages = []
    seg_start = 0.0
    last_final_word_end = None
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        seg_words = words[a:b]
        seg_end = stream_end if b == n else round((words[b - 1].end + words[b].start) / 2, 3)
        seg_end = max(seg_end, seg_start)
        for frac in sorted(draw(st.lists(st.floats(0.1, 1.0), max_size=3))):
            e = round(seg_start + frac * (seg_end - seg_start), 3)
            shown = [w for w in seg_words if w.start < e]
            if shown and draw(st.booleans()):  # the interim is cut mid-word or mishears the last word
                last = shown[-1]
                shown[-1] = W(draw(st.sampled_from([last.word, "uh", "or"])), last.start, min(last.end, e))
            messages.append(R(seg_start, e, shown))
            if draw(st.integers(0, 5)) == 0:
                messages.append(SpeechStarted(timestamp=e))
        messages.append(R(seg_start, seg_end, seg_words, final=True, sf=draw(st.booleans())))
        if seg_words:
            last_final_word_end = seg_words[-1].end
        if last_final_word_end is not None and draw(st.integers(0, 2)) == 0:
            messages.append(UtteranceEnd(last_word_end=last_final_word_end))
        seg_start = seg_end
    return words, messages


def _key(word):
    return (word.word, word.start, word.end)


@settings(max_examples=300, deadline=None)
@given(protocol_streams(), st.sampled_from(sorted(STRATEGIES)), st.sampled_from([0.5, 1.0, 2.0]))
def test_strategies_never_lose_or_duplicate_finalized_words(stream, name, seconds):
    finalized, messages = stream
    params = (
        {"seconds": seconds}
        if name == "silence_interval"
        else {"gap": seconds}
        if "gap" in name or name == "low_latency"
        else {}
    )
    strategy = make_strategy(name, **params)
    utterances = strategy.run(messages)
    reported = [w for u in utterances for w in u.words]
    final_keys = {_key(w) for w in finalized}
    reported_final = [_key(w) for w in reported if _key(w) in final_keys]
    assert len(reported_final) == len(set(reported_final)), "a finalized word was reported twice"
    # utterances are in time order and never overlap
    for before, after in zip(utterances, utterances[1:]):
        assert before.end <= after.start + 1e-9
        assert before.decided_at <= after.decided_at + 1e-9
    if not strategy.reads_interims:
        assert [_key(w) for w in reported] == [_key(w) for w in finalized]
        assert not any(u.provisional for u in utterances)
    else:
        # a finalized word missing from the utterances was reported in interim form already
        covered = [u.end for u in utterances if u.provisional]
        for w in finalized:
            if _key(w) not in set(reported_final):
                assert covered and w.start < max(covered) + 1e-9, f"lost finalized word {w}"
