"""Whisper's written text -> Deepgram's spoken words (dgwidgets.engine.spoken_text).

Whisper writes "Testing 1-2-3." where Deepgram's ``word`` says testing one two three: every final
of the local engine goes through ``spoken_words``, and ``numerals``/``smart_format`` (tested in
test_engine_formatting.py) join the spoken digits back into numerals, so the digit-by-digit
reading is what makes "2222" and "555-238-4917" come back unchanged. The conventions checked here
are the ones the module documents: digits read one by one, group commas dropped, currency, percent,
ordinals, clock times, letter/digit splits, hyphens and slashes, apostrophes, the three spoken
symbols, dotted letters, and fillers dropped (Deepgram's ``filler_words`` defaults to false).
Each word also keeps Whisper's own spelling (``punctuated``), which ``punctuate`` puts on the wire.

Property tests (hypothesis) pin what must hold for any text Whisper could write: the function never
raises, its words are lowercase with no digits and no punctuation but inner apostrophes, fillers
never come out, and the words of a text are the words of its whitespace-separated tokens.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgwidgets.engine.spoken_text import DIGIT_NAMES, FILLERS, number_words, ordinal_words, spoken_words


def words(text: str) -> list[str]:
    return [w for w, _ in spoken_words(text)]


def forms(text: str) -> list[str]:
    return [f for _, f in spoken_words(text)]


# -- digits and numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", "one two three"),
        ("2222", "two two two two"),
        ("2-2-2-2", "two two two two"),
        ("2 2 2 2", "two two two two"),
        ("Testing 1-2-3, testing.", "testing one two three testing"),
        ("Testing 123 testing 123.", "testing one two three testing one two three"),
        ("555-238-4917", "five five five two three eight four nine one seven"),
        ("4111 1111", "four one one one one one one one"),
        ("007", "zero zero seven"),
        ("0", "zero"),
        ("1000", "one zero zero zero"),
        ("2020.", "two zero two zero"),
        ("The 1990s", "the one nine nine zero s"),
    ],
)
def test_a_run_of_digits_is_read_digit_by_digit(text, expected):
    assert words(text) == expected.split()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,000", "one zero zero zero"),  # group commas dropped
        ("12,345,678", "one two three four five six seven eight"),
        ("3.5", "three point five"),  # a decimal point is "point"
        ("1.000", "one point zero zero zero"),
        ("$5", "five dollars"),
        ("$5.50", "five point five zero dollars"),
        ("10%", "one zero percent"),
        ("50%.", "five zero percent"),
        ("£20", "two zero pounds"),
        ("€3", "three euros"),
    ],
)
def test_group_commas_decimals_currency_and_percent(text, expected):
    assert words(text) == expected.split()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1st", "first"),
        ("1ST", "first"),
        ("2nd", "second"),
        ("3rd", "third"),
        ("4th", "fourth"),
        ("5th", "fifth"),
        ("8th", "eighth"),
        ("9th", "ninth"),
        ("11th", "eleventh"),
        ("12th", "twelfth"),
        ("13th", "thirteenth"),
        ("20th", "twentieth"),
        ("21st", "twenty first"),
        ("40th", "fortieth"),
        ("99th", "ninety ninth"),
        ("100th", "one hundredth"),
        ("101st", "one hundred first"),
        ("112th", "one hundred twelfth"),
        ("999th", "nine hundred ninety ninth"),
        ("1000th", "one zero zero zero th"),  # past 999: digits, then "th"
    ],
)
def test_ordinals_are_words_up_to_999(text, expected):
    assert words(text) == expected.split()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3:30", "three thirty"),
        ("10:05", "ten oh five"),
        ("12:45", "twelve forty five"),
        ("3:00", "three o'clock"),
        ("24:00", "twenty four o'clock"),
        ("3:30 p.m.", "three thirty p m"),
        ("25:00", "two five zero zero"),  # not a clock time: digit by digit
        ("3:60", "three six zero"),
    ],
)
def test_clock_times_read_hours_and_minutes_as_spoken(text, expected):
    assert words(text) == expected.split()


def test_number_words_spell_every_number_from_0_to_999():
    units = {name: i for i, name in enumerate(DIGIT_NAMES)}
    teens = dict(
        zip("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(), range(10, 20))
    )
    tens = dict(zip("twenty thirty forty fifty sixty seventy eighty ninety".split(), range(20, 100, 10)))

    def value(ws: list[str]) -> int:
        total = 0
        if len(ws) >= 2 and ws[1] == "hundred":
            total, ws = units[ws[0]] * 100, ws[2:]
            assert ws != ["zero"]
        for w in ws:
            total += units.get(w, 0) + teens.get(w, 0) + tens.get(w, 0)
        return total

    for n in range(1000):
        spelled = number_words(n)
        assert value(spelled) == n, (n, spelled)
        assert "zero" not in spelled or n == 0
        assert len(spelled) <= 4


@pytest.mark.parametrize("n", [-1, 1000, 12345])
def test_number_words_refuse_numbers_outside_0_to_999(n):
    with pytest.raises(ValueError, match="0..999"):
        number_words(n)


def test_ordinal_words_change_only_the_last_word_of_the_number():
    for n in range(1, 1000):
        cardinal, ordinal = number_words(n), ordinal_words(n)
        assert ordinal[:-1] == cardinal[:-1], n
        assert ordinal[-1] != cardinal[-1] and ordinal[-1].endswith(("st", "nd", "rd", "th")), (n, ordinal)
    assert ordinal_words(0) == ["zero", "th"]
    assert ordinal_words(1234) == ["one", "two", "three", "four", "th"]


# -- letters, symbols and punctuation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mp3", "mp three"),
        ("COVID-19", "covid one nine"),
        ("well-known", "well known"),
        ("and/or", "and or"),
        ("3/4", "three four"),
        ("don't", "don't"),
        ("don\u2019t", "don't"),  # Whisper's curly apostrophe
        ("I'm", "i'm"),
        ("O'Brien's", "o'brien's"),
        ("'quoted'", "quoted"),  # quotes are not apostrophes
        ("rock 'n' roll", "rock n roll"),
        ("rock & roll", "rock and roll"),
        ("1 + 1", "one plus one"),
        ("meet @ noon", "meet at noon"),
        ("#1", "one"),  # other symbols are dropped
        ("U.S.", "u s"),
        ("p.m.", "p m"),
        ("Hello, world!", "hello world"),
        ("Mr. John, Mr. John,", "mr john mr john"),
        ("What?! No... Really?", "what no really"),
        ("\u2014 ... $ %", ""),  # punctuation alone says nothing
        ("", ""),
    ],
)
def test_letters_symbols_and_punctuation(text, expected):
    assert words(text) == expected.split()


def test_spoken_words_are_lowercase_and_keep_whispers_spelling_as_the_punctuated_form():
    assert spoken_words("Hello, my card is 4111.") == [
        ("hello", "Hello,"),
        ("my", "my"),
        ("card", "card"),
        ("is", "is"),
        ("four", "four"),
        ("one", "one"),
        ("one", "one"),
        ("one", "one."),
    ]
    assert spoken_words("NASA's COVID-19 plan.") == [
        ("nasa's", "NASA's"),
        ("covid", "COVID"),
        ("one", "one"),
        ("nine", "nine"),
        ("plan", "plan."),
    ]
    assert spoken_words("It's 3:30 p.m.") == [
        ("it's", "It's"),
        ("three", "three"),
        ("thirty", "thirty"),
        ("p", "p."),
        ("m", "m."),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 apples.", ["Five", "apples."]),  # digits spelled out at a sentence start take a capital
        ("Hello. 5 apples", ["Hello.", "Five", "apples"]),
        ("Why? 22 left.", ["Why?", "Two", "two", "left."]),
        ("I have 5 apples.", ["I", "have", "five", "apples."]),  # inside a sentence they do not
        ("one, 2, 3", ["one,", "two,", "three"]),
    ],
)
def test_spelled_out_digits_take_a_capital_only_at_a_sentence_start(text, expected):
    assert forms(text) == expected


# -- fillers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("filler", sorted(FILLERS))
def test_every_filler_is_dropped_in_any_case(filler):
    assert words(filler) == []
    assert words(filler.upper() + ",") == []
    assert words(f"so {filler.capitalize()} yes") == ["so", "yes"]


def test_um_and_uh_are_fillers_as_deepgram_drops_them_by_default():
    # Deepgram's filler_words defaults to false: "um" and "uh" never reach the transcript.
    assert {"um", "uh"} <= FILLERS
    assert words("Um, I think, uh, it's fine.") == ["i", "think", "it's", "fine"]
    assert words("Uh... yes") == ["yes"]
    assert words("Mm-hmm, yes.") == ["yes"]


@pytest.mark.parametrize("text", ["umbrella", "hum", "her", "err", "uhura", "mmmm", "summer", "ermine"])
def test_words_that_merely_contain_a_filler_are_kept(text):
    assert words(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes um, no", [("yes", "Yes,"), ("no", "no")]),  # the filler's comma moves to the word before
        ("so um. okay", [("so", "so."), ("okay", "okay")]),
        ("I, um, think", [("i", "I,"), ("think", "think")]),  # already punctuated: not doubled
        ("Um, um, yes.", [("yes", "yes.")]),  # nothing before: the punctuation goes
        ("Hmm.", []),
    ],
)
def test_a_dropped_fillers_punctuation_moves_to_the_word_before_it(text, expected):
    assert spoken_words(text) == expected


# -- properties -------------------------------------------------------------------------------------

_SPOKEN_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|')*")
_ASCII_DIGITS = set("0123456789")
_ASCII_PUNCTUATION = set('!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~')

# Text like Whisper's: words, digits, the punctuation and symbols it writes, spaces.
whisperish = st.lists(
    st.one_of(
        st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True),
        st.from_regex(r"[0-9]{1,6}", fullmatch=True),
        st.sampled_from(sorted(FILLERS) + ["Um,", "Uh...", "I'm", "don't", "p.m.", "U.S.", "&", "+", "@", "$5", "10%"]),
        st.from_regex(r"[0-9]{1,2}:[0-9]{2}|[0-9]{1,3}(st|nd|rd|th)|[0-9]+[.,][0-9]+|[A-Za-z]+-[0-9]+", fullmatch=True),
        st.sampled_from(list(",.?!;:-'\"()/\u2019\u2014")),
    ),
    max_size=25,
).map(lambda parts: " ".join(parts))

any_text = st.one_of(st.text(), whisperish)


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_never_raises_and_gives_word_and_punctuated_string_pairs(text):
    out = spoken_words(text)
    assert isinstance(out, list)
    for pair in out:
        assert isinstance(pair, tuple) and len(pair) == 2
        word, punctuated = pair
        assert isinstance(word, str) and isinstance(punctuated, str)
        assert word and punctuated


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_spoken_words_are_lowercase_without_digits_or_punctuation_but_apostrophes(text):
    for word, _ in spoken_words(text):
        assert word == word.lower(), word
        assert not _ASCII_DIGITS & set(word), word
        assert not _ASCII_PUNCTUATION & set(word), word
        assert _SPOKEN_WORD.fullmatch(word), word  # letters, with apostrophes only inside
        assert not word.endswith("'"), word
        assert word not in FILLERS, word


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_the_words_of_a_text_are_the_words_of_its_tokens(text):
    # A token's spoken words never depend on its neighbours (only punctuated capitals do).
    assert words(text) == [w for token in text.split() for w in words(token)]


@settings(max_examples=300, deadline=None)
@given(whisperish)
def test_spoken_words_do_not_depend_on_case(text):
    assert words(text.upper()) == words(text.lower()) == words(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"[0-9]{1,8}", fullmatch=True), min_size=1, max_size=6), st.sampled_from([" ", "-", "/"]))
def test_digit_groups_read_digit_by_digit_whatever_joins_them(groups, joiner):
    text = joiner.join(groups)
    assert words(text) == [DIGIT_NAMES[int(d)] for d in "".join(groups)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z]{2,10}", fullmatch=True).filter(lambda w: w.lower() not in FILLERS),
            st.sampled_from(["", ",", ".", "?", "!", ";", ":", "..."]),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_plain_words_keep_whispers_text_exactly_in_their_punctuated_forms(tokens):
    text = " ".join(word + punct for word, punct in tokens)
    out = spoken_words(text)
    assert [w for w, _ in out] == [word.lower() for word, _ in tokens]
    assert " ".join(f for _, f in out) == text


# -- accents and runs of signs (once bugs) ------------------------------------------------


@pytest.mark.parametrize(("text", "plain"), [("café", "cafe"), ("naïve", "naive"), ("résumé", "resume")])
def test_accented_letters_stay_in_their_word(text, plain):
    assert words(text) in ([text], [plain])


@pytest.mark.parametrize("text", ["$" * 1200 + "5", "5" + "%" * 1200])
def test_a_long_run_of_currency_or_percent_signs_does_not_exhaust_the_stack(text):
    spoken_words(text)
