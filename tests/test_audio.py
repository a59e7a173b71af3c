"""Tests for dgwidgets.audio: file decoding, paced file streaming, pushed audio, and the microphone
with a fake sounddevice module (no device or PortAudio needed)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from dgwidgets import audio
from dgwidgets.audio import (
    AudioChunk,
    AudioError,
    AudioFileError,
    AudioSource,
    FileSource,
    MicrophoneError,
    MicrophoneSource,
    PushSource,
    load_audio,
    open_source,
)
from dgwidgets.samples import UnknownSampleError, sample

# --------------------------------------------------------------------------------------------------
# helpers


def tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.fft.rfftfreq(pcm.size, 1 / rate)[np.argmax(spectrum)])


def write(path: Path, data: np.ndarray, rate: int, **kw) -> Path:
    sf.write(path, data, rate, **kw)
    return path


def ramp(frames: int, channels: int = 1) -> np.ndarray:
    """Distinct int16 values, so any lost, repeated or reordered sample shows."""
    values = (np.arange(frames * channels) % 65536 - 32768).astype(np.int16)
    return values.reshape(frames, channels)


class FakeClock:
    """A clock that only moves when the fake sleep is awaited (or a test moves it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def collect(source) -> list[AudioChunk]:
    return [chunk async for chunk in source]


# --------------------------------------------------------------------------------------------------
# load_audio


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_load_audio_resamples_any_format_and_rate(tmp_path, fmt, rate):
    path = write(tmp_path / f"tone.{fmt.lower()}", tone(0.5, rate), rate, format=fmt)
    pcm = load_audio(path)
    assert pcm.dtype == np.int16 and pcm.ndim == 2 and pcm.shape[1] == 1 and pcm.flags.c_contiguous
    assert abs(pcm.shape[0] - 8000) <= 1
    assert abs(peak_hz(pcm[:, 0], 16000) - 440) <= 4
    rms = np.sqrt(np.mean((pcm[1000:-1000, 0] / 32768.0) ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_load_audio_stereo_kept_or_mixed(tmp_path, fmt, rate):
    left, right = tone(0.5, rate, 440), tone(0.5, rate, 1000, amp=0.25)
    path = write(tmp_path / f"stereo.{fmt.lower()}", np.stack([left, right], axis=1), rate, format=fmt)
    kept = load_audio(path, channels=None)
    assert kept.shape[1] == 2 and abs(kept.shape[0] - 8000) <= 1
    assert abs(peak_hz(kept[:, 0], 16000) - 440) <= 4
    assert abs(peak_hz(kept[:, 1], 16000) - 1000) <= 4
    mixed = load_audio(path)  # channels=1 mixes down
    assert mixed.shape == (kept.shape[0], 1)
    expected = kept.astype(np.float64).mean(axis=1)
    assert np.max(np.abs(mixed[:, 0] - expected)) <= 1.0


def test_load_audio_is_bit_exact_for_16k_int16(tmp_path):
    pcm = ramp(5000)
    path = write(tmp_path / "exact.wav", pcm, 16000, subtype="PCM_16")
    assert np.array_equal(load_audio(path), pcm)
    assert np.array_equal(load_audio(str(path)), pcm)


def test_load_audio_mixdown_is_the_mean(tmp_path):
    stereo = np.array([[1000, 3000], [-2000, 2000], [32767, 32767]], dtype=np.int16)
    path = write(tmp_path / "lr.wav", stereo, 16000, subtype="PCM_16")
    assert load_audio(path)[:, 0].tolist() == [2000, 0, 32767]


def test_load_audio_other_target_rate_and_upmix(tmp_path):
    path = write(tmp_path / "t.flac", tone(1.0, 48000), 48000)
    assert load_audio(path, sample_rate=8000).shape == (8000, 1)
    up = load_audio(path, channels=2)
    assert up.shape == (16000, 2) and np.array_equal(up[:, 0], up[:, 1])


def test_load_audio_refuses_ambiguous_channel_mapping(tmp_path):
    path = write(tmp_path / "three.wav", np.zeros((100, 3), np.float32), 16000)
    with pytest.raises(AudioFileError, match=r"three\.wav has 3 channels and cannot be mapped to 2"):
        load_audio(path, channels=2)


def test_load_audio_mp3(tmp_path):
    path = write(tmp_path / "t.mp3", tone(1.0, 44100), 44100, format="MP3")
    pcm = load_audio(path)
    assert abs(pcm.shape[0] - 16000) < 1200  # MP3 pads with encoder delay
    assert abs(peak_hz(pcm[:, 0], 16000) - 440) <= 4


def test_extension_does_not_decide_the_format(tmp_path):
    """libsndfile reads the content: FLAC data named .wav loads as FLAC."""
    pcm = ramp(3000)
    flac = write(tmp_path / "real.flac", pcm, 16000, format="FLAC", subtype="PCM_16")
    liar = tmp_path / "actually-flac.wav"
    liar.write_bytes(flac.read_bytes())
    assert np.array_equal(load_audio(liar), pcm)


def test_text_named_wav_is_explained(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are my notes, not audio\n" * 20)
    with pytest.raises(AudioFileError) as info:
        load_audio(path)
    msg = str(info.value)
    assert str(path) in msg and "ends in .wav but its content is not audio" in msg
    assert info.value.path == path


def test_unsupported_container_suggests_converting(tmp_path):
    path = tmp_path / "voice.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    with pytest.raises(AudioFileError, match=r"voice\.m4a is not a readable audio file.*ffmpeg -i"):
        load_audio(path)


def test_corrupt_wav(tmp_path):
    good = write(tmp_path / "good.wav", ramp(1000), 16000).read_bytes()
    path = tmp_path / "broken.wav"
    path.write_bytes(good[:12] + b"\x13\x37" * 500)  # RIFF/WAVE header, then garbage
    with pytest.raises(AudioFileError, match=r"broken\.wav could not be decoded \(.*data.*\).*corrupt"):
        load_audio(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(AudioFileError, match=r"empty\.wav is empty \(0 bytes\)"):
        load_audio(path)


def test_wav_with_no_samples(tmp_path):
    path = write(tmp_path / "silent.wav", np.zeros(0, np.int16), 16000)
    with pytest.raises(AudioFileError, match=r"silent\.wav contains no audio"):
        load_audio(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioFileError, match=r"audio file not found: .*nope\.wav.*sample:credit-card"):
        load_audio(path)


def test_missing_relative_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AudioFileError, match=rf"not found: nope\.wav \(relative to {tmp_path}\)"):
        load_audio("nope.wav")


def test_directory(tmp_path):
    folder = tmp_path / "recordings.wav"
    folder.mkdir()
    with pytest.raises(AudioFileError, match=r"recordings\.wav is a folder, not an audio file"):
        load_audio(folder)


def test_errors_are_audio_errors():
    assert issubclass(AudioFileError, AudioError) and issubclass(MicrophoneError, AudioError)


@pytest.mark.parametrize("kwargs", [{"sample_rate": 0}, {"sample_rate": 16000.0}, {"channels": 0}])
def test_load_audio_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        load_audio("sample:yes", **kwargs)


def test_sample_credit_card():
    pcm = load_audio("sample:credit-card")
    info = sample("credit-card")
    assert pcm.dtype == np.int16 and pcm.shape[1] == 1
    assert pcm.shape[0] / 16000 == pytest.approx(info.duration, abs=1e-3)
    raw, rate = sf.read(info.path, dtype="int16", always_2d=True)
    assert rate == 16000 and np.array_equal(pcm, raw)


def test_unknown_sample_raises_the_samples_error():
    with pytest.raises(UnknownSampleError, match="valid names: .*credit-card"):
        load_audio("sample:no-such-sample")


# --------------------------------------------------------------------------------------------------
# AudioChunk


def test_audio_chunk_properties_and_bytes():
    pcm = np.array([[1, -1], [256, -256]], dtype=np.int16)
    chunk = AudioChunk(pcm, start=1.0, sample_rate=4)
    assert (chunk.frames, chunk.channels, chunk.duration, chunk.end) == (2, 2, 0.5, 1.5)
    assert chunk.to_bytes() == b"\x01\x00\xff\xff\x00\x01\x00\xff"  # interleaved, little-endian
    assert AudioChunk(np.zeros(3, np.int16), 0.0).pcm.shape == (3, 1)
    assert AudioChunk(pcm[:, :1], 0.0).pcm.flags.c_contiguous  # a column view is made contiguous
    assert AudioChunk(pcm, 0.0).sample_rate == 16000
    with pytest.raises(TypeError, match="int16"):
        AudioChunk(np.zeros((3, 1), np.float32), 0.0)
    with pytest.raises(AttributeError):
        chunk.start = 2.0  # frozen


# --------------------------------------------------------------------------------------------------
# FileSource


@pytest.fixture
def ramp_wav(tmp_path) -> tuple[Path, np.ndarray]:
    pcm = ramp(10_500)
    return write(tmp_path / "ramp.wav", pcm, 16000, subtype="PCM_16"), pcm


async def test_file_source_chunks(ramp_wav):
    path, pcm = ramp_wav
    src = FileSource(path, speed=0)
    assert (src.name, src.sample_rate, src.channels, src.frames) == (str(path), 16000, 1, 10_500)
    assert src.duration == pytest.approx(10_500 / 16000)
    chunks = await collect(src)
    assert [c.frames for c in chunks] == [4000, 4000, 2500]
    assert [c.start for c in chunks] == [0.0, 0.25, 0.5]
    assert chunks[-1].end == pytest.approx(src.duration)
    assert all(c.pcm.dtype == np.int16 and c.pcm.flags.c_contiguous for c in chunks)
    assert np.array_equal(np.concatenate([c.pcm for c in chunks]), pcm)
    assert b"".join(c.to_bytes() for c in chunks) == pcm.astype("<i2").tobytes()


@settings(max_examples=40, deadline=None)
@given(frames=st.integers(1, 5000), chunk_seconds=st.floats(0.00001, 0.5), rate=st.sampled_from([8000, 16000]))
def test_file_source_chunks_tile_the_file(tmp_path_factory, frames, chunk_seconds, rate):
    pcm = ramp(frames)
    path = write(tmp_path_factory.mktemp("h") / "r.wav", pcm, rate, subtype="PCM_16")
    src = FileSource(path, chunk_seconds=chunk_seconds, speed=0, sample_rate=rate)
    chunks = asyncio.run(collect(src))
    step = max(1, round(chunk_seconds * rate))
    assert all(c.frames == step for c in chunks[:-1]) and 0 < chunks[-1].frames <= step
    assert np.array_equal(np.concatenate([c.pcm for c in chunks]), pcm)
    starts = np.cumsum([0] + [c.frames for c in chunks[:-1]]) / rate
    assert [c.start for c in chunks] == starts.tolist()


async def test_file_source_stereo(tmp_path):
    pcm = ramp(1000, channels=2)
    path = write(tmp_path / "st.wav", pcm, 16000, subtype="PCM_16")
    src = FileSource(path, chunk_seconds=0.01, speed=0, channels=None)
    chunks = await collect(src)
    assert src.channels == 2 and chunks[0].pcm.shape == (160, 2)
    assert b"".join(c.to_bytes() for c in chunks) == pcm.tobytes()


@pytest.mark.parametrize(
    "speed, expected", [(1, [0.25, 0.5, 0.65625]), (2, [0.125, 0.25, 0.328125]), (0.5, [0.5, 1.0, 1.3125])]
)
async def test_file_source_pacing(ramp_wav, speed, expected):
    """Each chunk comes when its last sample would have been captured (the file is 0.65625 s)."""
    clock = FakeClock()
    src = FileSource(ramp_wav[0], speed=speed, clock=clock, sleep=clock.sleep)
    run = src.__aiter__()
    times, ends, readings = [], [], []
    async for chunk in run:
        times.append(clock.now - 100.0)
        ends.append(chunk.end)
        readings.append(run.clock.now())
    assert times == pytest.approx(expected)
    assert clock.sleeps == pytest.approx(np.diff([0.0, *expected]).tolist())
    # The run's clock reads audio time: at each hand-over, exactly the chunk's end.
    assert run.clock.origin == 100.0 and readings == pytest.approx(ends)


async def test_file_source_speed_zero_never_waits(ramp_wav):
    clock = FakeClock()
    src = FileSource(ramp_wav[0], speed=0, clock=clock, sleep=clock.sleep)
    assert len(await collect(src)) == 3 and clock.sleeps == [] and clock.now == 100.0


async def test_file_source_slow_consumer_catches_up(ramp_wav):
    """Pacing is against the start time: a consumer late by 0.4 s gets the next chunk at once, then the schedule."""
    path = write(ramp_wav[0].with_name("long.wav"), ramp(16000), 16000)
    clock = FakeClock()
    src = FileSource(path, speed=1, clock=clock, sleep=clock.sleep)
    run = src.__aiter__()
    times, late = [], []
    async for chunk in run:
        times.append(clock.now - 100.0)
        late.append(run.clock.now() - chunk.end)
        if chunk.start == 0.25:
            clock.now += 0.4  # the consumer was busy
    assert times == pytest.approx([0.25, 0.5, 0.9, 1.0])
    # The clock keeps the schedule's origin: the late chunk is simply read later than its end.
    assert late == pytest.approx([0.0, 0.0, 0.15, 0.0])


async def test_file_source_aclose_interrupts_the_wait(ramp_wav):
    src = FileSource(ramp_wav[0], chunk_seconds=0.25, speed=0.05)  # real sleep, 5 s between chunks
    got = []

    async def consume():
        async for chunk in src:
            got.append(chunk)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    began = time.monotonic()
    await src.aclose()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - began < 1.0 and got == []  # even the first chunk is 5 s from "captured"


async def test_next_chunk_can_be_cancelled_without_losing_audio(ramp_wav):
    """The client races `__anext__()` against its stop event and cancels the loser: nothing may be lost."""
    src = FileSource(ramp_wav[0], speed=10)  # 25 ms between chunks
    it = src.__aiter__()
    assert (await it.__anext__()).start == 0.0
    pending = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.005)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert [c.start async for c in it] == [0.25, 0.5]

    push = PushSource()
    it = push.__aiter__()
    pending = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.005)
    pending.cancel()
    push.push(bytes(320))
    push.close()
    assert [c.frames async for c in it] == [160]


async def test_file_source_can_be_streamed_again(ramp_wav):
    src = FileSource(ramp_wav[0], speed=0)
    first, second = await collect(src), await collect(src)
    assert [c.start for c in first] == [c.start for c in second]
    async with src:
        async for _ in src:
            break


def test_file_source_is_read_only(ramp_wav):
    src = FileSource(ramp_wav[0])
    with pytest.raises(ValueError):
        src.audio[0, 0] = 1


@pytest.mark.parametrize(
    "kwargs",
    [{"speed": -1}, {"speed": float("nan")}, {"speed": float("inf")}, {"chunk_seconds": 0}, {"chunk_seconds": -0.1}],
)
def test_file_source_validates(kwargs):
    with pytest.raises(ValueError):
        FileSource("sample:yes", **kwargs)


def test_file_source_loads_at_construction(tmp_path):
    with pytest.raises(AudioFileError, match="not found"):
        FileSource(tmp_path / "missing.wav")


def test_file_source_sample_name():
    src = FileSource("sample:credit-card")
    assert src.name == "sample:credit-card" and src.path == sample("credit-card").path
    assert src.duration == pytest.approx(sample("credit-card").duration, abs=1e-3)


# --------------------------------------------------------------------------------------------------
# PushSource


@settings(max_examples=60, deadline=None)
@given(data=st.data(), channels=st.sampled_from([1, 2]))
def test_push_source_reassembles_odd_pushes(data, channels):
    pcm = ramp(data.draw(st.integers(0, 400)), channels)
    raw = pcm.astype("<i2").tobytes()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    src = PushSource(sample_rate=8000, channels=channels)
    for a, b in zip([0, *cuts], [*cuts, len(raw)]):
        src.push(raw[a:b])
    src.close()
    chunks = asyncio.run(collect(src))
    assert all(c.frames > 0 and c.channels == channels for c in chunks)
    got = np.concatenate([c.pcm for c in chunks]) if chunks else np.zeros((0, channels), np.int16)
    assert np.array_equal(got, pcm)
    assert [c.start for c in chunks] == (np.cumsum([0] + [c.frames for c in chunks[:-1]]) / 8000).tolist()[
        : len(chunks)
    ]


async def test_push_source_wakes_a_waiting_consumer():
    src = PushSource()
    task = asyncio.create_task(collect(src))
    await asyncio.sleep(0.01)
    assert not task.done()
    src.push(np.arange(1600, dtype=np.int16))
    src.push(np.zeros((800, 1), np.int16))
    await asyncio.sleep(0.01)
    src.close()
    chunks = await asyncio.wait_for(task, 1)
    assert [(c.start, c.frames) for c in chunks] == [(0.0, 1600), (0.1, 800)]
    assert src.frames == 2400 and src.closed


async def test_push_source_close_delivers_queued_then_ignores_pushes():
    src = PushSource()
    src.push(b"\x01\x00\x02\x00\x03")  # a trailing half sample is dropped by close()
    src.close()
    src.push(b"\x04\x00")
    chunks = await collect(src)
    assert [c.pcm.ravel().tolist() for c in chunks] == [[1, 2]]


async def test_push_source_aclose_stops_at_once():
    src = PushSource()
    src.push(bytes(3200))
    await src.aclose()
    assert await collect(src) == [] and src.closed


async def test_push_source_from_another_thread():
    src = PushSource()
    task = asyncio.create_task(collect(src))
    await asyncio.sleep(0.01)  # iteration has started: the source knows its loop

    def feed():
        for i in range(5):
            src.push(np.full(160, i, np.int16).tobytes())
        src.close()

    thread = threading.Thread(target=feed)
    thread.start()
    chunks = await asyncio.wait_for(task, 2)
    thread.join()
    assert [int(c.pcm[0, 0]) for c in chunks] == [0, 1, 2, 3, 4]
    assert [c.start for c in chunks] == [0.0, 0.01, 0.02, 0.03, 0.04]


def test_push_source_rejects_wrong_arrays():
    src = PushSource(channels=2)
    with pytest.raises(TypeError, match="int16"):
        src.push(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="1 channels"):
        src.push(np.zeros((4, 1), np.int16))
    with pytest.raises(ValueError):
        PushSource(channels=0)


# --------------------------------------------------------------------------------------------------
# MicrophoneSource with a fake sounddevice


class FakePortAudioError(Exception):
    """Like sounddevice.PortAudioError."""


class FakeStream:
    """Calls the callback from its own thread, like PortAudio, reusing one buffer like PortAudio does."""

    def __init__(self, module: FakeSoundDevice, **kwargs):
        self.module = module
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.closed = False
        self._halt = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.module.start_error:
            raise self.module.start_error
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        block, channels = self.kwargs["blocksize"], self.kwargs["channels"]
        buffer = np.empty((block, channels), np.int16)
        k = 0
        while not self._halt.is_set() and (self.module.blocks is None or k < self.module.blocks):
            buffer[:] = ramp(block * (k + 1), channels)[block * k :]
            self.callback(buffer, block, None, k in self.module.flagged)
            k += 1
            time.sleep(self.module.interval)
        self.module.produced = k

    def close(self) -> None:
        self._halt.set()  # like Pa_CloseStream: no callback runs after close() returns
        if self.thread is not None:
            self.thread.join()
            if self.module.block_at_close:
                # a block captured just as stop was pressed: its hand-over is still pending on the loop
                self._halt.clear()
                self.module.blocks = self.module.produced + 1
                last = threading.Thread(target=self._run_from, args=(self.module.produced,))
                last.start()
                last.join()
        self.closed = True

    def _run_from(self, k: int) -> None:
        block, channels = self.kwargs["blocksize"], self.kwargs["channels"]
        buffer = ramp(block * (k + 1), channels)[block * k :]
        self.callback(buffer, block, None, False)
        self.module.produced = k + 1


class FakeSoundDevice:
    PortAudioError = FakePortAudioError

    def __init__(self, *, blocks: int | None = None, interval: float = 0.001, open_error=None, start_error=None):
        self.blocks = blocks
        self.interval = interval
        self.open_error = open_error
        self.start_error = start_error
        self.block_at_close = False
        self.flagged: set[int] = set()
        self.streams: list[FakeStream] = []
        self.produced = 0

    def InputStream(self, **kwargs) -> FakeStream:  # noqa: N802 - the sounddevice name
        if self.open_error:
            raise self.open_error
        stream = FakeStream(self, **kwargs)
        self.streams.append(stream)
        return stream


def expected_ramp(chunks: list[AudioChunk], block: int, channels: int = 1) -> np.ndarray:
    return ramp(block * len(chunks), channels)[: sum(c.frames for c in chunks)]


async def test_microphone_chunks_in_order_then_stop():
    fake = FakeSoundDevice()
    mic = MicrophoneSource(_sounddevice=fake)
    assert not fake.streams  # nothing opens before iteration
    chunks = []
    async for chunk in mic:
        chunks.append(chunk)
        if len(chunks) == 5:
            mic.stop()
    stream = fake.streams[0]
    assert stream.closed and not stream.thread.is_alive() and not mic.running
    assert stream.kwargs["dtype"] == "int16" and stream.kwargs["samplerate"] == 16000
    assert stream.kwargs["blocksize"] == 1600 and stream.kwargs["channels"] == 1 and stream.kwargs["device"] is None
    # every block captured before the stream closed is delivered, in order, none lost or repeated
    assert len(chunks) == fake.produced >= 5
    assert [c.start for c in chunks] == pytest.approx([0.1 * k for k in range(len(chunks))])
    assert np.array_equal(np.concatenate([c.pcm for c in chunks]), expected_ramp(chunks, 1600))


async def test_microphone_delivers_the_block_captured_while_stopping():
    fake = FakeSoundDevice(interval=0.01)
    fake.block_at_close = True
    mic = MicrophoneSource(_sounddevice=fake)
    chunks = []
    async for chunk in mic:
        chunks.append(chunk)
        if len(chunks) == 2:
            mic.stop()
    assert len(chunks) == fake.produced >= 3
    assert np.array_equal(np.concatenate([c.pcm for c in chunks]), expected_ramp(chunks, 1600))


async def test_microphone_aclose_from_another_task_and_stereo():
    fake = FakeSoundDevice(interval=0.005)
    mic = MicrophoneSource(_sounddevice=fake, channels=2, sample_rate=8000, chunk_seconds=0.05)
    task = asyncio.create_task(collect(mic))
    await asyncio.sleep(0.05)
    await mic.aclose()
    chunks = await asyncio.wait_for(task, 2)
    assert chunks and all(c.pcm.shape == (400, 2) for c in chunks)
    assert np.array_equal(np.concatenate([c.pcm for c in chunks]), expected_ramp(chunks, 400, 2))
    assert fake.streams[0].closed


async def test_microphone_max_seconds_trims_and_stops():
    fake = FakeSoundDevice()
    mic = MicrophoneSource(_sounddevice=fake, max_seconds=0.25)
    chunks = await asyncio.wait_for(collect(mic), 2)
    assert [c.frames for c in chunks] == [1600, 1600, 800]
    assert chunks[-1].end == pytest.approx(0.25) and fake.streams[0].closed


async def test_microphone_stop_before_start_and_reopen():
    fake = FakeSoundDevice()
    mic = MicrophoneSource(_sounddevice=fake, max_seconds=0.2)
    mic.stop()
    assert await collect(mic) == [] and not fake.streams
    first = await collect(mic)
    second = await collect(mic)  # a new run opens a new stream, counting from 0 again
    assert len(fake.streams) == 2 and all(s.closed for s in fake.streams)
    assert [c.start for c in first] == [c.start for c in second] == [0.0, 0.1]


async def test_microphone_counts_flagged_blocks():
    fake = FakeSoundDevice()
    fake.flagged = {1, 2}
    mic = MicrophoneSource(_sounddevice=fake, max_seconds=0.4)
    await collect(mic)
    assert mic.overflows == 2


async def test_microphone_source_stream_ended_by_fake():
    """The stream keeps the iteration open until stop(), even if no blocks come."""
    fake = FakeSoundDevice(blocks=2)
    mic = MicrophoneSource(_sounddevice=fake)
    task = asyncio.create_task(collect(mic))
    await asyncio.sleep(0.1)
    assert not task.done()
    mic.stop()
    assert len(await asyncio.wait_for(task, 1)) == 2


async def test_microphone_no_input_device():
    fake = FakeSoundDevice(open_error=FakePortAudioError("Error querying device -1"))
    mic = MicrophoneSource(_sounddevice=fake)
    with pytest.raises(MicrophoneError) as info:
        await collect(mic)
    msg = str(info.value)
    assert "Error querying device -1" in msg and "no input device" in msg
    assert "browser microphone widget" in msg and "sample:credit-card" in msg
    assert isinstance(info.value.__cause__, FakePortAudioError)


async def test_microphone_error_on_start_closes_the_stream():
    fake = FakeSoundDevice(start_error=FakePortAudioError("Device unavailable"))
    with pytest.raises(MicrophoneError, match="busy"):
        await collect(MicrophoneSource(_sounddevice=fake, device=3))
    assert fake.streams[0].closed


async def test_microphone_unknown_device_and_bad_rate():
    fake = FakeSoundDevice(open_error=ValueError("No input device matching 'USB'"))
    with pytest.raises(MicrophoneError, match=r"input device 'USB'.*No input device matching"):
        await collect(MicrophoneSource(_sounddevice=fake, device="USB"))
    fake = FakeSoundDevice(open_error=FakePortAudioError("Invalid sample rate [PaErrorCode -9997]"))
    with pytest.raises(MicrophoneError, match="sample_rate=48000"):
        await collect(MicrophoneSource(_sounddevice=fake))


def test_microphone_validates():
    for kwargs in ({"channels": 0}, {"chunk_seconds": 0}, {"max_seconds": 0}, {"sample_rate": -1}):
        with pytest.raises(ValueError):
            MicrophoneSource(**kwargs)


class _RaisingFinder:
    """A meta-path finder that fails `import sounddevice` the way a missing PortAudio library does."""

    def __init__(self, error: BaseException):
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise self.error
        return None


@pytest.mark.parametrize(
    "error, expected",
    [
        (OSError("PortAudio library not found"), r"PortAudio library not found.*apt-get install libportaudio2"),
        (ImportError("No module named 'sounddevice'"), r"pip install 'dgwidgets\[mic\]'"),
    ],
)
async def test_microphone_without_portaudio(monkeypatch, error, expected):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_RaisingFinder(error), *sys.meta_path])
    with pytest.raises(MicrophoneError, match=expected) as info:
        await collect(MicrophoneSource())
    assert "browser microphone widget" in str(info.value) and "sample:credit-card" in str(info.value)


def test_real_import_without_portaudio_gives_the_clear_error():
    """The real sounddevice import, with the library lookup failing as on a machine without libportaudio2."""
    code = textwrap.dedent(
        """
        import ctypes.util
        ctypes.util.find_library = lambda name: None
        from dgwidgets.audio import MicrophoneError, _load_sounddevice
        try:
            _load_sounddevice()
        except MicrophoneError as e:
            print(e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "PortAudio library not found" in out.stdout and "apt-get install libportaudio2" in out.stdout


async def test_real_sounddevice_unknown_device():
    """With the real module: a device that cannot exist gives a MicrophoneError, PortAudio or not."""
    with pytest.raises(MicrophoneError, match="libportaudio2|No input device matching"):
        await collect(MicrophoneSource(device="no-such-device-dgwidgets-test"))


async def test_real_sounddevice_without_input_device():
    try:
        sd = audio._load_sounddevice()
    except MicrophoneError as e:
        assert "libportaudio2" in str(e)
        return
    if any(d["max_input_channels"] > 0 for d in sd.query_devices()):
        pytest.skip("this machine has an input device; the test must not record from it")
    with pytest.raises(MicrophoneError, match="no input device"):
        await collect(MicrophoneSource())


# --------------------------------------------------------------------------------------------------
# open_source and the protocol


def test_open_source(tmp_path):
    path = write(tmp_path / "a.wav", ramp(100), 16000)
    assert isinstance(open_source("mic"), MicrophoneSource)
    assert open_source("mic:2").device == 2 and open_source("mic:USB Audio").device == "USB Audio"
    assert open_source("mic", chunk_seconds=0.2).chunk_frames == 3200
    assert isinstance(open_source("browser-mic", sample_rate=48000), PushSource)
    src = open_source("sample:yes", speed=2)
    assert isinstance(src, FileSource) and src.name == "sample:yes" and src.speed == 2
    assert open_source(str(path)).name == str(path) and open_source(path).frames == 100
    with pytest.raises(UnknownSampleError):
        open_source("sample:nope")
    with pytest.raises(AudioFileError):
        open_source(str(tmp_path / "missing.flac"))


def test_sources_satisfy_the_protocol():
    for src in (FileSource("sample:yes"), MicrophoneSource(), PushSource()):
        assert isinstance(src, AudioSource)
        assert isinstance(src.sample_rate, int) and isinstance(src.channels, int) and src.name
        assert src.name in repr(src)
