"""ResultsTable on the kernel side (no browser): synced rows, export text, bounded rows, browser requests."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from dgwidgets.examples import EXAMPLES, example
from dgwidgets.protocol import Alternative, LiveOptions, Results, SpeechStarted, UtteranceEnd, Word
from dgwidgets.replay import replay
from dgwidgets.session import SessionLog
from dgwidgets.widgets.table import _STATIC as STATIC
from dgwidgets.widgets.table import ResultsTable
from dgwidgets.widgets.viewmodels import TableModel


def _long_session(segments: int = 60) -> SessionLog:
    """Segments of two interims and a final each, with an UtteranceEnd now and then."""
    log = SessionLog(options=LiveOptions(interim_results=True, utterance_end_ms=1000), source="generated:long")
    t = 0.0
    for i in range(segments):
        start = t
        for k in (1, 2):
            words = (Word(f"w{i}", start + 0.1, start + 0.4 * k, 0.9),)
            log.append(Results(start, 0.5 * k, False, False, (Alternative(f"w{i}", 0.9, words),)), start + 0.5 * k)
        words = (Word(f"w{i}", start + 0.1, start + 0.9, 0.95),)
        log.append(Results(start, 1.2, True, i % 2 == 0, (Alternative(f"w{i}", 0.95, words),)), start + 1.25)
        if i % 5 == 0:
            log.append(UtteranceEnd(start + 0.9), start + 1.3)
        t = round(start + 1.2, 3)  # JSONL keeps microseconds: exact round trips need round times
    return log


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_replayed_into_the_widget(name):
    log = example(name)
    table = ResultsTable()
    for entry in log:
        table.append(entry)
    reference = TableModel()
    reference.extend(log)
    assert table.rows == reference.rows
    assert table.total == len(log)
    assert table.to_text() == log.to_text()
    assert SessionLog.from_jsonl(table.to_jsonl()).entries == log.entries


def test_credit_card_rows_and_text_byte_exact():
    log = example("credit-card")
    table = ResultsTable()
    table.extend(log)
    assert table.total == 11 and len(table.rows) == 11
    assert [r["kind"] for r in table.rows].count("interim") == 7
    assert [r["n"] for r in table.rows if r["superseded"]] == [1, 2, 3, 4, 6, 8, 10]
    assert [r["n"] for r in table.rows if r["kind"] == "speech_final"] == [7, 9, 11]
    assert table.to_text() == log.to_text()
    assert table.to_text().encode() == "\n".join(log.table_lines()).encode()
    assert table.to_text().splitlines()[3] == (
        '4 0.000-4.300 ["is_final": false] ["speech_final": false] yeah so my credit card number is two two two two three'
    )


def test_testing_123_event_rows():
    table = ResultsTable()
    table.extend(example("testing-123"))
    kinds = [(r["kind"], r["n"]) for r in table.rows]
    assert kinds[0] == ("SpeechStarted", None) and kinds[-1] == ("UtteranceEnd", None)
    assert table.to_text().splitlines()[-1] == "-- UtteranceEnd last_word_end=2.395 (received at 3.400)"


def test_rows_are_bounded_but_export_keeps_the_whole_session():
    log = _long_session(60)
    table = ResultsTable(max_rows=5)
    for entry in log:
        table.append(entry)
    assert len(log) == 60 * 3 + 12
    assert table.total == len(log)
    assert len(table.rows) == 5
    assert table.to_text() == log.to_text()
    assert len(table.to_text().splitlines()) == len(log)
    # the visible rows are the last five, numbered as in the full text
    last_numbers = [r["n"] for r in table.rows if r["n"] is not None]
    assert last_numbers[-1] == len(log.results())
    assert table.model.doc_text().splitlines() == log.table_lines()[-5:]
    assert table.max_rows == 5


def test_every_append_syncs_new_row_dicts():
    # rows are marked superseded in place; the trait must still see a change and sync it
    table = ResultsTable()
    changes = []
    table.observe(lambda change: changes.append(change["new"]), names="rows")
    log = example("credit-card")
    for entry in log:
        table.append(entry)
    assert len(changes) == len(log)
    assert changes[1][0]["superseded"] and not changes[0][0]["superseded"]


def test_load_shows_a_log_and_exports_from_it_without_writing_to_it():
    log = example("utterance-end")
    table = ResultsTable(log=log)
    assert table.session_log is log
    assert table.total == 5
    assert table.to_text() == log.to_text()
    table.append(log.entries[0])  # only the view changes; the log is the caller's
    assert len(log) == 5 and table.total == 6


def test_follow_shows_entries_appended_to_the_log_until_cleared():
    log = SessionLog()
    table = ResultsTable()
    table.follow(log)
    for entry in example("credit-card"):
        log.append(entry.message, entry.at)
    assert table.total == 11
    assert table.to_text() == log.to_text()
    table.clear()
    log.append(UtteranceEnd(8.0), 9.0)
    assert table.total == 0 and table.rows == []
    assert table.to_text() == ""


async def test_replay_drives_the_table_like_a_live_stream():
    table = ResultsTable()
    await replay(example("credit-card"), table.append, speed=0)
    assert table.to_text() == example("credit-card").to_text()  # recorded at once
    await asyncio.sleep(0.1)  # the rows follow within 1/max_fps s
    assert table.total == 11 and len(table.rows) == 11
    table.close()


async def test_in_a_running_loop_row_updates_are_coalesced():
    table = ResultsTable(max_fps=20)
    syncs = []
    table.observe(lambda change: syncs.append(len(change["new"])), names="rows")
    log = _long_session(60)
    for entry in log:
        table.append(entry)
    assert syncs == []  # nothing inside the burst
    await asyncio.sleep(0.05)
    assert syncs == [len(log)]  # one sync with the latest rows
    table.append(log.entries[0])
    table.refresh()  # now, without waiting
    assert syncs[-1] == len(log) + 1
    table.close()


def test_clear_then_reuse_numbers_from_one():
    table = ResultsTable()
    table.extend(example("credit-card"))
    table.clear()
    assert (table.rows, table.total, table.to_text()) == ([], 0, "")
    table.extend(example("utterance-end"))
    assert table.rows[0]["n"] == 1
    assert table.to_text() == example("utterance-end").to_text()


def test_browser_requests_are_answered_with_the_whole_session(monkeypatch):
    log = _long_session(10)
    table = ResultsTable(max_rows=3, log=log)
    sent = []
    monkeypatch.setattr(table, "send", lambda content, buffers=None: sent.append(content))
    table._on_browser_message(table, {"type": "copy"}, [])
    table._on_browser_message(table, {"type": "export"}, [])
    table._on_browser_message(table, {"type": "nonsense"}, [])
    table._on_browser_message(table, "not a dict", [])
    assert [m["type"] for m in sent] == ["doc_text", "export"]
    assert sent[0]["text"] == log.to_text()
    assert sent[0]["lines"] == len(log)
    assert sent[1]["filename"] == "dgwidgets-generated-long.jsonl"
    assert SessionLog.from_jsonl(sent[1]["text"]).entries == log.entries
    header = json.loads(sent[1]["text"].splitlines()[0])
    assert header["source"] == "generated:long"


def test_export_filename_is_safe():
    table = ResultsTable(log=example("credit-card"))
    assert table.export_filename() == "dgwidgets-doc-credit-card.jsonl"
    table.clear()
    table.session_log.source = "../../etc/passwd x"
    assert re.fullmatch(r"dgwidgets-[A-Za-z0-9_.-]+\.jsonl", table.export_filename())
    assert "/" not in table.export_filename()


def test_widget_state_is_plain_json():
    table = ResultsTable(title="credit card")
    table.extend(example("credit-card"))
    state = table.get_state()
    json.dumps(state["rows"])
    assert state["total"] == 11 and state["title"] == "credit card"


def test_static_assets_name_the_css_classes_browser_tests_rely_on():
    js = (STATIC / "table.js").read_text()
    css = (STATIC / "table.css").read_text()
    assert "export default" in js
    for name in ("dg-results-table", "dg-row-final", "dg-row-speech-final", "dg-row-interim", "dg-row-superseded"):
        assert name in js and name in css
    assert "dg-row-event" in js
    assert "dataset.kind" in js and "dataset.n" in js
    assert "var(--jp-ui-font-color1" in css


def test_keyword_only_constructor():
    with pytest.raises(TypeError):
        ResultsTable(10)  # type: ignore[misc]


def test_from_finalize_and_multichannel_rows():
    log = SessionLog()
    log.append(SpeechStarted(0.2, channel=(1, 2)), 0.3)
    log.append(Results(0, 1, True, False, (Alternative("x", 0.9),), channel_index=(1, 2), from_finalize=True), 1.0)
    table = ResultsTable()
    table.extend(log)
    assert table.rows[1]["from_finalize"] and table.rows[1]["channel"] == 1
    assert table.rows[0]["channel"] == 1
    assert table.to_text() == log.to_text()
