"""LiveClient against real local servers on loopback: success, every failure path, nothing lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import numpy as np
import pytest

from dgwidgets.audio import AudioChunk, FileSource, PushSource
from dgwidgets.client import (
    AuthenticationError,
    Backend,
    ConnectionFailedError,
    ConnectionLostError,
    InvalidParameterError,
    LiveClient,
    StreamClosedError,
)
from dgwidgets.protocol import LiveOptions, Metadata, Results
from dgwidgets.samples import sample, samples
from dgwidgets.server import BackgroundServer, ServerSettings
from dgwidgets.session import SessionLog

KEY = "client-test-key-987"


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(settings=ServerSettings(inactivity_timeout=1.5)) as srv:
        yield srv


def url_backend(srv, key=None):
    return Backend(srv.url, "url", key)


def opts_for(name, **kw):
    return LiveOptions(keyterm=tuple(sample(name).keyterms), **kw)


def run(coro):
    return asyncio.run(coro)


def strip(log: SessionLog):
    """Messages without ids, dates and arrival times (what must not depend on pacing)."""
    out = []
    for entry in log:
        d = entry.message.to_dict()
        d.pop("metadata", None)
        if isinstance(entry.message, Metadata):
            d = {"type": "Metadata", "duration": d["duration"]}
        out.append(d)
    return out


class ScriptedSource:
    """A source that sends some audio, then pauses or fails (what a real microphone may do)."""

    def __init__(
        self,
        pcm: np.ndarray,
        *,
        pause_after: float | None = None,
        pause: float = 0.0,
        fail_after: float | None = None,
        encoding: str | None = "linear16",
    ):
        self.pcm = pcm.reshape(-1, 1)
        self.sample_rate, self.channels, self.name, self.encoding = 16000, 1, "scripted", encoding
        self.pause_after, self.pause, self.fail_after = pause_after, pause, fail_after
        self.closed = False

    async def __aiter__(self):
        step = 4000
        for i in range(0, len(self.pcm), step):
            start = i / 16000
            if self.fail_after is not None and start >= self.fail_after:
                raise OSError("the microphone was unplugged")
            if self.pause_after is not None and start >= self.pause_after:
                await asyncio.sleep(self.pause)
                self.pause_after = None
            yield AudioChunk(self.pcm[i : i + step], start)
            await asyncio.sleep(0.001)

    async def aclose(self):
        self.closed = True


def test_stream_a_sample_and_the_log_is_the_table(server, tmp_path):
    saved = tmp_path / "cc.jsonl"
    client = LiveClient(url_backend(server), opts_for("credit-card", interim_results=True, endpointing=300), save=saved)
    log = run(client.stream(FileSource("sample:credit-card", speed=0)))
    assert log.final_transcript().startswith("yeah so my credit card number is two two two two")
    assert isinstance(log.entries[-1].message, Metadata)
    assert client.request_id and log.entries[-1].message.request_id == client.request_id
    assert log.options.encoding == "linear16" and log.options.sample_rate == 16000
    assert log.source == "sample:credit-card"
    assert client.audio_seconds == pytest.approx(sample("credit-card").duration, abs=0.01)
    # the file written as it went replays to the same table
    assert SessionLog.load(saved).to_text() == log.to_text()


def test_every_sample_gives_the_same_messages_at_1x_and_unpaced(server):
    async def both():
        async def one(name, speed):
            client = LiveClient(
                url_backend(server),
                opts_for(name, interim_results=True, endpointing=300, utterance_end_ms=1000, vad_events=True),
            )
            return await client.stream(FileSource(f"sample:{name}", speed=speed))

        names = [s.name for s in samples()]
        realtime = await asyncio.gather(*(one(n, 1.0) for n in names))  # concurrently: ~11 s in all
        unpaced = [await one(n, 0) for n in names]
        return names, realtime, unpaced

    started = time.monotonic()
    names, realtime, unpaced = run(both())
    assert time.monotonic() - started >= max(s.duration for s in samples())
    for name, a, b in zip(names, realtime, unpaced):
        # Under load (eight real-time streams on two cores) the server may skip interims, which can
        # also move an UtteranceEnd; finals and SpeechStarted never depend on load or pacing, and
        # every interim that was sent is the same one.
        def settled(log):
            return [d for d in strip(log) if d["type"] != "UtteranceEnd" and d.get("is_final", True)]

        def interims(log):
            return [d for d in strip(log) if d["type"] == "Results" and not d["is_final"]]

        assert settled(a) == settled(b), name
        assert all(d in interims(b) for d in interims(a)), name
        # paced: arrival follows the audio; unpaced: everything arrives in a fraction of it
        last_final = [e for e in a if isinstance(e.message, Results) and e.message.is_final][-1]
        assert last_final.at >= last_final.message.end - 0.3, name


def test_wrong_key_is_an_authentication_error_without_the_key(tmp_path):
    with BackgroundServer(api_key=KEY) as srv:
        client = LiveClient(url_backend(srv, key="not-the-key-555"), opts_for("yes"), save=tmp_path / "s.jsonl")
        with pytest.raises(AuthenticationError) as info:
            run(client.stream(FileSource("sample:yes", speed=0)))
    err = info.value
    assert err.status == 401 and "API key" in str(err)
    for text in (str(err), repr(err), repr(client), repr(client.backend), (tmp_path / "s.jsonl").read_text()):
        assert "not-the-key-555" not in text and KEY not in text
    assert len(err.log) == 0


def test_right_key_streams():
    with BackgroundServer(api_key=KEY) as srv:
        log = run(LiveClient(url_backend(srv, key=KEY), opts_for("yes")).stream(FileSource("sample:yes", speed=0)))
    assert log.final_transcript() == "yes"


def test_bad_parameter_is_explained(server):
    backend = Backend(server.url + "?interim_results=true&utterance_end_ms=500", "url")
    with pytest.raises(InvalidParameterError) as info:
        run(LiveClient(backend, opts_for("yes")).stream(FileSource("sample:yes", speed=0)))
    text = str(info.value)
    assert "Invalid 'utterance_end_ms' value of '500'." in text and "from 1000 to 5000" in text


def test_silence_past_the_timeout_keeps_what_was_received(server):
    pcm = np.concatenate([_pcm("yes")])
    source = ScriptedSource(pcm, pause_after=2.0, pause=4.0)
    client = LiveClient(url_backend(server), opts_for("yes"), keepalive_after=60)
    with pytest.raises(StreamClosedError) as info:
        run(client.stream(source))
    err = info.value
    assert err.code == 1011 and "NET-0001" in str(err) and "KeepAlive" in str(err)
    assert err.log.final_transcript() == "yes", "the results before the close are kept"
    assert isinstance(err.log.entries[-1].message, Metadata)
    assert source.closed


def test_keepalive_during_a_pause_keeps_the_stream_open(server):
    source = ScriptedSource(_pcm("yes"), pause_after=1.0, pause=3.0)
    log = run(LiveClient(url_backend(server), opts_for("yes"), keepalive_after=0.5).stream(source))
    assert log.final_transcript() == "yes"


def test_undecodable_audio_is_data_0000(server):
    # a source that sends a container (no encoding) with bytes that are not one
    class Garbage(ScriptedSource):
        async def __aiter__(self):
            yield AudioChunk(np.frombuffer(b"this is not audio" * 64, dtype=np.int16).reshape(-1, 1).copy(), 0.0)

    with pytest.raises(StreamClosedError) as info:
        run(LiveClient(url_backend(server), LiveOptions()).stream(Garbage(_pcm("yes"), encoding=None)))
    assert info.value.code == 1008 and "DATA-0000" in str(info.value) and "encoding" in str(info.value)


def test_server_killed_mid_stream_is_connection_lost_with_the_log_kept():
    proc = subprocess.Popen(
        [sys.executable, "-m", "dgwidgets", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = proc.stdout.readline().split()[-1]

        async def go():
            client = LiveClient(Backend(url, "url"), opts_for("credit-card", interim_results=True))
            task = asyncio.create_task(client.stream(FileSource("sample:credit-card", speed=1.0)))
            await asyncio.sleep(3.5)
            proc.kill()
            with pytest.raises(ConnectionLostError) as info:
                await task
            return info.value

        err = run(go())
    finally:
        proc.kill()
        proc.wait(10)
    assert "lost mid-stream" in str(err)
    assert len(err.log) >= 2 and all(isinstance(e.message, Results) for e in err.log)


def test_nothing_listening_is_a_connection_error():
    with pytest.raises(ConnectionFailedError, match="Could not connect to ws://127.0.0.1:9/v1/listen.*dgwidgets serve"):
        run(
            LiveClient(Backend("ws://127.0.0.1:9/v1/listen", "url"), LiveOptions()).stream(
                FileSource("sample:yes", speed=0)
            )
        )


def test_a_failing_source_still_collects_the_results_then_raises(server):
    source = ScriptedSource(_pcm("hello-there"), fail_after=2.0)
    client = LiveClient(url_backend(server), opts_for("hello-there"))
    with pytest.raises(OSError, match="unplugged") as info:
        run(client.stream(source))
    assert info.value.log.final_transcript().startswith("hello there")
    assert isinstance(info.value.log.entries[-1].message, Metadata)


def test_finalize_and_stop_from_another_task(server):
    async def go():
        client = LiveClient(url_backend(server), opts_for("hello-there", endpointing=False))
        push = PushSource()
        task = asyncio.create_task(client.stream(push))
        pcm = _pcm("hello-there")
        push.push(pcm[: int(1.6 * 16000)].tobytes())
        await asyncio.sleep(0.5)
        await client.finalize()
        await asyncio.sleep(0.5)
        client.stop()
        return await task

    log = run(go())
    finalized = [r for r in log.results() if r.from_finalize]
    assert len(finalized) == 1 and finalized[0].transcript == "hello there"


def test_backend_resolution(monkeypatch):
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    assert Backend.resolve().kind == "local"
    monkeypatch.setenv("DEEPGRAM_API_KEY", "env-key-1")
    cloud = Backend.resolve()
    assert (cloud.kind, cloud.url) == ("cloud", "wss://api.deepgram.com/v1/listen")
    assert "env-key-1" not in repr(cloud)
    assert Backend.resolve(local=True).kind == "local"
    assert Backend.resolve(url="ws://h:1/v1/listen").api_key == "env-key-1"
    with pytest.raises(ValueError, match="ws:// or wss://"):
        Backend.resolve(url="http://h/v1/listen")


def test_docs_conversational_flow_receiver_works_unchanged(server):
    """The receiver of the docs' silence_interval.py (raw websockets, reading channel.alternatives[0],
    start, duration, is_final) run against the local server, with a file instead of pyaudio."""
    import json

    import websockets

    beeps = []
    printed = []
    silence_interval = 1.0

    async def run_docs_script():
        url = server.url + "?endpointing=true&interim_results=true&encoding=linear16&sample_rate=16000&channels=1"
        url += "".join(f"&keyterm={k.replace(' ', '+')}" for k in sample("hello-there").keyterms)
        async with websockets.connect(url) as ws:

            async def sender(ws):
                data = _pcm("hello-there").tobytes()
                for i in range(0, len(data), 8000):
                    await ws.send(data[i : i + 8000])
                await ws.send(json.dumps({"type": "CloseStream"}))

            async def receiver(ws):  # the script's receiver, verbatim but for the beep and print
                transcript = ""
                last_word_end = 0.0
                should_beep = False
                async for message in ws:
                    message = json.loads(message)
                    if message.get("type") != "Results":  # the script predates Metadata messages
                        continue
                    transcript_cursor = message["start"] + message["duration"]
                    if len(message["channel"]["alternatives"][0]["words"]) > 0:
                        if message["is_final"]:
                            if len(transcript):
                                transcript += " "
                            transcript += message["channel"]["alternatives"][0]["transcript"]
                            printed.append(transcript)
                        current_word_begin = message["channel"]["alternatives"][0]["words"][0]["start"]
                        if current_word_begin - last_word_end >= silence_interval and last_word_end != 0.0:
                            should_beep = True
                        last_word_end = message["channel"]["alternatives"][0]["words"][-1]["end"]
                    else:
                        if transcript_cursor - last_word_end >= silence_interval and last_word_end != 0.0:
                            last_word_end = 0.0
                            should_beep = True
                    if should_beep:
                        beeps.append(transcript)
                        should_beep = False
                        last_word_end = 0.0
                        transcript = ""

            await asyncio.gather(sender(ws), receiver(ws))

    run(run_docs_script())
    assert beeps and beeps[0] == "hello there"
    assert printed[-1].endswith("how are you")


def _pcm(name: str) -> np.ndarray:
    import soundfile as sf

    audio, _ = sf.read(sample(name).path, dtype="int16")
    return audio
