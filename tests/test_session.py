"""SessionLog: the documentation's table text and JSONL files that survive crashes."""

from __future__ import annotations

import json

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
