"""SessionLog: the documentation's table text and JSONL files that survive crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgwidgets.examples import example
from dgwidgets.protocol import Alternative, LiveOptions, Results, SpeechStarted, UtteranceEnd
from dgwidgets.session import Received, SessionFileError, SessionLog, format_results_line


def _results(start, end, is_final, speech_final, text, channel=(0, 1)):
    return Results(
        start=start,
        duration=end - start,
        is_final=is_final,
        speech_final=speech_final,
        alternatives=(Alternative(text, 0.9),),
        channel_index=channel,
    )


def test_results_line_matches_doc_format():
    assert (
        format_results_line(7, _results(3.26, 5.5, True, True, "two two three three three three"))
        == '7 3.260-5.500 ["is_final": true ] ["speech_final": true ] two two three three three three'
    )
    assert (
        format_results_line(1, _results(0, 1.1, False, False, "yeah so"))
        == '1 0.000-1.100 ["is_final": false] ["speech_final": false] yeah so'
    )
    # an empty transcript leaves no trailing space
    assert format_results_line(2, _results(1, 2, False, False, "")).endswith('["speech_final": false]')


def test_events_are_marked_lines_and_numbering_counts_results_only():
    log = SessionLog()
    log.append(SpeechStarted(timestamp=0.42), at=0.5)
    log.append(_results(0, 1, False, False, "hello"), at=1.0)
    log.append(UtteranceEnd(last_word_end=0.9), at=2.0)
    log.append(_results(0, 2, True, True, "hello"), at=2.1)
    assert log.to_text().splitlines() == [
        "-- SpeechStarted timestamp=0.420 (received at 0.500)",
        '1 0.000-1.000 ["is_final": false] ["speech_final": false] hello',
        "-- UtteranceEnd last_word_end=0.900 (received at 2.000)",
        '2 0.000-2.000 ["is_final": true ] ["speech_final": true ] hello',
    ]
    assert len(log.to_text(events=False).splitlines()) == 2


def test_multichannel_rows_name_their_channel():
    log = SessionLog()
    log.append(_results(0, 1, True, False, "left", channel=(0, 2)), at=1)
    log.append(_results(0, 1, True, False, "right", channel=(1, 2)), at=1)
    assert log.to_text().splitlines()[1].startswith("2 [channel 1] 0.000-1.000")


def test_save_and_load_round_trip(tmp_path):
    log = example("testing-123")
    path = tmp_path / "s.jsonl"
    log.save(path)
    again = SessionLog.load(path)
    assert again.entries == log.entries
    assert again.options == log.options
    assert again.source == "doc:testing-123"
    assert again.to_text() == log.to_text()
    header = json.loads(path.read_text().splitlines()[0])
    assert header["dgwidgets_session"] == 1


def test_attach_file_appends_as_it_goes_and_survives_a_crash(tmp_path):
    path = tmp_path / "live.jsonl"
    log = SessionLog(options=LiveOptions(interim_results=True), source="sample:yes")
    log.append(_results(0, 1, False, False, "y"), at=1.0)
    log.attach_file(path)
    log.append(_results(0, 1.5, True, True, "yes"), at=1.6)
    # readable now, while the stream is still "running"
    assert [e.message.transcript for e in SessionLog.load(path)] == ["y", "yes"]
    # a crash mid-write leaves a partial last line: it is dropped, the rest kept
    with open(path, "a") as f:
        f.write('{"at": 2.0, "message": {"type": "Resu')
    recovered = SessionLog.load(path)
    assert len(recovered) == 2 and recovered.recovered_from_truncation
    with pytest.raises(SessionFileError, match="line 4: not valid JSON.*ends mid-line"):
        SessionLog.load(path, strict=True)
    log.close_file()


def test_subscribers_see_each_entry():
    log = SessionLog()
    seen: list[Received] = []
    unsubscribe = log.subscribe(seen.append)
    log.append(UtteranceEnd(last_word_end=1.0), at=2.0)
    unsubscribe()
    log.append(UtteranceEnd(last_word_end=3.0), at=4.0)
    assert [e.at for e in seen] == [2.0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty file"),
        ("RIFF....WAVEfmt garbage\n", "line 1: not a dgwidgets session"),
        ('{"hello": 1}\n', "line 1: not a dgwidgets session"),
        ('{"dgwidgets_session": 99}\n', "session format 99"),
        ('{"dgwidgets_session": 1, "options": "utterance_end_ms=5"}\n', "line 1: Invalid 'utterance_end_ms'"),
        ('{"dgwidgets_session": 1}\nnot json\n{"at": 1, "message": {}}\n', "line 2: not valid JSON"),
        ('{"dgwidgets_session": 1}\n{"message": {"type": "UtteranceEnd"}}\n', 'line 2: an entry needs "at"'),
        ('{"dgwidgets_session": 1}\n{"at": "soon", "message": {}}\n', 'line 2: "at" must be a number'),
        (
            '{"dgwidgets_session": 1}\n{"at": 1, "message": {"type": "UtteranceEnd", "channel": [0, 1]}}\n',
            "line 2: UtteranceEnd: missing field 'last_word_end'",
        ),
    ],
)
def test_bad_files_give_specific_errors(tmp_path, content, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(SessionFileError) as info:
        SessionLog.load(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(SessionFileError, match="no such file"):
        SessionLog.load(tmp_path / "nope.jsonl")
    binary = tmp_path / "audio.wav"
    binary.write_bytes(b"RIFF\xff\xfe\x00\x00WAVE")
    with pytest.raises(SessionFileError, match="not a text file"):
        SessionLog.load(binary)


def test_unknown_messages_survive_save_and_load(tmp_path):
    from dgwidgets.protocol import message_from_dict

    log = SessionLog()
    log.append(message_from_dict({"type": "Warning", "detail": {"x": 1}}), at=0.1)
    path = tmp_path / "u.jsonl"
    log.save(path)
    assert SessionLog.load(path).entries[0].message.to_dict() == {"type": "Warning", "detail": {"x": 1}}


def test_final_transcript_and_accessors():
    log = example("credit-card")
    assert len(log.results()) == 11 and len(log.finals()) == 4
    assert log.final_transcript() == (
        "yeah so my credit card number is two two two two three three three three "
        "four four four four five five five five"
    )


# -- Flux (/v2/listen) sessions ------------------------------------------------------------------

FLUX_RECORDED = Path(__file__).parent / "data" / "flux_dictation_pauses.jsonl"


def _turn(event, turn, start, end, text, at_conf=0.0, trigger=None, seq=None):
    from dgwidgets.flux import TurnInfo
    from dgwidgets.protocol import Word

    words = tuple(Word(w, start + 0.1 * i, start + 0.1 * i + 0.08, 0.9) for i, w in enumerate(text.split()))
    return TurnInfo(event, turn, start, end, text, words, at_conf, trigger, "req", seq)


def test_a_flux_session_saves_and_loads_whole(tmp_path):
    from dgwidgets.flux import FluxMessage, FluxOptions, TurnInfo
    from dgwidgets.protocol import UnknownMessage

    log = SessionLog(options=FluxOptions(eager_eot_threshold=0.5, keyterm=("Deepgram",)), source="sample:x")
    log.append(FluxMessage({"type": "Connected", "request_id": "req", "sequence_id": 0, "turn_detector": "t"}), 0.0)
    log.append(_turn("Update", 0, 0.0, 0.25, "", seq=1), 0.3)
    log.append(_turn("StartOfTurn", 0, 0.1, 0.5, "hello", seq=2), 0.55)
    log.append(_turn("EndOfTurn", 0, 0.1, 1.2, "hello there", 0.83, "model", seq=3), 1.25)
    log.append(FluxMessage({"type": "Warning", "code": "NO_ACTIVE_TURN", "description": "nothing", "sequence_id": 4}), 1.3)
    log.append(UnknownMessage({"type": "SomethingNew", "x": 1}), 1.4)
    path = tmp_path / "flux.jsonl"
    log.save(path)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["api"] == "v2" and header["options"].startswith("model=flux-general-en")
    loaded = SessionLog.load(path)
    assert loaded.api == "v2" and loaded.options == log.options
    assert [e.to_dict() for e in loaded] == [e.to_dict() for e in log]
    assert isinstance(loaded.entries[3].message, TurnInfo) and loaded.entries[3].message.trigger == "model"
    assert loaded.final_transcript() == "hello there"
    assert [t.event for t in loaded.turns("StartOfTurn", "EndOfTurn")] == ["StartOfTurn", "EndOfTurn"]
    assert loaded.to_text().splitlines() == [
        "-- Connected request_id=req turn_detector=t (received at 0.000)",
        "turn 0 StartOfTurn    0.100-0.500 eot 0.00 hello (received at 0.550)",
        "turn 0 EndOfTurn      0.100-1.200 eot 0.83 [model] hello there (received at 1.250)",
        "-- Warning NO_ACTIVE_TURN: nothing (received at 1.300)",
    ]
    assert "turn 0 Update" in loaded.to_text(updates=True)
    assert "Connected" not in loaded.to_text(events=False)


def test_v1_headers_are_unchanged_and_unknown_apis_are_refused(tmp_path):
    assert "api" not in SessionLog().header()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"dgwidgets_session": 1, "api": "v9", "options": ""}) + "\n")
    with pytest.raises(SessionFileError, match=r'line 1: "api" is \'v9\''):
        SessionLog.load(bad)


def test_a_flux_session_cut_mid_line_keeps_every_whole_line(tmp_path):
    text = FLUX_RECORDED.read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) - 40])  # a crash in the middle of the last line
    log = SessionLog.load(cut)
    assert log.recovered_from_truncation and len(log) == len(text.splitlines()) - 2


def test_a_recorded_flux_session_reads_as_turns():
    log = SessionLog.load(FLUX_RECORDED)
    assert log.api == "v2" and log.options.eager_eot_threshold == 0.4 and log.info["clock"] == "stream"
    assert [e.message.sequence_id for e in log] == list(range(len(log)))
    ends = log.turns("EndOfTurn")
    assert len(ends) == 4 and all(e.trigger == "model" for e in ends)
    assert len(log.turns("EagerEndOfTurn")) == 4
    assert all(e.at >= e.message.audio_window_end - 1e-3 for e in log.entries[1:])
