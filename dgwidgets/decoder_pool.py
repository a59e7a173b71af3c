"""One pool of Whisper decode workers for every stream of a server: all cores, batched, bounded lag.

Streams submit `DecodeRequest`s (an interim or a final of their current segment) and get a
`concurrent.futures.Future` back. ``workers`` threads (default: the machine's cores) take what is
queued, finals first, and decode it in one batched CTranslate2 call per group of equal padded
length (CTranslate2 releases the GIL, so the workers really run in parallel). Finals that arrive
together are shared out among the free threads rather than batched on one (a batch's results all
wait for the whole batch). One more thread, the
*final lane*, takes finals only: a final never waits for an interim batch that is under way (a
speech_final is late by whatever its decode waited; measured, ~100-300 ms behind interims of other
streams), at the cost of a third thread sharing the cores while it runs. The model needs one
CTranslate2 replica per thread (`threads` says how many).

Degrade, never collapse: when the decoders cannot keep up, an interim that has waited longer
than ``interim_budget`` seconds is dropped (its future resolves to None and the stream skips that
interim result), so a stream's lag stays bounded; interims a new final pushes past that budget
are skipped at once rather than when a worker reaches them. Finals are never dropped and never decoded
differently because of load: batching only groups requests whose inputs have the same length,
and a batched decode gives the same words as a decode alone.

>>> class EchoModel:                      # a stand-in for WhisperModel
...     def transcribe_batch(self, requests):
...         return [f"{'final' if r.final else 'interim'} of {len(r.pcm)} samples" for r in requests]
>>> import numpy as np
>>> from dgwidgets.engine.whisper_stream import DecodeRequest
>>> with DecoderPool(EchoModel(), workers=1) as pool:
...     pool.submit(DecodeRequest(np.zeros(800, np.int16), final=True)).result()
'final of 800 samples'
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DecoderPool", "PoolStats"]

log = logging.getLogger("dgwidgets.decoder_pool")


@dataclass
class PoolStats:
    """What the pool did (read it for benchmarks and the server's log)."""

    finals: int = 0
    interims: int = 0
    interims_dropped: int = 0
    batches: int = 0
    #: seconds each request waited in the queue before its batch started
    waits: deque = field(default_factory=lambda: deque(maxlen=4096))

    @property
    def mean_batch(self) -> float:
        return (self.finals + self.interims) / self.batches if self.batches else 0.0

    def summary(self) -> str:
        waits = sorted(self.waits)
        p95 = waits[int(0.95 * (len(waits) - 1))] * 1000 if waits else 0.0
        return (
            f"{self.finals} finals, {self.interims} interims decoded in {self.batches} batches "
            f"(mean {self.mean_batch:.1f}); {self.interims_dropped} interims skipped under load; "
            f"queue wait p95 {p95:.0f} ms"
        )


@dataclass
class _Job:
    request: Any
    future: Future
    queued: float


class DecoderPool:
    """Shared decode workers for every stream (see the module docs).

    Args:
        model: has ``transcribe_batch(requests) -> list`` (`dgwidgets.engine.whisper.WhisperModel`).
        workers: decode threads; default: the machine's cores.
        max_batch: most requests decoded in one call. Small: a batch of eight saved ~30% CPU per
            decode but held its thread ~0.5 s, and finals queued behind it (measured with 16
            real-speech students: lag p95 2.5 s with batches of 8 and a budget of 0.5 s, 0.6 s with
            batches of 2 and 0.2 s; 4 and 8 students alike, and no interim skipped below 12).
        interim_budget: seconds an interim may wait in the queue before it is dropped.
        final_lane: one more thread that decodes finals only (see the module docs).
        clock: injectable for tests.
    """

    def __init__(
        self,
        model: Any,
        *,
        workers: int | None = None,
        max_batch: int = 2,
        interim_budget: float = 0.2,
        final_lane: bool = True,
        clock: Any = time.monotonic,
    ) -> None:
        self.model = model
        self.workers = self.threads_for(workers, final_lane=False)
        self.max_batch = max(1, max_batch)
        self.interim_budget = interim_budget
        self.stats = PoolStats()
        self._clock = clock
        self._finals: deque[_Job] = deque()
        self._interims: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._last_report = 0.0
        self._busy = 0  # workers inside a decode
        self._idle = 0  # threads waiting for work (they take a share of the queued finals)
        self._batch_seconds = 0.0  # moving average of one batch's decode time
        self._threads = [
            threading.Thread(target=self._work, name=f"dgwidgets-decode-{i}", daemon=True)
            for i in range(self.workers)
        ]
        if final_lane:
            self._threads.append(
                threading.Thread(target=self._work, args=(True,), name="dgwidgets-decode-finals", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def submit(self, request: Any) -> Future:
        """Queue a decode; the future resolves to its result (None: an interim dropped under load)."""
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the decoder pool is closed")
            if not request.final and self._expected_wait() > self.interim_budget:
                # Skip it now rather than when a worker frees up: the stream's thread waits for
                # this future, and a wait of a whole batch per interim is how lag grows unbounded.
                self._drop(1, self._clock())
                future.set_result(None)
                return future
            (self._finals if request.final else self._interims).append(_Job(request, future, self._clock()))
            if request.final and self._interims and self._expected_wait() > self.interim_budget:
                # Finals go first, so this one pushes every queued interim past its budget: skip
                # them now. Each has a stream thread waiting on it, which would otherwise wait
                # behind this final only to be told "skipped" (measured: lag peaks above 3 s in
                # tests/test_overload.py instead of ~2 s).
                self._skip_queued_interims()
            self._cond.notify_all()  # the final lane must not swallow the wake-up meant for an interim
        return future

    def _skip_queued_interims(self) -> None:
        """Resolve every queued interim as skipped (caller holds the lock)."""
        dropped = 0
        while self._interims:
            job = self._interims.popleft()
            if job.future.set_running_or_notify_cancel():
                job.future.set_result(None)
                dropped += 1
        if dropped:
            self._drop(dropped, self._clock())

    def _expected_wait(self) -> float:
        """Seconds a request queued now would wait for a decoder (estimate; caller holds the lock)."""
        queued = len(self._finals) + len(self._interims)
        rounds = -(-queued // self.max_batch) + (0.5 if self._busy >= self.workers else 0.0)
        return rounds * self._batch_seconds / self.workers

    def _drop(self, dropped: int, now: float) -> None:
        self.stats.interims_dropped += dropped
        if now - self._last_report > 10.0:  # a log line, not a flood
            self._last_report = now
            # INFO, not WARNING: skipping interims is the designed degradation, not a fault. `dgwidgets
            # serve` logs INFO; in a notebook kernel a WARNING would print a red stderr box per lab.
            log.info("decoders behind: %d interim results skipped so far (finals unaffected)",
                        self.stats.interims_dropped)

    def close(self) -> None:
        """Stop the workers once the queue is empty (queued requests are still decoded)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def threads(self) -> int:
        """Decode threads, the final lane included: the CTranslate2 replicas the model needs."""
        return len(self._threads)

    @staticmethod
    def threads_for(workers: int | None = None, *, final_lane: bool = True) -> int:
        """The decode threads a pool built with these arguments runs, for sizing its model first.

        >>> DecoderPool.threads_for(2), DecoderPool.threads_for(2, final_lane=False)
        (3, 2)
        """
        return max(1, workers or os.cpu_count() or 1) + (1 if final_lane else 0)

    def _take(self, finals_only: bool = False) -> list[_Job]:
        """Up to max_batch runnable jobs, finals first; drops stale interims. Caller holds the lock."""
        batch: list[_Job] = []
        now = self._clock()
        # Finals are shared out among the threads that are free to take them: one thread decoding
        # three finals in one batch makes all three wait for the whole batch (measured: three
        # streams ending together, ~375 ms each, against ~190 ms on three threads). Interims and
        # a busy pool still batch, for throughput.
        share = -(-len(self._finals) // (1 + self._idle))
        while self._finals and len(batch) < min(self.max_batch, share):
            batch.append(self._finals.popleft())
        if finals_only:
            return [job for job in batch if job.future.set_running_or_notify_cancel()]
        dropped = 0
        while self._interims and len(batch) < self.max_batch:
            job = self._interims.popleft()
            if now - job.queued > self.interim_budget:
                dropped += 1
                if job.future.set_running_or_notify_cancel():
                    job.future.set_result(None)
                continue
            batch.append(job)
        if dropped:
            self._drop(dropped, now)
        return [job for job in batch if job.future.set_running_or_notify_cancel()]

    def _work(self, finals_only: bool = False) -> None:
        # First-use costs (a forced-alignment decoder, CTranslate2's first call) are paid here, once
        # per worker, while the first stream is still in its first second of audio: measured, the
        # first two speech_finals of a fresh server otherwise came ~0.4-1 s later than the rest.
        warm_up = getattr(self.model, "warm_up", None)
        if warm_up is not None:
            try:
                warm_up()
            except Exception:  # a real request will meet the same fault and report it to its stream
                log.debug("decode worker warm-up failed", exc_info=True)
        while True:
            with self._cond:
                while not (self._finals or (self._interims and not finals_only) or self._closed):
                    self._idle += 1
                    try:
                        self._cond.wait()
                    finally:
                        self._idle -= 1
                if self._closed and not (self._finals or (self._interims and not finals_only)):
                    return
                batch = self._take(finals_only)
                if not batch:
                    continue
                started = self._clock()
                if not finals_only:  # the final lane is not one of the workers interims wait for
                    self._busy += 1
                self.stats.batches += 1
                for job in batch:
                    self.stats.waits.append(started - job.queued)
                    if job.request.final:
                        self.stats.finals += 1
                    else:
                        self.stats.interims += 1
            try:
                results = self.model.transcribe_batch([job.request for job in batch])
            except BaseException as err:  # every waiting stream hears of it
                for job in batch:
                    job.future.set_exception(err)
                continue
            finally:
                with self._cond:
                    if not finals_only:
                        self._busy -= 1
                    took = self._clock() - started
                    self._batch_seconds = took if not self._batch_seconds else 0.7 * self._batch_seconds + 0.3 * took
            for job, result in zip(batch, results):
                job.future.set_result(result)
