"""Whisper as a `StreamingRecognizer`: the segment's audio decoded again for each interim and final.

Whisper is not incremental: it reads a whole buffer at once. This adapter keeps the current
segment's audio and turns the transcriber's calls into decode requests:

- ``partial()``: an interim decode of everything fed so far (``None`` when the decoder skipped it
  because the server is behind: interims may be dropped under load, finals never);
- ``speculate(end)``: the transcriber's hint that the audio after ``end`` samples is probably
  silence (the VAD has just heard the speaker stop); the final decode of ``audio[:end]`` starts
  now, so that when the endpointing timer expires the speech_final can go out at once;
- ``preview(end)``: the words of that final decode, without ending the utterance;
- ``finish(end)``: end the utterance with the final decode of ``audio[:end]`` (all the audio when
  ``end`` is None), reusing a speculative decode of the same range;
- ``skip_leading(samples)``: the transcriber's word that the utterance's first ``samples`` are not
  speech (the VAD heard none there). Decodes leave them out: Whisper invents words in a long lead-in
  of silence (seen on real speech: 3.5 s of silence then "front center" came back as "front center
  front center"), and a shorter buffer costs less to decode and to align. Word times still count
  from the utterance start.

Decoding itself goes through ``submit``, a callable that takes a `DecodeRequest` and returns a
`concurrent.futures.Future`: by default the model decodes at once in the caller's thread; the
server passes a shared, batching decoder pool instead (the shells own threads). The results depend
only on the audio range decoded, so the messages are the same whatever the pacing and the load.

>>> import numpy as np
>>> heard = Transcription(words=(RecognizedWord("yes", 0.1, 0.4, 0.9),), text=" Yes.", no_speech_prob=0.1,
...                       retried=False, rejected=None)
>>> rec = WhisperStreamRecognizer(submit=lambda request: completed(heard))
>>> rec.start(); rec.feed(np.zeros(8000, dtype=np.int16))
>>> [w.word for w in rec.partial()], [w.word for w in rec.finish()], rec.incremental
(['yes'], ['yes'], False)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace

import numpy as np

from .recognizer import RecognizedWord

__all__ = ["WhisperStreamRecognizer", "Submit", "completed", "Transcription"]

try:  # the model module needs ctranslate2; the adapter itself does not
    from .whisper import DecodeRequest, Transcription
except ImportError:  # pragma: no cover - exercised only when ctranslate2 is missing

    @dataclass(frozen=True)
    class DecodeRequest:  # type: ignore[no-redef]
        pcm: np.ndarray
        final: bool = True
        keyterms: tuple[str, ...] = ()

    @dataclass(frozen=True)
    class Transcription:  # type: ignore[no-redef]
        words: tuple[RecognizedWord, ...] = ()
        text: str = ""
        no_speech_prob: float = 0.0
        retried: bool = False
        rejected: str | None = None


#: How a recognizer gets its decodes done: a request in, a future of its `Transcription` out
#: (a future resolving to None means the decoder skipped an interim because it is behind).
Submit = Callable[[DecodeRequest], "Future[Transcription | None]"]


def completed(value: object) -> Future:
    """A future that is already done with ``value`` (for decoders that run in the caller's thread)."""
    future: Future = Future()
    future.set_result(value)
    return future


class WhisperStreamRecognizer:
    """One stream's Whisper recognizer (see the module docs for the calls it answers).

    Args:
        submit: runs a `DecodeRequest` and returns a future of its `Transcription`.
        keyterms: phrases that bias recognition (passed with every request).
        sample_rate: must be 16000 (Whisper's rate; the server resamples everything else).
    """

    #: Whisper re-reads the whole segment per decode: the transcriber asks for as few as it can.
    incremental = False

    def __init__(self, *, submit: Submit, keyterms: Sequence[str] = (), sample_rate: int = 16000) -> None:
        if sample_rate != 16000:
            raise ValueError(f"Whisper needs 16000 Hz audio, got sample_rate={sample_rate}")
        if isinstance(keyterms, str):
            keyterms = [keyterms]
        self.sample_rate = sample_rate
        self.keyterms = tuple(keyterms)
        self._submit = submit
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._active = False
        self._interim: tuple[int, list[RecognizedWord] | None] | None = None  # (samples, words)
        self._finals: dict[int, Future] = {}  # end sample -> final decode of audio[_lead:end]
        self._lead = 0  # samples at the utterance start left out of decodes (no speech there)

    @property
    def in_utterance(self) -> bool:
        return self._active

    @property
    def samples_fed(self) -> int:
        return self._samples

    def start(self) -> None:
        """Begin an utterance (a second ``start()`` before any audio is a no-op)."""
        if self._active and self._samples:
            raise RuntimeError("start() called during an utterance with audio; call finish() first")
        self._active = True
        self._chunks, self._samples = [], 0
        self._interim, self._finals = None, {}
        self._lead = 0

    def skip_leading(self, samples: int) -> None:
        """Leave the utterance's first ``samples`` out of its decodes (see the module docs).

        Call it before the first decode of the utterance (decodes already asked for keep their
        range); word times still count from the utterance start.

        >>> seen = []
        >>> heard = Transcription(words=(RecognizedWord("yes", 0.1, 0.4, 0.9),), text=" Yes.",
        ...                       no_speech_prob=0.1, retried=False, rejected=None)
        >>> rec = WhisperStreamRecognizer(submit=lambda request: seen.append(request.pcm.size) or completed(heard))
        >>> rec.start(); rec.feed(np.zeros(32000, dtype=np.int16)); rec.skip_leading(16000)
        >>> [(w.word, w.start, w.end) for w in rec.finish()], seen
        ([('yes', 1.1, 1.4)], [16000])
        """
        if samples < 0:
            raise ValueError(f"samples must be >= 0, got {samples}")
        if self._active and not self._finals and self._interim is None:
            self._lead = min(int(samples), self._samples)

    def feed(self, pcm: np.ndarray) -> None:
        """Add int16 mono samples to the current utterance."""
        if not self._active:
            raise RuntimeError("feed() called outside an utterance; call start() first")
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
            got = f"dtype {pcm.dtype}, shape {pcm.shape}" if isinstance(pcm, np.ndarray) else type(pcm).__name__
            raise TypeError(f"feed() needs a 1-D numpy int16 array, got {got}")
        if pcm.size:
            self._chunks.append(pcm.copy())
            self._samples += int(pcm.size)

    def _audio(self, end: int | None = None) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        audio = self._chunks[0] if self._chunks else np.zeros(0, dtype=np.int16)
        return audio if end is None else audio[:end]

    def _request(self, end: int, *, final: bool) -> Future:
        pcm = self._audio(end)[self._lead :]
        return self._submit(DecodeRequest(pcm=pcm, final=final, keyterms=self.keyterms))

    def _words(self, result: Transcription | None) -> list[RecognizedWord] | None:
        """A decode's words with times from the utterance start (None: the decode was skipped)."""
        if result is None:
            return None
        if not self._lead:
            return list(result.words)
        shift = self._lead / self.sample_rate
        return [replace(w, start=round(w.start + shift, 3), end=round(w.end + shift, 3)) for w in result.words]

    def partial(self) -> list[RecognizedWord] | None:
        """An interim decode of the audio so far; ``None`` if the decoder skipped it (load)."""
        if not self._active or not self._samples:
            return []
        if self._interim is None or self._interim[0] != self._samples:
            result = self._request(self._samples, final=False).result()
            self._interim = (self._samples, self._words(result))
        return self._interim[1]

    def speculate(self, end: int) -> None:
        """Start the final decode of ``audio[:end]`` now; `finish(end)` will use it."""
        if self._active and self._lead < end <= self._samples and end not in self._finals:
            self._finals[end] = self._request(end, final=True)

    def abandon_speculation(self) -> None:
        """The speaker went on: speculative decodes not started yet are cancelled (their audio grew)."""
        for future in self._finals.values():
            future.cancel()
        self._finals = {}

    def preview(self, end: int | None = None) -> list[RecognizedWord]:
        """The words of the final decode of ``audio[:end]``, leaving the utterance open."""
        if not self._active or not self._samples:
            return []
        end = self._samples if end is None else min(end, self._samples)
        if end <= self._lead:
            return []
        future = self._finals.get(end)
        if future is None or future.cancelled():
            future = self._finals[end] = self._request(end, final=True)
        return self._words(future.result()) or []

    def finish(self, end: int | None = None) -> list[RecognizedWord]:
        """End the utterance; its words from the final decode of ``audio[:end]``."""
        if not self._active:
            return []
        words = self.preview(end) if self._samples else []
        self._active = False
        self._chunks, self._samples = [], 0
        self._interim, self._finals = None, {}
        self._lead = 0
        return words
