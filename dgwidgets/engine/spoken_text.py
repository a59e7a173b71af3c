"""Whisper's written text -> Deepgram's spoken words (pure, rule-based).

Deepgram's ``word`` is lowercase with no punctuation, and without ``numerals``/``smart_format``
numbers are words.  Whisper writes numbers as digits, so they are spelled out here.  The rules,
chosen so that ``numerals`` (which joins runs of spoken digits back into one numeral word) gives
back what Whisper wrote wherever it can, and so that nothing is guessed that the audio does not say:

- A run of digits is read **digit by digit**: "123" -> one two three, "2222" and "2-2-2-2" ->
  two two two two, "555-238-4917" -> five five five two three eight four nine one seven.  Whisper
  writes "123" both for "one two three" and for "a hundred and twenty-three"; the digit reading
  is the one the course's card, phone and "testing 123" lessons need.
- Group commas are dropped: "1,000" -> one zero zero zero.
- A decimal point is "point": "3.5" -> three point five.
- "$5" -> five dollars; "$5.50" -> five point five zero dollars; "10%" -> one zero percent;
  "£", "€" likewise (pounds, euros).
- Ordinals are words up to 999: "1st" -> first, "21st" -> twenty first, "100th" -> one hundredth;
  larger ones are digits then "th".
- Times: "3:30" -> three thirty, "10:05" -> ten oh five, "3:00" -> three o'clock (hours and
  minutes as spoken, not digit by digit).
- Letters and digits mixed ("mp3", "COVID-19") split at the boundary: mp three, covid one nine.
- Hyphens and slashes separate words ("well-known" -> well known); apostrophes stay ("don't").
- "&" -> and, "+" -> plus, "@" -> at; other symbols are dropped.
- Accented letters are spoken as their base letter ("café" -> cafe, "naïve" -> naive), so a word
  is never cut at an accent; the punctuated form keeps Whisper's spelling.
- Fillers (um, uh, hmm, mm, mhm, er, erm) are dropped: Deepgram's ``filler_words`` defaults to
  false.  Whisper already leaves most of them out.

Each spoken word keeps a ``punctuated`` form: Whisper's own capitalisation and punctuation
around it ("Hello," for hello), used when ``punctuate`` is on.

>>> [w for w, _ in spoken_words("Testing 1-2-3, testing.")]
['testing', 'one', 'two', 'three', 'testing']
>>> spoken_words("Hello, my card is 4111.")[:2]
[('hello', 'Hello,'), ('my', 'my')]
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["spoken_words", "FILLERS", "number_words", "ordinal_words"]

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_OF = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth", "twenty": "twentieth", "thirty": "thirtieth",
    "forty": "fortieth", "fifty": "fiftieth", "sixty": "sixtieth", "seventy": "seventieth",
    "eighty": "eightieth", "ninety": "ninetieth",
}  # fmt: skip
FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "hmm", "hm", "mm", "mhm", "mmm", "er", "erm"})
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}
_SYMBOL_WORDS = {"&": "and", "+": "plus", "@": "at"}

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$", re.IGNORECASE)
_DECIMAL = re.compile(r"^\d+\.\d+$")
_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+$")
_PIECE = re.compile(r"[a-z']+|\d+", re.IGNORECASE | re.ASCII)  # ASCII: "ı" and "ſ" are not letters of a word
# letters NFKD leaves whole: their usual ASCII spelling
_LETTERS = str.maketrans({"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


def _fold(text: str) -> str:
    """``text`` (lowercase) with accents dropped: "café" -> "cafe", "straße" -> "strasse".

    >>> _fold("naïve résumé")
    'naive resume'
    """
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))
_EDGE = re.compile(r"^([^\w$£€&+@']*)(.*?)([^\w%']*)$", re.UNICODE)


def number_words(n: int) -> list[str]:
    """0..999 as words: 21 -> ["twenty", "one"], 305 -> ["three", "hundred", "five"].

    >>> number_words(115)
    ['one', 'hundred', 'fifteen']
    """
    if not 0 <= n <= 999:
        raise ValueError(f"number_words covers 0..999, got {n}")
    if n < 10:
        return [DIGIT_NAMES[n]]
    if n < 20:
        return [_TEENS[n - 10]]
    if n < 100:
        return [_TENS[n // 10]] + ([DIGIT_NAMES[n % 10]] if n % 10 else [])
    return [DIGIT_NAMES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])


def ordinal_words(n: int) -> list[str]:
    """1..999 as ordinal words: 21 -> ["twenty", "first"]; larger ones: digits and "th".

    >>> ordinal_words(3), ordinal_words(40), ordinal_words(1000)
    (['third'], ['fortieth'], ['one', 'zero', 'zero', 'zero', 'th'])
    """
    if not 0 < n <= 999:
        return [DIGIT_NAMES[int(d)] for d in str(n)] + ["th"]
    words = number_words(n)
    last = words[-1]
    words[-1] = _ORDINAL_OF.get(last, last + "th")
    return words


def _digits(s: str) -> list[str]:
    return [DIGIT_NAMES[int(d)] for d in s if d.isdigit()]


def _expand(core: str) -> list[str]:
    """The spoken words of one token without its edge punctuation (lowercase)."""
    low = _fold(core).replace("\u2019", "'")
    if not low:
        return []
    if low in _SYMBOL_WORDS:
        return [_SYMBOL_WORDS[low]]
    if low[0] in _CURRENCY and len(low) > 1:
        # one sign is spoken; a run of them ("$$5") is not read out sign by sign (nor recursed into)
        rest = _expand(low[1:].lstrip("".join(_CURRENCY)))
        return rest + [_CURRENCY[low[0]]] if rest else []
    if low.endswith("%") and len(low) > 1:
        rest = _expand(low[:-1].rstrip("%"))
        return rest + ["percent"] if rest else []
    if m := _TIME.match(low):
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour <= 24 and minute < 60:
            if minute == 0:
                return number_words(hour) + ["o'clock"]
            return number_words(hour) + (["oh"] if minute < 10 else []) + number_words(minute)
    if m := _ORDINAL.match(low):
        return ordinal_words(int(m.group(1)))
    if _GROUPED.match(low):
        return _digits(low)
    if _DECIMAL.match(low):
        whole, frac = low.split(".")
        return _digits(whole) + ["point"] + _digits(frac)
    out: list[str] = []
    for piece in _PIECE.findall(low):
        if piece.isdigit():
            out += _digits(piece)
        else:
            piece = piece.strip("'")
            if piece:
                out.append(piece)
    return out


def spoken_words(text: str) -> list[tuple[str, str]]:
    """``(word, punctuated)`` pairs for Whisper's text, fillers dropped (see the module rules).

    ``punctuated`` is the word as Whisper wrote it, with the punctuation before and after its
    token (the first spoken word of a token gets what precedes it, the last what follows).
    Digits spelled out take a capital when they start a sentence.

    >>> spoken_words("Call 555-0100 at 3:30 p.m.")
    [('call', 'Call'), ('five', 'five'), ('five', 'five'), ('five', 'five'), ('zero', 'zero'), ('one', 'one'), ('zero', 'zero'), ('zero', 'zero'), ('at', 'at'), ('three', 'three'), ('thirty', 'thirty'), ('p', 'p.'), ('m', 'm.')]
    """
    out: list[tuple[str, str]] = []
    sentence_start = True
    for token in text.replace("\u2019", "'").split():
        if token in _SYMBOL_WORDS:
            out.append((_SYMBOL_WORDS[token], token))
            continue
        m = _EDGE.match(token)
        lead, core, trail = (m.group(1), m.group(2), m.group(3)) if m else ("", token, "")
        # a core like "p.m" or "U.S" (inner dots): letters separated by dots are spoken one by one
        if re.fullmatch(r"[a-z](\.[a-z])+\.?", core, re.IGNORECASE):
            letters = core.replace(".", "")
            spoken = [c.lower() for c in letters]
            forms = [c + "." for c in letters]
            if trail.startswith("."):
                trail = trail[1:]
        else:
            spoken = [w for w in _expand(core)]
            forms = _forms(core, spoken, sentence_start)
        kept = [(w, f) for w, f in zip(spoken, forms) if w not in FILLERS]
        if kept:
            first_w, first_f = kept[0]
            kept[0] = (first_w, lead + first_f)
            last_w, last_f = kept[-1]
            kept[-1] = (last_w, last_f + trail)
            out.extend(kept)
            sentence_start = any(c in trail for c in ".?!")
        elif trail and out and any(c in trail for c in ".?!,"):
            # a dropped filler's punctuation ("um,") moves to the word before it
            w, f = out[-1]
            if not f.endswith((".", "?", "!", ",")):
                out[-1] = (w, f + trail[:1])
            sentence_start = any(c in trail for c in ".?!") or sentence_start
    return out


def _forms(core: str, spoken: list[str], sentence_start: bool) -> list[str]:
    """Punctuated forms of a token's spoken words: Whisper's own spelling where it is one word."""
    if not spoken:
        return []
    plain = core.replace("\u2019", "'")
    if len(spoken) == 1 and _fold(plain).strip("'") == spoken[0]:
        return [plain.strip("'") if plain.lower() != spoken[0] else plain]
    # split pieces (well-known, mp3, numbers): keep each alphabetic piece's case as written
    pieces = iter(p for p in _PIECE.findall(plain) if not p.isdigit())
    forms = []
    for w in spoken:
        if w.isalpha() or "'" in w:
            candidate = next(pieces, None)
            forms.append(candidate if candidate is not None and _fold(candidate) == w else w)
        else:
            forms.append(w)
    if sentence_start and forms and forms[0] == spoken[0]:
        forms[0] = forms[0][:1].upper() + forms[0][1:]
    return forms
