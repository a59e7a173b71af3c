"""The documentation examples: verbatim where the docs are explicit, consistent where derived."""

from __future__ import annotations

import asyncio

import pytest

from dgwidgets.examples import EXAMPLES, UnknownExampleError, example
from dgwidgets.protocol import Results, UtteranceEnd
from dgwidgets.replay import replay
from dgwidgets.session import SessionLog

# The table as printed in Deepgram's "Endpointing & Interim Results" guide.
CREDIT_CARD_DOC = """\
1 0.000-1.100 ["is_final": false] ["speech_final": false] yeah so
2 0.000-2.200 ["is_final": false] ["speech_final": false] yeah so my credit card number
3 0.000-3.200 ["is_final": false] ["speech_final": false] yeah so my credit card number is two two
4 0.000-4.300 ["is_final": false] ["speech_final": false] yeah so my credit card number is two two two two three
5 0.000-3.260 ["is_final": true ] ["speech_final": false] yeah so my credit card number is two two
6 3.260-5.100 ["is_final": false] ["speech_final": false] two two three three three three
7 3.260-5.500 ["is_final": true ] ["speech_final": true ] two two three three three three
8 5.500-6.600 ["is_final": false] ["speech_final": false] four four or four four
9 5.500-6.860 ["is_final": true ] ["speech_final": true ] four four four four
10 6.860-7.900 ["is_final": false] ["speech_final": false] five five five five
11 6.860-8.090 ["is_final": true ] ["speech_final": true ] five five five five"""


def test_credit_card_table_is_verbatim():
    assert example("credit-card").to_text() == CREDIT_CARD_DOC
    assert example("doc:credit-card").to_text() == CREDIT_CARD_DOC


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_is_consistent(name):
    log = example(name)
    assert log.info["derived"], "each example says what was derived"
    assert log.source == f"doc:{name}"
    arrivals = [e.at for e in log]
    assert arrivals == sorted(arrivals), "messages arrive in order"
    previous_final_end = None
    for entry in log:
        msg = entry.message
        if not isinstance(msg, Results):
            continue
        assert entry.at >= msg.end - 1e-9, "a message cannot arrive before its audio"
        assert not msg.speech_final or msg.is_final
        assert " ".join(w.text for w in msg.words) == msg.transcript
        for w in msg.words:
            assert msg.start - 1e-9 <= w.start <= w.end <= msg.end + 1e-9, (name, w)
        if msg.is_final:
            if previous_final_end is not None:
                assert msg.start == pytest.approx(previous_final_end), "finals tile the timeline"
            previous_final_end = msg.end


def test_interim_results_example_is_the_docs_json():
    first, second = example("interim-results").results()
    assert (first.transcript, first.duration) == ("another big", 1.039875)
    assert [(w.word, w.start, w.end, w.confidence) for w in second.words] == [
        ("another", 0.29852942, 0.7985294, 0.9939844),
        ("big", 0.8557843, 1.3557843, 0.98220366),
        ("problem", 1.5722549, 2.039875, 0.9953441),
    ]


def test_utterance_end_examples_follow_the_docs():
    hello = example("utterance-end")
    (ue,) = hello.of_type(UtteranceEnd)
    assert ue.last_word_end == 1.2
    assert [e.at for e in hello if isinstance(e.message, UtteranceEnd)] == [2.2]
    testing = example("testing-123")
    final = testing.finals()[0]
    assert testing.of_type(UtteranceEnd)[0].last_word_end == final.words[1].end == 2.395
    caveat = example("voice-agent-caveat")
    assert caveat.options.utterance_end_ms == 2000
    assert caveat.finals()[0].words[-1].end == 3.4
    last_interim = caveat.results()[-1]
    assert last_interim.words[0].start == 5.5 and caveat.results()[-2].end == 4.7


def test_unknown_example_lists_the_names():
    with pytest.raises(UnknownExampleError, match="credit-card, interim-results"):
        example("doc:nope")


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5])
def test_replay_paces_by_arrival_time(speed):
    clock = FakeClock()
    delivered = []

    def consume(entry):
        delivered.append((round(clock.now, 6), entry.at))

    copy = asyncio.run(replay(example("credit-card"), consume, speed=speed, clock=clock, sleep=clock.sleep))
    assert len(copy) == 11
    for now, at in delivered:
        assert now == pytest.approx(at / speed)


def test_replay_instant_and_into_a_log_and_async_consumers():
    clock = FakeClock()
    target = SessionLog()
    asyncio.run(replay(example("utterance-end"), target, speed=0, clock=clock, sleep=clock.sleep))
    assert clock.sleeps == [] and len(target) == 5
    got = []

    async def consume(entry):
        got.append(entry.at)

    asyncio.run(replay(example("testing-123"), consume, speed=0))
    assert len(got) == 5
    with pytest.raises(ValueError, match="speed must be >= 0"):
        asyncio.run(replay(example("testing-123"), speed=-1))


def test_replay_cut_short_keeps_what_was_delivered():
    delivered = []

    async def main():
        task = asyncio.create_task(replay(example("credit-card"), delivered.append, speed=20))
        await asyncio.sleep(0.2)  # 4 s of audio at 20x: the first messages only
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert 0 < len(delivered) < 11
