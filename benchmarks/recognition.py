"""Recognition on real speech: accuracy, cost, word timing and speech_final latency, per model.

Both local models are measured side by side in one run (the default whisper-tiny.en and
pocketsphinx), never with keyterms (the recognizer is never handed the script):

1. **Accuracy and cost, in-process.** Each clip of the real-speech set (`realtime.real_clips()`:
   real human recordings in tests/data/real/) and each synthetic sample goes through a
   `StreamTranscriber` (interim results, endpointing 300) in 100 ms chunks. Final WER over all
   reference words; interim WER: each interim against the reference words of its own segment
   that end inside its window (the words it could have heard), summed over interims; CPU seconds
   per audio second (process time, so CTranslate2's threads count; one stream alone).
2. **Whisper decode cost by buffer length**: CPU ms of one interim-style and one final-style
   decode of 1, 2, 4 and 8 s of real speech (median of 3).
3. **Word timing.** Finalized words against the reference word times of the real set (matched by
   aligning the word sequences). Those reference times are pocketsphinx's forced alignment of the
   checked transcript (no hand-labelled times exist for these files), and Whisper's finals are
   themselves timed by the same aligner, so that row measures agreement, not truth. The samples'
   phrase boundaries are exact (they were synthesized), so the second row, the error of each
   phrase's first word start and last word end on the samples, is against true times.
4. **speech_final latency on real speech in real time.** One `dgwidgets serve` subprocess per
   model; three microphone-paced clients at once (endpointing 10, 300, 500), each streaming the
   real clips back to back with 2 s of silence between them. A clip's true end of speech is its last
   reference word's end; latency = arrival of the first speech_final whose window reaches it (up to
   0.2 s before it: the VAD may call a word's quiet tail silence) before the next clip starts,
   minus that end, both on the stream's one clock (t = 0 at its first sample). None: missed.
5. **Load time and RSS** of the server process: ready to listen, idle, and after the streams.

Absolute times vary with the machine and with other work on it: the header prints the cores and
the load average. Run from the repository root:

    .venv/bin/python benchmarks/recognition.py           # about 4 minutes
    .venv/bin/python benchmarks/recognition.py --quick   # about 1 minute (fewer clips, one pass)
    .venv/bin/python benchmarks/recognition.py --sections 4 --models whisper-tiny.en --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np

from dgwidgets.engine.transcriber import StreamTranscriber
from dgwidgets.engine.whisper import DecodeRequest, WhisperModel
from dgwidgets.protocol import LiveOptions, Results
from dgwidgets.samples import samples

if __package__:
    from . import realtime as rt
else:
    import realtime as rt

MODELS = ("whisper-tiny.en", "pocketsphinx")
CHUNK_S = 0.1
GAP_S = 2.0  # silence between two clips of the latency stream: each clip end is a true end of speech
ENDPOINTINGS = (10, 300, 500)


# ------------------------------------------------------------------------------------------ helpers


def edit_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def normalize(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split() if w.strip(".,?!")]


def stream_in_process(pcm: np.ndarray, model: str) -> tuple[list[Results], float]:
    """All Results of one in-process stream (100 ms chunks) and its CPU seconds."""
    options = LiveOptions(model=model, interim_results=True, endpointing=300)
    t0 = time.process_time()
    transcriber = StreamTranscriber(options)
    out = []
    step = int(CHUNK_S * rt.SAMPLE_RATE)
    for i in range(0, pcm.size, step):
        out += transcriber.feed(pcm[i : i + step])
    out += transcriber.close()
    return [m for m in out if isinstance(m, Results)], time.process_time() - t0


def interim_errors(results: list[Results], ref_words: Sequence[tuple[str, float, float]]) -> tuple[int, int]:
    """(errors, reference words) over every interim, each against the words of its own window."""
    errors = words = 0
    for m in results:
        if m.is_final:
            continue
        ref = [w for w, s, e in ref_words if s >= m.start - 0.1 and e <= m.start + m.duration + 0.05]
        errors += edit_errors(ref, [w.word for w in m.words])
        words += len(ref)
    return errors, words


def timing_errors(finals: list[Results], ref_words: Sequence[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """(|start error|, |end error|) of each finalized word matched to a reference word."""
    hyp = [w for m in finals for w in m.words]
    matcher = SequenceMatcher(a=[w for w, _, _ in ref_words], b=[w.word for w in hyp], autojunk=False)
    out = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            _, s, e = ref_words[block.a + k]
            w = hyp[block.b + k]
            out.append((abs(w.start - s), abs(w.end - e)))
    return out


def q(values: Sequence[float], p: float) -> str:
    return rt.ms(rt.pct(values, p)) if values else "-"


# ---------------------------------------------------------------------------------------- section 1+3


def accuracy(clips: Sequence[rt.Clip], quick: bool) -> None:
    sample_list = samples()[:3] if quick else samples()
    rows, timing_rows = [], []
    for model in MODELS:
        fe = fw = ie = iw = 0
        cpu = audio = 0.0
        timing: list[tuple[float, float]] = []
        for clip in clips:
            results, seconds = stream_in_process(clip.pcm, model)
            cpu, audio = cpu + seconds, audio + clip.duration
            finals = [m for m in results if m.is_final]
            ref = [w for w, _, _ in clip.words]
            fe += edit_errors(ref, normalize(" ".join(m.transcript for m in finals)))
            fw += len(ref)
            e, n = interim_errors(results, clip.words)
            ie, iw = ie + e, iw + n
            timing += timing_errors(finals, clip.words)
        se = sw = 0
        phrase: list[float] = []
        for s in sample_list:
            pcm = rt._read(s.path)
            results, seconds = stream_in_process(pcm, model)
            cpu, audio = cpu + seconds, audio + pcm.size / rt.SAMPLE_RATE
            finals = [m for m in results if m.is_final]
            ref = s.text.split()
            se += edit_errors(ref, normalize(" ".join(m.transcript for m in finals)))
            sw += len(ref)
            words = [w for m in finals for w in m.words]
            for u in s.utterances:
                inside = [w for w in words if u.start - 0.3 <= w.start and w.end <= u.end + 0.3]
                if inside:
                    phrase += [abs(inside[0].start - u.start), abs(inside[-1].end - u.end)]
        rows.append(
            [
                model,
                f"{fe / fw:.1%} ({fe}/{fw})",
                f"{ie / max(iw, 1):.1%}",
                f"{se / sw:.1%} ({se}/{sw})",
                f"{cpu / audio:.2f}",
            ]
        )
        starts, ends = [t[0] for t in timing], [t[1] for t in timing]
        timing_rows.append(
            [
                model,
                len(timing),
                q(starts, 50),
                q(starts, 90),
                q(ends, 50),
                q(ends, 90),
                len(phrase) // 2,
                q(phrase, 50),
                q(phrase, 90),
            ]
        )
    rt.table(
        "1. Accuracy and cost (in-process, 100 ms chunks, interim_results, endpointing 300, no keyterms)",
        [
            "model",
            "finals WER, real speech",
            "interim WER, real",
            f"finals WER, {len(sample_list)} samples",
            "CPU s / audio s",
        ],
        rows,
        [
            f"real speech: {len(clips)} clips, {sum(c.duration for c in clips):.1f} s, {sum(len(c.words) for c in clips)} words",
            "interim WER: each interim against the reference words that end inside its window",
            "CPU s / audio s: one stream alone; the cost of one student with an embedded engine",
        ],
    )
    rt.table(
        "3. Word timing of finals (ms)",
        ["model", "words", "start p50", "start p90", "end p50", "end p90", "phrases", "phrase edge p50", "p90"],
        timing_rows,
        [
            "words: against the real set's reference times, which are pocketsphinx's forced alignment of "
            "the transcript (the same aligner times Whisper's finals: agreement, not truth)",
            "phrase edges: first word start and last word end of each sample phrase against the synthesis's true times",
        ],
    )


# ------------------------------------------------------------------------------------------ section 2


def decode_cost(clips: Sequence[rt.Clip]) -> None:
    model = WhisperModel.load()
    speech = np.concatenate([c.pcm for c in clips if c.duration > 5] or [c.pcm for c in clips])
    rows = []
    for seconds in (1, 2, 4, 8):
        pcm = speech[: seconds * rt.SAMPLE_RATE]
        row = [f"{seconds} s"]
        for final in (False, True):
            request = DecodeRequest(pcm, final=final)
            model.transcribe(request)  # warm
            costs = []
            for _ in range(3):
                t0 = time.process_time()
                model.transcribe(request)
                costs.append(time.process_time() - t0)
            row.append(f"{statistics.median(costs) * 1000:.0f}")
        rows.append(row)
    rt.table(
        "2. Whisper tiny.en decode cost by buffer length (CPU ms, median of 3)",
        ["buffer", "interim decode", "final decode"],
        rows,
        [
            "input: the audio + 1 s of zeros, at least 8 s; greedy; one thread",
            "final = interim + pocketsphinx forced alignment of the words (and a longer window if it loops)",
            "pocketsphinx decodes incrementally as audio arrives: its cost is the CPU s / audio s of table 1",
        ],
    )


# ------------------------------------------------------------------------------------------ section 4+5


def latency_stream(clips: Sequence[rt.Clip]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The clips back to back with GAP_S of silence; (true end, next clip start) per clip."""
    gap = np.zeros(int(GAP_S * rt.SAMPLE_RATE), np.int16)
    parts, ends, t = [gap[: rt.SAMPLE_RATE // 2]], [], 0.5
    for clip in clips:
        ends.append((t + clip.words[-1][2], t + clip.duration + GAP_S))
        parts += [clip.pcm, gap]
        t += clip.duration + GAP_S
    return np.concatenate(parts), ends


def speech_final_latencies(run: rt.Run, ends: Sequence[tuple[float, float]]) -> list[float | None]:
    out: list[float | None] = []
    for true_end, next_start in ends:
        hit = next(
            (
                t
                for t, m in run.results()
                if m.speech_final and m.start + m.duration >= true_end - 0.2 and m.start < next_start
            ),
            None,
        )
        out.append(None if hit is None else hit - true_end)
    return out


async def latency(clips: Sequence[rt.Clip], models: Sequence[str] = MODELS) -> None:
    pcm, ends = latency_stream(clips)
    rows, memory = [], []
    for model in models:
        with rt.ServerProcess() as server:
            idle = server.rss()
            runs = await asyncio.gather(
                *(
                    rt.stream_pcm(server.url, f"ep{ep}", pcm, rt.options_for(model, endpointing=ep), chunk_s=CHUNK_S)
                    for ep in ENDPOINTINGS
                )
            )
            after = server.rss()
            memory.append([model, f"{server.load_seconds:.1f}", f"{idle / rt.MB:.0f}", f"{after / rt.MB:.0f}"])
        for ep, run in zip(ENDPOINTINGS, runs):
            if not run.ok:
                rows.append([model, ep, "-", "-", "-", f"failed: {run.error or run.close_code}"])
                continue
            got = speech_final_latencies(run, ends)
            hits = [x for x in got if x is not None]
            target = f"<= {ep + 100} / {ep + 250}" if ep >= 300 else "floor: VAD + decode"
            rows.append([model, ep, q(hits, 50), q(hits, 95), f"{len(hits)}/{len(got)}", target])
    rt.table(
        "4. speech_final latency after the true end of speech, real speech in real time (ms)",
        ["model", "endpointing", "p50", "p95", "found", "goal p50 / p95"],
        rows,
        [
            f"three microphone-paced clients at once per server ({CHUNK_S * 1000:.0f} ms chunks, sent when spoken), "
            f"{len(clips)} clip ends each, {pcm.size / rt.SAMPLE_RATE:.0f} s of audio",
            "a chunk is sent once its last sample is spoken, so up to 100 ms of each figure is the chunking",
        ],
    )
    rt.table(
        "5. Server process: model load and memory",
        ["model", "start to listening (s)", "RSS idle (MB)", "RSS after 3 streams (MB)"],
        memory,
        [
            "start to listening: a fresh `python -m dgwidgets serve`, imports and model load included",
            "RSS: the server process and its forced-alignment worker process",
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and samples (about 1 minute)")
    parser.add_argument(
        "--sections", default="1,2,3,4,5", help="which tables: 1+3 accuracy and timing, 2 decode cost, 4+5 latency"
    )
    parser.add_argument("--models", type=lambda s: s.split(","), default=list(MODELS), help="for the latency tables")
    parser.add_argument(
        "--repeat", type=int, default=1, help="stream the clips this many times in the latency test (more clip ends)"
    )
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    clips, source = rt.real_clips()
    if not clips:
        raise SystemExit("no real-speech clips found (tests/data/real/)")
    print(f"Recognition on real speech - {rt.machine_line()}")
    print(f"reference: {source}")
    started = time.perf_counter()
    use = clips[:3] if args.quick else clips
    if sections & {"1", "3"}:
        accuracy(use, args.quick)
    if "2" in sections:
        decode_cost(clips)
    if sections & {"4", "5"}:
        asyncio.run(latency(list(use) * max(1, args.repeat), args.models))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
