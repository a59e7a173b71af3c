"""The local server's ``/v2/listen`` (Flux) streams: the I/O shell around the pure `FluxTranscriber`.

`dgwidgets.server` routes ``/v2/listen`` here after its shared checks (the API key, the audio
format, the connection limit); this module owns one Flux stream: a receive loop reading
audio and control messages, a processing loop running recognition in the server's worker
threads, and the `Sequencer` that numbers every message the client gets.

Wire behaviour (see ``docs/flux.md``): ``Connected`` first, with a ``turn_detector`` field
saying which end-of-turn signal runs; ``TurnInfo`` as the audio is processed; ``Configure``
answered by exactly one ``ConfigureSuccess`` or ``ConfigureFailure``; ``ForceEndTurn`` ends the
open turn (``EndOfTurn``, ``trigger: manual``) or, with no words heard, gets a ``Warning``; other
text messages (KeepAlive, Finalize, bad JSON) get a ``Warning`` and the stream goes on;
``CloseStream`` or the client closing ends the stream (close 1000) after the queued audio is
processed; undecodable audio gets ``Error`` and close 1008; neither a frame nor a websocket ping for the
server's inactivity timeout gets ``Error`` and close 1011.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .engine.smart_turn import EndOfTurnDetector, default_detector
from .engine.turns import FluxTranscriber, TurnSettings
from .engine.whisper import ModelChecksumError, ModelNotFoundError
from .flux import (
    FLUX_PATH,
    FluxOptions,
    Sequencer,
    apply_configure,
    configure_failure,
    configure_success,
    connected,
    error,
    parse_client_message,
    turn_info,
    warning,
)
from .protocol import OptionsError
from .wire_audio import AudioDecodeError, StreamDecoder

__all__ = ["FLUX_PATH", "FluxStream", "shared_detector"]

log = logging.getLogger("dgwidgets.server")

#: Errors that mean the machine's model setup is wrong (a stream then closes saying so, v1 and v2 alike).
MODEL_UNAVAILABLE = (ModelNotFoundError, ModelChecksumError)


def close_reason(text: str) -> str:
    """``text`` cut to a websocket close reason's 123 UTF-8 bytes (with an ellipsis when cut).

    >>> close_reason("short")
    'short'
    >>> len(close_reason("x" * 200).encode())
    123
    """
    data = text.encode()
    if len(data) <= 123:
        return text
    return data[:120].decode(errors="ignore") + "..."


@functools.lru_cache(maxsize=1)
def shared_detector() -> EndOfTurnDetector:
    """One detector for all streams (Smart Turn's onnxruntime session is thread-safe and costs ~9 MB)."""
    return default_detector()


def settings_of(options: FluxOptions) -> TurnSettings:
    return TurnSettings(
        eot_threshold=options.eot_threshold,
        eager_eot_threshold=options.eager_eot_threshold,
        eot_timeout_ms=options.eot_timeout_ms,
    )


class FluxStream:
    """One accepted ``/v2/listen`` stream."""

    def __init__(
        self,
        ws: ServerConnection,
        options: FluxOptions,
        request_id: str,
        *,
        executor: Any,
        recognizer_factory: Callable[..., Any],
        inactivity_timeout: float,
        queue_frames: int,
        detector: EndOfTurnDetector | None = None,
    ) -> None:
        self.ws = ws
        self.options = options
        self.request_id = request_id
        self.executor = executor
        self.recognizer_factory = recognizer_factory
        self.inactivity_timeout = inactivity_timeout
        self.detector = detector or shared_detector()
        self.stamp = Sequencer(request_id)
        self.decoder = StreamDecoder(encoding=options.encoding, sample_rate=options.sample_rate, channels=1)
        self.flux: FluxTranscriber | None = None
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=queue_frames)
        self.ended = asyncio.Event()
        self._keyterms = options.keyterm

    async def run(self) -> None:
        await self._send([connected(turn_detector=self.detector.name)])
        processor = asyncio.create_task(self._process(), name=f"dgwidgets-flux-{self.request_id}")
        try:
            await self._receive()
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("flux stream %s: receive loop failed", self.request_id)
            await self._put(("fail", None))
        finally:
            await self._put(("gone", None))
            try:
                await asyncio.shield(processor)
            except asyncio.CancelledError:
                processor.cancel()
                raise

    # -- receiving ------------------------------------------------------------------------------

    async def _put(self, item: tuple[str, Any]) -> None:
        # As in the v1 stream: never wait for queue space once the processor has stopped reading.
        if self.ended.is_set():
            return
        if not self.queue.full():
            self.queue.put_nowait(item)
            return
        put = asyncio.ensure_future(self.queue.put(item))
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({put, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (put, ended):
                waiter.cancel()

    async def _receive(self) -> None:
        done = False
        while True:
            if done or self.ended.is_set():
                await self.ws.recv()  # read and drop until the client's close frame
                continue
            try:
                frame = await self._next_frame()
            except asyncio.TimeoutError:
                await self._put(("timeout", None))
                done = True
                continue
            if isinstance(frame, bytes):
                if frame:
                    await self._put(("audio", frame))
                continue
            message = parse_client_message(frame)
            if message.kind == "CloseStream":
                await self._put(("close", None))
                done = True
            else:
                await self._put((message.kind, message))

    async def _next_frame(self) -> Any:
        """The next frame; TimeoutError after `inactivity_timeout` s with neither a frame nor a ping.

        Websocket pings count as activity (Flux has no KeepAlive; Deepgram's advice for a stream
        whose audio pauses is to ping it, which the kit's client does every few seconds).
        """
        loop = asyncio.get_running_loop()
        since = loop.time()
        receiving = asyncio.ensure_future(self.ws.recv())
        try:
            while True:
                last_ping = getattr(self.ws, "last_ping", None)
                active = max(since, last_ping) if last_ping is not None else since
                remaining = active + self.inactivity_timeout - loop.time()
                if remaining <= 0:
                    raise asyncio.TimeoutError
                done, _ = await asyncio.wait({receiving}, timeout=remaining)
                if done:
                    return receiving.result()
        finally:
            if not receiving.done():
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await receiving

    # -- processing -----------------------------------------------------------------------------

    async def _process(self) -> None:
        try:
            while True:
                kind, payload = await self.queue.get()
                if kind == "audio":
                    await self._send(await self._run(self._feed, payload))
                elif kind == "Configure":
                    await self._send([self._configure(payload.data)])
                elif kind == "ForceEndTurn":
                    await self._send(await self._run(self._force_end))
                elif kind == "invalid":
                    await self._send([warning("UNSUPPORTED_MESSAGE", payload.reason)])
                elif kind in ("close", "gone"):
                    await self._send(await self._run(self._close))
                    self.ended.set()
                    await self.ws.close(1000, "")
                    return
                elif kind == "timeout":
                    self.ended.set()
                    await self._send(
                        [error("NET-0001", "No audio or text message was received within the timeout window.")]
                    )
                    await self.ws.close(1011, "NET-0001")
                    return
                elif kind == "fail":
                    raise RuntimeError("the receive loop failed")
        except AudioDecodeError as err:
            log.info("flux stream %s: undecodable audio: %s", self.request_id, err)
            self.ended.set()
            with contextlib.suppress(ConnectionClosed):
                await self._send([error("DATA-0000", f"The audio could not be decoded: {err}")])
                await self.ws.close(1008, "DATA-0000")
        except ConnectionClosed:
            pass
        except MODEL_UNAVAILABLE as err:  # the machine's setup, not a bug: say what is wrong
            log.error("flux stream %s: %s", self.request_id, err)
            self.ended.set()
            with contextlib.suppress(Exception):
                await self._send([error("INTERNAL_SERVER_ERROR", f"local model unavailable: {err}")])
                await self.ws.close(1011, close_reason(f"local model unavailable: {err}"))
        except Exception:
            log.exception("flux stream %s failed", self.request_id)
            self.ended.set()
            with contextlib.suppress(Exception):
                await self._send([error("INTERNAL_SERVER_ERROR", "internal error in the dgwidgets local engine")])
                await self.ws.close(1011, "internal error in the dgwidgets local engine")
        finally:
            self.ended.set()
            while not self.queue.empty():
                self.queue.get_nowait()

    async def _run(self, fn: Callable[..., list[dict[str, Any]]], *args: Any) -> list[dict[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _ensure(self) -> FluxTranscriber:
        if self.flux is None:
            recognizer = self.recognizer_factory(list(self.options.keyterm))
            self.flux = FluxTranscriber(recognizer, self.detector, settings_of(self.options))
        return self.flux

    @staticmethod
    def _mono(pcm: np.ndarray) -> np.ndarray:
        if pcm.ndim == 2:
            pcm = pcm[:, 0] if pcm.shape[1] == 1 else pcm.astype(np.int32).mean(axis=1).astype(np.int16)
        return np.ascontiguousarray(pcm, dtype=np.int16)

    def _feed(self, data: bytes) -> list[dict[str, Any]]:
        pcm = self.decoder.decode(data)
        if not self.decoder.ready or not pcm.size:
            return []
        return [turn_info(e) for e in self._ensure().feed(self._mono(pcm))]

    def _force_end(self) -> list[dict[str, Any]]:
        events = self.flux.machine.force_end() if self.flux is not None else []
        if not events:
            return [warning("NO_ACTIVE_TURN", "ForceEndTurn: no words have been heard since the last EndOfTurn.")]
        return [turn_info(e) for e in events]

    def _close(self) -> list[dict[str, Any]]:
        if self.flux is None:
            return []
        with contextlib.suppress(AudioDecodeError):
            tail = self.decoder.flush()
            if tail.size:
                return [turn_info(e) for e in self.flux.feed(self._mono(tail))]
        return []

    def _configure(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            new = apply_configure(self.options, data)
        except OptionsError as err:
            shown = "" if err.value is None else err.value
            return configure_failure(
                "INVALID_CONFIGURATION", f"Invalid '{err.parameter}' value of '{shown}': {err.rule}."
            )
        self.options = new
        if self.flux is not None:
            self.flux.machine.configure(settings_of(new))
            # New keyterms bias the recognizer from the next turn on (a recognizer is built with its terms).
            if new.keyterm != self._keyterms:
                self.flux.machine.next_recognizer = lambda: self.recognizer_factory(list(new.keyterm))
        self._keyterms = new.keyterm
        return configure_success(new)

    async def _send(self, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            await self.ws.send(json.dumps(self.stamp(body)))
