"""Widgets whose work happens in the browser: a microphone, a beeper and an audio player.

On JupyterHub, Colab or Binder the kernel runs on a server with no microphone and no speakers;
the learner's browser has both. These three anywidgets move audio across that gap:

- `BrowserMicrophone` records in the browser (getUserMedia + an AudioWorklet) and pushes 16 kHz
  int16 chunks into a `PushSource` the client streams like any other source.
- `Beeper` plays a short tone when the kernel calls `beep()`, e.g. on ``speech_final``
  (Deepgram's ``endpointing.py`` example beeps there).
- `AudioPlayer` plays the sample being streamed, so the class hears what the engine hears, and
  reports its playhead back to the kernel.

The JavaScript of each widget sits beside this file in ``static/`` as a plain ES module (no build step).

What the browser reports (beeps played, playhead, recording state) comes to the kernel as custom
messages, and Python sets the traits. Syncing those traits from JavaScript would break while a
cell awaits: ipykernel 7 handles the comm message then without the busy/idle status that
ipywidgets' frontend throttle waits for, and from then on that model's updates stay in the
browser for good. Custom messages are not throttled.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import uuid
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..audio import PushSource
from ..samples import SAMPLE_PREFIX, resolve_source

__all__ = ["AudioPlayer", "Beeper", "BrowserMicrophone"]

_STATIC = Path(__file__).parent / "static"

# Fixed here because mimetypes answers differ between systems (audio/x-wav vs audio/wav).
_AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".webm": "audio/webm",
}


class _BrowserWidget(anywidget.AnyWidget):
    # The JS keeps one recorder / audio element / sound context per widget, whatever the number of
    # views (displaying a widget twice must not record twice); anywidget hands each view a different
    # model proxy, so this synced key is what identifies the widget in the browser.
    _key = traitlets.Unicode().tag(sync=True)

    @traitlets.default("_key")
    def _default_key(self) -> str:
        return uuid.uuid4().hex


class BrowserMicrophone(_BrowserWidget):
    """Record from the learner's browser microphone into a `PushSource` the client can stream.

    Browsers only open a microphone after a user gesture, so recording starts when the learner
    clicks the widget's button (a kernel cannot start it); the page must be served over HTTPS or
    from localhost. ``source`` is the current recording's `PushSource`: it exists before the
    click, so a cell can start streaming it and wait for the audio. Stopping (the button or
    `stop()`) closes it; the next recording gets a fresh one.

    The browser asks for ``sample_rate`` Hz directly; where it can't (Firefox), the worklet
    resamples. Chunks of about ``chunk_ms`` milliseconds reach the kernel as binary comm buffers.

    >>> mic = BrowserMicrophone(chunk_ms=100)
    >>> mic.status, mic.recording, mic.source.sample_rate
    ('idle', False, 16000)

    In a notebook::

        mic = BrowserMicrophone()
        mic                      # click "Start microphone" in the output
        log = await LiveClient(Backend.resolve(local=True), LiveOptions(interim_results=True)).stream(mic.source)

    ``show_button=False`` hides the widget's own button while it works, for a host widget that
    starts and stops it (StreamLab's Start and Stop, so there is one control); it still appears
    when the browser insists on a click.

    ``autostart=True`` asks the browser to start without a click. Browsers refuse that unless the
    page already has microphone permission (or Chromium runs with ``--use-fake-ui-for-media-stream``,
    as the browser tests do); on refusal the status says so and the button still works.
    """

    _esm = _STATIC / "microphone.js"
    _css = _STATIC / "browser.css"

    sample_rate = traitlets.Int(16000).tag(sync=True)
    chunk_ms = traitlets.Int(100).tag(sync=True)
    autostart = traitlets.Bool(False).tag(sync=True)
    show_button = traitlets.Bool(True).tag(sync=True)
    #: True between the browser's "started" and "stopped" messages.
    recording = traitlets.Bool(False).tag(sync=True)
    #: "idle", "starting", "recording", "stopped" or an error such as "permission denied".
    status = traitlets.Unicode("idle").tag(sync=True)
    #: RMS of the last chunk received, 0..1 (full scale), for a level meter.
    level = traitlets.Float(0.0).tag(sync=True)
    #: Samples received in the current recording.
    samples_received = traitlets.Int(0).tag(sync=True)
    #: The rate of the browser's AudioContext (it differs from ``sample_rate`` when the worklet resamples).
    browser_sample_rate = traitlets.Int(0).tag(sync=True)

    def __init__(self, *, sample_rate: int = 16000, chunk_ms: int = 100, autostart: bool = False, **kwargs: Any):
        if not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 48000:
            raise ValueError(f"sample_rate must be an integer from 8000 to 48000 Hz, not {sample_rate!r}")
        if not isinstance(chunk_ms, int) or not 10 <= chunk_ms <= 1000:
            raise ValueError(f"chunk_ms must be an integer from 10 to 1000, not {chunk_ms!r}")
        super().__init__(sample_rate=sample_rate, chunk_ms=chunk_ms, autostart=autostart, **kwargs)
        self._source = PushSource(sample_rate=sample_rate, channels=1, name="browser-mic")
        self._last_seq = -1
        self.on_msg(self._on_custom_msg)

    @property
    def source(self) -> PushSource:
        """The `PushSource` of the current recording, or of the next one if none is running."""
        return self._source

    def start(self) -> None:
        """Ask the browser to start recording.

        This only works where the page may open the microphone without a click (permission
        already granted, or a test browser); otherwise the learner must click the widget's button.
        """
        self.send({"type": "start"})

    def stop(self) -> None:
        """Stop recording: the source ends after the audio already received (late chunks are dropped)."""
        self.send({"type": "stop"})
        self._finish("stopped")

    def _fresh_source(self) -> None:
        # Reuse the waiting source if nothing reached it, so code already streaming it keeps working.
        if self._source.closed or self._source.frames:
            self._source = PushSource(sample_rate=self.sample_rate, channels=1, name="browser-mic")
        self._last_seq = -1
        self.samples_received = 0
        self.level = 0.0

    def _finish(self, status: str) -> None:
        self._source.close()
        self.recording = False
        self.status = status

    def _on_custom_msg(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "started":
            self._fresh_source()
            self.browser_sample_rate = int(content.get("context_rate") or 0)
            self.recording = True
            self.status = "recording"
        elif kind == "audio":
            seq = int(content.get("seq", self._last_seq + 1))
            if not self.recording or seq <= self._last_seq:
                return  # a chunk from before a stop, or a repeat: the stream must never go backwards
            self._last_seq = seq
            for buf in buffers:
                data = bytes(buf)
                self._source.push(data)
                pcm = np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2")
                self.samples_received += pcm.size
                if pcm.size:
                    self.level = float(np.sqrt(np.mean((pcm / 32768.0) ** 2)))
        elif kind == "stopped":
            self._finish("stopped")
        elif kind == "error":
            self._finish(str(content.get("message") or "microphone error"))


class Beeper(_BrowserWidget):
    """A short tone played in the browser when the kernel calls `beep()`.

    Browsers keep sound off until the page gets a click: until then the widget shows
    "🔈 click to enable sound", and a beep asked for meanwhile is not played (nor counted).
    ``beeps`` counts the beeps the browser actually played, so a test or a lesson can check;
    ``sound_enabled`` says whether the browser allows sound yet.

    >>> b = Beeper(frequency=660, duration_ms=100)
    >>> sent = []
    >>> b.send = lambda content, buffers=None: sent.append(content)
    >>> b.beep()
    >>> sent
    [{'type': 'beep', 'frequency': 660.0, 'duration_ms': 100}]
    """

    _esm = _STATIC / "beeper.js"
    _css = _STATIC / "browser.css"

    frequency = traitlets.Float(880.0).tag(sync=True)
    duration_ms = traitlets.Int(150).tag(sync=True)
    #: Beeps the browser played on `beep()` (it reports each one).
    beeps = traitlets.Int(0).tag(sync=True)
    #: False until the browser's AudioContext runs (it needs a click on the page first).
    sound_enabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, *, frequency: float = 880.0, duration_ms: int = 150, **kwargs: Any):
        _check_beep(frequency, duration_ms)
        super().__init__(frequency=float(frequency), duration_ms=duration_ms, **kwargs)
        self.on_msg(self._on_custom_msg)

    def _on_custom_msg(self, _widget: Any, content: dict[str, Any], _buffers: list[Any]) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "beeped":
            self.beeps += 1
        elif kind == "sound":
            self.sound_enabled = bool(content.get("enabled"))

    def beep(self, *, frequency: float | None = None, duration_ms: int | None = None) -> None:
        """Play one beep (``frequency``/``duration_ms`` override the widget's for this beep only)."""
        frequency = self.frequency if frequency is None else frequency
        duration_ms = self.duration_ms if duration_ms is None else duration_ms
        _check_beep(frequency, duration_ms)
        self.send({"type": "beep", "frequency": float(frequency), "duration_ms": int(duration_ms)})


def _check_beep(frequency: float, duration_ms: int) -> None:
    if not isinstance(frequency, (int, float)) or not 20 <= frequency <= 20000:
        raise ValueError(f"frequency must be between 20 and 20000 Hz, not {frequency!r}")
    if not isinstance(duration_ms, int) or not 10 <= duration_ms <= 5000:
        raise ValueError(f"duration_ms must be an integer from 10 to 5000, not {duration_ms!r}")


#: How far (seconds) the player's playhead may stray from the clock given to `AudioPlayer.sync`.
SYNC_TOLERANCE = 0.06


class AudioPlayer(_BrowserWidget):
    """Play an audio file in the browser and report the playhead to the kernel.

    ``source`` is a file path, ``"sample:NAME"`` (embedded as a base64 ``data:`` URL, fine for the
    kit's small samples), or an ``http(s):``/``data:`` URL used as is. `play`, `pause` and `seek`
    drive it from the kernel; while it plays the browser sends ``position`` about 10 times a
    second, and ``playing``/``duration`` as they change. To hear a sample in step with its stream,
    call `play()` when streaming starts at 1x speed.

    >>> p = AudioPlayer(source="sample:yes")
    >>> p.src[:22], p.name
    ('data:audio/wav;base64,', 'yes.wav')
    >>> sent = []
    >>> p.send = lambda content, buffers=None: sent.append(content)
    >>> p.seek(1.5); p.play()
    >>> sent
    [{'type': 'seek', 'position': 1.5}, {'type': 'play'}]

    To follow a stream, call `sync` with the stream clock's time, about ten times a second: the
    browser starts playing there and, when the playhead strays more than ``SYNC_TOLERANCE``
    seconds from the clock, plays up to 15% faster or slower until it is back (no audible jump);
    only an error beyond 0.35 s moves the playhead (StreamLab does all this).

    >>> p.sync(0.1, rate=2)
    >>> sent[-1]
    {'type': 'sync', 'position': 0.1, 'rate': 2.0}
    """

    _esm = _STATIC / "player.js"
    _css = _STATIC / "browser.css"

    #: The audio's URL (often a data: URL holding the whole file).
    src = traitlets.Unicode("").tag(sync=True)
    #: A label for the widget (the file name).
    name = traitlets.Unicode("").tag(sync=True)
    #: Playhead in seconds, reported by the browser.
    position = traitlets.Float(0.0).tag(sync=True)
    #: Length in seconds once the browser has loaded the audio (0 before).
    duration = traitlets.Float(0.0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    #: Why the last play() failed in the browser (e.g. sound blocked until a click), else "".
    error = traitlets.Unicode("").tag(sync=True)
    sync_tolerance = traitlets.Float(SYNC_TOLERANCE).tag(sync=True)
    #: While following `sync`: playhead minus the stream clock (seconds, > 0 ahead), measured in the
    #: browser at each position report (the clock carried forward from the last sync received).
    sync_error = traitlets.Float(0.0).tag(sync=True)
    # Counts `load()` calls; the browser tags its reports with it so a late one about the previous file is ignored.
    _load = traitlets.Int(0).tag(sync=True)

    def __init__(self, *, source: str | os.PathLike[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.on_msg(self._on_custom_msg)
        if source is not None:
            self.load(source)

    def _on_custom_msg(self, _widget: Any, content: dict[str, Any], _buffers: list[Any]) -> None:
        if not isinstance(content, dict) or content.get("type") != "state" or content.get("load") != self._load:
            return  # a report about audio loaded before the last `load()`
        with self.hold_sync():
            for name, kind in (
                ("position", float), ("duration", float), ("playing", bool), ("error", str), ("sync_error", float)
            ):
                if name in content:
                    setattr(self, name, kind(content[name]))

    def load(self, source: str | os.PathLike[str]) -> None:
        """Show another file or URL (the playhead goes back to 0)."""
        src, name = _audio_url(source)
        self.position = 0.0
        self.duration = 0.0
        self.error = ""
        with self.hold_sync():
            self.name = name
            self.src = src
            self._load += 1

    def play(self) -> None:
        """Start playing from the playhead."""
        self.send({"type": "play"})

    def sync(self, position: float, *, rate: float = 1.0) -> None:
        """Play at ``rate`` with the playhead at ``position`` seconds (a stream clock's time).

        Playing already: within ``SYNC_TOLERANCE`` of ``position`` it plays at ``rate``; further off
        the rate is nudged until the playhead is back, and beyond 0.35 s it seeks. Beyond the
        audio's end: nothing happens.
        """
        position, rate = float(position), float(rate)
        if not position >= 0:
            raise ValueError(f"sync needs a position >= 0 seconds, not {position!r}")
        if not 0.0625 <= rate <= 16:
            raise ValueError(f"browsers play at 0.0625 to 16 times the speed, not {rate!r}")
        self.send({"type": "sync", "position": position, "rate": rate})

    def pause(self) -> None:
        """Pause, keeping the playhead."""
        self.send({"type": "pause"})

    def seek(self, seconds: float) -> None:
        """Move the playhead to ``seconds`` from the start."""
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError(f"seek needs a position >= 0 seconds, not {seconds!r}")
        self.send({"type": "seek", "position": seconds})


def _audio_url(source: str | os.PathLike[str]) -> tuple[str, str]:
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:", "blob:")):
        return source, source.rsplit("/", 1)[-1][:60] if not source.startswith("data:") else "audio"
    path = resolve_source(source)
    if not (isinstance(source, str) and source.startswith(SAMPLE_PREFIX)):
        path = path.expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    mime = _AUDIO_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "audio/wav"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}", path.name
