"""The kernel side of the browser widgets, with the browser's messages played by hand.

The browser calls reach Python through ipywidgets' custom-message dispatch
(``_handle_custom_msg``), exactly as comm messages do; sends are captured by replacing ``send``.
"""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest

from dgwidgets.samples import sample
from dgwidgets.widgets.browser import AudioPlayer, Beeper, BrowserMicrophone


def capture(widget):
    sent = []
    widget.send = lambda content, buffers=None: sent.append(content)
    return sent


def browser(widget, content, buffers=()):
    """Deliver a message as if the widget's JavaScript had sent it (buffers arrive as memoryviews)."""
    widget._handle_custom_msg(content, [memoryview(b) for b in buffers])


async def drain(source):
    return b"".join([chunk.to_bytes() async for chunk in source])


# -- microphone -------------------------------------------------------------------------------------


def test_microphone_pushes_the_exact_bytes_in_order():
    mic = BrowserMicrophone(chunk_ms=100)
    source = mic.source
    browser(mic, {"type": "started", "context_rate": 16000})
    assert mic.source is source  # the waiting source is the recording's: code may stream it before the click
    assert (mic.recording, mic.status, mic.browser_sample_rate) == (True, "recording", 16000)
    rng = np.random.default_rng(1)
    chunks = [rng.integers(-32768, 32767, n, dtype=np.int16).tobytes() for n in (1600, 1600, 37, 1600)]
    for seq, chunk in enumerate(chunks):
        browser(mic, {"type": "audio", "seq": seq}, [chunk])
    assert mic.samples_received == 1600 * 3 + 37
    assert 0.4 < mic.level < 0.7  # RMS of uniform noise at full scale is 1/sqrt(3)
    browser(mic, {"type": "stopped"})
    assert (mic.recording, mic.status, source.closed) == (False, "stopped", True)
    assert asyncio.run(drain(source)) == b"".join(chunks)


def test_late_and_repeated_chunks_are_dropped():
    mic = BrowserMicrophone()
    browser(mic, {"type": "audio", "seq": 0}, [b"\x01\x00"])  # before "started": not a recording
    browser(mic, {"type": "started"})
    browser(mic, {"type": "audio", "seq": 0}, [b"\x02\x00"])
    browser(mic, {"type": "audio", "seq": 0}, [b"\x03\x00"])  # a repeat must not play twice
    browser(mic, {"type": "audio", "seq": 1}, [b"\x04\x00"])
    source = mic.source
    mic.send = lambda *a, **k: None
    mic.stop()
    browser(mic, {"type": "audio", "seq": 2}, [b"\x05\x00"])  # after stop(): the browser was still sending
    assert asyncio.run(drain(source)) == b"\x02\x00\x04\x00"


def test_stop_from_python_closes_the_source_and_tells_the_browser():
    mic = BrowserMicrophone()
    sent = capture(mic)
    browser(mic, {"type": "started"})
    mic.stop()
    assert sent == [{"type": "stop"}]
    assert mic.source.closed and not mic.recording and mic.status == "stopped"


def test_a_new_recording_gets_a_fresh_source():
    mic = BrowserMicrophone()
    browser(mic, {"type": "started"})
    browser(mic, {"type": "audio", "seq": 0}, [b"\x01\x00" * 10])
    browser(mic, {"type": "stopped"})
    first = mic.source
    browser(mic, {"type": "started"})
    assert mic.source is not first and not mic.source.closed
    assert mic.samples_received == 0
    browser(mic, {"type": "audio", "seq": 0}, [b"\x07\x00"])  # seq restarts with each recording
    browser(mic, {"type": "stopped"})
    assert asyncio.run(drain(mic.source)) == b"\x07\x00"
    assert asyncio.run(drain(first)) == b"\x01\x00" * 10


def test_browser_errors_land_in_status_and_end_the_stream():
    mic = BrowserMicrophone()
    source = mic.source
    browser(mic, {"type": "error", "message": "permission denied"})
    assert (mic.status, mic.recording, source.closed) == ("permission denied", False, True)
    browser(mic, {"type": "started"})
    assert mic.source is not source and mic.status == "recording"


def test_streaming_waits_for_the_click():
    """A stream started before the browser records receives the audio that comes later."""

    async def scenario():
        mic = BrowserMicrophone()
        got = asyncio.ensure_future(drain(mic.source))
        await asyncio.sleep(0.01)
        browser(mic, {"type": "started"})
        browser(mic, {"type": "audio", "seq": 0}, [b"\x10\x00\x20\x00"])
        browser(mic, {"type": "stopped"})
        return await asyncio.wait_for(got, 2)

    assert asyncio.run(scenario()) == b"\x10\x00\x20\x00"


def test_start_asks_the_browser_and_bad_settings_are_refused():
    mic = BrowserMicrophone(autostart=True)
    sent = capture(mic)
    mic.start()
    assert sent == [{"type": "start"}] and mic.autostart
    with pytest.raises(ValueError, match="chunk_ms"):
        BrowserMicrophone(chunk_ms=0)
    with pytest.raises(ValueError, match="sample_rate"):
        BrowserMicrophone(sample_rate=1000)
    with pytest.raises(TypeError):
        BrowserMicrophone(16000)  # keyword-only


def test_each_widget_has_its_own_browser_key():
    assert BrowserMicrophone()._key != BrowserMicrophone()._key


# -- beeper -----------------------------------------------------------------------------------------


def test_beep_sends_a_message_and_counts_what_the_browser_played():
    b = Beeper(frequency=440, duration_ms=200)
    sent = capture(b)
    b.beep()
    b.beep(frequency=1000, duration_ms=50)
    assert sent == [
        {"type": "beep", "frequency": 440.0, "duration_ms": 200},
        {"type": "beep", "frequency": 1000.0, "duration_ms": 50},
    ]
    assert b.beeps == 0  # nothing played until the browser says so
    browser(b, {"type": "sound", "enabled": True})
    browser(b, {"type": "beeped"})
    browser(b, {"type": "beeped"})
    assert (b.beeps, b.sound_enabled) == (2, True)
    with pytest.raises(ValueError, match="frequency"):
        b.beep(frequency=5)
    with pytest.raises(ValueError, match="duration_ms"):
        Beeper(duration_ms=0)


# -- player -----------------------------------------------------------------------------------------


def test_player_embeds_the_file_as_a_data_url():
    path = sample("hello-there").path
    for source in (path, str(path), "sample:hello-there"):
        p = AudioPlayer(source=source)
        head, data = p.src.split(",", 1)
        assert head == "data:audio/wav;base64"
        assert base64.b64decode(data) == path.read_bytes()
        assert p.name == "hello-there.wav"


def test_player_takes_urls_as_they_are_and_starts_empty():
    assert AudioPlayer().src == ""
    p = AudioPlayer(source="https://example.org/a/clip.wav")
    assert (p.src, p.name) == ("https://example.org/a/clip.wav", "clip.wav")
    with pytest.raises(FileNotFoundError):
        AudioPlayer(source="/no/such.wav")


def test_player_controls_send_messages():
    p = AudioPlayer(source="sample:yes")
    sent = capture(p)
    p.play()
    p.seek(1.25)
    p.pause()
    assert sent == [{"type": "play"}, {"type": "seek", "position": 1.25}, {"type": "pause"}]
    with pytest.raises(ValueError):
        p.seek(-1)


def test_player_state_comes_from_the_browser_for_the_current_file_only():
    p = AudioPlayer(source="sample:yes")
    browser(p, {"type": "state", "load": p._load, "duration": 1.2, "playing": True, "position": 0.3})
    assert (p.duration, p.playing, p.position) == (1.2, True, 0.3)
    old = p._load
    p.load("sample:hello-there")
    assert (p.duration, p.position, p.name) == (0.0, 0.0, "hello-there.wav")
    browser(p, {"type": "state", "load": old, "position": 0.9})  # late news about the previous file
    assert p.position == 0.0
    browser(p, {"type": "state", "load": p._load, "error": "sound is blocked", "playing": False})
    assert (p.error, p.playing) == ("sound is blocked", False)
