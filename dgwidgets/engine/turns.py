"""The Flux turn state machine: VAD frames + a streaming recognizer + an end-of-turn detector in, TurnInfo out.

A pure core driven by audio time (no sockets, threads or clocks): the same audio, options and
client messages give the same events whatever the chunk sizes. It works on the VAD's 32 ms
frame grid and with any `StreamingRecognizer` (start / feed / partial / finish).

States and events (what Deepgram's Flux documents, rebuilt here):

* **idle** - no turn. When the VAD hears speech, a *candidate* turn opens: the recognizer starts
  on the audio from `PRE_ROLL` before the onset. The candidate becomes a turn with
  **StartOfTurn** at the first `UPDATE_INTERVAL` tick where the transcript is not empty (a
  noise burst that yields no words never starts a turn).
* **in turn** - **Update** every `UPDATE_INTERVAL` of audio with the turn's transcript so far.
  Once the speaker has been silent for `EOT_DELAY`, the detector scores the turn once (Smart
  Turn on the turn's audio, or the text fallback) and the *end-of-turn confidence* grows with
  the silence: ``1 - (1 - p) * exp(-(silence - EOT_DELAY) / SILENCE_TAU)``; speech sets it back
  to 0. It reaching ``eager_eot_threshold`` (if set) gives **EagerEndOfTurn** with the final
  transcript; speech after that gives **TurnResumed** and the turn goes on; it reaching
  ``eot_threshold`` (below 1.0, which turns the model off) gives **EndOfTurn** (``trigger: model``;
  in eager mode always announced by an EagerEndOfTurn, in the same frame if need be), with the EagerEndOfTurn's
  transcript when nothing was said since. ``eot_timeout_ms`` of silence gives EndOfTurn
  (``trigger: timeout``) whatever the confidence; `force_end` gives it with ``trigger: manual``.
  After EndOfTurn, ``turn_index`` goes up by one.

>>> from dgwidgets.engine.vad import VadFrame
>>> class Fake:  # a recognizer that hears "hi" in anything
...     sample_rate = 16000
...     def start(self): self.n = 0
...     def feed(self, pcm): self.n += pcm.size
...     def partial(self): return [RecognizedWord("hi", 0.0, 0.2, 0.9)] if self.n else []
...     def finish(self): return self.partial()
>>> class Sure:
...     name = "test"
...     def probability(self, audio, words): return 1.0
>>> machine = TurnMachine(Fake(), Sure(), TurnSettings())
>>> frame = np.zeros(512, dtype=np.int16)
>>> events = []
>>> for i in range(40):  # 0.64 s of speech, then silence
...     events += machine.frame(VadFrame(i * 0.032, (i + 1) * 0.032, 0.9, i < 20), frame)
>>> [e["event"] for e in events if e["event"] != "Update"]
['StartOfTurn', 'EndOfTurn']
>>> end = next(e for e in events if e["event"] == "EndOfTurn")
>>> end["trigger"], end["transcript"], end["audio_window_end"] > 0.64, machine.turn_index
('model', 'hi', True, 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .recognizer import RecognizedWord, StreamingRecognizer
from .smart_turn import EndOfTurnDetector
from .vad import VadFrame

__all__ = [
    "TurnMachine",
    "TurnSettings",
    "FluxTranscriber",
    "UPDATE_INTERVAL",
    "EOT_DELAY",
    "SILENCE_TAU",
    "PRE_ROLL",
    "end_of_turn_confidence",
]

SAMPLE_RATE = 16_000
#: Flux sends an Update about every 0.25 s of transcribed audio.
UPDATE_INTERVAL = 0.25
#: Silence before the detector is asked (Smart Turn is trained on turns cut ~0.2 s after speech).
EOT_DELAY = 0.192
#: How fast silence alone makes the turn's end certain: with p = 0 the confidence reaches 0.7
#: after about 1.2 s more silence, with p = 0.6 after 0.3 s.
SILENCE_TAU = 1.0
#: Audio before the VAD's onset given to the recognizer (the VAD decides a frame or two late).
PRE_ROLL = 0.192
_FRAME = 512


def end_of_turn_confidence(p: float, silence: float) -> float:
    """The turn machine's confidence after `silence` seconds, given the detector's probability `p`.

    >>> end_of_turn_confidence(0.9, 0.1), end_of_turn_confidence(0.0, EOT_DELAY)
    (0.0, 0.0)
    >>> round(end_of_turn_confidence(0.0, EOT_DELAY + 1.2), 3), round(end_of_turn_confidence(0.6, EOT_DELAY + 0.3), 3)
    (0.699, 0.704)
    """
    if silence < EOT_DELAY:
        return 0.0
    return 1.0 - (1.0 - p) * math.exp(-(silence - EOT_DELAY) / SILENCE_TAU)


@dataclass(frozen=True)
class TurnSettings:
    """The thresholds a stream runs with (changed mid-stream by Configure)."""

    eot_threshold: float = 0.7
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int = 5000


class TurnMachine:
    """One stream's turns. Feed it every VAD frame with that frame's samples; it returns TurnInfo bodies.

    Each returned dict has the TurnInfo fields except ``type``, ``request_id`` and
    ``sequence_id``, which the protocol layer (`dgwidgets.flux`) stamps on.
    """

    def __init__(
        self,
        recognizer: StreamingRecognizer,
        detector: EndOfTurnDetector,
        settings: TurnSettings,
    ) -> None:
        self.recognizer = recognizer
        self.detector = detector
        self.settings = settings
        self.turn_index = 0
        self.now = 0.0  # end of the last frame, in stream seconds
        self._next_update = UPDATE_INTERVAL
        self._history: list[np.ndarray] = []  # the last PRE_ROLL of audio, for the next turn's start
        #: set by the shell after Configure changes keyterms: builds the recognizer for the next turn
        self.next_recognizer: Callable[[], StreamingRecognizer] | None = None
        self._reset_turn()
        self._idle_since = 0.0

    # -- state ---------------------------------------------------------------------------------

    def _reset_turn(self) -> None:
        self.candidate = False  # speech heard, recognizer running, no StartOfTurn yet
        self.started = False  # StartOfTurn sent
        self.eager = False  # EagerEndOfTurn sent and not resumed
        self._turn_start = 0.0
        self._segment_start = 0.0  # stream time of the recognizer utterance's first sample
        self._done_words: list[dict[str, Any]] = []  # finished recognizer utterances of this turn
        self._live_words: list[dict[str, Any]] = []  # the current utterance's partial
        self._audio: list[np.ndarray] = []  # the turn's audio (last WINDOW seconds), for the detector
        self._audio_samples = 0
        self._last_speech = 0.0  # end of the last speech frame
        self._probability: float | None = None  # the detector's score for the current silence
        self.confidence = 0.0
        self._eager_words: list[dict[str, Any]] | None = None
        self._recognizing = False

    @property
    def in_turn(self) -> bool:
        return self.started

    # -- inputs --------------------------------------------------------------------------------

    def frame(self, vad: VadFrame, pcm: np.ndarray) -> list[dict[str, Any]]:
        """One 32 ms frame: its VAD verdict and its int16 samples. Returns the events it caused."""
        out: list[dict[str, Any]] = []
        self.now = vad.end
        if vad.speech:
            if not (self.candidate or self.started):
                self._open(vad.start)
            self._last_speech = vad.end
            self.confidence = 0.0
            self._probability = None
            if self.eager:
                self._resume()
                out.append(self._info("TurnResumed"))
        if self.candidate or self.started:
            self._turn_audio(pcm)
            if self._recognizing:  # not between an EagerEndOfTurn and a TurnResumed
                self.recognizer.feed(pcm)
        else:
            self._remember(pcm)
        if vad.end + 1e-9 >= self._next_update:
            self._next_update += UPDATE_INTERVAL
            out.extend(self._tick())
        if (self.candidate or self.started) and not vad.speech:
            out.extend(self._silence())
        return out

    def force_end(self) -> list[dict[str, Any]]:
        """ForceEndTurn: end the turn now (``trigger: manual``). Returns [] when no word was heard yet."""
        if not (self.candidate or self.started):
            return []
        out: list[dict[str, Any]] = []
        if not self.started:
            self._finish_segment()
            if not self._done_words:
                self._close_turn()
                return []
            self.started = True
            self.candidate = False
            out.append(self._info("StartOfTurn"))
        out.append(self._end("manual"))
        return out

    def configure(self, settings: TurnSettings) -> None:
        """New thresholds from Configure; they apply from the next frame."""
        self.settings = settings

    # -- internals -----------------------------------------------------------------------------

    def _remember(self, pcm: np.ndarray) -> None:
        self._history.append(pcm)
        keep = int(PRE_ROLL * SAMPLE_RATE / _FRAME)
        if len(self._history) > keep:
            del self._history[: len(self._history) - keep]

    def _open(self, onset: float) -> None:
        self._reset_turn()
        self.candidate = True
        pre = self._history
        self._history = []
        pre_samples = sum(p.size for p in pre)
        self._turn_start = max(0.0, round(onset - pre_samples / SAMPLE_RATE, 6))
        self._segment_start = self._turn_start
        if self.next_recognizer is not None:
            self.recognizer, self.next_recognizer = self.next_recognizer(), None
        self.recognizer.start()
        self._recognizing = True
        for chunk in pre:
            self.recognizer.feed(chunk)
            self._turn_audio(chunk)

    def _turn_audio(self, pcm: np.ndarray) -> None:
        self._audio.append(pcm)
        self._audio_samples += pcm.size
        limit = 8 * SAMPLE_RATE
        while self._audio_samples - self._audio[0].size >= limit:
            self._audio_samples -= self._audio.pop(0).size

    def _words(self, words: Sequence[RecognizedWord]) -> list[dict[str, Any]]:
        return [
            {
                "word": w.word,
                "confidence": round(float(w.confidence), 4),
                "start": round(self._segment_start + w.start, 3),
                "end": round(self._segment_start + w.end, 3),
            }
            for w in words
        ]

    def _finish_segment(self) -> None:
        if self._recognizing:
            # A recognizer may drop a last hypothesis at finish(); the words already shown stand.
            self._done_words += self._words(self.recognizer.finish()) or self._live_words
            self._live_words = []
            self._recognizing = False

    def _resume(self) -> None:
        """Speech after EagerEndOfTurn: a new recognizer utterance continues the same turn."""
        self.eager = False
        self._eager_words = None
        self.recognizer.start()
        self._recognizing = True
        self._segment_start = self.now - _FRAME / SAMPLE_RATE

    def _all_words(self) -> list[dict[str, Any]]:
        return self._done_words + self._live_words

    def _tick(self) -> list[dict[str, Any]]:
        if self._recognizing:
            heard = self.recognizer.partial()
            if heard is not None:  # None: a whole-buffer decoder skipped it under load; keep the last words
                self._live_words = self._words(heard)
        if self.candidate and self._all_words():
            self.candidate = False
            self.started = True
            return [self._info("StartOfTurn")]
        return [self._info("Update")]

    def _silence(self) -> list[dict[str, Any]]:
        silence = self.now - self._last_speech
        out: list[dict[str, Any]] = []
        if self.candidate:
            if silence >= EOT_DELAY:  # the speech is over: did it say anything?
                self._finish_segment()
                if not self._done_words:
                    self._close_turn()
                    return []
                self.candidate = False
                self.started = True
                out.append(self._info("StartOfTurn"))
            else:
                return []
        if silence * 1000.0 + 1e-6 >= self.settings.eot_timeout_ms:
            out.append(self._end("timeout"))
            return out
        if silence < EOT_DELAY:
            return out
        if self._probability is None:
            audio = np.concatenate(self._audio) if self._audio else None
            self._probability = float(self.detector.probability(audio, [w["word"] for w in self._all_words()]))
        self.confidence = end_of_turn_confidence(self._probability, silence)
        eager = self.settings.eager_eot_threshold
        # eot_threshold 1.0 turns the model off (Deepgram: "fully manual" with ForceEndTurn and the timeout)
        if self.settings.eot_threshold < 1.0 and self.confidence >= self.settings.eot_threshold:
            if eager is not None and not self.eager:  # in eager mode every model EndOfTurn is announced
                out.append(self._eager())
            out.append(self._end("model"))
        elif eager is not None and not self.eager and self.confidence >= eager:
            out.append(self._eager())
        return out

    def _eager(self) -> dict[str, Any]:
        self._finish_segment()
        self.eager = True
        self._eager_words = list(self._done_words)
        return self._info("EagerEndOfTurn")

    def _end(self, trigger: str) -> dict[str, Any]:
        if self.eager and self._eager_words is not None:
            self._done_words = list(self._eager_words)  # EndOfTurn repeats the EagerEndOfTurn's transcript
        else:
            self._finish_segment()
        event = self._info("EndOfTurn")
        event["trigger"] = trigger
        self.turn_index += 1
        self._close_turn()
        return event

    def _close_turn(self) -> None:
        if self._recognizing:
            self.recognizer.finish()
        self._reset_turn()
        self._idle_since = self.now

    def _info(self, event: str) -> dict[str, Any]:
        words = self._all_words()
        in_turn = self.candidate or self.started
        return {
            "event": event,
            "turn_index": self.turn_index,
            "audio_window_start": round(self._turn_start if in_turn else self._idle_since, 3),
            "audio_window_end": round(self.now, 3),
            "transcript": " ".join(w["word"] for w in words) if self.started else "",
            "words": [dict(w) for w in words] if self.started else [],
            "end_of_turn_confidence": round(self.confidence, 4),
        }


class FluxTranscriber:
    """Silero VAD + a `TurnMachine`: int16 16 kHz audio in any chunk sizes in, TurnInfo bodies out.

    >>> from dgwidgets.engine.smart_turn import TextCompletenessDetector
    >>> from dgwidgets.engine.transcriber import default_recognizer
    >>> flux = FluxTranscriber(default_recognizer([]), TextCompletenessDetector(), TurnSettings())
    >>> events = flux.feed(np.zeros(16000, dtype=np.int16))  # 1 s of silence: Updates only
    >>> sorted({e["event"] for e in events}), flux.duration
    (['Update'], 1.0)
    """

    def __init__(self, recognizer: StreamingRecognizer, detector: EndOfTurnDetector, settings: TurnSettings) -> None:
        from .vad import SileroVad

        self.vad = SileroVad()
        self.machine = TurnMachine(recognizer, detector, settings)
        self._pending = np.zeros(0, dtype=np.int16)
        self.samples = 0

    @property
    def duration(self) -> float:
        """Seconds of audio received."""
        return self.samples / SAMPLE_RATE

    def feed(self, pcm: np.ndarray) -> list[dict[str, Any]]:
        self.samples += pcm.size
        audio = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        frames = self.vad.process(pcm)
        used = len(frames) * _FRAME
        out: list[dict[str, Any]] = []
        for i, frame in enumerate(frames):
            out += self.machine.frame(frame, audio[i * _FRAME : (i + 1) * _FRAME])
        self._pending = audio[used:].copy()
        return out
