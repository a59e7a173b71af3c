"""Client-side end-of-speech strategies: messages in, utterances out.

Deepgram's documentation leaves "has the speaker finished?" to the client and recommends a few
rules; Deepgram's conversational-AI flow post shows two scripts. Each is a `Strategy` here, pure
(no clock, no I/O), fed the messages of a stream in order:

=========================  ===================================================================
name                       rule
=========================  ===================================================================
``speech_final``           concatenate ``is_final`` transcripts until one has ``speech_final``
``speech_final_or_utterance_end``  as above, and on an UtteranceEnd with no speech_final since
                           the last utterance, flush what was finalized (the docs' two rules)
``silence_interval``       a gap of N seconds between words, seen in any message (interim or
                           final, also inside one final), or a wordless window passing
                           ``last_word_end + N`` (the post's silence_interval.py)
``punctuation_or_gap``     finals only: break at . ? ! or at a gap between adjacent words
``low_latency``            reads interims too: punctuation, a gap, or a result that ends
                           ``tolerance`` after its last word; fast, may fire falsely
``flux_end_of_turn``       Flux (``/v2/listen``): the server's own ``EndOfTurn``
``flux_eager_end_of_turn`` Flux: the server's ``EagerEndOfTurn`` (provisional: a ``TurnResumed``
                           may follow; needs ``eager_eot_threshold``)
=========================  ===================================================================

The Flux strategies (`FLUX_STRATEGIES`, not client-side rules but the server's own decisions) read a
``/v2/listen`` log (`api` ``"v2"``), the others (`STRATEGIES`) a ``/v1/listen`` one; fed the other
API's messages, a strategy decides nothing. They all give `Utterance`s timed the same way
(`decided_at` is the message's arrival on the stream clock), so a plot or a score can put Flux's
decisions beside speech_final's.

Each utterance says when the decision could be made (`decided_at`, the arrival time of the
message that decided it) and whether it used interim words that were not final yet
(`provisional`). Finalized words are never lost or repeated: a strategy that reported interim
words treats later finalized words in the same time span as already reported.

>>> from dgwidgets.examples import example
>>> [u.text for u in SpeechFinal().run(example("credit-card"))]
['yeah so my credit card number is two two two two three three three three', 'four four four four', 'five five five five']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .flux import TurnInfo
from .protocol import Message, Results, UtteranceEnd, Word
from .session import Received, SessionLog

__all__ = [
    "Utterance",
    "Strategy",
    "SpeechFinal",
    "SpeechFinalOrUtteranceEnd",
    "SilenceInterval",
    "PunctuationOrGap",
    "LowLatency",
    "FluxEndOfTurn",
    "FluxEagerEndOfTurn",
    "STRATEGIES",
    "FLUX_STRATEGIES",
    "strategies_for",
    "make_strategy",
    "UnknownStrategyError",
]

_TERMINATORS = (".", "?", "!")
# Word times are floats from JSON; treat anything within a millisecond as the same instant.
_EPS = 1e-3


@dataclass(frozen=True)
class Utterance:
    """What a strategy decided: the words of one utterance and when it could decide."""

    text: str
    start: float
    end: float
    trigger: str
    decided_at: float
    words: tuple[Word, ...] = ()
    provisional: bool = False
    channel: int = 0

    @property
    def latency(self) -> float:
        """Seconds from the end of the last word to the decision."""
        return self.decided_at - self.end


@dataclass
class _Ledger:
    """Per-channel word bookkeeping shared by all strategies."""

    pending: list[Word] = field(default_factory=list)  # finalized, not yet in an utterance
    interim: list[Word] = field(default_factory=list)  # latest interim words beyond the finals
    covered_until: float = float("-inf")  # interim words up to here were already reported
    last_word_end: float | None = None  # latest word end seen (None once it triggered)
    scanned_until: float = float("-inf")  # words starting before this were already scanned


def _message_time(message: Message) -> float:
    if isinstance(message, Results):
        return message.end
    if isinstance(message, UtteranceEnd):
        return message.last_word_end
    return float(getattr(message, "timestamp", 0.0))


def _joined(words: Iterable[Word]) -> str:
    return " ".join(w.text for w in words)


class Strategy:
    """Base class: feed messages in order, collect `Utterance`s.

    Subclasses override `_on_results` and may override `_on_utterance_end`. `reads_interims`
    says whether interim words may be reported (then utterances can be provisional).
    """

    name = "strategy"
    reads_interims = False
    #: the API whose messages it reads: "v1" (Results, UtteranceEnd) or "v2" (Flux TurnInfo)
    api = "v1"

    def __init__(self) -> None:
        self._ledgers: dict[int, _Ledger] = {}
        self.utterances: list[Utterance] = []
        # Messages arrive in order, so time never runs backwards (an UtteranceEnd's own time,
        # last_word_end, is earlier than the result that revealed the gap).
        self._now = float("-inf")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- public -------------------------------------------------------------------------------

    def feed(self, item: Message | Received, at: float | None = None) -> list[Utterance]:
        """Process one message (or a SessionLog entry); returns the utterances it completed."""
        if isinstance(item, Received):
            item, at = item.message, item.at
        when = _message_time(item) if at is None else float(at)
        when = self._now = max(self._now, when)
        out: list[Utterance] = []
        if isinstance(item, Results):
            ledger = self._ledger(item.channel_index[0])
            self._on_results(ledger, item, when, item.channel_index[0], out)
        elif isinstance(item, UtteranceEnd):
            self._on_utterance_end(self._ledger(item.channel[0]), item, when, item.channel[0], out)
        self.utterances.extend(out)
        return out

    def finish(self, at: float | None = None) -> list[Utterance]:
        """The stream ended: flush what is left (trigger ``stream_end``)."""
        out: list[Utterance] = []
        when = max(self._now, at if at is not None else float("-inf"))
        for channel, ledger in sorted(self._ledgers.items()):
            self._emit(ledger, "stream_end", when, channel, out)
        self.utterances.extend(out)
        return out

    def run(self, messages: SessionLog | Iterable[Message | Received]) -> list[Utterance]:
        """Feed every message, then `finish`; returns all utterances."""
        for item in messages:
            self.feed(item)
        self.finish()
        return list(self.utterances)

    # -- hooks ----------------------------------------------------------------------------------

    def _on_results(self, ledger: _Ledger, results: Results, at: float, channel: int, out: list[Utterance]) -> None:
        raise NotImplementedError

    def _on_utterance_end(
        self, ledger: _Ledger, message: UtteranceEnd, at: float, channel: int, out: list[Utterance]
    ) -> None:
        return None

    # -- shared mechanics -----------------------------------------------------------------------

    def _ledger(self, channel: int) -> _Ledger:
        return self._ledgers.setdefault(channel, _Ledger())

    def _take_results(self, ledger: _Ledger, results: Results) -> None:
        """Record a message's words: finals into `pending`, interims as the current tail."""
        if results.is_final:
            fresh = [w for w in results.words if w.start >= ledger.covered_until - _EPS]
            ledger.pending.extend(fresh)
            ledger.interim = [w for w in ledger.interim if w.start >= results.end - _EPS]
        elif self.reads_interims:
            ledger.interim = [w for w in results.words if w.start >= ledger.covered_until - _EPS]

    def _emit(
        self,
        ledger: _Ledger,
        trigger: str,
        at: float,
        channel: int,
        out: list[Utterance],
        *,
        before: float | None = None,
    ) -> None:
        """Turn the words before `before` (all if None) into one utterance."""
        cut = float("inf") if before is None else before - _EPS
        finals = [w for w in ledger.pending if w.start < cut]
        ledger.pending = [w for w in ledger.pending if w.start >= cut]
        interims: list[Word] = []
        if self.reads_interims:
            after = finals[-1].end - _EPS if finals else float("-inf")
            interims = [w for w in ledger.interim if w.start < cut and w.start >= after]
            if interims:
                ledger.covered_until = max(ledger.covered_until, interims[-1].end)
                ledger.interim = [w for w in ledger.interim if w.start >= ledger.covered_until - _EPS]
        words = tuple(finals + interims)
        if not words:
            return
        out.append(
            Utterance(
                text=_joined(words),
                start=words[0].start,
                end=words[-1].end,
                trigger=trigger,
                decided_at=at,
                words=words,
                provisional=bool(interims),
                channel=channel,
            )
        )


class SpeechFinal(Strategy):
    """Concatenate ``is_final`` transcripts until ``speech_final`` (the docs' rule for complete utterances).

    >>> from dgwidgets.examples import example
    >>> [u.trigger for u in SpeechFinal().run(example("credit-card"))]
    ['speech_final', 'speech_final', 'speech_final']
    """

    name = "speech_final"

    def _on_results(self, ledger: _Ledger, results: Results, at: float, channel: int, out: list[Utterance]) -> None:
        self._take_results(ledger, results)
        if results.is_final and results.speech_final:
            self._emit(ledger, "speech_final", at, channel, out)


class SpeechFinalOrUtteranceEnd(SpeechFinal):
    """Trigger on speech_final; on an UtteranceEnd with no speech_final before it, flush the finals.

    This is the pair of rules the docs give for using endpointing and UtteranceEnd together: an
    UtteranceEnd right after a speech_final finds nothing pending and is ignored.

    >>> from dgwidgets.examples import example
    >>> [(u.text, u.trigger) for u in SpeechFinalOrUtteranceEnd().run(example("voice-agent-caveat"))]
    [('Hello there. This is a test.', 'utterance_end')]

    ("I'm going to continue" was only an interim result when the example ends, so it is not reported.)
    """

    name = "speech_final_or_utterance_end"

    def _on_utterance_end(
        self, ledger: _Ledger, message: UtteranceEnd, at: float, channel: int, out: list[Utterance]
    ) -> None:
        self._emit(ledger, "utterance_end", at, channel, out)


class _GapScanner(Strategy):
    """Scans word timings for gaps (and optionally punctuation) as messages arrive.

    A word is scanned once, when a message first shows a word starting after the last word seen
    (interims repeat earlier words: those are not new). A gap of `gap` seconds before a new word,
    or a window ending `tolerance` after the last word with nothing new, ends the utterance at
    the last word before it.
    """

    trigger_gap = "gap"
    trigger_tail = "gap"

    def __init__(self, gap: float, *, tolerance: float | None = None, punctuation: bool = False) -> None:
        super().__init__()
        if gap <= 0:
            raise ValueError(f"gap must be > 0 seconds, got {gap}")
        if tolerance is not None and tolerance <= 0:
            raise ValueError(f"tolerance must be > 0 seconds, got {tolerance}")
        self.gap = float(gap)
        self.tolerance = float(gap if tolerance is None else tolerance)
        self.punctuation = punctuation

    def __repr__(self) -> str:
        return f"{type(self).__name__}(gap={self.gap})"

    def _on_results(self, ledger: _Ledger, results: Results, at: float, channel: int, out: list[Utterance]) -> None:
        if not results.is_final and not self.reads_interims:
            return
        self._take_results(ledger, results)
        new = [w for w in results.words if w.start >= ledger.scanned_until - _EPS]
        for word in new:
            last = ledger.last_word_end
            if last is not None and word.start - last >= self.gap - _EPS:
                self._emit(ledger, self.trigger_gap, at, channel, out, before=word.start)
            ledger.last_word_end = word.end
            ledger.scanned_until = word.end
            if self.punctuation and word.text.endswith(_TERMINATORS):
                self._emit(ledger, "punctuation", at, channel, out, before=word.end + 2 * _EPS)
                ledger.last_word_end = None
        last = ledger.last_word_end
        if last is not None and results.end - last >= self.tolerance - _EPS:
            self._emit(ledger, self.trigger_tail, at, channel, out)
            ledger.last_word_end = None  # fire once per last word, as the post's script does


class SilenceInterval(_GapScanner):
    """The conversational-flow post's silence_interval.py, generalised.

    Fires when `seconds` pass between the end of the last word and the start of the next word
    (in any message, also inside one final) or the end of a wordless window. Reads interims, so
    it can fire before the words are final (`provisional`).

    >>> from dgwidgets.examples import example
    >>> [(u.text, u.trigger) for u in SilenceInterval(1.0).run(example("utterance-end"))]
    [('Hello there', 'silence_interval'), ('How are you?', 'stream_end')]
    """

    name = "silence_interval"
    reads_interims = True
    trigger_gap = trigger_tail = "silence_interval"

    def __init__(self, seconds: float = 2.0) -> None:
        super().__init__(seconds)

    def __repr__(self) -> str:
        return f"SilenceInterval(seconds={self.gap})"


class PunctuationOrGap(_GapScanner):
    """Finals only: break at a punctuation terminator or at a gap between adjacent words.

    The docs' safest rule when downstream processing needs complete utterances (needs punctuate
    or smart_format for the punctuation part). Latency: waits for is_final.
    """

    name = "punctuation_or_gap"

    def __init__(self, gap: float = 1.0) -> None:
        super().__init__(gap, punctuation=True)


class LowLatency(_GapScanner):
    """All responses: punctuation, a gap between words, or a result ending `tolerance` after its last word.

    The docs' lower-latency variant: it reads interim results, so it decides sooner but can fire
    falsely when a later interim revises the words it relied on.
    """

    name = "low_latency"
    reads_interims = True
    trigger_tail = "tolerance"

    def __init__(self, gap: float = 1.0, tolerance: float = 0.8) -> None:
        super().__init__(gap, tolerance=tolerance, punctuation=True)

    def __repr__(self) -> str:
        return f"LowLatency(gap={self.gap}, tolerance={self.tolerance})"


class FluxEndOfTurn(Strategy):
    """Flux decides itself: one utterance per ``EndOfTurn`` with words, decided when it arrived.

    The trigger says why the turn ended (``EndOfTurn:model``, ``:manual``, ``:timeout``). Fed
    TurnInfo messages without arrival times, it uses ``audio_window_end`` (the audio heard).

    >>> from dgwidgets.protocol import Word
    >>> end = TurnInfo("EndOfTurn", 0, 0.0, 1.6, "hi", (Word("hi", 0.3, 1.1, 0.9),), 0.8, "model")
    >>> [(u.text, u.trigger, u.decided_at) for u in FluxEndOfTurn().run([Received(1.65, end)])]
    [('hi', 'EndOfTurn:model', 1.65)]
    """

    name = "flux_end_of_turn"
    api = "v2"
    event = "EndOfTurn"
    provisional = False

    def feed(self, item: Message | TurnInfo | Received, at: float | None = None) -> list[Utterance]:
        if isinstance(item, Received):
            item, at = item.message, item.at
        if not isinstance(item, TurnInfo):
            return []
        when = self._now = max(self._now, item.audio_window_end if at is None else float(at))
        if item.event != self.event or not item.words:
            return []
        trigger = f"{item.event}:{item.trigger}" if item.trigger else item.event
        words = item.words
        utterance = Utterance(
            item.transcript, words[0].start, words[-1].end, trigger, when, words, provisional=self.provisional
        )
        self.utterances.append(utterance)
        return [utterance]

    def finish(self, at: float | None = None) -> list[Utterance]:
        # An open turn at the end of the stream is not a decision: Flux did not end it.
        return []


class FluxEagerEndOfTurn(FluxEndOfTurn):
    """Flux's early signal: one utterance per ``EagerEndOfTurn``, provisional (a ``TurnResumed`` may cancel it).

    Comes only when the stream set ``eager_eot_threshold``.
    """

    name = "flux_eager_end_of_turn"
    event = "EagerEndOfTurn"
    provisional = True


class UnknownStrategyError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


#: name -> (factory, one-line description)
STRATEGIES: dict[str, tuple[Callable[..., Strategy], str]] = {
    SpeechFinal.name: (SpeechFinal, "concatenate is_final until speech_final"),
    SpeechFinalOrUtteranceEnd.name: (
        SpeechFinalOrUtteranceEnd,
        "speech_final, or UtteranceEnd when no speech_final came",
    ),

    SilenceInterval.name: (SilenceInterval, "N seconds between words (default 2.0), interims included"),
    PunctuationOrGap.name: (PunctuationOrGap, "finals only: . ? ! or a gap between words (default 1.0 s)"),
    LowLatency.name: (LowLatency, "interims too: punctuation, gap or tail tolerance; may fire falsely"),
}


#: Flux's own decisions as strategies (they read /v2/listen logs): name -> (factory, description)
FLUX_STRATEGIES: dict[str, tuple[Callable[..., Strategy], str]] = {
    FluxEndOfTurn.name: (FluxEndOfTurn, "Flux (/v2/listen): the server's EndOfTurn"),
    FluxEagerEndOfTurn.name: (
        FluxEagerEndOfTurn,
        "Flux (/v2/listen): the server's EagerEndOfTurn (provisional; needs eager_eot_threshold)",
    ),
}


def strategies_for(api: str) -> list[str]:
    """The names of the strategies that read `api`'s messages: the client-side ones (`STRATEGIES`)
    for ``"v1"``, Flux's (`FLUX_STRATEGIES`) for ``"v2"``.

    >>> strategies_for("v2")
    ['flux_end_of_turn', 'flux_eager_end_of_turn']
    """
    if api not in ("v1", "v2"):
        raise ValueError(f"api must be 'v1' or 'v2', got {api!r}")
    return list(FLUX_STRATEGIES if api == "v2" else STRATEGIES)


def make_strategy(name: str, **params: float) -> Strategy:
    """Build a strategy by name, e.g. ``make_strategy("silence_interval", seconds=1.5)``."""
    key = name.replace("-", "_")
    entry = STRATEGIES.get(key) or FLUX_STRATEGIES.get(key)
    if entry is None:
        raise UnknownStrategyError(
            f"no strategy {name!r}; choose one of: {', '.join(STRATEGIES)} (or for Flux: {', '.join(FLUX_STRATEGIES)})"
        )
    return entry[0](**params)
