"""Shared machinery of the real-speech benchmarks (`recognition.py`, `load.py`).

- `real_clips()`: the real-speech evaluation set (`dgwidgets.samples.real_speech()` when it
  exists, else the small set in tests/data/real/, whose reference word times then come from
  pocketsphinx's forced alignment of the checked transcript: a fallback, said so in the output).
- `ServerProcess`: `python -m dgwidgets serve --port 0` in a subprocess (its CPU and RSS are its
  own), stopped with SIGINT so that it logs its decoder pool's summary, which `pool_stats()` reads.
- `stream_pcm()`: one microphone-like client: chunk k of ``chunk_s`` is sent at the moment its
  last sample would have been captured (t0 + (k + 1) * chunk_s, "pacing end"); t0 is when the
  websocket opened, the stream's one clock. Lag of a message = its arrival minus the end of the
  audio the server had judged when it sent it (the message's own end, or an earlier message's
  if later: a forced-cut final ends before the audio it is sent with, by design).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import platform
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from dgwidgets.protocol import LiveOptions, Message, Results, parse_message

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16_000
MB = 2**20


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f}"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]], notes: Sequence[str] = ()) -> None:
    """A plain-text table, first column left-aligned, with notes below."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print(f"\n{title}\n{'=' * len(title)}\n{line(cells[0])}\n{'  '.join('-' * w for w in widths)}")
    for r in cells[1:]:
        print(line(r))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else what the platform says): figures vary with it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{psutil.cpu_count()} cores ({cpu_model()}), load average {load} "
        "(other work on the machine competes for them)"
    )


# --------------------------------------------------------------------------------- the evaluation set


@dataclass(frozen=True)
class Clip:
    """One real recording: 16 kHz int16 audio, its reference words and their times (seconds)."""

    name: str
    pcm: np.ndarray
    words: tuple[tuple[str, float, float], ...]  # (word, start, end)

    @property
    def text(self) -> str:
        return " ".join(w for w, _, _ in self.words)

    @property
    def duration(self) -> float:
        return self.pcm.size / SAMPLE_RATE

    def speech_ends(self, min_pause: float) -> list[tuple[float, float]]:
        """(true end of speech, next word's start or +inf) for every pause >= ``min_pause`` and the last word."""
        out = []
        for (_, _, end), (_, nxt, _) in zip(self.words, self.words[1:]):
            if nxt - end >= min_pause:
                out.append((end, nxt))
        if self.words:
            out.append((self.words[-1][2], float("inf")))
        return out


def _read(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="int16", always_2d=False)
    if rate != SAMPLE_RATE or audio.ndim != 1:
        raise ValueError(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {audio.shape}")
    return audio


def _field(item: object, *names: str) -> object:
    for n in names:
        if isinstance(item, dict) and n in item:
            return item[n]
        if hasattr(item, n):
            return getattr(item, n)
    return None


@functools.cache
def real_clips() -> tuple[tuple[Clip, ...], str]:
    """The real-speech set and where its reference times come from."""
    try:
        from dgwidgets.samples import real_speech  # the evaluation set (branch realspeech)
    except ImportError:
        real_speech = None
    if real_speech is not None:
        clips = []
        for item in real_speech():
            path = _field(item, "path", "audio_path")
            words = []
            for w in _field(item, "words") or ():
                words.append((str(_field(w, "word", "text")), float(_field(w, "start")), float(_field(w, "end"))))
            name = str(_field(item, "name") or Path(str(path)).stem)
            if words:
                clips.append(Clip(name, _read(Path(str(path))), tuple(words)))
        return tuple(clips), "the set's reference word timings (dgwidgets.samples.real_speech)"
    from dgwidgets.engine.alignment import ForcedAligner

    folder = REPO / "tests" / "data" / "real"
    transcripts = json.loads((folder / "transcripts.json").read_text())
    aligner, clips = ForcedAligner(), []
    for fname, text in sorted(transcripts.items()):
        if not text:
            continue
        audio = _read(folder / fname)
        times = aligner.align(audio, text.split())
        if times is None:
            continue
        clips.append(Clip(Path(fname).stem, audio, tuple((w, s, e) for w, (s, e) in zip(text.split(), times))))
    return tuple(clips), "FALLBACK tests/data/real/ with pocketsphinx forced alignment of the transcript as reference"


# --------------------------------------------------------------------------------- the server process


POOL_LINE = re.compile(
    r"decoder pool: (\d+) finals, (\d+) interims decoded in (\d+) batches \(mean ([\d.]+)\); "
    r"(\d+) interims skipped under load; queue wait p95 (\d+) ms"
)


class ServerProcess:
    """`python -m dgwidgets serve --port 0` in a subprocess; `stop()` (SIGINT) makes it log its pool stats."""

    def __init__(
        self, workers: int | None = None, whisper_model: str | None = None, interim_budget: float | None = None
    ) -> None:
        self.workers, self.whisper_model, self.interim_budget = workers, whisper_model, interim_budget
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.load_seconds = 0.0
        self._stderr = tempfile.TemporaryFile()
        self.stderr = ""

    def __enter__(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "dgwidgets", "serve", "--port", "0"]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        if self.whisper_model:
            cmd += ["--whisper-model", self.whisper_model]
        if self.interim_budget:
            cmd += ["--interim-budget", str(self.interim_budget)]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the server did not start: {line!r} {self.stderr[-2000:]}")
        self.load_seconds = time.perf_counter() - t0
        self.url = line.split("listening on ", 1)[1].strip()
        self.ps = psutil.Process(self.proc.pid)
        return self

    def stop(self) -> str:
        """Stop the server (SIGINT: a clean stop that logs the pool summary); returns its stderr."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._stderr.closed:
            self._stderr.seek(0)
            self.stderr = self._stderr.read().decode(errors="replace")
            self._stderr.close()
        return self.stderr

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _family(self) -> list[psutil.Process]:
        """The server and its worker processes (its forced aligner runs in one)."""
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return [self.ps]

    def cpu_seconds(self) -> float:
        """CPU seconds of the server and its live worker processes."""
        total = 0.0
        for proc in self._family():
            with contextlib.suppress(psutil.NoSuchProcess):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    def rss(self) -> int:
        """Resident memory of the server and its worker processes."""
        total = 0
        for proc in self._family():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total


def pool_stats(stderr: str) -> dict[str, float] | None:
    """The decoder pool summary the server logs at stop (None: no Whisper pool ran)."""
    found = POOL_LINE.findall(stderr)
    if not found:
        return None
    finals, interims, batches, mean, skipped, wait = found[-1]
    return {
        "finals": int(finals),
        "interims": int(interims),
        "batches": int(batches),
        "mean_batch": float(mean),
        "skipped": int(skipped),
        "wait_p95": int(wait) / 1000,
    }


# --------------------------------------------------------------------------------- a real-time client


@dataclass
class Run:
    """One stream: messages with arrival times (seconds since the websocket opened, the audio clock)."""

    name: str
    duration: float
    arrivals: list[tuple[float, Message]] = field(default_factory=list)
    close_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.close_code == 1000

    def results(self) -> list[tuple[float, Results]]:
        return [(t, m) for t, m in self.arrivals if isinstance(m, Results)]

    def lags(self) -> list[float]:
        """Arrival minus the audio the server had judged when it sent each Results (see module docs)."""
        out, reached = [], 0.0
        for t, m in self.results():
            reached = max(reached, m.start + m.duration)
            out.append(t - reached)
        return out

    def finals(self) -> list[str]:
        return [m.transcript for _, m in self.results() if m.is_final and m.transcript]


async def stream_pcm(
    url: str, name: str, pcm: np.ndarray, options: LiveOptions, *, chunk_s: float = 0.1, slack: float = 30.0
) -> Run:
    """Stream ``pcm`` like a microphone (each chunk sent once its audio has been spoken); never raises."""
    run = Run(name, pcm.size / SAMPLE_RATE)
    step = int(round(chunk_s * SAMPLE_RATE))
    chunks = [pcm[i : i + step].astype("<i2").tobytes() for i in range(0, pcm.size, step)]

    async def send(ws, t0: float) -> None:
        for k, chunk in enumerate(chunks):
            delay = t0 + min((k + 1) * step, pcm.size) / SAMPLE_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(chunk)
        await ws.send(json.dumps({"type": "CloseStream"}))

    async def go() -> None:
        async with connect(options.url(url), open_timeout=10, close_timeout=5, max_size=None) as ws:
            t0 = time.perf_counter()
            sender = asyncio.create_task(send(ws, t0))
            try:
                async for text in ws:
                    run.arrivals.append((time.perf_counter() - t0, parse_message(text)))
            finally:
                if not sender.done():
                    sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await sender
        run.close_code = ws.close_code

    try:
        await asyncio.wait_for(go(), run.duration + slack)
    except (OSError, ConnectionClosed, InvalidHandshake, asyncio.TimeoutError) as err:
        run.error = f"{type(err).__name__}: {err}"
    return run


def options_for(model: str, *, endpointing: int = 300, interim: bool = True) -> LiveOptions:
    """The benchmarks' options: raw linear16 16 kHz, interims, VAD events, no keyterms."""
    return LiveOptions(
        model=model,
        encoding="linear16",
        sample_rate=SAMPLE_RATE,
        interim_results=interim,
        endpointing=endpointing,
        vad_events=True,
    )
