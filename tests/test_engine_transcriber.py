"""The streaming transcriber (dgwidgets.engine.transcriber) against PROTOCOL.md's timing rules.

Two kinds of test:

- runs over the real sample audio (sample_audio/*.wav, with exact ground truth), with the real VAD
  and recognizer: accuracy, the docs' shapes, UtteranceEnd, endpointing, determinism, invariants.
  Runs are cached (tests/engine_runs.py), so a run shared by several tests is paid for once.
- "token audio" with a scripted recognizer and VAD: each word is a run of one constant sample
  value, so the exact word and silence times are known and the state machine's timing rules
  (endpoint delay, smart_format's hold, Finalize) can be checked to the frame.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dgwidgets.engine.recognizer import RecognizedWord
from dgwidgets.engine.transcriber import (
    CUT_MARGIN,
    INTERIM_INTERVAL,
    MAX_SEGMENT,
    SAMPLE_RATE,
    SMART_FORMAT_HOLD,
    StreamTranscriber,
)
from dgwidgets.engine.vad import VadFrame
from dgwidgets.protocol import LiveOptions, Message, Results, SpeechStarted, UtteranceEnd
from dgwidgets.samples import sample, samples
from dgwidgets.utterances import SpeechFinal

from .engine_runs import (
    ALL_FEATURES,
    DOCS,
    duration_of,
    final_text,
    final_words,
    finals,
    interims,
    options_for,
    pcm_of,
    results,
    run,
    show,
    speech_finals,
    speech_starts,
    stream,
    utterance_ends,
    wer,
)

SAMPLE_NAMES = [s.name for s in samples()]
FRAME = 512 / SAMPLE_RATE  # the VAD frame: every decision is on this grid
TOL = 1e-6


def docs_run(name: str, **changes) -> tuple[Message, ...]:
    return run(name, options_for(name, **{**DOCS, **changes}))


def index_of(messages, predicate) -> int:
    return next(i for i, m in enumerate(messages) if predicate(m))


# ================================================================================================
# 1. Accuracy
# ================================================================================================


def test_the_catalog_has_the_samples_these_tests_talk_about():
    assert {
        "credit-card",
        "monologue",
        "hello-there",
        "voice-agent",
        "yes",
        "dictation-pauses",
        "phone-number",
        "drive-thru",
    } <= set(SAMPLE_NAMES)


#: Word error rate each sample's finals must reach with no keyterms. The drive-thru order is spoken
#: under loud crowd babble: Whisper tiny.en confuses its function words ("and a" -> "in the", measured
#: 15.8%), while the menu items the lesson is about come through (tests/test_samples.py checks them).
WER_BOUND = {"drive-thru": 0.25}


def wer_bound(name: str) -> float:
    return WER_BOUND.get(name, 0.10)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_accuracy_without_keyterm_scripts(name):
    assert sample(name).text not in sample(name).keyterms  # a keyterm is a bias, never the script
    messages = docs_run(name)
    hypothesis = final_text(messages)
    error = wer(sample(name).text, hypothesis)
    assert error <= wer_bound(name), f"WER {error:.1%}\nref: {sample(name).text}\nhyp: {hypothesis}\n{show(messages)}"


# ================================================================================================
# 2. The docs' credit-card shape (interim_results=true, endpointing=300)
# ================================================================================================


def segments(messages) -> list[tuple[list[Results], Results]]:
    """(interims, final) per segment, in order; interims after the last final are dropped."""
    out, pending = [], []
    for m in results(messages):
        if m.is_final:
            out.append((pending, m))
            pending = []
        else:
            pending.append(m)
    return out


def test_credit_card_interims_grow_from_the_segment_start_about_once_a_second():
    messages = docs_run("credit-card")
    segs = segments(messages)
    first_interims, first_final = segs[0]
    # like the docs: several interims 0.0-1.1, 0.0-2.2, ... before the first final
    assert len(first_interims) >= 3, show(messages)
    previous_tick = 0.0  # stream time of the last interim (or the stream start)
    for interim_list, final in segs:
        start = final.start
        ends = [r.end for r in interim_list]
        assert all(abs(r.start - start) < TOL for r in interim_list), show(messages)
        if ends:
            # about once a second of stream time: after a forced cut the next segment starts behind
            # the newest audio (CUT_MARGIN), so its first interim is measured from the last tick
            assert 0.9 <= ends[0] - max(start, previous_tick) <= 1.1, (ends, previous_tick, show(messages))
            steps = np.diff(ends)
            assert all(0.9 <= s <= 1.1 for s in steps), (ends, show(messages))
            previous_tick = ends[-1]
    # the transcript grows: each interim of the first segment extends the one before
    words = [[w.word for w in r.words] for r in first_interims]
    assert all(len(a) < len(b) for a, b in zip(words, words[1:])), words


def test_credit_card_first_final_is_cut_inside_the_first_group_without_speech_final():
    messages = docs_run("credit-card")
    group = sample("credit-card").utterances[0]
    first = finals(messages)[0]
    assert first.start == 0.0 and not first.speech_final
    # a forced final cut inside continuous speech (the docs: final at 3.26 s inside the group)
    assert 2.5 <= first.end <= group.end - 0.5, show(messages)
    assert first.words and first.words[-1].end <= first.end + TOL
    # it was cut at least CUT_MARGIN behind the newest audio the interims had seen
    interims_before = [m for m in messages[: messages.index(first)] if isinstance(m, Results)]
    assert interims_before[-1].end - first.end >= CUT_MARGIN - FRAME
    # its words are the start of the group, the rest follows in the next final
    spoken = group.text.split()
    assert [w.word for w in first.words] == spoken[: len(first.words)]


def test_credit_card_speech_final_once_per_dictated_group_soon_after_its_end():
    messages = docs_run("credit-card")
    groups = sample("credit-card").utterances
    sf = speech_finals(messages)
    assert len(sf) == len(groups) == 3, show(messages)
    for final, group in zip(sf, groups):
        assert group.end <= final.end <= group.end + 0.5, (final.end, group, show(messages))
        assert final.is_final
        # the speech_final's last word is the group's last word, ending near the group's true end
        assert abs(final.words[-1].end - group.end) < 0.3


def test_credit_card_speech_final_assembly_gives_the_three_dictated_groups():
    messages = docs_run("credit-card")
    groups = [u.text for u in sample("credit-card").utterances]
    got = [u.text for u in SpeechFinal().run(messages)]
    assert len(got) == 3, got
    assert got[:2] == groups[:2]
    # the known confusion: the last "five" is heard as "nine" (one substitution at most)
    assert wer(groups[2], got[2]) <= 0.25, got[2]
    assert got[2].split()[:3] == ["five", "five", "five"]


# ================================================================================================
# 3-5. UtteranceEnd on drive-thru, voice-agent, hello-there
# ================================================================================================


def _first_final_index_with_word_from(messages, t: float) -> int:
    return index_of(messages, lambda m: isinstance(m, Results) and m.is_final and any(w.start >= t for w in m.words))


def test_drive_thru_no_speech_final_but_an_utterance_end_in_each_pause():
    s = sample("drive-thru")
    messages = docs_run("drive-thru")
    assert speech_finals(messages) == [], show(messages)
    events = utterance_ends(messages)
    # one per pause; a third after the last phrase when the tail of the recording is >= 1 s
    tail = duration_of("drive-thru") - s.utterances[-1].end
    assert len(s.pauses) == 2 and len(events) == 2 + (tail >= 1.0), show(messages)
    for event, phrase, pause in zip(events, s.utterances, s.pauses):
        # last_word_end: the end of the phrase before the pause
        assert abs(event.last_word_end - phrase.end) < 0.3, (event, phrase)
        assert event.last_word_end < pause.end
        # it arrives before the words after the pause are finalized
        assert messages.index(event) < _first_final_index_with_word_from(messages, pause.end - 0.2), show(messages)


def test_drive_thru_crowd_keeps_the_vad_in_speech_at_any_endpointing():
    for endpointing in (10, 300):
        messages = run(
            "drive-thru", options_for("drive-thru", interim_results=True, endpointing=endpointing, vad_events=True)
        )
        assert speech_finals(messages) == [], (endpointing, show(messages))
        # the VAD never leaves speech for long: SpeechStarted once, at the start
        starts = speech_starts(messages)
        assert len(starts) == 1 and starts[0].timestamp < sample("drive-thru").utterances[0].start


def test_voice_agent_caveat_utterance_end_fires_although_speech_continues():
    s = sample("voice-agent")
    messages = run(
        "voice-agent", options_for("voice-agent", interim_results=True, endpointing=300, utterance_end_ms=2000)
    )
    events = utterance_ends(messages)
    assert len(events) == 1, show(messages)
    event = events[0]
    test_end = s.utterances[0].end  # "... this is a test"
    assert abs(event.last_word_end - test_end) < 0.2
    # the pause (2.1 s) is only just longer than the gap: it is revealed by the first result whose
    # first new word starts >= 2 s after "test" (Whisper's interim word times are ~0.1-0.2 s early, so
    # with this sample it is the continuation's final, whose times come from forced alignment)
    revealer = messages[messages.index(event) - 1]
    assert isinstance(revealer, Results), show(messages)
    new = [w for w in revealer.words if w.start > event.last_word_end]
    assert new and new[0].start - event.last_word_end >= 2.0 - TOL
    # ... while the speaker is still talking: the client must not treat it as the end of the turn.
    # (The revealer may be an interim of the continuation's first ~0.2 s, whose words Whisper may
    # mis-hear; their time says they are the continuation.)
    assert s.pauses[0].end - 0.2 <= new[0].start < s.utterances[1].end, show(messages)
    continuation = [w.word for w in final_words(messages) if w.start >= s.pauses[0].end - 0.2]
    assert " ".join(continuation) == s.utterances[1].text


def test_hello_there_utterance_end_after_hello_there_before_how_are_you():
    s = sample("hello-there")
    messages = docs_run("hello-there")
    events = utterance_ends(messages)
    assert len(events) == 2, show(messages)
    first = events[0]
    assert abs(first.last_word_end - s.utterances[0].end) < 0.2
    i = messages.index(first)
    # before any message carries "how are you"
    how = index_of(messages, lambda m: isinstance(m, Results) and any(w.word == "how" for w in m.words))
    assert i < how
    # revealed by the interim that follows the "hello there" final, within one interim interval
    revealer = messages[i - 1]
    assert isinstance(revealer, Results) and not revealer.is_final and not revealer.words
    assert first.last_word_end + 1.0 <= revealer.end + TOL <= first.last_word_end + 1.0 + INTERIM_INTERVAL + FRAME
    # the second one follows "you"
    assert abs(events[1].last_word_end - s.utterances[1].end) < 0.2


# ================================================================================================
# 6. Endpointing sweep on dictation-pauses
# ================================================================================================

# Observed with Silero + Whisper on the festival voice: the silence is counted from the last word's
# aligned end, so 10 and 300 ms split at all three pauses (0.3, 0.5, 0.8 s), and 500 ms at the 0.5 s
# pause too (500 ms of silence, just: the phrase's quiet tail is aligned as silence) and at 0.8 s;
# never at 0.3 s. Counted from the VAD's flip instead (~110 ms late) 500 ms split only at 0.8 s.
ENDPOINTING_SWEEP = {10: 4, 300: 4, 500: 3, False: 0}
SPLIT_PAUSES = {10: {0.3, 0.5, 0.8}, 300: {0.3, 0.5, 0.8}, 500: {0.5, 0.8}, False: set()}


def sweep_run(endpointing):
    return run("dictation-pauses", options_for("dictation-pauses", endpointing=endpointing))


@pytest.mark.parametrize("endpointing", list(ENDPOINTING_SWEEP))
def test_dictation_pauses_speech_final_count(endpointing):
    messages = sweep_run(endpointing)
    assert len(speech_finals(messages)) == ENDPOINTING_SWEEP[endpointing], show(messages)
    # which designed pauses ended an utterance: a speech_final ending in the pause (±0.1 s)
    split = {
        p.length
        for p in sample("dictation-pauses").pauses
        if any(p.start - 0.1 <= f.end <= p.end + 0.1 for f in speech_finals(messages))
    }
    assert split == SPLIT_PAUSES[endpointing], show(messages)


def test_dictation_pauses_longer_endpointing_means_fewer_speech_finals():
    counts = [len(speech_finals(sweep_run(ep))) for ep in (10, 300, 500, False)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] == 0, counts
    splits = [SPLIT_PAUSES[ep] for ep in (10, 300, 500, False)]
    assert all(a >= b for a, b in zip(splits, splits[1:]))
    # every setting keeps every word
    for ep in (300, 500, False):
        assert wer(sample("dictation-pauses").text, final_text(sweep_run(ep))) == 0.0


# ================================================================================================
# 7. Determinism across chunk sizes
# ================================================================================================


@pytest.mark.parametrize("name", ["credit-card", "drive-thru", "phone-number"])
def test_same_messages_whatever_the_chunk_size(name):
    opts = options_for(name, **ALL_FEATURES)
    reference = run(name, opts, 0.25)
    # the run is not trivial: every kind of message is there
    kinds = {type(m) for m in reference}
    assert {Results, SpeechStarted, UtteranceEnd} <= kinds
    assert any(w.punctuated_word for m in results(reference) for w in m.words)
    for chunk in (0.02, None):
        other = run(name, opts, chunk)
        assert other == reference, f"chunk={chunk}\n{show(other)}\n--- vs 0.25 s ---\n{show(reference)}"


def test_odd_chunk_sizes_change_nothing():
    opts = options_for("phone-number", **ALL_FEATURES)
    assert run("phone-number", opts, 997 / SAMPLE_RATE) == run("phone-number", opts, 0.25)


# ================================================================================================
# 8. Invariants over every sample and a grid of options
# ================================================================================================

GRID = [
    # (interim_results, endpointing, utterance_end_ms, vad_events)
    (True, 300, 1000, False),  # DOCS: shared with the tests above
    (True, 10, None, True),
    (True, False, 1000, False),
    (False, 10, 1000, False),  # utterance_end_ms without interim_results: no effect
    (False, 300, None, True),
    (False, False, None, False),
]


def invariant_problems(messages, opts: LiveOptions, duration: float) -> list[str]:
    problems = []
    fs = finals(messages)
    if not fs:
        return ["no final at all"]
    if fs[0].start != 0.0:
        problems.append(f"first final starts at {fs[0].start}")
    if abs(fs[-1].end - duration) > TOL:
        problems.append(f"last final ends at {fs[-1].end}, audio ends at {duration}")
    for a, b in zip(fs, fs[1:]):
        if abs(b.start - (a.start + a.duration)) > TOL:
            problems.append(f"finals do not tile: {a.start}+{a.duration} then {b.start}")
    segment_start = 0.0
    last_interim_end = None
    finalized = []  # words of finals so far
    fired = []
    last_speech_started = -1.0
    for m in messages:
        if isinstance(m, Results):
            if m.speech_final and not m.is_final:
                problems.append(f"speech_final without is_final at {m.start}")
            if abs(m.start - segment_start) > TOL:
                problems.append(
                    f"{'final' if m.is_final else 'interim'} starts at {m.start}, segment at {segment_start}"
                )
            if not m.is_final:
                if not opts.interim_results:
                    problems.append(f"interim without interim_results at {m.start}")
                if last_interim_end is not None and m.end <= last_interim_end:
                    problems.append(f"interim window does not grow: {m.end} after {last_interim_end}")
                last_interim_end = m.end
            if m.duration < 0:
                problems.append(f"negative duration {m}")
            for w in m.words:
                if not (m.start - TOL <= w.start <= w.end <= m.end + TOL):
                    problems.append(f"word {w.word} {w.start}-{w.end} outside {m.start}-{m.end}")
                if not 0.0 <= w.confidence <= 1.0:
                    problems.append(f"confidence {w.confidence}")
            if m.transcript != " ".join(w.text for w in m.words):
                problems.append(f"transcript {m.transcript!r} is not the words joined")
            if not m.words and (m.transcript or m.confidence != 0.0):
                problems.append("empty result with a transcript or confidence")
            if m.is_final:
                segment_start = m.end
                last_interim_end = None
                finalized.extend(m.words)
            if m.channel_index != (0, 1):
                problems.append(f"channel_index {m.channel_index}")
        elif isinstance(m, UtteranceEnd):
            if not (opts.interim_results and opts.utterance_end_ms):
                problems.append("UtteranceEnd without interim_results and utterance_end_ms")
            if m.last_word_end in fired:
                problems.append(f"UtteranceEnd twice for {m.last_word_end}")
            fired.append(m.last_word_end)
            if not finalized or m.last_word_end != finalized[-1].end:
                problems.append(f"UtteranceEnd {m.last_word_end} is not the end of the last finalized word")
        elif isinstance(m, SpeechStarted):
            if not opts.vad_events:
                problems.append("SpeechStarted without vad_events")
            if m.timestamp <= last_speech_started:
                problems.append(f"SpeechStarted not increasing: {m.timestamp}")
            last_speech_started = m.timestamp
            if abs(m.timestamp / FRAME - round(m.timestamp / FRAME)) > 1e-3:
                problems.append(f"SpeechStarted {m.timestamp} off the VAD frame grid")
        else:
            problems.append(f"unexpected message {m!r}")
    # no word in two finals: times strictly increase across all finals
    for a, b in zip(finalized, finalized[1:]):
        if not (b.start > a.start and b.start >= a.end - TOL):
            problems.append(
                f"finalized words overlap or repeat: {a.word} {a.start}-{a.end}, {b.word} {b.start}-{b.end}"
            )
    return problems


@pytest.mark.parametrize(("interim", "endpointing", "utterance_end", "vad_events"), GRID)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_invariants(name, interim, endpointing, utterance_end, vad_events):
    opts = options_for(
        name, interim_results=interim, endpointing=endpointing, utterance_end_ms=utterance_end, vad_events=vad_events
    )
    messages = run(name, opts)
    problems = invariant_problems(messages, opts, duration_of(name))
    assert not problems, "\n".join(problems[:10]) + "\n" + show(messages)
    # the options that should produce a kind of message do (so the checks above are not vacuous)
    if interim:
        assert interims(messages)
    if vad_events:
        assert speech_starts(messages)
    if endpointing is False:
        assert not speech_finals(messages)
    if endpointing == 300 and name != "drive-thru":
        assert speech_finals(messages)
    # endpointing=10 cuts the card number into one-group segments of ~1 s, where Whisper tiny.en
    # hears "four four" as "floor floor" and five twos for four (measured: 3 errors in 23 words)
    bound = wer_bound(name) + (0.05 if endpointing == 10 and name == "credit-card" else 0.0)
    assert wer(sample(name).text, final_text(messages)) <= bound


def test_utterance_end_needs_both_interim_results_and_utterance_end_ms():
    with_both = docs_run("hello-there")
    assert len(utterance_ends(with_both)) == 2
    without_interims = run("hello-there", options_for("hello-there", endpointing=10, utterance_end_ms=1000))
    assert utterance_ends(without_interims) == [] and interims(without_interims) == []
    without_gap = run("hello-there", options_for("hello-there", interim_results=True, endpointing=10, vad_events=True))
    assert utterance_ends(without_gap) == []


def test_utterance_end_does_not_see_a_gap_inside_one_final():
    # endpointing off: "hello there ... how are you" ends up in one forced final, so the 1.5 s
    # pause inside it is never judged; only the silence after it is
    messages = run(
        "hello-there", options_for("hello-there", interim_results=True, endpointing=False, utterance_end_ms=1000)
    )
    assert len(finals(messages)) == 2, show(messages)
    assert [w.word for w in finals(messages)[0].words] == "hello there how are you".split()
    events = utterance_ends(messages)
    assert len(events) == 1, show(messages)
    assert abs(events[0].last_word_end - sample("hello-there").utterances[1].end) < 0.1, events


# ================================================================================================
# 9. Finalize and close
# ================================================================================================


def hello_options(**changes) -> LiveOptions:
    return options_for("hello-there", **{"endpointing": 300, **changes})


def test_finalize_mid_utterance_flushes_the_segment_once():
    pcm = pcm_of("hello-there")
    t = StreamTranscriber(hello_options())
    cut = int(0.9 * SAMPLE_RATE)  # inside "hello there" (0.3-1.12)
    before = t.feed(pcm[:cut])
    assert finals(before) == []
    flushed = t.finalize()
    assert len(flushed) == 1, show(flushed)
    final = flushed[0]
    assert isinstance(final, Results) and final.is_final and final.from_finalize and not final.speech_final
    # it covers the whole segment: from the stream start to the last decided VAD frame
    assert final.start == 0.0
    assert cut / SAMPLE_RATE - FRAME < final.end <= cut / SAMPLE_RATE
    assert final.words and final.words[0].word == "hello"
    # nothing new: nothing to flush
    assert t.finalize() == []
    rest = t.feed(pcm[cut:]) + t.close()
    all_finals = [final, *finals(rest)]
    assert all(not f.from_finalize for f in all_finals[1:])
    assert abs(all_finals[1].start - final.end) < TOL  # the timeline goes on from the flushed final
    assert abs(all_finals[-1].end - duration_of("hello-there")) < TOL
    words = [w.word for f in all_finals for w in f.words]
    assert words[-3:] == ["how", "are", "you"]


def test_finalize_on_silence_says_nothing():
    t = StreamTranscriber(hello_options(interim_results=True))
    t.feed(np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.int16))
    assert t.finalize() == []
    closing = t.close()
    assert len(closing) == 1 and closing[0].is_final and closing[0].transcript == ""
    assert closing[0].start == 0.0 and abs(closing[0].end - 1.5) < TOL


def test_finalize_after_an_endpoint_in_the_silence_says_nothing():
    pcm = pcm_of("hello-there")
    t = StreamTranscriber(hello_options())
    out = t.feed(pcm[: int(2.2 * SAMPLE_RATE)])  # past "hello there" and its speech_final
    assert [m.transcript for m in speech_finals(out)] == ["hello there"]
    assert t.finalize() == []


def test_finalize_before_any_audio_and_close_of_an_empty_stream():
    t = StreamTranscriber(hello_options())
    assert t.finalize() == []
    assert t.close() == []


def test_close_flushes_the_undecided_tail_and_reaches_the_end_of_the_audio():
    pcm = pcm_of("yes")
    n = pcm.size - 100  # not a whole number of VAD frames
    t = StreamTranscriber(options_for("yes", endpointing=False))
    out = t.feed(pcm[:n])
    assert finals(out) == []
    closing = t.close()
    assert len(closing) == 1 and closing[0].is_final and not closing[0].speech_final
    assert abs(closing[0].end - n / SAMPLE_RATE) < TOL
    assert closing[0].transcript == "yes"
    assert t.duration == n / SAMPLE_RATE


# ================================================================================================
# 10. SpeechStarted
# ================================================================================================


def test_speech_started_once_per_phrase_near_its_start():
    s = sample("hello-there")
    opts = options_for("hello-there", interim_results=True, endpointing=10, vad_events=True)
    messages = run("hello-there", opts)
    starts = speech_starts(messages)
    assert len(starts) == len(s.utterances) == 2, show(messages)
    for event, phrase in zip(starts, s.utterances):
        assert abs(event.timestamp - phrase.start) <= 0.15, (event, phrase)
        assert event.channel == (0, 1)
        # it comes before any result holding the phrase's words
        first = phrase.text.split()[0]
        holding = index_of(messages, lambda m, w0=first: isinstance(m, Results) and any(w.word == w0 for w in m.words))
        assert messages.index(event) < holding


def test_speech_started_is_not_repeated_inside_continuous_speech():
    messages = run("monologue", options_for("monologue", interim_results=True, endpointing=10, vad_events=True))
    assert len(speech_starts(messages)) == 1, show(messages)


# ================================================================================================
# 11. Multichannel
# ================================================================================================

STEREO_KEYTERMS = sample("hello-there").keyterms + sample("yes").keyterms


def stereo() -> np.ndarray:
    left, right = pcm_of("hello-there"), pcm_of("yes")
    n = max(left.size, right.size)
    out = np.zeros((n, 2), dtype=np.int16)
    out[: left.size, 0] = left
    out[: right.size, 1] = right
    return out


def test_multichannel_transcribes_each_channel_alone():
    pcm = stereo()
    opts = LiveOptions(
        keyterm=STEREO_KEYTERMS, multichannel=True, channels=2, interim_results=True, endpointing=300,
        utterance_end_ms=1000, vad_events=True,
    )  # fmt: skip
    messages = stream(pcm, opts)
    duration = pcm.shape[0] / SAMPLE_RATE
    by_channel = {0: [], 1: []}
    for m in messages:
        pair = m.channel_index if isinstance(m, Results) else m.channel
        assert pair in ((0, 2), (1, 2)), m
        by_channel[pair[0]].append(m)
    for index, name in ((0, "hello-there"), (1, "yes")):
        mine = by_channel[index]
        assert final_text(mine) == sample(name).text, show(mine)
        assert abs(finals(mine)[-1].end - duration) < TOL
        assert speech_starts(mine) and utterance_ends(mine)
        # exactly what a mono stream of the same audio would give, but for the channel pair
        mono = stream(np.ascontiguousarray(pcm[:, index]), opts.replace(multichannel=False, channels=1))
        assert [_relabel(m, (0, 1)) for m in mine] == mono


def _relabel(m: Message, pair) -> Message:
    if isinstance(m, Results):
        return dataclasses.replace(m, channel_index=pair)
    return dataclasses.replace(m, channel=pair)


def test_finalize_one_channel_only():
    pcm = stereo()
    opts = LiveOptions(keyterm=STEREO_KEYTERMS, multichannel=True, channels=2, endpointing=False)
    t = StreamTranscriber(opts)
    t.feed(pcm[: int(1.0 * SAMPLE_RATE)])
    flushed = t.finalize(channel=1)  # "yes" (0.3-0.9) is on channel 1
    assert [(m.channel_index, m.transcript, m.from_finalize) for m in flushed] == [((1, 2), "yes", True)]
    both = t.finalize()
    assert [m.channel_index for m in both] == [(0, 2)]  # channel 1 has nothing new


def test_without_multichannel_the_channels_are_mixed_into_one_stream():
    pcm = stereo()
    opts = LiveOptions(keyterm=STEREO_KEYTERMS, channels=2, interim_results=True, endpointing=300)
    messages = stream(pcm, opts)
    assert all(m.channel_index == (0, 1) for m in results(messages))
    mixed = pcm.mean(axis=1).round().astype(np.int16)
    assert messages == stream(mixed, opts.replace(channels=1))
    assert abs(finals(messages)[-1].end - pcm.shape[0] / SAMPLE_RATE) < TOL


# ================================================================================================
# 12. smart_format / punctuate / numerals on the real samples
# ================================================================================================


def digits_of(messages) -> str:
    return "".join(c for w in final_words(messages) for c in w.word if c.isdigit())


def check_punctuated(messages):
    for m in results(messages):
        assert all(w.punctuated_word is not None for w in m.words), m
        assert m.transcript == " ".join(w.punctuated_word for w in m.words)
    for f in finals(messages):
        if f.words:
            # the sentence-final terminator only on endpoints
            assert f.transcript.endswith((".", "?")) == f.speech_final, show(messages)


PHONE_CUT_XFAIL = pytest.mark.xfail(
    strict=True,
    reason="known limit (issue 10): smart_format holds the endpoint inside the phone number, the segment "
    "passes MAX_SEGMENT and is cut on Whisper's own word times; tiny.en invents digits at the buffer's tip "
    "('555-238-400'), forced alignment then fails, the spread-out digit times put the cut inside "
    "'three eight' and the final loses the 'two' (555384917)",
)


@PHONE_CUT_XFAIL
def test_smart_format_on_the_phone_number():
    messages = docs_run("phone-number", smart_format=True)
    check_punctuated(messages)
    assert not any(
        w.word in ("five", "two", "three", "eight", "four", "nine", "one", "seven") for w in final_words(messages)
    )
    assert digits_of(messages) == "5552384917", show(messages)
    fs = [f for f in finals(messages) if f.words]
    assert fs[0].words[0].punctuated_word == "My"
    # the number is complete at the end: no hold, so the speech ends with an endpoint and a period
    # (before the fix the forced cut hid the first digits and smart_format waited for more)
    assert fs[-1].speech_final and fs[-1].transcript.endswith(".")
    assert len(utterance_ends(messages)) == 1


def test_smart_format_on_the_credit_card():
    messages = docs_run("credit-card", smart_format=True)
    check_punctuated(messages)
    fs = [f for f in finals(messages) if f.words]
    assert fs[0].transcript.startswith("Yeah so my credit card number is ")
    assert len(speech_finals(messages)) == 3
    digits = digits_of(messages)
    assert len(digits) == 16 and digits.startswith("222233334444555"), digits
    # a speech_final starts a new sentence; the digits of the second group are one numeral
    assert [f.transcript for f in speech_finals(messages)][1] == "4444."


def test_punctuate_without_smart_format_keeps_spelled_digits():
    messages = run("phone-number", options_for("phone-number", endpointing=300, punctuate=True))
    check_punctuated(messages)
    assert final_text(messages) == sample("phone-number").text
    assert finals(messages)[0].words[0].punctuated_word == "My"


def test_numerals_without_punctuation():
    messages = run("phone-number", options_for("phone-number", endpointing=300, numerals=True))
    assert all(w.punctuated_word is None for m in results(messages) for w in m.words)
    assert digits_of(messages) == "5552384917"
    transcript = " ".join(f.transcript for f in finals(messages) if f.words)
    assert transcript.startswith("my phone number is 555") and "." not in transcript


def phone_ep10(**changes):
    return run("phone-number", options_for("phone-number", endpointing=10, smart_format=True, **changes))


@PHONE_CUT_XFAIL
def test_smart_format_holds_the_endpoint_at_the_area_code_unless_no_delay():
    s = sample("phone-number")
    area_code_pause = s.pauses[0]  # "... five five five" | "two three eight"

    def ends_in_pause(messages):
        return [f for f in speech_finals(messages) if area_code_pause.start <= f.end <= area_code_pause.end + 0.1]

    held, eager = phone_ep10(), phone_ep10(no_delay=True)
    assert ends_in_pause(held) == [], show(held)
    assert [f.transcript for f in ends_in_pause(eager)] == ["My phone number is 555."], show(eager)
    assert len(speech_finals(held)) < len(speech_finals(eager))
    for messages in (held, eager):
        assert digits_of(messages).startswith("5552")


def test_smart_format_does_not_split_the_phone_number_at_endpointing_10():
    messages = phone_ep10()
    numbers = [f for f in speech_finals(messages) if any(c.isdigit() for c in f.transcript)]
    assert len(numbers) == 1, show(messages)


# ================================================================================================
# 13. Token audio: the timing rules to the frame, with a scripted recognizer and VAD
# ================================================================================================

TOKEN_WORDS = (
    "my phone number is zero one two three four five six seven eight nine hello there how are you yes"
).split()
_AMPLITUDE = {w: 4000 + 97 * i for i, w in enumerate(TOKEN_WORDS)}
_WORD_OF = {a: w for w, a in _AMPLITUDE.items()}


def token_audio(script: str, word: float = 0.2, gap: float = 0.0, lead: float = 0.5, tail: float = 1.0):
    """Audio for a script like "my phone number is five five five | two three eight": words of
    `word` seconds, `gap` seconds between words, '|' for a pause of 0.25 s, '|N' for N seconds.
    Every other word is negative, so that two equal words in a row stay two words.
    Returns the audio and the (word, start, end) ground truth."""
    pcm, truth, t = [np.zeros(round(lead * SAMPLE_RATE), np.int16)], [], lead
    previous_word = False
    for token in script.split():
        if token.startswith("|"):
            pause = float(token[1:] or 0.25)
            pcm.append(np.zeros(round(pause * SAMPLE_RATE), np.int16))
            t += pause
            previous_word = False
            continue
        if previous_word and gap:
            pcm.append(np.zeros(round(gap * SAMPLE_RATE), np.int16))
            t += gap
        n = round(word * SAMPLE_RATE)
        sign = -1 if len(truth) % 2 else 1
        pcm.append(np.full(n, sign * _AMPLITUDE[token], np.int16))
        truth.append((token, round(t, 6), round(t + word, 6)))
        t += word
        previous_word = True
    pcm.append(np.zeros(round(tail * SAMPLE_RATE), np.int16))
    return np.concatenate(pcm), truth


class TokenRecognizer:
    """A StreamingRecognizer that reads token audio: each run of one non-zero value is a word."""

    sample_rate = SAMPLE_RATE

    def __init__(self, keyterms=()):
        self._chunks: list[np.ndarray] = []
        self._active = False

    def start(self) -> None:
        self._chunks, self._active = [], True

    def feed(self, pcm: np.ndarray) -> None:
        assert self._active and pcm.dtype == np.int16 and pcm.ndim == 1
        self._chunks.append(pcm.copy())

    def partial(self) -> list[RecognizedWord]:
        return self._decode() if self._active else []

    def finish(self) -> list[RecognizedWord]:
        words = self._decode() if self._active else []
        self._active = False
        return words

    def _decode(self) -> list[RecognizedWord]:
        if not self._chunks:
            return []
        audio = np.concatenate(self._chunks)
        edges = [0, *(np.flatnonzero(np.diff(audio)) + 1).tolist(), audio.size]
        return [
            RecognizedWord(_WORD_OF[abs(int(audio[a]))], a / SAMPLE_RATE, b / SAMPLE_RATE, 0.9)
            for a, b in zip(edges, edges[1:])
            if audio[a] != 0
        ]


class TokenVad:
    """A VAD for token audio: a 512-sample frame is speech when any sample in it is non-zero."""

    frame_samples = 512

    def __init__(self):
        self._pending = np.zeros(0, np.int16)
        self._frames = 0

    def process(self, pcm: np.ndarray) -> list[VadFrame]:
        audio = np.concatenate((self._pending, pcm))
        out = []
        n = audio.size // self.frame_samples
        for i in range(n):
            frame = audio[i * self.frame_samples : (i + 1) * self.frame_samples]
            speech = bool(np.any(frame))
            k = self._frames
            out.append(VadFrame(k * FRAME, (k + 1) * FRAME, 1.0 if speech else 0.0, speech))
            self._frames += 1
        self._pending = audio[n * self.frame_samples :]
        return out


def token_transcriber(**options) -> StreamTranscriber:
    return StreamTranscriber(LiveOptions(**options), recognizer_factory=TokenRecognizer, vad_factory=TokenVad)


def token_stream(pcm: np.ndarray, chunk: float = 0.1, **options) -> list[Message]:
    t = token_transcriber(**options)
    step = round(chunk * SAMPLE_RATE)
    out = []
    for i in range(0, pcm.size, step):
        out.extend(t.feed(pcm[i : i + step]))
    return out + t.close()


def frame_ceil(seconds: float) -> float:
    """The end of the VAD frame in which `seconds` falls (decisions are made at frame ends)."""
    return math.ceil(round(seconds / FRAME, 6)) * FRAME


def test_token_audio_fixture_is_read_back_exactly():
    pcm, truth = token_audio("hello there | how are you", gap=0.05)
    messages = token_stream(pcm, endpointing=False)
    assert [(w.word, w.start, w.end) for w in final_words(messages)] == [
        (w, round(s, 3), round(e, 3)) for w, s, e in truth
    ]


@pytest.mark.parametrize("endpointing", [10, 100, 300, 500])
def test_endpoint_fires_once_endpointing_ms_of_silence_follow_the_speech(endpointing):
    pcm, truth = token_audio("hello there |2", tail=0.5)
    messages = token_stream(pcm, endpointing=endpointing)
    sf = speech_finals(messages)
    assert len(sf) == 1 and sf[0].transcript == "hello there"
    speech_end = frame_ceil(truth[-1][2])  # the first whole non-speech frame starts here
    expected = speech_end + frame_ceil(endpointing / 1000)
    assert abs(sf[0].end - expected) < 1e-3, (sf[0].end, expected)


def test_smart_format_keeps_the_phone_number_in_one_final_and_formats_it():
    pcm, truth = token_audio("my phone number is five five five | two three eight | four nine one seven", word=0.18)
    held = token_stream(pcm, endpointing=10, smart_format=True)
    assert [f.transcript for f in speech_finals(held)] == ["My phone number is 555-238-4917."], show(held)
    final = speech_finals(held)[0]
    number = final.words[-1]
    assert (number.word, number.punctuated_word) == ("555-238-4917", "555-238-4917.")
    assert (number.start, number.end) == (round(truth[4][1], 3), round(truth[-1][2], 3))
    # no_delay: the endpoints are not held, the number is split at its group pauses
    eager = token_stream(pcm, endpointing=10, smart_format=True, no_delay=True)
    assert [f.transcript for f in speech_finals(eager)] == ["My phone number is 555.", "238.", "4917."]


def test_smart_format_hold_lasts_at_most_three_seconds_of_silence():
    pcm, truth = token_audio("five five five |5", tail=0.5)
    speech_end = frame_ceil(truth[-1][2])
    held = speech_finals(token_stream(pcm, endpointing=300, smart_format=True))
    assert len(held) == 1 and held[0].transcript == "555."
    assert abs(held[0].end - (speech_end + frame_ceil(SMART_FORMAT_HOLD))) < 1e-3
    plain = speech_finals(token_stream(pcm, endpointing=300, punctuate=True))
    assert abs(plain[0].end - (speech_end + frame_ceil(0.3))) < 1e-3


def test_finalize_overrides_the_smart_format_hold():
    pcm, truth = token_audio("five five five |5", tail=0.0)
    t = token_transcriber(endpointing=300, smart_format=True)
    at = int((truth[-1][2] + 1.0) * SAMPLE_RATE)  # one second into the hold
    assert speech_finals(t.feed(pcm[:at])) == []
    flushed = t.finalize()
    assert [(m.transcript, m.from_finalize, m.speech_final) for m in flushed] == [("555", True, False)]


def test_smart_format_hold_sees_digits_finalized_before_a_forced_cut():
    # 4 words + 10 digits without a pause: longer than MAX_SEGMENT, so a forced final cuts the
    # number after "five five five two"; the 6 digits after the cut alone look like area code +
    # exchange, but the whole run is a complete phone number
    pcm, truth = token_audio(
        "my phone number is five five five two three eight four nine one seven |4", word=0.2, gap=0.15, lead=0.4
    )
    messages = token_stream(pcm, endpointing=300, smart_format=True)
    fs = [f for f in finals(messages) if f.words]
    assert len(fs) == 2 and not fs[0].speech_final, show(messages)
    assert "".join(c for f in fs for c in f.transcript if c.isdigit()) == "5552384917"
    assert [c for c in fs[1].transcript if c.isdigit()] == list("384917"), show(messages)  # the case the fix is about
    # no hold: the endpoint comes endpointing ms after the speech, not SMART_FORMAT_HOLD later
    assert fs[1].speech_final
    assert fs[1].end - truth[-1][2] < 0.3 + 2 * FRAME, show(messages)


def test_interim_cadence_and_forced_cut_on_token_audio():
    pcm, truth = token_audio(" ".join(["hello", "there"] * 12), word=0.2, gap=0.05, lead=0.3, tail=0.5)
    messages = token_stream(pcm, interim_results=True, endpointing=300)
    fs = finals(messages)
    first = fs[0]
    # a forced final: not an endpoint, cut at a word boundary at least CUT_MARGIN behind the tip
    assert not first.speech_final and first.end < MAX_SEGMENT + INTERIM_INTERVAL
    tip = [m for m in messages[: messages.index(first)] if isinstance(m, Results)][-1].end
    assert tip - first.end >= CUT_MARGIN - 1e-3
    boundaries = {round(e, 3) for _, _, e in truth} | {round(s, 3) for _, s, _ in truth}
    assert any(b <= first.end + 1e-3 <= b + 0.05 for b in boundaries)  # inside a gap, not a word
    assert [w.word for w in final_words(messages)] == [w for w, _, _ in truth]


# ================================================================================================
# 15. Bad input
# ================================================================================================


@pytest.mark.parametrize(
    ("pcm", "needle"),
    [
        (np.zeros(1600, dtype=np.float32), "float32"),
        (np.zeros(1600, dtype=np.int32), "int32"),
        (np.zeros(1600, dtype=np.int16).tobytes(), "bytes"),
        ([0] * 1600, "list"),
    ],
)
def test_feed_rejects_anything_but_int16_samples(pcm, needle):
    t = token_transcriber()
    with pytest.raises(TypeError, match="int16") as err:
        t.feed(pcm)
    assert needle in str(err.value)
    assert t.duration == 0.0  # nothing was counted


@pytest.mark.parametrize("shape", [(1600,), (1600, 1), (1600, 3)])
def test_feed_rejects_the_wrong_channel_count_with_multichannel(shape):
    t = StreamTranscriber(
        LiveOptions(multichannel=True, channels=2), recognizer_factory=TokenRecognizer, vad_factory=TokenVad
    )
    with pytest.raises(ValueError, match="expected 2 channels"):
        t.feed(np.zeros(shape, dtype=np.int16))


def test_feed_rejects_three_dimensional_audio():
    with pytest.raises(ValueError, match="shape"):
        token_transcriber().feed(np.zeros((10, 2, 2), dtype=np.int16))


def test_feed_accepts_an_empty_chunk():
    t = token_transcriber(interim_results=True)
    assert t.feed(np.zeros(0, dtype=np.int16)) == []
    assert t.close() == []


# ================================================================================================
# Housekeeping
# ================================================================================================


def test_results_carry_the_request_id_and_model():
    t = StreamTranscriber(LiveOptions(), request_id="rid-1", recognizer_factory=TokenRecognizer, vad_factory=TokenVad)
    pcm, _ = token_audio("yes")
    out = t.feed(pcm) + t.close()
    assert out and all(m.metadata.request_id == "rid-1" and m.metadata.model_uuid for m in results(out))
