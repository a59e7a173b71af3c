"""StreamLab: the whole lesson in one widget, and `compare` for parameter sets side by side.

One line in a notebook gives the parameter panel, Start / Stop / Finalize, a status line, the
rolling results table, the word-timing plot, the end-of-speech decisions of the client-side
strategies, a beep on the chosen strategy's decisions and a player for the sample. It streams
as a task on the kernel's running event loop, so the kernel stays responsive and the widgets
update while no cell runs.

Every time it shows is read from one clock, the stream's (seconds since its first audio sample was
captured): "received at", the strategies' ``decided_at`` and latencies, the plot's playhead, and the
player, which plays the streamed file on that clock. With the browser microphone, Start starts the
recording too (one control); audio recorded before Start keeps its capture times.

>>> lab = StreamLab(source="sample:yes", speed=0, show_player=False)
>>> log = asyncio.run(lab.run())           # in a notebook: `log = await lab.run()`
>>> log.final_transcript()
'yes'

Flux mode (``api="v2"``, or the panel's API toggle): the same lab on ``/v2/listen``, with
eot_threshold / eager_eot_threshold / eot_timeout_ms controls, a ForceEndTurn button, one table
row per turn event, the turn events on the plot and Flux's EndOfTurn / EagerEndOfTurn as lanes:

>>> flux = StreamLab(api="v2", source="sample:yes", speed=0, show_player=False, eot_timeout_ms=1000)
>>> log = asyncio.run(flux.run())
>>> log.api, log.final_transcript(), [u.text for u in flux.utterances["flux_end_of_turn"]]
('v2', 'yes', ['yes'])
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as W

from ..audio import UNPACED_NOTE, AudioError, open_source
from ..client import LiveClient, StreamError
from ..flux import TurnInfo
from ..protocol import OptionsError, Results
from ..samples import UnknownSampleError
from ..session import Received, SessionLog
from ..utterances import FLUX_STRATEGIES, STRATEGIES, Strategy, Utterance, make_strategy
from .browser import AudioPlayer, Beeper, BrowserMicrophone
from .controls import SOURCE_BROWSER_MIC, ParameterPanel
from .table import ResultsTable
from .timeline import WordTimeline
from .viewmodels import strategy_color, strategy_order

__all__ = ["StreamLab", "Comparison", "DEFAULT_STRATEGIES"]

DEFAULT_STRATEGIES = ("speech_final", "speech_final_or_utterance_end", "silence_interval")
#: A Flux lab's lanes: the server's own decisions.
FLUX_DEFAULT_STRATEGIES = ("flux_end_of_turn", "flux_eager_end_of_turn")
_DEFAULT_BEEP = {"v1": "speech_final_or_utterance_end", "v2": "flux_end_of_turn"}
_AUTO = object()  # "the API's default" for strategies and beep_on
#: How often the playhead, the player and the status line follow the stream clock while streaming.
_TICK = 0.1
#: The player follows the stream at these speeds (what browsers play well); otherwise it stays still.
_PLAYER_RATES = (0.25, 4.0)
_UNPACED = "Speed 'as fast as possible' streams " + UNPACED_NOTE
_LOCAL_HINT = "or choose Backend: Local engine (the embedded one)"


def _display(widget: Any) -> W.Widget:
    return getattr(widget, "widget", widget)


class StreamLab(W.VBox):
    """Stream audio to the local engine or Deepgram and watch the timing messages arrive.

    Parameters are Deepgram's live options by name (``interim_results=True, endpointing=300,
    utterance_end_ms=1000, vad_events=True, …``); `source` is ``sample:NAME``, a file path,
    ``mic`` or ``browser-mic``; `backend` is ``local``, ``cloud`` (key from `api_key` or
    DEEPGRAM_API_KEY) or ``url`` (with `url`); by default DGWIDGETS_BACKEND (and DGWIDGETS_URL), else ``local``.

    `api` ``"v2"`` starts it in Flux mode (``/v2/listen``; Flux's options by name:
    ``eot_threshold``, ``eager_eot_threshold``, ``eot_timeout_ms``); the panel's API toggle switches
    between the two. Unless `strategies` / `beep_on` are given, each API gets its own: the
    client-side rules for v1, Flux's EndOfTurn / EagerEndOfTurn for v2.

    Use the Start button, or from code: ``await lab.run()`` (stream to the end, returns the
    SessionLog) or ``lab.start()`` (returns at once; the stream runs in the background).
    """

    def __init__(
        self,
        *,
        source: str = "sample:credit-card",
        backend: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        speed: float = 1.0,
        strategies: Sequence[str] | Any = _AUTO,
        beep_on: str | None | Any = _AUTO,
        silence_interval: float = 1.0,
        gap_threshold: float = 1.0,
        max_rows: int = 200,
        show_controls: bool = True,
        show_player: bool = True,
        title: str = "",
        api: str = "v1",
        **options: Any,
    ) -> None:
        known = {**STRATEGIES, **FLUX_STRATEGIES}
        if strategies is not _AUTO:
            unknown = set(strategies) - set(known)
            if unknown:
                raise ValueError(f"unknown strategies {sorted(unknown)}; choose from {', '.join(known)}")
            if beep_on is not _AUTO and beep_on is not None and beep_on not in strategies:
                raise ValueError(f"beep_on={beep_on!r} must be one of the strategies shown: {', '.join(strategies)}")
        if "keyterm" in options:
            options["keyterms"] = options.pop("keyterm")
        self.panel = ParameterPanel(
            source=source, backend=backend, url=url, api_key=api_key, speed=speed, api=api, **options
        )
        self._given_strategies = None if strategies is _AUTO else tuple(strategies)
        self._given_beep = beep_on
        self.silence_interval = silence_interval
        self.table = ResultsTable(max_rows=max_rows)
        self.timeline = WordTimeline(gap_threshold=gap_threshold)
        self.beeper = Beeper()
        self.player = AudioPlayer()
        self.microphone: BrowserMicrophone | None = None
        self.session = SessionLog()
        self.utterances: dict[str, list[Utterance]] = {name: [] for name in self.strategy_names}
        self.error: BaseException | None = None
        self._client: LiveClient | None = None
        self._task: asyncio.Task | None = None
        self._strategies: dict[str, Strategy] = {}
        self._started = 0.0
        self._stop_requested = False
        self._player_spec: str | None = None

        self.start_button = W.Button(description="Start", icon="play", button_style="success")
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.finalize_button = W.Button(
            description="Finalize",
            icon="flag-checkered",
            disabled=True,
            tooltip='send {"type": "Finalize"}: flush what the server holds',
        )
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.finalize_button.on_click(lambda _: self._spawn(self.finalize()))
        self.panel.api.observe(lambda _: self._on_api(), names="value")
        self.status = W.HTML(value="ready")
        self.status.add_class("dg-status")
        self.utterance_view = W.HTML()
        self.utterance_view.add_class("dg-utterances")
        self.show_player = show_player
        self.mic_box = W.Box()
        header = [W.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        controls = [self.panel] if show_controls else [W.HTML(f"<code>{html.escape(self.panel.summary())}</code>")]
        super().__init__(
            children=[
                *header,
                *controls,
                W.HBox([self.start_button, self.stop_button, self.finalize_button, self.beeper]),
                self.mic_box,
                self.player,
                self.status,
                self.table,
                _display(self.timeline),
                self.utterance_view,
            ]
        )
        self.add_class("dg-stream-lab")
        self.panel.source.observe(lambda _: self._prepare_source_widgets(), names="value")
        self._prepare_source_widgets()
        self._on_api()

    # -- the API --------------------------------------------------------------------------------

    @property
    def api(self) -> str:
        """``"v1"`` (``/v1/listen``) or ``"v2"`` (Flux), as the panel's API toggle says."""
        return self.panel.api_value

    @property
    def strategy_names(self) -> tuple[str, ...]:
        """The strategies shown in lanes and panels: those given, else the API's defaults."""
        if self._given_strategies is not None:
            return self._given_strategies
        return FLUX_DEFAULT_STRATEGIES if self.api == "v2" else DEFAULT_STRATEGIES

    @property
    def beep_on(self) -> str | None:
        if self._given_beep is not _AUTO:
            return self._given_beep
        beep = _DEFAULT_BEEP[self.api]
        return beep if beep in self.strategy_names else None

    def _on_api(self) -> None:
        if self.api == "v2":
            self.finalize_button.description = "ForceEndTurn"
            self.finalize_button.icon = "hand-paper"
            self.finalize_button.tooltip = 'send {"type": "ForceEndTurn"}: end the turn now (trigger manual)'
        else:
            self.finalize_button.description = "Finalize"
            self.finalize_button.icon = "flag-checkered"
            self.finalize_button.tooltip = 'send {"type": "Finalize"}: flush what the server holds'
        if not self.running:
            self.utterances = {name: [] for name in self.strategy_names}
            self._render_utterances()

    # -- public control -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task:
        """Start streaming as a background task on the running loop and return at once."""
        if self.running:
            return self._task  # type: ignore[return-value]
        loop = asyncio.get_event_loop()
        self._task = loop.create_task(self.run())
        # a failure is shown in the status line; reading it here keeps asyncio from warning
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._task

    def stop(self) -> None:
        """End the audio now: the last results are still collected."""
        self._stop_requested = True
        if self._client is not None:
            self._client.stop()
        if self.microphone is not None:
            self.microphone.stop()
        self.player.pause()

    async def finalize(self) -> None:
        """Send Finalize (v1: the server flushes what it holds as a final, from_finalize: true) or,
        in Flux mode, ForceEndTurn (the turn ends now, trigger manual)."""
        if self._client is None:
            return
        if self._client.api == "v2":
            await self._client.force_end_turn()
        else:
            await self._client.finalize()

    async def force_end_turn(self) -> None:
        """Flux mode: send ForceEndTurn (the same as the ForceEndTurn button)."""
        if self._client is not None:
            await self._client.force_end_turn()

    async def run(self) -> SessionLog:
        """Stream the chosen source to the end and return the SessionLog (also kept as `self.session`)."""
        self.error = None
        self._stop_requested = False
        try:
            options = self.panel.options()
            backend = self.panel.backend()
            source = await self._open_source()
            # gaps that could end an utterance under these settings are always labelled on the plot
            self.timeline.set_thresholds(
                endpointing=getattr(options, "endpointing", None),
                utterance_end_ms=getattr(options, "utterance_end_ms", None),
            )
        except (OptionsError, ValueError, AudioError, UnknownSampleError) as err:
            self._fail(err)
            raise
        self._reset()
        self._client = LiveClient(backend, options, on_message=self._on_entry)
        self._client.local_hint = _LOCAL_HINT
        self.session = self._client.log
        self._set_running(True)
        self._started = time.monotonic()
        self._status(f"streaming to the {backend.kind} engine…")
        ticker = asyncio.ensure_future(self._tick())
        try:
            self.session = await self._client.stream(source)
        except (StreamError, AudioError, OSError) as err:
            self.session = getattr(err, "log", self.session)
            self.player.pause()
            self._fail(err)
            raise
        finally:
            ticker.cancel()
            self._finish_strategies()
            self._set_running(False)
            self.timeline.refresh()
        self._status(self._summary(final=True))
        return self.session

    # -- comparison -----------------------------------------------------------------------------

    @classmethod
    def compare(
        cls, *parameter_sets: dict[str, Any], source: str = "sample:dictation-pauses", **common: Any
    ) -> Comparison:
        """The same audio through several parameter sets side by side.

        >>> cmp = StreamLab.compare(dict(endpointing=10), dict(endpointing=500),
        ...                         source="sample:yes", interim_results=True, speed=0)
        >>> [log.final_transcript() for log in asyncio.run(cmp.run())]
        ['yes', 'yes']
        """
        if len(parameter_sets) < 2:
            raise ValueError(
                "compare needs at least two parameter sets, e.g. dict(endpointing=10), dict(endpointing=500)"
            )
        labs = []
        for params in parameter_sets:
            merged = {**common, **params}
            label = " ".join(f"{k}={v}" for k, v in params.items())
            lab = cls(source=source, show_controls=False, show_player=False, title=label, beep_on=None, **merged)
            # A fixed width: plotly draws a widget plot 700 px wide whatever its grid column.
            lab.timeline.figure.layout.width = Comparison.PLOT_WIDTH
            labs.append(lab)
        return Comparison(labs)

    # -- streaming internals --------------------------------------------------------------------

    async def _open_source(self) -> Any:
        spec = self.panel.source_spec
        if spec == SOURCE_BROWSER_MIC:
            # One control: Start starts the browser's recording too (the click on Start lets the
            # page use sound). Audio recorded before Start keeps its capture times (PushSource's clock).
            mic = self._microphone()
            if not mic.recording:
                mic.start()
                self._status(
                    "starting the browser microphone… (allow it if the browser asks; if it wants a click, "
                    "press <b>● Start microphone</b>)"
                )
            while not mic.recording and not self._stop_requested:
                await asyncio.sleep(0.05)
            return mic.source
        if spec == "mic":
            return open_source("mic")
        source = open_source(spec, speed=self.panel.pace)  # a bad file fails here, with the clearer message
        if self.show_player:
            self._load_player(spec)
        return source

    def _load_player(self, spec: str) -> None:
        if spec != self._player_spec:
            self.player.load(spec)
            self._player_spec = spec
        self._show_player()

    def _show_player(self) -> None:
        """Show the player only while it holds the chosen source's audio: a microphone (kernel or
        browser) has no file to play, and an empty player (0:00 / 0:00) or the previous sample's
        would only mislead."""
        try:
            spec = self.panel.source_spec
        except ValueError:  # upload chosen, nothing uploaded yet
            spec = None
        holds = self.show_player and self._player_spec is not None and spec == self._player_spec
        self.player.layout.display = None if holds else "none"

    def _microphone(self) -> BrowserMicrophone:
        if self.microphone is None:
            self.microphone = BrowserMicrophone(show_button=False)
            self.mic_box.children = [self.microphone]
        return self.microphone

    def _prepare_source_widgets(self) -> None:
        if self.panel.source.value == SOURCE_BROWSER_MIC:
            self._microphone()
        spec = str(self.panel.source.value)
        if spec.startswith("sample:") and self.show_player:
            with contextlib.suppress(Exception):
                self._load_player(spec)
        self._show_player()

    def _reset(self) -> None:
        self.table.clear()
        self.timeline.clear()
        params = {"seconds": self.silence_interval} if self.silence_interval else {}
        self._strategies = {
            name: make_strategy(name, **(params if name == "silence_interval" else {})) for name in self.strategy_names
        }
        self.utterances = {name: [] for name in self.strategy_names}
        self._render_utterances()

    def _on_entry(self, entry: Received) -> None:
        """Every received message: table, plot, strategies, beep, status. Cheap: the plot coalesces."""
        self.table.append(entry)
        self.timeline.append(entry)
        for name, strategy in self._strategies.items():
            for utterance in strategy.feed(entry):
                self._on_utterance(name, utterance)
        if isinstance(entry.message, (Results, TurnInfo)):
            self._status(self._summary())

    def _on_utterance(self, name: str, utterance: Utterance) -> None:
        self.utterances[name].append(utterance)
        self.timeline.add_utterance(name, utterance)
        if name == self.beep_on:
            self.beeper.beep()
        self._render_utterances()

    def _finish_strategies(self) -> None:
        at = self.session.entries[-1].at if self.session.entries else None
        for name, strategy in self._strategies.items():
            for utterance in strategy.finish(at):
                self._on_utterance(name, utterance)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            self._follow_clock()

    def _follow_clock(self) -> None:
        """Playhead and player to the stream clock's time (nothing before the first audio sample)."""
        client = self._client
        if client is None or not client.clock.started:
            return
        now = client.now()
        self.timeline.set_playhead(now)
        pace = self.panel.pace
        if (
            self.show_player
            and self._player_spec is not None
            and self.panel.source_spec == self._player_spec
            and _PLAYER_RATES[0] <= pace <= _PLAYER_RATES[1]
            and not self._stop_requested
        ):
            self.player.sync(now, rate=pace)

    # -- presentation ---------------------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        self.finalize_button.disabled = not running
        self.panel.set_enabled(not running)

    def _status(self, text: str, *, error: bool = False) -> None:
        color = "#c62828" if error else "inherit"
        self.status.value = f"<span style='color:{color}'>{text}</span>"

    def _fail(self, err: BaseException) -> None:
        self.error = err
        self._set_running(False)
        self._status(f"✖ {html.escape(str(err))}", error=True)

    def _summary(self, *, final: bool = False) -> str:
        if self.session.api == "v2":
            return self._flux_summary(final=final)
        client = self._client
        results = self.session.results()
        lag = ""
        if results and not final:
            last = self.session.entries[-1]
            if isinstance(last.message, Results):
                lag = f" · lag {max(0.0, last.at - last.message.end) * 1000:.0f} ms"
        request = f" · request {client.request_id[:8]}…" if client is not None and client.request_id else ""
        audio = client.audio_seconds if client is not None else 0.0
        state = "done" if final else "streaming"
        unpaced = f"<br><i>{html.escape(_UNPACED)}</i>" if self._unpaced() else ""
        return (
            f"{state}: {client.backend.kind if client else ''}{request} · audio {audio:.1f} s · "
            f"{len(self.session)} messages ({sum(r.is_final for r in results)} finals, "
            f"{sum(r.speech_final for r in results)} speech_final){lag}{unpaced}"
        )

    def _flux_summary(self, *, final: bool) -> str:
        client = self._client
        lag = ""
        if not final and self.session.entries:
            last = self.session.entries[-1]
            if isinstance(last.message, TurnInfo):
                lag = f" · lag {max(0.0, last.at - last.message.audio_window_end) * 1000:.0f} ms"
        ends = self.session.turns("EndOfTurn")
        request = f" · request {client.request_id[:8]}…" if client is not None and client.request_id else ""
        audio = client.audio_seconds if client is not None else 0.0
        unpaced = f"<br><i>{html.escape(_UNPACED)}</i>" if self._unpaced() else ""
        return (
            f"{'done' if final else 'streaming'}: Flux /v2/listen, {client.backend.kind if client else ''}{request} · "
            f"audio {audio:.1f} s · {len(self.session)} messages ({len(self.session.turns())} TurnInfo, "
            f"{len(ends)} EndOfTurn){lag}{unpaced}"
        )

    def _unpaced(self) -> bool:
        return self.session.info.get("clock") == "unpaced"

    def _render_utterances(self) -> None:
        blocks = []
        unpaced = self._unpaced()

        def after(u: Utterance) -> str:
            return "unpaced: no latency" if unpaced else f"{u.latency * 1000:.0f} ms after the last word"

        # The plot's lane order and colours (one registry), so a panel and its lane match.
        for name in strategy_order(self.strategy_names):
            items = "".join(
                f"<li><code>{u.trigger}</code> decided at {u.decided_at:.2f} s "
                f"({after(u)}){' · provisional' if u.provisional else ''}: "
                f"{html.escape(u.text)}</li>"
                for u in self.utterances.get(name, [])
            )
            swatch = f"<span style='color:{strategy_color(name)}'>●</span>"
            blocks.append(
                f"<div style='flex:1 1 16em;min-width:0'><b>{swatch} {name}</b>"
                f"<ol>{items or '<i>no utterance yet</i>'}</ol></div>"
            )
        self.utterance_view.value = "<div style='display:flex;flex-wrap:wrap;gap:0 2em'>" + "".join(blocks) + "</div>"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


class Comparison(W.VBox):
    """Several StreamLabs on the same audio in a grid (two labs a row on a laptop screen; see
    `StreamLab.compare`). Each lab's title and code line show its own settings.

    On the local engine the labs stream one after another, each with the machine's cores to
    itself, so that the latencies they show are the engine's and not the contention's (measured on
    a 2-core machine: four local Whisper streams at once decided speech_final 2.8-3.9 s after the
    last word, even at endpointing 10). On Deepgram's cloud they stream at once.
    """

    #: The width of each lab's plot: two labs fit a row of a notebook on a laptop screen
    #: (JupyterLab's file browser open), the grid puts more in a row when there is room.
    PLOT_WIDTH = 400

    def __init__(self, labs: Sequence[StreamLab]) -> None:
        self.labs = list(labs)
        self.start_button = W.Button(description="Start all", icon="play", button_style="success")
        self.start_button.on_click(lambda _: self.start())
        self.hint = W.HTML(
            "<small>Each lab's settings are in its title. To compare other settings, edit the "
            "<code>dict(…)</code> parameter sets in <code>StreamLab.compare(…)</code> and run the cell again. "
            "On the local engine the labs stream one after another (each gets the machine to itself, so "
            "its times are true); on Deepgram's cloud, at once.</small>"
        )
        for lab in self.labs:
            lab.layout.min_width = "0"  # let a grid column shrink below the lab's natural width
            lab.add_class("dg-compared-lab")
        self.grid = W.GridBox(
            self.labs,
            layout=W.Layout(
                grid_template_columns=f"repeat(auto-fill, minmax({self.PLOT_WIDTH + 10}px, 1fr))",
                grid_gap="12px 16px",
                width="100%",
            ),
        )
        super().__init__(children=[W.HBox([self.start_button, self.hint]), self.grid])
        self.add_class("dg-comparison")

    async def run(self, *, together: bool | None = None) -> list[SessionLog]:
        """Stream every parameter set; returns their SessionLogs in order.

        ``together``: stream all labs at once (True) or one after another (False); by default at
        once only on Deepgram's cloud (see the class docs for why not on the local engine).
        """
        if together is None:
            together = all(lab.panel.backend_choice.value == "cloud" for lab in self.labs)
        if together:
            return list(await asyncio.gather(*(lab.run() for lab in self.labs)))
        return [await lab.run() for lab in self.labs]

    def start(self) -> asyncio.Task:
        task = asyncio.get_event_loop().create_task(self.run())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task
