"""Classroom load: how many students can one machine serve with one `dgwidgets serve`?

For each N in a list (default 1, 2, 4, 6, 8, 10, 12), N clients stream the samples paced in real
time (back to back, a new connection per sample, like students pressing Start) to ONE server
process on loopback, for a fixed window. Per N it prints the message lag (p50/p95/max), the
server's CPU (% of one core) and peak RSS, the machine's CPU, the clients connected at once
(sampled from the server's sockets), failures and transcript changes, then a verdict: the largest
N whose p95 lag stays under 250 ms, and what to move off the machine past it.

The streaming, timing and server-process machinery is `benchmarks/engine.py`'s (section 2, the
concurrency test), imported, not copied; lag is defined there (and in benchmarks/README.md).
Bounded: at most the listed levels, each its window plus a bounded drain, within `--budget`
seconds; a level whose p95 lag is past `--give-up` ends the run (larger N only queue more).

    .venv/bin/python benchmarks/load.py            # about 4 minutes
    .venv/bin/python benchmarks/load.py --quick    # smoke test, under a minute
    .venv/bin/python benchmarks/load.py --levels 8,9,10 --window 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import platform
import sys
import time
from collections.abc import Sequence

import psutil

from dgwidgets.engine.transcriber import StreamTranscriber
from dgwidgets.samples import samples

if __package__:  # imported as benchmarks.load
    from . import engine
else:  # run as a script: benchmarks/ is on sys.path
    import engine

DEFAULT_LEVELS = (1, 2, 4, 6, 8, 10, 12)
PROFILES = {
    "quick": dict(levels=(1, 4), window=6.0, budget=50.0),
    "default": dict(levels=DEFAULT_LEVELS, window=20.0, budget=300.0),
}
#: A level this far past the goal ends the run: larger N would only queue more, for longer.
GIVE_UP_LAG = 2.0
MB = 2**20


def reference_transcripts() -> dict[str, str]:
    """Each sample's final transcript from an in-process run: load must never change it."""
    return {
        s.name: engine.final_text(
            engine.transcribe(StreamTranscriber(engine.stream_options(s.name)), engine.pcm(s.name))
        )
        for s in samples()
    }


def listening_addresses(server: engine.ServerProcess) -> list[str]:
    return sorted({c.laddr.ip for c in server.ps.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN})


async def watch_clients(server: engine.ServerProcess, peak: list[int], stop: asyncio.Event) -> None:
    """The most client connections the server held at once (its established sockets, every 0.5 s)."""
    while not stop.is_set():
        established = [c for c in server.ps.net_connections(kind="tcp") if c.status == psutil.CONN_ESTABLISHED]
        peak[0] = max(peak[0], len(established))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def measure(cfg: argparse.Namespace) -> tuple[list[engine.Level], dict[int, int], str]:
    reference = reference_transcripts()
    levels: list[engine.Level] = []
    clients: dict[int, int] = {}
    stopped = "tried every listed level"
    started = time.perf_counter()
    with engine.ServerProcess(cfg.workers) as server:
        addresses = listening_addresses(server)
        if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise RuntimeError(f"the server must listen on loopback only, it listens on {addresses}")
        print(f"server {server.url} (pid {server.proc.pid}), listening on {', '.join(addresses)} only", flush=True)
        await engine.warm_up(server.url)
        for n in cfg.levels:
            if time.perf_counter() - started + cfg.window + 5 > cfg.budget:
                stopped = f"stopped before N={n}: time budget of {cfg.budget:.0f} s"
                break
            peak, stop = [0], asyncio.Event()
            watcher = asyncio.create_task(watch_clients(server, peak, stop))
            try:
                level = await engine.run_level(server, n, cfg.window, cfg.pacing, reference)
            finally:
                stop.set()
                await watcher
            levels.append(level)
            clients[n] = peak[0]
            print(
                f"  ... N={n}: p95 lag {engine.ms(level.p95_lag)} ms, server CPU {level.cpu['server']:.0f}%, "
                f"{peak[0]} connected at once, {level.failures} failed",
                flush=True,
            )
            if level.p95_lag > cfg.give_up:
                stopped = f"stopped after N={n}: p95 lag past {cfg.give_up:.0f} s, larger N only queue more"
                break
            await asyncio.sleep(1.0)  # let the server finish closing before the next level's clock starts
    return levels, clients, stopped


def row(level: engine.Level, clients: int) -> list[object]:
    lags = [t.lag for t in level.timed]
    return [
        level.n,
        clients,
        len(level.runs),
        len(lags),
        engine.ms(engine.pct(lags, 50)),
        engine.ms(engine.pct(lags, 95)),
        engine.ms(max(lags, default=float("nan"))),
        f"{level.cpu['server']:.0f}",
        f"{level.cpu['clients']:.0f}",
        f"{level.cpu['machine']:.0f}",
        f"{level.peak_rss / MB:.0f}",
        level.failures,
        level.mismatches,
        "yes" if level.passed else "NO",
    ]


def verdict(levels: Sequence[engine.Level], cores: int) -> str:
    by_n = {level.n: level for level in levels}
    best = engine.sustained_level(levels)
    failed = sorted(level.n for level in levels if not level.passed)
    goal = f"{engine.LAG_GOAL * 1000:.0f} ms"
    if not best:
        head = f"Verdict: on this {cores}-core machine not even one real-time stream kept its p95 lag under {goal}"
    else:
        b = by_n[best]
        head = (
            f"Verdict: one {cores}-core machine carries {best} real-time students with p95 lag < {goal} "
            f"(p95 {engine.ms(b.p95_lag)} ms at N={best}; server {b.cpu['server']:.0f}% of one core, "
            f"{b.peak_rss / MB:.0f} MB RSS; no failures, transcripts unchanged)"
        )
    if failed:
        f = by_n[failed[0]]
        past = (
            f"; past that the lag grows quickly (N={f.n}: p95 {engine.ms(f.p95_lag)} ms, server "
            f"{f.cpu['server']:.0f}% of one core)"
        )
    else:
        past = f"; larger classes were not measured (the last level tried was N={max(by_n, default=0)})"
    return (
        head + past + ". The limit is one core, not memory: pocketsphinx holds the GIL, so one server process does "
        "about one core's work however many workers it has, and the students' kernels need the other. "
        "Past that, move recognition to Deepgram's cloud (the same notebooks, with DEEPGRAM_API_KEY: no "
        "recognition on the machine at all) and the notebooks to JupyterHub (a kernel per student, spread "
        "over as many machines as the class needs); a second `dgwidgets serve` per spare core or machine "
        "stretches the local engine a little further."
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: N = 1, 4 for 6 s each (< 60 s)")
    parser.add_argument("--levels", type=engine.int_list, help="numbers of students, e.g. 1,2,4,6,8,10,12")
    parser.add_argument("--window", type=float, help="seconds each level streams for (default 20)")
    parser.add_argument("--budget", type=float, help="seconds the levels may take in all (default 300)")
    parser.add_argument("--give-up", type=float, default=GIVE_UP_LAG, help="end the run past this p95 lag (s)")
    parser.add_argument("--pacing", choices=("start", "end"), default="start", help="as in benchmarks/engine.py")
    parser.add_argument("--workers", type=int, help="server recognition threads (default: the server's own, 4)")
    args = parser.parse_args(argv)
    for key, value in PROFILES["quick" if args.quick else "default"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not args.levels or min(args.levels) < 1 or len(args.levels) > 20 or max(args.levels) > 64:
        parser.error("--levels: 1 to 20 levels, each 1..64 students")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    started = time.perf_counter()
    cores = psutil.cpu_count() or 1
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"dgwidgets classroom load - {platform.node()}: {cores} cores, Python {platform.python_version()}, "
        f"load average {load}\nN students each stream the samples in real time to one `dgwidgets serve` "
        f"({cfg.window:.0f} s per level, 250 ms linear16 chunks, pacing={cfg.pacing}, loopback only)",
        flush=True,
    )
    levels, clients, stopped = asyncio.run(measure(cfg))
    engine.table(
        f"Students served by one server process ({cfg.window:.0f} s per level)",
        [
            "N",
            "connected",
            "streams",
            "msgs",
            "lag p50",
            "p95",
            "max",
            "srv CPU%",
            "cli CPU%",
            "machine%",
            "srv RSS MB",
            "fail",
            "changed",
            "p95<250",
        ],
        [row(level, clients[level.n]) for level in levels],
        [
            "lag = arrival - the audio the server had judged when it sent the message (benchmarks/README.md), "
            "over all messages of all streams, ms",
            "connected = most client websockets the server held at once (sampled every 0.5 s); streams = "
            "sessions in the level (each student streams samples back to back, a new connection per sample)",
            f"CPU% of one core (machine% max = {100 * cores}); cli = the N clients in this process; "
            "srv RSS = peak sampled every 0.5 s",
            "fail = streams that errored or closed with a code other than 1000; changed = final transcript "
            "differs from an in-process run of the same sample",
            stopped,
        ],
    )
    print(f"\n{verdict(levels, cores)}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
