"""The command line, run as a user runs it (a child process), plus exit codes."""

from __future__ import annotations

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
