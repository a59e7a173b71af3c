"""Property tests of the local server over real websockets: odd handshakes, random audio bytes and
malformed control messages never give a 500, a hang, a dropped connection or an internal error.

One module-scoped server; each example is bounded by a timeout and hypothesis by max_examples.
"""

from __future__ import annotations

import asyncio
import json
import struct
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dgwidgets.protocol import ErrorMessage, Metadata, Results
from dgwidgets.samples import sample
from dgwidgets.server import DATA_0000, BackgroundServer, ServerSettings, _header_text

from .ws_helpers import send_and_collect

pytestmark = pytest.mark.timeout(180)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXAMPLE_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(settings=ServerSettings(inactivity_timeout=5.0)) as srv:
        yield srv


async def exchange(url, frames, *, close=True):
    """Open, send, close; return ("open", messages, code, reason) or ("status", response)."""
    async with asyncio.timeout(EXAMPLE_TIMEOUT):
        try:
            ws = await connect(url, max_size=None, open_timeout=EXAMPLE_TIMEOUT)
        except InvalidStatus as err:
            return "status", err.response
        async with ws:
            messages = await send_and_collect(ws, frames, close=close)
        return "open", messages, ws.close_code, ws.close_reason


def run(coro):
    return asyncio.run(coro)


def assert_still_serving(srv):
    kind, messages, code, _ = run(exchange(srv.url, [sample("yes").path.read_bytes()]))
    assert kind == "open" and code == 1000 and isinstance(messages[-1], Metadata)


# --------------------------------------------------------------------------- handshake

KNOWN_KEYS = [
    "model",
    "language",
    "encoding",
    "sample_rate",
    "channels",
    "multichannel",
    "interim_results",
    "endpointing",
    "utterance_end_ms",
    "vad_events",
    "punctuate",
    "smart_format",
    "numerals",
    "no_delay",
    "keywords",
    "keyterm",
    "tag",
    "extra",
]
odd_text = st.text(max_size=40) | st.sampled_from(["", "true", "false", "1000", "-1", "0", "linear16", "é✓😀"])
odd_value = odd_text | st.integers(-(10**30), 10**30).map(str) | st.text(alphabet="x%&=+;#\r\n\x00", max_size=20)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=20)
queries = st.lists(st.tuples(keys, odd_value), max_size=12).map(
    lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
)
raw_tails = st.sampled_from(["", "&", "&&", "=", "==x", "&a", "%zz", "%", "a=%ff%fe", "keyterm", "extra=:"])
# 'é' is 6 bytes percent-encoded: 1300 of them keep the request line under websockets' 8 KiB limit
long_values = st.integers(1000, 1300).map(lambda n: f"interim_results={'é' * n}")


@FUZZ
@given(query=queries, tail=raw_tails)
def test_any_query_is_an_upgrade_or_a_400_with_the_deepgram_body(server, query, tail):
    url = f"{server.url}?{query}{'&' if query and tail else ''}{tail}"
    check_handshake(run(exchange(url, [])))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=long_values)
def test_very_long_query_values_are_a_400_with_the_deepgram_body(server, query):
    outcome = run(exchange(f"{server.url}?{quote(query, safe='=')}", []))
    assert outcome[0] == "status" and outcome[1].status_code == 400
    check_handshake(outcome)


def check_handshake(outcome):
    if outcome[0] == "open":
        _, messages, code, reason = outcome
        assert (code, reason) == (1000, "") and isinstance(messages[-1], Metadata)
        return
    response = outcome[1]
    assert response.status_code == 400, (response.status_code, response.body[:300])
    body = json.loads(response.body)
    assert set(body) == {"err_code", "err_msg", "request_id"}
    assert body["err_code"] == "INVALID_QUERY_PARAMETER" and body["err_msg"].startswith("Invalid '")
    assert response.headers["dg-request-id"] == body["request_id"]
    assert response.headers["dg-error"] == _header_text(body["err_msg"])
    assert len(response.headers["dg-error"]) <= 2048


def test_header_text_is_always_a_valid_bounded_header_value():
    assert _header_text("Invalid 'x' value of '999'.") == "Invalid 'x' value of '999'."
    assert _header_text("a\r\nX-Injected: 1") == "a\\r\\nX-Injected: 1"
    assert all(0x20 <= ord(c) <= 0x7E for c in _header_text("é✓😀\x00\x7f\t" * 1000))
    assert len(_header_text("x" * 10_000)) == 2048


def test_request_line_over_8_kib_is_414_and_the_server_stays_up(server):
    # websockets refuses request lines over 8 KiB before the server sees the query: 414, not a drop
    outcome = run(exchange(f"{server.url}?tag={'x' * 9000}", []))
    assert outcome[0] == "status" and outcome[1].status_code == 414
    assert_still_serving(server)


# --------------------------------------------------------------------------- audio bytes

RAW = ["linear16", "linear32", "mulaw", "alaw"]


def wav_header(code: int, channels: int, rate: int, bits: int) -> bytes:
    fmt = struct.pack("<HHIIHH", code, channels, rate, 0, 0, bits)
    return b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", 16) + fmt + b"data\xff\xff\xff\xff"


wav_headers = st.builds(
    wav_header,
    st.sampled_from([1, 3, 6, 7, 0xFFFE, 2, 0]),
    st.integers(0, 65535),
    st.integers(0, 400_000),
    st.sampled_from([0, 8, 16, 24, 32, 12, 64]),
)
container_bytes = (
    st.binary(max_size=6000)
    | st.integers(0, 20_000).map(lambda n: sample("yes").path.read_bytes()[:n])
    | st.tuples(wav_headers, st.binary(max_size=4000)).map(lambda t: t[0] + t[1])
)


@FUZZ
@given(
    encoding=st.sampled_from(RAW),
    rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    channels=st.integers(1, 3),
    data=st.binary(max_size=12_000),
    cut=st.integers(1, 5000),
    empty_close=st.booleans(),
)
def test_random_raw_audio_always_ends_with_metadata_and_1000(server, encoding, rate, channels, data, cut, empty_close):
    frames = [data[i : i + cut] for i in range(0, len(data), cut)]
    if empty_close:
        frames.append(b"")
    url = f"{server.url}?encoding={encoding}&sample_rate={rate}&channels={channels}"
    kind, messages, code, reason = run(exchange(url, frames, close=not empty_close))
    assert (kind, code, reason) == ("open", 1000, "")
    assert isinstance(messages[-1], Metadata) and sum(isinstance(m, Metadata) for m in messages) == 1
    bytes_per_second = rate * channels * {"linear16": 2, "linear32": 4}.get(encoding, 1)
    assert messages[-1].duration == pytest.approx(len(data) / bytes_per_second, abs=0.01)


@FUZZ
@given(data=container_bytes, cut=st.integers(1, 5000))
def test_random_container_bytes_end_with_metadata_and_1000_or_1008(server, data, cut):
    frames = [data[i : i + cut] for i in range(0, len(data), cut)]
    kind, messages, code, reason = run(exchange(server.url, frames))
    assert kind == "open"
    assert (code, reason) in ((1000, ""), (1008, DATA_0000)), (code, reason)
    assert isinstance(messages[-1], Metadata) and sum(isinstance(m, Metadata) for m in messages) == 1
    assert all(isinstance(m, Results) for m in messages[:-1])


# --------------------------------------------------------------------------- control messages

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
bad_controls = st.one_of(
    st.text(max_size=200).filter(lambda t: not _is_control(t)),
    json_values.map(json.dumps).filter(lambda t: not _is_control(t)),
    st.dictionaries(st.just("type"), json_values.filter(lambda v: v not in ("KeepAlive", "Finalize", "CloseStream", "Configure")))
    .map(json.dumps)
    .filter(lambda t: not _is_control(t)),
    st.integers(1, 50_000).map(lambda n: "[" * n),
    st.integers(1, 5000).map(lambda n: json.dumps({"type": [[[]]] * 2}, indent=0)[:n] + "{" * n),
    st.integers(10_000, 300_000).map(lambda n: json.dumps({"type": "x" * n})),
    st.sampled_from(['{"type": "keepalive"}', '{"type": null}', '{"Type": "CloseStream"}', '["CloseStream"]']),
)


def _is_control(text: str) -> bool:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    # a well-formed Configure is answered with ConfigureSuccess/Failure, not a SchemaError
    return isinstance(data, dict) and data.get("type") in ("KeepAlive", "Finalize", "CloseStream", "Configure")


@FUZZ
@given(texts=st.lists(bad_controls, min_size=1, max_size=3))
def test_each_malformed_control_message_gets_one_schema_error_and_the_stream_stays_open(server, texts):
    url = f"{server.url}?encoding=linear16&sample_rate=16000"
    kind, messages, code, reason = run(exchange(url, [*texts, bytes(3200)]))
    assert (kind, code, reason) == ("open", 1000, "")
    errors = [m for m in messages if isinstance(m, ErrorMessage)]
    assert [e.message for e in errors] == texts
    for error in errors:
        assert error.variant == "SchemaError"
        assert error.description.startswith("Could not deserialize last text message: ")
        assert len(error.description) < 400
    assert isinstance(messages[-1], Metadata) and messages[-1].duration == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("encoding=linear16&sample_rate=100", "sample_rate"), ("encoding=mulaw&sample_rate=8000&channels=33", "channels")],
)
def test_amplifying_rates_and_channel_counts_are_refused_at_the_handshake(server, query, parameter):
    # 100 Hz audio resampled to 16 kHz is 160 times the work per byte; 33+ channels are beyond the engine
    outcome = run(exchange(f"{server.url}?{query}", []))
    assert outcome[0] == "status" and outcome[1].status_code == 400
    assert json.loads(outcome[1].body)["err_msg"].startswith(f"Invalid '{parameter}' value of ")


@pytest.mark.parametrize(("channels", "rate"), [(65535, 44100), (2, 100)])
def test_wav_headers_claiming_huge_channel_counts_or_tiny_rates_are_1008(server, channels, rate):
    # measured before the limit: one 44-byte header with 65535 channels cost 7 GB and 30 s in soxr
    kind, messages, code, reason = run(exchange(server.url, [wav_header(1, channels, rate, 8) + bytes(2000)]))
    assert (kind, code, reason) == ("open", 1008, DATA_0000) and isinstance(messages[-1], Metadata)


def test_the_server_is_still_up_after_the_fuzzing(server):
    assert_still_serving(server)
    assert _settles(server), "every handler ended"


def _settles(server) -> bool:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.server._active:
        time.sleep(0.05)
    return server.server._active == 0
