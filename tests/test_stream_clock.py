"""One clock per stream: no message appears to arrive before the audio it reports, for every source.

The invariant, checked on the SessionLog (its `at` values are the stream clock's readings when each
message arrived): every Results at or after ``start + duration``, SpeechStarted at or after its
``timestamp``, UtteranceEnd at or after ``last_word_end + utterance_end_ms``; and every strategy's
``decided_at`` and latency derived from the log are >= 0.

Sources: FileSource paced at several speeds and chunk sizes on an injected clock, MicrophoneSource
with a fake device thread, PushSource (the browser microphone) with gaps and a delayed start,
an uploaded file and StreamLab.compare's sources. Servers: the real local engine on loopback, and
a "tightest" fake server that answers each audio chunk at once with messages reaching exactly to the
end of the audio received (the earliest any honest server could send them).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import serve

from dgwidgets.audio import FileSource, MicrophoneSource, PushSource, StreamClock, load_audio
from dgwidgets.client import Backend, LiveClient
from dgwidgets.protocol import LiveOptions, Results, SpeechStarted, UtteranceEnd
from dgwidgets.samples import sample
from dgwidgets.server import BackgroundServer
from dgwidgets.session import SessionLog
from dgwidgets.utterances import STRATEGIES, make_strategy

EPS = 1e-6
HONEST = settings(
    deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)


def assert_honest(log: SessionLog, *, utterance_end_ms: int | None = None) -> dict[str, int]:
    """The invariant on one log; returns how many messages of each kind it checked."""
    counts = {"Results": 0, "SpeechStarted": 0, "UtteranceEnd": 0}
    gap = (utterance_end_ms if utterance_end_ms is not None else log.options.utterance_end_ms or 0) / 1000
    for entry in log:
        m, at = entry.message, entry.at
        assert at >= 0, entry
        if isinstance(m, Results):
            assert at >= m.start + m.duration - EPS, f"Results {m.start}+{m.duration} received at {at}"
        elif isinstance(m, SpeechStarted):
            assert at >= m.timestamp - EPS, f"SpeechStarted {m.timestamp} received at {at}"
        elif isinstance(m, UtteranceEnd):
            assert at >= m.last_word_end + gap - EPS, f"UtteranceEnd {m.last_word_end}+{gap} received at {at}"
        else:
            continue
        counts[type(m).__name__] += 1
    for name in STRATEGIES:
        for u in make_strategy(name).run(log):
            assert u.decided_at >= 0 and u.latency >= -EPS, (name, u)
    return counts


class FakeClock:
    """Moves only when the source's injected sleep is awaited."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


# --------------------------------------------------------------------------------------------------
# the tightest fake server: answers every chunk at once, reaching to the end of the audio received


class TightServer:
    """Answers each binary chunk with a Results ending exactly at the audio received so far, a
    SpeechStarted at that instant and an UtteranceEnd whose gap ends there: the earliest an honest
    server could send each. Runs its own loop in a thread, on loopback."""

    def __init__(self, gap_ms: int = 1000) -> None:
        self.gap = gap_ms / 1000
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handler(self, ws) -> None:
        q = dict(part.split("=", 1) for part in ws.request.path.partition("?")[2].split("&") if "=" in part)
        rate, channels = int(q.get("sample_rate", 16000)), int(q.get("channels", 1))
        received = 0.0
        async for data in ws:
            if not isinstance(data, bytes):
                if json.loads(data).get("type") == "CloseStream":
                    break
                continue
            start, received = received, received + len(data) / (2 * channels * rate)
            word = {"word": "w", "start": start, "end": received, "confidence": 0.9}
            alt = {"transcript": "w", "confidence": 0.9, "words": [word]}
            await ws.send(json.dumps({
                "type": "Results", "channel_index": [0, 1], "duration": received - start, "start": start,
                "is_final": True, "speech_final": True, "channel": {"alternatives": [alt]},
            }))  # fmt: skip
            await ws.send(json.dumps({"type": "SpeechStarted", "channel": [0], "timestamp": received}))
            if received >= self.gap:
                await ws.send(
                    json.dumps({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": received - self.gap})
                )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main():
            async with serve(self._handler, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                self.url = f"ws://127.0.0.1:{port}/v1/listen"
                self._stop = asyncio.Event()
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(main())

    def __enter__(self) -> TightServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="module")
def tight():
    with TightServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def engine():
    with BackgroundServer() as srv:
        yield srv


def stream(url: str, source, options: LiveOptions | None = None) -> SessionLog:
    client = LiveClient(Backend(url, "url"), options or LiveOptions(interim_results=True, utterance_end_ms=1000))
    return asyncio.run(client.stream(source))


# --------------------------------------------------------------------------------------------------
# FileSource: any speed, any chunk size, on an injected clock


@HONEST
@given(
    speed=st.sampled_from([0.5, 1.0, 1.7, 3.0]),
    chunk=st.sampled_from([0.02, 0.05, 0.1, 0.25, 0.37, 1.0]),
)
def test_file_source_any_pacing_on_the_tightest_server(tight, speed, chunk):
    clock = FakeClock()
    src = FileSource("sample:yes", speed=speed, chunk_seconds=chunk, clock=clock, sleep=clock.sleep)
    log = stream(tight.url, src)
    counts = assert_honest(log, utterance_end_ms=1000)
    assert counts["Results"] == -(-src.frames // src.chunk_frames) and counts["UtteranceEnd"] > 0
    assert log.info["clock"] == "stream"


@settings(deadline=None, max_examples=6, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(speed=st.sampled_from([0.5, 1.0, 2.0, 4.0]), chunk=st.sampled_from([0.02, 0.1, 0.25, 0.5]))
def test_file_source_any_pacing_on_the_local_engine(engine, speed, chunk):
    """End to end on the real local engine; the injected clock runs as fast as the engine answers."""
    clock = FakeClock()
    src = FileSource("sample:hello-there", speed=speed, chunk_seconds=chunk, clock=clock, sleep=clock.sleep)
    options = LiveOptions(
        interim_results=True, utterance_end_ms=1000, vad_events=True, keyterm=tuple(sample("hello-there").keyterms)
    )
    log = stream(engine.url, src, options)
    counts = assert_honest(log)
    assert counts["Results"] >= 3 and counts["SpeechStarted"] >= 1 and counts["UtteranceEnd"] >= 1, log.to_text()
    assert "hello" in log.final_transcript()


def test_unpaced_file_says_so(tight):
    log = stream(tight.url, FileSource("sample:yes", speed=0))
    assert log.info["clock"] == "unpaced"


# --------------------------------------------------------------------------------------------------
# MicrophoneSource with a fake device thread


class FakeDevice:
    """sounddevice stand-in: a thread calls back with blocks at the given intervals (real time)."""

    PortAudioError = OSError

    def __init__(self, intervals: list[float]) -> None:
        self.intervals = intervals

    def InputStream(self, **kw):  # noqa: N802 - sounddevice's name
        device = self

        class Stream:
            def __init__(self) -> None:
                self.halt = threading.Event()

            def start(self) -> None:
                threading.Thread(target=self.run, daemon=True).start()

            def run(self) -> None:
                block = np.zeros((kw["blocksize"], kw["channels"]), np.int16)
                for pause in device.intervals:
                    time.sleep(pause)  # the block is being captured
                    if self.halt.is_set():
                        return
                    kw["callback"](block, kw["blocksize"], None, False)

            def close(self) -> None:
                self.halt.set()

        return Stream()


@HONEST
@given(
    chunk=st.sampled_from([0.01, 0.02, 0.05]),
    jitter=st.lists(st.floats(0.2, 2.0), min_size=4, max_size=12),
)
def test_microphone_with_a_fake_device(tight, chunk, jitter):
    """Blocks handed over late or in bursts (a busy PortAudio thread): times still never precede the audio."""
    intervals = [chunk * j for j in jitter]
    mic = MicrophoneSource(chunk_seconds=chunk, max_seconds=chunk * len(intervals), _sounddevice=FakeDevice(intervals))
    log = stream(tight.url, mic)
    counts = assert_honest(log, utterance_end_ms=1000)
    assert counts["Results"] == len(intervals)


# --------------------------------------------------------------------------------------------------
# PushSource (the browser microphone): gaps, bursts and a delayed start


@HONEST
@given(
    pushes=st.lists(st.tuples(st.integers(1, 3200), st.floats(0, 0.03)), min_size=2, max_size=12),
    before_start=st.integers(0, 4),
    start_delay=st.floats(0, 0.2),
)
def test_push_source_with_gaps_and_a_delayed_start(tight, pushes, before_start, start_delay):
    """Audio recorded before the stream starts keeps its capture time; pushes arrive with gaps."""
    pcm = load_audio("sample:yes")[:, 0]

    async def main():
        src = PushSource()
        offset = 0

        def push(frames):
            nonlocal offset
            src.push(pcm[offset : offset + frames].copy())
            offset += frames

        for frames, _ in pushes[:before_start]:  # recorded before Start was pressed
            push(frames)
        await asyncio.sleep(start_delay)
        client = LiveClient(Backend(tight.url, "url"), LiveOptions(interim_results=True, utterance_end_ms=1000))
        task = asyncio.create_task(client.stream(src))
        for frames, gap in pushes[before_start:]:
            await asyncio.sleep(gap)
            push(frames)
        src.close()
        return await task

    log = asyncio.run(main())
    assert_honest(log, utterance_end_ms=1000)


# --------------------------------------------------------------------------------------------------
# the lab: an uploaded file, and compare's sources, on the local engine in real time (2x)


def _lab_utterances_ok(lab) -> None:
    for name, utterances in lab.utterances.items():
        for u in utterances:
            assert u.decided_at >= 0 and u.latency >= -EPS, (name, u)
    assert "-" not in "".join(f"{u.latency:.3f}" for us in lab.utterances.values() for u in us)


def test_upload_through_the_lab(engine, tmp_path):
    from dgwidgets.widgets.controls import SOURCE_UPLOAD
    from dgwidgets.widgets.lab import StreamLab

    lab = StreamLab(
        source="sample:yes", backend="url", url=engine.url, speed=2, show_player=False,
        interim_results=True, utterance_end_ms=1000, vad_events=True, keyterm=["yes"],
    )  # fmt: skip
    wav = Path(sample("yes").path).read_bytes()
    lab.panel.source.value = SOURCE_UPLOAD
    upload = {"name": "mine.wav", "content": memoryview(wav), "type": "audio/wav", "size": len(wav)}
    lab.panel.upload.value = ({**upload, "last_modified": datetime.now(timezone.utc)},)
    log = asyncio.run(lab.run())
    assert log.source.endswith(".wav") and "dgwidgets-upload-" in log.source
    counts = assert_honest(log)
    assert counts["Results"] and counts["SpeechStarted"] and counts["UtteranceEnd"], log.to_text()
    _lab_utterances_ok(lab)


def test_compare_sources(engine):
    from dgwidgets.widgets.lab import StreamLab

    cmp = StreamLab.compare(
        dict(endpointing=10), dict(endpointing=500),
        source="sample:yes", backend="url", url=engine.url, speed=2, interim_results=True,
        utterance_end_ms=1000, vad_events=True,
    )  # fmt: skip
    logs = asyncio.run(cmp.run())
    for lab, log in zip(cmp.labs, logs):
        assert assert_honest(log)["Results"] > 0
        _lab_utterances_ok(lab)


# --------------------------------------------------------------------------------------------------
# the clock itself


@given(
    marks=st.lists(st.tuples(st.floats(0.001, 0.5), st.floats(0, 0.5)), min_size=1, max_size=30),
    rate=st.sampled_from([0.5, 1.0, 2.0]),
)
def test_clock_reads_at_or_after_every_chunk_handed_over(marks, rate):
    """Whatever the hand-over times, a reading at or after a hand-over is >= that chunk's end; never backwards."""
    now = [50.0]
    clock = StreamClock(rate=rate, clock=lambda: now[0])
    end, previous, ends = 0.0, 0.0, []
    for length, wait in marks:
        now[0] += wait
        end += length
        clock.mark(end)
        ends.append(end)
        reading = clock.now()
        assert reading >= max(ends) - EPS and reading >= previous - EPS
        previous = reading


# --------------------------------------------------------------------------------------------------
# the command line, in real time


def test_cli_stream_in_real_time_saves_no_message_before_its_audio(tmp_path):
    """`dgwidgets stream … --save s.jsonl` at 1x: every saved `at` is at or after the audio it reports."""
    import subprocess
    import sys

    saved = tmp_path / "s.jsonl"
    cmd = [sys.executable, "-m", "dgwidgets", "stream", "sample:hello-there", "--local", "--interim-results",
           "--vad-events", "--utterance-end-ms", "1000", "--strategy", "speech_final", "--save", str(saved)]  # fmt: skip
    began = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began >= sample("hello-there").duration  # really paced
    log = SessionLog.load(saved)
    assert log.info["clock"] == "stream"
    counts = assert_honest(log)
    assert counts["Results"] >= 3 and counts["SpeechStarted"] and counts["UtteranceEnd"], log.to_text()
    assert "unpaced" not in result.stderr and "ms after its last word" in result.stderr
    assert "-" not in result.stderr.split("ms after its last word):")[1].splitlines()[0], result.stderr
