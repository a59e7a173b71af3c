"""Whisper's log-mel features in numpy (no torch, no librosa, no PyAV).

The same computation as openai-whisper's ``log_mel_spectrogram``: a 400-point periodic Hann STFT
with a hop of 160 samples, centred frames with reflect padding, the last frame dropped, power
spectra through an 80-band Slaney mel filterbank (librosa's ``mel(sr=16000, n_fft=400,
n_mels=80)``, which is what Whisper's ``mel_filters.npz`` holds), ``log10`` clamped at 1e-10,
floored at 8 (log10 units) below the maximum, then ``(x + 4) / 4``.  The test suite checks the
filterbank against Whisper's own asset and the features against a frame-by-frame reference.

>>> import numpy as np
>>> feats = log_mel(np.zeros(16000, dtype=np.float32))
>>> feats.shape, feats.dtype
((80, 100), dtype('float32'))
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["SAMPLE_RATE", "N_FFT", "HOP_LENGTH", "N_MELS", "mel_filterbank", "log_mel"]

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160  # 10 ms per feature frame
N_MELS = 80


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


@functools.lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, sr: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular Slaney-normalised mel filters, shape ``(n_mels, n_fft // 2 + 1)``, float32.

    Bit-for-bit the construction of ``librosa.filters.mel`` (fmin 0, fmax sr/2, norm="slaney").
    """
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, None]
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """A context in which numpy's BLAS runs on the calling thread only.

    The filterbank product is the one BLAS call of a decode, and OpenBLAS's worker threads spin
    after each call: measured, they doubled a decode's CPU (1.81 s -> 0.93 s for the same eight
    decodes) and took cores the other decode workers needed. The limit is process-wide while it
    lasts (OpenBLAS has no per-thread setting) and costs ~9 us; threadpoolctl undoes it on exit.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    # torch.hann_window(400) is periodic: cos over n / N, not n / (N - 1)
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)


def log_mel(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """Log-mel features of float audio in [-1, 1] at 16 kHz: shape ``(n_mels, len(audio) // 160)``.

    Frames are centred on multiples of 160 samples (the STFT pads 200 samples each side by
    reflection); the final frame is dropped, as Whisper does.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"log_mel needs 1-D audio, got shape {audio.shape}")
    if audio.size <= N_FFT // 2:
        raise ValueError(f"log_mel needs more than {N_FFT // 2} samples, got {audio.size}")
    pad = N_FFT // 2
    padded = np.pad(audio, pad, mode="reflect")
    n_frames = 1 + (padded.size - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP_LENGTH, padded.strides[0])
    )
    spectrum = np.fft.rfft(frames * _window(), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2)[:-1].astype(np.float32)  # Whisper drops the last frame
    with _one_blas_thread():
        mel = mel_filterbank(n_mels) @ power.T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
