"""Decode the audio bytes of a live stream into 16 kHz int16 frames (pure, incremental).

The live protocol sends audio as binary frames of any size: raw samples when `encoding` is set
(linear16, linear32, mulaw, alaw here) or a container (WAV) when it is not. `StreamDecoder`
takes the frames as they come, keeps partial samples and a partial header across frames, and
returns int16 arrays of shape (n, channels) at `target_rate`, resampled with soxr's streaming
resampler (the same output whatever the frame sizes).

>>> import numpy as np
>>> dec = StreamDecoder(encoding="linear16", sample_rate=16000, channels=1)
>>> pcm = np.arange(5, dtype="<i2").tobytes()
>>> dec.decode(pcm[:3]).shape, dec.decode(pcm[3:]).ravel().tolist()
((1, 1), [1, 2, 3, 4])
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = [
    "StreamDecoder",
    "AudioDecodeError",
    "LOCAL_ENCODINGS",
    "MIN_SAMPLE_RATE",
    "MAX_CHANNELS",
    "ulaw_to_int16",
    "alaw_to_int16",
]

#: Encodings the local engine decodes (plus containerized WAV when no encoding is given).
LOCAL_ENCODINGS = ("linear16", "linear32", "mulaw", "alaw")
#: Lowest sample rate decoded (telephone audio). Lower rates are refused: resampling 1 Hz audio to
#: 16 kHz would turn a few bytes into hours of audio to recognise.
MIN_SAMPLE_RATE = 8000
#: Most channels decoded. A WAV header claiming 65535 channels would make the resampler allocate
#: gigabytes (measured: 7 GB and 30 s for one 44-byte header at 44.1 kHz).
MAX_CHANNELS = 32
_MAX_HEADER = 1 << 16  # a WAV header longer than this is not a header


class AudioDecodeError(ValueError):
    """The bytes cannot be decoded as audio of the announced kind (close 1008, DATA-0000)."""


def _ulaw_table() -> np.ndarray:
    u = (~np.arange(256, dtype=np.uint8)).astype(np.int32)
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + 0x84) << exponent
    sample = magnitude - 0x84
    return np.where(u & 0x80, -sample, sample).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = (np.arange(256, dtype=np.int32)) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


_ULAW = _ulaw_table()
_ALAW = _alaw_table()


def ulaw_to_int16(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes to int16 samples.

    >>> ulaw_to_int16(bytes([0xFF, 0x00])).tolist()
    [0, -32124]
    """
    return _ULAW[np.frombuffer(data, dtype=np.uint8)]


def alaw_to_int16(data: bytes) -> np.ndarray:
    """G.711 A-law bytes to int16 samples.

    >>> alaw_to_int16(bytes([0xD5, 0x55])).tolist()
    [8, -8]
    """
    return _ALAW[np.frombuffer(data, dtype=np.uint8)]


# WAV format codes
_PCM, _FLOAT, _ALAW_CODE, _MULAW_CODE, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE


class StreamDecoder:
    """Incremental decoder for one stream's audio bytes.

    `encoding=None` means a WAV container: the header is parsed from the first bytes (possibly
    split over frames) and gives the rate, channels and sample format.
    """

    def __init__(
        self,
        *,
        encoding: str | None,
        sample_rate: int | None = None,
        channels: int = 1,
        target_rate: int = 16_000,
    ) -> None:
        if encoding is not None and encoding not in LOCAL_ENCODINGS:
            raise AudioDecodeError(
                f"the local engine decodes {', '.join(LOCAL_ENCODINGS)} or WAV, not encoding={encoding!r}"
            )
        if encoding is not None and not sample_rate:
            raise AudioDecodeError("sample_rate is required with an encoding")
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.channels = channels
        self.target_rate = target_rate
        self._buffer = b""
        self._header_done = encoding is not None
        self._format: tuple[int, int] | None = None  # (format code, bits) for WAV
        self._resampler = None
        self.bytes_received = 0
        if self._header_done:
            self._configure()

    # -- public ---------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the format is known (at once for raw encodings, after the WAV header otherwise)."""
        return self._header_done

    def decode(self, data: bytes) -> np.ndarray:
        """Decode one frame's bytes; returns int16 of shape (n, channels) at `target_rate` (n may be 0)."""
        self.bytes_received += len(data)
        self._buffer += data
        if not self._header_done:
            if not self._parse_header():
                return self._empty()
        width = self._frame_bytes()
        usable = len(self._buffer) - len(self._buffer) % width
        raw, self._buffer = self._buffer[:usable], self._buffer[usable:]
        return self._resample(self._samples(raw), last=False)

    def flush(self) -> np.ndarray:
        """End of stream: the resampler's tail (a trailing partial sample is dropped)."""
        if not self._header_done:
            if self.bytes_received:
                raise AudioDecodeError("the stream ended inside the WAV header")
            return self._empty()
        self._buffer = b""
        return self._resample(np.zeros((0, self.channels), dtype=np.int16), last=True)

    # -- internals ------------------------------------------------------------------------------

    def _empty(self) -> np.ndarray:
        return np.zeros((0, max(self.channels, 1)), dtype=np.int16)

    def _configure(self) -> None:
        if not self.sample_rate or self.sample_rate <= 0:
            raise AudioDecodeError(f"invalid sample rate {self.sample_rate}")
        if self.sample_rate < MIN_SAMPLE_RATE:
            raise AudioDecodeError(f"sample rate {self.sample_rate} Hz is below {MIN_SAMPLE_RATE} Hz")
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise AudioDecodeError(
                f"invalid channel count {self.channels} (the local engine decodes 1..{MAX_CHANNELS})"
            )
        if self.sample_rate != self.target_rate:
            import soxr

            self._resampler = soxr.ResampleStream(
                self.sample_rate, self.target_rate, self.channels, dtype="float32", quality="HQ"
            )

    def _frame_bytes(self) -> int:
        kind = self.encoding
        bits = {"linear16": 16, "linear32": 32, "mulaw": 8, "alaw": 8}.get(kind or "", 0)
        if kind is None and self._format is not None:
            bits = self._format[1]
        return bits // 8 * self.channels

    def _samples(self, raw: bytes) -> np.ndarray:
        if not raw:
            return np.zeros((0, self.channels), dtype=np.int16)
        kind = self.encoding
        if kind is None:
            kind = self._wav_kind()
        if kind == "linear16":
            out = np.frombuffer(raw, dtype="<i2")
        elif kind == "linear32":
            out = (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
        elif kind == "float32":
            out = (np.clip(np.frombuffer(raw, dtype="<f4"), -1.0, 1.0) * 32767).astype(np.int16)
        elif kind == "linear8":
            out = ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
        elif kind == "linear24":
            b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
            out = ((b[:, 2].astype(np.int16) << 8) | b[:, 1]).astype(np.int16)
        elif kind == "mulaw":
            out = ulaw_to_int16(raw)
        else:  # alaw
            out = alaw_to_int16(raw)
        return out.reshape(-1, self.channels)

    def _resample(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        if self._resampler is None:
            return samples
        floats = samples.astype(np.float32) / 32768.0
        out = self._resampler.resample_chunk(floats, last=last)
        out = np.asarray(out, dtype=np.float32).reshape(-1, self.channels)
        return (np.clip(out, -1.0, 1.0) * 32767.0).round().astype(np.int16)

    def _wav_kind(self) -> str:
        assert self._format is not None
        code, bits = self._format
        if code == _PCM:
            return {8: "linear8", 16: "linear16", 24: "linear24", 32: "linear32"}[bits]
        if code == _FLOAT:
            return "float32"
        return "alaw" if code == _ALAW_CODE else "mulaw"

    def _parse_header(self) -> bool:
        """Parse the RIFF/WAVE header from the buffer; True once the data chunk is reached."""
        buf = self._buffer
        if len(buf) >= 12 and (buf[:4] not in (b"RIFF", b"RF64") or buf[8:12] != b"WAVE"):
            raise AudioDecodeError(
                "the audio is not a WAV file and no encoding was given (set encoding=linear16 and "
                "sample_rate for raw audio)"
            )
        offset = 12
        fmt = None
        while True:
            if len(buf) < offset + 8:
                break
            chunk_id, size = buf[offset : offset + 4], struct.unpack("<I", buf[offset + 4 : offset + 8])[0]
            if chunk_id == b"data":
                if fmt is None:
                    raise AudioDecodeError("WAV data chunk before its fmt chunk")
                self._apply_format(*fmt)
                self._buffer = buf[offset + 8 :]
                self._header_done = True
                return True
            if len(buf) < offset + 8 + size:
                break
            if chunk_id == b"fmt ":
                fmt = self._read_fmt(buf[offset + 8 : offset + 8 + size])
            offset += 8 + size + (size & 1)
        if len(buf) > _MAX_HEADER:
            raise AudioDecodeError("no WAV data chunk in the first 64 KiB")
        return False

    @staticmethod
    def _read_fmt(body: bytes) -> tuple[int, int, int, int]:
        if len(body) < 16:
            raise AudioDecodeError("WAV fmt chunk too short")
        code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        if code == _EXTENSIBLE and len(body) >= 26:
            code = struct.unpack("<H", body[24:26])[0]
        return code, channels, rate, bits

    def _apply_format(self, code: int, channels: int, rate: int, bits: int) -> None:
        supported = (code == _PCM and bits in (8, 16, 24, 32)) or (code == _FLOAT and bits == 32)
        supported |= code in (_ALAW_CODE, _MULAW_CODE) and bits == 8
        if not supported:
            raise AudioDecodeError(f"unsupported WAV format (format code {code}, {bits} bits)")
        if channels < 1 or rate < 1:
            raise AudioDecodeError(f"invalid WAV header ({channels} channels at {rate} Hz)")
        self._format = (code, bits)
        self.channels = channels
        self.sample_rate = rate
        self._configure()
