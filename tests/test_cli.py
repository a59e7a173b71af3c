"""The command line, run as a user runs it (a child process), plus exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dgwidgets.cli import main
from dgwidgets.examples import example
from dgwidgets.session import SessionLog

from .test_examples import CREDIT_CARD_DOC


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dgwidgets", *args], capture_output=True, text=True, timeout=60)


def test_replay_credit_card_prints_the_doc_lines_byte_for_byte():
    result = run("replay", "doc:credit-card", "--speed", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout == CREDIT_CARD_DOC + "\n"


def test_replay_in_real_time_takes_the_audio_time():
    import time

    started = time.monotonic()
    result = run("replay", "doc:interim-results", "--speed", "4")
    assert result.returncode == 0
    # 2.04 s of audio at 4x: about half a second beyond interpreter start-up
    assert time.monotonic() - started >= 2.039875 / 4


def test_jsonl_output_is_a_loadable_session_that_replays_to_the_same_table(tmp_path):
    result = run("replay", "doc:credit-card", "--speed", "0", "--format", "jsonl")
    saved = tmp_path / "cc.jsonl"
    saved.write_text(result.stdout)
    assert SessionLog.load(saved).to_text() == example("credit-card").to_text()
    again = run("replay", str(saved), "--speed", "0")
    assert again.stdout == CREDIT_CARD_DOC + "\n"


def test_strategy_output(capsys):
    assert main(["replay", "doc:credit-card", "--speed", "0", "--strategy", "speech_final"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("=>")]
    assert lines == [
        "=> [speech_final @ 5.500] yeah so my credit card number is two two two two three three three three",
        "=> [speech_final @ 6.860] four four four four",
        "=> [speech_final @ 8.090] five five five five",
    ]
    assert (
        main(
            [
                "replay",
                "doc:utterance-end",
                "--speed",
                "0",
                "--strategy",
                "silence_interval",
                "--strategy-param",
                "seconds=1",
            ]
        )
        == 0
    )
    assert "=> [silence_interval @ 2.000] Hello there" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["replay", "missing.jsonl"], 1, "missing.jsonl: no such file"),
        (["replay", "doc:nope"], 1, "no documentation example 'doc:nope'"),
        (["replay", "credit-card"], 2, "write doc:credit-card"),
        (["replay", "doc:credit-card", "--speed", "-1"], 2, "--speed must be >= 0"),
        (["replay", "doc:credit-card", "--strategy", "speech_final", "--strategy-param", "x"], 2, "NAME=SECONDS"),
        (
            ["replay", "doc:credit-card", "--strategy", "silence_interval", "--strategy-param", "gap=1"],
            2,
            "unexpected keyword argument 'gap'",
        ),
        (["replay", "doc:credit-card", "--format", "csv"], 2, "invalid choice: 'csv'"),
        ([], 2, "usage: dgwidgets"),
    ],
)
def test_errors_are_one_clear_line_with_an_exit_code(tmp_path, args, code, message):
    result = subprocess.run(
        [sys.executable, "-m", "dgwidgets", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == code
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_bad_session_file_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dgwidgets_session": 1}\n{"at": 1, "message": {"type": "Results"}}\n')
    result = run("replay", str(bad))
    assert result.returncode == 1
    assert "line 2: Results: missing field 'channel'" in result.stderr


def test_listing_commands():
    assert "doc:credit-card" in run("examples").stdout
    assert "speech_final_or_utterance_end" in run("strategies").stdout
    assert run("--version").stdout.startswith("dgwidgets ")


# --------------------------------------------------------------------------- stream


def test_stream_a_sample_prints_the_table_and_a_summary(tmp_path):
    saved = tmp_path / "yes.jsonl"
    result = run(
        "stream",
        "sample:hello-there",
        "--local",
        "--speed",
        "0",
        "--interim-results",
        "--utterance-end-ms",
        "1000",
        "--strategy",
        "speech_final",
        "--save",
        str(saved),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1 0.000-")  # the docs' row format, numbered from the stream start
    assert any('["is_final": false]' in line for line in lines)  # interims (the pause is long enough)
    assert any('["speech_final": true ] hello there' in line for line in lines)
    assert "=> [speech_final @" in result.stdout and "-- UtteranceEnd last_word_end=" in result.stdout
    assert "request id " in result.stderr and "streaming sample:hello-there to local engine" in result.stderr
    # the saved session replays to the same table rows
    replayed = run("replay", str(saved), "--speed", "0")
    assert replayed.stdout.splitlines() == [line for line in lines if not line.startswith("=>")]


def test_stream_jsonl_is_a_loadable_session(tmp_path):
    result = run("stream", "sample:yes", "--local", "--speed", "0", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "out.jsonl"
    path.write_text(result.stdout)
    log = SessionLog.load(path)
    assert log.final_transcript() == "yes" and log.options.keyterm == ()  # no script handed over


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["stream", "missing.wav", "--local"], 1, "audio file not found: missing.wav"),
        (["stream", "sample:nope", "--local"], 1, "unknown sample 'nope'"),
        (["stream", "sample:yes", "--endpointing", "soon"], 2, "--endpointing wants milliseconds or false"),
        (
            ["stream", "sample:yes", "--interim-results", "--utterance-end-ms", "500"],
            1,
            "Invalid 'utterance_end_ms' value 500: must be a whole number of milliseconds from 1000 to 5000",
        ),
        (["stream", "sample:yes", "--local", "--param", "diarize"], 2, "--param wants KEY=VALUE"),
        (
            ["stream", "sample:yes", "--local", "--model", "nova-3", "--param", "keywords=yes:2"],
            1,
            "Nova-3 models take keyterm instead",
        ),
        (
            ["stream", "sample:yes", "--url", "ws://127.0.0.1:9/v1/listen", "--speed", "0"],
            1,
            "Could not connect to ws://127.0.0.1:9/v1/listen",
        ),
        (["stream", "sample:yes", "--url", "http://x"], 2, "ws:// or wss://"),
        (["stream", "sample:yes", "--local", "--url", "ws://x/v1/listen"], 2, "choose one backend"),
    ],
)
def test_stream_errors(args, code, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dgwidgets", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_stream_notes_ineffective_options():
    result = run("stream", "sample:yes", "--local", "--speed", "0", "--utterance-end-ms", "1000")
    assert "note: utterance_end_ms needs interim_results=true" in result.stderr


def test_stream_warns_about_options_the_local_engine_ignores_and_echoes_extra(tmp_path):
    saved = tmp_path / "s.jsonl"
    result = run(
        "stream", "sample:yes", "--local", "--speed", "0", "--param", "diarize=true", "--param", "extra=room:7b",
        "--save", str(saved),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: diarize=true is ignored by the local engine: no speaker labels" in result.stderr
    results = [json.loads(line) for line in saved.read_text().splitlines() if '"Results"' in line]
    assert results and all(r["message"]["metadata"]["extra"] == {"room": "7b"} for r in results)


def test_samples_lists_every_sample_with_what_it_teaches():
    out = run("samples").stdout
    for name in ("credit-card", "drive-thru", "voice-agent", "yes"):
        assert f"sample:{name}" in out
    assert "UtteranceEnd" in out


def test_stream_with_a_wrong_key_exits_1_without_showing_it(tmp_path):
    from dgwidgets.server import BackgroundServer

    saved = tmp_path / "s.jsonl"
    with BackgroundServer(api_key="right-key-123") as server:
        result = run(
            "stream",
            "sample:yes",
            "--url",
            server.url,
            "--api-key",
            "wrong-key-456",
            "--speed",
            "0",
            "--save",
            str(saved),
        )
    assert result.returncode == 1
    assert "did not accept the API key" in result.stderr
    assert "wrong-key-456" not in result.stderr + result.stdout + saved.read_text()
