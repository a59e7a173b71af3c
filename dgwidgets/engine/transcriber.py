"""The streaming transcriber: 16 kHz audio in, live-protocol messages out.

A pure state machine driven by audio time (no sockets, threads or clocks): the same audio and
options give the same messages whatever the chunk sizes. Every decision is taken on the VAD's
32 ms frame grid, and the recognizer is fed exactly up to the frame being decided.

Per channel it keeps one *segment*: the audio since the last final. Each VAD frame:

1. SpeechStarted (vad_events) when the VAD enters speech, re-armed after `SPEECH_STARTED_REARM`
   seconds of non-speech, so a short dip inside a word does not fire it again.
2. Endpointing: once the segment has had speech and the VAD has seen `endpointing` ms of
   non-speech since (Whisper-like recognizers: `endpointing` ms since the last recognized word's
   end, which the VAD notices only ~110 ms late; at most `ENDPOINT_BACKDATE` earlier than the
   VAD's own timer; a run of speech shorter than `MIN_RESUME` inside the pause, such as a click or
   applause starting, counts only if the recognizer hears a word in it), the segment becomes a
   final with ``speech_final: true`` at once (held by
   smart_format while a number looks unfinished, up to `SMART_FORMAT_HOLD`, unless no_delay;
   the digits finalized since the last endpoint count, so a forced cut cannot hide the start
   of a number).
3. Every `INTERIM_INTERVAL` of audio: an interim (interim_results) for the whole segment so far,
   empty ones during silence too; then, if the segment is longer than `MAX_SEGMENT` and no
   endpoint is being held, a final with ``speech_final: false`` cut at a word boundary at least
   `CUT_MARGIN` behind the newest audio (the words at the tip are the least stable). The audio
   after the cut is fed again to a fresh utterance, so no word is lost or doubled.
   Over pure silence the final is empty and, with endpointing on, has ``speech_final: true``
   (what recorded Deepgram traffic shows).

Whisper-like recognizers decode a segment from `LEAD_IN` before its first speech frame: a segment
that starts in a pause (after an endpoint, or a cut over silence) does not hand Whisper seconds of
silence to invent words in. Times still count from the segment start.

Finalize flushes the segment as a final with ``from_finalize: true``; close flushes it as a
plain final. UtteranceEnd is computed from the emitted word timings (see `utterance_end`).

Background speech: a VAD stays "in speech" under a crowd, and the recognizer transcribes the
crowd in the pauses. Like the confidence cut on background speakers the docs recommend, a word
must stand `BACKGROUND_MARGIN_DB` above the stream's background level (`NoiseFloor`) to count.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..protocol import (
    Alternative,
    LiveOptions,
    Message,
    Results,
    ResultsMetadata,
    SpeechStarted,
    Word,
)
from .formatting import DIGITS, format_words, incomplete_number_tail, transcript_of
from .models import LocalModel, resolve_model
from .models import recognizer_factory as factory_for_model
from .recognizer import PocketsphinxRecognizer, RecognizedWord, StreamingRecognizer
from .utterance_end import UtteranceEndDetector
from .vad import SileroVad, VadFrame

__all__ = [
    "StreamTranscriber",
    "ChannelTranscriber",
    "MODEL_INFO",
    "MODEL_UUID",
    "SAMPLE_RATE",
    "INTERIM_INTERVAL",
    "MAX_SEGMENT",
    "CUT_MARGIN",
    "SMART_FORMAT_HOLD",
    "SPEECH_STARTED_REARM",
    "ENDPOINT_BACKDATE",
    "LEAD_IN",
    "MIN_RESUME",
    "SOUND_AFTER",
    "BACKGROUND_MARGIN_DB",
    "NoiseFloor",
    "keyterms_of",
]

#: The engine works at 16 kHz, the acoustic model's rate; the server resamples everything else.
SAMPLE_RATE = 16_000
#: Deepgram sends interim results about once per second of audio.
INTERIM_INTERVAL = 1.0
#: Continuous speech is finalized in pieces: the docs show finals after ~3-4 s without a pause.
MAX_SEGMENT = 4.0
#: A forced final ends at a word boundary at least this far behind the newest audio (the docs:
#: interims up to 4.30 s, final cut at 3.26 s).
CUT_MARGIN = 0.8
#: If no word boundary allows a cut, a segment is cut anyway at this length (bounded memory).
HARD_MAX_SEGMENT = 3 * MAX_SEGMENT
#: smart_format may hold an endpoint this long while a number looks incomplete (docs: up to 3 s).
SMART_FORMAT_HOLD = 3.0
#: The endpointing timer may count silence from the last word's end, at most this long before
#: the VAD heard the speaker stop (Whisper-like recognizers only; see `_silent_since_last_word`).
ENDPOINT_BACKDATE = 0.2
#: Whisper-like recognizers: a segment's audio more than this long before its first VAD speech frame
#: is left out of its decodes (Whisper invents words in long silences). Measured on real speech:
#: 1.0 s reads the same as no trim alone and better after long pauses; 0.5 s turned the credit-card
#: sample's "four four four four" into "so i saw so i saw" (tiny.en reads a word better with context).
LEAD_IN = 1.0
#: Whisper-like recognizers: a run of VAD speech shorter than this inside a pause does not restart the
#: pause (see `_silent_since_last_word`): a click, a cough or applause starting. If it holds a word, that
#: word still counts (see `SOUND_AFTER`). Silero's own post-processing drops speech shorter than 250 ms;
#: fillers ("um") last longer. Measured on the real-speech set and the samples: no run this short held a
#: word of its own; those that occurred were applause (Kennedy's: 64-160 ms depending on where the 32 ms
#: frames fall), breaths, a flicker at a word's end and a stop's release ("righ-t"). 0.15 s let one
#: alignment of the applause (5 frames) count as the speaker going on.
MIN_RESUME = 0.2
#: A short run that starts this long or more after the pause began is a separate *sound*, and its
#: decode is not waited for: if the count from the last word expires first, the speech_final ends
#: where the sound began, and the sound's audio starts the next segment (decoded there like any
#: speech, so a short word is not lost: it gets a final of its own). An earlier run is the last word's
#: own end, such as a stop's release after its closure ("righ-t" in the alsa prompts: 64 ms of speech
#: 96 ms after the VAD heard silence), and is decoded with the word.
SOUND_AFTER = 0.25
#: Non-speech needed before another SpeechStarted can fire.
SPEECH_STARTED_REARM = 0.3
#: A word must be this much louder (RMS, dB) than the background level to count as foreground.
BACKGROUND_MARGIN_DB = 5.0
#: The background level is this percentile of the 32 ms frame levels heard so far: pauses and
#: the dips between syllables, i.e. what is there when the speaker is not.
NOISE_FLOOR_PERCENTILE = 20

MODEL_NAME = "dgwidgets-local"
MODEL_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "dgwidgets-local/pocketsphinx-en-us+silero"))
MODEL_INFO = {"name": MODEL_NAME, "version": "0.1.0", "arch": "pocketsphinx-en-us+silero-vad"}

RecognizerFactory = Callable[[Sequence[str]], StreamingRecognizer]
VadFactory = Callable[[], SileroVad]


def keyterms_of(options: LiveOptions) -> list[str]:
    """The phrases that bias recognition: keyterm, plus keywords without their ':boost' suffix."""
    phrases = list(options.keyterm)
    for keyword in options.keywords:
        word, _, boost = keyword.rpartition(":")
        phrases.append(word if word and _is_number(boost) else keyword)
    return phrases


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def default_recognizer(keyterms: Sequence[str]) -> StreamingRecognizer:
    return PocketsphinxRecognizer(keyterms=keyterms)


def _level_db(audio: np.ndarray) -> float:
    if audio.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    return 20.0 * np.log10(max(rms, 1e-3) / 32768.0)


class NoiseFloor:
    """A running low percentile of frame levels, in 1 dB bins (constant memory, deterministic).

    >>> floor = NoiseFloor()
    >>> for level in [-60] * 3 + [-20] * 7:
    ...     floor.add(level)
    >>> floor.level()
    -60.0
    """

    LOW_DB = -120

    def __init__(self, percentile: float = NOISE_FLOOR_PERCENTILE) -> None:
        self.percentile = percentile
        self._counts = np.zeros(-self.LOW_DB + 1, dtype=np.int64)
        self._total = 0

    def add(self, level_db: float) -> None:
        index = int(round(min(max(level_db, self.LOW_DB), 0.0))) - self.LOW_DB
        self._counts[index] += 1
        self._total += 1

    def level(self) -> float:
        """The background level in dBFS (-120 before any audio)."""
        if not self._total:
            return float(self.LOW_DB)
        rank = self._total * self.percentile / 100.0
        index = int(np.searchsorted(np.cumsum(self._counts), max(rank, 1)))
        return float(index + self.LOW_DB)


@dataclass
class _Segment:
    start: int  # sample index of the segment start (stream position)
    chunks: list[np.ndarray] = field(default_factory=list)
    length: int = 0
    had_speech: bool = False
    silence_start: int | None = None  # first non-speech sample after speech, None while speaking
    #: samples from the segment start to the end of the first non-speech frame after speech (the
    #: range a speculative final decodes), None while speaking
    speech_end: int | None = None
    speech_frames: int = 0  # VAD speech frames heard in this segment
    #: where the VAD first heard the speaker stop in the current pause; runs of speech shorter than
    #: `MIN_RESUME` inside the pause keep it (None while speaking)
    pause_start: int | None = None
    run: int = 0  # samples of the current run of speech since the pause began (0 outside one)
    #: sounds held in the pause (`SOUND_AFTER`): where the first began (stream sample), the length of
    #: the one going on now (0 when none), where the last one ended
    sound_start: int | None = None
    sound_run: int = 0
    sound_end: int | None = None
    last_tick: int = 0  # sample index of the last interim tick

    def audio(self) -> np.ndarray:
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0] if self.chunks else np.zeros(0, dtype=np.int16)


class ChannelTranscriber:
    """One channel's state machine. Use `StreamTranscriber` unless you drive channels yourself."""

    def __init__(
        self,
        options: LiveOptions,
        *,
        channel: tuple[int, int] = (0, 1),
        request_id: str = "",
        recognizer: StreamingRecognizer,
        vad: SileroVad,
        model: LocalModel | None = None,
    ) -> None:
        self.options = options
        self.channel = channel
        info, model_uuid = (model.model_info, model.model_uuid) if model is not None else (MODEL_INFO, MODEL_UUID)
        # `extra=k:v` query parameters come back as `metadata.extra` in every Results, as on Deepgram
        extra = {"extra": dict(options.extra)} if options.extra else {}
        self.metadata = ResultsMetadata(
            request_id=request_id, model_info=dict(info), model_uuid=model_uuid, unknown=extra
        )
        self.recognizer = recognizer
        self._next_recognizer: StreamingRecognizer | None = None  # from a Configure, used from the next segment
        self.vad = vad
        self.position = 0  # samples decided on (whole VAD frames, plus the tail at close)
        self._pending = np.zeros(0, dtype=np.int16)  # < one VAD frame, not decided yet
        self._segment = _Segment(start=0)
        self._sentence_start = True
        # Digit words at the end of what was finalized since the last endpoint: a forced cut can
        # split a number, and the smart_format hold must judge the whole run, not the tip.
        self._finalized_digits: list[Word] = []
        self._holding = False  # smart_format is holding an endpoint
        self._speech_started_armed = True
        self._non_speech_run = 0
        self._floor = NoiseFloor()
        self._utterance_end = (
            UtteranceEndDetector(options.utterance_end_ms / 1000.0, channel)
            if options.interim_results and options.utterance_end_ms
            else None
        )
        #: Whisper-like recognizers decode whole buffers: ask for as few decodes as possible.
        self._speculative = not getattr(recognizer, "incremental", True)
        self._interim_cache: tuple[int, list[RecognizedWord]] | None = None
        #: ((segment start, speech_end), absolute sample where the last foreground word ends)
        self._last_word_end: tuple[tuple[int, int], int | None] | None = None
        #: Interims the decoder skipped because the server was behind (finals are never skipped).
        self.interims_skipped = 0
        self.recognizer.start()

    # -- input ----------------------------------------------------------------------------------

    def feed(self, pcm: np.ndarray) -> list[Message]:
        """Add int16 mono samples; returns the messages they cause, in wire order."""
        out: list[Message] = []
        audio = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        frame = SileroVad.frame_samples
        whole = audio.size - audio.size % frame
        for offset in range(0, whole, frame):
            chunk = audio[offset : offset + frame]
            self.recognizer.feed(chunk)
            self._segment.chunks.append(chunk)
            self._segment.length += chunk.size
            self._floor.add(_level_db(chunk))
            for vad_frame in self.vad.process(chunk):
                self.position += frame
                self._on_frame(vad_frame, out)
        self._pending = audio[whole:].copy()
        return out

    def finalize(self) -> list[Message]:
        """The client sent Finalize: flush the segment (no reply if nothing was heard)."""
        if self._segment.length == 0 or not (self._segment.had_speech or self._recognizer_has_words()):
            return []
        out: list[Message] = []
        self._finalize_segment(out, speech_final=False, from_finalize=True)
        return out

    def close(self) -> list[Message]:
        """End of stream: the undecided tail goes to the recognizer and the segment is flushed."""
        if self._pending.size:
            self.recognizer.feed(self._pending)
            self._segment.chunks.append(self._pending)
            self._segment.length += self._pending.size
            self.position += self._pending.size
            self._pending = np.zeros(0, dtype=np.int16)
        out: list[Message] = []
        if self._segment.length:
            self._finalize_segment(out, speech_final=False)
        return out

    # -- per frame ------------------------------------------------------------------------------

    def _on_frame(self, frame: VadFrame, out: list[Message]) -> None:
        seg = self._segment
        if frame.speech:
            if self._speech_started_armed and self.options.vad_events:
                out.append(SpeechStarted(timestamp=round(frame.start, 3), channel=self.channel))
            self._speech_started_armed = False
            self._non_speech_run = 0
            if not self._held_as_sound(seg):
                self._speech_goes_on(seg)
        else:
            self._non_speech_run += SileroVad.frame_samples
            if self._non_speech_run >= SPEECH_STARTED_REARM * SAMPLE_RATE:
                self._speech_started_armed = True
            if seg.sound_run:
                seg.sound_run, seg.sound_end = 0, self.position - SileroVad.frame_samples
            seg.run = 0
            if seg.had_speech and seg.silence_start is None:
                seg.silence_start = self.position - SileroVad.frame_samples
                if seg.pause_start is None:
                    seg.pause_start = seg.silence_start
                # The VAD has just heard the speaker stop. A recognizer that decodes whole buffers
                # (Whisper) starts the final's decode now, so that the speech_final can go out as
                # soon as the endpointing timer expires instead of waiting for a decode then.
                seg.speech_end = self.position - seg.start
                if self._speculative and self.options.endpointing_ms is not None:
                    self.recognizer.speculate(seg.speech_end)
        if self._endpoint_reached():
            self._finalize_segment(out, speech_final=True)
            return
        if self.position - self._segment.last_tick >= INTERIM_INTERVAL * SAMPLE_RATE:
            self._segment.last_tick = self.position
            if self.options.interim_results:
                self._emit_interim(out)
            # no forced cut while smart_format holds an endpoint: the held final is due as one
            # speech_final (a cut would end the number without its endpoint)
            if self._segment.length >= MAX_SEGMENT * SAMPLE_RATE and not self._holding:
                self._cut_long_segment(out)

    def _speech_goes_on(self, seg: _Segment) -> None:
        if not seg.had_speech and self._speculative:
            # the segment's first speech: what lies well before it is silence, not worth decoding
            lead = self.position - SileroVad.frame_samples - seg.start - round(LEAD_IN * SAMPLE_RATE)
            if lead > 0:
                self.recognizer.skip_leading(lead)
        seg.had_speech = True
        seg.speech_frames += 1
        if seg.pause_start is not None:
            seg.run += SileroVad.frame_samples
            if seg.run >= MIN_RESUME * SAMPLE_RATE:
                seg.pause_start, seg.run = None, 0  # the speaker went on: the pause is over
        if seg.silence_start is not None and self._speculative:
            self.recognizer.abandon_speculation()  # the speaker went on: that decode is stale
        seg.silence_start = None
        seg.speech_end = None

    def _held_as_sound(self, seg: _Segment) -> bool:
        """Is this speech frame, so far, part of a sound held in a pause (`SOUND_AFTER`)?

        Only for Whisper-like recognizers with endpointing on. The speculative final started when the
        pause began stays; the endpoint waits while the sound goes on. A run that lasts `MIN_RESUME`
        is the speaker going on: the pause ends, and the frames held are speech like the rest (their
        audio is already in the segment).
        """
        if not (self._speculative and self.options.endpointing_ms is not None and seg.pause_start is not None):
            return False
        if seg.run:
            return False  # a run that began as the last word's end goes on as it began
        frame_start = self.position - SileroVad.frame_samples
        if seg.sound_start is None and frame_start - seg.pause_start < SOUND_AFTER * SAMPLE_RATE:
            return False  # the last word's own end: decoded with it
        seg.sound_run += SileroVad.frame_samples
        if seg.sound_run < MIN_RESUME * SAMPLE_RATE:
            if seg.sound_start is None:
                seg.sound_start = frame_start
            return True
        seg.sound_start, seg.sound_run, seg.sound_end = None, 0, None
        seg.pause_start, seg.run = None, 0
        return False

    def _endpoint_reached(self) -> bool:
        self._holding = False
        ms = self.options.endpointing_ms
        seg = self._segment
        if ms is None or not seg.had_speech or seg.silence_start is None or seg.sound_run:
            return False  # (a sound going on may yet be the speaker going on)
        silence = self.position - seg.silence_start
        needed = ms * SAMPLE_RATE / 1000
        if silence < needed and not self._silent_since_last_word(needed):
            return False
        if self.options.smart_format and not self.options.no_delay and silence < SMART_FORMAT_HOLD * SAMPLE_RATE:
            # Hold while the words so far end in what looks like half a phone number.
            words = self._finalized_digits + self._absolute(self._words_so_far())
            if incomplete_number_tail(words):
                self._holding = True
                return False
        return True

    def _silent_since_last_word(self, needed: float) -> bool:
        """Has there been ``needed`` samples of silence since the end of the segment's last word?

        Silero flips to non-speech ~50-270 ms (median ~110 ms) after a word ends, so a timer started
        at the flip endpoints late by that much. A Whisper-like recognizer has already started the
        final's decode at the flip (`speculate`); its aligned word times say where the speech really
        ended. Counting the silence from there is what ``endpointing`` means. The count starts at most
        `ENDPOINT_BACKDATE` before the flip that began the pause (a word time far before it would be
        an alignment error). A run of speech shorter than `MIN_RESUME` since that flip (a click, a
        cough, applause starting) does not begin a new pause: it is decoded with the rest and counts
        only if it holds a word. The decode is consulted only once that could matter, so short dips
        between words never wait for a decode. The words depend only on the audio decoded: the
        decision stays a function of the audio, whatever the chunking or the load.
        """
        seg = self._segment
        if not self._speculative or seg.speech_end is None or seg.silence_start is None:
            return False
        pause = seg.silence_start if seg.pause_start is None else seg.pause_start
        earliest = pause - ENDPOINT_BACKDATE * SAMPLE_RATE
        if self.position - earliest < needed:
            return False
        if self._last_word_end is None or self._last_word_end[0] != (seg.start, seg.speech_end):
            words = self._foreground(self._absolute(self.recognizer.preview(seg.speech_end)))
            end = round(words[-1].end * SAMPLE_RATE) if words else None
            self._last_word_end = ((seg.start, seg.speech_end), end)
        end = self._last_word_end[1]
        if end is None:
            return False  # nothing recognized: the VAD's own timer decides
        return self.position - max(end, earliest) >= needed

    # -- messages -------------------------------------------------------------------------------

    def _seconds(self, sample: int) -> float:
        return round(sample / SAMPLE_RATE, 6)

    def _absolute(self, words: Sequence[RecognizedWord], *, limit: int | None = None) -> list[Word]:
        """Recognizer words (times from the segment start) to protocol words in stream time."""
        base = self._segment.start / SAMPLE_RATE
        end_limit = (limit if limit is not None else self._segment.start + self._segment.length) / SAMPLE_RATE
        out = []
        for w in words:
            start = round(min(base + w.start, end_limit), 3)
            end = round(min(base + w.end, end_limit), 3)
            out.append(Word(w.word, start, max(start, end), round(w.confidence, 4)))
        return out

    def _foreground(self, words: list[Word]) -> list[Word]:
        """Drop words that do not stand out of the background (a crowd heard in the pauses)."""
        if not words:
            return words
        audio = self._segment.audio()
        base = self._segment.start
        threshold = self._floor.level() + BACKGROUND_MARGIN_DB
        kept = []
        for w in words:
            a = min(max(0, int(w.start * SAMPLE_RATE) - base), audio.size)
            b = min(max(a + 1, int(w.end * SAMPLE_RATE) - base), audio.size)
            if _level_db(audio[a:b]) >= threshold:
                kept.append(w)
        return kept

    def _results(
        self, start: int, end: int, words: list[Word], *, is_final: bool, speech_final: bool, from_finalize: bool
    ) -> Results:
        opts = self.options
        formatted = format_words(
            words,
            punctuate=opts.punctuate,
            smart_format=opts.smart_format,
            numerals=opts.numerals,
            sentence_start=self._sentence_start,
            sentence_end=speech_final,
        )
        confidence = round(float(np.mean([w.confidence for w in formatted])), 4) if formatted else 0.0
        return Results(
            start=self._seconds(start),
            duration=self._seconds(end - start),
            is_final=is_final,
            speech_final=speech_final,
            alternatives=(Alternative(transcript_of(formatted), confidence, tuple(formatted)),),
            channel_index=self.channel,
            metadata=self.metadata,
            from_finalize=from_finalize,
        )

    def _send(self, results: Results, out: list[Message]) -> None:
        out.append(results)
        if self._utterance_end is not None:
            event = self._utterance_end.observe(results)
            if event is not None:
                out.append(event)

    def _words_so_far(self) -> list[RecognizedWord]:
        """The best words for the segment so far, without ending it.

        Whisper-like recognizers: once the speaker has stopped, the (speculative) final decode of
        the speech; before that, the interim decode. Incremental ones: their partial hypothesis.
        """
        if self._speculative and self._segment.speech_end is not None:
            return self.recognizer.preview(self._segment.speech_end)
        return self.recognizer.partial() or []

    def _interim_words(self) -> list[RecognizedWord] | None:
        """Words for an interim result; None when the decoder skipped it (the server is behind)."""
        if not self._speculative:
            return self.recognizer.partial()
        seg = self._segment
        if not seg.had_speech:
            return []  # the VAD heard nothing: no decode, an empty interim (Whisper invents text on silence)
        if seg.speech_end is not None:
            return self.recognizer.preview(seg.speech_end)
        if seg.length >= MAX_SEGMENT * SAMPLE_RATE and not self._holding:
            return self.recognizer.preview()  # a forced cut follows at this tick: one decode for both
        if self._interim_cache is not None and self._interim_cache[0] == seg.speech_frames:
            return self._interim_cache[1]  # no new speech since the last decode: same words
        words = self.recognizer.partial()
        if words is not None:
            self._interim_cache = (seg.speech_frames, words)
        return words

    def _emit_interim(self, out: list[Message]) -> None:
        seg = self._segment
        heard = self._interim_words()
        if heard is None:
            self.interims_skipped += 1
            return
        words = self._foreground(self._absolute(heard))
        results = self._results(
            seg.start, seg.start + seg.length, words, is_final=False, speech_final=False, from_finalize=False
        )
        self._send(results, out)

    def _recognizer_has_words(self) -> bool:
        if self._speculative:
            return False  # only what the VAD heard as speech is decoded
        return bool(self.recognizer.partial())

    def _finish_recognizer(self) -> list[RecognizedWord]:
        if self._speculative:
            if not self._segment.had_speech:
                self.recognizer.finish(0)
                return []
            if self._segment.sound_start is not None:
                return self.recognizer.finish()  # Finalize or close after a held sound: decode it too
            return self.recognizer.finish(self._segment.speech_end)
        return self.recognizer.finish()

    def _finalize_segment(self, out: list[Message], *, speech_final: bool, from_finalize: bool = False) -> None:
        seg = self._segment
        if speech_final and seg.sound_start is not None:
            self._finalize_before_sound(out)
            return
        end = seg.start + seg.length
        words = self._foreground(self._absolute(self._finish_recognizer()))
        self._send(
            self._results(seg.start, end, words, is_final=True, speech_final=speech_final, from_finalize=from_finalize),
            out,
        )
        if words:
            self._sentence_start = speech_final
        self._note_finalized(words, speech_final=speech_final)
        self._start_segment(end)

    def _finalize_before_sound(self, out: list[Message]) -> None:
        """The endpoint of a pause that held a sound: the speech_final ends where the sound began.

        Its words are the speculative final's, decoded up to the VAD's flip, before the sound. The
        sound and the silence after it start the next segment, which decodes the sound like any speech
        and endpoints on its own (an empty final for a click; a short word gets a final of its own).
        """
        seg = self._segment
        cut, sound_end = seg.sound_start, seg.sound_end
        assert cut is not None and sound_end is not None and seg.speech_end is not None
        words = self._foreground(self._absolute(self.recognizer.finish(seg.speech_end), limit=cut))
        self._send(self._results(seg.start, cut, words, is_final=True, speech_final=True, from_finalize=False), out)
        if words:
            self._sentence_start = True
        self._note_finalized(words, speech_final=True)
        self._start_segment(cut, seg.audio()[cut - seg.start :].copy())
        self._sound_then_silence(sound_end)

    def _sound_then_silence(self, sound_end: int) -> None:
        """The new segment's carried audio holds speech (a sound) up to ``sound_end``, then silence."""
        seg = self._segment
        seg.had_speech = True
        seg.speech_frames = 1
        seg.silence_start = seg.pause_start = sound_end
        seg.speech_end = sound_end + SileroVad.frame_samples - seg.start
        self.recognizer.speculate(seg.speech_end)

    def _note_finalized(self, words: list[Word], *, speech_final: bool) -> None:
        if speech_final:
            self._finalized_digits = []
            return
        tail = self._finalized_digits + words
        i = len(tail)
        while i and tail[i - 1].word in DIGITS:
            i -= 1
        self._finalized_digits = tail[i:]

    def use_recognizer_from_next_segment(self, recognizer: StreamingRecognizer) -> None:
        """Switch recognizers (new keyterms) where the next segment starts; the open one keeps its words."""
        self._next_recognizer = recognizer

    def _start_segment(self, start: int, carry: np.ndarray | None = None) -> None:
        self._segment = _Segment(start=start, last_tick=self.position)
        self._interim_cache = None
        if self._next_recognizer is not None:
            self.recognizer, self._next_recognizer = self._next_recognizer, None
        self.recognizer.start()
        if carry is not None and carry.size:
            self.recognizer.feed(carry)
            self._segment.chunks.append(carry)
            self._segment.length = carry.size
            # the carried audio was speech being spoken: keep the endpoint logic aware of it
            self._segment.had_speech = True

    def _cut_long_segment(self, out: list[Message]) -> None:
        seg = self._segment
        if seg.sound_run:
            return  # a sound is going on: cut at a later tick, once it is over or is speech
        end = seg.start + seg.length
        # Whisper-like recognizers: the cut is found on a final-quality decode of the segment (never
        # skipped under load, so the cut does not depend on the load), whose words before the cut
        # are the final's; incremental ones find it on the partial and decode their final pass.
        if not self._speculative:
            heard = self.recognizer.partial() or []
        else:
            heard = self.recognizer.preview(seg.speech_end) if seg.had_speech else []
        cut = self._cut_point(end, self._absolute(heard))
        if cut is None:
            if seg.length < HARD_MAX_SEGMENT * SAMPLE_RATE and (seg.had_speech or self._recognizer_has_words()):
                return  # no safe word boundary yet: try again at the next tick
            cut = end
        audio = seg.audio()
        if self._speculative:
            self.recognizer.finish(seg.speech_end if seg.had_speech else 0)  # the decode behind `heard`
        else:
            heard = self.recognizer.finish()
        words = [w for w in self._absolute(heard, limit=cut) if (w.start + w.end) / 2 * SAMPLE_RATE < cut]
        words = self._foreground(words)
        # Recorded Deepgram traffic: a final over pure silence comes with speech_final true (its
        # endpointer sees silence); a cut inside speech has speech_final false. Without endpointing, never.
        silent = not words and not seg.had_speech and self.options.endpointing_ms is not None
        self._send(self._results(seg.start, cut, words, is_final=True, speech_final=silent, from_finalize=False), out)
        if words:
            self._sentence_start = False
        self._note_finalized(words, speech_final=False)
        carry = audio[cut - seg.start :].copy()
        silence_start = seg.silence_start
        self._start_segment(cut, carry)
        # What the carried audio holds: speech still going on, speech then silence, or silence only.
        if silence_start is None:
            self._segment.had_speech = bool(carry.size)
        elif silence_start >= cut:
            self._segment.silence_start = silence_start
            self._segment.pause_start = seg.pause_start
            self._segment.sound_start, self._segment.sound_end = seg.sound_start, seg.sound_end
            if seg.speech_end is not None:
                self._segment.speech_end = seg.speech_end - (cut - seg.start)
                if self._speculative and self.options.endpointing_ms is not None:
                    self.recognizer.speculate(self._segment.speech_end)
        elif seg.sound_end is not None:
            self._sound_then_silence(seg.sound_end)  # silence, the held sound, silence
        else:
            self._segment.had_speech = False

    def _cut_point(self, end: int, words: list[Word]) -> int | None:
        """The last word boundary in ``words`` at least CUT_MARGIN behind the newest audio."""
        latest = end - CUT_MARGIN * SAMPLE_RATE
        best = None
        for i, w in enumerate(words):
            boundary = w.end if i + 1 == len(words) else (w.end + words[i + 1].start) / 2
            if i + 1 < len(words) and words[i + 1].start < w.end:
                continue  # overlapping words: not a boundary
            sample = int(round(boundary * SAMPLE_RATE))
            if sample <= latest and sample > self._segment.start:
                best = sample
        return best


class StreamTranscriber:
    """All channels of one stream. Feed 16 kHz int16 audio; get protocol messages back.

    Without multichannel, channels are mixed down and transcribed as one (``channel_index [0, 1]``);
    with it, each channel has its own VAD, recognizer and timeline (``[i, n]``).

    >>> import numpy as np
    >>> from dgwidgets.protocol import LiveOptions
    >>> t = StreamTranscriber(LiveOptions(interim_results=True), keyterms_default=("hello there",))
    >>> msgs = t.feed(np.zeros(16_000 * 2, dtype=np.int16))
    >>> [(m.start, m.duration, m.is_final, m.transcript) for m in msgs]
    [(0.0, 1.024, False, '')]
    >>> [(m.is_final, m.duration) for m in t.close()]
    [(True, 2.0)]
    """

    def __init__(
        self,
        options: LiveOptions,
        *,
        request_id: str = "",
        recognizer_factory: RecognizerFactory | None = None,
        vad_factory: VadFactory = SileroVad,
        keyterms_default: Sequence[str] = (),
        model: LocalModel | None = None,
    ) -> None:
        self.options = options
        self.request_id = request_id
        if recognizer_factory is None:
            model = model or resolve_model(options.model)
            recognizer_factory = factory_for_model(model)
        #: the recognizer that runs, as Results' ``model_info`` reports it (None: a custom factory)
        self.model = model
        self._recognizer_factory = recognizer_factory
        self._keyterms_default = tuple(keyterms_default)
        keyterms = keyterms_of(options) or list(keyterms_default)
        count = options.channels if options.multichannel else 1
        self.channels = [
            ChannelTranscriber(
                options,
                channel=(i, count),
                request_id=request_id,
                recognizer=recognizer_factory(keyterms),
                vad=vad_factory(),
                model=model,
            )
            for i in range(count)
        ]
        self.samples_received = 0

    @property
    def duration(self) -> float:
        """Seconds of audio received so far."""
        return self.samples_received / SAMPLE_RATE

    def feed(self, pcm: np.ndarray) -> list[Message]:
        """`pcm`: int16 at 16 kHz, shape (n,) or (n, channels)."""
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
            got = f"dtype {pcm.dtype}" if isinstance(pcm, np.ndarray) else type(pcm).__name__
            raise TypeError(
                f"StreamTranscriber.feed needs a numpy array of int16 samples, got {got}; "
                "for raw bytes use np.frombuffer(data, dtype=np.int16)"
            )
        if pcm.ndim not in (1, 2):
            raise ValueError(f"StreamTranscriber.feed needs shape (n,) or (n, channels), got {pcm.shape}")
        pcm = pcm.reshape(-1, 1) if pcm.ndim == 1 else pcm
        self.samples_received += pcm.shape[0]
        if len(self.channels) == 1:
            mono = pcm[:, 0] if pcm.shape[1] == 1 else pcm.mean(axis=1).round().astype(np.int16)
            return self.channels[0].feed(np.ascontiguousarray(mono))
        if pcm.shape[1] != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} channels, got {pcm.shape[1]}")
        out: list[Message] = []
        for i, channel in enumerate(self.channels):
            out.extend(channel.feed(np.ascontiguousarray(pcm[:, i])))
        return out

    def finalize(self, channel: int | None = None) -> list[Message]:
        targets = self.channels if channel is None else [self.channels[channel]]
        return [m for c in targets for m in c.finalize()]

    def close(self) -> list[Message]:
        return [m for c in self.channels for m in c.close()]

    def configure(self, *, keyterms: Sequence[str] | None = None, numerals: bool | None = None) -> None:
        """Apply a client's Configure: `numerals` from the next message, `keyterms` (replacing all
        keyterms and keywords; () clears them) from the next segment, since a recognizer's vocabulary
        is fixed for the utterance it is decoding. None leaves a setting as it is.

        >>> import numpy as np
        >>> from dgwidgets.protocol import LiveOptions
        >>> t = StreamTranscriber(LiveOptions(keyterm=("two",)))
        >>> t.configure(keyterms=["three"], numerals=True)
        >>> t.options.keyterm, t.options.numerals
        (('three',), True)
        """
        changes: dict = {}
        if numerals is not None:
            changes["numerals"] = bool(numerals)
        if keyterms is not None:
            changes.update(keyterm=tuple(keyterms), keywords=())
        if not changes:
            return
        self.options = self.options.replace(**changes)
        phrases = keyterms_of(self.options) or list(self._keyterms_default)
        for channel in self.channels:
            channel.options = channel.options.replace(**changes)
            if keyterms is not None:
                channel.use_recognizer_from_next_segment(self._recognizer_factory(phrases))
