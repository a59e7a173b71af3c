"""The browser-side widgets in real JupyterLab + Chromium: microphone to transcript, beeps, playback.

The kernel checks what it received and prints it; the test reads those printed lines, because a
notebook's saved widget state would miss updates made while a cell awaits.
"""

from __future__ import annotations

import re
import time

import pytest

from dgwidgets.samples import sample

from .conftest import open_and_run, screenshot, wait_for_output

pytestmark = pytest.mark.browser

# The samples get re-voiced now and then: their lengths come from their JSON, never from literals.
HELLO_THERE_S = sample("hello-there").duration

# The kernel waits for the browser with this (top-level await keeps comm messages flowing).
UNTIL = """
import asyncio, time

async def until(condition, timeout=30.0, what="condition"):
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not met in {timeout} s")
        await asyncio.sleep(0.02)
"""

MIC_CELLS = [
    "from dgwidgets.widgets.browser import BrowserMicrophone\nmic = BrowserMicrophone(autostart=True)\nmic",
    UNTIL
    + """
from dgwidgets.client import Backend, LiveClient
from dgwidgets.protocol import LiveOptions
from dgwidgets.samples import sample

async def transcribe(mic, seconds=6.0):
    # Stream the microphone to the local engine until `seconds` of audio arrived, then stop it.
    options = LiveOptions(keyterm=list(sample("hello-there").keyterms), interim_results=True)
    client = LiveClient(Backend.resolve(local=True), options)
    source = mic.source  # exists before the browser starts recording

    async def stop_after():
        await until(lambda: mic.samples_received >= seconds * mic.sample_rate, 30, "6 s of audio")
        mic.stop()

    stopper = asyncio.create_task(stop_after())
    try:
        log = await asyncio.wait_for(client.stream(source), 60)
    finally:
        stopper.cancel()
    return log, source

t0 = time.monotonic()
log, source = await transcribe(mic)
print("RECEIVED", round(mic.samples_received / mic.sample_rate, 2), "s at", mic.browser_sample_rate,
      "Hz; source frames", source.frames, "closed", source.closed, "status", mic.status)
print("INTERIMS", sum(not r.is_final for r in log.results()), "FINALS", len(log.finals()))
print("TRANSCRIPT:", log.final_transcript(), "| took", round(time.monotonic() - t0, 1), "s")
""",
]

SOUND_CELLS = [
    "from dgwidgets.widgets.browser import AudioPlayer, Beeper\n"
    "beeper = Beeper(frequency=880, duration_ms=120)\n"
    "player = AudioPlayer(source='sample:hello-there')\n"
    "display(beeper, player)",
    UNTIL
    + """
await until(lambda: player.duration > 0, 30, "the player loaded the WAV")
beeper.beep()
beeper.beep(frequency=440)
await until(lambda: beeper.beeps >= 2, 15, "two beeps played")
print("BEEPS", beeper.beeps, "sound_enabled", beeper.sound_enabled)
print("DURATION", round(player.duration, 2))

# Follow the playhead from the kernel: how often it arrives and how far it is from the kernel clock.
reports = []
player.observe(lambda change: reports.append((time.monotonic(), change["new"])), "position")
player.play()
await until(lambda: player.playing, 10, "playing")
t_play = time.monotonic()
await until(lambda: player.position >= 2.0, 15, "the playhead passed 2 s")
player.pause()
await until(lambda: not player.playing, 10, "paused")
moving = [(t, p) for t, p in reports if t >= t_play and p > 0]
rate = (len(moving) - 1) / (moving[-1][0] - moving[0][0])
# Offset of playhead against the kernel clock: should stay constant (1x speed), so its spread is the jitter.
offsets = [p - (t - moving[0][0]) for t, p in moving]
print("POSITION", round(player.position, 2), "REPORTS_PER_S", round(rate, 1),
      "SPREAD_MS", round(1000 * (max(offsets) - min(offsets))))
player.seek(0.5)
await until(lambda: abs(player.position - 0.5) < 0.05, 10, "seek to 0.5 s")
print("SEEKED", round(player.position, 2))
""",
]


def test_microphone_streams_to_the_local_engine(page, jupyter_server):
    started = time.monotonic()
    name = jupyter_server.write_notebook("mic.ipynb", MIC_CELLS)
    open_and_run(page, jupyter_server, name)
    widget = page.locator(".dgw-mic").first
    widget.wait_for(timeout=30_000)
    try:
        page.locator(".dgw-mic[data-state=recording]").wait_for(timeout=30_000)
    except Exception:
        raise AssertionError(f"not recording: {widget.inner_text()!r}; page errors: {page.errors}") from None
    page.wait_for_function(
        "() => /recording · [1-9]/.test(document.querySelector('.dgw-mic .dgw-status').textContent)", timeout=15_000
    )
    screenshot(widget, "browser_microphone_recording")

    output = wait_for_output(page, "TRANSCRIPT:", timeout=90)
    text = output.inner_text()
    transcript = text.split("TRANSCRIPT:", 1)[1].split("|")[0].lower()
    assert "hello" in transcript or "there" in transcript, text
    received = float(re.search(r"RECEIVED ([\d.]+) s", text).group(1))
    assert received >= 6.0, text
    assert "closed True" in text and "status stopped" in text, text
    assert "⚠" not in widget.inner_text()
    screenshot(page.locator(".jp-Notebook:visible"), "browser_microphone_notebook")
    print(f"\n{text}\nmicrophone test: {time.monotonic() - started:.1f} s")


def test_beeper_and_player(page, jupyter_server):
    started = time.monotonic()
    name = jupyter_server.write_notebook("sound.ipynb", SOUND_CELLS)
    open_and_run(page, jupyter_server, name)
    beeper = page.locator(".dgw-beeper").first
    player = page.locator(".dgw-player").first
    beeper.wait_for(timeout=30_000)
    player.wait_for(timeout=30_000)

    output = wait_for_output(page, "SEEKED", timeout=60)
    text = output.inner_text()
    assert re.search(r"BEEPS 2 sound_enabled True", text), text
    duration = float(re.search(r"DURATION ([\d.]+)", text).group(1))
    assert duration == pytest.approx(HELLO_THERE_S, abs=0.01), text  # as long as the sample's JSON says
    rate = float(re.search(r"REPORTS_PER_S ([\d.]+)", text).group(1))
    assert 5 <= rate <= 15, text  # ~10 a second
    assert float(re.search(r"POSITION ([\d.]+)", text).group(1)) >= 2.0, text
    spread = int(re.search(r"SPREAD_MS (\d+)", text).group(1))
    assert spread < 250, text
    # The page shows what the kernel saw.
    assert "2 beeps" in beeper.inner_text()
    assert f"/ {HELLO_THERE_S:.1f} s" in player.inner_text()
    assert page.locator(".dgw-player audio").evaluate("a => a.duration") == pytest.approx(HELLO_THERE_S, abs=0.01)
    screenshot(beeper, "beeper")
    screenshot(player, "audio_player")
    print(f"\n{text}\nbeeper+player test: {time.monotonic() - started:.1f} s")


# -- the lab's player and browser microphone on the stream clock ------------------------------------

PLAYER_SYNC_CELLS = [
    "from dgwidgets import StreamLab\n"
    "lab = StreamLab(source='sample:hello-there', speed=1, interim_results=True, keyterm=['hello there', 'how are you'])\n"
    "lab",
    UNTIL
    + """
print("SRC", lab.player.src[:22], "NAME", lab.player.name)
offsets = []  # playhead minus the stream clock, measured by the browser at each report

def follow(change):
    client = lab._client
    if client is not None and client.clock.started and lab.player.playing:
        offsets.append(change["new"])

lab.player.observe(follow, "sync_error")
await until(lambda: lab.player.duration > 0, 60, "the browser loaded the sample into the player")
log = await lab.run()
await asyncio.sleep(0.5)
settled = sorted(abs(o) for o in offsets[5:])  # after the first half second (the start-up seek)
print("REPORTS", len(offsets), "P50_MS", round(1000 * settled[len(settled) // 2]), "P90_MS", round(1000 * settled[int(0.9 * len(settled))]),
      "MAX_MS", round(1000 * settled[-1]), "DURATION", round(lab.player.duration, 2))
print("OFFSETS_MS", [round(1000 * o) for o in offsets])
""",
]

LAB_MIC_CELLS = [
    "from dgwidgets import StreamLab\n"
    "lab = StreamLab(source='browser-mic', interim_results=True, utterance_end_ms=1000, vad_events=True,\n"
    "                keyterm=['hello there', 'how are you'])\n"
    "lab",
    UNTIL
    + """
from dgwidgets.protocol import Results, SpeechStarted, UtteranceEnd
await until(lambda: lab.running, 60, "Start pressed")
mic = lab.microphone
await until(lambda: mic.samples_received >= 6 * mic.sample_rate, 40, "6 s of audio")
lab.stop()
await until(lambda: not lab.running, 30, "the stream ended")
log = lab.session
late = []  # how long after its audio each message arrived, on the stream clock
for e in log:
    m = e.message
    if isinstance(m, Results):
        late.append(e.at - m.end)
    elif isinstance(m, SpeechStarted):
        late.append(e.at - m.timestamp)
    elif isinstance(m, UtteranceEnd):
        late.append(e.at - m.last_word_end - 1.0)
latencies = [u.latency for us in lab.utterances.values() for u in us]
print("MESSAGES", len(log), "MIN_LATE_MS", round(1000 * min(late)), "UTTERANCES", len(latencies),
      "MIN_LATENCY_MS", round(1000 * min(latencies)) if latencies else None)
print("LABMIC_TRANSCRIPT:", log.final_transcript())
""",
]


def test_lab_player_plays_the_sample_on_the_stream_clock(page, jupyter_server):
    name = jupyter_server.write_notebook("player_sync.ipynb", PLAYER_SYNC_CELLS)
    open_and_run(page, jupyter_server, name)
    output = wait_for_output(page, "P90_MS", timeout=180)
    text = page.locator(".jp-OutputArea-output", has_text="SRC").last.inner_text() + "\n" + output.inner_text()
    assert "SRC data:audio/wav;base64, NAME hello-there.wav" in text, text
    duration = float(re.search(r"DURATION ([\d.]+)", text).group(1))
    assert duration == pytest.approx(HELLO_THERE_S, abs=0.01), text
    reports = int(re.search(r"REPORTS (\d+)", text).group(1))
    assert reports >= 20, text  # ~10 a second over the sample's ~4.5 s stream
    # Measured in the browser against the last sync carried forward, so a kernel busy drawing does
    # not count; the sync's own trip from the kernel (~10 ms idle) does.
    assert int(re.search(r"P50_MS (\d+)", text).group(1)) <= 150, text
    assert int(re.search(r"MAX_MS (\d+)", text).group(1)) <= 500, text
    player = page.locator(".dg-stream-lab .dgw-player").first
    assert player.locator("audio").evaluate("a => a.src.startsWith('data:audio/wav')")
    assert player.locator("audio").evaluate("a => a.currentTime") > 3.0, "it played (nearly) to the end"
    screenshot(page.locator(".dg-stream-lab").first, "lab_player_in_sync")
    print(f"\n{text}")


def test_lab_start_records_the_browser_microphone_with_positive_latencies(page, jupyter_server):
    name = jupyter_server.write_notebook("lab_mic.ipynb", LAB_MIC_CELLS)
    open_and_run(page, jupyter_server, name)
    lab = page.locator(".dg-stream-lab").first
    lab.wait_for(timeout=30_000)
    mic_button = lab.locator(".dgw-mic button")
    mic_button.wait_for(state="attached", timeout=30_000)
    assert not mic_button.is_visible(), "one control: the lab's Start, not a second microphone button"
    lab.locator("button", has_text=re.compile(r"^\s*Start\s*$")).click()
    lab.locator(".dgw-mic[data-state=recording]").wait_for(timeout=30_000)
    output = wait_for_output(page, "LABMIC_TRANSCRIPT:", timeout=90)
    text = output.inner_text()
    assert int(re.search(r"MIN_LATE_MS (-?\d+)", text).group(1)) >= 0, text
    utterances = int(re.search(r"UTTERANCES (\d+)", text).group(1))
    assert utterances >= 1, text
    assert int(re.search(r"MIN_LATENCY_MS (-?\d+)", text).group(1)) > 0, text
    shown = lab.locator(".dg-utterances").inner_text()
    assert "ms after the last word" in shown and "(-" not in shown, shown
    screenshot(lab, "lab_browser_microphone")
    print(f"\n{text}")
