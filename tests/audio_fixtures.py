"""Small audio fixtures for the engine tests: committed espeak-ng WAVs plus numpy-made signals.

The WAVs in tests/data/ are 16 kHz mono int16 and trimmed so that speech fills each file from its
first to its last sample: a test that pads them with silence knows the true speech boundaries.
They were made with espeak-ng 1.51 and SoX 14.4.2 by ``regenerate()``; the tests never need either
tool.  The klatt voice is used because the default en-us voice is recognized noticeably worse by
pocketsphinx on a fresh decoder ("number is" gets dropped).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

DATA = Path(__file__).parent / "data"
RATE = 16000

# fixture name -> the text espeak-ng spoke
TRANSCRIPTS = {
    "card": "yeah so my credit card number is two two two two",
    "hello_there": "hello there",
    "yes": "yes",
}


def load(name: str) -> np.ndarray:
    """A fixture as int16 mono samples at 16 kHz."""
    pcm, rate = sf.read(DATA / f"{name}.wav", dtype="int16")
    assert rate == RATE and pcm.ndim == 1, (name, rate, pcm.shape)
    return pcm


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def white_noise(seconds: float, rms: float = 300.0, seed: int = 0) -> np.ndarray:
    """Gaussian white noise, int16, reproducible (rms 300 is about -41 dBFS)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, rms, round(seconds * RATE)), -32768, 32767).astype(np.int16)


def padded(name: str, before: float = 0.5, after: float = 0.5) -> tuple[np.ndarray, float, float]:
    """Fixture with silence around it, plus the true speech start and end in seconds."""
    speech = load(name)
    pcm = np.concatenate([silence(before), speech, silence(after)])
    return pcm, before, before + speech.size / RATE


def chunks(pcm: np.ndarray, seconds: float) -> list[np.ndarray]:
    """Split audio into chunks of ``seconds`` (the last one shorter)."""
    step = max(1, round(seconds * RATE))
    return [pcm[i : i + step] for i in range(0, pcm.size, step)]


def regenerate() -> None:  # pragma: no cover - a maintenance tool, not a test
    """Rebuild tests/data/*.wav with espeak-ng and sox (run by hand: ``python tests/audio_fixtures.py``)."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if not (espeak and sox):
        raise SystemExit("needs espeak-ng and sox on PATH")
    DATA.mkdir(exist_ok=True)
    tmp = DATA / "_raw.wav"
    try:
        for name, text in TRANSCRIPTS.items():
            subprocess.run([espeak, "-v", "en-us+klatt", "-s", "165", "-w", str(tmp), text], check=True)
            # Resample to 16 kHz int16 and trim leading and trailing silence (the reverse trick).
            trim = ["silence", "1", "0.005", "0.5%", "reverse"]
            subprocess.run(
                [
                    sox,
                    str(tmp),
                    "-r",
                    "16000",
                    "-c",
                    "1",
                    "-b",
                    "16",
                    str(DATA / f"{name}.wav"),
                    *trim,
                    *trim,
                ],
                check=True,
            )
    finally:
        tmp.unlink(missing_ok=True)


if __name__ == "__main__":  # pragma: no cover
    regenerate()
