"""Table and timeline view-models: what the widgets show, checked on the doc examples and generated streams."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dgwidgets.examples import EXAMPLES, example
from dgwidgets.protocol import (
    Alternative,
    ErrorMessage,
    Metadata,
    Results,
    SpeechStarted,
    UnknownMessage,
    UtteranceEnd,
    Word,
)
from dgwidgets.session import Received, SessionLog
from dgwidgets.utterances import SilenceInterval, SpeechFinal, SpeechFinalOrUtteranceEnd
from dgwidgets.widgets.viewmodels import ROW_KINDS, Gap, Marker, TableModel, TimelineModel

ROW_KEYS = {"n", "kind", "window", "is_final", "speech_final", "from_finalize", "text", "at", "channel", "superseded"}


def _table(name: str, max_rows: int = 200) -> TableModel:
    model = TableModel(max_rows=max_rows)
    model.extend(example(name))
    return model


def _timeline(name: str, gap_threshold: float = 1.0) -> TimelineModel:
    model = TimelineModel(gap_threshold=gap_threshold)
    model.extend(example(name))
    return model


def _expected_gaps(words, threshold):
    return [
        (a.end, b.start)
        for a, b in zip(words, words[1:])
        if b.start - a.end > 0  # touching words leave no gap
    ]


# ------------------------------------------------------------------------------ table: doc examples


def test_credit_card_rows():
    model = _table("credit-card")
    rows = model.rows
    assert model.total == len(rows) == 11
    assert all(set(row) == ROW_KEYS for row in rows)
    assert [row["n"] for row in rows] == list(range(1, 12))
    assert [row["kind"] for row in rows] == [
        "interim",
        "interim",
        "interim",
        "interim",
        "final",
        "interim",
        "speech_final",
        "interim",
        "speech_final",
        "interim",
        "speech_final",
    ]
    assert [row["window"] for row in rows][:5] == [
        "0.000-1.100",
        "0.000-2.200",
        "0.000-3.200",
        "0.000-4.300",
        "0.000-3.260",
    ]
    assert rows[6]["window"] == "3.260-5.500"
    # rows 1-4 are replaced (the last by the final 5), 6 by 7, 8 by 9, 10 by 11
    assert [row["n"] for row in rows if row["superseded"]] == [1, 2, 3, 4, 6, 8, 10]
    assert [row["n"] for row in rows if row["is_final"]] == [5, 7, 9, 11]
    assert [row["n"] for row in rows if row["speech_final"]] == [7, 9, 11]
    assert rows[4]["text"] == "yeah so my credit card number is two two"
    assert rows[7]["text"] == "four four or four four"
    assert rows[4]["at"] == 4.35 and rows[0]["at"] == 1.1
    assert not any(row["from_finalize"] for row in rows)
    assert {row["channel"] for row in rows} == {0}


def test_credit_card_doc_text_is_the_session_text_byte_for_byte():
    log = example("credit-card")
    model = _table("credit-card")
    assert model.doc_text() == log.to_text()
    lines = model.doc_text().splitlines()
    assert lines[0] == '1 0.000-1.100 ["is_final": false] ["speech_final": false] yeah so'
    assert (
        lines[4] == '5 0.000-3.260 ["is_final": true ] ["speech_final": false] yeah so my credit card number is two two'
    )
    assert lines[10] == '11 6.860-8.090 ["is_final": true ] ["speech_final": true ] five five five five'


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_numbers_and_formats_like_the_session_log(name):
    log = example(name)
    model = _table(name)
    assert model.doc_text() == log.to_text()
    assert model.total == len(log)
    numbered = [row["n"] for row in model.rows if row["n"] is not None]
    assert numbered == list(range(1, len(log.results()) + 1))
    assert all(row["kind"] in ROW_KINDS for row in model.rows)
    events = [row for row in model.rows if row["n"] is None]
    assert all(row["window"] == "" and not row["is_final"] for row in events)


def test_utterance_end_rows():
    rows = _table("utterance-end").rows
    assert [(row["n"], row["kind"]) for row in rows] == [
        (1, "interim"),
        (2, "interim"),
        (3, "speech_final"),
        (None, "UtteranceEnd"),
        (4, "interim"),
    ]
    assert rows[3]["text"] == "UtteranceEnd last_word_end=1.200 (received at 2.200)"
    assert rows[3]["at"] == 2.2
    # the last interim has nothing after it yet
    assert [row["superseded"] for row in rows] == [True, True, False, False, False]


def test_testing_123_rows_have_speech_started_first():
    rows = _table("testing-123").rows
    assert rows[0]["kind"] == "SpeechStarted" and rows[0]["n"] is None
    assert rows[0]["text"] == "SpeechStarted timestamp=1.000 (received at 1.020)"
    assert [row["kind"] for row in rows] == ["SpeechStarted", "interim", "speech_final", "interim", "UtteranceEnd"]
    assert [row["n"] for row in rows] == [None, 1, 2, 3, None]
    assert rows[1]["superseded"]  # "Testing." (0.745-1.745) is replaced by the final of the same window start
    assert rows[3]["text"] == "" and not rows[3]["superseded"]


def test_voice_agent_caveat_rows():
    rows = _table("voice-agent-caveat").rows
    assert [row["superseded"] for row in rows] == [True, True, False, True, False, False]
    assert rows[2]["kind"] == "final"  # endpointing=false: no speech_final
    assert rows[-1]["kind"] == "UtteranceEnd"


def test_interim_results_rows():
    rows = _table("interim-results").rows
    assert [(row["window"], row["superseded"]) for row in rows] == [
        ("0.000-1.040", True),
        ("0.000-2.040", False),
    ]


def test_rows_window_is_bounded_but_numbering_continues():
    log = example("credit-card")
    model = TableModel(max_rows=4)
    model.extend(log)
    assert len(model) == len(model.rows) == 4
    assert model.total == 11
    assert [row["n"] for row in model.rows] == [8, 9, 10, 11]
    assert model.doc_text().splitlines() == log.table_lines()[-4:]
    assert model.results_count == 11


def test_superseded_marks_reach_a_row_that_is_still_visible_only():
    # a window of 1: the interim that gets superseded has already scrolled out; nothing breaks
    model = TableModel(max_rows=1)
    model.extend(example("credit-card"))
    assert model.rows[0]["n"] == 11


def test_other_message_kinds():
    model = TableModel()
    model.add(Received(1.0, Metadata(request_id="abc", duration=12.5)))
    model.add(Received(1.5, ErrorMessage(description="Could not deserialize", variant="SchemaError")))
    model.add(Received(2.0, UnknownMessage({"type": "Warning", "x": 1})))
    model.add(Received(2.5, Results(0, 1, True, False, from_finalize=True)))
    kinds = [(row["kind"], row["n"]) for row in model.rows]
    assert kinds == [("Metadata", None), ("Error", None), ("other", None), ("final", 1)]
    assert model.rows[0]["text"] == "Metadata duration=12.500 request_id=abc"
    assert model.rows[1]["text"] == "SchemaError Could not deserialize"
    assert model.rows[2]["text"] == "Warning"
    assert model.rows[3]["from_finalize"]
    # the docs' table has lines for Results (and SpeechStarted/UtteranceEnd) only
    assert model.doc_text() == '1 0.000-1.000 ["is_final": true ] ["speech_final": false]'


def test_multichannel_rows_match_the_session_text_and_supersede_per_channel():
    def res(start, end, final, text, ch):
        return Results(start, end - start, final, False, (Alternative(text, 0.9),), channel_index=(ch, 2))

    log = SessionLog.from_messages(
        [
            (1.0, res(0, 1, False, "left", 0)),
            (1.0, res(0, 1, False, "right", 1)),
            (2.0, res(0, 2, False, "left more", 0)),
            (2.0, res(0, 2, True, "right done", 1)),
        ]
    )
    model = TableModel()
    model.extend(log)
    assert model.doc_text() == log.to_text()
    assert [(row["channel"], row["superseded"]) for row in model.rows] == [(0, True), (1, True), (0, False), (1, False)]


def test_clear_restarts_numbering():
    model = _table("credit-card")
    model.clear()
    assert model.rows == [] and model.total == 0 and model.doc_text() == ""
    model.extend(example("utterance-end"))
    assert model.rows[0]["n"] == 1


def test_max_rows_must_be_positive():
    with pytest.raises(ValueError):
        TableModel(max_rows=0)


# --------------------------------------------------------------------------- timeline: doc examples


def test_credit_card_words_gaps_and_markers():
    model = _timeline("credit-card")
    words = model.words
    assert len(words) == 23
    assert [w.word for w in words[:9]] == "yeah so my credit card number is two two".split()
    assert (words[0].start, words[0].end) == (0.08, 0.40)
    assert (words[-1].word, words[-1].start, words[-1].end) == ("five", 7.84, 8.06)
    assert all(w.confidence == 0.97 and w.channel == 0 for w in words)
    # the finals' words, in order, are exactly the finals' words of the log
    assert [w.word for w in words] == [w.word for r in example("credit-card").finals() for w in r.words]

    gaps = model.gaps
    assert [(g.start, g.end) for g in gaps] == _expected_gaps(words, 1.0)
    assert len(gaps) == 22  # no two credit-card words touch
    assert all(not g.over_threshold for g in gaps)
    # a gap across a final boundary (two … | two …) and one inside a final (so … my)
    assert any(math.isclose(g.start, 3.16) and math.isclose(g.end, 3.26) for g in gaps)
    assert any(math.isclose(g.start, 0.80) and math.isclose(g.length, 0.30) for g in gaps)

    assert model.speech_finals == [Marker(5.5, 5.5), Marker(6.86, 6.86), Marker(8.09, 8.09)]
    assert model.utterance_ends == [] and model.speech_starts == []
    assert model.duration == 8.09


def test_credit_card_gap_threshold_marks_long_gaps():
    gaps = _timeline("credit-card", gap_threshold=0.25).gaps
    over = [(round(g.start, 2), round(g.end, 2)) for g in gaps if g.over_threshold]
    assert over == [(0.8, 1.1), (5.24, 5.52)]


def test_credit_card_windows_tile_and_grow():
    windows = _timeline("credit-card").windows
    assert len(windows) == 11
    finals = [(w.start, w.end) for w in windows if w.is_final]
    assert finals == [(0.0, 3.26), (3.26, 5.5), (5.5, 6.86), (6.86, 8.09)]
    assert all(math.isclose(a[1], b[0]) for a, b in zip(finals, finals[1:]))
    assert [round(w.end, 3) for w in windows[:4]] == [1.1, 2.2, 3.2, 4.3]
    assert [w.speech_final for w in windows if w.is_final] == [False, True, True, True]


def test_credit_card_interim_ghost_lane_over_time():
    log = example("credit-card")
    model = TimelineModel()
    seen = []
    for entry in log:
        model.add(entry)
        seen.append([w.word for w in model.interim_words])
    assert seen[3] == "yeah so my credit card number is two two two two three".split()
    # the final 0-3.26 covers the first nine; the three words after 3.26 stay ghosted
    assert seen[4] == ["two", "two", "three"]
    assert seen[5] == "two two three three three three".split()
    assert seen[6] == []  # the speech_final covers them all
    assert seen[7] == "four four or four four".split()
    assert seen[10] == []


def test_utterance_end_example():
    model = _timeline("utterance-end")
    assert model.utterance_ends == [Marker(1.2, 2.2, 0)]
    assert [w.word for w in model.words] == ["Hello", "there"]
    assert [w.word for w in model.interim_words] == ["How", "are", "you?"]
    assert model.speech_finals == [Marker(2.0, 2.0)]
    assert len(model.gaps) == 1 and math.isclose(model.gaps[0].length, 0.1)
    assert model.duration == 3.5


def test_testing_123_example():
    model = _timeline("testing-123")
    assert model.speech_starts == [Marker(1.0, 1.02, 0)]
    assert model.utterance_ends == [Marker(2.395, 3.4, 0)]
    assert [(w.word, w.start, w.end) for w in model.words] == [("Testing.", 1.07, 1.57), ("123.", 1.895, 2.395)]
    assert [round(w.confidence, 8) for w in model.words] == [0.69189453, 0.77905273]
    assert len(model.speech_finals) == 1 and math.isclose(model.speech_finals[0].time, 2.395)
    assert math.isclose(model.gaps[0].length, 0.325)
    assert model.interim_words == []  # the last interim is empty
    assert model.duration == 3.4


def test_voice_agent_caveat_gap_inside_one_final():
    model = _timeline("voice-agent-caveat", gap_threshold=0.5)
    # all six words come in one final: its 0.7 s pause (there. … This) is a gap all the same
    over = [g for g in model.gaps if g.over_threshold]
    assert [(g.start, g.end) for g in over] == [(1.2, 1.9)]
    assert len(model.gaps) == 5
    assert model.speech_finals == []
    assert model.utterance_ends == [Marker(3.4, 6.5, 0)]
    assert [w.word for w in model.interim_words] == ["I'm", "going", "to", "continue"]


def test_interim_results_example_has_no_finalized_words():
    model = _timeline("interim-results")
    assert model.words == [] and model.gaps == []
    assert [w.word for w in model.interim_words] == ["another", "big", "problem"]
    assert len(model.windows) == 2 and not any(w.is_final for w in model.windows)
    assert model.duration == 2.039875


def test_strategy_decisions():
    log = example("credit-card")
    model = TimelineModel()
    model.extend(log)
    for utterance in SpeechFinal().run(log):
        model.add_utterance("speech_final", utterance)
    for utterance in SilenceInterval(0.25).run(log):
        model.add_utterance(SilenceInterval.name, utterance)
    assert model.strategies == ["speech_final", "silence_interval"]
    decisions = [d for d in model.decisions if d.strategy == "speech_final"]
    assert [(d.end, d.decided_at, d.trigger) for d in decisions] == [
        (5.24, 5.5, "speech_final"),
        (6.74, 6.86, "speech_final"),
        (8.06, 8.09, "speech_final"),
    ]
    assert decisions[1].text == "four four four four"
    assert any(d.provisional for d in model.decisions if d.strategy == "silence_interval")


def test_strategy_given_as_object_uses_its_name():
    log = example("voice-agent-caveat")
    model = TimelineModel()
    strategy = SpeechFinalOrUtteranceEnd()
    for utterance in strategy.run(log):
        model.add_utterance(strategy, utterance)
    assert model.strategies == ["speech_final_or_utterance_end"]
    assert model.decisions[0].decided_at == 6.5 and model.decisions[0].end == 3.4


def test_window_keeps_only_the_last_seconds():
    model = _timeline("credit-card")
    view = model.window(2.0)
    assert math.isclose(view.since, 6.09)
    assert [w.word for w in view.words] == ["four", "four", "four"] + ["five"] * 4
    assert [round(w.end, 2) for w in view.windows] == [6.6, 6.86, 7.9, 8.09]
    assert [m.time for m in view.speech_finals] == [6.86, 8.09]
    assert all(g.end >= 6.09 for g in view.gaps)
    full = model.window(None)
    assert full.words == model.words and full.since == 0.0
    assert model.window(100.0).words == model.words


def test_window_keeps_an_event_that_arrived_inside_it():
    model = _timeline("voice-agent-caveat")
    # UtteranceEnd at 3.4 arrived at 6.5: its line reaches into the last second
    assert model.window(1.0).utterance_ends == [Marker(3.4, 6.5, 0)]


def test_long_gap_is_found_by_window():
    model = TimelineModel()
    model.add(Received(1, _final(0, 1, [("a", 0.1, 0.5)])))
    model.add(Received(100, _final(1, 100, [("b", 99.0, 99.5)])))
    assert [(g.start, g.end) for g in model.window(5).gaps] == [(0.5, 99.0)]
    assert model.window(5).gaps[0].over_threshold


def test_revision_counts_changes_per_kind():
    model = TimelineModel()
    before = dict(model.revision)
    model.add(Received(1, Results(0, 1, False, False, (Alternative("a", 0.9, (Word("a", 0.1, 0.5, 0.9),)),))))
    assert model.revision["interim"] > before["interim"]
    assert model.revision["words"] == before["words"]
    model.clear()
    assert all(model.revision[k] > before[k] for k in model.KINDS)


def test_replacement_final_for_the_same_window():
    model = TimelineModel()
    model.add(Received(1, _final(0, 2, [("one", 0.1, 0.5), ("two", 0.6, 1.0)])))
    model.add(Received(2, _final(2, 3, [("three", 2.1, 2.5)])))
    # a repeated final of 0-2 with different words replaces the first one's words
    model.add(Received(3, _final(0, 2, [("won", 0.1, 0.5), ("too", 0.7, 1.0)])))
    assert [w.word for w in model.words] == ["won", "too", "three"]
    assert [(g.start, g.end) for g in model.gaps] == [(0.5, 0.7), (1.0, 2.1)]


def test_gap_threshold_must_be_positive():
    with pytest.raises(ValueError):
        TimelineModel(gap_threshold=0)


# ----------------------------------------------------------------------------- generated streams


def _final(start, end, words, *, speech_final=False, channel=(0, 1)):
    ws = tuple(Word(w, s, e, 0.9) for w, s, e in words)
    return Results(
        start,
        end - start,
        True,
        speech_final,
        (Alternative(" ".join(w for w, _, _ in words), 0.9, ws),),
        channel_index=channel,
    )


@st.composite
def realistic_streams(draw):
    """Streams shaped like the protocol: per channel, segments of growing interims then a final that tiles."""
    channels = draw(st.integers(1, 2))
    entries: list[tuple[float, object]] = []
    for ch in range(channels):
        t = 0.0
        cursor = 0.0  # segment start
        for _ in range(draw(st.integers(0, 6))):
            # the words of one segment
            words = []
            w_t = cursor + draw(st.floats(0.0, 1.5))
            for i in range(draw(st.integers(0, 6))):
                length = draw(st.floats(0.05, 0.6))
                words.append((f"w{ch}{i}", round(w_t, 3), round(w_t + length, 3)))
                w_t += length + draw(st.floats(0.0, 1.5))
            end = round(max(w_t, cursor + 0.5), 3)
            steps = draw(st.integers(0, 3))
            for k in range(1, steps + 1):
                cut = round(cursor + (end - cursor) * k / (steps + 1), 3)
                shown = [(w, s, min(e, cut)) for w, s, e in words if s < cut]
                r = Results(
                    cursor,
                    cut - cursor,
                    False,
                    False,
                    (
                        Alternative(
                            " ".join(w for w, _, _ in shown), 0.8, tuple(Word(w, s, e, 0.8) for w, s, e in shown)
                        ),
                    ),
                    channel_index=(ch, channels),
                )
                t = max(t, cut)
                entries.append((t, r))
            t = max(t, end)
            entries.append((t, _final(cursor, end, words, speech_final=draw(st.booleans()), channel=(ch, channels))))
            if words and draw(st.booleans()):
                entries.append((t + 0.01, UtteranceEnd(words[-1][2], channel=(ch, channels))))
            if draw(st.booleans()):
                entries.append((t + 0.02, SpeechStarted(end + 0.1, channel=(ch, channels))))
            cursor = end
    if draw(st.booleans()):
        entries.append((max((at for at, _ in entries), default=0.0) + 0.1, Metadata("req", 1.0, channels)))
    # arrival order across channels, times never running backwards
    entries.sort(key=lambda pair: pair[0])
    return SessionLog.from_messages(entries)


def _arbitrary_results():
    word = st.builds(
        lambda text, start, length, conf: Word(text, start, start + length, conf),
        st.sampled_from(["a", "b", "c", "hello"]),
        st.floats(0, 50, allow_nan=False),
        st.floats(0, 3, allow_nan=False),
        st.floats(0, 1),
    )
    return st.builds(
        lambda start, dur, fin, sf, words, ch, ff: Results(
            start,
            dur,
            fin or sf,
            sf,
            (Alternative(" ".join(w.word for w in words), 0.5, tuple(words)),),
            channel_index=(ch, 2),
            from_finalize=ff,
        ),
        st.floats(0, 50, allow_nan=False),
        st.floats(0, 10, allow_nan=False),
        st.booleans(),
        st.booleans(),
        st.lists(word, max_size=5),
        st.integers(0, 1),
        st.booleans(),
    )


arbitrary_messages = st.one_of(
    _arbitrary_results(),
    st.builds(lambda t: UtteranceEnd(t), st.floats(0, 60, allow_nan=False)),
    st.builds(lambda t: SpeechStarted(t), st.floats(0, 60, allow_nan=False)),
    st.just(Metadata("req", 1.0)),
    st.just(ErrorMessage("bad")),
)


@st.composite
def arbitrary_streams(draw):
    messages = draw(st.lists(arbitrary_messages, max_size=25))
    at, entries = 0.0, []
    for message in messages:
        at += draw(st.floats(0, 2, allow_nan=False))
        entries.append((at, message))
    return SessionLog.from_messages(entries)


def _check_table(log: SessionLog, max_rows: int) -> None:
    model = TableModel(max_rows=max_rows)
    model.extend(log)
    assert model.total == len(log)
    assert len(model.rows) == min(len(log), max_rows)
    numbered = [row["n"] for row in model.rows if row["n"] is not None]
    count = len(log.results())
    assert numbered == list(range(count - len(numbered) + 1, count + 1))
    lines = model.doc_text().splitlines()
    assert lines == (log.table_lines()[-len(lines) :] if lines else [])
    if max_rows >= len(log):
        assert model.doc_text() == log.to_text()
        # reference: an interim is superseded iff the next Results of its channel starts its window again
        results = [(i, e.message) for i, e in enumerate(log) if isinstance(e.message, Results)]
        for pos, (i, r) in enumerate(results):
            following = [m for _, m in results[pos + 1 :] if m.channel_index[0] == r.channel_index[0]]
            expected = not r.is_final and bool(following) and round(following[0].start, 6) == round(r.start, 6)
            assert model.rows[i]["superseded"] == expected
    for row in model.rows:
        assert row["kind"] in ROW_KINDS
        assert not row["superseded"] or row["kind"] == "interim"


def _check_timeline(log: SessionLog) -> None:
    model = TimelineModel(gap_threshold=0.7)
    model.extend(log)
    for channel in model.channels:
        words = [w for w in model.words if w.channel == channel]
        assert words == sorted(words, key=lambda w: w.start)
        gaps = [g for g in model.gaps if g.channel == channel]
        assert [(g.start, g.end) for g in gaps] == _expected_gaps(words, 0.7)
        for g in gaps:
            assert g.length > 0 and math.isclose(g.length, g.end - g.start)
            assert g.over_threshold == (g.length >= 0.7 - 1e-3)
        interim = [w for w in model.interim_words if w.channel == channel]
        assert interim == sorted(interim, key=lambda w: w.start)
    assert [w.start for w in model.words] == sorted(w.start for w in model.words)
    # duration: the latest time of anything drawn (Metadata and errors are not drawn)
    times = [0.0] + [w.end for w in model.words + model.interim_words]
    times += [t for w in model.windows for t in (w.end, w.at)]
    times += [t for m in model.speech_finals + model.utterance_ends + model.speech_starts for t in (m.time, m.at)]
    # … which may include interim words since replaced: the most of anything ever seen
    seen = [0.0] + [t for r in log.results() for t in (r.end, *(w.end for w in r.words))]
    seen += [e.at for e in log if isinstance(e.message, (Results, UtteranceEnd, SpeechStarted))]
    seen += [m.last_word_end for m in log.of_type(UtteranceEnd)] + [m.timestamp for m in log.of_type(SpeechStarted)]
    assert max(times) <= model.duration == max(seen)
    assert len(model.windows) == len(log.results())
    assert len(model.speech_finals) == sum(r.speech_final for r in log.results())
    assert len(model.utterance_ends) == len(log.of_type(UtteranceEnd))
    assert len(model.speech_starts) == len(log.of_type(SpeechStarted))
    for seconds in (0.5, 3.0):
        view = model.window(seconds)
        since = model.duration - seconds
        assert view.words == [w for w in model.words if w.end >= since] or since <= 0
        assert all(g in model.gaps for g in view.gaps)
        assert [g for g in model.gaps if g.end >= since] == view.gaps or since <= 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(realistic_streams(), st.integers(1, 40))
def test_realistic_streams(log, max_rows):
    _check_table(log, max_rows)
    _check_timeline(log)
    model = TimelineModel()
    model.extend(log)
    # protocol-shaped streams: the finalized words are exactly the finals' words
    for channel in model.channels:
        expected = [
            (w.word, w.start, w.end)
            for r in log.finals()
            if r.channel_index[0] == channel
            for w in sorted(r.words, key=lambda w: w.start)
        ]
        assert [(w.word, w.start, w.end) for w in model.words if w.channel == channel] == expected


@settings(max_examples=200, deadline=None)
@given(arbitrary_streams(), st.integers(1, 30))
def test_arbitrary_streams_keep_the_invariants(log, max_rows):
    _check_table(log, max_rows)
    _check_timeline(log)


def test_gap_type_is_plain_data():
    gap = Gap(1.0, 2.0, 1.0, True)
    assert gap._asdict() == {"start": 1.0, "end": 2.0, "length": 1.0, "over_threshold": True, "channel": 0}


# -- plot rules: label fitting, the strategy colour registry ----------------------------------


def test_fit_labels_never_overlaps_within_a_row():
    from dgwidgets.widgets.viewmodels import fit_labels, text_width

    items = [(i * 0.1, i * 0.1 + 0.08, f"word{i}") for i in range(200)]
    for rows in (1, 2, 3):
        labels = fit_labels(items, px_per_second=150, rows=rows)
        assert 0 < len(labels) < len(items)
        for row in range(rows):
            boxes = sorted(
                (lab.x * 150 - text_width(lab.text, 10) / 2, lab.x * 150 + text_width(lab.text, 10) / 2)
                for lab in labels
                if lab.row == row
            )
            assert all(a[1] <= b[0] for a, b in zip(boxes, boxes[1:]))
    assert len(fit_labels(items, 150, rows=3)) > len(fit_labels(items, 150, rows=1)), "more rows, more labels"
    assert len(fit_labels(items, 10_000)) == len(items), "at a large scale every label fits"


def test_fit_labels_keeps_the_ones_that_must_show():
    from dgwidgets.widgets.viewmodels import fit_labels

    items = [(i * 0.01, i * 0.01 + 0.005, "300 ms") for i in range(50)]
    must = [7, 8, 30]
    labels = fit_labels(items, px_per_second=100, rows=2, must=must)
    assert {lab.index for lab in labels} >= set(must)
    with pytest.raises(ValueError, match="px_per_second"):
        fit_labels(items, 0)
    with pytest.raises(ValueError, match="rows"):
        fit_labels(items, 1, rows=0)


def test_gaps_that_matter_reads_endpointing_and_utterance_end():
    from dgwidgets.widgets.viewmodels import Gap, gaps_that_matter

    gaps = [Gap(0, 0.01, 0.01, False), Gap(1, 1.3, 0.3, False), Gap(2, 3.0, 1.0, False), Gap(4, 6, 2.0, True)]
    assert gaps_that_matter(gaps, 300, 1000) == [1, 2, 3]
    assert gaps_that_matter(gaps, False, 1000) == [2, 3]
    assert gaps_that_matter(gaps, None, None) == [3], "over the plot's threshold always counts"
    assert gaps_that_matter(gaps, 10, None) == [0, 1, 2, 3]


def test_the_strategy_registry_covers_every_strategy_in_a_fixed_order():
    from dgwidgets.utterances import FLUX_STRATEGIES, STRATEGIES
    from dgwidgets.widgets.viewmodels import STRATEGY_COLORS, strategy_color, strategy_order

    shipped = [*STRATEGIES, *FLUX_STRATEGIES]
    assert list(STRATEGY_COLORS) == shipped, "one colour per shipped strategy (Flux's last), in the docs' order"
    assert len(set(STRATEGY_COLORS.values())) == len(STRATEGY_COLORS), "no two strategies share a colour"
    assert strategy_order(reversed(shipped)) == shipped
    assert strategy_order(["b_custom", "low_latency", "a_custom"]) == ["low_latency", "b_custom", "a_custom"]
    assert strategy_color("b_custom") == strategy_color("b_custom") and strategy_color("b_custom").startswith("#")


def test_confidence_colors_are_strings():
    from dgwidgets.widgets.viewmodels import confidence_color

    assert confidence_color(0.5).startswith("rgb(")
    assert confidence_color(float("nan")) == confidence_color(0.0)
    assert confidence_color(-1) == confidence_color(0.0)
