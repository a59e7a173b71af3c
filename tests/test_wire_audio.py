"""StreamDecoder: every encoding, WAV headers split anywhere, resampling, and bad input."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from dgwidgets.wire_audio import AudioDecodeError, StreamDecoder, alaw_to_int16, ulaw_to_int16

RNG = np.random.default_rng(7)
TONE = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 12000).astype(np.int16)


def decode_all(decoder: StreamDecoder, data: bytes, size: int) -> np.ndarray:
    parts = [decoder.decode(data[i : i + size]) for i in range(0, len(data), size)]
    parts.append(decoder.flush())
    return np.concatenate(parts)


def wav_bytes(audio: np.ndarray, rate: int, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def test_g711_tables_match_libsndfile():
    codes = bytes(range(256))
    for subtype, ours in (("ULAW", ulaw_to_int16), ("ALAW", alaw_to_int16)):
        reference, _ = sf.read(
            io.BytesIO(codes), format="RAW", subtype=subtype, samplerate=8000, channels=1, dtype="int16"
        )
        assert np.array_equal(ours(codes), reference), subtype


@pytest.mark.parametrize("size", [1, 3, 640, 10**6])
def test_linear16_passthrough_any_frame_size(size):
    out = decode_all(StreamDecoder(encoding="linear16", sample_rate=16000), TONE.tobytes(), size)
    assert out.shape == (16000, 1) and np.array_equal(out[:, 0], TONE)


def test_linear32_keeps_the_top_16_bits():
    data = (TONE.astype(np.int32) << 16).astype("<i4").tobytes()
    out = decode_all(StreamDecoder(encoding="linear32", sample_rate=16000), data, 1001)
    assert np.array_equal(out[:, 0], TONE)


def test_stereo_frames_are_interleaved():
    stereo = np.stack([TONE, -TONE], axis=1)
    out = decode_all(StreamDecoder(encoding="linear16", sample_rate=16000, channels=2), stereo.tobytes(), 777)
    assert out.shape == (16000, 2) and np.array_equal(out, stereo)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampled_length_and_content(rate):
    import soxr

    audio = soxr.resample(TONE.astype(np.float32) / 32768, 16000, rate)
    data = (audio * 32767).astype("<i2").tobytes()
    out = decode_all(StreamDecoder(encoding="linear16", sample_rate=rate), data, 4000)[:, 0]
    assert abs(len(out) - 16000) <= 2
    # the 440 Hz tone survives: correlate with the original over the middle
    mid = slice(2000, 14000)
    corr = np.corrcoef(out[mid].astype(float), TONE[mid].astype(float))[0, 1]
    assert corr > 0.99


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=30))
def test_resampling_does_not_depend_on_frame_sizes(sizes):
    data = (RNG.integers(-8000, 8000, 44100)).astype("<i2").tobytes()
    whole = decode_all(StreamDecoder(encoding="linear16", sample_rate=44100), data, len(data))
    parts, pos, decoder = [], 0, StreamDecoder(encoding="linear16", sample_rate=44100)
    for size in sizes * 100:
        if pos >= len(data):
            break
        parts.append(decoder.decode(data[pos : pos + size]))
        pos += size
    parts.append(decoder.decode(data[pos:]))
    parts.append(decoder.flush())
    assert np.array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize(
    ("subtype", "tolerance"),
    [("PCM_16", 0), ("PCM_24", 1), ("PCM_32", 1), ("PCM_U8", 256), ("FLOAT", 1), ("ULAW", 1100), ("ALAW", 1100)],
)
def test_wav_containers(subtype, tolerance):
    # libsndfile stores int16 data unscaled in a float file: give it floats in [-1, 1)
    data = wav_bytes(TONE.astype(np.float32) / 32768 if subtype == "FLOAT" else TONE, 16000, subtype)
    decoder = StreamDecoder(encoding=None)
    out = decode_all(decoder, data, 37)  # the header arrives in many pieces
    assert decoder.ready and decoder.sample_rate == 16000 and decoder.channels == 1
    assert out.shape == (16000, 1)
    assert np.max(np.abs(out[:, 0].astype(int) - TONE)) <= tolerance


def test_wav_header_gives_rate_and_channels():
    stereo = np.stack([TONE, TONE // 2], axis=1)
    data = wav_bytes(stereo[::2], 8000, "PCM_16")
    decoder = StreamDecoder(encoding=None, channels=1)
    out = decode_all(decoder, data, 100)
    assert (decoder.channels, decoder.sample_rate) == (2, 8000)
    assert out.shape[1] == 2 and abs(out.shape[0] - 16000) <= 2


def test_wav_with_extra_chunks_before_data():
    plain = wav_bytes(TONE, 16000, "PCM_16")
    fmt_end = 12 + 8 + struct.unpack("<I", plain[16:20])[0]
    extra = b"LIST" + struct.pack("<I", 5) + b"hello" + b"\x00"  # odd size, padded
    data = plain[:fmt_end] + extra + plain[fmt_end:]
    out = decode_all(StreamDecoder(encoding=None), data, 11)
    assert np.array_equal(out[:, 0], TONE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ID3\x03\x00" + b"\x00" * 100, "not a WAV file and no encoding was given"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00", "data chunk before its fmt chunk"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt \x04\x00\x00\x00abcd", "fmt chunk too short"),
    ],
)
def test_bad_containers_raise_decode_errors(data, message):
    with pytest.raises(AudioDecodeError, match=message):
        decode_all(StreamDecoder(encoding=None), data, 7)


def test_unsupported_wav_format():
    header = wav_bytes(TONE[:10], 16000, "PCM_16")
    bad = header[:20] + struct.pack("<H", 85) + header[22:]  # format code 85: MP3 in WAV
    with pytest.raises(AudioDecodeError, match="unsupported WAV format"):
        decode_all(StreamDecoder(encoding=None), bad, 1000)


def test_stream_ending_inside_the_header():
    decoder = StreamDecoder(encoding=None)
    decoder.decode(b"RIFF\x00\x00")
    with pytest.raises(AudioDecodeError, match="ended inside the WAV header"):
        decoder.flush()
    assert StreamDecoder(encoding=None).flush().shape == (0, 1)


def test_a_header_that_never_ends():
    decoder = StreamDecoder(encoding=None)
    junk = b"RIFF\x00\x00\x00\x00WAVE" + b"JUNK" + struct.pack("<I", 10**6)
    with pytest.raises(AudioDecodeError, match="first 64 KiB"):
        decode_all(decoder, junk + b"\x00" * 70000, 4096)


def test_constructor_rejects_unknown_encodings():
    with pytest.raises(AudioDecodeError, match="not encoding='opus'"):
        StreamDecoder(encoding="opus", sample_rate=48000)
    with pytest.raises(AudioDecodeError, match="sample_rate is required"):
        StreamDecoder(encoding="linear16")
