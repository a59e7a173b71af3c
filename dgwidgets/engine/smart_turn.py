"""End-of-turn signals for the local Flux engine: Smart Turn v3.2 when installed, a fallback otherwise.

A pure core (no threads, clocks or sockets): each detector scores "has the speaker finished the
turn?" from the turn's audio and words, 0..1. The turn machine (`turns`) combines that score
with how long the speaker has been silent, so the same audio always gives the same events.

**Smart Turn v3.2** (Daily, BSD-2-Clause) is a small Whisper-encoder classifier trained on
complete vs. incomplete turns. Its ONNX file ships inside the ``pipecat-ai`` wheel; we read
the file from the installed distribution *without importing pipecat* (its import pulls in a
large framework) and run it with ``onnxruntime`` + numpy on the last 8 s of the turn's audio,
using our own numpy Whisper log-mel feature extractor (80 mel bins, 10 ms hop, 8 s window).
Install it with ``pip install "dgwidgets[turn]"`` and ``pip install --no-deps pipecat-ai``
(``make test`` and ``make lab`` do both). Set ``DGWIDGETS_SMART_TURN_MODEL`` to use another copy of
the file; its SHA-256 must match `SMART_TURN_SHA256` unless ``DGWIDGETS_SMART_TURN_UNCHECKED=1``.

**The fallback** (`TextCompletenessDetector`) looks at the transcript only: a turn that ends on
a word that rarely ends an English sentence ("the", "and", "for", "um", ...) scores low, any
other ending scores moderately high. It is transparent and crude, and says so in ``name``.

>>> detector = TextCompletenessDetector()
>>> detector.probability(None, ["please", "schedule", "the"]) < 0.2 < detector.probability(None, ["how", "are", "you"])
True
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = [
    "EndOfTurnDetector",
    "SmartTurnDetector",
    "TextCompletenessDetector",
    "SmartTurnUnavailable",
    "default_detector",
    "find_smart_turn_model",
    "whisper_log_mel",
    "SMART_TURN_FILE",
    "SMART_TURN_SHA256",
    "WINDOW_SECONDS",
]

SAMPLE_RATE = 16_000
#: Smart Turn judges the last 8 s of the turn (shorter turns are zero-padded in front).
WINDOW_SECONDS = 8
SMART_TURN_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
#: SHA-256 of smart-turn-v3.2-cpu.onnx as shipped in pipecat-ai 1.14.0 (8 679 182 bytes).
SMART_TURN_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"

# Whisper's front end: 25 ms Hann windows every 10 ms, 80 Slaney mel bands up to 8 kHz.
_N_FFT = 400
_HOP = 160
_N_MELS = 80


class SmartTurnUnavailable(RuntimeError):
    """Smart Turn cannot run here (the model file or onnxruntime is missing, or the file is not the known one)."""


class EndOfTurnDetector(Protocol):
    """Scores whether a turn is complete: 0 (surely more to come) .. 1 (surely finished)."""

    #: Shown in Connected and in the docs, so a class knows which signal ran.
    name: str

    def probability(self, audio: np.ndarray | None, words: Sequence[str]) -> float:
        """`audio`: the turn's int16 16 kHz samples up to now (may be None); `words`: its transcript so far."""
        ...


# -- features ----------------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's mel scale: linear below 1 kHz, logarithmic above (what Whisper's filterbank uses).
    hz = np.asarray(hz, dtype=np.float64)
    linear = 3.0 * hz / 200.0
    log_part = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = 200.0 * mel / 3.0
    log_part = 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0))
    return np.where(mel >= 15.0, log_part, linear)


@functools.lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """(n_mels, n_fft/2+1) triangular filters, each scaled to unit area (Slaney normalisation)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), _N_MELS + 2))
    bins = np.linspace(0.0, SAMPLE_RATE / 2, _N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (upper - lower))


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    n = np.arange(_N_FFT)
    return 0.5 - 0.5 * np.cos(2 * np.pi * n / _N_FFT)  # periodic Hann, as torch.stft uses


def whisper_log_mel(audio: np.ndarray, seconds: int = WINDOW_SECONDS) -> np.ndarray:
    """Whisper-style log-mel features of float audio at 16 kHz: shape (80, seconds * 100), float32.

    The audio is cut or zero-padded at the end to `seconds`, normalised to zero mean and unit
    variance, framed (centred, reflect-padded), and turned into log10 mel power, clamped to 8
    (log10 units) below its peak and scaled to about -1..1 the way Whisper does.

    >>> feats = whisper_log_mel(np.zeros(16000, dtype=np.float32))
    >>> feats.shape, feats.dtype
    ((80, 800), dtype('float32'))
    """
    n = SAMPLE_RATE * seconds
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"whisper_log_mel() needs mono 1-D audio, got shape {x.shape}")
    x = np.pad(x, (0, max(0, n - x.size)))[:n]
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), _N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, _N_FFT)[::_HOP]
    power = np.abs(np.fft.rfft(frames * _window(), axis=-1)) ** 2  # (frames, bins)
    mel = np.log10(np.maximum(power @ _mel_filters().T, 1e-10)).T[:, :-1]  # the last frame is dropped
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


# -- Smart Turn ----------------------------------------------------------------------------------


def find_smart_turn_model() -> Path:
    """The Smart Turn v3.2 ONNX file: ``$DGWIDGETS_SMART_TURN_MODEL``, or the one inside the installed pipecat-ai.

    Raises `SmartTurnUnavailable` saying what to install. pipecat is located through its
    distribution metadata, never imported.
    """
    override = os.environ.get("DGWIDGETS_SMART_TURN_MODEL")
    if override:
        path = Path(override)
        if not path.is_file():
            raise SmartTurnUnavailable(f"DGWIDGETS_SMART_TURN_MODEL={override!r} is not a file")
        return path
    from importlib import metadata

    try:
        dist = metadata.distribution("pipecat-ai")
    except metadata.PackageNotFoundError:
        raise SmartTurnUnavailable(
            "Smart Turn v3.2 is not installed: pip install 'dgwidgets[turn]' && pip install --no-deps pipecat-ai"
        ) from None
    path = Path(str(dist.locate_file(SMART_TURN_FILE)))
    if not path.is_file():
        raise SmartTurnUnavailable(f"pipecat-ai {dist.version} does not ship {SMART_TURN_FILE}")
    return path


@functools.lru_cache(maxsize=4)
def _checked(path: str) -> str:
    if os.environ.get("DGWIDGETS_SMART_TURN_UNCHECKED") != "1":
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if digest != SMART_TURN_SHA256:
            raise SmartTurnUnavailable(
                f"{path} has SHA-256 {digest}, not Smart Turn v3.2's {SMART_TURN_SHA256} "
                "(set DGWIDGETS_SMART_TURN_UNCHECKED=1 to use it anyway)"
            )
    return path


@functools.lru_cache(maxsize=4)
def _session(path: str):  # one onnxruntime session per process, shared by all streams (it is thread-safe)
    try:
        import onnxruntime as ort
    except ImportError:
        raise SmartTurnUnavailable("onnxruntime is not installed: pip install 'dgwidgets[turn]'") from None
    options = ort.SessionOptions()
    # One thread per inference: the server already runs streams on several workers.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(_checked(path), sess_options=options, providers=["CPUExecutionProvider"])


class SmartTurnDetector:
    """Smart Turn v3.2 on onnxruntime: P(turn complete) from the last 8 s of the turn's audio.

    Raises `SmartTurnUnavailable` when the model cannot run here (``make test`` installs it).
    """

    name = "smart-turn-v3.2"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or find_smart_turn_model())
        self._session = _session(self.path)

    def probability(self, audio: np.ndarray | None, words: Sequence[str]) -> float:
        if audio is None or audio.size == 0:
            return 0.0
        window = SAMPLE_RATE * WINDOW_SECONDS
        x = audio[-window:].astype(np.float32) / 32768.0
        if x.size < window:  # short turns are padded in front, so the turn's end stays at the window's end
            x = np.pad(x, (window - x.size, 0))
        features = whisper_log_mel(x)[None]
        (out,) = self._session.run(None, {"input_features": features})
        return float(np.clip(out.reshape(-1)[0], 0.0, 1.0))


# -- fallback ------------------------------------------------------------------------------------

#: Words after which an English turn is rarely over: articles, prepositions, conjunctions, fillers.
CONTINUATION_WORDS = frozenset(
    """a an the and or but so because if when while that which who whose to of for in on at by with
    from into about than as my your our their his her its this these those is are was were be been
    um uh er like i very""".split()
)


class TextCompletenessDetector:
    """The fallback when Smart Turn is not installed: judges the transcript's last word only.

    An empty transcript scores 0 (nothing said yet); a last word in `CONTINUATION_WORDS` scores
    0.1; any other last word 0.6. With the silence ramp of the turn machine, a turn ending on
    "the" waits for a long silence, one ending on "you" ends after a short one.
    """

    name = "silence+text-fallback"

    def probability(self, audio: np.ndarray | None, words: Sequence[str]) -> float:
        if not words:
            return 0.0
        return 0.1 if words[-1].lower().strip(".,?!") in CONTINUATION_WORDS else 0.6


def default_detector() -> EndOfTurnDetector:
    """Smart Turn v3.2 when it can run here, else the text fallback (``DGWIDGETS_TURN_DETECTOR=fallback`` forces it)."""
    if os.environ.get("DGWIDGETS_TURN_DETECTOR") == "fallback":
        return TextCompletenessDetector()
    try:
        return SmartTurnDetector()
    except SmartTurnUnavailable:
        return TextCompletenessDetector()


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m dgwidgets.engine.smart_turn --check``: is Smart Turn installed and the known file? (exit 1 if not)"""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="load the model and score one second of silence")
    args = parser.parse_args(argv)
    try:
        detector = SmartTurnDetector()
    except SmartTurnUnavailable as err:
        print(f"Smart Turn unavailable: {err}")
        return 1
    if args.check:
        p = detector.probability(np.zeros(SAMPLE_RATE, dtype=np.int16), [])
        print(f"Smart Turn v3.2 ready: {detector.path} (sha256 {SMART_TURN_SHA256[:12]}..., silence scores {p:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
