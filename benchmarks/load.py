"""Classroom load on real speech: how many students can one `dgwidgets serve` carry?

For each model (the default whisper-tiny.en and pocketsphinx) and each N in 1, 2, 4, 8, 12, 16, 20,
a fresh server process (so that its decoder pool's figures are the level's own) takes N students.
Each student streams real speech (the evaluation set's clips back to back, each student starting
at a different clip, no keyterms) like a microphone: 100 ms linear16 chunks, each sent at the
moment its last sample has been spoken. Per level it prints the message lag (arrival minus the
end of the audio the message covers; p50/p95/max over every Results of every student), interims
skipped by the decoder pool (its summary logged at stop), the server's CPU (% of one core) and
peak RSS, failures, and "changed": students whose final transcript differs from an unloaded
in-process run of the same audio (load must never change a final).

Bounded: a level whose p95 lag passes ``--give-up`` (2 s) ends that model's levels, and the run
stops at ``--budget`` seconds. Run from the repository root:

    .venv/bin/python benchmarks/load.py            # up to ~8 minutes
    .venv/bin/python benchmarks/load.py --quick    # N = 1, 4 for 8 s each (< 2 min)
    .venv/bin/python benchmarks/load.py --levels 12,16 --window 30 --models whisper-tiny.en
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

import numpy as np
import psutil

from dgwidgets.engine.transcriber import StreamTranscriber
from dgwidgets.protocol import Results

if __package__:
    from . import realtime as rt
else:
    import realtime as rt

DEFAULT_LEVELS = (1, 2, 4, 8, 12, 16, 20)
MODELS = ("whisper-tiny.en", "pocketsphinx")
CHUNK_S = 0.1
GAP_S = 0.4  # silence between two clips of a student's stream
TAIL_S = 1.5  # silence at the end, so the last utterance ends by endpointing, not by CloseStream
LAG_GOAL = 0.250


def student_audio(index: int, window: float) -> np.ndarray:
    """Student ``index``'s stream: the clips back to back from clip ``index``, cut to ``window`` s at a gap."""
    clips, _ = rt.real_clips()
    gap = np.zeros(int(GAP_S * rt.SAMPLE_RATE), np.int16)
    parts, seconds, k = [], 0.0, index
    while seconds < window:
        clip = clips[k % len(clips)]
        parts += [clip.pcm, gap]
        seconds += clip.duration + GAP_S
        k += 1
    parts.append(np.zeros(int(TAIL_S * rt.SAMPLE_RATE), np.int16))
    return np.concatenate(parts)


def unloaded_finals(model: str, audio: np.ndarray) -> list[str]:
    """The finals of an in-process run (decodes in this thread, no server, no load)."""
    transcriber = StreamTranscriber(rt.options_for(model))
    step, out = int(CHUNK_S * rt.SAMPLE_RATE), []
    for i in range(0, audio.size, step):
        out += transcriber.feed(audio[i : i + step])
    out += transcriber.close()
    return [m.transcript for m in out if isinstance(m, Results) and m.is_final and m.transcript]


async def run_level(server: rt.ServerProcess, model: str, audios: Sequence[np.ndarray]) -> tuple[list, dict, int]:
    peak = [server.rss()]
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], server.rss())
            await asyncio.sleep(0.5)

    # Warm-up: the first stream pays for the aligner's and recognizer's first use, not load.
    clip = min(rt.real_clips()[0], key=lambda c: c.duration)
    await rt.stream_pcm(server.url, "warm-up", clip.pcm, rt.options_for(model), chunk_s=CHUNK_S)
    watcher = asyncio.create_task(watch())
    cpu0, wall0, machine0 = server.cpu_seconds(), time.perf_counter(), psutil.cpu_times()
    runs = await asyncio.gather(
        *(rt.stream_pcm(server.url, f"student{i}", a, rt.options_for(model), chunk_s=CHUNK_S) for i, a in enumerate(audios))
    )
    wall = time.perf_counter() - wall0
    machine1 = psutil.cpu_times()
    idle = (machine1.idle + machine1.iowait) - (machine0.idle + machine0.iowait)
    cpu = {
        "server": 100 * (server.cpu_seconds() - cpu0) / wall,
        "machine": 100 * max((psutil.cpu_count() or 1) * wall - idle, 0) / wall,
    }
    done.set()
    await watcher
    return runs, cpu, peak[0]


def measure(cfg: argparse.Namespace) -> list[list[object]]:
    started, rows = time.perf_counter(), []
    references: dict[tuple[str, int], list[str]] = {}
    for model in cfg.models:
        for n in cfg.levels:
            if time.perf_counter() - started + cfg.window + 10 > cfg.budget:
                print(f"  ... {model} N={n}: skipped, time budget of {cfg.budget:.0f} s", flush=True)
                break
            audios = [student_audio(i, cfg.window) for i in range(n)]
            with rt.ServerProcess(cfg.workers, cfg.whisper_model, cfg.interim_budget) as server:
                runs, cpu, peak = asyncio.run(run_level(server, model, audios))
            stats = rt.pool_stats(server.stderr)
            changed = 0
            distinct = len(rt.real_clips()[0])
            for i, run in enumerate(runs[: cfg.check]):
                key = (model, i % distinct)
                if key not in references:
                    references[key] = unloaded_finals(model, audios[i])
                changed += run.ok and run.finals() != references[key]
            lags = [lag for run in runs for lag in run.lags()]
            p95 = rt.pct(lags, 95)
            skipped = "-" if not stats or model == "pocketsphinx" else f"{stats['skipped']}/{stats['skipped'] + stats['interims']}"
            rows.append(
                [
                    model, n, len(lags), rt.ms(rt.pct(lags, 50)), rt.ms(p95), rt.ms(max(lags, default=float("nan"))),
                    skipped, f"{cpu['server']:.0f}", f"{cpu['machine']:.0f}", f"{peak / rt.MB:.0f}",
                    sum(not r.ok for r in runs), f"{changed}/{min(n, cfg.check)}", "yes" if p95 <= LAG_GOAL else "no",
                ]
            )
            print(f"  ... {model} N={n}: lag p95 {rt.ms(p95)} ms, server CPU {cpu['server']:.0f}%, skipped {skipped}", flush=True)
            if p95 > cfg.give_up:
                print(f"  ... {model}: p95 lag past {cfg.give_up:.0f} s at N={n}, larger classes not tried", flush=True)
                break
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1, 4 for 8 s each (< 2 min)")
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--window", type=float, default=None, help="seconds of speech per student (default 20)")
    parser.add_argument("--models", type=lambda s: s.split(","), default=list(MODELS))
    parser.add_argument("--workers", type=int, default=None, help="server decode threads (default: its cores)")
    parser.add_argument("--whisper-model", default=None, help="a CTranslate2 Whisper directory for the server")
    parser.add_argument(
        "--interim-budget", type=float, default=None, help="the server's --interim-budget (default: its own, 0.2 s)"
    )
    parser.add_argument("--give-up", type=float, default=2.0, help="end a model's levels past this p95 lag (s)")
    parser.add_argument("--budget", type=float, default=None, help="seconds for all levels (default 600)")
    parser.add_argument("--check", type=int, default=3, help="students per level whose finals are compared")
    cfg = parser.parse_args(argv)
    cfg.levels = cfg.levels or ([1, 4] if cfg.quick else list(DEFAULT_LEVELS))
    cfg.window = cfg.window or (8.0 if cfg.quick else 20.0)
    cfg.budget = cfg.budget or (110.0 if cfg.quick else 600.0)
    clips, source = rt.real_clips()
    print(f"dgwidgets classroom load on real speech - {rt.machine_line()}\n{len(clips)} clips ({source}); "
          f"{cfg.window:.0f} s of speech per student, 100 ms chunks sent when spoken, loopback", flush=True)
    t0 = time.perf_counter()
    rows = measure(cfg)
    rt.table(
        "Students on one server process (real speech, no keyterms)",
        ["model", "N", "msgs", "lag p50", "p95", "max", "interims skipped", "srv CPU%", "machine%",
         "srv RSS MB", "fail", "changed", "p95<=250"],
        rows,
        [
            "lag = arrival - end of the audio the message covers (the audio clock starts at the first sample), ms",
            "interims skipped = dropped by the decoder pool under load / all interims asked for (its log at stop); "
            "pocketsphinx has no pool",
            f"CPU% of one core (machine max {100 * (psutil.cpu_count() or 1)}%); RSS = peak, sampled every 0.5 s",
            "changed = checked students whose finals differ from an unloaded in-process run of the same audio",
            f"{rt.machine_line()} at the end",
        ],
    )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
