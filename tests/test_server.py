"""The local server over real websockets on loopback: handshake, audio formats, control
messages, closes, concurrency, and the official Deepgram SDK as a client."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import soxr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from dgwidgets.engine.transcriber import default_recognizer
from dgwidgets.protocol import ErrorMessage, LiveOptions, Metadata, Results, SpeechStarted, parse_message
from dgwidgets.samples import sample
from dgwidgets.server import DATA_0000, NET_0001, BackgroundServer, ServerSettings

KEY = "sekret-test-key-123"


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(settings=ServerSettings(inactivity_timeout=1.5)) as srv:
        yield srv


@pytest.fixture(scope="module")
def keyed_server():
    with BackgroundServer(api_key=KEY) as srv:
        yield srv


def _pcm16(name: str) -> np.ndarray:
    audio, rate = sf.read(sample(name).path, dtype="int16")
    assert rate == 16000
    return audio


async def stream(url, payload_chunks, *, close="CloseStream", pace=0.0, headers=None, before_close=None):
    """Send chunks, then the close signal; collect (messages, close code, reason, handshake headers)."""
    messages = []
    async with connect(url, additional_headers=headers) as ws:
        handshake = ws.response.headers

        async def send():
            for chunk in payload_chunks:
                await ws.send(chunk)
                if pace:
                    await asyncio.sleep(pace)
            if before_close:
                for text in before_close:
                    await ws.send(text)
            if close == "CloseStream":
                await ws.send(json.dumps({"type": "CloseStream"}))
            elif close == "empty":
                await ws.send(b"")

        sender = asyncio.create_task(send())
        with contextlib.suppress(ConnectionClosedError):  # 1008/1011 closes are part of what we test
            async for text in ws:
                assert isinstance(text, str), "the server sends text frames only"
                messages.append(parse_message(text))
        with contextlib.suppress(ConnectionClosedError):
            await sender
        return messages, ws.close_code, ws.close_reason, handshake


def run(coro):
    return asyncio.run(coro)


def chunks(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


def final_text(messages):
    return " ".join(m.transcript for m in messages if isinstance(m, Results) and m.is_final and m.transcript)


def kt(name):
    return tuple(sample(name).keyterms)


# --------------------------------------------------------------------------- handshake


async def _reject(url, headers=None, subprotocols=None):
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, additional_headers=headers, subprotocols=subprotocols):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body), response.headers


def test_bad_parameter_is_400_with_deepgram_body_and_headers(server):
    status, body, headers = run(_reject(server.url + "?interim_results=true&utterance_end_ms=999"))
    assert status == 400
    assert body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert body["err_msg"] == "Invalid 'utterance_end_ms' value of '999'."
    assert headers["dg-error"] == body["err_msg"]
    assert headers["dg-request-id"] == body["request_id"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("endpointing=-5", "Invalid 'endpointing' value of '-5'."),
        ("interim_results=maybe", "Invalid 'interim_results' value of 'maybe'."),
        ("encoding=linear16", "Invalid 'sample_rate' value of ''."),
        ("encoding=opus&sample_rate=48000", "Invalid 'encoding' value of 'opus'. The dgwidgets local engine decodes"),
    ],
)
def test_more_handshake_errors(server, query, message):
    status, body, _ = run(_reject(f"{server.url}?{query}"))
    assert status == 400 and body["err_msg"].startswith(message)


def test_unknown_path_is_404(server):
    status, body, _ = run(_reject(server.url.replace("/v1/listen", "/v1/speak")))
    assert status == 404 and "/v1/listen" in body["err_msg"]


@pytest.mark.parametrize(
    "headers", [None, {"Authorization": "Token wrong"}, {"Authorization": "Basic " + KEY}, {"Authorization": "Token"}]
)
def test_missing_or_wrong_key_is_401(keyed_server, headers):
    status, body, headers_out = run(_reject(keyed_server.url, headers=headers))
    assert status == 401 and body == {**body, "err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}
    assert KEY not in json.dumps(body) and KEY not in str(headers_out)


@pytest.mark.parametrize("scheme", ["Token", "token", "Bearer", "bearer"])
def test_key_accepted_in_any_scheme_case(keyed_server, scheme):
    messages, code, _, _ = run(stream(keyed_server.url, [], headers={"Authorization": f"{scheme} {KEY}"}))
    assert code == 1000 and isinstance(messages[-1], Metadata)


def test_key_accepted_as_browser_subprotocol(keyed_server):
    async def go():
        async with connect(keyed_server.url, subprotocols=["token", KEY]) as ws:
            assert ws.subprotocol == "token"
            await ws.send(json.dumps({"type": "CloseStream"}))
            return [parse_message(m) async for m in ws]

    assert isinstance(run(go())[-1], Metadata)


def test_key_never_in_repr(keyed_server):
    assert KEY not in repr(keyed_server) and KEY not in repr(keyed_server.server)


def test_too_many_connections_is_429():
    async def go(url):
        async with connect(url):
            return await _reject(url)

    with BackgroundServer(settings=ServerSettings(max_connections=1)) as srv:
        status, body, _ = run(go(srv.url))
    assert status == 429 and body["err_code"] == "TOO_MANY_REQUESTS"


# --------------------------------------------------------------------------- streaming


@pytest.fixture(scope="module")
def credit_card_wav_run(server):
    opts = LiveOptions(
        interim_results=True, endpointing=300, utterance_end_ms=1000, vad_events=True, keyterm=kt("credit-card")
    )
    return run(stream(opts.url(server.url), chunks(sample("credit-card").path.read_bytes(), 8000)))


def test_wav_stream_gives_the_docs_shape_and_ids_match(credit_card_wav_run):
    messages, code, reason, headers = credit_card_wav_run
    assert (code, reason) == (1000, "")
    request_id = headers["dg-request-id"]
    results = [m for m in messages if isinstance(m, Results)]
    assert all(r.metadata.request_id == request_id for r in results)
    assert isinstance(messages[-1], Metadata) and messages[-1].request_id == request_id
    assert messages[-1].duration == pytest.approx(sample("credit-card").duration, abs=0.01)
    assert sum(r.speech_final for r in results) == 3
    assert any(r.is_final and not r.speech_final and r.words for r in results)
    assert any(isinstance(m, SpeechStarted) for m in messages)
    assert final_text(messages).startswith("yeah so my credit card number is two two two two three three three three")


def test_metadata_sha256_is_of_the_audio_sent(credit_card_wav_run):
    import hashlib

    messages = credit_card_wav_run[0]
    assert messages[-1].sha256 == hashlib.sha256(sample("credit-card").path.read_bytes()).hexdigest()


def _encode(pcm16: np.ndarray, encoding: str, rate: int) -> bytes:
    audio = pcm16.astype(np.float32) / 32768
    if rate != 16000:
        audio = soxr.resample(audio, 16000, rate)
    if encoding == "linear16":
        return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    if encoding == "linear32":
        return (np.clip(audio, -1, 1) * 2147483647).astype("<i4").tobytes()
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="RAW", subtype={"mulaw": "ULAW", "alaw": "ALAW"}[encoding])
    return buf.getvalue()


@pytest.mark.parametrize(
    ("encoding", "rate"), [("linear16", 16000), ("linear16", 44100), ("linear16", 22050), ("linear32", 48000)]
)
def test_raw_encodings_and_rates_transcribe(server, encoding, rate):
    data = _encode(_pcm16("hello-there"), encoding, rate)
    opts = LiveOptions(encoding=encoding, sample_rate=rate, keyterm=kt("hello-there"))
    messages, code, _, _ = run(stream(opts.url(server.url), chunks(data, 3001)))  # odd size splits samples
    assert code == 1000
    assert final_text(messages) == "hello there how are you"
    assert messages[-1].duration == pytest.approx(sample("hello-there").duration, abs=0.01)


@pytest.mark.parametrize("encoding", ["linear16", "mulaw", "alaw"])
def test_telephone_audio_is_decoded(server, encoding):
    # 8 kHz audio is decoded and resampled, but the 16 kHz acoustic model hears the 4 kHz band
    # poorly: only decoding and timing are asserted here (the README says so).
    data = _encode(_pcm16("hello-there"), encoding, 8000)
    opts = LiveOptions(encoding=encoding, sample_rate=8000, keyterm=kt("hello-there"))
    messages, code, _, _ = run(stream(opts.url(server.url), chunks(data, 1001)))
    finals = [m for m in messages if isinstance(m, Results) and m.is_final]
    assert code == 1000 and finals and final_text(messages)
    assert finals[-1].end == pytest.approx(sample("hello-there").duration, abs=0.01)
    assert messages[-1].duration == pytest.approx(sample("hello-there").duration, abs=0.01)


def test_stereo_with_and_without_multichannel(server):
    left, right = _pcm16("hello-there"), _pcm16("yes")
    n = max(len(left), len(right))
    stereo = np.zeros((n, 2), dtype="<i2")
    stereo[: len(left), 0], stereo[: len(right), 1] = left, right
    data = stereo.tobytes()
    keyterms = kt("hello-there") + kt("yes")
    multi = LiveOptions(encoding="linear16", sample_rate=16000, channels=2, multichannel=True, keyterm=keyterms)
    messages, _, _, _ = run(stream(multi.url(server.url), chunks(data, 8000)))
    per_channel = {
        i: " ".join(
            m.transcript
            for m in messages
            if isinstance(m, Results) and m.is_final and m.channel_index == (i, 2) and m.transcript
        )
        for i in (0, 1)
    }
    assert per_channel == {0: "hello there how are you", 1: "yes"}
    assert messages[-1].channels == 2
    mixed = multi.replace(multichannel=False)
    messages, _, _, _ = run(stream(mixed.url(server.url), chunks(data, 8000)))
    assert {m.channel_index for m in messages if isinstance(m, Results)} == {(0, 1)}


def test_same_messages_for_any_chunking_and_pacing(server):
    data = _encode(_pcm16("hello-there"), "linear16", 16000)
    opts = LiveOptions(
        encoding="linear16",
        sample_rate=16000,
        interim_results=True,
        utterance_end_ms=1000,
        vad_events=True,
        keyterm=kt("hello-there"),
    )

    def strip(messages):
        out = []
        for m in messages:
            d = m.to_dict()
            d.pop("metadata", None)
            if isinstance(m, Metadata):
                d = {"type": "Metadata", "duration": d["duration"], "sha256": d["sha256"]}
            out.append(d)
        return out

    runs = [
        run(stream(opts.url(server.url), chunks(data, 640)))[0],  # 20 ms
        run(stream(opts.url(server.url), chunks(data, 8000)))[0],  # 250 ms
        run(stream(opts.url(server.url), [data]))[0],  # whole
        run(stream(opts.url(server.url), chunks(data, 32000), pace=0.25))[0],  # paced at 4x
    ]
    assert all(strip(r) == strip(runs[0]) for r in runs[1:])


def test_control_messages(server):
    data = _encode(_pcm16("hello-there"), "linear16", 16000)
    half = len(data) // 2 // 2 * 2
    # endpointing off: only Finalize can finalize "hello there"
    opts = LiveOptions(
        encoding="linear16", sample_rate=16000, interim_results=True, endpointing=False, keyterm=kt("hello-there")
    )
    controls = [
        '{"type": "KeepAlive"}',
        "not json at all",
        '{"type":"Shout"}',
        '{"type": "Finalize"}',
        '{"type": "Finalize"}',
    ]
    messages, code, _, _ = run(stream(opts.url(server.url), chunks(data[:half], 8000), before_close=controls))
    errors = [m for m in messages if isinstance(m, ErrorMessage)]
    assert [e.variant for e in errors] == ["SchemaError", "SchemaError"]
    assert errors[0].message == "not json at all" and "not valid JSON" in errors[0].description
    assert "unknown variant 'Shout'" in errors[1].description
    finalized = [m for m in messages if isinstance(m, Results) and m.from_finalize]
    assert len(finalized) == 1, "the second Finalize has nothing new to flush"
    assert finalized[0].is_final and "hello there" in finalized[0].transcript
    assert code == 1000 and isinstance(messages[-1], Metadata)


def test_empty_frame_closes_like_closestream(server):
    opts = LiveOptions(keyterm=kt("yes"))
    messages, code, _, _ = run(
        stream(opts.url(server.url), chunks(sample("yes").path.read_bytes(), 4000), close="empty")
    )
    assert code == 1000 and final_text(messages) == "yes" and isinstance(messages[-1], Metadata)


def test_silence_past_the_timeout_closes_1011_after_metadata(server):
    opts = LiveOptions(keyterm=kt("yes"))
    started = time.monotonic()
    messages, code, reason, _ = run(
        stream(opts.url(server.url), chunks(sample("yes").path.read_bytes(), 4000), close=None)
    )
    assert (code, reason) == (1011, NET_0001)
    assert isinstance(messages[-1], Metadata)
    assert final_text(messages) == "yes", "what was heard is flushed before the close"
    assert 1.4 < time.monotonic() - started < 6


def test_garbage_audio_closes_1008_after_metadata(server):
    messages, code, reason, _ = run(stream(server.url, [b"this is not a wav file at all" * 10], close=None))
    assert (code, reason) == (1008, DATA_0000)
    assert isinstance(messages[-1], Metadata)


def test_a_slow_stream_does_not_stall_another():
    release = threading.Event()

    def slow_or_fast(keyterms):
        recognizer = default_recognizer(keyterms)
        if "stall" in keyterms:
            feed = recognizer.feed

            def slow_feed(pcm):
                release.wait(10)
                feed(pcm)

            recognizer.feed = slow_feed
        return recognizer

    async def go(url):
        slow_opts = LiveOptions(encoding="linear16", sample_rate=16000, keyterm=("stall",))
        async with connect(slow_opts.url(url)) as slow:
            await slow.send(np.zeros(16000, dtype="<i2").tobytes())
            fast_opts = LiveOptions(keyterm=kt("yes"))
            started = time.monotonic()
            messages, code, _, _ = await stream(fast_opts.url(url), chunks(sample("yes").path.read_bytes(), 8000))
            elapsed = time.monotonic() - started
            release.set()
            return messages, elapsed

    with BackgroundServer(recognizer_factory=slow_or_fast) as srv:
        messages, elapsed = run(go(srv.url))
    assert final_text(messages) == "yes" and elapsed < 5


def test_client_dropping_mid_stream_leaves_the_server_serving(server):
    async def drop(url):
        ws = await connect(LiveOptions(keyterm=kt("yes")).url(url))
        await ws.send(sample("yes").path.read_bytes()[:20000])
        ws.transport.abort()  # no close handshake: a dropped connection

    run(drop(server.url))
    messages, code, _, _ = run(
        stream(LiveOptions(keyterm=kt("yes")).url(server.url), [sample("yes").path.read_bytes()])
    )
    assert code == 1000 and final_text(messages) == "yes"


def test_background_server_starts_fast():
    started = time.monotonic()
    with BackgroundServer() as srv:
        elapsed = time.monotonic() - started
        assert srv.url.startswith("ws://127.0.0.1:")
    assert elapsed < 2.0


def test_port_in_use_is_a_clear_error(server):
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(OSError):
        BackgroundServer(port=port).start()


def test_serve_command_prints_its_url_and_binds_loopback():
    proc = subprocess.Popen(
        [sys.executable, "-m", "dgwidgets", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on ws://127.0.0.1:") and line.rstrip().endswith("/v1/listen")
        url = line.split()[-1]
        messages, code, _, _ = run(stream(LiveOptions(keyterm=kt("yes")).url(url), [sample("yes").path.read_bytes()]))
        assert final_text(messages) == "yes"
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_warns_when_exposed_without_a_key():
    proc = subprocess.Popen(
        [sys.executable, "-m", "dgwidgets", "serve", "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("listening on ws://0.0.0.0:")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "without --api-key" in err


# --------------------------------------------------------------------------- the official SDK


def test_official_deepgram_sdk_validates_every_frame(keyed_server):
    from deepgram import AsyncDeepgramClient
    from deepgram.environment import DeepgramClientEnvironment
    from deepgram.listen.v1.types import (
        ListenV1Metadata,
        ListenV1Results,
        ListenV1SpeechStarted,
        ListenV1UtteranceEnd,
    )

    port_url = keyed_server.url.rsplit("/v1/listen", 1)[0]
    env = DeepgramClientEnvironment(
        base=port_url.replace("ws://", "http://"), production=port_url, agent=port_url, agent_rest=port_url
    )
    models = {
        "Results": ListenV1Results,
        "Metadata": ListenV1Metadata,
        "SpeechStarted": ListenV1SpeechStarted,
        "UtteranceEnd": ListenV1UtteranceEnd,
    }
    seen = []

    async def go():
        client = AsyncDeepgramClient(api_key=KEY, environment=env)
        async with client.listen.v1.connect(
            model="nova-3",
            interim_results="true",
            utterance_end_ms="1000",
            vad_events="true",
            endpointing="300",
            smart_format="true",
            keyterm=list(kt("hello-there")),
        ) as connection:

            async def send():
                for chunk in chunks(sample("hello-there").path.read_bytes(), 8000):
                    await connection.send_media(chunk)
                await connection.send_close_stream()

            sender = asyncio.create_task(send())
            async for raw in connection._websocket:
                data = json.loads(raw)
                models[data["type"]].model_validate(data)  # strict pydantic validation
                seen.append(data["type"])
            await sender

    run(go())
    assert {"Results", "Metadata", "SpeechStarted", "UtteranceEnd"} <= set(seen)
    assert seen[-1] == "Metadata"


def test_a_missing_whisper_model_closes_the_stream_with_what_is_wrong(tmp_path, caplog):
    missing = tmp_path / "no-such-model"
    with BackgroundServer(settings=ServerSettings(whisper_model=str(missing))) as srv:
        pcm = _pcm16("yes")
        url = LiveOptions(encoding="linear16", sample_rate=16000).url(srv.url)
        with caplog.at_level("ERROR", logger="dgwidgets.server"):
            messages, code, reason, _ = run(stream(url, chunks(pcm.tobytes(), 8000)))
    assert not [m for m in messages if isinstance(m, Results)]
    assert code == 1011 and reason.startswith("local model unavailable: Whisper model directory"), reason
    assert len(reason.encode()) <= 123
    # one specific log line, not a traceback of an "internal error"
    records = [r for r in caplog.records if r.name == "dgwidgets.server" and r.levelname == "ERROR"]
    assert records and "does not exist" in records[0].getMessage() and records[0].exc_info is None
