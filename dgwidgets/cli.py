"""The `dgwidgets` command line (also `python -m dgwidgets`).

Subcommands share conventions: results go to stdout (the doc table or JSONL), diagnostics to
stderr as ``dgwidgets: error: …``; exit status 0 on success, 1 when the work failed (a bad file,
a lost connection), 2 for a usage error, 130 when interrupted.

    dgwidgets stream sample:credit-card --local --interim-results --endpointing 300
    dgwidgets stream sample:voice-agent --local --flux --eager-eot-threshold 0.5
    dgwidgets replay doc:credit-card --speed 0
    dgwidgets replay session.jsonl --format jsonl
    dgwidgets serve --port 8765
    dgwidgets samples | examples | strategies
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from . import __version__
from .examples import EXAMPLES, UnknownExampleError, example
from .flux import FLUX_MODELS, FluxOptions
from .protocol import LiveOptions, OptionsError
from .replay import replay
from .session import Received, SessionFileError, SessionLog, TableFormatter, TurnFormatter
from .utterances import FLUX_STRATEGIES, STRATEGIES, Strategy, UnknownStrategyError, Utterance, make_strategy

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Errors whose message is already written for a person: print it, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    SessionFileError,
    UnknownExampleError,
    UnknownStrategyError,
    OptionsError,
)


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


def format_utterance(utterance: Utterance) -> str:
    """How the command line shows a strategy's decision, e.g. ``=> [speech_final @ 5.500] two two``."""
    flag = " provisional" if utterance.provisional else ""
    return f"=> [{utterance.trigger} @ {utterance.decided_at:.3f}{flag}] {utterance.text}"


class LivePrinter:
    """Prints entries as they arrive, as the doc table or as JSONL, plus a strategy's utterances.

    For a Flux stream (`api` ``"v2"``) the table is one line per turn event (`TurnFormatter`;
    Update events only with `updates`).
    """

    def __init__(
        self,
        out: TextIO,
        *,
        fmt: str,
        strategy: Strategy | None,
        channels: int = 1,
        beep: bool = False,
        api: str = "v1",
        updates: bool = False,
    ) -> None:
        self.out = out
        self.fmt = fmt
        self.strategy = strategy
        self.beep = beep
        self.utterances: list[Utterance] = []
        self.table: TableFormatter | TurnFormatter = (
            TurnFormatter(updates=updates) if api == "v2" else TableFormatter(show_channel=channels > 1)
        )

    def header(self, log: SessionLog) -> None:
        if self.fmt == "jsonl":
            self._write(json.dumps(log.header(), ensure_ascii=False))

    def __call__(self, entry: Received) -> None:
        if self.fmt == "jsonl":
            self._write(json.dumps(entry.to_dict(), ensure_ascii=False))
        else:
            line = self.table.format(entry)
            if line is not None:
                self._write(line)
        if self.strategy is not None:
            for utterance in self.strategy.feed(entry):
                self._utterance(utterance)

    def finish(self, at: float | None) -> None:
        if self.strategy is not None:
            for utterance in self.strategy.finish(at):
                self._utterance(utterance)

    def _utterance(self, utterance: Utterance) -> None:
        self.utterances.append(utterance)
        if self.beep:  # the terminal bell: the docs' endpointing.py beeps on speech_final
            print("\a", end="", file=sys.stderr, flush=True)
        # In JSONL mode utterances go to stderr so stdout stays a loadable session file.
        if self.fmt == "jsonl":
            print(format_utterance(utterance), file=sys.stderr, flush=True)
        else:
            self._write(format_utterance(utterance))

    def _write(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _positive_seconds(text: str) -> float:
    """argparse type: a number of seconds > 0 ("0.25")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value


def _load_source(source: str) -> SessionLog:
    if source.startswith("doc:"):
        return example(source)
    if source in EXAMPLES:
        raise UsageError(f"{source!r} looks like a documentation example: write doc:{source}")
    return SessionLog.load(source)


def _strategy(args: argparse.Namespace, api: str = "v1") -> Strategy | None:
    if not args.strategy:
        return None
    if api == "v2" and args.strategy not in FLUX_STRATEGIES:
        raise UsageError(
            f"--strategy {args.strategy} reads /v1/listen Results; a Flux stream decides itself: "
            f"choose {' or '.join(FLUX_STRATEGIES)}"
        )
    if api == "v1" and args.strategy in FLUX_STRATEGIES:
        raise UsageError(f"--strategy {args.strategy} reads Flux (/v2/listen) turn events: add --flux")
    params = {}
    for item in args.strategy_param or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--strategy-param wants NAME=SECONDS, got {item!r}")
        try:
            params[key] = float(value)
        except ValueError:
            raise UsageError(f"--strategy-param {key}: {value!r} is not a number of seconds") from None
    try:
        return make_strategy(args.strategy, **params)
    except TypeError as err:
        raise UsageError(f"--strategy-param: {err}") from None


def cmd_replay(args: argparse.Namespace) -> int:
    if args.speed < 0:
        raise UsageError("--speed must be >= 0 (0 replays at once)")
    log = _load_source(args.source)
    if log.recovered_from_truncation:
        print("dgwidgets: note: the file's last line was cut off mid-write and was skipped", file=sys.stderr)
    printer = LivePrinter(
        sys.stdout,
        fmt=args.format,
        strategy=_strategy(args, log.api),
        channels=log.channels,
        api=log.api,
        updates=args.updates,
    )
    printer.header(log)
    asyncio.run(replay(log, printer, speed=args.speed))
    printer.finish(log.entries[-1].at if log.entries else None)
    return EXIT_OK


def _options_from_args(args: argparse.Namespace, keyterms: tuple[str, ...]) -> LiveOptions:
    endpointing: int | bool = True
    if args.endpointing is not None:
        if args.endpointing.lower() == "false":
            endpointing = False
        else:
            try:
                endpointing = int(args.endpointing)
            except ValueError:
                raise UsageError(f"--endpointing wants milliseconds or false, got {args.endpointing!r}") from None
    options = LiveOptions(
        model=args.model,
        language=args.language,
        interim_results=args.interim_results,
        endpointing=endpointing,
        utterance_end_ms=args.utterance_end_ms,
        vad_events=args.vad_events,
        punctuate=args.punctuate,
        smart_format=args.smart_format,
        numerals=args.numerals,
        no_delay=args.no_delay,
        multichannel=args.multichannel,
        keyterm=tuple(args.keyterm or ()) or keyterms,
    )
    extra_params = []
    for item in args.param or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param wants KEY=VALUE (e.g. diarize=true), got {item!r}")
        extra_params.append((key.strip(), value))
    if not extra_params:
        return options
    # read back as a server would: modelled names (extra, keywords, …) land in their fields
    return LiveOptions.from_query(options.to_params() + extra_params)


#: v1-only flags of `stream` (what a Flux stream would not use), as (argument name, flag).
_V1_ONLY = (
    ("interim_results", "--interim-results"),
    ("endpointing", "--endpointing"),
    ("utterance_end_ms", "--utterance-end-ms"),
    ("vad_events", "--vad-events"),
    ("punctuate", "--punctuate"),
    ("smart_format", "--smart-format"),
    ("no_delay", "--no-delay"),
    ("multichannel", "--multichannel"),
)
_FLUX_ONLY = (
    ("eot_threshold", "--eot-threshold"),
    ("eager_eot_threshold", "--eager-eot-threshold"),
    ("eot_timeout_ms", "--eot-timeout-ms"),
    ("updates", "--updates"),
)


def _check_api_flags(args: argparse.Namespace) -> None:
    """Flags of the other API are a usage error that names them (not silently dropped)."""
    if args.flux:
        used = [flag for name, flag in _V1_ONLY if getattr(args, name) not in (None, False)]
        if args.language != "en":
            used.append("--language")
        if used:
            raise UsageError(
                f"{', '.join(used)} {'is a' if len(used) == 1 else 'are'} /v1/listen option{'s' * (len(used) > 1)}: "
                "a Flux stream (--flux) has no interim/final results, endpointing or UtteranceEnd; it takes "
                "--eot-threshold, --eager-eot-threshold, --eot-timeout-ms and --keyterm"
            )
    else:
        used = [flag for name, flag in _FLUX_ONLY if getattr(args, name) not in (None, False)]
        if used:
            raise UsageError(f"{', '.join(used)} {'is a' if len(used) == 1 else 'are'} Flux option{'s' * (len(used) > 1)}: add --flux")


def _flux_options_from_args(args: argparse.Namespace, keyterms: tuple[str, ...]) -> FluxOptions:
    ignored = (("numerals", "true"),) if args.numerals else ()
    options = FluxOptions(
        model=args.model or FLUX_MODELS[0],
        eot_threshold=0.7 if args.eot_threshold is None else args.eot_threshold,
        eager_eot_threshold=args.eager_eot_threshold,
        eot_timeout_ms=5000 if args.eot_timeout_ms is None else args.eot_timeout_ms,
        keyterm=tuple(args.keyterm or ()) or keyterms,
        ignored=ignored,
    )
    extra_params = []
    for item in args.param or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param wants KEY=VALUE (e.g. mip_opt_out=true), got {item!r}")
        extra_params.append((key.strip(), value))
    if not extra_params:
        return options
    # as for v1: modelled names land in their fields; others are sent as they are (a local server refuses them)
    return FluxOptions.from_query(options.to_params() + extra_params, keep_unknown=True)


def cmd_stream(args: argparse.Namespace) -> int:
    from .audio import UNPACED_NOTE, AudioError, open_source
    from .client import Backend, LiveClient, StreamError
    from .samples import UnknownSampleError, sample

    if args.speed < 0:
        raise UsageError("--speed must be >= 0 (0 streams as fast as the server takes it)")
    if sum(bool(x) for x in (args.local, args.url)) > 1:
        raise UsageError("choose one backend: --local or --url")
    _check_api_flags(args)
    api = "v2" if args.flux else "v1"
    strategy = _strategy(args, api)
    keyterms: tuple[str, ...] = ()
    if args.source.startswith("sample:") and not args.keyterm:
        # a sample knows the phrases that bias the local recognizer (pass --keyterm to override)
        with contextlib.suppress(UnknownSampleError):
            keyterms = tuple(sample(args.source.removeprefix("sample:")).keyterms)
    options: LiveOptions | FluxOptions
    if args.flux:
        options = _flux_options_from_args(args, keyterms)
    else:
        options = _options_from_args(args, keyterms)
        for note in options.advice():
            print(f"dgwidgets: note: {note}", file=sys.stderr)
    if args.speed == 0 and args.source != "mic":
        print(f"dgwidgets: note: --speed 0 streams {UNPACED_NOTE}", file=sys.stderr)
    try:
        source = open_source(args.source, speed=args.speed) if args.source != "mic" else open_source("mic")
    except (AudioError, UnknownSampleError) as err:
        print(f"dgwidgets: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        backend = Backend.resolve(url=args.url, api_key=args.api_key, local=args.local)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if backend.kind == "local" and isinstance(options, LiveOptions):
        for note in options.local_engine_notes():
            print(f"dgwidgets: warning: {note}", file=sys.stderr)
    printer = LivePrinter(
        sys.stdout,
        fmt=args.format,
        strategy=strategy,
        beep=args.beep,
        channels=options.channels,
        api=api,
        updates=args.updates,
    )
    client = LiveClient(backend, options, save=args.save, on_message=printer)
    print(
        f"dgwidgets: streaming {args.source} to {backend.kind} engine {backend.listen_url(api)}", file=sys.stderr
    )
    printer.header(client.log)
    status = EXIT_OK
    try:
        asyncio.run(client.stream(source))
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except StreamError as err:
        print(f"dgwidgets: error: {err}", file=sys.stderr)
        status = EXIT_FAILURE
    except AudioError as err:
        print(f"dgwidgets: error: the audio source failed: {err}", file=sys.stderr)
        status = EXIT_FAILURE
    printer.finish(client.log.entries[-1].at if client.log.entries else None)
    _print_summary(client, printer)
    return status


def _print_summary(client, printer: LivePrinter) -> None:
    log = client.log
    if log.api == "v2":
        return _print_flux_summary(client, printer)
    results = log.results()
    lines = [
        f"audio {client.audio_seconds:.2f} s, {len(log)} messages ({len(results)} results, "
        f"{sum(r.is_final for r in results)} finals, {sum(r.speech_final for r in results)} speech_final)",
        f"request id {client.request_id or 'none'}",
    ]
    if printer.utterances and log.info.get("clock") == "unpaced":
        lines.append("end-of-speech latency: not measured (the audio was sent unpaced, --speed 0)")
    elif printer.utterances:
        latencies = ", ".join(f"{u.latency * 1000:.0f}" for u in printer.utterances)
        lines.append(f"end-of-speech latency per utterance (ms after its last word): {latencies}")
    for line in lines:
        print(f"dgwidgets: {line}", file=sys.stderr)


def _print_flux_summary(client, printer: LivePrinter) -> None:
    log = client.log
    ends = [e for e in log.entries if getattr(e.message, "event", None) == "EndOfTurn"]
    triggers = [e.message.trigger or "?" for e in ends]
    counts = ", ".join(f"{t} {triggers.count(t)}" for t in dict.fromkeys(triggers))
    lines = [
        f"audio {client.audio_seconds:.2f} s, {len(log)} messages ({len(log.turns())} TurnInfo, "
        f"{len(log.turns('Update'))} of them Update; {len(ends)} EndOfTurn{f': {counts}' if counts else ''})",
        f"request id {client.request_id or 'none'}",
    ]
    spoken = [e for e in ends if e.message.words]
    if spoken and log.info.get("clock") == "unpaced":
        lines.append("end-of-turn latency: not measured (the audio was sent unpaced, --speed 0)")
    elif spoken:
        latencies = ", ".join(f"{(e.at - e.message.words[-1].end) * 1000:.0f}" for e in spoken)
        lines.append(f"EndOfTurn latency per turn (ms after its last word, on arrival): {latencies}")
    for line in lines:
        print(f"dgwidgets: {line}", file=sys.stderr)


def cmd_samples(args: argparse.Namespace) -> int:
    from .samples import samples

    for s in samples():
        print(f"sample:{s.name:<18} {s.duration:5.1f} s  {s.title}\n{'':33}{s.teaches}")
    return EXIT_OK


def cmd_examples(args: argparse.Namespace) -> int:
    for name, info in EXAMPLES.items():
        print(f"doc:{name:<20} {info.title}\n{'':24} {info.teaches}")
    return EXIT_OK


def cmd_strategies(args: argparse.Namespace) -> int:
    for name, (_, description) in {**STRATEGIES, **FLUX_STRATEGIES}.items():
        print(f"{name:<32} {description}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import os

    from .server import LocalServer, ServerSettings

    logging.basicConfig(level=logging.INFO, format="dgwidgets: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)  # one line per connection is noise in class
    api_key = args.api_key or os.environ.get("DGWIDGETS_SERVER_KEY") or None
    settings = ServerSettings(
        api_key=api_key,
        inactivity_timeout=args.inactivity_timeout,
        max_connections=args.max_connections,
        workers=args.workers or os.cpu_count() or 1,
        whisper_model=args.whisper_model,
        interim_budget=args.interim_budget,
    )

    async def run() -> None:
        async with LocalServer(args.host, args.port, settings=settings) as server:
            # Load (and checksum) the default model now: a missing model fails here, not at a student's first word.
            from .engine.models import resolve_model

            model = resolve_model(None, whisper_path=settings.whisper_model)
            server.decoder_pool(model)
            logging.getLogger("dgwidgets.server").info("model %s, %d decode workers", model.name, settings.workers)
            print(f"listening on {server.url}", flush=True)
            await server.serve_forever()

    try:
        asyncio.run(run())
    except (ImportError, RuntimeError) as err:  # the model is missing or altered: say what to install
        print(f"dgwidgets: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as err:
        print(f"dgwidgets: error: cannot listen on {args.host}:{args.port}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgwidgets",
        description="Learn live speech-to-text timing: interim results, endpointing, UtteranceEnd, SpeechStarted.",
    )
    parser.add_argument("--version", action="version", version=f"dgwidgets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    rp = sub.add_parser(
        "replay",
        help="replay a documentation example or a saved session",
        description="Replay doc:NAME (see `dgwidgets examples`) or a saved FILE.jsonl as if it arrived live.",
    )
    rp.add_argument("source", metavar="SOURCE", help="doc:NAME or a session FILE.jsonl")
    rp.add_argument("--format", choices=("table", "jsonl"), default="table", help="output format (default: table)")
    rp.add_argument(
        "--speed", type=float, default=1.0, help="1 = real time (default), 2 = twice as fast, 0 = all at once"
    )
    rp.add_argument("--updates", action="store_true", help="a Flux session: print its Update events too")
    _add_strategy_args(rp)
    rp.set_defaults(func=cmd_replay)

    sm = sub.add_parser(
        "stream",
        help="stream a sample, a file or the microphone and print the results live",
        description="Stream SOURCE (sample:NAME, a file, or mic) to the local engine or Deepgram's cloud and print "
        "the rolling results table as it arrives. Without --local/--url, a key (--api-key or DEEPGRAM_API_KEY) "
        "selects Deepgram's cloud; with no key the embedded local engine is used.",
    )
    sm.add_argument("source", metavar="SOURCE", help="sample:NAME (see `dgwidgets samples`), an audio file, or mic")
    backend = sm.add_argument_group("backend")
    backend.add_argument("--local", action="store_true", help="use the embedded local engine (offline, no key)")
    backend.add_argument(
        "--url",
        help="a /v1/listen websocket URL, e.g. ws://127.0.0.1:8765/v1/listen (with --flux its /v2/listen is used)",
    )
    backend.add_argument("--api-key", help="Deepgram API key (better: set DEEPGRAM_API_KEY; it is never printed)")
    params = sm.add_argument_group("live parameters (Deepgram's names and defaults)")
    params.add_argument("--interim-results", action="store_true", help="send interim results (is_final: false)")
    params.add_argument("--endpointing", metavar="MS|false", help="silence (ms) that ends speech (default 10)")
    params.add_argument(
        "--utterance-end-ms", type=int, metavar="MS", help="UtteranceEnd gap, >= 1000 (needs interim results)"
    )
    params.add_argument("--vad-events", action="store_true", help="send SpeechStarted")
    params.add_argument("--punctuate", action="store_true")
    params.add_argument("--smart-format", action="store_true")
    params.add_argument("--numerals", action="store_true")
    params.add_argument("--no-delay", action="store_true", help="do not hold finals for smart_format")
    params.add_argument("--multichannel", action="store_true", help="transcribe each channel on its own")
    params.add_argument("--keyterm", action="append", metavar="PHRASE", help="bias recognition (repeatable)")
    params.add_argument(
        "--model",
        help="model name: Deepgram's (nova-3, ...) for the cloud; locally whisper-tiny.en (the default, also "
        "for Deepgram names) or pocketsphinx",
    )
    params.add_argument("--language", default="en")
    params.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="any other query parameter, e.g. diarize=true or extra=room:7b (repeatable); "
        "the local engine warns about those it ignores",
    )
    fx = sm.add_argument_group(
        "Flux (/v2/listen, Deepgram's turn-taking API): TurnInfo events instead of Results",
    )
    fx.add_argument("--flux", action="store_true", help="stream to /v2/listen (model flux-general-en)")
    fx.add_argument("--eot-threshold", type=float, metavar="X", help="confidence that ends a turn, 0.5-1.0 (default 0.7)")
    fx.add_argument(
        "--eager-eot-threshold", type=float, metavar="Y", help="EagerEndOfTurn/TurnResumed from this confidence, 0.3-0.9"
    )
    fx.add_argument(
        "--eot-timeout-ms", type=int, metavar="MS", help="silence that ends a turn anyway, 500-60000 (default 5000)"
    )
    fx.add_argument("--updates", action="store_true", help="also print the Update events (4 a second of audio)")
    out = sm.add_argument_group("output")
    out.add_argument(
        "--speed", type=float, default=1.0, help="1 = real time (default), 2 = twice as fast, 0 = no pacing"
    )
    out.add_argument("--format", choices=("table", "jsonl"), default="table", help="output format (default: table)")
    out.add_argument("--save", metavar="FILE", help="append the session to FILE.jsonl as it arrives")
    out.add_argument(
        "--beep", action="store_true", help="ring the terminal bell when the strategy detects an utterance"
    )
    _add_strategy_args(out)
    sm.set_defaults(func=cmd_stream)

    sl = sub.add_parser("samples", help="list the sample audio and what each one teaches")
    sl.set_defaults(func=cmd_samples)

    sv = sub.add_parser(
        "serve",
        help="run the local engine: a Deepgram-compatible live server",
        description="Serve Deepgram's live /v1/listen protocol with the offline engine "
        "(Silero VAD + Whisper tiny.en; model=pocketsphinx for the classic recognizer).",
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    sv.add_argument(
        "--api-key",
        help="require this key from clients (Authorization: Token KEY); or set DGWIDGETS_SERVER_KEY",
    )
    sv.add_argument(
        "--inactivity-timeout", type=float, default=10.0, help="seconds of silence from a client before close 1011"
    )
    sv.add_argument("--max-connections", type=int, default=64, help="streams at once; more get HTTP 429")
    sv.add_argument(
        "--workers", type=int, default=0, help="Whisper decode threads shared by all streams (default: one per core)"
    )
    sv.add_argument(
        "--interim-budget",
        type=_positive_seconds,
        default=0.2,
        metavar="SECONDS",
        help="how long an interim decode may wait for a busy decoder before it is skipped (default 0.2; "
        "lower keeps a loaded server's lag down by skipping more interims; finals are never skipped)",
    )
    sv.add_argument(
        "--whisper-model",
        metavar="DIR",
        help="a CTranslate2 Whisper model directory to use instead of the packaged tiny.en "
        "(e.g. a faster-whisper base.en); or set DGWIDGETS_WHISPER_MODEL",
    )
    sv.set_defaults(func=cmd_serve)

    ex = sub.add_parser("examples", help="list the documentation examples")
    ex.set_defaults(func=cmd_examples)
    st = sub.add_parser("strategies", help="list the client-side end-of-speech strategies")
    st.set_defaults(func=cmd_strategies)
    return parser


def _add_strategy_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES) + list(FLUX_STRATEGIES),
        help="also print the utterances this end-of-speech strategy detects (with --flux: flux_end_of_turn "
        "or flux_eager_end_of_turn)",
    )
    parser.add_argument(
        "--strategy-param",
        action="append",
        metavar="NAME=SECONDS",
        help="a strategy parameter, e.g. seconds=1.5 for silence_interval (repeatable)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as err:
        parser.exit(EXIT_USAGE, f"dgwidgets: error: {err}\n")
    except USER_ERRORS as err:
        print(f"dgwidgets: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("dgwidgets: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `dgwidgets replay … | head`
        return EXIT_OK
    return EXIT_OK  # pragma: no cover - parser.exit raises


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
