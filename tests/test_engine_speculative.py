"""The transcriber with a whole-buffer recognizer (Whisper's shape): speculative finals, skipped interims.

A token "model" decodes token audio (see test_engine_transcriber) from whole buffers, as Whisper
does, so the state machine's decode requests can be counted and compared with the incremental path.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgwidgets.decoder_pool import DecoderPool
from dgwidgets.engine.recognizer import RecognizedWord
from dgwidgets.engine.transcriber import (
    ENDPOINT_BACKDATE,
    LEAD_IN,
    MIN_RESUME,
    SAMPLE_RATE,
    SOUND_AFTER,
    StreamTranscriber,
)
from dgwidgets.engine.vad import VadFrame
from dgwidgets.engine.whisper_stream import Transcription, WhisperStreamRecognizer, completed
from dgwidgets.protocol import LiveOptions, Results

from .test_engine_transcriber import _AMPLITUDE, FRAME, TOL, TokenRecognizer, TokenVad, frame_ceil, token_audio


class TokenModel:
    """Decodes token audio from whole buffers; records every request."""

    def __init__(self, *, skip_interims: bool = False):
        self.requests: list[tuple[int, bool]] = []
        self.skip_interims = skip_interims
        self._reader = TokenRecognizer()

    def transcribe(self, request):
        self.requests.append((request.pcm.size, request.final))
        self._reader.start()
        if request.pcm.size:
            self._reader.feed(request.pcm)
        words = tuple(self._reader.finish())
        return Transcription(words=words, text=" ".join(w.word for w in words), no_speech_prob=0.0,
                             retried=False, rejected=None)

    def transcribe_batch(self, requests):
        return [self.transcribe(r) for r in requests]

    def submit(self, request):
        if self.skip_interims and not request.final:
            return completed(None)
        return completed(self.transcribe(request))


def run(pcm, model, chunk=0.1, **options):
    """(messages, transcriber) of ``pcm`` fed in ``chunk``-second pieces to a whole-buffer recognizer."""
    timed, t = timed_run(pcm, model, chunk, **options)
    return [m for m, _ in timed], t


def timed_run(pcm, model, chunk=0.1, vad_factory=TokenVad, **options):
    """([(message, seconds of audio fed when it came out)], transcriber)."""
    t = StreamTranscriber(
        LiveOptions(**options),
        recognizer_factory=lambda keyterms: WhisperStreamRecognizer(submit=model.submit, keyterms=keyterms),
        vad_factory=vad_factory,
    )
    step = max(1, round(chunk * SAMPLE_RATE))
    out = []
    for i in range(0, pcm.size, step):
        fed = min(i + step, pcm.size) / SAMPLE_RATE
        out += [(m, fed) for m in t.feed(pcm[i : i + step])]
    return out + [(m, pcm.size / SAMPLE_RATE) for m in t.close()], t


def incremental(pcm, chunk=0.1, **options):
    t = StreamTranscriber(LiveOptions(**options), recognizer_factory=TokenRecognizer, vad_factory=TokenVad)
    step = max(1, round(chunk * SAMPLE_RATE))
    out = []
    for i in range(0, pcm.size, step):
        out.extend(t.feed(pcm[i : i + step]))
    return out + t.close()


def finals(messages):
    return [(m.start, m.duration, m.speech_final, m.transcript) for m in messages if isinstance(m, Results) and m.is_final]


def test_speech_final_uses_the_decode_started_when_the_speaker_stopped():
    pcm, truth = token_audio("one two three |1.5 four five |1.5")
    model = TokenModel()
    out, _ = run(pcm, model, endpointing=300)
    speech_finals = [m for m in out if isinstance(m, Results) and m.speech_final]
    assert [m.transcript for m in speech_finals] == ["one two three", "four five"]
    # The final decodes cover the audio up to the first silent frame, not up to the endpoint:
    first_end = truth[2][2]
    final_sizes = [n for n, final in model.requests if final]
    assert final_sizes[0] == round((frame_ceil(first_end) + FRAME) * SAMPLE_RATE) or final_sizes[0] == round(
        frame_ceil(first_end) * SAMPLE_RATE
    )
    # ... and each speech_final reused it: one final decode per utterance, none at the endpoint.
    assert len(final_sizes) == 2


def test_whole_buffer_recognizer_gives_the_incremental_transcripts():
    pcm, _ = token_audio("one two |0.5 three four five six seven eight nine one two three four |1.0 five", word=0.3)
    options = dict(endpointing=300, interim_results=True)
    assert [f[3] for f in finals(run(pcm, TokenModel(), **options)[0])] == [
        f[3] for f in finals(incremental(pcm, **options))
    ]


def test_decodes_leave_out_a_long_silence_before_the_first_speech():
    # 4 s of silence, then speech: the decodes start LEAD_IN before the VAD's first speech frame,
    # and the words keep their stream times (token audio: the VAD hears a word at its first frame).
    pcm, truth = token_audio("one two three |1.5", lead=4.0)
    model = TokenModel()
    out, _ = run(pcm, model, endpointing=300, interim_results=True)
    (final,) = [m for m in out if isinstance(m, Results) and m.is_final and m.transcript]
    assert final.transcript == "one two three"
    times = [t for w in final.words for t in (w.start, w.end)]
    assert times == pytest.approx([t for _, s, e in truth for t in (s, e)], abs=TOL)
    skipped = round((frame_ceil(truth[0][1]) - LEAD_IN) * SAMPLE_RATE)
    assert skipped > 2 * SAMPLE_RATE
    heard_end = round((frame_ceil(truth[-1][2]) + FRAME) * SAMPLE_RATE)
    assert all(size <= heard_end - skipped + FRAME * SAMPLE_RATE for size, _ in model.requests)
    # a lead-in shorter than LEAD_IN is decoded whole, from the stream's first sample
    pcm, truth = token_audio("one two three |1.5", lead=LEAD_IN / 2)
    whole = TokenModel()
    run(pcm, whole, endpointing=300)
    (size,) = [size for size, final in whole.requests if final]
    assert size >= round(truth[-1][2] * SAMPLE_RATE)


def test_no_decode_while_the_vad_hears_nothing():
    model = TokenModel()
    out, _ = run(np.zeros(5 * SAMPLE_RATE, np.int16), model, interim_results=True)
    assert model.requests == []
    assert all(m.transcript == "" for m in out if isinstance(m, Results))
    assert sum(1 for m in out if isinstance(m, Results) and not m.is_final) == 4


def test_skipped_interims_never_change_finals():
    pcm, _ = token_audio("one two three four five six seven |0.6 eight nine |1.0", word=0.35)
    options = dict(endpointing=300, interim_results=True, utterance_end_ms=1000)
    normal, _ = run(pcm, TokenModel(), **options)
    loaded, t = run(pcm, TokenModel(skip_interims=True), **options)
    assert finals(loaded) == finals(normal)
    def interims(messages):
        return [m for m in messages if isinstance(m, Results) and not m.is_final]

    # Interims that needed an interim decode are gone; those served by a final's decode remain.
    assert 0 < len(interims(loaded)) < len(interims(normal))
    assert t.channels[0].interims_skipped == len(interims(normal)) - len(interims(loaded))


@settings(max_examples=40, deadline=None)
@given(
    script=st.lists(st.sampled_from(["one", "two", "three", "four", "|", "|0.6", "|1.2"]), min_size=1, max_size=14),
    chunk=st.sampled_from([0.02, 0.032, 0.1, 0.25, 1.0]),
    endpointing=st.sampled_from([10, 300, 500]),
)
def test_same_messages_for_any_chunking(script, chunk, endpointing):
    pcm, _ = token_audio(" ".join(script))
    options = dict(endpointing=endpointing, interim_results=True, utterance_end_ms=1000, vad_events=True)
    reference, _ = run(pcm, TokenModel(), chunk=0.05, **options)
    again, _ = run(pcm, TokenModel(), chunk=chunk, **options)
    assert [m.to_dict() for m in again] == [m.to_dict() for m in reference]
    # no word lost or doubled across forced cuts and endpoints
    words = [w.word for m in again if isinstance(m, Results) and m.is_final for w in m.words]
    assert words == [t for t in script if not t.startswith("|")]


def test_pool_batches_finals_first_and_drops_stale_interims():
    gate = threading.Event()

    class SlowModel(TokenModel):
        def transcribe_batch(self, requests):
            gate.wait(5)
            return super().transcribe_batch(requests)

    from dgwidgets.engine.whisper_stream import DecodeRequest

    model = SlowModel()
    pool = DecoderPool(model, workers=1, interim_budget=0.05, final_lane=False)
    try:
        blocker = pool.submit(DecodeRequest(np.zeros(512, np.int16), final=True))
        time.sleep(0.05)  # the worker is now busy with the blocker
        stale = [pool.submit(DecodeRequest(np.zeros(512 * (i + 2), np.int16), final=False)) for i in range(3)]
        final = pool.submit(DecodeRequest(np.zeros(4096, np.int16), final=True))
        time.sleep(0.1)  # the interims are now older than their budget
        gate.set()
        assert final.result(5).words == () and blocker.result(5) is not None
        assert [f.result(5) for f in stale] == [None, None, None]
        assert pool.stats.interims_dropped == 3 and pool.stats.finals == 2
    finally:
        gate.set()
        pool.close()


def test_the_final_lane_decodes_a_final_while_every_worker_is_busy_with_interims():
    # A speech_final is late by whatever its decode waits. With the final lane, a final does not
    # wait for the interim batch a worker is in the middle of; without it, it does.
    from dgwidgets.engine.whisper_stream import DecodeRequest

    for final_lane in (True, False):
        interims_may_finish = threading.Event()

        class InterimsBlock(TokenModel):
            def __init__(self, gate: threading.Event) -> None:
                super().__init__()
                self.gate = gate

            def transcribe_batch(self, requests):
                if not requests[0].final:
                    self.gate.wait(5)
                return super().transcribe_batch(requests)

        pool = DecoderPool(InterimsBlock(interims_may_finish), workers=1, interim_budget=5.0, final_lane=final_lane)
        try:
            assert pool.threads == (2 if final_lane else 1)
            interim = pool.submit(DecodeRequest(np.zeros(512, np.int16), final=False))
            time.sleep(0.05)  # the one worker is now inside the interim's decode
            final = pool.submit(DecodeRequest(np.zeros(1024, np.int16), final=True))
            if final_lane:
                assert final.result(2) is not None and not interim.done()
            else:
                time.sleep(0.2)
                assert not final.done()  # queued behind the interim batch
            interims_may_finish.set()
            assert interim.result(5) is not None and final.result(5) is not None
            # interims never go to the final lane: a second one waits for the worker like the first
            assert pool.stats.interims == 1 and pool.stats.finals == 1
        finally:
            interims_may_finish.set()
            pool.close()


def test_finals_that_arrive_together_are_shared_out_among_free_threads_not_batched_on_one():
    # Three streams end at once: each final gets its own free thread (a batch makes every member
    # wait for the whole batch); with one thread they are batched as before.
    from dgwidgets.engine.whisper_stream import DecodeRequest

    for workers, final_lane, batches in ((2, True, [1, 1, 1]), (1, False, [3])):

        class RecordsBatches(TokenModel):
            sizes: list[int] = []

            def transcribe_batch(self, requests):
                self.sizes.append(len(requests))
                return super().transcribe_batch(requests)

        model = RecordsBatches()
        model.sizes = []
        pool = DecoderPool(model, workers=workers, final_lane=final_lane, max_batch=8)
        try:
            deadline = time.monotonic() + 5
            while pool._idle < pool.threads and time.monotonic() < deadline:
                time.sleep(0.01)  # every thread is waiting for work (warm-up done)
            with pool._cond:  # all three are queued before any thread can take one
                futures = [pool.submit(DecodeRequest(np.zeros(512 * (k + 1), np.int16), final=True)) for k in range(3)]
            assert all(f.result(5) is not None for f in futures)
            assert sorted(model.sizes) == batches
        finally:
            pool.close()


def test_a_final_that_pushes_queued_interims_past_their_budget_skips_them_at_once():
    gate = threading.Event()

    class GatedModel(TokenModel):
        def transcribe_batch(self, requests):
            gate.wait(5)
            return super().transcribe_batch(requests)

    from dgwidgets.engine.whisper_stream import DecodeRequest

    pool = DecoderPool(GatedModel(), workers=1, max_batch=8, interim_budget=0.5, final_lane=False)
    try:
        pool._batch_seconds = 0.4  # as if each batch had taken 0.4 s
        blocker = pool.submit(DecodeRequest(np.zeros(512, np.int16), final=True))
        time.sleep(0.05)  # the worker is now busy with the blocker
        queued = pool.submit(DecodeRequest(np.zeros(1024, np.int16), final=False))  # expected wait 0.2 s: queued
        assert not queued.done()
        finals = [pool.submit(DecodeRequest(np.zeros(2048 * (i + 1), np.int16), final=True)) for i in range(12)]
        # the finals go first and take two batches: the interim is skipped now, while the worker is
        # still busy, so the stream waiting on it goes on (not after 0.4 s of other streams' finals)
        assert queued.done() and queued.result(0) is None
        gate.set()
        assert blocker.result(5) is not None and all(f.result(5) is not None for f in finals)
        assert pool.stats.interims_dropped == 1
    finally:
        gate.set()
        pool.close()


def test_pool_reports_model_errors_to_every_waiting_stream():
    from dgwidgets.engine.whisper_stream import DecodeRequest

    class Broken:
        def transcribe_batch(self, requests):
            raise RuntimeError("model exploded")

    with DecoderPool(Broken(), workers=1) as pool:
        future = pool.submit(DecodeRequest(np.zeros(512, np.int16)))
        with pytest.raises(RuntimeError, match="model exploded"):
            future.result(5)


class LateVad(TokenVad):
    """TokenVad that hears the speaker stop `late` frames after they did (as Silero does, ~50-270 ms)."""

    def __init__(self, late: int):
        super().__init__()
        self.late = late
        self._speech_run_end = -(10**9)  # frame index of the last speech frame

    def process(self, pcm):
        out = []
        for f in super().process(pcm):
            k = round(f.start / FRAME)
            if f.speech:
                self._speech_run_end = k
            speech = f.speech or k - self._speech_run_end <= self.late
            out.append(VadFrame(f.start, f.end, 1.0 if speech else 0.0, speech))
        return out


def late_run(pcm, model, *, late, chunk=0.1, **options):
    timed, _ = timed_run(pcm, model, chunk, vad_factory=lambda: LateVad(late), **options)
    return [m for m, _ in timed]


@pytest.mark.parametrize("late", [0, 2, 4, 6, 12])
@pytest.mark.parametrize("endpointing", [10, 300, 500])
def test_endpointing_counts_silence_from_the_last_word_not_from_a_late_vad(late, endpointing):
    pcm, truth = token_audio("one two three |1.5 four five |1.5")
    out = late_run(pcm, TokenModel(), late=late, endpointing=endpointing)
    speech_finals = [m for m in out if isinstance(m, Results) and m.speech_final and m.transcript]
    assert [m.transcript for m in speech_finals] == ["one two three", "four five"]
    for final, last_word in zip(speech_finals, (truth[2], truth[4])):
        decided = final.start + final.duration
        flip = frame_ceil(last_word[2]) + late * FRAME  # where the late VAD hears its first silent frame
        # never earlier than `endpointing` after the word (on the frame grid) nor than the VAD's flip
        assert decided >= max(last_word[2] + endpointing / 1000, flip) - TOL
        # counted from the word, not the flip; the count may start at most ENDPOINT_BACKDATE before it
        start = max(last_word[2], flip - FRAME - ENDPOINT_BACKDATE)
        assert decided <= max(frame_ceil(start + endpointing / 1000), flip) + FRAME + TOL, (late, decided)


def test_short_dips_between_words_never_wait_for_a_final_decode():
    # gaps of 0.1 s between words: the VAD flips in each, and a decode of the phrase so far starts
    # there (cheap to cancel); with endpointing 500 no dip comes near the point where the last word's
    # time could matter, so the stream only waits on (previews) the decode of the whole phrase
    pcm, truth = token_audio("one two three four five six |1.5", gap=0.1, word=0.3)
    previews = []

    class Recording(WhisperStreamRecognizer):
        def preview(self, end=None):
            previews.append(end)
            return super().preview(end)

    model = TokenModel()
    t = StreamTranscriber(
        LiveOptions(endpointing=500),
        recognizer_factory=lambda keyterms: Recording(submit=model.submit, keyterms=keyterms),
        vad_factory=TokenVad,
    )
    out = [m for i in range(0, pcm.size, 1600) for m in t.feed(pcm[i : i + 1600])] + t.close()
    assert [m.transcript for m in out if isinstance(m, Results) and m.speech_final] == ["one two three four five six"]
    phrase_end = round(frame_ceil(truth[-1][2]) * SAMPLE_RATE)
    assert previews and all(end >= phrase_end for end in previews if end), (previews, phrase_end)  # 0: nothing to decode
    # ... while with endpointing 10 every dip is an endpoint candidate, and is decided on its decode
    previews.clear()
    t = StreamTranscriber(
        LiveOptions(endpointing=10),
        recognizer_factory=lambda keyterms: Recording(submit=model.submit, keyterms=keyterms),
        vad_factory=TokenVad,
    )
    [m for i in range(0, pcm.size, 1600) for m in t.feed(pcm[i : i + 1600])]
    assert len(previews) >= 5


def test_pool_warms_up_each_worker_before_its_first_decode_and_survives_a_failed_warm_up():
    from dgwidgets.engine.whisper_stream import DecodeRequest

    class Model:
        def __init__(self, fail):
            self.events, self.fail, self.lock = [], fail, threading.Lock()

        def warm_up(self):
            with self.lock:
                self.events.append(("warm", threading.current_thread().name))
            if self.fail:
                raise RuntimeError("no aligner today")

        def transcribe_batch(self, requests):
            with self.lock:
                self.events.append(("decode", threading.current_thread().name))
            return ["ok" for _ in requests]

    for fail in (False, True):
        model = Model(fail)
        with DecoderPool(model, workers=2) as pool:
            assert [pool.submit(DecodeRequest(np.zeros(512, np.int16))).result(5) for _ in range(4)] == ["ok"] * 4
        warmed = [name for kind, name in model.events if kind == "warm"]
        assert sorted(warmed) == ["dgwidgets-decode-0", "dgwidgets-decode-1", "dgwidgets-decode-finals"]
        for kind, name in model.events:  # no worker decodes before its own warm-up
            if kind == "decode":
                assert ("warm", name) in model.events[: model.events.index((kind, name))]


def test_skip_leading_leaves_the_lead_out_of_every_decode_and_shifts_the_times_back():
    sizes = []
    heard = Transcription(words=(RecognizedWord("yes", 0.25, 0.5, 0.9, "Yes."),), text=" Yes.", no_speech_prob=0.1,
                          retried=False, rejected=None)

    def submit(request):
        sizes.append((request.pcm.size, request.final))
        return completed(heard)

    rec = WhisperStreamRecognizer(submit=submit)
    rec.start()
    rec.feed(np.zeros(3 * SAMPLE_RATE, np.int16))
    rec.skip_leading(2 * SAMPLE_RATE)
    (interim,) = rec.partial()
    rec.speculate(SAMPLE_RATE * 5 // 2)
    (final,) = rec.finish(SAMPLE_RATE * 5 // 2)
    assert sizes == [(SAMPLE_RATE, False), (SAMPLE_RATE // 2, True)]
    assert (interim.start, interim.end) == (final.start, final.end) == (2.25, 2.5)
    assert final.punctuated == "Yes." and final.confidence == 0.9
    # the next utterance starts with no lead; a skip after its first decode changes nothing
    rec.start()
    rec.feed(np.zeros(SAMPLE_RATE, np.int16))
    rec.partial()
    rec.skip_leading(SAMPLE_RATE // 2)
    assert [(w.start, w.end) for w in rec.finish()] == [(0.25, 0.5)]
    assert sizes[2:] == [(SAMPLE_RATE, False), (SAMPLE_RATE, True)]
    # a range that ends inside the lead has no words and costs no decode
    rec.start()
    rec.feed(np.zeros(SAMPLE_RATE, np.int16))
    rec.skip_leading(SAMPLE_RATE // 2)
    assert rec.preview(SAMPLE_RATE // 4) == [] and len(sizes) == 4
    with pytest.raises(ValueError, match="samples must be >= 0"):
        rec.skip_leading(-1)


@pytest.mark.parametrize("workers, final_lane", [(1, True), (2, True), (3, False)])
def test_a_pool_runs_as_many_decode_threads_as_threads_for_says(workers, final_lane):
    # the server sizes the model (one CTranslate2 replica per thread) from threads_for before the pool exists
    before = set(threading.enumerate())  # other tests' servers may have pools of their own running
    with DecoderPool(TokenModel(), workers=workers, final_lane=final_lane) as pool:
        running = [t for t in threading.enumerate() if t not in before and t.name.startswith("dgwidgets-decode")]
        assert pool.threads == DecoderPool.threads_for(workers, final_lane=final_lane) == len(running)


SOUND = 3  # token audio the VAD calls speech but the model hears no word in (a click, applause)


class SoundDeafModel(TokenModel):
    """TokenModel that hears no word in `SOUND` samples, as Whisper hears none in a cough."""

    def transcribe(self, request):
        pcm = np.where(np.abs(request.pcm) == SOUND, 0, request.pcm).astype(np.int16)
        return super().transcribe(dataclasses.replace(request, pcm=pcm))


def with_sound(pause: float, sound: float, amplitude: int = SOUND, tail: float = 1.5):
    """ "one two three", a pause, a run of `amplitude` lasting `sound` seconds, then silence."""
    pcm, truth = token_audio(f"one two three |{pause}", tail=0.0)
    run = np.full(round(sound * SAMPLE_RATE), amplitude, np.int16)
    sound_start = pcm.size / SAMPLE_RATE
    return np.concatenate((pcm, run, np.zeros(round(tail * SAMPLE_RATE), np.int16))), truth, sound_start


def speech_finals_of(timed):
    return [(m, at) for m, at in timed if isinstance(m, Results) and m.speech_final]


@pytest.mark.parametrize("chunk", [0.02, 0.1, 0.25])
def test_a_short_sound_in_the_pause_does_not_restart_the_endpointing_count(chunk):
    # a 0.1 s click 0.3 s into the pause (past SOUND_AFTER): at endpointing 500 the speech_final is
    # decided 0.5 s after "three" (the click over by then), not 0.5 s after the VAD heard the click stop
    pcm, truth, sound_start = with_sound(pause=0.3, sound=0.1)
    assert 0.1 < MIN_RESUME and 0.3 > SOUND_AFTER
    timed = speech_finals_of(timed_run(pcm, SoundDeafModel(), chunk, endpointing=500)[0])
    (first, decided), *rest = timed
    assert first.transcript == "one two three"
    click_over = frame_ceil(sound_start + 0.1) + FRAME  # the VAD's first silent frame after the click
    due = max(frame_ceil(truth[-1][2] + 0.5), click_over)
    assert due - TOL <= decided <= due + chunk + TOL
    # the final ends where the click began; the click starts the next segment, which holds no word
    assert first.start + first.duration == pytest.approx(frame_ceil(sound_start) - FRAME, abs=TOL)
    assert rest and all(m.transcript == "" for m, _ in rest)
    assert rest[0][0].start == pytest.approx(first.start + first.duration, abs=1e-6)


def test_a_short_word_after_a_pause_gets_a_final_of_its_own():
    # the same short run holding a word: not lost, and not waited for. It is decoded in the next
    # segment and ends it with its own speech_final, counted from its own end
    pcm, truth, sound_start = with_sound(pause=0.3, sound=0.1, amplitude=-_AMPLITUDE["four"])
    timed = speech_finals_of(timed_run(pcm, SoundDeafModel(), 0.1, endpointing=500)[0])
    assert [m.transcript for m, _ in timed if m.transcript] == ["one two three", "four"]
    four = next(m for m, _ in timed if m.transcript == "four")
    assert four.start + four.duration >= sound_start + 0.1 + 0.5 - ENDPOINT_BACKDATE - TOL


def test_a_short_run_right_after_the_flip_is_the_words_own_end():
    # a run starting within SOUND_AFTER of the flip (a stop's release after its closure) is decoded
    # with the words before it, and the count starts again from its end
    pcm, truth, sound_start = with_sound(pause=0.1, sound=0.1, amplitude=-_AMPLITUDE["four"])
    assert 0.1 + FRAME < SOUND_AFTER
    timed = speech_finals_of(timed_run(pcm, SoundDeafModel(), 0.1, endpointing=500)[0])
    assert [m.transcript for m, _ in timed if m.transcript] == ["one two three four"]
    first = timed[0][0]
    assert first.start + first.duration >= sound_start + 0.1 + 0.5 - TOL


def test_a_run_as_long_as_min_resume_is_the_speaker_going_on():
    # a noise as long as MIN_RESUME (or longer) begins a new pause: the count restarts after it,
    # from at most ENDPOINT_BACKDATE before the VAD heard it stop, and nothing is cut
    pcm, truth, sound_start = with_sound(pause=0.3, sound=MIN_RESUME + 0.05)
    timed = speech_finals_of(timed_run(pcm, SoundDeafModel(), 0.1, endpointing=500)[0])
    first, decided = timed[0]
    assert first.transcript == "one two three"
    noise_over = frame_ceil(sound_start + MIN_RESUME + 0.05)
    assert decided >= noise_over + 0.5 - ENDPOINT_BACKDATE - TOL
    assert first.start + first.duration >= noise_over


@pytest.mark.parametrize("pause, sound", [(0.3, 0.1), (0.1, 0.1), (0.3, MIN_RESUME + 0.05), (0.6, 0.06)])
@pytest.mark.parametrize("endpointing", [300, 500, 1000])
def test_sounds_in_pauses_give_the_same_messages_for_any_chunking(pause, sound, endpointing):
    pcm, _, _ = with_sound(pause=pause, sound=sound)
    runs = [run(pcm, SoundDeafModel(), chunk=chunk, endpointing=endpointing)[0] for chunk in (0.02, 0.1, 0.37)]
    assert finals(runs[0]) == finals(runs[1]) == finals(runs[2])
    # the finals tile the stream: each starts where the one before ended, nothing dropped
    spans = [(start, start + duration) for start, duration, _, _ in finals(runs[0])]
    assert all(abs(a[1] - b[0]) < 1e-6 for a, b in zip(spans, spans[1:]))
    assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(pcm.size / SAMPLE_RATE, abs=1e-6)
