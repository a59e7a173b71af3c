"""ResultsTable and WordTimeline on a Flux (`/v2/listen`) session, kernel side (no browser).

The recorded session is tests/data/flux_dictation_pauses.jsonl (see test_viewmodels_flux.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dgwidgets.examples import example
from dgwidgets.session import SessionLog
from dgwidgets.utterances import FluxEagerEndOfTurn, FluxEndOfTurn, SpeechFinal
from dgwidgets.widgets.table import ResultsTable
from dgwidgets.widgets.timeline import WordTimeline
from dgwidgets.widgets.viewmodels import TURN_MARKER_EVENTS, strategy_color, turn_event_color

RECORDED = Path(__file__).parent / "data" / "flux_dictation_pauses.jsonl"
STATIC = Path(__file__).parents[1] / "dgwidgets" / "widgets" / "static"


def _points(xs) -> list[float]:
    return [round(float(x), 6) for x in np.asarray(xs, dtype=float) if not math.isnan(x)]


def test_table_shows_turn_events_and_exports_the_flux_session():
    log = SessionLog.load(RECORDED)
    table = ResultsTable(log=log)
    assert table.api == "v2"
    events = [r["event"] for r in table.rows if r["n"] is not None and r["event"] != "Update"]
    assert events == [t.event for t in log.turns() if t.event != "Update"]
    assert table.to_text() == log.to_text()
    exported = SessionLog.from_jsonl(table.to_jsonl())
    assert exported.api == "v2" and [e.to_dict() for e in exported] == [e.to_dict() for e in log]
    json.dumps(table.get_state()["rows"])  # plain JSON for the browser


def test_a_table_fed_flux_entries_keeps_a_flux_log_of_its_own():
    log = SessionLog.load(RECORDED)
    table = ResultsTable()
    for entry in log:
        table.append(entry)
    assert table.session_log.api == "v2" and table.to_text() == log.to_text()
    table.clear()
    table.extend(example("credit-card"))
    assert table.api == "v1" and table.to_text() == example("credit-card").to_text()


def test_table_js_draws_the_v2_columns_and_row_classes():
    js = (STATIC / "table.js").read_text()
    for name in ("turn", "event", "end_of_turn_confidence", "trigger", "received at"):
        assert f'"{name}"' in js
    css = (STATIC / "table.css").read_text()
    for cls in ("dg-row-end-of-turn", "dg-row-start-of-turn", "dg-row-eager-end-of-turn", "dg-row-turn-resumed"):
        assert cls in js and cls in css


def test_timeline_draws_words_and_every_turn_event_in_the_legend():
    log = SessionLog.load(RECORDED)
    plot = WordTimeline()
    plot.load(log, {"flux_end_of_turn": FluxEndOfTurn().run(log), "flux_eager_end_of_turn": FluxEagerEndOfTurn().run(log)})
    words = [w.word for t in log.turns("EndOfTurn") for w in t.words]
    assert list(plot.trace("words").text) == words
    arrivals = {e: [x.at for x in log if getattr(x.message, "event", "") == e] for e in TURN_MARKER_EVENTS}
    for event in TURN_MARKER_EVENTS:
        trace = plot.trace(event)
        assert trace.name == event and trace.showlegend is not False
        assert trace.line.color == trace.marker.color == turn_event_color(event)
        # a big marker at the arrival, a small dot at the audio it judged
        ats = _points(trace.x)[0::2]
        assert ats == [round(a, 6) for a in arrivals[event]], event
        assert list(trace.marker.size[:3]) == ([13.0, 6.0, 0.0] if arrivals[event] else [])
    assert "EndOfTurn arrived at" in plot.trace("EndOfTurn").hovertext[0]
    assert "(trigger model)" in plot.trace("EndOfTurn").hovertext[0]
    # the server's EndOfTurn and the decision lane read from it have one colour
    lane = plot.strategy_trace("flux_end_of_turn")
    assert lane.line.color == strategy_color("flux_end_of_turn") == plot.trace("EndOfTurn").marker.color
    assert list(plot.figure.layout.yaxis.ticktext)[-2:] == ["flux_end_of_turn", "flux_eager<br>_end_of_turn"]
    # the v1 event traces stay empty (plotly leaves empty traces out of the legend)
    assert len(plot.trace("speech_final").x) == 0 and len(plot.trace("UtteranceEnd").x) == 0


def test_flux_decisions_sit_beside_speech_final_in_one_plot():
    v1 = example("credit-card")
    flux = SessionLog.load(RECORDED)
    plot = WordTimeline()
    plot.load(v1, {"speech_final": SpeechFinal().run(v1), "flux_end_of_turn": FluxEndOfTurn().run(flux)})
    assert list(plot.figure.layout.yaxis.ticktext)[-2:] == ["speech_final", "flux_end_of_turn"]
    assert len(_points(plot.strategy_trace("flux_end_of_turn").x)) == 2 * 4


def test_a_v1_session_draws_no_turn_events():
    plot = WordTimeline()
    plot.load(example("credit-card"))
    assert all(len(plot.trace(e).x) == 0 for e in TURN_MARKER_EVENTS)
