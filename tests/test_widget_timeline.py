"""WordTimeline on the kernel side (no browser): trace data, coalesced redraws, one playhead, constant trace count."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from dgwidgets.examples import EXAMPLES, example
from dgwidgets.protocol import Alternative, Results, Word
from dgwidgets.replay import replay
from dgwidgets.session import Received, SessionLog
from dgwidgets.utterances import SilenceInterval, SpeechFinal
from dgwidgets.widgets.timeline import LANES, WordTimeline
from dgwidgets.widgets.viewmodels import confidence_color


def _runs(xs) -> list[list[float]]:
    """Split a NaN-separated line trace into its point runs."""
    runs, run = [], []
    for x in np.asarray(xs, dtype=float):
        if math.isnan(x):
            runs.append(run)
            run = []
        else:
            run.append(round(float(x), 6))
    if run:
        runs.append(run)
    return runs


def _loaded(name: str, **kwargs) -> WordTimeline:
    plot = WordTimeline(**kwargs)
    plot.load(example(name))
    return plot


def _session(seconds: int) -> SessionLog:
    """A final of four words every second, an interim before each."""
    log = SessionLog()
    for i in range(seconds):
        words = tuple(Word(f"w{i}{k}", i + 0.2 * k, i + 0.2 * k + 0.15, 0.5 + 0.1 * k) for k in range(4))
        log.append(Results(i, 0.5, False, False, (Alternative("", 0.9, words[:2]),)), i + 0.5)
        log.append(Results(i, 1.0, True, i % 3 == 0, (Alternative("", 0.9, words),)), i + 1.0)
    return log


@pytest.fixture
def messages(monkeypatch):
    """Count the update messages a figure sends to the browser."""

    def watch(plot: WordTimeline) -> list[dict]:
        seen: list[dict] = []
        for name in ("_py2js_update", "_py2js_restyle", "_py2js_relayout", "_py2js_addTraces"):
            plot.figure.observe(
                lambda change, name=name: change["new"] and seen.append({name: change["new"]}), names=name
            )
        return seen

    return watch


def test_credit_card_traces_hold_the_session():
    log = example("credit-card")
    plot = WordTimeline()
    plot.load(log, {"speech_final": SpeechFinal().run(log)})
    words = plot.trace("words")
    expected = [w for r in log.finals() for w in r.words]
    assert len(words.x) == 23
    base = np.asarray(words.base, dtype=float)
    np.testing.assert_allclose(base, [w.start for w in expected])
    np.testing.assert_allclose(base + np.asarray(words.x), [w.end for w in expected])
    assert list(words.text) == [w.word for w in expected]
    assert list(words.marker.color) == [confidence_color(0.97)] * 23  # shade = confidence, as colour strings
    assert set(np.asarray(words.y).tolist()) == {0.0}
    # 11 windows: 4 final brackets (tiling) and 7 interim brackets
    finals = _runs(plot.trace("final windows").x)
    interims = _runs(plot.trace("interim windows").x)
    assert len(finals) + len(interims) == 11
    assert [(run[0], run[-1]) for run in finals] == [(0.0, 3.26), (3.26, 5.5), (5.5, 6.86), (6.86, 8.09)]
    assert [run[-1] for run in interims[:4]] == [1.1, 2.2, 3.2, 4.3]
    # growing interims of one segment are drawn on rising rows
    ys = [run[1] for run in _runs(plot.trace("interim windows").y)]
    assert ys[0] < ys[1] < ys[2] < ys[3]
    assert plot.trace("speech_final").x.tolist() == [5.5, 6.86, 8.09]
    # 22 gaps, none past 1 s
    assert len(_runs(plot.trace("gaps").x)) == 22
    assert _runs(plot.trace(plot._over_name).x) == []
    assert len(plot.trace("gap length").text) == 22 and "300 ms" in plot.trace("gap length").text
    # the strategy's lane: a line from the last word's end to the decision
    lane = plot.strategy_trace("speech_final")
    assert _runs(lane.x) == [[5.24, 5.5], [6.74, 6.86], [8.06, 8.09]]
    assert list(plot.figure.layout.yaxis.ticktext) == [*LANES, "speech_final"]
    assert plot.trace("interim words").x.size == 0


def test_utterance_end_marker_and_its_arrival():
    plot = _loaded("utterance-end")
    assert _runs(plot.trace("UtteranceEnd").x) == [[1.2, 2.2]]
    assert list(plot.trace("UtteranceEnd").hovertext[:2]) == ["last_word_end=1.200 s", "arrived at 2.200 s"]
    assert list(plot.trace("interim words").text) == ["How", "are", "you?"]
    assert plot.trace("speech_final").x.tolist() == [2.0]


def test_testing_123_speech_started():
    plot = _loaded("testing-123")
    assert _runs(plot.trace("SpeechStarted").x) == [[1.0, 1.02]]
    assert _runs(plot.trace("UtteranceEnd").x) == [[2.395, 3.4]]
    assert list(plot.trace("gap length").text) == ["325 ms"]


def test_gap_over_threshold_is_its_own_trace():
    plot = _loaded("voice-agent-caveat", gap_threshold=0.5)
    assert _runs(plot.trace("gaps ≥ 500 ms").x) == [[1.2, 1.9]]
    assert len(_runs(plot.trace("gaps").x)) == 4


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_draws_with_the_same_traces(name):
    plot = _loaded(name)
    assert len(plot.figure.data) == 17  # 13 for /v1/listen, 4 for Flux turn events (empty here)
    assert len(plot.figure.layout.shapes) == 1
    assert plot.redraws == 1


def test_strategies_get_a_lane_each():
    log = example("utterance-end")
    plot = WordTimeline()
    plot.load(log, {"speech_final": SpeechFinal().run(log), "silence_interval": SilenceInterval(1.0).run(log)})
    assert list(plot.figure.layout.yaxis.ticktext)[-2:] == ["speech_final", "silence_interval"]
    silence = plot.strategy_trace("silence_interval")
    assert _runs(silence.x)[0] == [1.2, 2.0]
    assert silence.y[0] == -6.0  # the second strategy lane, below the five fixed lanes
    # a tick at the last word's end, a marker at the decision: filled, or open when provisional
    # ("How are you?" was only interim when the stream ended)
    assert list(silence.marker.symbol) == ["line-ns-open", "circle", "circle"] + [
        "line-ns-open",
        "circle-open",
        "circle",
    ]
    assert list(silence.marker.size) == [9.0, 12.0, 0.0] * 2
    assert "silence_interval at 2.000 s (+800 ms)" in silence.hovertext[1]


def test_add_utterance_accepts_a_strategy_object():
    log = example("credit-card")
    plot = WordTimeline()
    plot.extend(log)
    strategy = SpeechFinal()
    for utterance in strategy.run(log):
        plot.add_utterance(strategy, utterance)
    plot.refresh()
    assert len(_runs(plot.strategy_trace("speech_final").x)) == 3


def test_without_a_running_loop_append_only_records():
    plot = WordTimeline()
    for entry in example("credit-card"):
        plot.append(entry)  # must not fail, must not draw
    assert plot.redraws == 0
    assert plot.trace("words").x is None or len(plot.trace("words").x) == 0
    plot.refresh()
    assert plot.redraws == 1 and len(plot.trace("words").x) == 23


async def test_appends_in_a_running_loop_are_coalesced():
    plot = WordTimeline(max_fps=10)
    log = _session(100)
    for entry in log.entries[:100]:
        plot.append(entry)
    await asyncio.sleep(0.3)
    assert 1 <= plot.redraws <= 3
    assert len(plot.trace("words").x) == 50 * 4  # the latest state was drawn
    plot.close()


async def test_a_steady_stream_is_drawn_at_most_max_fps():
    plot = WordTimeline(max_fps=10)
    log = _session(30)
    started = asyncio.get_running_loop().time()
    for entry in log:  # 60 messages over ~0.6 s, every 10 ms
        plot.append(entry)
        await asyncio.sleep(0.01)
    elapsed = asyncio.get_running_loop().time() - started
    await asyncio.sleep(0.15)
    assert plot.redraws <= elapsed * 10 + 2
    assert plot.redraws >= 3  # and it keeps drawing while messages come
    assert len(plot.trace("words").x) == 30 * 4
    plot.close()


async def test_replay_in_real_time_shape_updates_the_plot():
    plot = WordTimeline()
    await replay(example("utterance-end"), plot.append, speed=20)
    await asyncio.sleep(0.15)
    assert _runs(plot.trace("UtteranceEnd").x) == [[1.2, 2.2]]
    plot.close()


async def test_close_cancels_a_pending_redraw():
    plot = WordTimeline()
    plot.append(example("credit-card").entries[0])
    plot.close()
    await asyncio.sleep(0.05)
    assert plot.redraws == 0


def test_each_redraw_is_one_message(messages):
    plot = WordTimeline()
    plot.refresh()
    seen = messages(plot)
    plot.extend(example("credit-card"))
    plot.set_playhead(3.0)
    plot.refresh()
    assert len(seen) == 1 and "_py2js_update" in seen[0]


def test_only_changed_traces_are_resent(messages):
    log = _session(20)
    plot = WordTimeline()
    plot.load(log)
    seen = messages(plot)
    words = (Word("next", 20.1, 20.4, 0.9),)
    plot.append(Received(20.5, Results(20, 0.5, False, False, (Alternative("next", 0.9, words),))))
    plot.refresh()
    assert len(seen) == 1
    update = seen[0]["_py2js_update"]
    sent = set(update["style_traces"])
    names = {plot.figure.data[i].name for i in sent}
    assert names == {"interim words", "interim labels", "interim windows", "final windows"}
    assert "words" not in names and "word labels" not in names and "gaps" not in names


def test_playhead_is_one_moving_shape():
    plot = _loaded("credit-card")
    assert plot.figure.layout.shapes[0].visible is False
    for t in np.linspace(0, 8, 50):
        plot.set_playhead(float(t))
        plot.refresh()
    shapes = plot.figure.layout.shapes
    assert len(shapes) == 1
    assert shapes[0].x0 == shapes[0].x1 == 8.0 and shapes[0].visible
    plot.set_playhead(None)
    plot.refresh()
    assert plot.figure.layout.shapes[0].visible is False


def test_trace_count_is_constant_as_data_grows():
    plot = WordTimeline()
    plot.load(_session(2))
    before = (len(plot.figure.data), len(plot.figure.layout.shapes))
    plot.load(_session(300))
    assert (len(plot.figure.data), len(plot.figure.layout.shapes)) == before
    assert len(plot.trace("words").x) == 1200


def test_window_seconds_draws_only_the_last_seconds_and_follows():
    plot = WordTimeline(window_seconds=10)
    plot.load(_session(100))
    base = np.asarray(plot.trace("words").base, dtype=float)
    assert base.min() >= 89 and len(base) == 40
    assert tuple(plot.figure.layout.xaxis.range) == (90.0, 100.0)
    # and the full session is still in the model
    assert len(plot.model.words) == 400


def test_zoom_survives_updates_but_not_a_new_session():
    plot = _loaded("credit-card")
    revision = plot.figure.layout.uirevision
    plot.figure.layout.xaxis.range = [1, 2]  # as a user zoom would set it
    plot.extend(_session(3))
    plot.refresh()
    assert plot.figure.layout.uirevision == revision
    assert tuple(plot.figure.layout.xaxis.range) == (1, 2)
    plot.load(example("utterance-end"))
    assert plot.figure.layout.uirevision != revision
    assert plot.figure.layout.xaxis.autorange is True


def test_clear_empties_every_trace():
    log = example("credit-card")
    plot = WordTimeline()
    plot.load(log, {"speech_final": SpeechFinal().run(log)})
    plot.set_playhead(2.0)
    plot.clear()
    plot.refresh()
    for trace in plot.figure.data:
        if trace.name == "playhead (audio sent)":
            assert list(trace.x) == [None], "the playhead's legend entry never draws a point"
            continue
        assert trace.x is None or len(trace.x) == 0, trace.name
    assert plot.figure.layout.shapes[0].visible is False


def test_follow_a_log():
    log = SessionLog()
    plot = WordTimeline()
    plot.follow(log)
    for entry in example("testing-123"):
        log.append(entry.message, entry.at)
    plot.refresh()
    assert _runs(plot.trace("UtteranceEnd").x) == [[2.395, 3.4]]
    plot.close()
    log.append(entry.message, 5.0)  # no longer followed: nothing fails


def test_widget_shape_and_arguments():
    plot = WordTimeline()
    assert isinstance(plot.figure, go.FigureWidget)
    assert plot.children == (plot.figure,)
    assert plot.figure.layout.yaxis.fixedrange is True
    with pytest.raises(TypeError):
        WordTimeline(1.0)  # type: ignore[misc]
    with pytest.raises(ValueError):
        WordTimeline(max_fps=0)
    with pytest.raises(ValueError):
        WordTimeline(window_seconds=0)


def test_a_windowed_plot_moves_its_data_edge_in_steps(messages):
    plot = WordTimeline(window_seconds=10)
    plot.load(_session(100))
    seen = messages(plot)
    # an interim 0.5 s later: the x range follows, the finalized words (same step) are not resent
    words = (Word("next", 100.1, 100.4, 0.9),)
    plot.append(Received(100.5, Results(100, 0.5, False, False, (Alternative("next", 0.9, words),))))
    plot.refresh()
    update = seen[-1]["_py2js_update"]
    assert "words" not in {plot.figure.data[i].name for i in update["style_traces"]}
    assert tuple(plot.figure.layout.xaxis.range) == (90.5, 100.5)


# -- plot rules a student can read at a glance ------------------------------------------------


def _label_boxes(xs, texts, px_per_second, font=10.0):
    from dgwidgets.widgets.viewmodels import text_width

    return [
        (x * px_per_second - text_width(t, font) / 2, x * px_per_second + text_width(t, font) / 2)
        for x, t in zip(xs, texts)
    ]


def test_word_labels_are_horizontal_and_never_overlap_in_a_row():
    plot = WordTimeline(width_hint=300)  # a narrow plot: not every word fits
    log = example("credit-card")
    plot.load(log)
    labels = plot.trace("word labels")
    assert plot.trace("words").textposition == "none", "no rotated in-bar text"
    assert 0 < len(labels.text) < 23, "some labels fit, the rest are left to the hover"
    assert "%{text}" in plot.trace("words").hovertemplate, "every word shows on hover"
    scale = plot._px_per_second(plot._view())
    rows: dict[float, list[tuple[float, float]]] = {}
    for box, y in zip(_label_boxes(labels.x, labels.text, scale), labels.y):
        rows.setdefault(round(float(y), 3), []).append(box)
    for boxes in rows.values():
        boxes.sort()
        assert all(a[1] <= b[0] for a, b in zip(boxes, boxes[1:])), boxes
    # a wide plot labels every word
    wide = WordTimeline(width_hint=4000)
    wide.load(log)
    assert sorted(wide.trace("word labels").text) == sorted(w.word for r in log.finals() for w in r.words)


def test_a_zoom_refits_the_labels():
    plot = WordTimeline(width_hint=300)
    plot.load(example("credit-card"))
    before = len(plot.trace("word labels").text)
    plot.figure.layout.xaxis.update(range=[0, 2], autorange=False)  # as a user zoom sets it
    plot.refresh()
    assert len(plot.trace("word labels").text) > 0
    shown = set(plot.trace("word labels").text)
    assert {"yeah", "so", "my", "credit", "card"} <= shown, shown
    assert before < 23


def test_gap_labels_only_where_they_fit_but_always_for_gaps_that_matter():
    log = _session(40)  # 40 s of 4-word finals: 0.05 s gaps inside, 0.25 s between finals
    plot = WordTimeline(width_hint=600)
    plot.load(log)
    texts = list(plot.trace("gap length").text)
    assert 0 < len(texts) < len(plot.model.gaps), "crowded gap labels are dropped, not overlapped"
    assert texts.count("250 ms") < 39
    plot.set_thresholds(endpointing=200, utterance_end_ms=None)
    plot.refresh()
    texts = list(plot.trace("gap length").text)
    assert texts.count("250 ms") == 39, "every gap >= endpointing is labelled"
    plot.set_thresholds(endpointing=False, utterance_end_ms=1000)
    plot.refresh()
    assert list(plot.trace("gap length").text).count("250 ms") < 39


def test_each_strategy_has_one_colour_and_lane_order_in_every_plot():
    from dgwidgets.utterances import SpeechFinalOrUtteranceEnd
    from dgwidgets.widgets.viewmodels import STRATEGY_COLORS

    log = example("utterance-end")
    runs = {
        "silence_interval": SilenceInterval(1.0).run(log),
        "speech_final": SpeechFinal().run(log),
        "speech_final_or_utterance_end": SpeechFinalOrUtteranceEnd().run(log),
    }
    one, other = WordTimeline(), WordTimeline()
    one.load(log, runs)
    other.load(log, dict(reversed(list(runs.items()))))  # decisions fed in another order
    order = ["speech_final", "speech_final_or_utterance_end", "silence_interval"]
    for plot in (one, other):
        assert [t.replace("<br>", "") for t in plot.figure.layout.yaxis.ticktext][len(LANES) :] == order
        for index, name in enumerate(order):
            trace = plot.strategy_trace(name)
            assert trace.line.color == trace.marker.color == STRATEGY_COLORS[name]
            assert set(np.asarray(trace.y, dtype=float)[~np.isnan(np.asarray(trace.y, dtype=float))]) == {
                -float(len(LANES) + index)
            }
    ranks = {n: other.strategy_trace(n).legendrank for n in order}
    assert sorted(ranks, key=ranks.get) == order, "the legend lists strategies in lane order"


def test_every_mark_is_in_the_legend_and_no_colour_is_a_number():
    log = example("testing-123")
    plot = WordTimeline()
    plot.load(log, {"speech_final": SpeechFinal().run(log)})
    layout = plot.figure.layout
    in_legend = {t.name for t in plot.figure.data if t.showlegend is not False}
    for mark in ("words", "interim words", "interim windows", "final windows", "gaps", "speech_final",
                 "UtteranceEnd", "SpeechStarted", "playhead (audio sent)"):  # fmt: skip
        assert mark in in_legend, mark
    assert "speech_final" in plot._strategy_traces
    # the playhead line and its legend entry look the same
    playhead = plot.trace("playhead (audio sent)")
    assert playhead.line.color == layout.shapes[0].line.color and playhead.line.dash == layout.shapes[0].line.dash
    # the legend is under the plot, away from plotly's toolbar at the top right
    assert layout.legend.yanchor == "top" and layout.legend.y < 0
    # event markers big enough to see
    assert max(plot.trace("SpeechStarted").marker.size) >= 14
    # colours are strings everywhere: plotly.js warns "Invalid color specifier: number …" otherwise
    for trace in plot.figure.data:
        for color in (trace.marker.color if hasattr(trace, "marker") else None,):
            values = color if isinstance(color, (list, tuple, np.ndarray)) else [color]
            assert all(v is None or isinstance(v, str) for v in values), (trace.name, values[:3])


def test_a_fixed_width_is_the_figure_width_and_fits_the_labels():
    wide, narrow = WordTimeline(width=1200), WordTimeline(width=300)
    for plot in (wide, narrow):
        plot.load(example("credit-card"))
    assert narrow.figure.layout.width == 300
    assert narrow._px_per_second(narrow._view()) < wide._px_per_second(wide._view())
    assert set(np.asarray(wide.trace("word labels").y).tolist()) == {0.0}, "wide: every label on its bar"
    assert len(narrow.trace("word labels").text) < 23, "narrow: some words only on hover"
