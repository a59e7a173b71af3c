"""punctuate / smart_format / numerals rules of the local engine (dgwidgets.engine.formatting)."""

from __future__ import annotations

import pytest

from dgwidgets.engine.formatting import DIGITS, format_words, incomplete_number_tail, transcript_of
from dgwidgets.protocol import Word


def words_of(text: str, start: float = 1.0, step: float = 0.25, confidence: float = 0.9) -> list[Word]:
    """Words laid one after another, `step` seconds each (confidences lower along the way)."""
    return [
        Word(w, round(start + i * step, 3), round(start + (i + 1) * step, 3), round(confidence - 0.01 * i, 3))
        for i, w in enumerate(text.split())
    ]


def texts(words) -> list[str]:
    return [w.text for w in words]


# -- numerals: digit runs ---------------------------------------------------------------------------


def test_digit_run_becomes_one_numeral_word_spanning_the_run():
    spoken = words_of("is two two two two three")
    out = format_words(spoken, numerals=True)
    assert [w.word for w in out] == ["is", "22223"]
    numeral = out[1]
    assert (numeral.start, numeral.end) == (spoken[1].start, spoken[-1].end)
    assert numeral.confidence == min(w.confidence for w in spoken[1:])
    assert numeral.punctuated_word is None  # numerals alone do not punctuate


def test_every_spoken_digit_maps_to_its_numeral():
    spoken = words_of("zero one two three four five six seven eight nine")
    assert [w.word for w in format_words(spoken, numerals=True)] == ["0123456789"]
    assert DIGITS["oh"] == "0"


def test_separate_runs_stay_separate():
    out = format_words(words_of("two two and three three"), numerals=True)
    assert [w.word for w in out] == ["22", "and", "33"]


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("five oh five", ["505"]),  # inside a run: a zero
        ("five oh", ["50"]),  # continuing a run
        ("oh five", ["oh", "5"]),  # starting a run: the word "oh"
        ("oh", ["oh"]),  # alone: the word "oh"
        ("oh i see", ["oh", "i", "see"]),
        ("one oh oh one", ["1001"]),
    ],
)
def test_oh_is_a_digit_only_inside_a_run(spoken, expected):
    assert [w.word for w in format_words(words_of(spoken), numerals=True)] == expected


def test_without_numerals_or_smart_format_words_pass_through_unchanged():
    spoken = words_of("my number is two two")
    assert format_words(spoken) == spoken
    assert format_words(spoken, punctuate=False, numerals=False, smart_format=False, sentence_end=True) == spoken


@pytest.mark.parametrize(
    ("spoken", "smart", "plain"),
    [
        ("five five five two three eight four nine one seven", "555-238-4917", "5552384917"),
        ("two three eight four nine one seven", "238-4917", "2384917"),
        ("two two two two", "2222", "2222"),
        ("five five five", "555", "555"),
        ("one two three four five six seven eight nine zero one", "12345678901", "12345678901"),
    ],
)
def test_smart_format_writes_phone_numbers_numerals_do_not(spoken, smart, plain):
    assert [w.word for w in format_words(words_of(spoken), smart_format=True)] == [smart]
    assert [w.word for w in format_words(words_of(spoken), numerals=True)] == [plain]


# -- punctuation ------------------------------------------------------------------------------------


def test_punctuate_capitalises_the_sentence_start_and_ends_an_utterance_with_a_period():
    out = format_words(words_of("hello there"), punctuate=True, sentence_start=True, sentence_end=True)
    assert texts(out) == ["Hello", "there."]
    assert [w.word for w in out] == ["hello", "there"]  # `word` stays lowercase
    assert transcript_of(out) == "Hello there."


def test_no_capital_inside_a_sentence_and_no_period_before_its_end():
    out = format_words(words_of("hello there"), punctuate=True, sentence_start=False, sentence_end=False)
    assert texts(out) == ["hello", "there"]
    assert all(w.punctuated_word is not None for w in out)  # punctuate always adds the field


@pytest.mark.parametrize("starter", ["how", "what", "where", "when", "why", "who", "which", "is", "are", "do", "can"])
def test_question_mark_after_a_question_starter(starter):
    out = format_words(words_of(f"{starter} it going"), punctuate=True, sentence_start=True, sentence_end=True)
    assert texts(out)[-1] == "going?"
    assert texts(out)[0] == starter.capitalize()


def test_question_starter_later_in_the_message_does_not_make_a_question():
    out = format_words(words_of("tell me how it went"), punctuate=True, sentence_start=True, sentence_end=True)
    assert texts(out)[-1] == "went."


@pytest.mark.parametrize(
    ("word", "form"), [("i", "I"), ("i'm", "I'm"), ("i'll", "I'll"), ("i've", "I've"), ("i'd", "I'd")]
)
def test_i_is_always_capital_with_punctuation(word, form):
    out = format_words(words_of(f"yes {word} know"), punctuate=True)
    assert texts(out) == ["yes", form, "know"]
    assert out[1].word == word
    # without punctuation nothing changes
    assert texts(format_words(words_of(f"yes {word} know"))) == ["yes", word, "know"]


def test_smart_format_implies_punctuation_and_numerals():
    out = format_words(
        words_of("my number is five five five two three eight four nine one seven"),
        smart_format=True,
        sentence_start=True,
        sentence_end=True,
    )
    assert texts(out) == ["My", "number", "is", "555-238-4917."]
    assert transcript_of(out) == "My number is 555-238-4917."
    assert out[-1].word == "555-238-4917"


def test_numerals_with_punctuate_terminate_the_numeral():
    # the docs' "Testing. 123." shape: the numeral word carries the period in punctuated_word only
    out = format_words(words_of("testing one two three"), punctuate=True, numerals=True, sentence_end=True)
    assert [(w.word, w.text) for w in out] == [("testing", "testing"), ("123", "123.")]


def test_numerals_without_punctuate_add_no_punctuated_word_even_at_an_endpoint():
    out = format_words(
        words_of("my number is two two"), numerals=True, punctuate=False, sentence_start=True, sentence_end=True
    )
    assert texts(out) == ["my", "number", "is", "22"]
    assert all(w.punctuated_word is None for w in out)
    assert transcript_of(out) == "my number is 22"


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"punctuate": True, "sentence_start": True, "sentence_end": True},
        {"smart_format": True, "sentence_start": True, "sentence_end": True},
        {"numerals": True},
    ],
)
def test_empty_input_gives_empty_output(flags):
    assert format_words([], **flags) == []
    assert transcript_of([]) == ""


def test_times_and_confidences_survive_punctuation():
    spoken = words_of("hello there")
    out = format_words(spoken, punctuate=True, sentence_start=True, sentence_end=True)
    assert [(w.start, w.end, w.confidence) for w in out] == [(w.start, w.end, w.confidence) for w in spoken]


def test_transcript_uses_punctuated_forms_when_present_else_plain_words():
    assert transcript_of([Word("a", 0, 1, 1), Word("b", 1, 2, 1, punctuated_word="B.")]) == "a B."


# -- smart_format's hold: a number that looks unfinished --------------------------------------------


@pytest.mark.parametrize(
    ("text", "incomplete"),
    [
        ("my number is five five five", True),  # an area code
        ("five five five two three eight", True),  # area code + exchange
        ("my number is", False),
        ("five", False),
        ("five five", False),
        ("five five five two", False),
        ("five five five two three eight four", False),
        ("five five five two three eight four nine one seven", False),
        ("five five five please", False),  # the run must be at the end
        ("one oh one", True),  # "oh" counts inside the tail
        ("", False),
    ],
)
def test_incomplete_number_tail(text, incomplete):
    assert incomplete_number_tail(words_of(text)) is incomplete


def test_a_continuation_starting_with_a_question_word_is_not_a_question():
    # "… my number is" [forced cut] "is two two": the continuation does not start the sentence
    out = format_words(words_of("is two two"), punctuate=True, numerals=True, sentence_start=False, sentence_end=True)
    assert texts(out) == ["is", "22."]
