"""A lesson that runs for an hour stays bounded in memory, on both sides of the websocket.

Kernel side: a StreamLab fed a simulated hour (3600 interims, 900 finals, 1200 events) through the
path a live stream takes (the SessionLog's subscriber `_on_entry`, on a running asyncio loop). The
SessionLog keeps everything by design (it is the record of truth, saved and replayed); the widgets
must not add more than a bounded table window and a timeline that grows linearly with the words.

Server side: one StreamTranscriber fed a long stream of real audio (a sample looped) as fast as it
goes, once per model. pocketsphinx's 5 minutes cost ~177 s of CPU here and Whisper's 5 minutes ~150 s,
so an hour is too long for CI: the test streams `LONG_SESSION_MINUTES` (5 by default; set
DGWIDGETS_LONG_SESSION_MINUTES=60 for the full hour) and
shows there is nothing to extrapolate: after warm-up its retained Python memory and the process RSS
do not grow at all, and its segment buffer never exceeds the hard maximum.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import tracemalloc
from collections.abc import Iterator

import numpy as np
import psutil
import pytest
import soundfile as sf

from dgwidgets.engine.transcriber import HARD_MAX_SEGMENT, MAX_SEGMENT, SAMPLE_RATE, StreamTranscriber
from dgwidgets.protocol import Alternative, LiveOptions, Message, Results, SpeechStarted, UtteranceEnd, Word
from dgwidgets.samples import sample
from dgwidgets.session import SessionLog
from dgwidgets.widgets.lab import StreamLab

MB = 2**20

# --------------------------------------------------------------------------- kernel side

SEGMENT = 4.0  # seconds of speech per final
WORDS_PER_SEGMENT = 10
VOCABULARY = "yeah so my credit card number is two three four five six seven eight nine".split()
MAX_ROWS = 200


def simulated_segments(seconds: float) -> Iterator[list[tuple[float, Message]]]:
    """(arrival time, message) of a long dictation, one 4 s segment at a time: a SpeechStarted, 4 growing
    interims (one a second), a final of 10 words, every third one speech_final and followed by an
    UtteranceEnd. One hour: 3600 interims, 900 finals, 900 SpeechStarted and 300 UtteranceEnd."""
    for s in range(int(seconds // SEGMENT)):
        start = s * SEGMENT
        words = []
        for k in range(WORDS_PER_SEGMENT):
            w_start = start + 0.1 + k * 0.38
            text = VOCABULARY[(s * 7 + k) % len(VOCABULARY)]
            words.append(Word(text, round(w_start, 3), round(w_start + 0.3, 3), 0.8 + 0.02 * k))
        out: list[tuple[float, Message]] = [(start + 0.3, SpeechStarted(round(start + 0.1, 3)))]
        for i in range(1, 5):
            cut = start + i * SEGMENT / 4 - 0.05
            shown = tuple(w for w in words if w.start < cut)
            alt = Alternative(" ".join(w.word for w in shown), 0.9, shown)
            out.append((cut, Results(start, round(cut - start, 3), False, False, (alt,))))
        speech_final = s % 3 == 2
        alt = Alternative(" ".join(w.word for w in words), 0.9, tuple(words))
        out.append((start + SEGMENT, Results(start, SEGMENT, True, speech_final, (alt,))))
        if speech_final:
            out.append((start + SEGMENT + 0.05, UtteranceEnd(words[-1].end)))
        yield out


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def feed_session(marks_minutes: tuple[int, ...], lab: StreamLab | None) -> tuple[dict[int, int], SessionLog]:
    """Stream the simulated hour into a SessionLog (with `lab` subscribed, as LiveClient does);
    the traced memory retained at each mark, over what was held before the first message."""
    log = SessionLog(source="test:simulated-hour")
    if lab is not None:
        lab.session = log
        log.subscribe(lab._on_entry)
    segments = simulated_segments(max(marks_minutes) * 60)
    retained = {}
    base = traced()
    done = 0
    for minutes in marks_minutes:
        while done < minutes * 60 / SEGMENT:
            for at, message in next(segments):
                log.append(message, at)
            done += 1
            if done % 75 == 0:
                # Five minutes of messages have arrived: let the coalesced updates run (a redraw of a
                # plot holding thousands of words costs tens of ms, so not after every message here).
                await asyncio.sleep(0)
        if lab is not None:
            await asyncio.sleep(0.12)  # a pending coalesced redraw fires (plot ≤ 10/s, table ≤ 20/s)
            lab.table.refresh()
            lab.timeline.refresh()
        retained[minutes] = traced() - base
    return retained, log


async def test_stream_lab_over_an_hour_keeps_a_bounded_table_and_a_linear_small_timeline():
    marks = (15, 30, 60)
    lab = StreamLab(source="sample:yes", show_player=False, max_rows=MAX_ROWS)
    lab._reset()  # what run() does before streaming: a fresh table, plot and strategies
    started = time.process_time()
    tracemalloc.start()
    try:
        log_only, _ = await feed_session(marks, None)
        total, log = await feed_session(marks, lab)
    finally:
        tracemalloc.stop()
    cpu = time.process_time() - started

    results = log.results()
    assert sum(not r.is_final for r in results) == 3600 and len(log.finals()) == 900
    assert len(log) - len(results) == 1200
    # what reached the widgets: the table shows its last rows, the plot every finalized word
    assert len(lab.table.rows) == MAX_ROWS and len(lab.table.session_log) == len(log)
    assert len(lab.timeline.model.words) == 900 * WORDS_PER_SEGMENT
    assert len(lab.timeline.trace("words").x) == 900 * WORDS_PER_SEGMENT
    assert len(lab.utterances["speech_final"]) == 300

    widgets = {m: total[m] - log_only[m] for m in marks}
    words = {m: m * 60 / SEGMENT * WORDS_PER_SEGMENT for m in marks}
    per_word = {m: widgets[m] / words[m] for m in marks}
    print(
        "\nsimulated hour, MB retained (tracemalloc): SessionLog "
        + ", ".join(f"{m} min {log_only[m] / MB:.2f}" for m in marks)
        + "; StreamLab widgets "
        + ", ".join(f"{m} min {widgets[m] / MB:.2f} ({per_word[m]:.0f} B/word)" for m in marks)
        + f"; CPU {cpu:.1f} s for both runs"
    )
    # The SessionLog keeps every message by design: it grows linearly, a few MB an hour.
    assert 1.5 * log_only[15] < log_only[30] < 2.5 * log_only[15]
    assert log_only[60] < 16 * MB
    # The widgets: a table window of MAX_ROWS rows (constant) plus, per finalized word, the timeline's
    # model (word, gap, window) and the figure's arrays (bar, label, hover data) and the strategies'
    # decisions -- a few hundred bytes a word, so linear (no per-message copies, nothing quadratic):
    # the second half hour costs no more than the first, and an hour stays a few MB.
    assert widgets[60] - widgets[30] < 1.3 * widgets[30]
    assert per_word[60] < 1024
    assert widgets[60] < 10 * MB


# --------------------------------------------------------------------------- server side

# pocketsphinx with its general language model (no keyterm script any more) costs ~0.7 CPU s per
# audio second with tracing on, ~4x what the keyterm LMs cost: 5 minutes by default here.
LONG_SESSION_MINUTES = float(os.environ.get("DGWIDGETS_LONG_SESSION_MINUTES", "5"))
WARM_UP_MINUTES = 1.0
# Whisper (the default model) decodes every interim and final in-process here, ~5x pocketsphinx's
# CPU: a shorter stream, still several warm-up lengths past warm-up.
WHISPER_MINUTES = float(os.environ.get("DGWIDGETS_LONG_SESSION_WHISPER_MINUTES", "5"))
WHISPER_WARM_UP_MINUTES = 1.0
CHUNK = SAMPLE_RATE // 4  # 250 ms, as a client sends


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "model, minutes, warm_up",
    [("pocketsphinx", LONG_SESSION_MINUTES, WARM_UP_MINUTES), (None, WHISPER_MINUTES, WHISPER_WARM_UP_MINUTES)],
    ids=["pocketsphinx", "whisper"],
)
def test_one_transcriber_over_a_long_stream_keeps_constant_memory(model, minutes, warm_up):
    spec = sample("credit-card")  # the docs' dictation: forced cuts at 4 s, endpoints, numbers
    audio, rate = sf.read(spec.path, dtype="int16")
    assert rate == SAMPLE_RATE
    options = LiveOptions(
        model=model, interim_results=True, endpointing=300, utterance_end_ms=1000, vad_events=True,
        keyterm=spec.keyterms,
    )
    transcriber = StreamTranscriber(options)
    channel = transcriber.channels[0]
    loops = int(minutes * 60 / spec.duration) + 1
    warm = int(warm_up * 60 / spec.duration)
    proc = psutil.Process()
    words_per_loop, longest_segment, longest_final, forced_cuts, messages = [], 0, 0.0, 0, 0
    memory, rss = {}, {}
    cpu0 = time.process_time()
    try:
        for loop in range(loops):
            if loop == warm:
                gc.collect()
                rss["warm"] = proc.memory_info().rss
                tracemalloc.start()
                memory["warm"] = traced()
            elif loop == (warm + loops) // 2:
                memory["mid"] = traced()
            words = 0
            for i in range(0, audio.size, CHUNK):
                for message in transcriber.feed(audio[i : i + CHUNK]):
                    messages += 1
                    if isinstance(message, Results) and message.is_final:
                        words += len(message.words)
                        longest_final = max(longest_final, message.duration)
                        forced_cuts += not message.speech_final
                longest_segment = max(longest_segment, channel._segment.length)
            words_per_loop.append(words)
        memory["end"] = traced()
        rss["end"] = proc.memory_info().rss
    finally:
        tracemalloc.stop()
    cpu = time.process_time() - cpu0
    streamed = loops * spec.duration / 60
    growth = memory["end"] - memory["warm"]
    print(
        f"\none transcriber ({model or 'default'}), {streamed:.1f} min of {spec.name} looped in {cpu:.0f} s CPU (RTF {cpu / streamed / 60:.3f}), "
        f"{messages} messages; Python memory allocated since warm-up ({warm_up:.0f} min) and still held: "
        f"{(memory['mid'] - memory['warm']) / MB:.2f} MB mid-way, {growth / MB:.2f} MB at the end; "
        f"RSS {rss['warm'] / MB:.0f} -> {rss['end'] / MB:.0f} MB; longest segment {longest_segment / SAMPLE_RATE:.2f} s"
    )

    assert streamed >= minutes
    # Segment buffers: cut at MAX_SEGMENT, never past HARD_MAX_SEGMENT (plus one chunk still to be judged).
    assert forced_cuts >= loops  # the cut path really ran, every pass of the sample
    assert longest_final <= HARD_MAX_SEGMENT
    assert longest_segment <= HARD_MAX_SEGMENT * SAMPLE_RATE + CHUNK
    assert longest_segment >= MAX_SEGMENT * SAMPLE_RATE
    # Retained Python memory (numpy buffers included) does not grow with the stream: what is alive
    # after warm-up is one segment's audio and state, whatever its length. A transcriber that kept
    # its audio would add ~1.9 MB a minute, one that kept its messages ~0.2 MB a minute.
    assert abs(growth) < 512 * 1024, f"retained memory grew by {growth / 1024:.0f} KiB"
    assert abs(memory["end"] - memory["mid"]) < 512 * 1024
    # Native memory (pocketsphinx or CTranslate2, Silero) too: the process RSS stays where warm-up left it.
    assert rss["end"] - rss["warm"] < 16 * MB
    # And it keeps transcribing the same way: as many words a pass at the end as at the start.
    first, last = np.mean(words_per_loop[:warm]), np.mean(words_per_loop[-warm:])
    assert first > 10 and abs(last - first) <= 0.1 * first, (first, last)
