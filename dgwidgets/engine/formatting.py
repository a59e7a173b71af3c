"""punctuate / smart_format / numerals for the local engine's words (pure, rule-based).

Deepgram formats with a model; the local engine uses a few transparent rules that are enough
to teach what the options change on the wire:

- ``punctuate`` (implied by ``smart_format``): the first word of a sentence is capitalised,
  "i" becomes "I", and the last word of an utterance ending in an endpoint gets "." (or "?"
  after a question word). The forms go into ``punctuated_word``; ``word`` stays lowercase.
- ``numerals`` / ``smart_format``: a run of spoken digits becomes one numeral word ("two two
  two two" -> "2222"), as in the docs' ``"word": "123"``. With smart_format, a ten-digit run is
  written as a phone number ("555-238-4917").

>>> from dgwidgets.protocol import Word
>>> words = [Word("testing", 1.07, 1.57, 0.7), Word("one", 1.9, 2.0, 0.8), Word("two", 2.0, 2.2, 0.8)]
>>> [w.text for w in format_words(words, punctuate=True, numerals=True, sentence_start=True, sentence_end=True)]
['Testing', '12.']
"""

from __future__ import annotations

from collections.abc import Sequence

from ..protocol import Word

__all__ = ["format_words", "transcript_of", "DIGITS", "incomplete_number_tail"]

DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_QUESTION_STARTERS = frozenset(
    "how what where when why who which are is do does did can could would will should".split()
)
_ALWAYS_CAPITAL = {"i": "I", "i'm": "I'm", "i'll": "I'll", "i've": "I've", "i'd": "I'd"}


def _merge_digits(
    words: Sequence[Word], hints: Sequence[str | None], *, phone_numbers: bool
) -> tuple[list[Word], list[str | None]]:
    out: list[Word] = []
    out_hints: list[str | None] = []
    run: list[Word] = []
    run_hints: list[str | None] = []

    def flush() -> None:
        if not run:
            return
        digits = "".join(DIGITS[w.word] for w in run)
        if phone_numbers and len(digits) == 10:
            digits = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
        elif phone_numbers and len(digits) == 7:
            digits = f"{digits[:3]}-{digits[3:]}"
        confidence = min(w.confidence for w in run)
        out.append(Word(digits, run[0].start, run[-1].end, confidence))
        # the numeral keeps the punctuation the recognizer wrote around the run ("two." -> "2.")
        first, last = run_hints[0], run_hints[-1]
        if first is None and last is None:
            out_hints.append(None)
        else:
            out_hints.append(_leading_punct(first or "") + digits + _trailing_punct(last or ""))
        run.clear()
        run_hints.clear()

    for word, hint in zip(words, hints):
        # "oh" is a digit only inside a run of digits ("five oh five"), never on its own
        if word.word in DIGITS and (word.word != "oh" or run):
            run.append(word)
            run_hints.append(hint)
        else:
            flush()
            out.append(word)
            out_hints.append(hint)
    flush()
    return out, out_hints


def _leading_punct(form: str) -> str:
    i = 0
    while i < len(form) and not form[i].isalnum():
        i += 1
    return form[:i]


def _trailing_punct(form: str) -> str:
    i = len(form)
    while i > 0 and not form[i - 1].isalnum():
        i -= 1
    return form[i:]


def format_words(
    words: Sequence[Word],
    *,
    punctuate: bool = False,
    smart_format: bool = False,
    numerals: bool = False,
    sentence_start: bool = False,
    sentence_end: bool = False,
    hints: Sequence[str | None] | None = None,
) -> list[Word]:
    """Apply the options to one message's words.

    `sentence_start`: the first word begins a sentence (the stream's start or after an endpoint).
    `sentence_end`: the message ends an utterance (an endpoint), so the last word gets a terminator.
    `hints`: per word, the recognizer's own punctuated spelling (Whisper's "Hello,"; from
    ``RecognizedWord.punctuated``) or None.  With punctuate/smart_format a hint is used as the
    word's form (a digit run's numeral keeps the run's punctuation); words without one, and the
    sentence terminator when the recognizer wrote none, follow the rules above.  Without
    punctuate/smart_format hints are ignored.

    >>> ws = [Word("hello", 0.1, 0.4, 0.9), Word("two", 0.5, 0.7, 0.9)]
    >>> [w.text for w in format_words(ws, punctuate=True, numerals=True, sentence_end=True, hints=["Hello,", "two."])]
    ['Hello,', '2.']
    """
    out = list(words)
    if hints is None:
        hints = [None] * len(out)
    elif len(hints) != len(out):
        raise ValueError(f"format_words: {len(hints)} hints for {len(out)} words")
    hints = list(hints)
    if smart_format or numerals:
        out, hints = _merge_digits(out, hints, phone_numbers=smart_format)
    if not (punctuate or smart_format) or not out:
        return out
    forms = [hint if hint else _ALWAYS_CAPITAL.get(w.word, w.word) for w, hint in zip(out, hints)]
    if sentence_start and not hints[0]:
        forms[0] = forms[0][:1].upper() + forms[0][1:]
    if sentence_end and not forms[-1].endswith((".", "?", "!")):
        # Only a message that starts its sentence can tell a question by its first word: a
        # continuation ("is two two" after a forced cut) does not start with the sentence's verb.
        question = sentence_start and out[0].word in _QUESTION_STARTERS
        forms[-1] = forms[-1].rstrip(",;:") + ("?" if question else ".")
    return [
        Word(w.word, w.start, w.end, w.confidence, punctuated_word=form, unknown=w.unknown)
        for w, form in zip(out, forms)
    ]


def transcript_of(words: Sequence[Word]) -> str:
    """The transcript a message carries: punctuated forms when present."""
    return " ".join(w.text for w in words)


def incomplete_number_tail(words: Sequence[Word]) -> bool:
    """True when the words end in a digit run that looks like an unfinished phone number.

    smart_format waits (up to a few seconds) before finalizing such an entity, so "five five five"
    [pause] "two three eight …" is not cut at the pause. A run of 3 or 6 digits is the classic
    area-code / exchange boundary.
    """
    run = 0
    for word in reversed(words):
        if word.word in DIGITS:
            run += 1
        else:
            break
    return run in (3, 6)
