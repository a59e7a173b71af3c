"""Forced alignment in worker processes, for a server's decoder pool.

pocketsphinx holds Python's GIL for the whole of an alignment (measured: a thread spinning beside
it ran at 2% of its speed), ~15 ms per second of audio. In a server every final is aligned, so with
a class connected the alignments held the GIL for a large share of the time, and every other
stream's VAD, the websocket loop and the other decode worker waited for it. `AlignerProcesses`
has `ForcedAligner`'s interface (``align``, ``prepare``) and runs it in separate processes: the
decode thread that asks waits on a future, without the GIL, and the answer is the same (each
alignment starts from the same CMN state, so it depends on its audio and words alone).

The pure `dgwidgets.engine.whisper.WhisperModel` does not know where its aligner runs: a shell
gives it one with ``model.with_aligner(AlignerProcesses())`` and closes it when done.

>>> import numpy as np
>>> with AlignerProcesses() as aligner:
...     aligner.align(np.zeros(1600, dtype=np.int16), ["zyxwq"]) is None   # not in the dictionary
True
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from .engine.alignment import ForcedAligner

__all__ = ["AlignerProcesses"]

log = logging.getLogger("dgwidgets.aligner")

_aligner: ForcedAligner | None = None  # one per worker process


def _exit_with_parent() -> None:
    """Worker initializer: end this process when the one that started it ends.

    A server killed outright (SIGKILL, a timeout) never shuts its pool down, and its idle worker
    would wait for work forever (seen: an orphan aligner left behind by a killed benchmark).
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="dgwidgets-aligner-parent-watch", daemon=True).start()


def _worker_aligner() -> ForcedAligner:
    global _aligner
    if _aligner is None:
        _aligner = ForcedAligner()
    return _aligner


def _prepare() -> int:
    aligner = _worker_aligner()
    if not aligner.pooled:
        aligner.prepare()
    return aligner.pooled


def _align(pcm: np.ndarray, words: list[str]) -> list[tuple[float, float]] | None:
    return _worker_aligner().align(pcm, words)


class AlignerProcesses:
    """`ForcedAligner.align` in ``processes`` worker processes (see the module docs); an `Aligner`.

    Processes start on first use ("spawn": the caller may have threads, as a notebook kernel does)
    and stop at `close`; a call after `close` starts them again. If they cannot run (a broken
    pool, a platform without process support), alignment falls back to this process's own
    `ForcedAligner` and says so once in the log.
    """

    def __init__(self, processes: int = 1) -> None:
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._local: ForcedAligner | None = None  # the fallback

    def _pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._local is not None:
                return None
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent
                )
            return self._executor

    def _fall_back(self, err: BaseException) -> ForcedAligner:
        with self._lock:
            if self._local is None:
                log.warning("forced alignment runs in this process (worker processes failed: %s)", err)
                self._local = ForcedAligner()
                if self._executor is not None:
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = None
            return self._local

    def prepare(self) -> None:
        """Start the processes and their pocketsphinx decoders now (~1 s), not at the first final."""
        pool = self._pool()
        if pool is None:
            self._local.prepare()  # type: ignore[union-attr]
            return
        try:
            for future in [pool.submit(_prepare) for _ in range(self.processes)]:
                future.result()
        except (BrokenProcessPool, OSError) as err:
            self._fall_back(err).prepare()

    def align(self, pcm: np.ndarray, words: Sequence[str]) -> list[tuple[float, float]] | None:
        """As `ForcedAligner.align`: (start, end) seconds for each word, or None."""
        if not words or pcm.size < 1600:
            return None
        pool = self._pool()
        if pool is None:
            return self._local.align(pcm, words)  # type: ignore[union-attr]
        try:
            return pool.submit(_align, pcm, list(words)).result()
        except (BrokenProcessPool, OSError) as err:
            return self._fall_back(err).align(pcm, words)

    def close(self) -> None:
        """Stop the worker processes (waits for alignments under way)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> AlignerProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
