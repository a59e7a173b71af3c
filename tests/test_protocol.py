"""LiveOptions rules and query round-trips; message parsing and serialization."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dgwidgets.protocol import (
    ENCODINGS,
    Alternative,
    ErrorMessage,
    LiveOptions,
    MessageError,
    Metadata,
    OptionsError,
    Results,
    ResultsMetadata,
    SpeechStarted,
    UnknownMessage,
    UtteranceEnd,
    Word,
    parse_message,
    serialize_message,
)

# --------------------------------------------------------------------------- options rules


def test_defaults_send_nothing():
    assert LiveOptions().to_query() == ""
    assert LiveOptions().endpointing == 10


@pytest.mark.parametrize(
    ("kwargs", "parameter", "rule_part"),
    [
        ({"utterance_end_ms": 999}, "utterance_end_ms", "from 1000 to 5000"),
        ({"utterance_end_ms": 0}, "utterance_end_ms", "from 1000 to 5000"),
        ({"utterance_end_ms": 5001}, "utterance_end_ms", "the docs cap it at 5 s"),
        ({"model": "nova-3", "keywords": ["moon:2"]}, "keywords", "keyterm='moon'"),
        ({"model": "nova-3-medical", "keywords": ["moon"]}, "keywords", "Nova-3 models take keyterm"),
        ({"utterance_end_ms": 1500.5}, "utterance_end_ms", "whole number"),
        ({"endpointing": -1}, "endpointing", ">= 0, or false"),
        ({"endpointing": 2.5}, "endpointing", ">= 0, or false"),
        ({"endpointing": "300"}, "endpointing", ">= 0, or false"),
        ({"encoding": "mp3", "sample_rate": 16000}, "encoding", "must be one of"),
        ({"encoding": "linear16"}, "sample_rate", "required when encoding is set"),
        ({"sample_rate": 0}, "sample_rate", "1..384000"),
        ({"sample_rate": 16000.0}, "sample_rate", "integer"),
        ({"channels": 0}, "channels", ">= 1"),
        ({"channels": True}, "channels", ">= 1"),
        ({"interim_results": "yes"}, "interim_results", "true or false"),
        ({"vad_events": 1}, "vad_events", "true or false"),
        ({"language": "english please"}, "language", "BCP-47"),
        ({"model": ""}, "model", "non-empty"),
        ({"keyterm": ["ok", ""]}, "keyterm", "non-empty"),
        ({"extra": ["novalue"]}, "extra", "key:value"),
        ({"other": [("interim_results", "true")]}, "interim_results", "modelled option"),
    ],
)
def test_invalid_options_name_parameter_value_and_rule(kwargs, parameter, rule_part):
    with pytest.raises(OptionsError) as info:
        LiveOptions(**kwargs)
    err = info.value
    assert err.parameter == parameter
    assert rule_part in err.rule
    assert parameter in str(err) and rule_part in str(err)


def test_endpointing_legacy_true_means_default_and_false_disables():
    assert LiveOptions(endpointing=True).endpointing == 10
    assert LiveOptions.from_query("endpointing=true").endpointing == 10
    off = LiveOptions.from_query("endpointing=false")
    assert off.endpointing is False and off.endpointing_ms is None
    assert off.to_query() == "endpointing=false"
    assert LiveOptions(endpointing=0).to_query() == "endpointing=0"


def test_smart_format_implies_punctuation():
    assert LiveOptions(smart_format=True).punctuation
    assert not LiveOptions().punctuation


def test_advice_for_ineffective_combinations():
    assert "interim_results" in LiveOptions(utterance_end_ms=1000).advice()[0]
    assert LiveOptions(utterance_end_ms=1000, interim_results=True).advice() == []


def test_lists_repeat_keys_and_extra_is_key_value():
    opts = LiveOptions(keyterm=["two", "three"], tag="class", extra={"room": "b12"})
    assert opts.to_query() == "keyterm=two&keyterm=three&tag=class&extra=room%3Ab12"
    assert LiveOptions.from_query(opts.to_query()) == opts


def test_from_query_errors_name_the_parameter():
    with pytest.raises(OptionsError, match="'utterance_end_ms' value 999"):
        LiveOptions.from_query("interim_results=true&utterance_end_ms=999")
    with pytest.raises(OptionsError, match="'interim_results' value 'maybe'"):
        LiveOptions.from_query("interim_results=maybe")
    with pytest.raises(OptionsError, match="'sample_rate' value 'fast'"):
        LiveOptions.from_query("encoding=linear16&sample_rate=fast")


def test_unknown_parameters_are_kept_and_sent():
    opts = LiveOptions.from_query("diarize=true&interim_results=true")
    assert opts.other == (("diarize", "true"),)
    assert "diarize=true" in opts.to_query()


def test_url_and_replace():
    opts = LiveOptions(interim_results=True)
    assert opts.url("ws://127.0.0.1:1/v1/listen") == "ws://127.0.0.1:1/v1/listen?interim_results=true"
    assert LiveOptions().url("ws://h/v1/listen") == "ws://h/v1/listen"
    with pytest.raises(OptionsError):
        opts.replace(utterance_end_ms=10)


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s
)


def _options(enc, rate, rate2, **kw):
    # sample_rate is required with an encoding and optional without one
    return LiveOptions(encoding=enc, sample_rate=rate if enc else rate2, **kw)


options_strategy = st.builds(
    _options,
    enc=st.sampled_from((None, *ENCODINGS)),
    rate=st.integers(1, 384_000),
    rate2=st.none() | st.integers(1, 384_000),
    model=st.none() | st.sampled_from(["nova-2", "local", "nova-30"]),
    language=st.sampled_from(["en", "en-US", "multi", "de", "pt-BR"]),
    channels=st.integers(1, 8),
    multichannel=st.booleans(),
    interim_results=st.booleans(),
    endpointing=st.just(False) | st.integers(0, 10_000),
    utterance_end_ms=st.none() | st.integers(1000, 5000),
    vad_events=st.booleans(),
    punctuate=st.booleans(),
    smart_format=st.booleans(),
    numerals=st.booleans(),
    no_delay=st.booleans(),
    keywords=st.lists(_text, max_size=3).map(tuple),
    keyterm=st.lists(_text, max_size=3).map(tuple),
    tag=st.lists(_text, max_size=2).map(tuple),
    extra=st.lists(st.tuples(_text.filter(lambda s: ":" not in s), _text), max_size=2).map(tuple),
    other=st.lists(st.tuples(st.sampled_from(["diarize", "redact", "foo"]), _text), max_size=2).map(tuple),
)


@given(options_strategy)
def test_options_round_trip_through_query(opts):
    assert LiveOptions.from_query(opts.to_query()) == opts
    # only non-default values are sent
    for key, _ in opts.to_params():
        if key in ("keyterm", "keywords", "tag", "extra") or key in dict(opts.other):
            continue
        assert getattr(opts, key) != getattr(LiveOptions(), key)


# --------------------------------------------------------------------------- messages

RESULTS_WIRE = (
    '{"type":"Results","channel_index":[0,1],"duration":1.039875,"start":0.0,"is_final":false,'
    '"speech_final":false,"channel":{"alternatives":[{"transcript":"another big","confidence":0.96,'
    '"words":[{"word":"another","start":0.297,"end":0.797,"confidence":0.958,"punctuated_word":"Another"},'
    '{"word":"big","start":0.851,"end":1.039875,"confidence":0.96,"punctuated_word":"big"}]}]},'
    '"metadata":{"request_id":"r-1","model_info":{"name":"n","version":"v","arch":"a"},"model_uuid":"u-1"},'
    '"from_finalize":false}'
)


def test_results_parse_and_serialize_in_wire_order():
    msg = parse_message(RESULTS_WIRE)
    assert isinstance(msg, Results)
    assert msg.transcript == "another big"
    assert [w.word for w in msg.words] == ["another", "big"]
    assert msg.words[0].text == "Another"
    assert msg.end == pytest.approx(1.039875)
    assert msg.metadata.request_id == "r-1"
    assert serialize_message(msg) == RESULTS_WIRE


def test_unknown_fields_are_kept_everywhere():
    data = json.loads(RESULTS_WIRE)
    data["new_top"] = 1
    data["channel"]["alternatives"][0]["languages"] = ["en"]
    data["channel"]["alternatives"][0]["words"][0]["speaker"] = 0
    data["channel"]["detected_language"] = "en"
    data["metadata"]["extra"] = {"room": "b12"}
    msg = parse_message(json.dumps(data))
    assert msg.unknown == {"new_top": 1}
    assert json.loads(serialize_message(msg)) == data


def test_event_messages():
    ss = parse_message('{"type":"SpeechStarted","channel":[0,1],"timestamp":9.54}')
    assert ss == SpeechStarted(timestamp=9.54)
    ue = parse_message('{"type":"UtteranceEnd","channel":[1,2],"last_word_end":2.395}')
    assert ue == UtteranceEnd(last_word_end=2.395, channel=(1, 2))
    assert serialize_message(ue) == '{"type":"UtteranceEnd","channel":[1,2],"last_word_end":2.395}'


def test_metadata_and_error_and_unknown_types():
    meta = parse_message(
        '{"type":"Metadata","transaction_key":"deprecated","request_id":"r","sha256":"s",'
        '"created":"2026-08-25T21:11:31.685Z","duration":44.26,"channels":1,"models":["m"],'
        '"model_info":{"m":{"name":"n","version":"v","arch":"a"}}}'
    )
    assert isinstance(meta, Metadata) and meta.duration == 44.26 and meta.models == ("m",)
    err = parse_message('{"type":"Error","variant":"SchemaError","description":"Could not deserialize","message":"x"}')
    assert isinstance(err, ErrorMessage) and err.variant == "SchemaError"
    other = parse_message('{"type":"Warning","text":"hi"}')
    assert isinstance(other, UnknownMessage) and other.type == "Warning"
    assert json.loads(serialize_message(other)) == {"type": "Warning", "text": "hi"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type":"Results","channel":{"alternatives":[]},"channel_index":[0,1],"start":0}', "'duration'"),
        (
            '{"type":"Results","channel":{"alternatives":[{"transcript":"a","confidence":1,"words":[{"word":"a"}]}]},'
            '"channel_index":[0,1],"start":0,"duration":1,"is_final":true}',
            "alternatives[0].words[0]: missing field 'start'",
        ),
        ('{"type":"SpeechStarted","channel":[0],"timestamp":1}', "[index, count]"),
        (
            '{"type":"UtteranceEnd","channel":[0,1],"last_word_end":"late"}',
            "'last_word_end' has the wrong type",
        ),
        ('{"type":"UtteranceEnd","channel":[0,1],"last_word_end":true}', "should be a number"),
        ('{"type":"Metadata","duration":1}', "missing field 'request_id'"),
    ],
)
def test_malformed_messages_raise_specific_errors(text, expected):
    with pytest.raises(MessageError) as info:
        parse_message(text)
    assert expected in str(info.value)


_finite = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)
_words = st.builds(
    Word,
    word=st.text(min_size=1, max_size=8),
    start=_finite,
    end=_finite,
    confidence=st.floats(0, 1),
    punctuated_word=st.none() | st.text(min_size=1, max_size=8),
)
_results = st.builds(
    Results,
    start=_finite,
    duration=_finite,
    is_final=st.booleans(),
    speech_final=st.booleans(),
    alternatives=st.lists(
        st.builds(
            Alternative,
            transcript=st.text(max_size=20),
            confidence=st.floats(0, 1),
            words=st.lists(_words, max_size=4).map(tuple),
        ),
        min_size=1,
        max_size=2,
    ).map(tuple),
    channel_index=st.tuples(st.integers(0, 3), st.integers(1, 4)),
    metadata=st.builds(ResultsMetadata, request_id=st.uuids().map(str), model_uuid=st.uuids().map(str)),
    from_finalize=st.booleans(),
)
_messages = st.one_of(
    _results,
    st.builds(SpeechStarted, timestamp=_finite, channel=st.tuples(st.integers(0, 3), st.integers(1, 4))),
    st.builds(UtteranceEnd, last_word_end=_finite, channel=st.tuples(st.integers(0, 3), st.integers(1, 4))),
    st.builds(Metadata, request_id=st.uuids().map(str), duration=_finite, channels=st.integers(1, 4)),
    st.builds(ErrorMessage, description=st.text(max_size=30), variant=st.sampled_from(["", "SchemaError"])),
)


@given(_messages)
def test_messages_round_trip_through_json(msg):
    text = serialize_message(msg)
    again = parse_message(text)
    assert again == msg
    assert serialize_message(again) == text


def test_a_parameter_named_like_an_internal_field_is_just_unknown():
    opts = LiveOptions.from_query("other=1&interim_results=true")
    assert opts.other == (("other", "1"),) and LiveOptions.from_query(opts.to_query()) == opts


# --------------------------------------------------------------------------- rules added with issue 13


def test_keywords_with_nova3_carry_deepgrams_own_400_text_and_other_models_keep_keywords():
    with pytest.raises(OptionsError) as info:
        LiveOptions.from_query("model=nova-3&keywords=moon:2")
    assert info.value.wire_message == "Keywords are not supported for Nova-3. Please use `keyterm` instead."
    for model in ("nova-2", "nova-30", None):
        assert LiveOptions(model=model, keywords=("moon:2",)).keywords == ("moon:2",)
    assert LiveOptions(model="nova-3", keyterm=("moon",)).keyterm == ("moon",)


def test_utterance_end_ms_accepts_the_documented_range_only():
    assert LiveOptions(utterance_end_ms=5000).utterance_end_ms == 5000
    with pytest.raises(OptionsError, match="'utterance_end_ms' value 5001"):
        LiveOptions.from_query("interim_results=true&utterance_end_ms=5001")


def test_local_engine_notes_name_every_content_changing_option_it_ignores():
    opts = LiveOptions.from_query("diarize=true&filler_words=true&dictation=true&redact=pci&language=multi&tag=x")
    notes = opts.local_engine_notes()
    assert len(notes) == 5, notes
    assert notes[0].startswith("language=multi: the local engine recognizes English only")
    for name in ("diarize=true", "filler_words=true", "dictation=true", "redact=pci"):
        assert any(n.startswith(name + " is ignored by the local engine") for n in notes), name
    assert LiveOptions.from_query("diarize=false&tag=x&mip_opt_out=true&extra=a:b").local_engine_notes() == []
    assert LiveOptions(language="de").local_engine_notes()[0].startswith("language=de:")


def test_configure_requests_are_read_strictly():
    from dgwidgets.protocol import ConfigureRequest, parse_configure

    assert parse_configure({"type": "Configure"}) == ConfigureRequest()
    assert parse_configure({"type": "Configure", "keyterms": []}).keyterms == ()
    assert parse_configure({"type": "Configure", "keyterms": ["a b", "c"]}).token_count() == 3
    for bad in ({"keyterms": "one"}, {"keyterms": [1]}, {"keyterms": [""]}, {"features": []}, {"features": {"numerals": 1}}):
        with pytest.raises(MessageError, match="Configure: "):
            parse_configure({"type": "Configure", **bad})


def test_configure_answers_parse_and_serialize():
    from dgwidgets.protocol import ConfigureFailure, ConfigureSuccess

    ok = parse_message('{"type":"ConfigureSuccess","request_id":"r","keyterms":["Deepgram"]}')
    assert isinstance(ok, ConfigureSuccess) and ok.keyterms == ("Deepgram",)
    assert serialize_message(ConfigureSuccess("r")) == '{"type":"ConfigureSuccess","request_id":"r"}'
    bad = parse_message('{"type":"ConfigureFailure","request_id":"r","code":"CONFIGURE_ALREADY_PENDING","description":"d"}')
    assert isinstance(bad, ConfigureFailure) and bad.code == "CONFIGURE_ALREADY_PENDING"
