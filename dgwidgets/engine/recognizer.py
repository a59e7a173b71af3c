"""Streaming speech recognizers for the local engine.

A pure core: no threads, no clocks, no sockets.  ``StreamingRecognizer`` is what the transcriber
needs; ``PocketsphinxRecognizer`` implements it with the model shipped in the ``pocketsphinx`` wheel.
Word times are seconds from the start of the current utterance's audio; the caller adds the
utterance's offset in the stream.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import StringIO
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["RecognizedWord", "StreamingRecognizer", "PocketsphinxRecognizer", "BASE_VOCABULARY"]

# Always in the keyterm LM: spoken digits (card numbers, phone numbers, codes) and the fillers that
# start many answers, so a domain LM does not force them onto keyterm words.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")
FILLER_WORDS = ("yeah", "so", "um", "uh", "okay")
BASE_VOCABULARY = DIGIT_WORDS + FILLER_WORDS

_FRAME_SECONDS = 0.01  # pocketsphinx's frame rate is 100 frames/s
# Audio goes to pocketsphinx in blocks of exactly this many samples (20 ms, two frames), whatever
# the caller's chunk sizes: its live CMN and lattice scores depend slightly on the process_raw()
# call boundaries, so fixed blocks are what makes the output depend on the audio alone.
BLOCK_SAMPLES = 320
_TOKEN = re.compile(r"[a-z0-9']+")
_VARIANT = re.compile(r"\(\d+\)$")


@dataclass(frozen=True)
class RecognizedWord:
    """A recognized word with utterance-relative times.

    Attributes:
        word: lowercase dictionary word; pronunciation variants such as ``the(2)`` are stripped.
        start: seconds from the start of the current utterance's audio.
        end: seconds from the start of the current utterance's audio.
        confidence: 0..1.
        punctuated: the recognizer's own capitalised/punctuated spelling of this spoken word
            (Whisper's "Hello," for hello), or None (pocketsphinx); used by punctuate/smart_format.
    """

    word: str
    start: float
    end: float
    confidence: float
    punctuated: str | None = None


@runtime_checkable
class StreamingRecognizer(Protocol):
    """What the transcriber needs from a recognizer (pocketsphinx now, faster-whisper later).

    One instance decodes one stream, one utterance at a time::

        rec.start()
        for chunk in chunks:          # int16 mono at rec.sample_rate
            rec.feed(chunk)
            words = rec.partial()     # the current hypothesis, for interim results
        words = rec.finish()          # the final words, for a final result
        rec.start()                   # the next utterance, keeping acoustic adaptation
    """

    sample_rate: int

    def start(self) -> None:
        """Begin an utterance (acoustic adaptation carries over from earlier utterances)."""
        ...

    def feed(self, pcm: np.ndarray) -> None:
        """Add int16 mono samples to the current utterance."""
        ...

    def partial(self) -> list[RecognizedWord]:
        """The current hypothesis with word times (may change until ``finish()``)."""
        ...

    def finish(self) -> list[RecognizedWord]:
        """End the utterance; return the best-path words with times and per-word confidence."""
        ...


def _normalize_words(text: str) -> list[str]:
    """Lowercase tokens the way cmudict spells them: letters, digits, apostrophes."""
    return _TOKEN.findall(text.lower())


@functools.lru_cache(maxsize=1)
def _cmudict_text() -> str:
    # Cached: 3.6 MB read once per process, so later recognizers start in ~10 ms.
    from pocketsphinx import get_model_path

    with open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as fh:
        return fh.read()


def _dictionary_entries(words: Iterable[str]) -> dict[str, list[str]]:
    """Pronunciation lines (``word(2) P H O N E S``) for each word found in cmudict."""
    text = _cmudict_text()
    found: dict[str, list[str]] = {}
    for word in set(words):
        lines = _lookup_sorted(text, word)
        if lines:
            found[word] = lines
    return found


def _line_base(text: str, start: int) -> str:
    head = text[start : text.find(" ", start)]
    return head.partition("(")[0]


def _lookup_sorted(text: str, word: str) -> list[str]:
    """All lines of ``word`` (and its variants) in cmudict text, by binary search.

    cmudict's base words are in sorted order, so a bisection over character offsets finds a word
    in ~20 steps: ~0.1 ms a word instead of 20 ms for a scan of the whole file.
    """
    lo, hi = 0, len(text)  # invariant: lo is a line start; every line before lo sorts below word
    while lo < hi:
        mid = (lo + hi) // 2
        s = text.rfind("\n", 0, mid) + 1  # start of the line holding offset mid (s >= lo)
        if _line_base(text, s) < word:
            lo = text.find("\n", s) + 1 or len(text)
        else:
            hi = s
    out = []
    while lo < len(text):
        end = text.find("\n", lo)
        end = len(text) if end < 0 else end
        if _line_base(text, lo) != word:
            break
        out.append(text[lo:end].rstrip())
        lo = end + 1
    return out


def _is_filler(word: str) -> bool:
    # <s>, </s>, <sil>, [NOISE], [SPEECH], ++GARBAGE++ (older models), (NULL) from lattices.
    return word.startswith(("<", "[", "+", "(")) or not word


class PocketsphinxRecognizer:
    """``StreamingRecognizer`` on pocketsphinx 5's en-us model.

    With ``keyterms`` it decodes with a small language model built in-process from the keyterm
    phrases plus ``BASE_VOCABULARY`` (digits zero..nine, "oh", and the fillers yeah/so/um/uh/okay),
    and a dictionary trimmed to those words: start-up ~10-20 ms, RTF ~0.035, good accuracy on
    those words, but **it can only ever output those words** (a closed vocabulary: "my" outside it
    comes out as "nine").  Keyterm words missing from cmudict are skipped and listed in
    ``unknown_words``.  Without keyterms it loads the general en-us model (0.3-0.4 s start-up with
    a warm file cache, ~5 s cold; RTF ~0.2; open vocabulary, much less accurate).

    One decoder per instance, kept across utterances: live cepstral mean normalization starts from
    a fixed default and learns the speaker/channel from each finished utterance, so the first
    utterance of a fresh decoder is decoded worst and later ones better.  A fresh decoder per
    utterance would stay at its worst.

    Deterministic in audio time: audio is passed on in fixed 20 ms blocks (``BLOCK_SAMPLES``), so
    any chunking of the same audio gives the same partials (at the same sample counts) and the same
    finals, confidences included.

    Times: pocketsphinx frames are 10 ms; word times come from its segmentation, both in
    ``partial()`` (the first, tree-search pass, available mid-utterance) and in ``finish()`` (the
    final flat-search pass plus best path, which can differ a lot from the last partial).

    Confidence: ``finish()`` gives each word's posterior probability from the best-path lattice.
    Mid-utterance pocketsphinx computes no posteriors, so ``partial()`` words carry 1.0.

    Example:
        >>> import numpy as np
        >>> rec = PocketsphinxRecognizer(keyterms=["credit card number", "zyxwq"])
        >>> rec.unknown_words
        ('zyxwq',)
        >>> rec.start()
        >>> rec.feed(np.zeros(8000, dtype=np.int16))
        >>> rec.partial(), rec.finish()
        ([], [])
    """

    def __init__(self, *, keyterms: Sequence[str] = (), sample_rate: int = 16000) -> None:
        if sample_rate != 16000:
            # The shipped acoustic model is 16 kHz; the caller resamples (see the engine docs).
            raise ValueError(f"PocketsphinxRecognizer needs 16000 Hz audio, got sample_rate={sample_rate}")
        if isinstance(keyterms, str):
            keyterms = [keyterms]  # a bare string would otherwise be split into letters
        import pocketsphinx

        pocketsphinx.set_loglevel("FATAL")
        self.sample_rate = sample_rate
        self.keyterms: tuple[str, ...] = tuple(keyterms)
        self.unknown_words: tuple[str, ...] = ()
        self.vocabulary: frozenset[str] | None = None  # None: the general model's open vocabulary
        if self.keyterms:
            self._decoder = self._domain_decoder(pocketsphinx)
        else:
            self._decoder = pocketsphinx.Decoder(samprate=sample_rate, loglevel="FATAL")
        self._active = False
        self._samples = 0  # samples fed in the current utterance
        self._pending = np.zeros(0, dtype=np.int16)  # less than one block, not yet decoded

    def _domain_decoder(self, pocketsphinx: ModuleType) -> Any:
        from pocketsphinx.lm import ArpaBoLM

        phrases = [_normalize_words(k) for k in self.keyterms]
        wanted = {w for p in phrases for w in p} | set(BASE_VOCABULARY)
        entries = _dictionary_entries(wanted)
        self.unknown_words = tuple(sorted(w for w in wanted if w not in entries))
        self.vocabulary = frozenset(entries)

        # One sentence per line.  Digits and fillers stand alone so that no digit order is
        # preferred; unknown words are dropped from phrases (the decoder refuses LM words it
        # cannot pronounce) while the rest of the phrase keeps its n-grams.
        lines = [" ".join(w for w in p if w in entries) for p in phrases]
        lines += [w for w in BASE_VOCABULARY if w in entries]
        # Numbers are spoken as digit runs ("two two two two", "five five five two three eight"):
        # every digit pair once, so a digit may follow any digit without favouring an order.
        digits = [d for d in DIGIT_WORDS if d in entries]
        lines += [f"{a} {b}" for a in digits for b in digits]
        lm = ArpaBoLM(text="\n".join(line for line in lines if line), add_start=True)
        lm.compute()
        arpa = StringIO()
        lm.write(arpa)

        # pocketsphinx only reads models from files: write both to a private temporary directory
        # that is gone before the constructor returns.
        with tempfile.TemporaryDirectory(prefix="dgwidgets-ps-") as tmp:
            lm_path = os.path.join(tmp, "domain.arpa")
            dict_path = os.path.join(tmp, "domain.dict")
            with open(lm_path, "w", encoding="utf-8") as fh:
                fh.write(arpa.getvalue())
            with open(dict_path, "w", encoding="utf-8") as fh:
                fh.writelines(line + "\n" for w in sorted(entries) for line in entries[w])
            return pocketsphinx.Decoder(samprate=self.sample_rate, lm=lm_path, dict=dict_path, loglevel="FATAL")

    @property
    def in_utterance(self) -> bool:
        """True between ``start()`` and ``finish()``."""
        return self._active

    @property
    def samples_fed(self) -> int:
        """Samples fed in the current (or just finished) utterance."""
        return self._samples

    def start(self) -> None:
        """Begin an utterance.  A second ``start()`` before any audio is a no-op."""
        if self._active:
            if self._samples == 0:
                return
            raise RuntimeError("start() called during an utterance with audio; call finish() first")
        self._decoder.start_utt()
        self._active = True
        self._samples = 0
        self._pending = np.zeros(0, dtype=np.int16)

    def feed(self, pcm: np.ndarray) -> None:
        """Add int16 mono samples to the current utterance."""
        if not self._active:
            raise RuntimeError("feed() called outside an utterance; call start() first")
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
            got = f"dtype {pcm.dtype}, shape {pcm.shape}" if isinstance(pcm, np.ndarray) else type(pcm).__name__
            raise TypeError(f"feed() needs a 1-D numpy int16 array, got {got}")
        if not pcm.size:
            return
        self._samples += int(pcm.size)
        audio = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        used = audio.size - audio.size % BLOCK_SAMPLES
        data = audio[:used].tobytes()
        step = 2 * BLOCK_SAMPLES
        for i in range(0, len(data), step):
            self._decoder.process_raw(data[i : i + step])
        self._pending = audio[used:].copy()  # a copy: the caller may reuse its buffer

    def partial(self) -> list[RecognizedWord]:
        """The current hypothesis with word times; ``[]`` outside an utterance.

        It covers the audio up to the last whole 20 ms block (``BLOCK_SAMPLES``) fed.
        Times come from pocketsphinx's mid-utterance segmentation.  If it ever returns words
        without a segmentation, times are estimated by spreading the words evenly over the
        audio fed so far (``_spread``), which is only a rough guide.
        """
        if not self._active:
            return []
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr:
            return []
        words = self._words(self._decoder.seg() or (), mid_utterance=True)
        if not words:
            words = _spread(_normalize_words(hyp.hypstr), self._samples / self.sample_rate)
        return words

    def finish(self) -> list[RecognizedWord]:
        """End the utterance; return its words.  Safe with no audio fed or no utterance started."""
        if not self._active:
            return []
        self._active = False
        if self._pending.size:  # the last partial block (same for every chunking of the audio)
            self._decoder.process_raw(self._pending.tobytes())
            self._pending = np.zeros(0, dtype=np.int16)
        self._decoder.end_utt()
        if self._samples == 0 or self._decoder.hyp() is None:
            return []
        return self._words(self._decoder.seg() or (), mid_utterance=False)

    def _words(self, segments: Iterable, *, mid_utterance: bool) -> list[RecognizedWord]:
        limit = self._samples / self.sample_rate
        out: list[RecognizedWord] = []
        for s in segments:
            if _is_filler(s.word):
                continue
            # end_frame is inclusive; clamp so that no word outlives the audio actually fed.
            start = min(s.start_frame * _FRAME_SECONDS, limit)
            end = min((s.end_frame + 1) * _FRAME_SECONDS, limit)
            # pocketsphinx 5 already converts Segment.prob from its log base to a linear posterior
            # (decoder.logmath.exp() of it would be wrong); mid-utterance it is a flat 1.0.
            conf = 1.0 if mid_utterance else min(max(float(s.prob), 0.0), 1.0)
            out.append(RecognizedWord(_VARIANT.sub("", s.word).lower(), round(start, 2), round(end, 2), conf))
        return out


def _spread(words: Sequence[str], duration: float) -> list[RecognizedWord]:
    """Fallback timing: words laid evenly over ``duration`` seconds (an estimate, not a measurement)."""
    if not words or duration <= 0:
        return []
    step = duration / len(words)
    return [RecognizedWord(w, round(i * step, 2), round((i + 1) * step, 2), 1.0) for i, w in enumerate(words)]
