"""Word times by pocketsphinx 5 forced alignment of a known text (as WhisperX pairs Whisper with an aligner).

Whisper's own word times (cross-attention DTW) are ~120 ms off at the median; aligning Whisper's
words with pocketsphinx's en-us acoustic model is far tighter and costs ~12-15 ms CPU per second
of audio (see ``benchmarks/whisper_decode.py``).  Decoders are pooled, one per concurrent caller
(a pocketsphinx decoder is not thread-safe). They load no language model: alignment follows
the given words, and the en-us LM is most of a decoder's creation time (measured: 0.3-1.6 s with
it, 0.04-0.15 s without, the same word times to the frame on the real-speech set). Creating one
holds the GIL, so a costly one stalled every other stream's VAD on a fresh server.

>>> import numpy as np
>>> ForcedAligner().align(np.zeros(1600, dtype=np.int16), ["zyxwq"]) is None   # not in the dictionary
True
"""

from __future__ import annotations

import queue
import re
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["Aligner", "ForcedAligner"]

_VARIANT = re.compile(r"\(\d+\)$")
_FRAME_S = 0.01


class Aligner(Protocol):
    """What a Whisper model needs to time its finals' words: `ForcedAligner` here, or
    `dgwidgets.aligner_processes.AlignerProcesses` (the same aligner in worker processes)."""

    def align(self, pcm: np.ndarray, words: Sequence[str]) -> list[tuple[float, float]] | None:
        """(start, end) seconds for each of ``words`` in ``pcm`` (int16 mono 16 kHz), or None."""
        ...

    def prepare(self) -> None:
        """Pay the first call's set-up cost now."""
        ...


class ForcedAligner:
    """Align a sequence of dictionary words to audio; ``None`` when it cannot (unknown word, no path)."""

    def __init__(self) -> None:
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def _decoder(self) -> Any:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            import pocketsphinx

            pocketsphinx.set_loglevel("FATAL")
            decoder = pocketsphinx.Decoder(samprate=16000, loglevel="FATAL", bestpath=False, lm=None)
            return decoder, decoder.get_cmn()

    def prepare(self) -> None:
        """Create one more pooled decoder now (~0.1 s), so that a caller's first ``align`` does not pay it.

        >>> aligner = ForcedAligner(); aligner.prepare(); aligner.pooled
        1
        """
        self._pool.put(self._decoder())

    @property
    def pooled(self) -> int:
        """Decoders ready in the pool (not counting those in use)."""
        return self._pool.qsize()

    def align(self, pcm: np.ndarray, words: Sequence[str]) -> list[tuple[float, float]] | None:
        """(start, end) seconds for each of ``words`` in ``pcm`` (int16 mono 16 kHz), or None."""
        if not words or pcm.size < 1600:
            return None
        decoder, initial_cmn = pooled = self._decoder()
        try:
            if any(decoder.lookup_word(w) is None for w in words):
                return None  # pocketsphinx cannot pronounce it: the caller keeps its own times
            try:
                # Live CMN learns from each utterance: start every alignment from the same state,
                # so word times depend on this audio alone (not on what was aligned before).
                decoder.set_cmn(initial_cmn)
                with warnings.catch_warnings():  # "deprecated and unnecessary", yet it resets the feature state
                    warnings.simplefilter("ignore", DeprecationWarning)
                    decoder.start_stream()
                decoder.set_align_text(" ".join(words))
                decoder.start_utt()
                decoder.process_raw(pcm.tobytes(), full_utt=True)
                decoder.end_utt()
            except RuntimeError:
                return None
            segs = [s for s in (decoder.seg() or ()) if s.word not in ("<s>", "</s>", "<sil>", "(NULL)")]
            segs = [s for s in segs if not s.word.startswith(("[", "+"))]
            if [_VARIANT.sub("", s.word) for s in segs] != list(words):
                return None
            limit = pcm.size / 16000
            return [
                (round(min(s.start_frame * _FRAME_S, limit), 3), round(min((s.end_frame + 1) * _FRAME_S, limit), 3))
                for s in segs
            ]
        finally:
            self._pool.put(pooled)
