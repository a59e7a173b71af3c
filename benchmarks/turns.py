"""Turn-taking benchmark: Flux's EndOfTurn next to speech_final and UtteranceEnd, on the same audio.

For each sample (and the real JFK clip, whose sentence has 1 s pauses inside), the same 16 kHz
audio, followed by 2 s of silence, goes through

* the v1 engine (`StreamTranscriber`, endpointing=300, utterance_end_ms=1000, interim_results)
  read by the client strategies ``speech_final`` and ``speech_final_or_utterance_end``;
* the Flux engine (`FluxTranscriber`) with Smart Turn v3.2 (eot_threshold 0.7, and eager 0.4:
  its EagerEndOfTurn scored as a decision too) and with the text fallback.

Each decision is scored with `dgwidgets.evaluation.score` against the sample's ground truth:
hits (an end of thought, with the latency after the true end), false triggers (a decision at a
mid-thought pause or inside speech) and misses. Time is audio time (in process, no pacing), so
latency is the audio the engine had heard past the true end when it decided.

    .venv/bin/python benchmarks/turns.py            # about a minute
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dgwidgets.engine.smart_turn import SmartTurnDetector, TextCompletenessDetector  # noqa: E402
from dgwidgets.engine.transcriber import StreamTranscriber, default_recognizer  # noqa: E402
from dgwidgets.engine.turns import FluxTranscriber, TurnSettings  # noqa: E402
from dgwidgets.evaluation import score  # noqa: E402
from dgwidgets.flux import turn_decisions  # noqa: E402
from dgwidgets.protocol import LiveOptions  # noqa: E402
from dgwidgets.samples import Pause, Sample, Utterance, sample  # noqa: E402
from dgwidgets.utterances import SpeechFinal, SpeechFinalOrUtteranceEnd  # noqa: E402

SAMPLES = ["voice-agent", "dictation-pauses", "hello-there", "credit-card", "drive-thru"]
TAIL = 2.0
CHUNK = 4000


def jfk() -> Sample:
    """The real JFK clip as a Sample: one thought, its pauses (Silero's) mid-thought."""
    spans = [(0.35, 2.24), (3.30, 4.42), (5.41, 7.65), (8.19, 10.53)]
    utterances = tuple(Utterance("", a, b) for a, b in spans)
    pauses = tuple(Pause(spans[i][1], spans[i + 1][0], True) for i in range(len(spans) - 1))
    return Sample(
        name="jfk",
        title="JFK, inaugural address (real speech)",
        teaches="",
        path=ROOT / "tests" / "data" / "real" / "jfk.flac",
        text="and so my fellow americans ask not what your country can do for you ask what you can do for your country",
        keyterms=("and so my fellow americans", "ask not what your country can do for you", "ask what you can do for your country"),
        duration=11.0,
        noise=None,
        utterances=utterances,
        pauses=pauses,
    )


def pcm_of(s: Sample) -> np.ndarray:
    audio, rate = sf.read(s.path, dtype="int16")
    assert rate == 16000
    return np.concatenate([audio, np.zeros(int(TAIL * 16000), dtype=np.int16)])


def v1_messages(s: Sample, pcm: np.ndarray):
    options = LiveOptions(
        keyterm=s.keyterms, interim_results=True, endpointing=300, utterance_end_ms=1000, vad_events=True
    )
    t = StreamTranscriber(options)
    out = []
    for i in range(0, pcm.size, CHUNK):
        out += t.feed(pcm[i : i + CHUNK])
    return out + t.close()


def flux_messages(s: Sample, pcm: np.ndarray, detector, eager: float | None):
    f = FluxTranscriber(default_recognizer(list(s.keyterms)), detector, TurnSettings(eager_eot_threshold=eager))
    out = []
    for i in range(0, pcm.size, CHUNK):
        out += f.feed(pcm[i : i + CHUNK])
    return out


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", default=",".join([*SAMPLES, "jfk"]))
    args = parser.parse_args(argv)
    smart = SmartTurnDetector()
    fallback = TextCompletenessDetector()
    rows = []
    totals: dict[str, list] = {}
    for name in args.samples.split(","):
        s = jfk() if name == "jfk" else sample(name)
        pcm = pcm_of(s)
        v1 = v1_messages(s, pcm)
        smart_msgs = flux_messages(s, pcm, smart, None)
        eager_msgs = flux_messages(s, pcm, smart, 0.4)
        fallback_msgs = flux_messages(s, pcm, fallback, None)
        contenders = {
            "speech_final (endpointing 300)": SpeechFinal().run(v1),
            "speech_final or UtteranceEnd 1000": SpeechFinalOrUtteranceEnd().run(v1),
            "Flux EndOfTurn (Smart Turn, 0.7)": turn_decisions(smart_msgs),
            "Flux EagerEndOfTurn (0.4)": turn_decisions(eager_msgs, "EagerEndOfTurn"),
            "Flux EndOfTurn (fallback, 0.7)": turn_decisions(fallback_msgs),
        }
        for label, decisions in contenders.items():
            sc = score(decisions, s)
            rows.append((name, label, sc.hits, sc.false_triggers, sc.missed, sc.median_latency))
            t = totals.setdefault(label, [0, 0, 0, []])
            t[0] += sc.hits
            t[1] += sc.false_triggers
            t[2] += sc.missed
            t[3] += list(sc.latencies)
    print(f"{'sample':<17} {'decision rule':<36} {'hits':>4} {'false':>5} {'missed':>6} {'median latency s':>16}")
    for name, label, hits, false, missed, median in rows:
        print(f"{name:<17} {label:<36} {hits:>4} {false:>5} {missed:>6} {fmt(median):>16}")
    print()
    print(f"{'all samples':<17} {'decision rule':<36} {'hits':>4} {'false':>5} {'missed':>6} {'median latency s':>16}")
    for label, (hits, false, missed, lat) in totals.items():
        median = statistics.median(lat) if lat else None
        print(f"{'':<17} {label:<36} {hits:>4} {false:>5} {missed:>6} {fmt(median):>16}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
