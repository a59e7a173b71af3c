"""Batching never changes a transcript: `WhisperModel.transcribe_batch` equals one-by-one decodes.

The decoder pool batches the decodes of several students' streams into one CTranslate2 call, so a
stream's messages would depend on the class's load if a batch read differently from a single decode.
Two ways it did, both fixed and pinned here: a batch-wide token cap let a looping decode run on, and
one batched `align` call padded the token lists and moved word times by a 20 ms frame.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dgwidgets.audio import load_audio
from dgwidgets.engine.whisper import DecodeRequest, WhisperModel
from dgwidgets.samples import samples

from .engine_runs import pcm_of


@pytest.fixture(scope="module")
def model() -> WhisperModel:
    return WhisperModel.load()


REAL = Path(__file__).parent / "data" / "real"


def requests() -> list[DecodeRequest]:
    """Interim- and final-like decodes of growing buffers: the samples and the real recordings
    (whose read speech makes tiny.en loop on some lengths, the case that once differed)."""
    audio = [pcm_of(s.name) for s in samples()]
    audio += [load_audio(path)[:, 0] for path in sorted(REAL.glob("*.flac"))]
    out = []
    for pcm in audio:
        for seconds in (1.024, 2.048, 3.072, 4.096):
            if seconds * 16000 < pcm.size:
                for final in (False, True):
                    out.append(DecodeRequest(pcm[: int(seconds * 16000)], final=final))
    return out


def test_batches_of_any_composition_read_like_single_decodes(model):
    reqs = requests()
    single = [model.transcribe(r) for r in reqs]
    assert sum(bool(t.words) for t in single) > len(reqs) // 2  # not a run of empty results
    for seed in (1, 2):
        order = list(range(len(reqs)))
        random.Random(seed).shuffle(order)
        for k in range(0, len(order), 5):
            group = order[k : k + 5]
            batch = model.transcribe_batch([reqs[i] for i in group])
            for i, got in zip(group, batch):
                assert got == single[i], (i, single[i], got)
