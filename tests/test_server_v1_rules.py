"""The v1 rules added with issue 13, over real websockets on loopback: Configure and its answers,
the NET-0000 close of a stream that only sends KeepAlive, empty finals over silence, `extra`
echoed, ignored options named, the keywords/Nova-3 and utterance_end_ms limits, Finalize's
channel, and the official SDK validating all of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import numpy as np
import pytest
import soundfile as sf
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dgwidgets.protocol import (
    ConfigureFailure,
    ConfigureSuccess,
    ErrorMessage,
    LiveOptions,
    Metadata,
    Results,
    parse_message,
)
from dgwidgets.samples import sample
from dgwidgets.server import NET_0000, NET_0001, WARNING_HEADER, BackgroundServer, ServerSettings

RAW = "encoding=linear16&sample_rate=16000"
RATE = 16000


@pytest.fixture(scope="module")
def server():
    # a short NET-0000 window, so the KeepAlive-only stream closes within the test
    with BackgroundServer(settings=ServerSettings(inactivity_timeout=10.0, response_timeout=2.0)) as srv:
        yield srv


def pcm(name: str) -> np.ndarray:
    audio, rate = sf.read(sample(name).path, dtype="int16")
    assert rate == RATE
    return audio


def chunks(data: bytes, size: int = 8000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def exchange(url: str, frames, *, pace: float = 0.0, close: bool = True, headers=None):
    """Send frames (bytes, str, or a float: sleep that long), then CloseStream; collect until the close."""
    messages = []
    async with connect(url, additional_headers=headers) as ws:
        handshake = ws.response.headers

        async def send():
            with contextlib.suppress(ConnectionClosed):
                for frame in frames:
                    if isinstance(frame, float):
                        await asyncio.sleep(frame)
                        continue
                    await ws.send(frame)
                    if pace:
                        await asyncio.sleep(pace)
                if close:
                    await ws.send(json.dumps({"type": "CloseStream"}))

        sender = asyncio.create_task(send())
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                assert isinstance(text, str)
                messages.append(parse_message(text))
        await sender
        return messages, ws.close_code, ws.close_reason, handshake


def run(coro):
    return asyncio.run(coro)


def finals(messages):
    return [m for m in messages if isinstance(m, Results) and m.is_final]


def configure(**fields) -> str:
    return json.dumps({"type": "Configure", **fields})


# --------------------------------------------------------------------------- Configure


def test_configure_numerals_mid_stream_changes_the_finals_after_it(server):
    data = pcm("credit-card").tobytes()
    half = len(data) // 2 // 2 * 2
    switch_at = half / 2 / RATE  # seconds of audio sent before the Configure
    url = f"{server.url}?{RAW}&endpointing=300&keyterm=credit+card+number"
    messages, code, _, _ = run(
        exchange(url, [*chunks(data[:half]), configure(features={"numerals": True}), *chunks(data[half:])])
    )
    assert code == 1000
    answers = [m for m in messages if isinstance(m, ConfigureSuccess | ConfigureFailure)]
    assert answers == [ConfigureSuccess(answers[0].request_id)], "exactly one answer, without keyterms"
    before = [f for f in finals(messages) if f.end <= switch_at + 1e-6 and f.transcript]
    after = [f for f in finals(messages) if f.start >= switch_at and f.transcript]
    assert before and after, [(f.start, f.end, f.transcript) for f in finals(messages)]
    assert not any(ch.isdigit() for f in before for ch in f.transcript), "spoken digits stay words before it"
    assert any(ch.isdigit() for f in after for ch in f.transcript), "and become numerals after it"
    assert "two" in " ".join(f.transcript for f in before)


def test_configure_keyterms_is_answered_with_the_keyterms_in_effect(server):
    url = f"{server.url}?{RAW}&model=nova-3&keyterm=old+term"
    frames = [configure(keyterms=["Deepgram", "customer service"]), bytes(3200)]
    messages, code, _, _ = run(exchange(url, frames))
    answers = [m for m in messages if isinstance(m, ConfigureSuccess | ConfigureFailure)]
    assert len(answers) == 1 and isinstance(answers[0], ConfigureSuccess)
    assert answers[0].keyterms == ("Deepgram", "customer service")
    assert answers[0].request_id == messages[-1].request_id and code == 1000


@pytest.mark.parametrize(
    ("query", "fields", "code"),
    [
        ("model=nova-2", {"keyterms": ["moon"]}, "CONFIGURE_KEYTERMS_NOT_SUPPORTED"),
        ("", {"keyterms": ["word"] * 501}, "CONFIGURE_KEYTERM_LIMIT_EXCEEDED"),
        ("", {"features": {"diarize": True}}, "CONFIGURE_INTERNAL_ERROR"),
    ],
)
def test_configure_failures_carry_deepgrams_codes(server, query, fields, code):
    messages, close, _, _ = run(exchange(f"{server.url}?{RAW}&{query}", [configure(**fields), bytes(3200)]))
    answers = [m for m in messages if isinstance(m, ConfigureSuccess | ConfigureFailure)]
    assert len(answers) == 1 and isinstance(answers[0], ConfigureFailure), answers
    assert answers[0].code == code and answers[0].description and close == 1000


def test_every_configure_gets_exactly_one_answer_and_a_malformed_one_a_schema_error(server):
    frames = [configure(features={"numerals": True}) for _ in range(4)] + [configure(keyterms="not a list")]
    messages, _, _, _ = run(exchange(f"{server.url}?{RAW}", [*frames, bytes(3200)]))
    answers = [m for m in messages if isinstance(m, ConfigureSuccess | ConfigureFailure)]
    assert len(answers) == 4 and isinstance(answers[0], ConfigureSuccess)
    assert {a.code for a in answers[1:] if isinstance(a, ConfigureFailure)} <= {"CONFIGURE_ALREADY_PENDING"}
    errors = [m for m in messages if isinstance(m, ErrorMessage)]
    assert len(errors) == 1 and errors[0].variant == "SchemaError"
    assert "keyterms must be a list" in errors[0].description


# --------------------------------------------------------------------------- NET-0000


def test_a_stream_that_only_sends_keepalive_is_closed_1011_net0000(server):
    started = time.monotonic()
    keepalives = [json.dumps({"type": "KeepAlive"}), 0.4] * 20  # 8 s of KeepAlive, never audio
    messages, code, reason, _ = run(exchange(server.url, keepalives, close=False))
    elapsed = time.monotonic() - started
    assert (code, reason) == (1011, NET_0000)
    assert reason != NET_0001, "KeepAlive did reset the inactivity timer; it is the missing response that closes"
    assert 1.9 < elapsed < 4.5, elapsed
    assert [type(m) for m in messages] == [Metadata] and messages[0].duration == 0


def test_a_stream_with_audio_and_keepalives_outlives_the_response_window(server):
    data = pcm("yes").tobytes()
    frames = [*chunks(data), *[json.dumps({"type": "KeepAlive"}), 0.5] * 7]  # 3.5 s of KeepAlive after "yes"
    messages, code, _, _ = run(exchange(f"{server.url}?{RAW}&keyterm=yes&endpointing=300", frames))
    assert code == 1000 and " ".join(f.transcript for f in finals(messages) if f.transcript) == "yes"


# --------------------------------------------------------------------------- empty finals over silence


@pytest.mark.parametrize(("endpointing", "flag"), [("", True), ("&endpointing=false", False)])
def test_empty_finals_over_silence_are_speech_final_as_recorded(server, endpointing, flag):
    silence = bytes(2 * RATE * 9)
    messages, code, _, _ = run(exchange(f"{server.url}?{RAW}&interim_results=true{endpointing}", chunks(silence)))
    empties = [f for f in finals(messages) if not f.transcript][:-1]  # the last is CloseStream's flush
    assert code == 1000 and len(empties) >= 2
    assert all(f.speech_final is flag for f in empties)
    assert all(not m.speech_final for m in messages if isinstance(m, Results) and not m.is_final)


# --------------------------------------------------------------------------- options that change content


def test_extra_is_echoed_in_every_results_metadata(server):
    url = f"{server.url}?{RAW}&interim_results=true&extra=room:7b&extra=team:blue"
    messages, _, _, _ = run(exchange(url, chunks(bytes(2 * RATE * 3))))
    results = [m for m in messages if isinstance(m, Results)]
    assert results and all(r.metadata.unknown == {"extra": {"room": "7b", "team": "blue"}} for r in results)


def test_options_the_local_engine_ignores_are_named_in_a_handshake_header(server):
    url = f"{server.url}?{RAW}&diarize=true&language=multi&filler_words=true&tag=class"
    _, code, _, headers = run(exchange(url, [bytes(3200)]))
    warning = headers[WARNING_HEADER]
    assert code == 1000
    for name in ("language=multi", "diarize=true", "filler_words=true"):
        assert name in warning
    assert "tag=" not in warning and warning.count(" | ") == 2
    _, _, _, plain = run(exchange(f"{server.url}?{RAW}", [bytes(3200)]))
    assert WARNING_HEADER not in plain


async def _reject(url):
    with pytest.raises(InvalidStatus) as info:
        async with connect(url):
            pass
    return info.value.response


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("model=nova-3&keywords=moon:2", "Keywords are not supported for Nova-3. Please use `keyterm` instead."),
        ("model=nova-3-medical&keywords=moon", "Keywords are not supported for Nova-3. Please use `keyterm` instead."),
        ("interim_results=true&utterance_end_ms=5001", "Invalid 'utterance_end_ms' value of '5001'."),
    ],
)
def test_deepgrams_400s_for_keywords_on_nova3_and_long_utterance_end(server, query, message):
    response = run(_reject(f"{server.url}?{query}"))
    body = json.loads(response.body)
    assert response.status_code == 400 and body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert body["err_msg"] == message and response.headers["dg-error"] == message


def test_keywords_stay_accepted_on_other_models(server):
    _, code, _, _ = run(exchange(f"{server.url}?{RAW}&model=nova-2&keywords=moon:2", [bytes(3200)]))
    assert code == 1000


# --------------------------------------------------------------------------- Finalize's channel


def test_finalize_with_a_channel_flushes_only_that_channel(server):
    left, right = pcm("hello-there"), pcm("yes")
    stereo = np.zeros((max(len(left), len(right)), 2), dtype="<i2")
    stereo[: len(left), 0], stereo[: len(right), 1] = left, right
    data = stereo.tobytes()
    cut = int(1.5 * RATE) * 4  # 1.5 s in: both channels are mid-speech
    opts = LiveOptions(
        encoding="linear16", sample_rate=RATE, channels=2, multichannel=True, endpointing=False,
        keyterm=tuple(sample("hello-there").keyterms) + tuple(sample("yes").keyterms),
    )  # fmt: skip
    frames = [*chunks(data[:cut]), json.dumps({"type": "Finalize", "channel": 1}), json.dumps(
        {"type": "Finalize", "channel": 2})]  # fmt: skip
    messages, code, _, _ = run(exchange(opts.url(server.url), frames))
    flushed = [m for m in messages if isinstance(m, Results) and m.from_finalize]
    assert [m.channel_index for m in flushed] == [(1, 2)] and flushed[0].transcript == "yes"
    errors = [m for m in messages if isinstance(m, ErrorMessage)]
    assert len(errors) == 1 and "no channel 2" in errors[0].description and code == 1000


def test_finalize_with_a_bad_channel_value_is_a_schema_error(server):
    bad = json.dumps({"type": "Finalize", "channel": "left"})
    messages, _, _, _ = run(exchange(f"{server.url}?{RAW}", [bytes(3200), bad]))
    errors = [m for m in messages if isinstance(m, ErrorMessage)]
    assert [e.message for e in errors] == [bad] and "channel must be a channel index" in errors[0].description


# --------------------------------------------------------------------------- the official SDK


def test_official_sdk_validates_configure_answers_and_extra_metadata(server):
    from deepgram import AsyncDeepgramClient
    from deepgram.environment import DeepgramClientEnvironment
    from deepgram.listen.v1.types import (
        ListenV1Configure,
        ListenV1ConfigureFailure,
        ListenV1ConfigureSuccess,
        ListenV1Metadata,
        ListenV1Results,
    )

    base = server.url.rsplit("/v1/listen", 1)[0]
    env = DeepgramClientEnvironment(base=base.replace("ws://", "http://"), production=base, agent=base, agent_rest=base)
    models = {
        "Results": ListenV1Results,
        "Metadata": ListenV1Metadata,
        "ConfigureSuccess": ListenV1ConfigureSuccess,
        "ConfigureFailure": ListenV1ConfigureFailure,
    }
    seen = []

    async def go():
        client = AsyncDeepgramClient(api_key="any", environment=env)
        async with client.listen.v1.connect(
            model="nova-3", interim_results="true", extra="room:7b", keyterm=list(sample("yes").keyterms)
        ) as connection:

            async def send():
                await connection.send_configure(ListenV1Configure(keyterms=["yes"], features={"numerals": True}))
                for chunk in chunks(sample("yes").path.read_bytes()):
                    await connection.send_media(chunk)
                await connection.send_close_stream()

            sender = asyncio.create_task(send())
            async for raw in connection._websocket:
                data = json.loads(raw)
                model = models[data["type"]].model_validate(data)  # strict pydantic validation
                seen.append(data["type"])
                if data["type"] == "Results":
                    assert model.metadata.extra == {"room": "7b"}
                if data["type"] == "ConfigureSuccess":
                    assert model.keyterms == ["yes"]
            await sender

    run(go())
    assert seen.count("ConfigureSuccess") == 1 and "Results" in seen and seen[-1] == "Metadata"
