"""`dgwidgets stream --flux` and `replay` of a Flux session, run as a user runs them (a child process)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dgwidgets.session import SessionLog

RECORDED = Path(__file__).parent / "data" / "flux_dictation_pauses.jsonl"


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dgwidgets", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_stream_flux_prints_one_line_per_turn_event_and_saves_the_session(tmp_path):
    saved = tmp_path / "hello.jsonl"
    result = run(
        "stream", "sample:hello-there", "--local", "--flux", "--eot-timeout-ms", "3000", "--speed", "0",
        "--strategy", "flux_end_of_turn", "--save", str(saved),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("-- Connected request_id=")
    turns = [line for line in lines if line.startswith("turn ")]
    assert [line.split()[2] for line in turns] == ["StartOfTurn", "EndOfTurn"] * 2
    assert turns[1].startswith("turn 0 EndOfTurn ") and " [model] hello there (received at " in turns[1]
    assert turns[3].startswith("turn 1 EndOfTurn ") and "how are you" in turns[3]
    assert not any(" Update " in line for line in lines), "Update events are left out unless asked"
    assert "=> [EndOfTurn:model @" in result.stdout
    assert "/v2/listen" in result.stderr and "2 EndOfTurn: model 2" in result.stderr
    assert "latency: not measured (the audio was sent unpaced" in result.stderr
    # --save wrote a Flux session that replays to the same lines
    log = SessionLog.load(saved)
    assert log.api == "v2" and log.options.eot_timeout_ms == 3000 and log.final_transcript() == "hello there how are you"
    replayed = run("replay", str(saved), "--speed", "0")
    assert replayed.returncode == 0 and replayed.stdout.splitlines() == log.table_lines()

    def untimed(text_lines):  # the live lines print the arrival before it is rounded for the file
        return [re.sub(r" \(received at [\d.]+\)$", "", ln) for ln in text_lines if not ln.startswith("=>")]

    assert untimed(replayed.stdout.splitlines()) == untimed(lines)
    with_updates = run("replay", str(saved), "--speed", "0", "--updates")
    assert sum(" Update " in line for line in with_updates.stdout.splitlines()) == len(log.turns("Update"))


def test_stream_flux_jsonl_is_a_loadable_flux_session(tmp_path):
    result = run("stream", "sample:yes", "--local", "--flux", "--speed", "0", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "out.jsonl"
    path.write_text(result.stdout)
    log = SessionLog.load(path)
    assert log.api == "v2" and log.entries[0].message.type == "Connected" and log.turns()


def test_replay_a_recorded_flux_session_with_its_strategy():
    result = run("replay", str(RECORDED), "--speed", "0", "--strategy", "flux_eager_end_of_turn")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("=> [EagerEndOfTurn @") == 4 and "provisional" in result.stdout
    printed = [line for line in result.stdout.splitlines() if not line.startswith("=>")]
    assert printed == SessionLog.load(RECORDED).table_lines()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--flux", "--interim-results", "--endpointing", "300"],
            2,
            "--interim-results, --endpointing are /v1/listen options: a Flux stream (--flux) has no",
        ),
        (["--flux", "--utterance-end-ms", "1000"], 2, "--utterance-end-ms is a /v1/listen option"),
        (["--eot-threshold", "0.8"], 2, "--eot-threshold is a Flux option: add --flux"),
        (["--flux", "--eot-threshold", "0.2"], 1, "Invalid 'eot_threshold' value 0.2: must be between 0.5 and 1.0"),
        (
            ["--flux", "--eot-threshold", "0.6", "--eager-eot-threshold", "0.7"],
            1,
            "must not exceed eot_threshold (0.6)",
        ),
        (["--flux", "--eot-timeout-ms", "100"], 1, "Invalid 'eot_timeout_ms' value 100: must be between 500 and 60000"),
        (["--flux", "--model", "nova-3"], 1, "Flux models are flux-general-en"),
        (["--flux", "--strategy", "speech_final"], 2, "a Flux stream decides itself: choose flux_end_of_turn"),
        (["--strategy", "flux_end_of_turn"], 2, "reads Flux (/v2/listen) turn events: add --flux"),
        (
            ["--flux", "--speed", "0", "--param", "endpointing=300"],
            1,
            "Invalid 'endpointing' value of '300'. Rule: endpointing is not a /v2/listen parameter.",
        ),
    ],
)
def test_stream_flux_option_errors(args, code, message, tmp_path):
    result = run("stream", "sample:yes", "--local", *args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
