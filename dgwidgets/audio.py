"""Audio in: decode files to 16-bit PCM, and stream it in timed chunks from a file, a microphone or the browser.

Everything the client sends is little-endian int16 PCM (Deepgram's ``linear16``). This module turns
the places audio comes from into that:

- `load_audio` decodes any file libsndfile reads (WAV, FLAC, OGG, MP3, AIFF, ...), at any rate and
  channel count, into an int16 array of shape ``(n, channels)`` at the rate asked for.
- Sources are async iterables of `AudioChunk` (the `AudioSource` protocol the client consumes):
  `FileSource` streams a file paced like a live microphone (Deepgram's examples stream a WAV in
  real time to fake one), `MicrophoneSource` records with sounddevice/PortAudio, and `PushSource`
  is fed by the browser-microphone widget.
- `open_source` picks one from a string: ``"mic"``, ``"sample:NAME"`` or a file path.

Timestamps are counted in samples, never read from a clock, so a chunk's ``start`` is exactly where
it sits in the audio whatever the pacing. Each stream also has one `StreamClock`, reading seconds
since its first sample was captured: a source hands a chunk over no earlier than its last sample was
(really or, for a paced file, notionally) captured, and tells its clock so, which keeps every time
read from the clock at or after the audio it describes.

>>> src = open_source("sample:yes", chunk_seconds=0.5, speed=0)
>>> src.name, src.sample_rate, src.channels
('sample:yes', 16000, 1)
>>> async def starts():
...     return [chunk.start async for chunk in src]
>>> asyncio.run(starts())[:3]
[0.0, 0.5, 1.0]

All errors are `AudioError`s whose messages say what went wrong, with which file or device, and
what to do about it.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np
import soundfile as sf
import soxr

from .samples import SAMPLE_PREFIX, resolve_source

__all__ = [
    "AudioChunk",
    "AudioError",
    "AudioFileError",
    "AudioSource",
    "FileSource",
    "MicrophoneError",
    "MicrophoneSource",
    "PushSource",
    "StreamClock",
    "UNPACED_NOTE",
    "check_microphone",
    "load_audio",
    "open_source",
]

# File name endings libsndfile decodes (by content: the ending is only used to explain a failure).
_AUDIO_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64"}
_SAMPLE_HINT = "a sample such as 'sample:credit-card' (dgwidgets.samples.samples() lists them)"


class AudioError(Exception):
    """Base of the errors raised here; the message says what went wrong and what to do."""


class AudioFileError(AudioError):
    """An audio file is missing, unreadable, corrupt, in an unsupported format, or holds no audio.

    ``path`` is the file concerned.

    >>> try:
    ...     load_audio("/no/such/file.wav")
    ... except AudioFileError as e:
    ...     print(e.path, "|", str(e)[:39])
    /no/such/file.wav | audio file not found: /no/such/file.wav
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None):
        super().__init__(message)
        self.path = None if path is None else Path(path)


class MicrophoneError(AudioError):
    """The microphone cannot be used: no PortAudio library, no input device, or the device is busy.

    The message always offers the alternatives: the browser microphone widget or a sample file.
    """


# --------------------------------------------------------------------------------------------------
# Chunks


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is elementwise, not a bool
class AudioChunk:
    """A piece of int16 PCM and where it sits in the stream.

    ``pcm`` has shape ``(n, channels)``; ``start`` is seconds of audio since the source started
    (counted in samples, so chunks tile the stream exactly).

    >>> import numpy as np
    >>> c = AudioChunk(np.array([[1], [-2], [3], [4]], dtype=np.int16), start=0.5, sample_rate=8)
    >>> c.frames, c.channels, c.duration, c.end
    (4, 1, 0.5, 1.0)
    >>> c.to_bytes()
    b'\\x01\\x00\\xfe\\xff\\x03\\x00\\x04\\x00'
    """

    pcm: np.ndarray
    start: float
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        pcm = self.pcm
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
            raise TypeError(f"AudioChunk.pcm must be an int16 numpy array, not {getattr(pcm, 'dtype', type(pcm))}")
        if pcm.ndim == 1:
            pcm = pcm.reshape(-1, 1)
        if pcm.ndim != 2:
            raise ValueError(f"AudioChunk.pcm must have shape (n, channels), not {pcm.shape}")
        object.__setattr__(self, "pcm", np.ascontiguousarray(pcm))

    @property
    def frames(self) -> int:
        """Number of sample frames (samples per channel)."""
        return self.pcm.shape[0]

    @property
    def channels(self) -> int:
        """Number of channels."""
        return self.pcm.shape[1]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate

    @property
    def end(self) -> float:
        """Seconds of audio since the source started, at the end of this chunk."""
        return self.start + self.duration

    def to_bytes(self) -> bytes:
        """Little-endian interleaved int16: what ``encoding=linear16`` sends over the websocket."""
        return self.pcm.astype("<i2", copy=False).tobytes()


# --------------------------------------------------------------------------------------------------
# Files

#: What the times of an unpaced stream (a file at speed 0) mean; the command line and the lab say it.
UNPACED_NOTE = (
    "unpaced (speed 0): the audio is sent faster than it was spoken, so the 'received at' times are seconds "
    "since the first chunk, not audio time; they can be earlier than the audio they report, and latencies "
    "mean nothing. Stream in real time for honest timing."
)


def load_audio(path: str | os.PathLike[str], *, sample_rate: int = 16000, channels: int | None = 1) -> np.ndarray:
    """Decode an audio file to int16 PCM of shape ``(n, channels)`` at ``sample_rate``.

    Reads anything libsndfile reads (WAV, FLAC, OGG/Vorbis/Opus, MP3 with libsndfile >= 1.1, AIFF, ...)
    at any rate; the format is recognized from the content, not the file name. ``channels=1`` mixes
    down to mono, ``channels=None`` keeps the file's channels (for ``multichannel``), any other
    number needs a file with that many channels (or a mono file, which is copied to each).
    ``path`` may be ``"sample:NAME"``. Raises `AudioFileError`, or the samples module's
    ``UnknownSampleError`` for an unknown sample name.

    >>> pcm = load_audio("sample:yes")
    >>> pcm.dtype, pcm.shape[1]
    (dtype('int16'), 1)
    >>> abs(load_audio("sample:yes", sample_rate=8000).shape[0] - pcm.shape[0] / 2) <= 1  # resampled
    True
    """
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, not {sample_rate!r}")
    if channels is not None and (not isinstance(channels, int) or channels < 1):
        raise ValueError(f"channels must be None or a positive integer, not {channels!r}")
    file = resolve_source(path)
    if isinstance(path, str) and not path.startswith(SAMPLE_PREFIX):
        file = file.expanduser()
    _check_file(file, path)
    try:
        # float32 holds every int16 exactly (x / 32768), so int16 files at the target rate come back bit-exact.
        data, rate = sf.read(file, dtype="float32", always_2d=True)
    except sf.SoundFileError as e:
        raise AudioFileError(_decode_message(file, e), file) from e
    except OSError as e:
        raise AudioFileError(f"could not read {file}: {e}", file) from e
    if data.shape[0] == 0:
        raise AudioFileError(
            f"{file} contains no audio (a valid {file.suffix or 'audio'} header with 0 samples): record or export it again.",
            file,
        )
    data = _map_channels(data, channels, file)
    if rate != sample_rate:
        data = soxr.resample(data, rate, sample_rate)
        if data.ndim == 1:  # soxr returns 1-D for a single column on some versions
            data = data.reshape(-1, 1)
    pcm = np.clip(np.rint(data * 32768.0), -32768, 32767).astype(np.int16)
    return np.ascontiguousarray(pcm)


def _check_file(file: Path, given: object) -> None:
    """Explain the cases libsndfile reports only as 'System error' or 'Format not recognised'."""
    if not file.exists():
        where = "" if file.is_absolute() else f" (relative to {Path.cwd()})"
        raise AudioFileError(f"audio file not found: {file}{where}. Check the path, or use {_SAMPLE_HINT}.", file)
    if file.is_dir():
        raise AudioFileError(
            f"{file} is a folder, not an audio file: give the path of a .wav, .flac, .ogg or .mp3 file inside it.", file
        )
    if file.stat().st_size == 0:
        raise AudioFileError(
            f"{file} is empty (0 bytes): it was probably not written completely; record, copy or export it again.",
            file,
        )


def _decode_message(file: Path, e: sf.SoundFileError) -> str:
    detail = getattr(e, "error_string", "") or str(e)
    code = getattr(e, "code", None)
    convert = f"convert it first, e.g. `ffmpeg -i '{file}' -ar 16000 -ac 1 out.wav`"
    if code == 1:  # SF_ERR_UNRECOGNISED_FORMAT
        suffix = file.suffix.lower()
        if suffix in _AUDIO_SUFFIXES:
            lie = f"its name ends in {suffix} but its content is not audio libsndfile recognizes"
        else:
            lie = "its content is not a format libsndfile reads"
        return (
            f"{file} is not a readable audio file: {lie} ({detail}). Supported: WAV, FLAC, OGG/Vorbis/Opus, MP3, "
            f"AIFF and other libsndfile formats; for others (m4a, aac, webm, ...) {convert}."
        )
    return (
        f"{file} could not be decoded ({detail}): the file is corrupt, truncated or uses an encoding libsndfile "
        f"does not support; re-export it, or {convert}."
    )


def _map_channels(data: np.ndarray, channels: int | None, file: Path) -> np.ndarray:
    have = data.shape[1]
    if channels is None or channels == have:
        return data
    if channels == 1:
        return data.mean(axis=1, keepdims=True, dtype=np.float32)
    if have == 1:
        return np.repeat(data, channels, axis=1)
    raise AudioFileError(
        f"{file} has {have} channels and cannot be mapped to {channels}: use channels=1 to mix down "
        "or channels=None to keep them all.",
        file,
    )


# --------------------------------------------------------------------------------------------------
# The stream clock


class StreamClock:
    """One clock per stream: seconds since the stream's first audio sample was captured.

    A source calls `mark(end)` when it hands over audio up to ``end`` seconds (counted in samples):
    that audio's last sample was captured by then, so its first sample was captured at
    ``now - end / rate`` at the latest. The origin is the earliest such instant seen, so it only ever
    moves earlier (the clock may jump forward a little, never back) and at any moment
    ``now() >= end`` for every chunk handed over. Anything that can only happen after some audio
    was sent (a server's answer about it) therefore reads a time at or after that audio.

    ``rate`` is audio seconds per wall-clock second: 1 for a microphone, ``speed`` for a paced file
    (the clock then runs in audio time), 0 for an unpaced file, whose clock just counts wall-clock
    seconds since the first chunk and is *not* audio time (`paced` is False: times from it may be
    earlier than the audio they describe, and latencies measured on it mean nothing).

    >>> t = [10.0]
    >>> c = StreamClock(clock=lambda: t[0])
    >>> c.started, c.now()
    (False, 0.0)
    >>> c.mark(0.25)                # a chunk ending at 0.25 s handed over at t=10.0
    >>> c.origin, c.now()
    (9.75, 0.25)
    >>> t[0] = 10.3; c.mark(0.5)    # late: the origin stays
    >>> round(c.now(), 3)
    0.55
    """

    def __init__(self, *, rate: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be a finite number >= 0, not {rate!r}")
        self.rate = float(rate)
        self.clock = clock
        #: ``clock()`` reading at the first sample (None until audio was handed over).
        self.origin: float | None = None

    @property
    def paced(self) -> bool:
        """True when the clock reads audio time (False for an unpaced file)."""
        return self.rate > 0

    @property
    def started(self) -> bool:
        return self.origin is not None

    def mark(self, end: float, wall: float | None = None) -> None:
        """Audio up to ``end`` seconds is in hand at ``wall`` (a ``clock()`` reading; default now)."""
        wall = self.clock() if wall is None else wall
        first = wall - end / self.rate if self.rate > 0 else wall
        if self.origin is None or (self.rate > 0 and first < self.origin):
            self.origin = first

    def now(self) -> float:
        """Seconds on the stream's clock (0.0 before the first audio)."""
        if self.origin is None:
            return 0.0
        return max(0.0, (self.clock() - self.origin) * (self.rate or 1.0))

    def __repr__(self) -> str:
        state = f"at {self.now():.3f} s" if self.started else "not started"
        return f"<StreamClock rate={self.rate:g} {state}>"


def stream_clock(iterator: Any) -> StreamClock | None:
    """The clock of a source's iteration (``source.__aiter__()``), or None for a source without one."""
    clock = getattr(iterator, "clock", None)
    return clock if isinstance(clock, StreamClock) else None


# --------------------------------------------------------------------------------------------------
# Sources


@runtime_checkable
class AudioSource(Protocol):
    """What the client streams from: an async iterable of `AudioChunk` with a format and a name.

    ``name`` is for people: ``"sample:credit-card"``, ``"mic"``, ``"browser-mic"`` or a file path.
    ``aclose()`` stops the stream; the ``async for`` consuming it then ends cleanly. Every source
    here also works as ``async with source: ...``, closing on exit.

    >>> isinstance(PushSource(), AudioSource)
    True
    """

    sample_rate: int
    channels: int
    name: str

    def __aiter__(self) -> AsyncIterator[AudioChunk]: ...

    async def aclose(self) -> None: ...


class _SourceBase:
    sample_rate: int
    channels: int
    name: str

    async def aclose(self) -> None:  # pragma: no cover - every source overrides it
        raise NotImplementedError

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.sample_rate} Hz x{self.channels}>"


def _check_chunk_seconds(chunk_seconds: float, sample_rate: int) -> int:
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, not {sample_rate!r}")
    if not (isinstance(chunk_seconds, (int, float)) and math.isfinite(chunk_seconds) and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be a positive number of seconds, not {chunk_seconds!r}")
    return max(1, round(chunk_seconds * sample_rate))


class FileSource(_SourceBase):
    """Stream a file (or ``"sample:NAME"``) in chunks, paced like a live microphone.

    The file is decoded at construction, so a bad path fails before any connection is made. Chunk
    ``k`` (``chunk_seconds`` long, the last one shorter) is yielded ``start / speed`` seconds after
    iteration began: ``speed=1`` is real time, as Deepgram's examples stream a WAV to fake a
    microphone; ``speed=2`` is twice as fast; ``speed=0`` does not wait at all. Pacing is against
    the start time, so a slow consumer catches up instead of drifting. Each ``async for`` streams
    the file from the start; ``aclose()`` stops the ones in progress.

    ``clock`` and ``sleep`` are injectable for tests.

    >>> src = FileSource("sample:yes", chunk_seconds=0.25, speed=0)
    >>> round(src.duration, 3) == round(src.frames / 16000, 3), src.chunk_frames
    (True, 4000)
    >>> async def collect():
    ...     return [c async for c in src]
    >>> chunks = asyncio.run(collect())
    >>> sum(c.frames for c in chunks) == src.frames, chunks[1].start
    (True, 0.25)
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        chunk_seconds: float = 0.25,
        speed: float = 1.0,
        sample_rate: int = 16000,
        channels: int | None = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.chunk_frames = _check_chunk_seconds(chunk_seconds, sample_rate)
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be a finite number >= 0 (1 = real time, 0 = no waiting), not {speed!r}")
        self.chunk_seconds = chunk_seconds
        self.speed = float(speed)
        self.sample_rate = sample_rate
        self.path = resolve_source(source)
        self.name = source if isinstance(source, str) and source.startswith(SAMPLE_PREFIX) else str(self.path)
        audio = load_audio(source, sample_rate=sample_rate, channels=channels)
        audio.flags.writeable = False  # chunks are views into it; nobody may change the file's audio
        self.audio = audio
        self.channels = audio.shape[1]
        self._clock = clock
        self._sleep = sleep
        self._runs: weakref.WeakSet[_FileRun] = weakref.WeakSet()

    @property
    def frames(self) -> int:
        """Number of sample frames in the file (at ``sample_rate``)."""
        return self.audio.shape[0]

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return self.frames / self.sample_rate

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        run = _FileRun(self)
        self._runs.add(run)
        return run

    async def aclose(self) -> None:
        """Stop every stream of this file in progress; their ``async for`` loops end."""
        for run in list(self._runs):
            run.stop()


class _FileRun:
    """One pass over a FileSource; a class rather than an async generator so another task can stop it mid-sleep."""

    def __init__(self, source: FileSource):
        self._src = source
        self._index = 0
        self._t0: float | None = None
        self._stopped = False
        self._stop_event = asyncio.Event()
        #: This run's clock: audio time from the first sample (wall-clock time when unpaced).
        self.clock = StreamClock(rate=source.speed, clock=source._clock)

    def stop(self) -> None:
        self._stopped = True
        self._stop_event.set()

    def __aiter__(self) -> _FileRun:
        return self

    async def __anext__(self) -> AudioChunk:
        src = self._src
        if self._stopped or self._index >= src.frames:
            self._stopped = True
            raise StopAsyncIteration
        start = self._index / src.sample_rate
        pcm = src.audio[self._index : self._index + src.chunk_frames]
        end = (self._index + pcm.shape[0]) / src.sample_rate
        if self._t0 is None:
            self._t0 = src._clock()  # the first sample is "captured" now
        # A microphone hands a chunk over once its last sample is captured: wait for the chunk's end.
        delay = self._t0 + end / src.speed - src._clock() if src.speed > 0 else 0.0
        if delay > 0:
            await self._wait(delay)
        else:
            # Even unpaced, give the loop a turn per chunk so the receive task and widgets are not starved.
            await asyncio.sleep(0)
        if self._stopped:
            raise StopAsyncIteration
        self._index += pcm.shape[0]
        if src.speed > 0:
            self.clock.mark(end, self._t0 + end / src.speed)  # the schedule, even if the consumer was late
        else:
            self.clock.mark(end)
        return AudioChunk(pcm, start, src.sample_rate)

    async def _wait(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._src._sleep(delay))
        stopper = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                if not task.done():
                    task.cancel()
        if sleeper.done() and not sleeper.cancelled():
            sleeper.result()  # a failing sleep function must not pass silently


class PushSource(_SourceBase):
    """A source fed by hand: the browser-microphone widget pushes int16 PCM as it arrives.

    ``push()`` takes little-endian interleaved int16 bytes of any length (a partial sample frame is
    kept for the next push) or an int16 array (``(n, channels)``, or 1-D interleaved). Call it from
    the event loop's thread (ipywidgets message handlers run there); calls from another thread are
    handed to the loop once iteration has started. ``close()`` ends the stream after the queued
    chunks are delivered; ``aclose()`` stops at once, dropping them. Pushes after either are ignored,
    because the browser may deliver a last piece after the stop button was pressed.

    Its `StreamClock` (``clock``) is marked at each push: audio pushed is audio already captured,
    so however long it waits in the queue (pushed before the stream started), times on the clock
    stay at or after it. ``clock`` is injectable for tests.

    >>> src = PushSource(sample_rate=4)
    >>> src.push(b"\\x01\\x00\\x02")
    >>> src.push(b"\\x00\\x03\\x00\\x04\\x00")
    >>> src.close()
    >>> async def collect():
    ...     return [(c.start, c.pcm.ravel().tolist()) async for c in src]
    >>> asyncio.run(collect())
    [(0.0, [1]), (0.25, [2, 3, 4])]
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        channels: int = 1,
        name: str = "browser-mic",
        clock: Callable[[], float] = time.monotonic,
    ):
        _check_chunk_seconds(1.0, sample_rate)
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer, not {channels!r}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.name = name
        self._frame_bytes = 2 * channels
        self._partial = b""
        self._frames = 0
        self._chunks: deque[AudioChunk] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.clock = StreamClock(clock=clock)

    @property
    def closed(self) -> bool:
        """True once `close` or `aclose` was called."""
        return self._closed or self._stopped

    @property
    def frames(self) -> int:
        """Sample frames pushed so far (complete frames only)."""
        return self._frames

    def push(self, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Append audio: int16 LE interleaved bytes, or an int16 array."""
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.push, bytes(data) if not isinstance(data, np.ndarray) else data.copy())
            return
        self._push(data, self.clock.clock())

    def _push(self, data: bytes | bytearray | memoryview | np.ndarray, wall: float) -> None:
        if self.closed:
            return
        if isinstance(data, np.ndarray):
            data = self._array_bytes(data)
        buf = self._partial + bytes(data)
        usable = len(buf) - len(buf) % self._frame_bytes
        self._partial = buf[usable:]
        if not usable:
            return
        pcm = np.frombuffer(buf[:usable], dtype="<i2").astype(np.int16).reshape(-1, self.channels)
        self._chunks.append(AudioChunk(pcm, self._frames / self.sample_rate, self.sample_rate))
        self._frames += pcm.shape[0]
        self.clock.mark(self._frames / self.sample_rate, wall)
        self._ready.set()

    def _array_bytes(self, data: np.ndarray) -> bytes:
        if data.dtype != np.int16:
            raise TypeError(
                f"PushSource.push takes int16 samples, not {data.dtype}; convert with (x * 32767).astype('int16')"
            )
        if data.ndim == 2 and data.shape[1] != self.channels:
            raise ValueError(f"pushed array has {data.shape[1]} channels, the source has {self.channels}")
        if data.ndim not in (1, 2):
            raise ValueError(f"pushed array must be 1-D (interleaved) or (n, channels), not {data.shape}")
        return data.astype("<i2", copy=False).tobytes()

    def close(self) -> None:
        """End the stream once the chunks already pushed are delivered (a trailing partial frame is dropped)."""
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.close)
            return
        self._closed = True
        self._partial = b""
        self._ready.set()

    async def aclose(self) -> None:
        """Stop at once: the ``async for`` ends without the chunks still queued."""
        self._stopped = True
        self._chunks.clear()
        self._ready.set()

    def __aiter__(self) -> PushSource:
        return self

    async def __anext__(self) -> AudioChunk:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        while True:
            if self._stopped:
                raise StopAsyncIteration
            if self._chunks:
                return self._chunks.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()


# --------------------------------------------------------------------------------------------------
# Microphone

_NO_PORTAUDIO = (
    "the microphone needs the PortAudio system library, which is not installed here ({error}). "
    "Install it (Debian/Ubuntu: `sudo apt-get install libportaudio2`; macOS: `brew install portaudio`; "
    "conda: `conda install -c conda-forge portaudio`), or use the browser microphone widget "
    "(it works on JupyterHub, Colab and Binder) or " + _SAMPLE_HINT + "."
)
_NO_SOUNDDEVICE = (
    "the microphone needs the sounddevice package: `pip install 'dgwidgets[mic]'` (and the PortAudio library: "
    "`sudo apt-get install libportaudio2` on Debian/Ubuntu), or use the browser microphone widget or "
    + _SAMPLE_HINT
    + "."
)


def _load_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into a `MicrophoneError`.

    Imported lazily because ``import sounddevice`` itself raises OSError when PortAudio is missing,
    which must not break importing the kit on a server with no audio at all.
    """
    try:
        import sounddevice
    except OSError as e:
        raise MicrophoneError(_NO_PORTAUDIO.format(error=e)) from e
    except ImportError as e:
        raise MicrophoneError(_NO_SOUNDDEVICE) from e
    return sounddevice


def _open_message(device: int | str | None, sample_rate: int, channels: int, error: BaseException) -> str:
    which = "the default input device" if device is None else f"input device {device!r}"
    text = str(error)
    hint = ""
    if "sample rate" in text.lower():
        hint = f" The device may not record at {sample_rate} Hz: try sample_rate=48000 (the client can send any rate)."
    elif "channel" in text.lower():
        hint = f" The device may not record {channels} channels: try channels=1."
    return (
        f"could not open {which} for recording ({type(error).__name__}: {text}). "
        "There is no input device here, or it is busy in another program, or it cannot record in this format."
        f"{hint} `python -m sounddevice` lists the devices. Where the kernel has no microphone (JupyterHub, "
        "Colab, Binder, a server) use the browser microphone widget, or " + _SAMPLE_HINT + "."
    )


_END = object()  # queue marker: the stream has been closed


class MicrophoneSource(_SourceBase):
    """Record from a local input device with sounddevice (PortAudio), in chunks of ``chunk_seconds``.

    The stream opens on the first ``async for`` step, so building the source never touches the
    hardware. PortAudio calls back from its own thread; each block is copied and handed to the
    asyncio loop with ``loop.call_soon_threadsafe``. ``stop()`` (or ``aclose()``) closes the stream
    and the ``async for`` ends after the audio already captured; ``max_seconds`` stops by itself.
    A new ``async for`` opens the stream again. Leaving the loop with ``break`` (or a cancelled task)
    does not close the device: call ``aclose()`` in a ``finally``, or use ``async with mic:``.
    Timestamps count samples from the stream's start. Each run has its own `StreamClock` (``clock``),
    marked with the time PortAudio handed each block over, so it starts at the first captured sample.
    ``overflows`` counts blocks PortAudio flagged (input overflow: the consumer was too slow).

    A missing PortAudio library, no input device or a busy device raise `MicrophoneError` on the
    first step. ``_sounddevice`` replaces the sounddevice module (tests use a fake one).

    >>> mic = MicrophoneSource(max_seconds=5)
    >>> mic.name, mic.chunk_frames
    ('mic', 1600)
    """

    def __init__(
        self,
        *,
        device: int | str | None = None,
        sample_rate: int = 16000,
        channels: int = 1,
        chunk_seconds: float = 0.1,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        _sounddevice: Any = None,
    ):
        self.chunk_frames = _check_chunk_seconds(chunk_seconds, sample_rate)
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer, not {channels!r}")
        if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
            raise ValueError(f"max_seconds must be None or a positive number of seconds, not {max_seconds!r}")
        self.device = device
        self.sample_rate = sample_rate
        self.channels = channels
        self.chunk_seconds = chunk_seconds
        self.max_seconds = max_seconds
        self.name = "mic" if device is None else f"mic:{device}"
        self.overflows = 0
        self._sd = _sounddevice
        self._stream: Any = None
        self._queue: asyncio.Queue[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run = 0  # deliveries from an earlier run are dropped
        self._frames = 0
        self._max_frames = None if max_seconds is None else max(1, round(max_seconds * sample_rate))
        self._stop_requested = False
        self._clock = clock
        self.clock = StreamClock(clock=clock)

    @property
    def running(self) -> bool:
        """True while the input stream is open."""
        return self._stream is not None

    def __aiter__(self) -> MicrophoneSource:
        if self._queue is None:  # a new run: a new clock
            self.clock = StreamClock(clock=self._clock)
        return self

    async def __anext__(self) -> AudioChunk:
        if self._queue is None:
            if self._stop_requested:  # stopped before it started: this run is empty
                self._stop_requested = False
                raise StopAsyncIteration
            self._open()
        assert self._queue is not None
        item = await self._queue.get()
        if item is _END:
            self._queue = None
            self._stop_requested = False
            raise StopAsyncIteration
        return item

    def _open(self) -> None:
        sd = self._sd if self._sd is not None else _load_sounddevice()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._run += 1
        run = self._run
        self._frames = 0
        deliver = self._deliver
        now = self._clock

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            # PortAudio's thread: copy (the buffer is reused) and hand over; nothing else happens here.
            # The block's last sample was captured by now: that time goes with it to the stream clock.
            data = np.array(indata, dtype=np.int16, copy=True).reshape(-1, self.channels)
            try:
                loop.call_soon_threadsafe(deliver, run, data, bool(status), now())
            except RuntimeError:  # the loop is closed (kernel shutting down): nobody is listening
                pass

        errors: tuple[type[BaseException], ...] = (ValueError,)
        pa_error = getattr(sd, "PortAudioError", None)
        if isinstance(pa_error, type) and issubclass(pa_error, BaseException):
            errors += (pa_error,)
        stream = None
        try:
            stream = sd.InputStream(
                device=self.device,
                samplerate=self.sample_rate,
                channels=self.channels,
                dtype="int16",
                blocksize=self.chunk_frames,
                callback=callback,
            )
            stream.start()
        except errors as e:
            if stream is not None:
                _close_quietly(stream)
            raise MicrophoneError(_open_message(self.device, self.sample_rate, self.channels, e)) from e
        self._stream = stream
        self._queue = asyncio.Queue()

    def _deliver(self, run: int, data: np.ndarray, flagged: bool, wall: float | None = None) -> None:
        if run != self._run or self._queue is None:
            return
        if flagged:
            self.overflows += 1
        if self._max_frames is not None:
            data = data[: max(0, self._max_frames - self._frames)]
        if data.shape[0]:
            self._queue.put_nowait(AudioChunk(data, self._frames / self.sample_rate, self.sample_rate))
            self._frames += data.shape[0]
            self.clock.mark(self._frames / self.sample_rate, wall)
        if self._max_frames is not None and self._frames >= self._max_frames:
            self.stop()

    def stop(self) -> None:
        """Close the input stream; the ``async for`` ends after the audio already captured.

        Call it from the event loop's thread (a widget's click handler runs there).
        """
        stream, self._stream = self._stream, None
        if stream is None:
            if self._queue is None:
                self._stop_requested = True
            return
        _close_quietly(stream)
        queue, loop = self._queue, self._loop
        if queue is not None and loop is not None:
            # call_soon, not put_nowait: blocks PortAudio handed over before close() returned are
            # already scheduled, and must reach the queue before the end marker.
            loop.call_soon(queue.put_nowait, _END)

    async def aclose(self) -> None:
        """Same as `stop`."""
        self.stop()


def check_microphone(
    device: int | str | None = None, *, sample_rate: int = 16000, channels: int = 1, _sounddevice: Any = None
) -> str:
    """Really ask PortAudio for the input device and whether it records this format; returns its name.

    Building a `MicrophoneSource` touches no hardware, so it cannot tell whether recording will work.
    This loads PortAudio, looks the device up and checks the settings with the device itself
    (``sounddevice.check_input_settings`` opens it for a moment). Raises `MicrophoneError`, whose
    message says what to install or use instead.

    >>> try:
    ...     name = check_microphone()
    ... except MicrophoneError as err:
    ...     name = str(err)
    >>> isinstance(name, str)
    True
    """
    sd = _sounddevice if _sounddevice is not None else _load_sounddevice()
    errors: tuple[type[BaseException], ...] = (ValueError, LookupError)
    pa_error = getattr(sd, "PortAudioError", None)
    if isinstance(pa_error, type) and issubclass(pa_error, BaseException):
        errors += (pa_error,)
    try:
        info = sd.query_devices(device, kind="input")
        sd.check_input_settings(device=device, samplerate=sample_rate, channels=channels, dtype="int16")
    except errors as e:
        raise MicrophoneError(_open_message(device, sample_rate, channels, e)) from e
    name = info.get("name", "?") if isinstance(info, dict) else str(info)
    return f"input device {name!r} records {channels} channel(s) at {sample_rate} Hz"


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # closing a stream that failed to open or start: nothing more to release
        pass


# --------------------------------------------------------------------------------------------------


def open_source(spec: str | os.PathLike[str], **kwargs: Any) -> AudioSource:
    """Build a source from a string: ``"mic"`` (or ``"mic:DEVICE"``, a device number or name),
    ``"browser-mic"``, ``"sample:NAME"``, or a file path. ``kwargs`` go to the source's constructor.

    Unknown sample names raise the samples module's ``UnknownSampleError``; file problems raise
    `AudioFileError` right away.

    >>> open_source("mic").name, open_source("mic:2").device, open_source("browser-mic").name
    ('mic', 2, 'browser-mic')
    >>> open_source("sample:yes", speed=0).name
    'sample:yes'
    """
    if isinstance(spec, str):
        if spec == "mic":
            return MicrophoneSource(**kwargs)
        if spec.startswith("mic:"):
            device: int | str = spec[4:]
            if device.strip().isdigit():
                device = int(device)
            return MicrophoneSource(device=device, **kwargs)
        if spec == "browser-mic":
            return PushSource(**kwargs)
    return FileSource(spec, **kwargs)
