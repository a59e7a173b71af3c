"""The kit's sample audio: a catalog of short WAV files with exact ground truth.

Each sample is a 16 kHz mono int16 WAV in ``sample_audio/`` with a JSON file beside it
that says what is spoken, when every phrase starts and ends, and which pauses were
designed into it. The files are made by ``scripts/make_samples.py`` (espeak-ng voices
joined with exact silences), so the timings are known to the sample.

This module only reads the JSON catalog; it never decodes audio.

>>> from dgwidgets.samples import sample, samples, resolve_source
>>> [s.name for s in samples()][:3]
['credit-card', 'dictation-pauses', 'drive-thru']
>>> s = sample("hello-there")
>>> s.utterances[0].text, s.pauses[0].length
('hello there', 1.5)
>>> resolve_source("sample:hello-there").name
'hello-there.wav'

The folder is found beside the package (the repository's ``sample_audio/`` for an
editable install); set ``DGWIDGETS_SAMPLES_DIR`` to use another folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "Pause",
    "Sample",
    "UnknownSampleError",
    "Utterance",
    "resolve_source",
    "sample",
    "sample_dir",
    "samples",
]

SAMPLE_PREFIX = "sample:"
ENV_VAR = "DGWIDGETS_SAMPLES_DIR"


@dataclass(frozen=True)
class Utterance:
    """A phrase as spoken: continuous speech with no designed pause inside.

    ``start`` and ``end`` are seconds from the start of the file, measured on the
    synthesized signal (first and last audible sample of the phrase).

    >>> u = Utterance("hello there", 0.3, 1.12)
    >>> round(u.end - u.start, 2)
    0.82
    """

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Pause:
    """A designed silence between two utterances.

    ``mid_thought`` is true when the speaker has not finished the thought (a dictation
    pause, a digit group), so a good end-of-speech strategy should wait through it.

    >>> Pause(1.12, 2.62, False).length
    1.5
    """

    start: float
    end: float
    mid_thought: bool = False

    @property
    def length(self) -> float:
        """Length of the pause in seconds (rounded to the millisecond)."""
        return round(self.end - self.start, 3)


@dataclass(frozen=True)
class Sample:
    """One sample file and its ground truth.

    Fields follow ``sample_audio/NAME.json``: ``text`` is the full script (lowercase,
    digits spelled out), ``keyterms`` are the phrases to pass as Deepgram ``keyterm``
    (the local engine builds its small language model from them), ``noise`` is ``None``
    or a dict such as ``{"kind": "babble", "snr_db": 5.0, "seed": 1}``.

    >>> s = sample("credit-card")
    >>> s.path.suffix, s.sample_rate
    ('.wav', 16000)
    >>> [p.length for p in s.pauses]
    [0.7, 0.7]
    >>> s.source
    'sample:credit-card'
    """

    name: str
    title: str
    teaches: str
    path: Path
    text: str
    keyterms: tuple[str, ...]
    duration: float
    noise: dict[str, Any] | None
    utterances: tuple[Utterance, ...]
    pauses: tuple[Pause, ...]
    voice: str = ""
    rate_wpm: int = 0
    sample_rate: int = 16000

    @property
    def source(self) -> str:
        """The ``sample:NAME`` address accepted wherever the kit takes an audio source."""
        return SAMPLE_PREFIX + self.name

    @property
    def words(self) -> tuple[str, ...]:
        """The reference words, in order."""
        return tuple(self.text.split())

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path) -> Sample:
        """Build a sample from its JSON record; ``path`` is the WAV file."""
        return cls(
            name=data["name"],
            title=data["title"],
            teaches=data["teaches"],
            path=path,
            text=data["text"],
            keyterms=tuple(data["keyterms"]),
            duration=float(data["duration"]),
            noise=data.get("noise"),
            utterances=tuple(Utterance(u["text"], float(u["start"]), float(u["end"])) for u in data["utterances"]),
            pauses=tuple(
                Pause(float(p["start"]), float(p["end"]), bool(p.get("mid_thought", False))) for p in data["pauses"]
            ),
            voice=data.get("voice", ""),
            rate_wpm=int(data.get("rate_wpm", 0)),
            sample_rate=int(data.get("sample_rate", 16000)),
        )


class UnknownSampleError(KeyError):
    """Raised for a sample name that is not in the catalog; the message lists the valid names.

    >>> try:
    ...     sample("nope")
    ... except UnknownSampleError as e:
    ...     print(str(e)[:40])
    unknown sample 'nope'; valid names: cred
    """

    def __init__(self, name: str, valid: list[str]):
        self.name = name
        self.valid = valid
        super().__init__(name)

    def __str__(self) -> str:  # KeyError would repr() the message
        return f"unknown sample {self.name!r}; valid names: {', '.join(self.valid)}"


def sample_dir() -> Path:
    """The folder holding the sample files.

    ``$DGWIDGETS_SAMPLES_DIR`` if set, else ``sample_audio/`` beside the package
    (the repository root for an editable install), else inside the package.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "sample_audio", here / "sample_audio"):
        if candidate.is_dir():
            return candidate
    return here.parent / "sample_audio"


@lru_cache(maxsize=8)
def _catalog(folder: Path) -> dict[str, Sample]:
    found = {}
    for meta in sorted(folder.glob("*.json")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        found[data["name"]] = Sample.from_json(data, meta.with_suffix(".wav"))
    return found


def samples() -> list[Sample]:
    """All samples, sorted by name.

    >>> len(samples()) >= 8
    True
    """
    return list(_catalog(sample_dir()).values())


def sample(name: str) -> Sample:
    """The sample called ``name`` (a ``sample:`` prefix is accepted).

    >>> sample("yes").text
    'yes'
    """
    if name.startswith(SAMPLE_PREFIX):
        name = name[len(SAMPLE_PREFIX) :]
    catalog = _catalog(sample_dir())
    try:
        return catalog[name]
    except KeyError:
        raise UnknownSampleError(name, sorted(catalog)) from None


def resolve_source(source: str | os.PathLike[str]) -> Path:
    """Turn an audio source into a file path: ``"sample:NAME"`` names a sample,
    anything else is taken as a path.

    >>> resolve_source("sample:yes").name
    'yes.wav'
    >>> resolve_source("/tmp/my.wav")
    PosixPath('/tmp/my.wav')
    """
    if isinstance(source, str) and source.startswith(SAMPLE_PREFIX):
        return sample(source).path
    return Path(source)
