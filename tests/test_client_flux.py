"""LiveClient on Flux (`/v2/listen`) against the real local server over loopback websockets.

The same client as v1 (tests/test_client.py), given FluxOptions: the same pacing and stream clock,
the same log and JSONL, the same errors; plus ForceEndTurn and Configure from another task.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from dgwidgets.audio import AudioChunk, FileSource, PushSource
from dgwidgets.client import (
    AuthenticationError,
    Backend,
    InvalidParameterError,
    LiveClient,
    StreamClosedError,
)
from dgwidgets.flux import FluxMessage, FluxOptions, TurnInfo
from dgwidgets.protocol import OptionsError
from dgwidgets.samples import sample
from dgwidgets.server import BackgroundServer, ServerSettings
from dgwidgets.session import SessionLog

KEY = "flux-client-key-321"


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(settings=ServerSettings(inactivity_timeout=1.5)) as srv:
        yield srv


def backend(srv, key=None):
    return Backend(srv.url, "url", key)


def run(coro):
    return asyncio.run(coro)


def pcm_of(name: str) -> np.ndarray:
    return FileSource(f"sample:{name}", speed=0).audio[:, 0]


@pytest.fixture(scope="module")
def hello(server, tmp_path_factory):
    """hello-there streamed like a microphone (real time), saved as it arrived."""
    saved = tmp_path_factory.mktemp("flux") / "hello.jsonl"
    client = LiveClient(backend(server), FluxOptions(), save=saved)
    log = run(client.stream(FileSource("sample:hello-there", speed=1.0)))
    return client, log, saved


def test_a_flux_stream_is_recorded_whole_in_order(hello):
    client, log, _ = hello
    assert client.api == "v2" and log.api == "v2"
    first = log.entries[0].message
    assert isinstance(first, FluxMessage) and first.type == "Connected"
    assert first.request_id == client.request_id
    # nothing lost: every sequence_id the server sent, in order
    assert [e.message.sequence_id for e in log] == list(range(len(log)))
    assert all(isinstance(e.message, TurnInfo) for e in log.entries[1:])
    # the URL the client chose: /v2/listen with the source's format
    assert log.options.encoding == "linear16" and log.options.sample_rate == 16000
    assert log.source == "sample:hello-there"


def test_turns_of_hello_there(hello):
    _, log, _ = hello
    truth = sample("hello-there")
    events = [t.event for t in log.turns() if t.event != "Update"]
    assert events == ["StartOfTurn", "EndOfTurn"] * len(truth.utterances)
    ends = log.turns("EndOfTurn")
    assert [t.turn_index for t in ends] == [0, 1] and all(t.trigger == "model" for t in ends)
    assert log.final_transcript() == "hello there how are you"
    assert len(log.turns("Update")) >= 10, "Updates are recorded too (every 0.25 s of audio)"


def test_arrival_times_are_on_the_stream_clock_never_before_the_audio(hello):
    _, log, _ = hello
    assert log.info["clock"] == "stream"
    for entry in log.entries[1:]:
        # a message about audio up to audio_window_end cannot arrive before that audio was spoken
        assert entry.at >= entry.message.audio_window_end - 1e-3, (entry.at, entry.message.audio_window_end)
    # and, paced like a microphone, not much later either (local engine on loopback)
    lags = [e.at - e.message.audio_window_end for e in log.entries[1:]]
    assert np.median(lags) < 2.0
    assert [e.at for e in log] == sorted(e.at for e in log)


def test_the_file_written_as_it_went_loads_back_equal(hello):
    _, log, saved = hello
    loaded = SessionLog.load(saved)
    assert loaded.api == "v2" and loaded.options == log.options
    assert [e.to_dict() for e in loaded] == [e.to_dict() for e in log]
    assert loaded.to_text() == log.to_text()
    assert "turn 1 EndOfTurn" in loaded.to_text() and "Update" not in loaded.to_text()


def test_unpaced_streams_give_the_same_turns(server):
    log = run(LiveClient(backend(server), FluxOptions()).stream(FileSource("sample:hello-there", speed=0)))
    assert log.info["clock"] == "unpaced"
    assert log.final_transcript() == "hello there how are you"


def test_options_are_checked_before_connecting():
    with pytest.raises(OptionsError, match="eot_threshold.*between 0.5 and 1.0"):
        FluxOptions(eot_threshold=0.2)
    with pytest.raises(OptionsError, match="must not exceed eot_threshold"):
        FluxOptions(eot_threshold=0.6, eager_eot_threshold=0.7)
    with pytest.raises(OptionsError, match="eot_timeout_ms"):
        FluxOptions(eot_timeout_ms=100)
    with pytest.raises(OptionsError, match="'sample_rate' value None: required when encoding is set"):
        FluxOptions(encoding="linear16")
    assert FluxOptions(encoding="mulaw", sample_rate=8000).sample_rate == 8000
    assert FluxOptions().encoding is None  # a container (WAV) says its own format


def test_a_parameter_the_server_refuses_is_an_invalid_parameter_error(server):
    client = LiveClient(backend(server), FluxOptions(other=(("interim_results", "true"),)))
    with pytest.raises(InvalidParameterError) as info:
        run(client.stream(FileSource("sample:yes", speed=0)))
    err = info.value
    assert err.status == 400 and err.err_code == "INVALID_QUERY_PARAMETER"
    assert "Invalid 'interim_results' value of 'true'." in str(err)
    assert "Rule: interim_results is not a /v2/listen parameter." in str(err)
    assert len(err.log) == 0


def test_wrong_key_is_an_authentication_error_without_the_key():
    with BackgroundServer(api_key=KEY) as srv:
        client = LiveClient(backend(srv, key="wrong-key-777"), FluxOptions())
        with pytest.raises(AuthenticationError) as info:
            run(client.stream(FileSource("sample:yes", speed=0)))
        assert "wrong-key-777" not in str(info.value) and "wrong-key-777" not in repr(client)
        log = run(LiveClient(backend(srv, key=KEY), FluxOptions()).stream(FileSource("sample:yes", speed=0)))
    assert log.entries[0].message.type == "Connected"


def test_force_end_turn_and_configure_from_another_task(server):
    async def go():
        client = LiveClient(backend(server), FluxOptions(eot_threshold=1.0))  # the model off: only we end turns
        push = PushSource()
        task = asyncio.create_task(client.stream(push))
        pcm = pcm_of("hello-there")
        push.push(pcm[: int(1.6 * 16000)].tobytes())
        await asyncio.sleep(0.8)
        await client.force_end_turn()
        await client.configure(thresholds={"eot_threshold": 0.8}, keyterms=["hello"])
        with pytest.raises(OptionsError, match="eot_threshold"):
            await client.configure(thresholds={"eot_threshold": 3})  # checked before sending
        with pytest.raises(ValueError, match="Finalize is a /v1/listen message"):
            await client.finalize()
        await asyncio.sleep(0.5)
        client.close_stream()
        return await task

    log = run(go())
    manual = log.turns("EndOfTurn")
    assert [t.trigger for t in manual] == ["manual"] and manual[0].transcript == "hello there"
    success = [e.message for e in log if isinstance(e.message, FluxMessage) and e.message.type == "ConfigureSuccess"]
    assert len(success) == 1 and success[0].data["thresholds"]["eot_threshold"] == 0.8
    assert success[0].data["keyterms"] == ["hello"]


def test_v1_only_and_v2_only_messages_say_which_api_they_belong_to(server):
    async def go():
        client = LiveClient(backend(server))
        with pytest.raises(ValueError, match="ForceEndTurn is a /v2/listen message"):
            await client.force_end_turn()
        with pytest.raises(OptionsError, match="thresholds"):
            await client.configure(thresholds={"eot_threshold": 0.8})

    run(go())


class _Pausing:
    """Some audio, then nothing for a while (a microphone that stopped sending)."""

    def __init__(self, pcm, pause):
        self.pcm, self.pause = pcm.reshape(-1, 1), pause
        self.sample_rate, self.channels, self.name = 16000, 1, "pausing"

    async def __aiter__(self):
        for i in range(0, len(self.pcm), 4000):
            yield AudioChunk(self.pcm[i : i + 4000], i / 16000)
        await asyncio.sleep(self.pause)

    async def aclose(self):
        pass


def test_no_audio_and_no_pings_past_the_timeout_is_net_0001_with_the_log_kept(server):
    # Flux has no KeepAlive; with the client's pings off (keepalive_after far beyond the pause) the
    # local server hears nothing for longer than its 1.5 s timeout
    client = LiveClient(backend(server), FluxOptions(), keepalive_after=60.0)
    with pytest.raises(StreamClosedError) as info:
        run(client.stream(_Pausing(pcm_of("yes"), pause=4.0)))
    err = info.value
    assert err.code == 1011 and "NET-0001" in str(err) and "no KeepAlive" in str(err)
    kinds = [getattr(e.message, "event", e.message.type) for e in err.log]
    assert kinds[0] == "Connected" and kinds[-1] == "Error", "everything received before the close is kept"
    assert [e.message.sequence_id for e in err.log] == list(range(len(err.log)))


def test_the_clients_pings_keep_a_pausing_flux_stream_open(server):
    # the same 4 s pause, with a ping every 0.5 s of silence: Deepgram's advice for idle Flux streams
    client = LiveClient(backend(server), FluxOptions(), keepalive_after=0.5)
    log = run(client.stream(_Pausing(pcm_of("yes"), pause=4.0)))
    assert not [e for e in log if getattr(e.message, "type", "") == "Error"]
    assert log.final_transcript() == "yes"


def test_backend_urls_for_each_api():
    local = Backend("ws://127.0.0.1:8765/v1/listen", "local")
    assert local.listen_url("v2") == "ws://127.0.0.1:8765/v2/listen"
    assert local.listen_url("v1") == local.url
    assert Backend("ws://h:1/v2/listen", "url").listen_url("v1") == "ws://h:1/v1/listen"
    assert Backend("wss://api.deepgram.com/v1/listen", "cloud", "k").listen_url("v2") == (
        "wss://api.deepgram.com/v2/listen"
    )
    with pytest.raises(ValueError, match="api must be"):
        local.listen_url("v3")
    assert FluxOptions(eot_threshold=0.8, keyterm=("a b",)).url("ws://h/v2/listen") == (
        "ws://h/v2/listen?model=flux-general-en&eot_threshold=0.8&keyterm=a+b"
    )
