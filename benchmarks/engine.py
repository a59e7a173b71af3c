"""Benchmarks of the local engine: speed, real-time concurrency, endpointing latency, memory.

Four measurements, each printed as a plain-text table:

1. Real-time factor (CPU seconds / audio seconds) of one in-process `StreamTranscriber` per
   sample, fed in 250 ms chunks, and the time to build a transcriber with keyterms.
2. Concurrency: N clients stream samples paced in real time to one server process; message lag,
   server CPU and the largest N that keeps the p95 lag under 250 ms.
3. speech_final latency after the true end of speech (from the sample's ground truth), for
   endpointing 10, 300 and 500 ms.
4. Memory: server RSS per open stream, and the tracemalloc peak of one transcriber.

The server under test is a subprocess (``python -m dgwidgets serve --port 0``) so that its CPU
and memory are its own, not mixed with the clients' (which run here, on one asyncio loop).
Everything is on loopback. Run from the repository root:

    .venv/bin/python benchmarks/engine.py            # about 5 minutes
    .venv/bin/python benchmarks/engine.py --quick    # smoke test, under a minute
    .venv/bin/python benchmarks/engine.py --long     # more levels, rounds and repeats

Timing conventions (see benchmarks/README.md): a stream's clock starts when its websocket is
open; chunk k (250 ms) is sent at k * 0.25 s (``--pacing start``, like a client that streams a
file in real time) or when its audio is complete at (k + 1) * 0.25 s (``--pacing end``, like a
microphone). *Lag* is arrival time minus the audio time a message covers; *server latency* is
arrival time minus the send time of the chunk that completed that audio, so it does not depend
on the pacing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from dgwidgets.engine.transcriber import StreamTranscriber
from dgwidgets.protocol import LiveOptions, Message, Results, SpeechStarted, UtteranceEnd, parse_message
from dgwidgets.samples import Sample, sample, samples

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16_000
CHUNK_SECONDS = 0.25
CHUNK_SAMPLES = int(CHUNK_SECONDS * SAMPLE_RATE)
#: The engine decides on 32 ms VAD frames: a SpeechStarted needs its whole frame.
VAD_FRAME_SAMPLES = 512
VAD_FRAME_SECONDS = VAD_FRAME_SAMPLES / SAMPLE_RATE
#: Concurrency goal: the p95 message lag of every stream stays under this.
LAG_GOAL = 0.250
#: speech_final goal: median latency after the true end of speech <= endpointing + this.
ENDPOINT_GOAL_MARGIN = 0.100
#: A speech_final may end this much before the true end of speech and still count as its endpoint.
END_TOLERANCE = 0.200
#: Samples whose pauses are clean silence (no babble), used for the speech_final latency.
ENDPOINT_SAMPLES = ("credit-card", "hello-there", "dictation-pauses", "yes", "voice-agent")
ENDPOINT_SETTINGS = (10, 300, 500)
#: Bounds on every network wait, so that a stuck server cannot hang the benchmark.
CONNECT_TIMEOUT = 10.0
STREAM_SLACK = 30.0  # a stream may take its audio duration plus this
SERVER_START_TIMEOUT = 30.0
EPS = 1e-6


# --------------------------------------------------------------------------------- helpers


@functools.cache
def pcm(name: str) -> np.ndarray:
    """The sample's audio as int16 mono at 16 kHz."""
    audio, rate = sf.read(sample(name).path, dtype="int16")
    if rate != SAMPLE_RATE or audio.ndim != 1:
        raise ValueError(f"{name}: expected 16 kHz mono, got {rate} Hz, shape {audio.shape}")
    return audio


@functools.cache
def wire_chunks(name: str) -> tuple[bytes, ...]:
    """The sample as linear16 websocket frames of CHUNK_SECONDS (encoded once, not per stream)."""
    audio = pcm(name).astype("<i2")
    return tuple(audio[i : i + CHUNK_SAMPLES].tobytes() for i in range(0, audio.size, CHUNK_SAMPLES))


def stream_options(name: str, *, endpointing: int = 300, wire: bool = False) -> LiveOptions:
    """The benchmark's options, with the sample's keyterms (without them the slow general model loads)."""
    raw = {"encoding": "linear16", "sample_rate": SAMPLE_RATE} if wire else {}
    return LiveOptions(
        interim_results=True,
        endpointing=endpointing,
        utterance_end_ms=1000,
        vad_events=True,
        keyterm=sample(name).keyterms,
        **raw,
    )


def final_text(messages: Iterable[Message]) -> str:
    """The finalized transcript of a stream (what must not change under load)."""
    return " ".join(m.transcript for m in messages if isinstance(m, Results) and m.is_final and m.transcript)


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f}"  # NaN prints as "-"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]], notes: Sequence[str] = ()) -> None:
    """Print a right-aligned plain-text table (first column left-aligned) with notes below."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    print(f"\n{title}\n{'=' * len(title)}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


# --------------------------------------------------------------------------------- 1. real-time factor


def transcribe(transcriber: StreamTranscriber, audio: np.ndarray) -> list[Message]:
    """Feed `audio` in CHUNK_SECONDS pieces, then close: every message the stream produces."""
    out: list[Message] = []
    for i in range(0, audio.size, CHUNK_SAMPLES):
        out.extend(transcriber.feed(audio[i : i + CHUNK_SAMPLES]))
    out.extend(transcriber.close())
    return out


def measure_rtf(repeats: int) -> dict[str, str]:
    """Section 1; returns each sample's final transcript, the reference for the server runs."""
    # The first transcriber in a process pays for imports and model loading; measure it apart.
    t0 = time.perf_counter()
    StreamTranscriber(stream_options("yes"))
    cold = time.perf_counter() - t0

    reference: dict[str, str] = {}
    rows, total_cpu, total_wall, total_audio, builds = [], 0.0, 0.0, 0.0, []
    for s in samples():
        audio, options = pcm(s.name), stream_options(s.name)
        build, cpu, wall = [], [], []
        for _ in range(repeats):
            w0 = time.perf_counter()
            transcriber = StreamTranscriber(options)
            c1, w1 = time.process_time(), time.perf_counter()
            messages = transcribe(transcriber, audio)
            c2, w2 = time.process_time(), time.perf_counter()
            build.append(w1 - w0)
            cpu.append(c2 - c1)
            wall.append(w2 - w1)
        reference[s.name] = final_text(messages)
        seconds = audio.size / SAMPLE_RATE
        cpu_s, wall_s = statistics.median(cpu), statistics.median(wall)
        total_cpu, total_wall, total_audio = total_cpu + cpu_s, total_wall + wall_s, total_audio + seconds
        builds.extend(build)
        rows.append(
            [
                s.name,
                f"{seconds:.2f}",
                ms(statistics.median(build)),
                f"{cpu_s:.3f}",
                f"{cpu_s / seconds:.3f}",
                f"{wall_s / seconds:.3f}",
                len(messages),
            ]
        )
    rtf = total_cpu / total_audio
    rows.append(
        [
            "all",
            f"{total_audio:.2f}",
            ms(statistics.median(builds)),
            f"{total_cpu:.3f}",
            f"{rtf:.3f}",
            f"{total_wall / total_audio:.3f}",
            "",
        ]
    )
    table(
        f"1. Real-time factor of one StreamTranscriber (in-process, 250 ms chunks, median of {repeats})",
        ["sample", "audio s", "build ms", "cpu s", "RTF cpu", "RTF wall", "msgs"],
        rows,
        [
            "options: interim_results=true endpointing=300 utterance_end_ms=1000 vad_events=true keyterm=<sample's>",
            "build ms: StreamTranscriber(options) with keyterms (Silero VAD + keyterm LM + pocketsphinx decoder)",
            f"first build in a fresh process (imports, model files): {ms(cold)} ms",
            f"RTF cpu over all samples {rtf:.3f}: one core does about {1 / rtf:.0f} streams' work in real time",
        ],
    )
    return reference


# --------------------------------------------------------------------------------- the server process


class ServerProcess:
    """`python -m dgwidgets serve --port 0` in a subprocess, with its CPU time and memory."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._stderr = tempfile.TemporaryFile()

    def __enter__(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "dgwidgets", "serve", "--port", "0"]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.__exit__()
            raise RuntimeError(f"the server did not start: {line!r} {self.stderr_tail()}")
        self.url = line.split("listening on ", 1)[1].strip()
        self.ps = psutil.Process(self.proc.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, all threads (from /proc/PID/stat)."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]


class CpuMeter:
    """CPU used over an interval by the server, by this process (the clients) and by the machine."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.start = self._now()

    def _now(self) -> tuple[float, float, float, float]:
        machine = psutil.cpu_times()
        return time.perf_counter(), self.server.cpu_seconds(), time.process_time(), machine.idle + machine.iowait

    def read(self) -> dict[str, float]:
        """Percent of one core over the interval (200% = both cores of a 2-core machine)."""
        end = self._now()
        wall = max(end[0] - self.start[0], EPS)
        idle = end[3] - self.start[3]
        cores = psutil.cpu_count() or 1
        return {
            "wall": wall,
            "server": 100 * (end[1] - self.start[1]) / wall,
            "clients": 100 * (end[2] - self.start[2]) / wall,
            "machine": 100 * max(cores * wall - idle, 0.0) / wall,
        }


# --------------------------------------------------------------------------------- streaming clients


@dataclass
class StreamRun:
    """What one paced client sent and received; times are seconds since the stream's websocket opened."""

    name: str
    samples: int
    sends: list[float] = field(default_factory=list)  # send time of chunk k
    close_sent: float | None = None
    arrivals: list[tuple[float, Message]] = field(default_factory=list)
    close_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.close_code == 1000

    def trigger_time(self, audio_end: float) -> float | None:
        """When the audio up to `audio_end` was complete at the server: the chunk holding its last
        sample, or CloseStream for the tail after the last whole VAD frame (only close flushes it)."""
        end = int(round(audio_end * SAMPLE_RATE))
        if end >= self.samples and self.samples % VAD_FRAME_SAMPLES:
            return self.close_sent
        k = max(end - 1, 0) // CHUNK_SAMPLES
        return self.sends[k] if k < len(self.sends) else self.close_sent


@dataclass(frozen=True)
class Timed:
    """One received message with its timing (seconds since the stream's websocket opened)."""

    kind: str
    covered: float  # the audio time the message covers (Results: start + duration)
    decided: float  # the audio the server had judged when it sent the message (>= covered)
    arrival: float
    latency: float | None  # arrival - send time of the chunk that completed `decided`

    @property
    def lag(self) -> float:
        """Arrival behind the audio clock, from the audio the server had when it sent the message."""
        return self.arrival - self.decided

    @property
    def own_lag(self) -> float:
        """Arrival behind the end of the message's own window (start + duration)."""
        return self.arrival - self.covered


def timed_messages(run: StreamRun) -> list[Timed]:
    """Results (start + duration), SpeechStarted (timestamp + its 32 ms frame) and UtteranceEnd (the
    Results it follows); Metadata and errors have no audio time and are left out.

    The engine emits messages in audio order, so the audio it had judged when it sent a message is at
    least the end of every earlier message. That matters for a forced-cut final: it is sent with the
    interim for the whole segment but ends CUT_MARGIN (>= 0.8 s) earlier, by design.
    """
    out, last_end, reached = [], None, 0.0
    for arrival, m in run.arrivals:
        if isinstance(m, Results):
            end = last_end = m.start + m.duration
        elif isinstance(m, SpeechStarted):
            end = m.timestamp + VAD_FRAME_SECONDS
        elif isinstance(m, UtteranceEnd) and last_end is not None:
            end = last_end
        else:
            continue
        reached = max(reached, end)
        trigger = run.trigger_time(reached)
        out.append(Timed(m.type, end, reached, arrival, None if trigger is None else arrival - trigger))
    return out


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _send_paced(ws: ClientConnection, run: StreamRun, t0: float, pacing: str) -> None:
    """Send the sample's chunks on the audio clock, then CloseStream at the audio's end."""
    # Scheduled from the stream's own start, so that slow sends never accumulate into drift.
    for k, chunk in enumerate(wire_chunks(run.name)):
        due = k * CHUNK_SECONDS + (len(chunk) / 2 / SAMPLE_RATE if pacing == "end" else 0.0)
        await _sleep_until(t0 + due)
        await ws.send(chunk)
        run.sends.append(time.perf_counter() - t0)
    await _sleep_until(t0 + run.samples / SAMPLE_RATE)
    await ws.send(json.dumps({"type": "CloseStream"}))
    run.close_sent = time.perf_counter() - t0


async def _stream(url: str, run: StreamRun, options: LiveOptions, pacing: str) -> None:
    async with connect(options.url(url), open_timeout=CONNECT_TIMEOUT, close_timeout=5) as ws:
        t0 = time.perf_counter()
        sender = asyncio.create_task(_send_paced(ws, run, t0, pacing))
        try:
            async for text in ws:  # ends when the server closes the stream
                run.arrivals.append((time.perf_counter() - t0, parse_message(text)))
        finally:
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
    run.close_code = ws.close_code


async def paced_stream(url: str, name: str, options: LiveOptions, *, pacing: str, delay: float = 0.0) -> StreamRun:
    """One real-time stream of sample `name`; failures are recorded in the run, never raised."""
    await asyncio.sleep(delay)
    run = StreamRun(name, pcm(name).size)
    try:
        await asyncio.wait_for(_stream(url, run, options, pacing), run.samples / SAMPLE_RATE + STREAM_SLACK)
    except (OSError, ConnectionClosed, InvalidHandshake, asyncio.TimeoutError) as err:
        run.error = f"{type(err).__name__}: {err}"
    return run


# --------------------------------------------------------------------------------- 2. concurrency


@dataclass
class Level:
    """The outcome of N concurrent clients."""

    n: int
    runs: list[StreamRun]
    cpu: dict[str, float]
    peak_rss: int
    mismatches: int

    @functools.cached_property
    def timed(self) -> list[Timed]:
        return [t for run in self.runs for t in timed_messages(run)]

    @property
    def failures(self) -> int:
        return sum(not run.ok for run in self.runs)

    @property
    def p95_lag(self) -> float:
        return pct([t.lag for t in self.timed], 95)

    @property
    def passed(self) -> bool:
        return self.failures == 0 and self.p95_lag < LAG_GOAL


def playlist(first: int, window: float, names: Sequence[str]) -> list[str]:
    """Samples for one client, in catalog order from `first`, skipping any that would overrun the
    window, so that every client streams for about `window` seconds of back-to-back sessions."""
    chosen, used, i = [], 0.0, first
    while True:
        order = [names[(i + j) % len(names)] for j in range(len(names))]
        fit = next((n for n in order if used + sample(n).duration <= window), None)
        if fit is None:
            return chosen or [names[first % len(names)]]
        chosen.append(fit)
        used += sample(fit).duration
        i = names.index(fit) + 1


async def client(url: str, index: int, n: int, window: float, pacing: str, runs: list[StreamRun]) -> None:
    """One client: its playlist's samples as consecutive streams (each with its own keyterms)."""
    names = [s.name for s in samples()]
    # Spread the clients' send phases over one chunk: independent clients are not in lockstep.
    await asyncio.sleep(index * CHUNK_SECONDS / n)
    for name in playlist(index, window, names):
        runs.append(await paced_stream(url, name, stream_options(name, wire=True), pacing=pacing))


async def watch_rss(server: ServerProcess, peak: list[int], stop: asyncio.Event) -> None:
    """Sample the server's RSS twice a second until `stop` is set."""
    while not stop.is_set():
        peak[0] = max(peak[0], server.rss())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def run_level(server: ServerProcess, n: int, window: float, pacing: str, reference: dict[str, str]) -> Level:
    runs: list[StreamRun] = []
    peak, stop = [server.rss()], asyncio.Event()
    watcher = asyncio.create_task(watch_rss(server, peak, stop))
    meter = CpuMeter(server)
    clients = asyncio.gather(*(client(server.url, i, n, window, pacing, runs) for i in range(n)))
    try:
        await asyncio.wait_for(clients, window + 2 * STREAM_SLACK)
    except asyncio.TimeoutError:
        runs.append(StreamRun("(level timed out)", 0, error="level timed out"))
    cpu = meter.read()
    stop.set()
    await watcher
    mismatches = sum(run.ok and final_text(m for _, m in run.arrivals) != reference.get(run.name, "") for run in runs)
    return Level(n, runs, cpu, peak[0], mismatches)


async def warm_up(url: str) -> None:
    """One unpaced stream, so that model files are loaded before anything is measured."""
    options = stream_options("yes", wire=True)
    async with connect(options.url(url), open_timeout=CONNECT_TIMEOUT) as ws:
        for chunk in wire_chunks("yes"):
            await ws.send(chunk)
        await ws.send(json.dumps({"type": "CloseStream"}))
        await asyncio.wait_for(drain(ws), STREAM_SLACK)


async def drain(ws: ClientConnection) -> None:
    """Read messages until the server closes the stream."""
    async for _ in ws:
        pass


def level_row(level: Level) -> list[object]:
    timed = level.timed
    lags = [t.lag for t in timed]
    latencies = [t.latency for t in timed if t.latency is not None]
    return [
        level.n,
        len(level.runs),
        len(timed),
        ms(pct(lags, 50)),
        ms(pct(lags, 95)),
        ms(max(lags, default=float("nan"))),
        ms(pct([t.own_lag for t in timed], 95)),
        ms(pct(latencies, 50)),
        ms(pct(latencies, 95)),
        ms(max(latencies, default=float("nan"))),
        f"{level.cpu['server']:.0f}",
        f"{level.cpu['clients']:.0f}",
        f"{level.cpu['machine']:.0f}",
        f"{level.peak_rss / 2**20:.0f}",
        f"{level.failures}/{level.mismatches}",
        "yes" if level.passed else "NO",
    ]


def late_share(levels: Sequence[Level]) -> str:
    """How many messages cover audio that ends before what the server had heard (forced cuts)."""
    timed = [t for level in levels for t in level.timed]
    late = [t for t in timed if t.decided - t.covered > EPS]
    return f"{len(late)} of {len(timed)} messages ({100 * len(late) / max(len(timed), 1):.1f}%) are such"


def next_level(levels: Sequence[Level], planned: Sequence[int]) -> int | None:
    """The next N to try: the planned levels in order until one fails, then bisection between the
    largest passing N below it and the smallest failing N, to pin down the limit."""
    tried = {level.n for level in levels}
    failed = [level.n for level in levels if not level.passed]
    if not failed:
        return next((n for n in planned if n not in tried), None)
    passed_below = [level.n for level in levels if level.passed and level.n < min(failed)]
    low, high = max(passed_below, default=0), min(failed)
    return (low + high) // 2 if high - low > 1 else None


def sustained_level(levels: Sequence[Level]) -> int:
    """The largest N that passed, with every smaller N tried passing too."""
    best = 0
    for level in sorted(levels, key=lambda lv: lv.n):
        if not level.passed:
            break
        best = level.n
    return best


async def measure_concurrency(cfg: argparse.Namespace, reference: dict[str, str]) -> None:
    """Section 2: rising N until the p95 lag misses the goal (then bisect), the cap, or the time budget."""
    levels: list[Level] = []
    stopped = "tried every planned level"
    started = time.perf_counter()
    with ServerProcess(cfg.workers) as server:
        await warm_up(server.url)
        while (n := next_level(levels, cfg.levels)) is not None:
            # a level takes about its window (playlists fit inside it); do not start one past the budget
            if time.perf_counter() - started + cfg.window + 5 > cfg.concurrency_budget:
                stopped = f"stopped before N={n}: time budget of {cfg.concurrency_budget:.0f} s"
                break
            level = await run_level(server, n, cfg.window, cfg.pacing, reference)
            levels.append(level)
            print(f"  ... N={n}: p95 lag {ms(level.p95_lag)} ms, server CPU {level.cpu['server']:.0f}%", flush=True)
            await asyncio.sleep(1.0)  # let the server finish closing before the next level's clock starts
        else:
            if any(not level.passed for level in levels):
                stopped = "rising levels until one failed, then bisection between the last pass and the first fail"
    sustained = sustained_level(levels)
    table(
        f"2. Concurrent real-time streams against one server process ({cfg.window:.0f} s per level, "
        f"pacing={cfg.pacing})",
        [
            "N",
            "streams",
            "msgs",
            "lag p50",
            "p95",
            "max",
            "own p95",
            "srv lat p50",
            "p95",
            "max",
            "srv CPU%",
            "cli CPU%",
            "machine%",
            "srv RSS MB",
            "fail/mism",
            "p95<250",
        ],
        [level_row(level) for level in sorted(levels, key=lambda lv: lv.n)],
        [
            "lag = arrival - the audio the server had judged when it sent the message: the message's own end "
            "(Results: start+duration; SpeechStarted: timestamp + its 32 ms frame; UtteranceEnd: the Results it "
            "follows), or the end of an earlier message if later; all messages of all streams, ms",
            "own p95 = p95 of arrival - the message's own end: forced-cut finals (segments > 4 s) end >= 0.8 s "
            f"before the audio they are sent with, by design (CUT_MARGIN); {late_share(levels)}",
            "srv lat = arrival - send time of the chunk that completed that audio (pacing-independent; a "
            "microphone client adds its chunk's fill time, up to 250 ms, on top)",
            "CPU% is of one core (machine% max = 100 x cores); cli = the clients in this process; "
            "srv RSS = peak sampled every 0.5 s",
            "fail = streams that errored or closed with a code other than 1000; mism = final transcript differs "
            "from the in-process run of section 1 (the engine is deterministic)",
            f"each client streams samples back to back (new connection per sample, its own keyterms), "
            f"rotating through the catalog; server workers = {cfg.workers or 'default (4)'}",
            stopped,
            f"largest N with p95 lag < {LAG_GOAL * 1000:.0f} ms (and every smaller N too): {sustained}",
        ],
    )


# --------------------------------------------------------------------------------- 3. speech_final latency


@dataclass
class EndpointTally:
    """speech_final timings for one endpointing setting, gathered over streams."""

    endpointing_ms: int
    ends: int = 0  # true utterance ends seen
    latency: list[float] = field(default_factory=list)  # arrival - true end
    detected: list[float] = field(default_factory=list)  # window end - true end (audio time)
    delivered: list[float] = field(default_factory=list)  # arrival - window end
    early: int = 0  # matched speech_finals whose window ends before the true end
    misses: int = 0
    short_pause_misses: int = 0  # misses followed by a pause shorter than the endpointing
    failures: int = 0

    def add(self, run: StreamRun, truth: Sample) -> None:
        """Match each true utterance end with the first speech_final whose window ends at or after
        it (less END_TOLERANCE) and before the next utterance starts."""
        self.failures += not run.ok
        finals = [(at, m) for at, m in run.arrivals if isinstance(m, Results) and m.speech_final]
        utterances = truth.utterances
        for i, u in enumerate(utterances):
            self.ends += 1
            next_start = utterances[i + 1].start if i + 1 < len(utterances) else float("inf")
            found = next(((at, m) for at, m in finals if u.end - END_TOLERANCE <= m.end < next_start), None)
            if found is None:
                self.misses += 1
                self.short_pause_misses += (next_start - u.end) * 1000 < self.endpointing_ms
                continue
            at, m = found
            self.latency.append(at - u.end)
            self.detected.append(m.end - u.end)
            self.delivered.append(at - m.end)
            self.early += m.end < u.end

    @property
    def goal(self) -> float:
        return self.endpointing_ms / 1000 + ENDPOINT_GOAL_MARGIN

    def row(self) -> list[object]:
        median = pct(self.latency, 50)
        return [
            self.endpointing_ms,
            self.ends,
            f"{len(self.latency)} ({self.early})",
            f"{self.misses} ({self.short_pause_misses})",
            ms(median),
            ms(pct(self.latency, 90)),
            ms(max(self.latency, default=float("nan"))),
            ms(pct(self.detected, 50)),
            ms(pct(self.delivered, 50)),
            self.failures,
            f"{'yes' if median <= self.goal else 'NO'} (<= {ms(self.goal)})",
        ]


async def endpoint_round(url: str, names: Sequence[str], endpointing: int, pacing: str) -> list[StreamRun]:
    """The samples streamed side by side, their send phases spread over one chunk."""
    return await asyncio.gather(
        *(
            paced_stream(
                url,
                name,
                stream_options(name, endpointing=endpointing, wire=True),
                pacing=pacing,
                delay=i * CHUNK_SECONDS / len(names),
            )
            for i, name in enumerate(names)
        )
    )


async def measure_endpointing(cfg: argparse.Namespace) -> None:
    """Section 3: per endpointing setting, rounds of the clean-pause samples streamed side by side."""
    tallies = []
    with ServerProcess(cfg.workers) as server:
        await warm_up(server.url)
        for endpointing in ENDPOINT_SETTINGS:
            tally = EndpointTally(endpointing)
            for _ in range(cfg.rounds):
                for run in await endpoint_round(server.url, cfg.endpoint_samples, endpointing, cfg.pacing):
                    tally.add(run, sample(run.name))
            tallies.append(tally)
            print(f"  ... endpointing={endpointing}: median {ms(pct(tally.latency, 50))} ms", flush=True)
    table(
        f"3. speech_final latency after the true end of speech (real time, pacing={cfg.pacing}, {cfg.rounds} round(s))",
        [
            "endpointing ms",
            "ends",
            "found (early)",
            "missed (pause<ep)",
            "median ms",
            "p90",
            "max",
            "detect p50",
            "deliver p50",
            "fail",
            "median <= ep+100",
        ],
        [tally.row() for tally in tallies],
        [
            f"samples: {', '.join(cfg.endpoint_samples)}; each round streams them side by side "
            f"({len(cfg.endpoint_samples)} concurrent streams), the settings one after another",
            "latency = arrival of the first speech_final whose window ends at or after the true utterance end "
            "(sample JSON) and before the next utterance starts - that true end",
            f"early: matched although the window ends up to {END_TOLERANCE * 1000:.0f} ms before the true end "
            "(the VAD can call the quiet tail of the last word silence; the true end is the last audible sample)",
            "detect = window end - true end (audio time: VAD hangover + endpointing silence, on 32 ms frames); "
            "deliver = arrival - window end",
            "with pacing=start the chunk holding the window end left at its start, so deliver is negative (down to -250 ms); "
            "a microphone client (--pacing end) sends each chunk 250 ms later: add 250 ms to median/p90/max",
            "missed: true ends with no speech_final; (pause<ep) of them are followed by a pause shorter than the "
            "endpointing, where no endpoint is possible by design",
        ],
    )


# --------------------------------------------------------------------------------- 4. memory


async def open_streams(url: str, k: int) -> list[ClientConnection]:
    """K streams, each sent 2 s of its sample and answered with a first Results (transcriber built)."""
    names = [s.name for s in samples()]
    opened = []

    async def one(i: int) -> ClientConnection:
        name = names[i % len(names)]
        ws = await connect(stream_options(name, wire=True).url(url), open_timeout=CONNECT_TIMEOUT)
        opened.append(ws)
        for chunk in wire_chunks(name)[:8]:
            await ws.send(chunk)
        while not isinstance(parse_message(await ws.recv()), Results):
            pass
        return ws

    try:
        return list(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(k))), STREAM_SLACK))
    except BaseException:
        await close_streams(opened)
        raise


async def close_streams(streams: Sequence[ClientConnection]) -> None:
    """CloseStream on every stream, then read each to its close (bounded)."""

    async def one(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "CloseStream"}))
            async for _ in ws:
                pass

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(one(ws) for ws in streams)), STREAM_SLACK)


def python_heap_of_one_stream() -> tuple[int, int]:
    """tracemalloc: Python-visible memory kept by a new transcriber, and the peak over monologue."""
    options, audio = stream_options("monologue"), pcm("monologue")
    StreamTranscriber(options)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        transcriber = StreamTranscriber(options)
        built = tracemalloc.get_traced_memory()[0]
        transcribe(transcriber, audio)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return built, peak


async def measure_memory(cfg: argparse.Namespace) -> None:
    """Section 4: server RSS with 0 and K open streams; tracemalloc of one in-process stream."""
    mb = 2**20
    rows = []
    with ServerProcess(cfg.workers) as server:
        fresh = server.rss()
        await warm_up(server.url)
        await asyncio.sleep(0.5)
        base = server.rss()
        rows.append(["fresh server", "", f"{fresh / mb:.1f}", "", ""])
        rows.append(["after one warm-up stream", 0, f"{base / mb:.1f}", "", ""])
        for k in cfg.memory_streams:
            streams = await open_streams(server.url, k)
            await asyncio.sleep(0.5)  # let the queued audio be processed
            rss = server.rss()
            await close_streams(streams)
            await asyncio.sleep(0.5)
            after = server.rss()
            rows.append(
                [f"{k} streams open", k, f"{rss / mb:.1f}", f"{(rss - base) / k / mb:.2f}", f"{after / mb:.1f}"]
            )
    built, peak = python_heap_of_one_stream()
    table(
        "4. Memory per stream",
        ["server state", "streams", "RSS MB", "per stream MB", "RSS after close MB"],
        rows,
        [
            "per stream = (RSS with K open - RSS after warm-up) / K; each stream had received 2 s of audio and "
            "answered with its first Results",
            "RSS after close: what the allocator keeps after the streams end (reused by later streams)",
            f"tracemalloc, one in-process StreamTranscriber over monologue: {built / mb:.2f} MB kept after "
            f"construction, peak {peak / mb:.2f} MB while streaming (Python/numpy objects only: pocketsphinx "
            "and Silero's native memory is not traced; the RSS figures include it)",
        ],
    )


# --------------------------------------------------------------------------------- main

PROFILES = {
    # name: repeats, levels, window s, concurrency budget s, rounds, endpoint samples, memory streams
    "quick": dict(
        repeats=1,
        levels=(1, 4),
        window=6.0,
        concurrency_budget=25.0,
        rounds=1,
        endpoint_samples=("hello-there", "yes"),
        memory_streams=(4,),
    ),
    "default": dict(
        repeats=3,
        levels=(1, 2, 4, 8, 12, 16, 20, 24),
        window=20.0,
        concurrency_budget=240.0,
        rounds=3,
        endpoint_samples=ENDPOINT_SAMPLES,
        memory_streams=(8, 16),
    ),
    "long": dict(
        repeats=5,
        levels=(1, 2, 4, 8, 12, 16, 20, 24, 28, 32),
        window=40.0,
        concurrency_budget=900.0,
        rounds=6,
        endpoint_samples=ENDPOINT_SAMPLES,
        memory_streams=(8, 16, 24),
    ),
}
SECTIONS = ("rtf", "concurrency", "endpointing", "memory")


def int_list(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke test: fewer levels and rounds (< 60 s)")
    size.add_argument("--long", action="store_true", help="more levels, rounds and repeats (~20 min)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--levels", type=int_list, help="concurrency levels, e.g. 1,4,8 (run until one fails)")
    parser.add_argument("--window", type=float, help="seconds each concurrency level streams for")
    parser.add_argument("--rounds", type=int, help="rounds of the endpointing samples per setting")
    parser.add_argument("--repeats", type=int, help="in-process runs per sample for the real-time factor")
    parser.add_argument("--memory-streams", type=int_list, help="open-stream counts for the RSS figure, e.g. 8,16")
    parser.add_argument(
        "--pacing",
        choices=("start", "end"),
        default="start",
        help="send each chunk at its audio start time (a file streamed in real time, default) "
        "or when its audio is complete (a microphone)",
    )
    parser.add_argument("--workers", type=int, help="server recognition threads (default: the server's own, 4)")
    args = parser.parse_args(argv)
    profile = PROFILES["quick" if args.quick else "long" if args.long else "default"]
    for key, value in profile.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def timed_section(name: str, fn: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = fn()
    print(f"  ({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    started = time.perf_counter()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"dgwidgets engine benchmark - {platform.node()}: {psutil.cpu_count()} cores "
        f"({psutil.cpu_count(logical=False)} physical), Python {platform.python_version()}, load average {load}\n"
        f"chunks {CHUNK_SECONDS * 1000:.0f} ms linear16 16 kHz, pacing={cfg.pacing}, sections: {', '.join(cfg.sections)}",
        flush=True,
    )
    reference: dict[str, str] = {}
    if "rtf" in cfg.sections or "concurrency" in cfg.sections:
        # the concurrency check compares transcripts with the in-process run, so it needs section 1
        reference = timed_section("rtf", lambda: measure_rtf(cfg.repeats))  # type: ignore[assignment]
    if "concurrency" in cfg.sections:
        timed_section("concurrency", lambda: asyncio.run(measure_concurrency(cfg, reference)))
    if "endpointing" in cfg.sections:
        timed_section("endpointing", lambda: asyncio.run(measure_endpointing(cfg)))
    if "memory" in cfg.sections:
        timed_section("memory", lambda: asyncio.run(measure_memory(cfg)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
