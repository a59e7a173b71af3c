"""Table and timeline view-models on Flux (`/v2/listen`) logs, and Flux's decisions as strategies.

On a session recorded from the local server (tests/data/flux_dictation_pauses.jsonl: the
dictation-pauses sample, eager_eot_threshold 0.4, streamed in real time) and on constructed
message lists for the events a recording may lack (TurnResumed, ForceEndTurn, Warnings).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dgwidgets.flux import FluxMessage, FluxOptions, TurnInfo, turn_decisions
from dgwidgets.protocol import Word
from dgwidgets.session import SessionLog
from dgwidgets.utterances import (
    FluxEagerEndOfTurn,
    FluxEndOfTurn,
    SpeechFinal,
    Utterance,
    make_strategy,
    strategies_for,
)
from dgwidgets.widgets.viewmodels import (
    TURN_EVENT_COLORS,
    TURN_MARKER_EVENTS,
    TURN_ROW_KINDS,
    TableModel,
    TimelineModel,
    strategy_color,
    strategy_order,
    turn_event_color,
)

RECORDED = Path(__file__).parent / "data" / "flux_dictation_pauses.jsonl"
V2_ROW_KEYS = {"turn", "event", "window", "text", "confidence", "trigger", "at", "n", "kind", "superseded", "updates"}


@pytest.fixture(scope="module")
def recorded() -> SessionLog:
    return SessionLog.load(RECORDED)


def _words(text: str, start: float) -> tuple[Word, ...]:
    return tuple(Word(w, round(start + 0.3 * i, 3), round(start + 0.3 * i + 0.25, 3), 0.9) for i, w in enumerate(text.split()))


def resumed_log() -> SessionLog:
    """One turn with an EagerEndOfTurn the speaker talks through (TurnResumed), then a manual end."""
    log = SessionLog(options=FluxOptions(eager_eot_threshold=0.5))
    items = [
        (0.0, FluxMessage({"type": "Connected", "request_id": "r", "sequence_id": 0})),
        (0.27, TurnInfo("Update", 0, 0.0, 0.25, "")),
        (0.52, TurnInfo("StartOfTurn", 0, 0.1, 0.5, "so", _words("so", 0.2))),
        (0.77, TurnInfo("Update", 0, 0.1, 0.75, "so I", _words("so I", 0.2))),
        (1.3, TurnInfo("EagerEndOfTurn", 0, 0.1, 1.25, "so I think", _words("so I think", 0.2), 0.52)),
        (2.05, TurnInfo("TurnResumed", 0, 0.1, 2.0, "so I think", _words("so I think", 0.2))),
        (2.27, TurnInfo("Update", 0, 0.1, 2.25, "so I think we", _words("so I think we", 0.2))),
        (2.6, TurnInfo("EndOfTurn", 0, 0.1, 2.5, "so I think we", _words("so I think we", 0.2), 0.3, "manual")),
        (2.61, FluxMessage({"type": "Warning", "code": "NO_ACTIVE_TURN", "description": "nothing said"})),
    ]
    for at, message in items:
        log.append(message, at)
    return log


# -------------------------------------------------------------------------------------------- table


def test_recorded_session_one_row_per_turn_event(recorded):
    model = TableModel()
    model.extend(recorded)
    assert model.api == "v2" and model.total == len(recorded)
    turn_rows = [r for r in model.rows if r["event"] in TURN_MARKER_EVENTS]
    expected = [t for t in recorded.turns() if t.event != "Update"]
    assert [(r["turn"], r["event"], r["text"]) for r in turn_rows] == [
        (t.turn_index, t.event, t.transcript) for t in expected
    ]
    for row, entry in zip(turn_rows, [e for e in recorded if getattr(e.message, "event", "Update") != "Update"]):
        info = entry.message
        assert V2_ROW_KEYS <= set(row)
        assert row["window"] == f"{info.audio_window_start:.3f}-{info.audio_window_end:.3f}"
        assert row["confidence"] == info.end_of_turn_confidence and row["at"] == entry.at
        assert row["trigger"] == (info.trigger or "")
        assert row["kind"] in TURN_ROW_KINDS
    ends = [r for r in turn_rows if r["event"] == "EndOfTurn"]
    assert [r["trigger"] for r in ends] == ["model"] * 4 and all(r["is_final"] for r in ends)
    # the table's doc text is the session's text
    assert model.doc_text() == recorded.to_text()


def test_updates_are_compacted_into_one_row_per_run(recorded):
    latest, every, none = TableModel(), TableModel(updates="all"), TableModel(updates="none")
    for model in (latest, every, none):
        model.extend(recorded)
    updates = len(recorded.turns("Update"))
    assert sum(r["event"] == "Update" for r in every.rows) == updates
    assert not any(r["event"] == "Update" for r in none.rows)
    runs = [r for r in latest.rows if r["event"] == "Update"]
    assert 1 <= len(runs) < updates and sum(r["updates"] for r in runs) == updates
    # each run's row shows its latest Update, and is superseded once a turn event follows it
    assert all(r["superseded"] for r in runs[:-1])
    assert every.doc_text() == recorded.to_text(updates=True)
    assert none.doc_text() == latest.doc_text() == recorded.to_text()


def test_constructed_events_rows():
    model = TableModel()
    model.extend(resumed_log())
    rows = model.rows
    assert [r["kind"] for r in rows] == [
        "Connected",
        "Update",
        "StartOfTurn",
        "Update",
        "EagerEndOfTurn",
        "TurnResumed",
        "Update",
        "EndOfTurn",
        "Warning",
    ]
    assert rows[0]["n"] is None and rows[0]["text"] == "Connected request_id=r"
    assert [r["n"] for r in rows[1:8]] == [1, 2, 3, 4, 5, 6, 7], "numbered by TurnInfo message"
    assert rows[7]["trigger"] == "manual" and rows[7]["confidence"] == 0.3
    assert rows[4]["confidence"] == 0.52 and rows[4]["trigger"] == ""
    assert rows[8]["text"] == "Warning NO_ACTIVE_TURN: nothing said"
    assert [r["superseded"] for r in rows if r["kind"] == "Update"] == [True, True, True]


def test_max_rows_and_clear_apply_to_flux_tables(recorded):
    model = TableModel(max_rows=3, updates="all")
    model.extend(recorded)
    assert len(model) == 3 and model.rows[-1]["at"] == recorded.entries[-1].at
    model.clear()
    assert model.api == "v1" and model.rows == [] and model.total == 0
    with pytest.raises(ValueError, match="updates must be one of"):
        TableModel(updates="some")


# ----------------------------------------------------------------------------------------- timeline


def test_recorded_session_words_windows_and_markers(recorded):
    model = TimelineModel()
    model.extend(recorded)
    ends = recorded.turns("EndOfTurn")
    assert [w.word for w in model.words] == [w.word for t in ends for w in t.words]
    assert model.interim_words == [], "every turn ended: no open turn's words left"
    events = [t for t in recorded.turns() if t.event in TURN_MARKER_EVENTS]
    arrivals = [e.at for e in recorded if getattr(e.message, "event", "Update") in TURN_MARKER_EVENTS]
    assert [(m.event, m.turn, m.time, m.at) for m in model.turn_events] == [
        (t.event, t.turn_index, t.audio_window_end, at) for t, at in zip(events, arrivals)
    ]
    assert [(w.start, w.end, w.is_final) for w in model.windows] == [
        (t.audio_window_start, t.audio_window_end, t.event == "EndOfTurn") for t in events
    ]
    assert model.duration == max(max(arrivals), recorded.entries[-1].at)
    # gaps between the turns' words: the dictation's pauses
    assert any(g.length > 0.3 for g in model.gaps)
    # nothing of the v1 event lanes
    assert model.speech_finals == model.utterance_ends == model.speech_starts == []


def test_open_turn_words_are_the_interim_lane_until_the_end_of_turn():
    log = resumed_log()
    model = TimelineModel()
    for entry in log.entries[:7]:  # up to the Update after TurnResumed
        model.add(entry)
    assert [w.word for w in model.interim_words] == ["so", "I", "think", "we"] and model.words == []
    assert [m.event for m in model.turn_events] == ["StartOfTurn", "EagerEndOfTurn", "TurnResumed"]
    before = dict(model.revision)
    model.add(log.entries[7])
    assert [w.word for w in model.words] == ["so", "I", "think", "we"] and model.interim_words == []
    assert model.turn_events[-1] == ("EndOfTurn", 2.5, 2.6, 0, "so I think we", "manual", 0.3)
    assert all(model.revision[k] > before[k] for k in ("words", "interim", "windows", "events"))


def test_window_keeps_recent_turn_events(recorded):
    model = TimelineModel()
    model.extend(recorded)
    view = model.window(2.0)
    assert view.turn_events and all(max(m.time, m.at) >= view.since for m in view.turn_events)
    assert len(view.turn_events) < len(model.turn_events)
    assert model.snapshot().turn_events == model.turn_events


# ------------------------------------------------------------------------ Flux decisions, colours


def test_flux_strategies_decide_at_arrival_beside_the_v1_ones(recorded):
    ends = FluxEndOfTurn().run(recorded)
    eager = FluxEagerEndOfTurn().run(recorded)
    arrivals = [e.at for e in recorded if getattr(e.message, "event", "") == "EndOfTurn"]
    assert [u.decided_at for u in ends] == arrivals
    assert [u.trigger for u in ends] == ["EndOfTurn:model"] * 4
    assert [u.text for u in ends] == [t.transcript for t in recorded.turns("EndOfTurn")]
    assert all(u.provisional for u in eager) and not any(u.provisional for u in ends)
    assert all(u.latency > 0 for u in ends), "decided after the last word, on the stream clock"
    # audio-time decisions (turn_decisions) read the same entries, timed by audio_window_end
    assert [u.decided_at for u in turn_decisions(recorded)] == [t.audio_window_end for t in recorded.turns("EndOfTurn")]
    # a v1 rule reads nothing in a Flux log, and a Flux rule nothing in a v1 one
    assert SpeechFinal().run(recorded) == []
    from dgwidgets.examples import example

    assert FluxEndOfTurn().run(example("credit-card")) == []
    assert strategies_for("v2") == ["flux_end_of_turn", "flux_eager_end_of_turn"]
    assert make_strategy("flux-end-of-turn").name == "flux_end_of_turn"


def test_flux_lanes_and_markers_share_the_fixed_colours():
    model = TimelineModel()
    log = resumed_log()
    model.extend(log)
    model.add_utterance("flux_end_of_turn", FluxEndOfTurn().run(log)[0])
    model.add_utterance("speech_final", Utterance("so I think", 0.2, 1.05, "speech_final", 1.4))
    assert strategy_order(model.strategies) == ["speech_final", "flux_end_of_turn"]
    assert turn_event_color("EndOfTurn") == strategy_color("flux_end_of_turn")
    assert turn_event_color("EagerEndOfTurn") == strategy_color("flux_eager_end_of_turn")
    assert set(TURN_EVENT_COLORS) == set(TURN_MARKER_EVENTS)
    assert len(set(TURN_EVENT_COLORS.values())) == 4
