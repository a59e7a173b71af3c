"""The local engine's live server: Deepgram's `/v1/listen` websocket protocol on this machine.

An I/O shell around the pure `StreamTranscriber`: it validates the handshake like Deepgram
(400/401 JSON bodies with `dg-error` and `dg-request-id` headers), decodes the audio frames,
runs recognition in worker threads (so one slow stream never stalls another), and answers
the control messages (KeepAlive, Finalize with its optional channel, CloseStream, Configure
answered by exactly one ConfigureSuccess or ConfigureFailure, SchemaError for anything else). A
stream that sends nothing for `inactivity_timeout` seconds gets Metadata and close 1011
(NET-0001); one that has sent no audio `response_timeout` seconds after it opened (only
KeepAlive or other text) gets Metadata and close 1011 (NET-0000); audio that cannot be decoded gets Metadata and close 1008 (DATA-0000). Query options
the local engine does not emulate (diarize, language=multi, …) are named in a
`dgwidgets-warning` handshake header and in the server log.

Run it for a class with ``dgwidgets serve``, or embedded in a notebook or a test:

>>> with BackgroundServer() as server:          # port 0: a free port
...     server.url.startswith("ws://127.0.0.1:") and server.url.endswith("/v1/listen")
True
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.http11 import Request, Response

from . import redaction
from .aligner_processes import AlignerProcesses
from .decoder_pool import DecoderPool
from .engine.models import LocalModel, UnknownModelError, load_whisper, resolve_model
from .engine.models import recognizer_factory as factory_for_model
from .engine.smart_turn import EndOfTurnDetector
from .engine.transcriber import RecognizerFactory, StreamTranscriber
from .flux import FluxOptions
from .flux_server import FLUX_PATH, MODEL_UNAVAILABLE, FluxStream, close_reason
from .protocol import (
    CONFIGURABLE_FEATURES,
    KEYTERM_TOKEN_LIMIT,
    ConfigureFailure,
    ConfigureRequest,
    ConfigureSuccess,
    ErrorMessage,
    LiveOptions,
    Message,
    MessageError,
    Metadata,
    OptionsError,
    Results,
    is_nova3_model,
    parse_configure,
    serialize_message,
)
from .wire_audio import LOCAL_ENCODINGS, MAX_CHANNELS, MIN_SAMPLE_RATE, AudioDecodeError, StreamDecoder

redaction.install()

__all__ = [
    "LocalServer",
    "BackgroundServer",
    "ServerSettings",
    "LISTEN_PATH",
    "NET_0001",
    "NET_0000",
    "DATA_0000",
    "WARNING_HEADER",
]

log = logging.getLogger("dgwidgets.server")

LISTEN_PATH = "/v1/listen"
#: Deepgram's close reason when a stream goes quiet (close code 1011).
NET_0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001"
)
#: Deepgram's close reason when a stream has had no response within its window (close code 1011):
#: what a client that sends KeepAlive but never audio gets (SDK issues report it after 20-30 s).
NET_0000 = "Deepgram did not provide a response message within the timeout window. See https://dpgr.am/net0000"
#: Deepgram's close reason when the payload cannot be decoded as audio (close code 1008).
DATA_0000 = "DATA-0000"
#: Handshake header naming the query options the local engine ignores (Deepgram would apply them).
WARNING_HEADER = "dgwidgets-warning"


@dataclass(frozen=True)
class ServerSettings:
    """Limits and behaviour of a local server (defaults suit a classroom on one machine)."""

    api_key: str | None = field(default=None, repr=False)  # never shown in a repr
    #: Seconds without audio or a text message before close 1011 (Deepgram: about 10 s).
    inactivity_timeout: float = 10.0
    #: Seconds after the stream opens by which audio must have arrived, else close 1011 (NET-0000):
    #: KeepAlive keeps a stream open only once audio flows. Deepgram's SDK issues report
    #: 20-30 s; the kit takes the low end, so a client that survives here survives on Deepgram.
    response_timeout: float = 20.0
    #: Largest accepted websocket frame; bigger frames close the stream (1009).
    max_frame_bytes: int = 4 * 1024 * 1024
    #: Streams served at once; more get HTTP 429 at the handshake.
    max_connections: int = 64
    #: Whisper decode threads shared by all streams (CTranslate2 releases the GIL: one per core).
    #: pocketsphinx (``model=pocketsphinx``) runs in the streams' own threads and holds the GIL,
    #: so it uses about one core whatever this says.
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: A CTranslate2 Whisper directory that replaces the packaged tiny.en (else $DGWIDGETS_WHISPER_MODEL).
    whisper_model: str | None = None
    #: Seconds an interim decode may wait for a decoder before it is skipped (finals never are).
    interim_budget: float = 0.2
    #: Audio frames queued per stream before reading from the socket pauses (backpressure).
    queue_frames: int = 256


@dataclass(frozen=True)
class _Format:
    encoding: str | None
    sample_rate: int | None
    channels: int


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


#: Longest `dg-error` header value; clients refuse header lines over 8 KiB (websockets, aiohttp, browsers).
_MAX_ERROR_HEADER = 2048
_HEADER_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _header_text(message: str) -> str:
    """`message` as a valid HTTP header value: printable ASCII, other characters escaped, length bounded.

    The JSON body keeps the exact text; a query value with a newline, a control character or a
    character outside Latin-1 would otherwise be refused by websockets (a 500 instead of the 400).

    >>> print(_header_text("Invalid 'x' value of 'a\\r\\nb\u2713'."))
    Invalid 'x' value of 'a\\r\\nb\\u2713'.
    """
    text = _HEADER_UNSAFE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), message)
    return text if len(text) <= _MAX_ERROR_HEADER else text[: _MAX_ERROR_HEADER - 3] + "..."


def _json_response(status: int, code: str, message: str, request_id: str) -> Response:
    body = json.dumps({"err_code": code, "err_msg": message, "request_id": request_id}).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("dg-request-id", request_id),
            ("dg-error", _header_text(message)),
            ("Connection", "close"),
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, body)


def _presented_key(request: Request) -> str | None:
    """The key a client presents: `Authorization: Token K` / `Bearer K`, or the `token, K` subprotocol."""
    auth = request.headers.get("Authorization")
    if auth:
        scheme, _, credential = auth.strip().partition(" ")
        if scheme.lower() in ("token", "bearer") and credential.strip():
            return credential.strip()
        return ""
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    if len(protocols) >= 2 and protocols[0].lower() in ("token", "bearer"):
        return protocols[1]
    return None


def _options_error_text(err: OptionsError) -> str:
    if err.wire_message:
        return err.wire_message
    shown = "" if err.value is None else err.value
    return f"Invalid '{err.parameter}' value of '{shown}'."


class _Stream:
    """One accepted stream: receive loop, processing loop, and the transcriber they share."""

    def __init__(
        self, server: LocalServer, ws: ServerConnection, options: LiveOptions, request_id: str, model: LocalModel
    ) -> None:
        self.server = server
        self.ws = ws
        self.options = options
        self.model = model
        self.request_id = request_id
        self.created = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.sha = hashlib.sha256()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=server.settings.queue_frames)
        self.decoder = StreamDecoder(
            encoding=options.encoding, sample_rate=options.sample_rate, channels=options.channels
        )
        self.transcriber: StreamTranscriber | None = None
        #: Set when the processor stops reading the queue (the stream is closing or closed).
        self.ended = asyncio.Event()
        #: Audio has arrived or a transcript has gone out: the NET-0000 window no longer applies.
        #: (Deepgram also closes a stream whose few bytes of audio gave no transcript; the local engine
        #: does not, since its own recognition time, not the client, would decide the outcome.)
        self.responded = False
        #: Configure messages queued and not answered yet (a second one meanwhile is refused).
        self.configures_pending = 0

    async def run(self) -> None:
        processor = asyncio.create_task(self._process(), name=f"dgwidgets-stream-{self.request_id}")
        try:
            await self._receive()
        except ConnectionClosed:
            pass
        except Exception:  # a bug in the receive loop: the client hears of it (1011) and the server goes on
            log.exception("stream %s: receive loop failed", self.request_id)
            await self._put(("error", None))
        finally:
            # The client is gone (or asked to close): let the processor finish what was queued.
            await self._put(("gone", None))
            try:
                await asyncio.shield(processor)
            except asyncio.CancelledError:  # the handler itself is cancelled (loop shutdown): leave no task behind
                processor.cancel()
                raise

    # -- receiving ------------------------------------------------------------------------------

    async def _put(self, item: tuple[str, Any]) -> None:
        """Queue an item for the processor; dropped once the processor has stopped reading the queue.

        Waiting for queue space (backpressure) must not outlive the processor: after it closes the
        stream (1008, an internal error, a send to a vanished client) nothing would free the space.
        """
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
        settings = self.server.settings
        timeout = settings.inactivity_timeout
        loop = asyncio.get_running_loop()
        last_frame = loop.time()
        no_response_deadline = last_frame + settings.response_timeout
        done = False
        while True:
            if done or self.ended.is_set():
                # The stream is ending: keep reading (and dropping) frames so that the client's close
                # frame is seen at once, however much audio it sent after CloseStream; the closed
                # connection ends this loop with ConnectionClosed.
                await self.ws.recv()
                continue
            now = loop.time()
            wait = last_frame + timeout - now
            if not self.responded:
                wait = min(wait, no_response_deadline - now)
            try:
                # Cancelling recv() loses nothing in websockets' asyncio implementation.
                frame = await asyncio.wait_for(self.ws.recv(), max(wait, 0.0))
            except asyncio.TimeoutError:
                now = loop.time()
                if now >= last_frame + timeout:
                    await self._put(("timeout", None))
                    done = True
                elif not self.responded and now >= no_response_deadline:
                    await self._put(("no_response", None))
                    done = True
                continue
            last_frame = loop.time()
            if isinstance(frame, bytes):
                if not frame:  # the legacy close signal
                    await self._put(("close", None))
                    done = True
                    continue
                self.sha.update(frame)
                self.responded = True
                await self._put(("audio", frame))
                # Time spent waiting for queue space (our own backpressure: recognition is behind)
                # is not the client's silence.
                last_frame = loop.time()
                continue
            kind, data = self._control(frame)
            if kind == "KeepAlive":
                continue
            if kind == "Finalize":
                await self._put(("finalize", (data, frame)))
            elif kind == "CloseStream":
                await self._put(("close", None))
                done = True
            elif kind == "Configure":
                if self.configures_pending:
                    # answered in turn, after the earlier Configure's own answer
                    await self._put(
                        (
                            "reply",
                            ConfigureFailure(
                                self.request_id,
                                "CONFIGURE_ALREADY_PENDING",
                                "Another Configure message is still awaiting its response.",
                            ),
                        )
                    )
                else:
                    self.configures_pending += 1
                    await self._put(("configure", data))
            else:
                await self._put(("reply", self._schema_error(kind, frame)))

    @staticmethod
    def _schema_error(reason: str, text: str) -> ErrorMessage:
        return ErrorMessage(
            variant="SchemaError", description=f"Could not deserialize last text message: {reason}", message=text
        )

    @staticmethod
    def _control(text: str) -> tuple[str, Any]:
        """(type, what it carries) for a valid control message, else (the reason it is not one, None).

        Finalize carries its channel (None: all channels), Configure its `ConfigureRequest`.
        """
        try:
            data = json.loads(text)
        except RecursionError:  # e.g. "[[[[..." nested deeper than Python's recursion limit
            return "not valid JSON (nested too deeply)", None
        except ValueError as err:
            return f"not valid JSON ({err})", None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return 'expected an object with a "type" field', None
        kind = data["type"]
        if kind in ("KeepAlive", "CloseStream"):
            return kind, None
        if kind == "Finalize":
            channel = data.get("channel")
            if channel is not None and (not isinstance(channel, int) or isinstance(channel, bool) or channel < 0):
                return f"Finalize: channel must be a channel index (0, 1, ...), got {channel!r}"[:300], None
            return kind, channel
        if kind == "Configure":
            try:
                return kind, parse_configure(data)
            except MessageError as err:
                return str(err)[:300], None
        shown = repr(kind) if len(kind) <= 100 else repr(kind[:100]) + "..."
        return f"unknown variant {shown}, expected one of KeepAlive, Finalize, CloseStream, Configure", None

    # -- processing -----------------------------------------------------------------------------

    async def _process(self) -> None:
        try:
            while True:
                kind, payload = await self.queue.get()
                if kind == "audio":
                    await self._send_all(await self._run(self._feed, payload))
                elif kind == "finalize":
                    await self._send_all(await self._run(self._finalize, *payload))
                elif kind == "configure":
                    answer = await self._run(self._configure, payload)
                    self.configures_pending -= 1
                    await self._send_all(answer)
                elif kind == "reply":
                    await self._send_all([payload])
                elif kind in ("close", "gone"):
                    await self._finish(1000, "")
                    return
                elif kind == "timeout":
                    await self._finish(1011, NET_0001)
                    return
                elif kind == "no_response":
                    await self._finish(1011, NET_0000)
                    return
                elif kind == "error":
                    raise RuntimeError("the receive loop failed")
        except AudioDecodeError as err:
            log.info("stream %s: undecodable audio: %s", self.request_id, err)
            with contextlib.suppress(ConnectionClosed):  # the client may be gone already
                await self._finish(1008, DATA_0000, flush=False)
        except ConnectionClosed:
            pass
        except MODEL_UNAVAILABLE as err:
            # Not a bug but the machine's setup: say what is wrong, in the log and in the close reason
            # (the client prints it), without a traceback.
            log.error("stream %s: %s", self.request_id, err)
            self.ended.set()
            with contextlib.suppress(Exception):
                await self.ws.close(1011, close_reason(f"local model unavailable: {err}"))
        except Exception:  # a bug must not take the server down, and the client must hear of it
            log.exception("stream %s failed", self.request_id)
            self.ended.set()
            with contextlib.suppress(Exception):
                await self.ws.close(1011, "internal error in the dgwidgets local engine")
        finally:
            # Nothing reads the queue any more: free it, and let the receive loop drop what comes.
            self.ended.set()
            while not self.queue.empty():
                self.queue.get_nowait()

    async def _run(self, fn: Callable[..., list[Message]], *args: Any) -> list[Message]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.server.executor, fn, *args)

    def _ensure_transcriber(self) -> StreamTranscriber:
        if self.transcriber is None:
            options = self.options
            if options.channels != self.decoder.channels:
                options = options.replace(channels=self.decoder.channels)
            self.transcriber = StreamTranscriber(
                options,
                request_id=self.request_id,
                recognizer_factory=self.server.recognizer_factory_for(self.model),
                model=self.model,
            )
        return self.transcriber

    def _feed(self, data: bytes) -> list[Message]:
        pcm = self.decoder.decode(data)
        if not self.decoder.ready:
            return []
        transcriber = self._ensure_transcriber()
        return transcriber.feed(pcm) if pcm.size else []

    def _finalize(self, channel: int | None, text: str) -> list[Message]:
        if self.transcriber is None:
            return []
        count = len(self.transcriber.channels)
        if channel is not None and channel >= count:
            shown = "the stream is transcribed as one channel (0)" if count == 1 else f"it has channels 0-{count - 1}"
            return [self._schema_error(f"Finalize: no channel {channel}: {shown}", text)]
        return self.transcriber.finalize(channel)

    def _configure(self, request: ConfigureRequest) -> list[Message]:
        """Answer one Configure with one ConfigureSuccess or ConfigureFailure; a failure applies nothing."""
        rid = self.request_id
        if request.keyterms is not None:
            model = self.options.model
            if model is not None and not is_nova3_model(model):
                # the local engine could, but Deepgram refuses it: teach the same rule
                return [
                    ConfigureFailure(
                        rid,
                        "CONFIGURE_KEYTERMS_NOT_SUPPORTED",
                        f"Updating keyterms mid-stream needs a Nova-3 model; this stream asked for {model!r}.",
                    )
                ]
            if request.token_count() > KEYTERM_TOKEN_LIMIT:
                return [
                    ConfigureFailure(
                        rid,
                        "CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
                        f"The keyterms hold {request.token_count()} tokens; the limit is {KEYTERM_TOKEN_LIMIT}.",
                    )
                ]
        unknown = sorted(set(request.features) - set(CONFIGURABLE_FEATURES))
        if unknown:
            return [
                ConfigureFailure(
                    rid,
                    "CONFIGURE_INTERNAL_ERROR",
                    f"The dgwidgets local engine cannot switch {', '.join(unknown)} mid-stream "
                    f"(it can switch {', '.join(CONFIGURABLE_FEATURES)}).",
                )
            ]
        numerals = request.features.get("numerals")
        changes: dict[str, Any] = {}
        if numerals is not None:
            changes["numerals"] = numerals
        if request.keyterms is not None:
            changes.update(keyterm=request.keyterms, keywords=())
        if changes:
            self.options = self.options.replace(**changes)  # a transcriber made later starts with them
            if self.transcriber is not None:
                self.transcriber.configure(keyterms=request.keyterms, numerals=numerals)
        return [ConfigureSuccess(rid, keyterms=request.keyterms)]

    def _close(self) -> list[Message]:
        if self.transcriber is None:
            return []
        with contextlib.suppress(AudioDecodeError):
            tail = self.decoder.flush()
            out = self.transcriber.feed(tail) if tail.size else []
            return out + self.transcriber.close()
        return self.transcriber.close()

    async def _finish(self, code: int, reason: str, *, flush: bool = True) -> None:
        messages = await self._run(self._close) if flush else []
        self.ended.set()  # from here on, incoming frames are read and dropped
        messages.append(self._metadata())
        await self._send_all(messages)
        await self.ws.close(code, reason)

    def _metadata(self) -> Metadata:
        duration = self.transcriber.duration if self.transcriber is not None else 0.0
        return Metadata(
            request_id=self.request_id,
            sha256=self.sha.hexdigest(),
            created=self.created,
            duration=round(duration, 6),
            channels=self.decoder.channels,
            models=(self.model.model_uuid,),
            model_info={self.model.model_uuid: self.model.model_info},
        )

    async def _send_all(self, messages: Sequence[Message]) -> None:
        for message in messages:
            await self.ws.send(serialize_message(message))
            if isinstance(message, Results):
                self.responded = True


class PingAwareConnection(ServerConnection):
    """A server connection that remembers when the client last sent a websocket ping.

    Flux has no KeepAlive message: Deepgram's advice for an idle ``/v2/listen`` stream is websocket
    pings, which the websockets library answers itself without handing them to ``recv()``. The
    Flux stream's inactivity timer reads `last_ping` so that a pinging client keeps its stream open.
    """

    last_ping: float | None = None  # loop time of the most recent ping frame

    def process_event(self, event: Any) -> None:
        if getattr(event, "opcode", None) is Opcode.PING:
            self.last_ping = self.loop.time()
        super().process_event(event)


class LocalServer:
    """The live server, on an asyncio loop you own (see `BackgroundServer` for a thread).

    >>> async def main():
    ...     async with LocalServer(port=0) as server:
    ...         return server.url.startswith("ws://127.0.0.1:")
    >>> asyncio.run(main())
    True
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        settings: ServerSettings | None = None,
        api_key: str | None = None,
        recognizer_factory: RecognizerFactory | None = None,
        turn_detector: EndOfTurnDetector | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.settings = settings or ServerSettings()
        if api_key is not None:
            self.settings = ServerSettings(**{**self.settings.__dict__, "api_key": api_key})
        #: a fixed recognizer for every stream (tests); None: the one each stream's `model` selects
        self.recognizer_factory = recognizer_factory
        #: the end-of-turn signal of /v2/listen streams (None: Smart Turn if installed, else the fallback)
        self.turn_detector = turn_detector
        # One thread per stream at most: a stream's thread waits for its decodes in the pool.
        self.executor = ThreadPoolExecutor(self.settings.max_connections, thread_name_prefix="dgwidgets-engine")
        self._pools: dict[str | None, DecoderPool] = {}
        self._aligners: list[AlignerProcesses] = []  # each pool's, closed with it
        self._pools_lock = threading.Lock()
        self._executor_closed = False
        self._server: Server | None = None
        self._active = 0
        self._streams: set[asyncio.Task] = set()

    def __repr__(self) -> str:  # never show the key
        keyed = "with api key" if self.settings.api_key else "no api key"
        return f"<LocalServer {self.url if self._server else 'stopped'} ({keyed})>"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{LISTEN_PATH}"

    @property
    def exposed(self) -> bool:
        """True when bound to an address other machines can reach."""
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host not in ("localhost",)

    async def start(self) -> None:
        if self.exposed and not self.settings.api_key:
            log.warning(
                "serving on %s without --api-key: anyone who can reach this address can use the engine",
                self.host,
            )
        if self._executor_closed:  # started again after stop(): the old pool is shut down
            self.executor = ThreadPoolExecutor(self.settings.max_connections, thread_name_prefix="dgwidgets-engine")
            self._executor_closed = False
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            process_response=self._process_response,
            max_size=self.settings.max_frame_bytes,
            select_subprotocol=self._select_subprotocol,
            server_header="dgwidgets",
            create_connection=PingAwareConnection,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._executor_closed = True
        self.close_pools()

    def recognizer_factory_for(self, model: LocalModel) -> RecognizerFactory:
        """How a stream asking for ``model`` gets its recognizer: Whisper decodes go to the shared pool."""
        if self.recognizer_factory is not None:
            return self.recognizer_factory
        if model.kind != "whisper":
            return factory_for_model(model)

        def whisper_factory(*args: Any, **kwargs: Any) -> Any:
            # The pool (and the model load behind it) starts at the stream's first recognizer, in
            # the stream's worker thread: never on the event loop, and a missing model then ends
            # that stream with its own error (MODEL_UNAVAILABLE), not the connection handler.
            return factory_for_model(model, submit=self.decoder_pool(model).submit)(*args, **kwargs)

        return whisper_factory

    def decoder_pool(self, model: LocalModel) -> DecoderPool:
        """The decode workers for a Whisper model, started on first use (called from stream threads)."""
        with self._pools_lock:
            pool = self._pools.get(model.path)
            if pool is None:
                # one CTranslate2 replica per decode thread (the workers and the final lane);
                # pocketsphinx alignment in its own process (it holds the GIL while it aligns)
                whisper = load_whisper(model, workers=DecoderPool.threads_for(self.settings.workers))
                aligner = AlignerProcesses()
                pool = DecoderPool(
                    whisper.with_aligner(aligner),
                    workers=self.settings.workers,
                    interim_budget=self.settings.interim_budget,
                )
                self._pools[model.path] = pool
                self._aligners.append(aligner)
            return pool

    def close_pools(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
            aligners, self._aligners = self._aligners, []
        for pool in pools:
            log.info("decoder pool: %s", pool.stats.summary())
            pool.close()
        for aligner in aligners:
            aligner.close()

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handshake ------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        request_id = str(uuid.uuid4())
        connection.dg_request_id = request_id  # type: ignore[attr-defined]
        try:
            options, connection.dg_model = self._check_request(request)  # type: ignore[attr-defined]
        except _Reject as reject:
            return _json_response(reject.status, reject.code, reject.message, request_id)
        connection.dg_options = options  # type: ignore[attr-defined]
        notes = options.local_engine_notes() if isinstance(options, LiveOptions) else []
        connection.dg_warning = _header_text(" | ".join(notes)) if notes else ""  # type: ignore[attr-defined]
        for note in notes:
            log.info("stream %s: %s", request_id, note)
        return None

    def _check_request(self, request: Request) -> tuple[LiveOptions | FluxOptions, LocalModel]:
        parts = urlsplit(request.path)
        path = parts.path.rstrip("/")
        if path not in (LISTEN_PATH, FLUX_PATH):
            raise _Reject(404, "NOT_FOUND", f"No such endpoint {parts.path!r}: use {LISTEN_PATH} or {FLUX_PATH}.")
        if self.settings.api_key is not None:
            presented = _presented_key(request)
            # compare in constant time, so the key cannot be guessed from response timings
            if presented is None or not hmac.compare_digest(presented.encode(), self.settings.api_key.encode()):
                raise _Reject(401, "INVALID_AUTH", "Invalid credentials.")
        parse = FluxOptions.from_query if path == FLUX_PATH else LiveOptions.from_query
        try:
            options = parse(parts.query)
        except OptionsError as err:
            raise _Reject(400, "INVALID_QUERY_PARAMETER", _options_error_text(err)) from None
        if isinstance(options, FluxOptions):  # Flux audio is mono: the format checks below see one channel
            self._check_format(options.encoding, options.sample_rate, 1)
            options_model = resolve_model(None, whisper_path=self.settings.whisper_model)
        else:
            self._check_format(options.encoding, options.sample_rate, options.channels)
            try:
                options_model = resolve_model(options.model, whisper_path=self.settings.whisper_model)
            except UnknownModelError as err:
                raise _Reject(400, "INVALID_QUERY_PARAMETER", str(err)) from None
        if self._active >= self.settings.max_connections:
            raise _Reject(429, "TOO_MANY_REQUESTS", "Too many concurrent streams on this local engine.")
        return options, options_model

    @staticmethod
    def _check_format(encoding: str | None, sample_rate: int | None, channels: int) -> None:
        """What the local decoder can take (shared by /v1/listen and /v2/listen)."""
        options = _Format(encoding, sample_rate, channels)
        if options.encoding is not None and options.encoding not in LOCAL_ENCODINGS:
            raise _Reject(
                400,
                "INVALID_QUERY_PARAMETER",
                f"Invalid 'encoding' value of '{options.encoding}'. The dgwidgets local engine decodes "
                f"{', '.join(LOCAL_ENCODINGS)} and WAV (no encoding).",
            )
        if options.encoding is not None and options.sample_rate is not None and options.sample_rate < MIN_SAMPLE_RATE:
            # e.g. 1 Hz audio would be upsampled 16000 times: a few bytes would cost minutes of recognition
            raise _Reject(
                400,
                "INVALID_QUERY_PARAMETER",
                f"Invalid 'sample_rate' value of '{options.sample_rate}'. The dgwidgets local engine decodes "
                f"audio sampled at {MIN_SAMPLE_RATE} Hz or more.",
            )
        if options.encoding is not None and options.channels > MAX_CHANNELS:
            raise _Reject(
                400,
                "INVALID_QUERY_PARAMETER",
                f"Invalid 'channels' value of '{options.channels}'. The dgwidgets local engine decodes "
                f"up to {MAX_CHANNELS} channels.",
            )

    @staticmethod
    def _process_response(connection: ServerConnection, request: Request, response: Response) -> Response:
        # every response carries the id; rejections built by _json_response already do
        if "dg-request-id" not in response.headers:
            response.headers["dg-request-id"] = getattr(connection, "dg_request_id", "")
        warning = getattr(connection, "dg_warning", "")
        if warning and response.status_code == 101:
            response.headers[WARNING_HEADER] = warning
        return response

    @staticmethod
    def _select_subprotocol(connection: ServerConnection, subprotocols: Sequence[str]) -> str | None:
        # Browsers authenticate with `Sec-WebSocket-Protocol: token, KEY`; echo the scheme back.
        for proto in subprotocols:
            if proto.lower() in ("token", "bearer"):
                return proto
        return None

    # -- streams --------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self._active += 1
        options = ws.dg_options  # type: ignore[attr-defined]
        model = ws.dg_model  # type: ignore[attr-defined]
        if isinstance(options, FluxOptions):
            stream: _Stream | FluxStream = FluxStream(
                ws,
                options,
                ws.dg_request_id,  # type: ignore[attr-defined]
                executor=self.executor,
                recognizer_factory=self.recognizer_factory_for(model),
                inactivity_timeout=self.settings.inactivity_timeout,
                queue_frames=self.settings.queue_frames,
                detector=self.turn_detector,
            )
        else:
            stream = _Stream(self, ws, options, ws.dg_request_id, model)  # type: ignore[attr-defined]
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        try:
            await stream.run()
        finally:
            self._active -= 1
            if task is not None:
                self._streams.discard(task)


class BackgroundServer:
    """A `LocalServer` on its own thread and event loop: for notebooks, tests and `serve()`.

    Starts in well under 2 s; `port=0` picks a free port. Use as a context manager or call
    `start()` / `stop()`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self.server = LocalServer(host, port, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def __repr__(self) -> str:
        return f"<BackgroundServer {self.server!r}>"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        if self._thread is not None:
            return self
        self._ready.clear()  # a server stopped and started again must wait for its new loop
        self._error = None
        self._thread = threading.Thread(target=self._main, name="dgwidgets-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the local engine did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the local engine's thread did not stop within %s s", timeout)
        self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.server.start()
            except BaseException as err:  # e.g. the port is taken: report it to start()
                self._error = err
                self._ready.set()
                return
            self._ready.set()
            await self._stop.wait()
            await self.server.stop()

        try:
            asyncio.run(run())
        finally:
            # Join the recognition workers too, so that stop() returning means no thread is left.
            self.server.executor.shutdown(wait=True, cancel_futures=True)
