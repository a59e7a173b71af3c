"""Benchmarks of the results table and the word-timing plot (kernel side, no browser).

Four measurements, each printed as a plain-text table:

1. Kernel CPU per received message: the pure view-models (TableModel + TimelineModel `add`) and
   the widgets (`ResultsTable.append`, `WordTimeline.append`, which only records and marks dirty).
2. CPU of one coalesced redraw of the plot holding N finalized words (N = 100, 1000, 5000): after
   an interim (only the interim lane and windows are resent), after a final (the words lane too),
   and with `window_seconds=60` (only the last minute is drawn, whatever N).
3. Sustained throughput: messages per second both widgets absorb on a running asyncio loop while
   the plot redraws at 10 Hz (a session of 10 minutes already shown).
4. Memory (tracemalloc) after a simulated one-hour session (3600 interims, 900 finals, SpeechStarted
   and UtteranceEnd events), at 15 and 60 minutes: what stays bounded and what grows.

What the browser does with the updates (the page redraws ~30/s on 2 cores) is not measured here;
DESIGN.md has those figures. Run from the repository root (about a minute):

    .venv/bin/python benchmarks/widgets.py
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotly  # noqa: E402

from dgwidgets.protocol import Alternative, Results, SpeechStarted, UtteranceEnd, Word  # noqa: E402
from dgwidgets.session import Received, SessionLog  # noqa: E402
from dgwidgets.utterances import SpeechFinal  # noqa: E402
from dgwidgets.widgets.table import ResultsTable  # noqa: E402
from dgwidgets.widgets.timeline import WordTimeline  # noqa: E402
from dgwidgets.widgets.viewmodels import TableModel, TimelineModel  # noqa: E402

SEGMENT = 4.0  # seconds of speech per final
WORDS_PER_SEGMENT = 10
VOCABULARY = "yeah so my credit card number is two three four five six seven eight nine".split()


def simulated_session(seconds: float) -> SessionLog:
    """A stream shaped like a long dictation: per 4 s segment, 4 growing interims (one a second),
    one final of 10 words (every third one speech_final, followed by an UtteranceEnd), and a
    SpeechStarted at its first word. One hour: 3600 interims, 900 finals, 900 + 300 events."""
    log = SessionLog(source="benchmark:simulated")
    segments = int(seconds // SEGMENT)
    for s in range(segments):
        start = s * SEGMENT
        words = []
        for k in range(WORDS_PER_SEGMENT):
            w_start = start + 0.1 + k * 0.38
            text = VOCABULARY[(s * 7 + k) % len(VOCABULARY)]
            words.append(Word(text, round(w_start, 3), round(w_start + 0.3, 3), 0.8 + 0.02 * (k % 10)))
        log.append(SpeechStarted(start + 0.1), start + 0.3)
        for i in range(1, 5):
            cut = start + i * (SEGMENT / 4) - 0.05
            shown = tuple(w for w in words if w.start < cut)
            text = " ".join(w.word for w in shown)
            log.append(Results(start, cut - start, False, False, (Alternative(text, 0.9, shown),)), cut)
        speech_final = s % 3 == 2
        text = " ".join(w.word for w in words)
        end = start + SEGMENT
        log.append(Results(start, SEGMENT, True, speech_final, (Alternative(text, 0.9, tuple(words)),)), end)
        if speech_final:
            log.append(UtteranceEnd(words[-1].end), end + 0.05)
    return log


def cpu(fn: Callable[[], object], repeat: int = 1) -> float:
    """CPU seconds per call (process time: what the kernel spends, not waiting)."""
    gc.collect()
    started = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - started) / repeat


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


# ------------------------------------------------------------------------------------ 1. per message


def per_message(log: SessionLog) -> None:
    entries = log.entries
    n = len(entries)

    def models() -> None:
        tm, tl = TableModel(max_rows=200), TimelineModel()
        for entry in entries:
            tm.add(entry)
            tl.add(entry)

    def table_only() -> None:
        tm = TableModel(max_rows=200)
        for entry in entries:
            tm.add(entry)

    def timeline_only() -> None:
        tl = TimelineModel()
        for entry in entries:
            tl.add(entry)

    rt = ResultsTable(max_rows=200)
    wt = WordTimeline()

    def widgets_append() -> None:
        rt.clear()
        wt.clear()
        for entry in entries:
            rt.append(entry)
            wt.append(entry)

    def results_table(max_rows: int) -> Callable[[], None]:
        def run() -> None:
            t = ResultsTable(max_rows=max_rows)
            for entry in entries:
                t.append(entry)
            t.close()

        return run

    def timeline_append() -> None:
        wt.clear()
        for entry in entries:
            wt.append(entry)

    rows = [
        ["TableModel.add", us(cpu(table_only) / n)],
        ["TimelineModel.add", us(cpu(timeline_only) / n)],
        ["both view-models", us(cpu(models) / n)],
        ["ResultsTable.append, no loop: synced each time (max_rows=200)", us(cpu(results_table(200)) / n)],
        ["ResultsTable.append, no loop: synced each time (max_rows=50)", us(cpu(results_table(50)) / n)],
        ["ResultsTable.append in a running loop (sync coalesced)", us(asyncio.run(coalesced_table(entries)) / n)],
        ["WordTimeline.append (no redraw)", us(cpu(timeline_append) / n)],
        ["ResultsTable + WordTimeline append, no loop", us(cpu(widgets_append) / n)],
    ]
    rt.close()
    wt.close()
    table(f"1. Kernel CPU per message ({n} messages of a 15-minute session)", ["what", "CPU per message"], rows)


async def coalesced_table(entries: list[Received]) -> float:
    """CPU of appending every entry inside a running loop, including the coalesced syncs."""
    widget = ResultsTable(max_rows=200)
    gc.collect()
    started = time.process_time()
    for i, entry in enumerate(entries):
        widget.append(entry)
        if i % 50 == 0:
            await asyncio.sleep(0)  # messages arrive over time: let pending syncs run
    widget.refresh()
    used = time.process_time() - started
    widget.close()
    return used


# ------------------------------------------------------------------------------------- 2. per redraw


def per_redraw() -> None:
    rows = []
    for words in (100, 1000, 5000):
        seconds = words / WORDS_PER_SEGMENT * SEGMENT
        log = simulated_session(seconds)
        utterances = {"speech_final": SpeechFinal().run(log)}
        for window in (None, 60.0):
            plot = WordTimeline(window_seconds=window)
            started = time.process_time()
            plot.load(log, utterances)
            full = time.process_time() - started
            t = seconds
            interim_cost, final_cost = [], []
            for i in range(10):
                # one interim of a new segment, then its final
                seg = t + i * SEGMENT
                w = (Word("next", seg + 0.1, seg + 0.4, 0.9),)
                interim = Results(seg, 1.0, False, False, (Alternative("next", 0.9, w),))
                final = Results(seg, SEGMENT, True, False, (Alternative("next", 0.9, w),))
                plot.append(Received(seg + 1.0, interim))
                interim_cost.append(cpu(plot.refresh))
                plot.append(Received(seg + SEGMENT, final))
                final_cost.append(cpu(plot.refresh))
            rows.append(
                [
                    f"{len(plot.model.words) - 10:>5} words" + (f", window {window:.0f} s" if window else ""),
                    ms(full),
                    ms(sorted(interim_cost)[len(interim_cost) // 2]),
                    ms(sorted(final_cost)[len(final_cost) // 2]),
                    str(len(plot.figure.data)),
                ]
            )
            plot.close()
    table(
        "2. CPU of one coalesced redraw (median of 10; one batch_update message each)",
        ["plot holding", "first draw", "after an interim", "after a final", "traces"],
        rows,
    )


# ---------------------------------------------------------------------------------- 3. throughput


async def sustained(shown_seconds: float = 600, run_seconds: float = 3.0) -> None:
    base = simulated_session(shown_seconds)
    hour = [e for e in simulated_session(3600).entries if isinstance(e.message, (Results, UtteranceEnd, SpeechStarted))]

    def stream():
        # The stream goes on after what is shown, an hour at a time, for as long as asked.
        offset = shown_seconds + SEGMENT
        while True:
            for e in hour:
                yield Received(e.at + offset, _shifted(e.message, offset))
            offset += 3600

    rows = []
    for label, window in (("whole session drawn", None), ("window_seconds=60", 60.0)):
        rt = ResultsTable(max_rows=200)
        plot = WordTimeline(max_fps=10, window_seconds=window)
        rt.extend(base)
        plot.load(base)
        redraws = plot.redraws
        loop = asyncio.get_running_loop()
        source = stream()
        started, cpu_started = loop.time(), time.process_time()
        count = 0
        while loop.time() - started < run_seconds:
            for entry in itertools.islice(source, 20):
                rt.append(entry)
                plot.append(entry)
            count += 20
            await asyncio.sleep(0)  # let scheduled redraws run, as a live stream would
        elapsed = loop.time() - started
        cpu_used = time.process_time() - cpu_started
        redraw_rate = (plot.redraws - redraws) / elapsed
        rows.append(
            [
                label,
                f"{count / elapsed:,.0f}",
                f"{redraw_rate:.1f}",
                f"{cpu_used / elapsed:.0%}",
                str(len(plot.model.words)),
            ]
        )
        rt.close()
        plot.close()
    table(
        f"3. Sustained: messages/s absorbed by ResultsTable + WordTimeline on a running loop, the table\n"
        f"   synced at most 20/s and the plot redrawn at most 10/s ({shown_seconds / 60:.0f} min shown first, {run_seconds:.0f} s run)",
        ["plot", "messages/s", "redraws/s", "CPU", "words at the end"],
        rows,
    )
    print("   (a live stream sends ~1.3 messages/s: interims once a second, a final every few seconds)")


def _shifted(message, offset: float):
    if isinstance(message, Results):
        words = tuple(Word(w.word, w.start + offset, w.end + offset, w.confidence) for w in message.words)
        return Results(
            message.start + offset,
            message.duration,
            message.is_final,
            message.speech_final,
            (Alternative(message.transcript, message.confidence, words),),
        )
    if isinstance(message, UtteranceEnd):
        return UtteranceEnd(message.last_word_end + offset)
    return SpeechStarted(message.timestamp + offset)


# ---------------------------------------------------------------------------------------- 4. memory


def measure(build: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    before = tracemalloc.take_snapshot()
    keep = build()
    gc.collect()
    after = tracemalloc.take_snapshot()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return size / 1e6, keep


def memory() -> None:
    rows = []
    tracemalloc.start()
    for minutes in (15, 60):
        log = simulated_session(minutes * 60)
        counts = {
            "interims": sum(not r.is_final for r in log.results()),
            "finals": len(log.finals()),
            "events": len(log) - len(log.results()),
        }
        log_mb, _ = measure(lambda m=minutes: simulated_session(m * 60))

        def table_model(log=log):
            model = TableModel(max_rows=200)
            model.extend(log)
            return model

        def timeline_model(log=log):
            model = TimelineModel()
            model.extend(log)
            return model

        def results_table(log=log):
            widget = ResultsTable(max_rows=200, log=log)
            return widget

        def word_timeline(window, log=log):
            widget = WordTimeline(window_seconds=window)
            widget.load(log)
            return widget

        table_mb, _ = measure(table_model)
        timeline_mb, model = measure(timeline_model)
        widget_mb, widget = measure(results_table)
        widget.close()
        plot_mb, plot = measure(lambda: word_timeline(None))
        plot.close()
        window_mb, plot = measure(lambda: word_timeline(60.0))
        plot.close()
        # The widget holds its TimelineModel (all words) and a figure (what is drawn).
        plot_fig, window_fig = plot_mb - timeline_mb, window_mb - timeline_mb
        rows.append(
            [
                f"{minutes} min ({counts['interims']} interims, {counts['finals']} finals, {counts['events']} events)",
                f"{log_mb:.1f}",
                f"{table_mb:.2f}",
                f"{timeline_mb:.2f} ({len(model.words)} words)",
                f"{widget_mb:.2f}",
                f"{plot_mb:.2f} (figure {plot_fig:.2f})",
                f"{window_mb:.2f} (figure {window_fig:.2f})",
            ]
        )
    tracemalloc.stop()
    table(
        "4. Memory, MB (tracemalloc, allocations still held)",
        [
            "session",
            "SessionLog",
            "TableModel(200)",
            "TimelineModel",
            "ResultsTable(200)",
            "WordTimeline",
            "WordTimeline(window 60 s)",
        ],
        rows,
    )
    print(
        "   SessionLog is the record of truth (it grows with the session); the table keeps 200 rows and\n"
        "   exports from the log; the timeline model keeps every word (~2.5/s); the figure of a windowed\n"
        "   plot holds only the last minute."
    )


def main() -> None:
    started = time.monotonic()
    print(
        f"dgwidgets widget benchmarks: Python {platform.python_version()}, plotly {plotly.__version__}, "
        f"{platform.machine()}, {platform.processor() or platform.system()}"
    )
    per_message(simulated_session(15 * 60))
    per_redraw()
    asyncio.run(sustained())
    memory()
    print(f"\n(total {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
