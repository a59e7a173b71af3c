"""LiveClient: stream audio to a `/v1/listen` or `/v2/listen` server (Deepgram's cloud or the local engine).

The client sends the audio as linear16 in the source's pacing, a KeepAlive whenever the audio
pauses, Finalize on request and CloseStream at the end; everything it receives goes into a
`SessionLog` (written through to disk when asked) and to any subscriber, stamped with the time on
the stream's clock (the source's `StreamClock`: seconds since the first audio sample was captured),
so a message never appears to arrive before the audio it reports. Only an unpaced file (speed 0)
has no audio-time clock; its log says so (``info["clock"] == "unpaced"``). Failures raise a
`StreamError` subclass whose message explains the cause in plain words and whose `.log` keeps
every message received before the failure. The API key is sent in the Authorization header and
never appears in a repr, a log line or an exception message.

Given `FluxOptions` instead of `LiveOptions`, the same client streams to Flux (``/v2/listen``,
Deepgram's turn-taking API) on the same backend: the same audio, pacing, stream clock, log and
errors; the log's entries are `TurnInfo` and the other v2 messages. Flux has no KeepAlive and no
Finalize: while the audio pauses the client sends websocket pings (Deepgram's advice for idle
Flux streams), `force_end_turn()` ends the turn now, and `configure()` changes the thresholds or
keyterms mid-stream.

>>> backend = Backend.resolve(local=True)          # doctest: +ELLIPSIS
>>> backend.kind, backend.url.startswith("ws://127.0.0.1:")
('local', True)
>>> backend.listen_url("v2").endswith("/v2/listen")
True
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import redaction
from .audio import StreamClock, stream_clock
from .flux import FLUX_PATH, FluxOptions, apply_configure, parse_flux_message
from .protocol import LiveOptions, MessageError, OptionsError, UnknownMessage, parse_configure, parse_message
from .session import Received, SessionLog

redaction.install()

__all__ = [
    "CLOUD_URL",
    "API_KEY_ENV",
    "Backend",
    "LiveClient",
    "StreamError",
    "ConnectionFailedError",
    "HandshakeError",
    "InvalidParameterError",
    "AuthenticationError",
    "PaymentRequiredError",
    "RateLimitError",
    "StreamClosedError",
    "ConnectionLostError",
    "local_engine",
]

CLOUD_URL = "wss://api.deepgram.com/v1/listen"
_LISTEN_PATHS = {"v1": "/v1/listen", "v2": FLUX_PATH}
API_KEY_ENV = "DEEPGRAM_API_KEY"
#: Deepgram closes a stream after ~10 s without audio or a text message; the docs say to send a
#: KeepAlive every 3-5 s while no audio flows.
KEEPALIVE_AFTER = 4.0
#: After CloseStream, how long the server may take to send its last results and close.
CLOSE_WAIT = 30.0


# --------------------------------------------------------------------------- errors


class StreamError(Exception):
    """A stream that failed. `.log` holds every message received before the failure."""

    def __init__(self, message: str, *, log: SessionLog | None = None) -> None:
        super().__init__(message)
        self.log = log if log is not None else SessionLog()


class ConnectionFailedError(StreamError):
    """No connection could be opened (server not running, wrong address, timeout)."""


class HandshakeError(StreamError):
    """The server refused the stream with an HTTP status (the `dg-error` text is in the message)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        err_code: str = "",
        err_msg: str = "",
        request_id: str = "",
        log: SessionLog | None = None,
    ) -> None:
        super().__init__(message, log=log)
        self.status, self.err_code, self.err_msg, self.request_id = status, err_code, err_msg, request_id


class InvalidParameterError(HandshakeError):
    """400: a query parameter was rejected."""


class AuthenticationError(HandshakeError):
    """401: the API key is missing or invalid."""


class PaymentRequiredError(HandshakeError):
    """402: the Deepgram project has no credit left."""


class RateLimitError(HandshakeError):
    """429: too many requests or concurrent streams."""


class StreamClosedError(StreamError):
    """The server closed the stream with an error code (1011 NET-0001, 1008 DATA-0000, …)."""

    def __init__(self, message: str, *, code: int, reason: str, log: SessionLog | None = None) -> None:
        super().__init__(message, log=log)
        self.code, self.reason = code, reason


class ConnectionLostError(StreamError):
    """The connection dropped without a close frame (network down, server killed)."""


_HANDSHAKE_ERRORS: dict[int, tuple[type[HandshakeError], str]] = {
    400: (InvalidParameterError, "The server rejected the request: {err}"),
    401: (
        AuthenticationError,
        "The server did not accept the API key (missing or invalid). Set DEEPGRAM_API_KEY or enter "
        "the key again; for the local engine, use the key given to `dgwidgets serve --api-key`.",
    ),
    402: (PaymentRequiredError, "The Deepgram project has run out of credit (402 Payment Required): {err}"),
    429: (
        RateLimitError,
        "Too many requests or concurrent streams (429): wait a moment or run fewer streams at once. {err}",
    ),
}

# How Deepgram's streaming-test-suite explains its close codes, in the kit's words (v1; Flux below).
_CLOSE_EXPLANATIONS = {
    "NET-0001": "No audio or KeepAlive reached the server within its timeout (about 10 s), so it closed the "
    "stream (NET-0001). Send audio continuously, or a KeepAlive every 3-5 s while the audio pauses.",
    "NET-0000": "The server had sent no transcript within its window after the stream opened (NET-0000): "
    "KeepAlive keeps a stream open only once audio flows, so send audio soon after connecting (or "
    "connect when the audio starts).",
    "DATA-0000": "The server could not decode the audio (DATA-0000): check that encoding, sample_rate and "
    "channels describe the bytes you send (or send a WAV file with no encoding).",
}


# Flux has no KeepAlive: only audio keeps its stream open.
_FLUX_CLOSE_EXPLANATIONS = {
    **_CLOSE_EXPLANATIONS,
    "NET-0001": "Neither audio nor a websocket ping reached the server within its timeout (about 10 s on the "
    "local engine), so it closed the Flux stream (NET-0001). /v2/listen has no KeepAlive: send audio "
    "continuously (silence counts), or websocket pings while it pauses (this client pings after "
    "`keepalive_after` seconds without audio).",
}


def _close_explanation(code: int, reason: str, api: str = "v1") -> str:
    upper = reason.upper()
    explanations = _FLUX_CLOSE_EXPLANATIONS if api == "v2" else _CLOSE_EXPLANATIONS
    for key, text in explanations.items():
        if key in upper or key.replace("-", "").lower() in reason.lower():
            return text
    return f"The server closed the stream with code {code}: {reason or 'no reason given'}."


# --------------------------------------------------------------------------- backends


_local_lock = threading.Lock()
_local_server: Any = None


def local_engine() -> str:
    """The URL of this process's embedded local engine, started on first use (in a thread)."""
    global _local_server
    with _local_lock:
        if _local_server is None:
            from .server import BackgroundServer

            _local_server = BackgroundServer().start()
        return _local_server.url


@dataclass(frozen=True)
class Backend:
    """Where a stream goes: Deepgram's cloud, the embedded local engine, or a given URL.

    `resolve` picks: an explicit `url`; else the local engine when `local`; else the cloud when a key
    is given (argument or DEEPGRAM_API_KEY); else the local engine (works offline, no key).
    """

    url: str
    kind: str
    api_key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Backend(kind={self.kind!r}, url={self.url!r}, api_key={'set' if self.api_key else 'none'})"

    def listen_url(self, api: str = "v1") -> str:
        """The backend's URL for `api` ``"v1"`` (``/v1/listen``) or ``"v2"`` (Flux, ``/v2/listen``).

        A URL whose path ends in ``/v1/listen`` or ``/v2/listen`` gets the API's path (the local
        engine and Deepgram serve both at one address); any other path (a proxy's) is kept as given.

        >>> Backend("wss://api.deepgram.com/v1/listen", "cloud").listen_url("v2")
        'wss://api.deepgram.com/v2/listen'
        >>> Backend("ws://10.0.0.5:8765/proxy", "url").listen_url("v2")
        'ws://10.0.0.5:8765/proxy'
        """
        if api not in _LISTEN_PATHS:
            raise ValueError(f"api must be 'v1' or 'v2', got {api!r}")
        parts = urlsplit(self.url)
        path = parts.path.rstrip("/")
        for known in _LISTEN_PATHS.values():
            if path.endswith(known):
                return urlunsplit(parts._replace(path=path[: -len(known)] + _LISTEN_PATHS[api]))
        return self.url

    @classmethod
    def resolve(cls, *, url: str | None = None, api_key: str | None = None, local: bool = False) -> Backend:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        if url:
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"the URL must start with ws:// or wss://, got {url!r}")
            return cls(url, "url", key)
        if local:
            return cls(local_engine(), "local", None)
        if key:
            return cls(CLOUD_URL, "cloud", key)
        return cls(local_engine(), "local", None)


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


# --------------------------------------------------------------------------- the client


class LiveClient:
    """One live stream: audio out, messages in.

    >>> import asyncio
    >>> from dgwidgets.audio import FileSource
    >>> client = LiveClient(Backend.resolve(local=True), LiveOptions(keyterm=["yes"]))
    >>> log = asyncio.run(client.stream(FileSource("sample:yes", speed=0)))
    >>> log.final_transcript()
    'yes'

    With `FluxOptions` it is a Flux stream (``client.api == "v2"``):

    >>> flux = LiveClient(Backend.resolve(local=True), FluxOptions(eot_timeout_ms=1000))
    >>> log = asyncio.run(flux.stream(FileSource("sample:yes", speed=0)))
    >>> [t.event for t in log.turns("StartOfTurn", "EndOfTurn")], log.final_transcript()
    (['StartOfTurn', 'EndOfTurn'], 'yes')

    While `stream()` runs, other tasks may call `finalize()` (v1), `force_end_turn()` (v2),
    `configure()` or `stop()`. ``local_hint`` ends the
    advice given when a URL does not answer; it names the command line's ``--local`` unless the
    caller (a widget) has its own way to choose the embedded engine.
    """

    local_hint = "or use the embedded one (--local)"

    def __init__(
        self,
        backend: Backend,
        options: LiveOptions | FluxOptions | None = None,
        *,
        save: str | os.PathLike[str] | None = None,
        on_message: Callable[[Received], None] | None = None,
        keepalive_after: float = KEEPALIVE_AFTER,
        open_timeout: float = 10.0,
    ) -> None:
        self.backend = backend
        self.options: LiveOptions | FluxOptions = options or LiveOptions()
        #: ``"v1"`` (``/v1/listen``) or ``"v2"`` (Flux), from the options' type
        self.api: str = getattr(self.options, "api", "v1")
        self.save = save
        self.on_message = on_message
        self.keepalive_after = keepalive_after
        self.open_timeout = open_timeout
        self.log = SessionLog(options=self.options, backend=backend.kind)
        self.request_id: str | None = None
        self.audio_seconds = 0.0
        self._ws: ClientConnection | None = None
        self._iterator: Any = None
        self._own_clock = StreamClock()  # for a source without a clock: marked as chunks are sent
        self._last_sent = 0.0
        self._stop = asyncio.Event()

    def __repr__(self) -> str:
        return f"<LiveClient {self.backend!r} request_id={self.request_id!r} messages={len(self.log)}>"

    # -- control from other tasks -------------------------------------------------------------------

    async def finalize(self) -> None:
        """Ask the server to flush what it has buffered as a final (from_finalize: true). v1 only."""
        self._require("v1", "Finalize", "a Flux stream ends the turn now with force_end_turn()")
        await self._send_text({"type": "Finalize"})

    async def force_end_turn(self) -> None:
        """Flux: end the current turn now (an EndOfTurn with ``trigger: manual``). v2 only."""
        self._require("v2", "ForceEndTurn", "a /v1/listen stream flushes what the server holds with finalize()")
        await self._send_text({"type": "ForceEndTurn"})

    async def configure(
        self,
        *,
        thresholds: dict[str, Any] | None = None,
        keyterms: list[str] | tuple[str, ...] | None = None,
        features: dict[str, bool] | None = None,
    ) -> None:
        """Send a Configure message; the server answers with ConfigureSuccess or ConfigureFailure (in the log).

        v2 (Flux): `thresholds` (``eot_threshold``, ``eager_eot_threshold``, ``eot_timeout_ms``) and
        `keyterms`; v1: `keyterms` and `features` (``{"numerals": true}``). Checked before sending
        by the rules the server applies (`OptionsError` / `MessageError` name what is wrong).
        """
        message: dict[str, Any] = {"type": "Configure"}
        if keyterms is not None:
            message["keyterms"] = list(keyterms)
        if self.api == "v2":
            if features is not None:
                raise OptionsError("features", features, "is a /v1/listen Configure field (Flux takes thresholds)")
            if thresholds is not None:
                message["thresholds"] = dict(thresholds)
            apply_configure(self.options, message)  # type: ignore[arg-type]
        else:
            if thresholds is not None:
                raise OptionsError("thresholds", thresholds, "is a /v2/listen (Flux) Configure field")
            if features is not None:
                message["features"] = dict(features)
            parse_configure(message)
        await self._send_text(message)

    async def keepalive(self) -> None:
        """Keep an idle stream open: KeepAlive on v1; a websocket ping on v2 (Flux has no KeepAlive)."""
        if self.api == "v2":
            if self._ws is None:
                raise RuntimeError("the stream is not connected yet")
            await self._ws.ping()
            self._last_sent = time.monotonic()
            return
        await self._send_text({"type": "KeepAlive"})

    def stop(self) -> None:
        """End the audio early: the client sends CloseStream and collects the last results."""
        self._stop.set()

    def close_stream(self) -> None:
        """The same as `stop()`: CloseStream goes out once the audio sent so far is on its way."""
        self.stop()

    def _require(self, api: str, message: str, instead: str) -> None:
        if self.api != api:
            path = _LISTEN_PATHS[api]
            raise ValueError(f"{message} is a {path} message and this is a {_LISTEN_PATHS[self.api]} stream: {instead}")

    @property
    def clock(self) -> StreamClock:
        """The stream's clock: the source's own, or one the client marks as it sends each chunk."""
        return stream_clock(self._iterator) or self._own_clock

    def now(self) -> float:
        """Seconds on the stream's clock (what ``at`` of a message arriving now would be)."""
        return self.clock.now()

    # -- the stream -----------------------------------------------------------------------------

    async def stream(self, source: Any) -> SessionLog:
        """Stream `source` (an AudioSource) to the end; returns the SessionLog.

        Raises a StreamError subclass on failure; its `.log` is this client's log (nothing lost).
        """
        # Sources give int16 PCM (linear16); one with `encoding = None` sends a container (WAV bytes).
        if getattr(source, "encoding", "linear16") is None:
            options = self.options.replace(encoding=None, sample_rate=None)
        elif self.api == "v2":
            if source.channels != 1:
                raise ValueError(
                    f"Flux (/v2/listen) audio is mono and {getattr(source, 'name', 'the source')} has "
                    f"{source.channels} channels: open it with channels=1 (files mix down to mono by default)"
                )
            options = self.options.replace(encoding="linear16", sample_rate=source.sample_rate)
        else:
            options = self.options.replace(
                encoding="linear16", sample_rate=source.sample_rate, channels=source.channels
            )
        self.log.options = options
        self.log.source = getattr(source, "name", "")
        self._iterator = source.__aiter__()
        self.log.info["clock"] = "stream" if self.clock.paced else "unpaced"
        if self.on_message is not None:
            self.log.subscribe(self.on_message)
        if self.save is not None:
            self.log.attach_file(self.save)
        try:
            await self._connect(options)
            await self._run(source)
        finally:
            self.log.close_file()
            with contextlib.suppress(Exception):
                await source.aclose()
        return self.log

    async def _connect(self, options: LiveOptions | FluxOptions) -> None:
        headers = {"Authorization": f"Token {self.backend.api_key}"} if self.backend.api_key else None
        url = options.url(self.backend.listen_url(self.api))
        try:
            self._ws = await connect(
                url, additional_headers=headers, open_timeout=self.open_timeout, max_size=None, ping_interval=None
            )
        except InvalidStatus as err:
            raise self._handshake_error(err) from None
        except (OSError, asyncio.TimeoutError, InvalidHandshake) as err:
            hint = ""
            if self.backend.kind == "url":
                hint = f" Is the local engine running? Start it with `dgwidgets serve`, {self.local_hint}."
            text = _redact(f"Could not connect to {self.backend.url}: {err}.{hint}", self.backend.api_key)
            raise ConnectionFailedError(text, log=self.log) from None
        self.request_id = self._ws.response.headers.get("dg-request-id")
        self.log.info["request_id"] = self.request_id
        self._last_sent = time.monotonic()

    def _handshake_error(self, err: InvalidStatus) -> HandshakeError:
        response = err.response
        try:
            body = json.loads(response.body or b"{}")
        except ValueError:
            body = {}
        err_msg = str(body.get("err_msg") or response.headers.get("dg-error") or response.reason_phrase or "")
        err_msg = _redact(err_msg, self.backend.api_key)
        cls, template = _HANDSHAKE_ERRORS.get(response.status_code, (HandshakeError, "HTTP {status}: {err}"))
        text = template.format(err=err_msg, status=response.status_code).strip()
        if response.status_code == 400:
            text += _parameter_rule(err_msg, self.api)
        return cls(
            text,
            status=response.status_code,
            err_code=str(body.get("err_code", "")),
            err_msg=err_msg,
            request_id=str(body.get("request_id") or response.headers.get("dg-request-id") or ""),
            log=self.log,
        )

    async def _run(self, source: Any) -> None:
        assert self._ws is not None
        receiver = asyncio.create_task(self._receive(), name="dgwidgets-receive")
        keepalive = asyncio.create_task(self._keepalive_loop(), name="dgwidgets-keepalive")
        try:
            sender_error = await self._send_audio(source, receiver)
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(json.dumps({"type": "CloseStream"}))
            try:
                await asyncio.wait_for(asyncio.shield(receiver), CLOSE_WAIT)
            except asyncio.TimeoutError:
                await self._ws.close()
                raise StreamError(
                    f"The server did not finish within {CLOSE_WAIT:.0f} s after CloseStream.", log=self.log
                ) from None
            self._raise_for_close()
            if sender_error is not None:
                sender_error.log = self.log  # type: ignore[attr-defined]
                raise sender_error
        finally:
            keepalive.cancel()
            if not receiver.done():
                receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
            await self._ws.close()

    async def _send_audio(self, source: Any, receiver: asyncio.Task) -> Exception | None:
        """Send chunks until the source ends, `stop()` is called or the connection closes.

        A failing source (e.g. a microphone unplugged) ends the audio but not the stream: the
        results of what was sent are still collected, then its error is raised.
        """
        iterator = self._iterator
        while not self._stop.is_set() and not receiver.done():
            next_chunk = asyncio.ensure_future(iterator.__anext__())
            stop_wait = asyncio.ensure_future(self._stop.wait())
            done, _ = await asyncio.wait({next_chunk, stop_wait, receiver}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if next_chunk not in done:
                next_chunk.cancel()
                with contextlib.suppress(BaseException):
                    await next_chunk
                break
            try:
                chunk = next_chunk.result()
            except StopAsyncIteration:
                break
            except Exception as err:  # the source failed mid-stream
                return err
            try:
                await self._ws.send(chunk.to_bytes())
            except ConnectionClosed:
                break
            self._last_sent = time.monotonic()
            if stream_clock(iterator) is None:
                self._own_clock.mark(chunk.end)
            self.audio_seconds = max(self.audio_seconds, chunk.end)
        return None

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.keepalive_after / 2))
            if time.monotonic() - self._last_sent >= self.keepalive_after:
                with contextlib.suppress(ConnectionClosed):
                    await self.keepalive()

    async def _receive(self) -> None:
        assert self._ws is not None
        parse = parse_flux_message if self.api == "v2" else parse_message
        with contextlib.suppress(ConnectionClosed):
            async for text in self._ws:
                at = self.now()
                if isinstance(text, bytes):
                    message: Any = UnknownMessage({"type": "dgwidgets.binary", "bytes": len(text)})
                else:
                    try:
                        message = parse(text)
                    except MessageError as err:  # keep it rather than lose it
                        message = UnknownMessage({"type": "dgwidgets.unparsed", "error": str(err), "text": text})
                self.log.append(message, at)

    def _raise_for_close(self) -> None:
        assert self._ws is not None
        received = self._ws.protocol.close_rcvd  # None when the connection dropped without a close frame
        if received is None:
            raise ConnectionLostError(
                f"The connection was lost mid-stream (the network dropped or the server stopped). "
                f"The {len(self.log)} messages received before it are kept.",
                log=self.log,
            )
        if received.code != 1000:
            raise StreamClosedError(
                _close_explanation(received.code, received.reason, self.api),
                code=received.code,
                reason=received.reason,
                log=self.log,
            )

    async def _send_text(self, message: dict[str, Any]) -> None:
        if self._ws is None:
            raise RuntimeError("the stream is not connected yet")
        await self._ws.send(json.dumps(message))
        self._last_sent = time.monotonic()


_PARAM_RE = re.compile(r"Invalid '(?P<name>[a-z_]+)' value of '(?P<value>[^']*)'")


def _parameter_rule(err_msg: str, api: str = "v1") -> str:
    """The kit's own statement of the rule behind a 400 like "Invalid 'utterance_end_ms' value of '999'."."""
    match = _PARAM_RE.search(err_msg)
    if not match:
        return ""
    name, value = match["name"], match["value"]
    try:
        if api == "v2":
            FluxOptions.from_query({name: value} if name == "model" else {"model": "flux-general-en", name: value})
        else:
            LiveOptions.from_query(
                {name: value, "interim_results": "true"} if name != "interim_results" else {name: value}
            )
    except OptionsError as err:
        return f" Rule: {name} {err.rule}."
    return ""
