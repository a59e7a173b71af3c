"""Forced alignment in worker processes (`dgwidgets.aligner_processes`), as a server runs it.

The same word times as the in-process `ForcedAligner` on real speech; processes that stop at
`close` and start again on use; a fallback to this process when the workers die; and no orphan
left behind when the server that started them is killed outright.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from dgwidgets.aligner_processes import AlignerProcesses
from dgwidgets.audio import load_audio
from dgwidgets.engine.alignment import ForcedAligner

REAL = Path(__file__).parent / "data" / "real"
TRANSCRIPTS = {n: t for n, t in json.loads((REAL / "transcripts.json").read_text()).items() if t}


@pytest.fixture(scope="module")
def aligner():
    with AlignerProcesses() as processes:
        yield processes


@pytest.mark.parametrize("name", ["two_cities_3.flac", "jfk.flac", "alsa_front_left.flac"])
def test_word_times_are_those_of_the_aligner_in_this_process(aligner, name):
    pcm = load_audio(REAL / name)[:, 0]
    words = TRANSCRIPTS[name].split()
    times = aligner.align(pcm, words)
    assert times is not None and len(times) == len(words)
    assert times == ForcedAligner().align(pcm, words)


def test_nothing_to_align_gives_none_without_a_round_trip(aligner):
    assert aligner.align(np.zeros(800, np.int16), ["hello"]) is None
    assert aligner.align(np.zeros(16000, np.int16), []) is None
    assert aligner.align(np.zeros(16000, np.int16), ["zyxwq"]) is None  # not in the dictionary


def _workers(aligner: AlignerProcesses) -> list[int]:
    executor = aligner._executor
    return [] if executor is None else list(executor._processes)


def test_close_stops_the_workers_and_a_later_call_starts_them_again():
    aligner = AlignerProcesses()
    aligner.prepare()
    first = _workers(aligner)
    assert len(first) == 1 and psutil.pid_exists(first[0])
    aligner.close()
    assert aligner._executor is None
    assert psutil.wait_procs([psutil.Process(pid) for pid in first if psutil.pid_exists(pid)], timeout=10)[1] == []
    pcm = load_audio(REAL / "alsa_side_left.flac")[:, 0]
    assert aligner.align(pcm, ["side", "left"]) == ForcedAligner().align(pcm, ["side", "left"])
    assert _workers(aligner) and _workers(aligner) != first
    aligner.close()


def test_a_dead_worker_falls_back_to_this_process_with_the_same_answer(caplog):
    aligner = AlignerProcesses()
    aligner.prepare()
    os.kill(_workers(aligner)[0], signal.SIGKILL)
    time.sleep(0.5)
    pcm = load_audio(REAL / "alsa_front_center.flac")[:, 0]
    with caplog.at_level("WARNING", logger="dgwidgets.aligner"):
        times = aligner.align(pcm, ["front", "center"])
    assert times == ForcedAligner().align(pcm, ["front", "center"])
    assert "forced alignment runs in this process" in caplog.text
    assert aligner._executor is None  # no pool is restarted behind the fallback
    aligner.close()


def test_processes_must_be_at_least_one():
    with pytest.raises(ValueError, match="processes must be >= 1"):
        AlignerProcesses(0)


def test_a_killed_server_leaves_no_aligner_process_behind():
    # A server started and killed outright (SIGKILL: no shutdown runs) must not orphan its worker.
    code = (
        "import sys, numpy as np\n"
        "from dgwidgets.aligner_processes import AlignerProcesses\n"
        "a = AlignerProcesses(); a.prepare()\n"
        "print(list(a._executor._processes)[0], flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        worker = psutil.Process(int(parent.stdout.readline()))
        assert worker.is_running()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        gone, alive = psutil.wait_procs([worker], timeout=10)
        assert alive == [], "the aligner worker outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_both_aligners_have_the_aligner_interface_a_whisper_model_takes():
    import inspect

    from dgwidgets.engine.alignment import Aligner, ForcedAligner

    for cls in (ForcedAligner, AlignerProcesses):
        for name in ("align", "prepare"):
            ours, required = inspect.signature(getattr(cls, name)), inspect.signature(getattr(Aligner, name))
            assert list(ours.parameters) == list(required.parameters), (cls, name)
