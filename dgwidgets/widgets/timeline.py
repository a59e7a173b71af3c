"""WordTimeline: the word-timing plot of a stream, one plotly FigureWidget redrawn at most 10 times a second.

Lanes, top to bottom, with stream time (seconds of audio) on x:

- **words**: finalized words as bars from start to end, darker when more confident, with
  horizontal labels where they fit (on the bar, else just above or below it) and every word in
  the bar's hover text;
- **interim**: the latest interim words, ghosted, replaced by each interim and trimmed by finals;
- **windows**: each Results window as a bracket; finals (bottom row) tile the timeline, interims
  (stacked above, one row per interim of a segment) grow from the segment's start;
- **gaps**: silence between consecutive finalized words, red from `gap_threshold` on, labelled in
  ms where a label fits, and always when the gap is at least `endpointing` or `utterance_end_ms`
  (see `set_thresholds`);
- **events**: speech_final at each such final's end, UtteranceEnd at `last_word_end` with a line to
  when it arrived, SpeechStarted at its timestamp with a line to its arrival; for a Flux
  (``/v2/listen``) log, StartOfTurn, EagerEndOfTurn, TurnResumed and EndOfTurn, each its own
  legend entry and colour (`viewmodels.TURN_EVENT_COLORS`: EndOfTurn's is the flux_end_of_turn
  lane's), a big marker when it arrived with a dotted line back to the audio the server had
  judged (``audio_window_end``). A Flux log's words lane holds each EndOfTurn's words, its
  interim lane the open turn's words, its windows lane the turn events' audio windows;
- one lane per client-side strategy: a marker when it decided (open when it relied on interim
  words) and a line back to the end of the utterance's last word (the decision's latency). Lane
  order and colour come from one registry (`viewmodels.STRATEGY_COLORS`), so a strategy looks
  the same in every plot and in the lab's panels;
- the playhead: a dashed vertical line at the audio sent so far (in the legend too).

Labels are placed by `viewmodels.fit_labels` at the plot's scale (its width as the browser
reports it, else `width_hint`, over the visible seconds), again after a zoom. The legend sits
under the plot, so plotly's toolbar (top right) never covers it.

Why it is built this way (measured, see DESIGN.md): every FigureWidget update resends whole
arrays and the browser manages ~30 redraws/s, so each kind of item is ONE trace (NaN-separated
lines, marker arrays, one Bar trace with `base`), never a shape per item; updates only mark the
plot dirty and a redraw of the latest state goes out at most `max_fps` times a second, as one
`batch_update` message holding only the traces whose data changed; the playhead is the one shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from ..session import Received, SessionLog
from .coalesce import FollowsLog, Throttle
from .viewmodels import (
    STRATEGY_COLORS,
    TURN_MARKER_EVENTS,
    TimelineModel,
    TimelineView,
    confidence_color,
    fit_labels,
    gaps_that_matter,
    strategy_color,
    strategy_order,
    turn_event_color,
)

__all__ = ["WordTimeline", "Throttle", "LANES"]  # Throttle re-exported for existing imports

#: The fixed lanes, top to bottom; strategy lanes follow them.
LANES = ("words", "interim", "windows", "gaps", "events")

_COLORS = {
    "final_window": "#1f77b4",
    "interim_window": "#9aa5b1",
    "gap": "#7f7f7f",
    "gap_over": "#d62728",
    "speech_final": "#2ca02c",
    "utterance_end": "#9467bd",
    "speech_started": "#ff7f0e",
    "playhead": "#222222",
    "label": "#10243e",
    "interim_label": "#3a3f44",
}
_LABEL_SIZE = 10  # px; word and gap labels
# Word labels: on the bar, then just above it, then just below it (lane units from the lane).
_WORD_ROWS = (0.0, 0.44, -0.44)
# Gap labels: above the gap's line, then below it.
_GAP_ROWS = (0.25, -0.27)
_MARGIN = {"l": 10, "r": 10, "t": 20, "b": 10}
_SCALE_STEP = 1.1  # labels are fitted at the px-per-second scale rounded down to a power of this
_LANE_FONT_PX = 7.5  # width per character of the lane names on the y axis (12 px font)
_TICK = 0.07  # half-height of a bracket's end ticks, in lane units
# Flux turn events in the events lane: (offset from the lane, marker symbol).
_TURN_MARKS = {
    "EndOfTurn": (0.3, "star"),
    "EagerEndOfTurn": (0.1, "diamond-open"),
    "TurnResumed": (-0.1, "triangle-left"),
    "StartOfTurn": (-0.3, "triangle-right"),
}
_EMPTY = np.array([], dtype=float)


def _lane_y(index: int) -> float:
    # Lanes sit at 0, -1, -2, … so the first is on top without reversing the axis.
    return -float(index)


def _nan_joined(segments: Iterable[Iterable[float]]) -> np.ndarray:
    """Concatenate point runs with a NaN after each, so one line trace draws them all apart."""
    out: list[float] = []
    for run in segments:
        out.extend(run)
        out.append(np.nan)
    return np.asarray(out, dtype=float)


def _lane_text(name: str) -> str:
    """A lane name as its y-axis label: long strategy names on two lines, so the lanes' labels
    do not take a fifth of the plot's width.

    >>> _lane_text("speech_final_or_utterance_end"), _lane_text("speech_final")
    ('speech_final_or<br>_utterance_end', 'speech_final')
    """
    if len(name) <= 16 or "_" not in name:
        return name
    cuts = [i for i, ch in enumerate(name) if ch == "_" and i > 0]
    cut = min(cuts, key=lambda i: abs(i - len(name) / 2))
    return f"{name[:cut]}<br>{name[cut:]}"


class WordTimeline(FollowsLog, widgets.VBox):
    """The word-timing plot: feed it entries (and strategy decisions); it redraws at most `max_fps`/s.

    Display the widget itself; `figure` is the `plotly.graph_objects.FigureWidget` inside it.
    `append` only records and marks the plot dirty: inside Jupyter (a running asyncio loop) a
    redraw of the latest state follows within 1/`max_fps` s; without a running loop nothing is
    scheduled and `refresh()` draws. `window_seconds` keeps only the last seconds on screen (the
    x axis then follows the stream); otherwise the whole session is drawn and user zoom is kept.

    >>> from dgwidgets.examples import example
    >>> from dgwidgets.utterances import SpeechFinal
    >>> log = example("credit-card")
    >>> plot = WordTimeline()
    >>> plot.load(log, {"speech_final": SpeechFinal().run(log)})
    >>> len(plot.trace("words").x), plot.trace("speech_final").x.tolist()
    (23, [5.5, 6.86, 8.09])
    >>> plot.set_playhead(2.5); plot.refresh(); plot.figure.layout.shapes[0].x0
    2.5

    A Flux log, with Flux's decisions in their lanes:

    >>> from dgwidgets.flux import FluxOptions, TurnInfo
    >>> from dgwidgets.protocol import Word
    >>> from dgwidgets.utterances import FluxEndOfTurn
    >>> hi = (Word("hi", 0.3, 0.7, 0.9),)
    >>> flux = SessionLog.from_messages([(0.56, TurnInfo("StartOfTurn", 0, 0.2, 0.5, "hi", hi)),
    ...     (1.21, TurnInfo("EndOfTurn", 0, 0.2, 1.2, "hi", hi, 0.8, "model"))], options=FluxOptions())
    >>> plot.load(flux, {"flux_end_of_turn": FluxEndOfTurn().run(flux)})
    >>> plot.trace("EndOfTurn").x.tolist()[:2], plot.strategy_trace("flux_end_of_turn").x.tolist()[:2]
    ([1.21, 1.2], [0.7, 1.21])
    """

    def __init__(
        self,
        *,
        gap_threshold: float = 1.0,
        max_fps: float = 10.0,
        window_seconds: float | None = None,
        height: int | None = None,
        width: int | None = None,
        width_hint: float = 900.0,
        **kwargs: Any,
    ) -> None:
        if max_fps <= 0:
            raise ValueError(f"max_fps must be > 0, got {max_fps}")
        if window_seconds is not None and window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0 or None, got {window_seconds}")
        self.model = TimelineModel(gap_threshold=gap_threshold)
        self.max_fps = float(max_fps)
        self.window_seconds = window_seconds
        self._fixed_height = height
        #: The figure's width in px, for fitting labels, until the browser reports the real one
        #: (a `width` given fixes the figure's width; else plotly sizes it, 700 px by default).
        self.width_hint = float(width_hint)
        self._thresholds: tuple[float | None, float | None] = (None, None)
        #: How many redraws were sent (tests and benchmarks read it).
        self.redraws = 0
        self._throttle = Throttle(self._redraw, rate=max_fps)
        self._playhead: float | None = None
        self._drawn_keys: dict[str, Any] = {}
        self._strategy_traces: dict[str, int] = {}
        self._unsubscribe: Callable[[], None] | None = None
        # Bumped by clear()/load(): a new session may reset the user's zoom, updates may not.
        self._session = 0
        self.figure = go.FigureWidget()
        self._build_figure()
        if width is not None:
            self.figure.layout.width = int(width)
        super().__init__(children=[self.figure], **kwargs)
        self.add_class("dg-word-timeline")
        # A zoom, or the browser reporting the plot's real width, changes which labels fit.
        self.figure.layout.on_change(lambda *_: self._rescaled(), "xaxis.range")
        self.figure.observe(lambda _: self._rescaled(), names="_js2py_layoutDelta")

    # -- figure skeleton ----------------------------------------------------------------------

    def _build_figure(self) -> None:
        fig = self.figure
        fig.add_bar(
            name="words",
            orientation="h",
            width=0.6,
            # Colours as rgb() strings per bar, never numbers through a colorscale: plotly.js
            # logs "Invalid color specifier: number …" for numeric colours it derives text colours from.
            marker={"color": [], "line": {"width": 1, "color": "#2b5d9a"}},
            textposition="none",  # the words lane's labels are their own trace, placed to fit
            hovertemplate="%{text}<br>%{customdata[0]:.3f}–%{customdata[1]:.3f} s"
            "<br>confidence %{customdata[2]:.2f}<extra>finalized</extra>",
        )
        fig.add_bar(
            name="interim words",
            orientation="h",
            width=0.5,
            opacity=0.45,
            marker={"color": "#c7ccd1", "line": {"width": 1, "color": "#8a939c"}, "pattern": {"shape": "/"}},
            textposition="none",
            hovertemplate="%{text}<br>%{customdata[0]:.3f}–%{customdata[1]:.3f} s<extra>interim</extra>",
        )
        labels = {"mode": "text", "showlegend": False, "hoverinfo": "skip", "textposition": "middle center"}
        fig.add_scatter(name="word labels", textfont={"size": _LABEL_SIZE, "color": _COLORS["label"]}, **labels)
        fig.add_scatter(
            name="interim labels", textfont={"size": _LABEL_SIZE, "color": _COLORS["interim_label"]}, **labels
        )
        line = {"mode": "lines", "hoverinfo": "skip"}
        fig.add_scatter(name="interim windows", line={"color": _COLORS["interim_window"], "width": 1.5}, **line)
        fig.add_scatter(name="final windows", line={"color": _COLORS["final_window"], "width": 2.5}, **line)
        fig.add_scatter(name="gaps", line={"color": _COLORS["gap"], "width": 2}, **line)
        self._over_name = f"gaps ≥ {self.model.gap_threshold * 1000:.0f} ms"
        fig.add_scatter(name=self._over_name, line={"color": _COLORS["gap_over"], "width": 4}, **line)
        fig.add_scatter(
            name="gap length",
            mode="text",
            textfont={"size": _LABEL_SIZE, "color": "#555555"},
            showlegend=False,
            hovertemplate="gap %{text}<extra></extra>",
        )
        fig.add_scatter(
            name="speech_final",
            mode="markers",
            marker={"symbol": "diamond", "size": 13, "color": _COLORS["speech_final"]},
            hovertemplate="speech_final: final ends at %{x:.3f} s<br>arrived at %{customdata:.3f} s<extra></extra>",
        )
        fig.add_scatter(
            name="UtteranceEnd",
            mode="lines+markers",
            line={"color": _COLORS["utterance_end"], "width": 1.5, "dash": "dot"},
            marker={"symbol": "square", "color": _COLORS["utterance_end"]},
            hovertemplate="%{hovertext}<extra>UtteranceEnd</extra>",
        )
        fig.add_scatter(
            name="SpeechStarted",
            mode="lines+markers",
            line={"color": _COLORS["speech_started"], "width": 1.5, "dash": "dot"},
            marker={"symbol": "triangle-right", "color": _COLORS["speech_started"]},
            hovertemplate="%{hovertext}<extra>SpeechStarted</extra>",
        )
        for event in TURN_MARKER_EVENTS:
            color = turn_event_color(event)
            fig.add_scatter(
                name=event,
                mode="lines+markers",
                line={"color": color, "width": 1.5, "dash": "dot"},
                marker={"symbol": _TURN_MARKS[event][1], "color": color, "line": {"width": 2, "color": color}},
                hovertemplate="%{hovertext}<extra>" + event + "</extra>",
            )
        # The playhead is a layout shape (one moving line); this empty trace is its legend entry.
        fig.add_scatter(
            name="playhead (audio sent)",
            x=[None],
            y=[None],
            mode="lines",
            line={"color": _COLORS["playhead"], "width": 2, "dash": "dash"},
            hoverinfo="skip",
        )
        self._trace_index = {trace.name: i for i, trace in enumerate(fig.data)}
        fig.update_layout(
            uirevision=f"dgwidgets-{self._session}",
            barmode="overlay",
            bargap=0,
            template="plotly_white",
            margin=_MARGIN,
            # Under the plot: plotly's toolbar sits at the top right and would cover a legend there.
            legend={
                "orientation": "h",
                "yanchor": "top",
                "y": -0.12,
                "x": 0,
                "font": {"size": 11},
                "groupclick": "toggleitem",
            },
            modebar={"orientation": "h", "bgcolor": "rgba(255,255,255,0.7)"},
            xaxis={"title": {"text": "stream time (s)"}, "autorange": True, "rangemode": "tozero", "zeroline": False},
            yaxis={"fixedrange": True, "zeroline": False, "showgrid": False},
            shapes=[
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": 0,
                    "x1": 0,
                    "y0": 0,
                    "y1": 1,
                    "visible": False,
                    "line": {"color": _COLORS["playhead"], "width": 2, "dash": "dash"},
                }
            ],
        )
        self._apply_lanes()

    def _lanes(self) -> list[str]:
        return [*LANES, *strategy_order(self.model.strategies)]

    def _apply_lanes(self) -> None:
        lanes = self._lanes()
        self.figure.update_layout(
            # 42 px a lane, plus room for the axis and the legend below it
            height=self._fixed_height or 190 + 42 * len(lanes),
            yaxis={
                "tickmode": "array",
                "tickvals": [_lane_y(i) for i in range(len(lanes))],
                "ticktext": [_lane_text(n) for n in lanes],
                "range": [_lane_y(len(lanes) - 1) - 0.6, 0.6],
            },
        )

    def trace(self, name: str) -> Any:
        """The fixed trace called `name`: "words", "interim words", "final windows", "speech_final", …"""
        return self.figure.data[self._trace_index[name]]

    def strategy_trace(self, name: str) -> Any:
        """The trace of the strategy called `name` (its lane's decisions)."""
        return self.figure.data[self._strategy_traces[name]]

    # -- feeding ------------------------------------------------------------------------------

    def append(self, entry: Received) -> None:
        """Record one received message; the plot shows it at the next coalesced redraw."""
        self.model.add(entry)
        self._mark_dirty()

    def extend(self, entries: Iterable[Received]) -> None:
        for entry in entries:
            self.model.add(entry)
        self._mark_dirty()

    def add_utterance(self, strategy: Any, utterance: Any) -> None:
        """Record a strategy's decision; `strategy` is its name or the Strategy (its `.name` is used)."""
        self.model.add_utterance(getattr(strategy, "name", strategy), utterance)
        self._mark_dirty()

    def set_thresholds(self, *, endpointing: Any = None, utterance_end_ms: Any = None) -> None:
        """The stream's `endpointing` and `utterance_end_ms` (ms; None or False: off): gaps at least
        that long are always labelled, whether or not their label fits."""
        values = tuple(
            None if v is None or v is False or v is True else float(v) for v in (endpointing, utterance_end_ms)
        )
        if values != self._thresholds:
            self._thresholds = values  # type: ignore[assignment]
            self.model.revision["gaps"] += 1
            self._mark_dirty()

    def set_playhead(self, seconds: float | None) -> None:
        """Move the vertical playhead line to `seconds` of stream time (None hides it)."""
        self._playhead = None if seconds is None else float(seconds)
        self._mark_dirty()

    def load(self, log: SessionLog | Iterable[Received], utterances: Mapping[str, Iterable[Any]] | None = None) -> None:
        """Show a whole session (and each strategy's utterances), drawn at once."""
        self.clear()
        self.model.extend(log)
        for name, items in (utterances or {}).items():
            for utterance in items:
                self.model.add_utterance(name, utterance)
        self.refresh()

    def clear(self) -> None:
        """Forget everything (the next redraw shows an empty plot; zoom resets)."""
        self._stop_following()
        self.model.clear()
        self._playhead = None
        self._session += 1
        self._mark_dirty()

    # -- coalesced redraws --------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        self._throttle.poke()

    def refresh(self) -> None:
        """Draw the latest state now (cancels a pending scheduled redraw)."""
        self._throttle.flush()

    def _plot_width(self) -> float:
        """The plotting area's width in px: the figure's (as the browser reports it, else
        `width_hint`) without the margins and the lane names on the y axis."""
        width = self.figure.layout.width or self.figure._layout_defaults.get("width")
        width = float(width) if isinstance(width, (int, float)) and width > 0 else self.width_hint
        names = max(len(part) for n in self._lanes() for part in _lane_text(n).split("<br>"))
        return max(100.0, width - _MARGIN["l"] - _MARGIN["r"] - names * _LANE_FONT_PX - 10)

    def _visible_seconds(self, view: TimelineView) -> float:
        if self.window_seconds is not None:
            return self.window_seconds
        xaxis = self.figure.layout.xaxis
        if xaxis.autorange is False and xaxis.range is not None:
            low, high = (float(v) for v in xaxis.range)
            if high > low:
                return high - low
        return max(view.duration, 1.0) * 1.05  # plotly pads an autoranged axis a little

    def _px_per_second(self, view: TimelineView) -> float:
        # Rounded down to steps of 10%: while a stream grows the x axis, the finalized words'
        # labels are refitted (and resent) only when the scale changed by a step, and a label
        # fitted at the rounded-down scale still fits at the real one.
        scale = self._plot_width() / self._visible_seconds(view)
        return round(_SCALE_STEP ** math.floor(math.log(scale, _SCALE_STEP)), 3)

    def _rescaled(self) -> None:
        if self._drawn_keys.get("scale") != self._px_per_second(self._view()):
            self._mark_dirty()

    def _view(self) -> TimelineView:
        if self.window_seconds is None:
            return self.model.window(None)
        # The data's left edge moves in steps of a tenth of the window, so between steps the
        # drawn words stay the same and are not resent; only the x range follows every redraw.
        step = self.window_seconds / 10
        since = max(0.0, self.model.duration - self.window_seconds)
        since = math.floor(since / step) * step
        return self.model.window(self.model.duration - since if since > 0 else None)

    def _redraw(self) -> None:
        view = self._view()
        revision = self.model.revision
        since = round(view.since, 3)
        missing = [name for name in view.strategies if name not in self._strategy_traces]
        for name in missing:
            self._add_strategy_trace(name)
        fig = self.figure
        scale = self._px_per_second(view)
        with fig.batch_update():
            if missing or self._drawn_keys.get("lanes") != len(view.strategies):
                self._apply_lanes()
                self._drawn_keys["lanes"] = len(view.strategies)
            for kind, draw in (
                ("words", self._draw_words),
                ("interim", self._draw_interim),
                ("windows", self._draw_windows),
                ("gaps", self._draw_gaps),
                ("events", self._draw_events),
                ("decisions", self._draw_decisions),
            ):
                # Only traces whose data changed are resent: during speech that is mostly the
                # interim lane and the windows, not thousands of finalized words.
                # Labels depend on the scale too.
                key = (revision[kind], since, scale if kind in ("words", "interim", "gaps") else None)
                if self._drawn_keys.get(kind) != key:
                    draw(view)
                    self._drawn_keys[kind] = key
            self._drawn_keys["scale"] = scale
            self._draw_layout(view)
        self.redraws += 1

    def _set(self, name: str, **props: Any) -> None:
        self.trace(name).update(**props)

    def _set_strategy(self, name: str, **props: Any) -> None:
        self.strategy_trace(name).update(**props)

    def _draw_words(self, view: TimelineView) -> None:
        words = view.words
        starts = np.fromiter((w.start for w in words), float, len(words))
        ends = np.fromiter((w.end for w in words), float, len(words))
        confidence = np.fromiter((w.confidence for w in words), float, len(words))
        self._set(
            "words",
            x=ends - starts,
            base=starts,
            y=np.full(len(words), _lane_y(0)),
            text=[w.word for w in words],
            customdata=np.column_stack([starts, ends, confidence]) if words else _EMPTY.reshape(0, 3),
            marker_color=[confidence_color(c) for c in confidence],
        )
        self._draw_labels("word labels", words, _lane_y(0), _WORD_ROWS, view)

    def _draw_interim(self, view: TimelineView) -> None:
        words = view.interim_words
        starts = np.fromiter((w.start for w in words), float, len(words))
        ends = np.fromiter((w.end for w in words), float, len(words))
        self._set(
            "interim words",
            x=ends - starts,
            base=starts,
            y=np.full(len(words), _lane_y(1)),
            text=[w.word for w in words],
            customdata=np.column_stack([starts, ends]) if words else _EMPTY.reshape(0, 2),
        )
        self._draw_labels("interim labels", words, _lane_y(1), _WORD_ROWS[:1], view)

    def _draw_labels(self, name: str, words: list[Any], lane: float, rows: tuple[float, ...], view: Any) -> None:
        labels = fit_labels(
            ((w.start, w.end, w.word) for w in words),
            self._px_per_second(view),
            font_size=_LABEL_SIZE,
            rows=len(rows),
        )
        self._set(
            name,
            x=np.fromiter((lab.x for lab in labels), float, len(labels)),
            y=np.fromiter((lane + rows[lab.row] for lab in labels), float, len(labels)),
            text=[lab.text for lab in labels],
        )

    def _draw_windows(self, view: TimelineView) -> None:
        lane = _lane_y(2)
        finals: list[tuple[list[float], list[float]]] = []
        interims: list[tuple[list[float], list[float]]] = []
        level: dict[int, tuple[float, int]] = {}  # channel -> (segment start, interims seen)
        for w in view.windows:
            if w.is_final:
                y = lane - 0.25
                finals.append(([w.start, w.start, w.end, w.end], [y + _TICK, y, y, y + _TICK]))
                level.pop(w.channel, None)
                continue
            start, count = level.get(w.channel, (w.start, 0))
            count = count + 1 if round(start, 6) == round(w.start, 6) else 1
            level[w.channel] = (w.start, count)
            # Interims of one segment stack upwards, so the window visibly grows.
            y = lane - 0.05 + 0.1 * min(count - 1, 5)
            interims.append(([w.start, w.start, w.end, w.end], [y - _TICK, y, y, y - _TICK]))
        for name, brackets in (("final windows", finals), ("interim windows", interims)):
            self._set(name, x=_nan_joined(b[0] for b in brackets), y=_nan_joined(b[1] for b in brackets))

    def _draw_gaps(self, view: TimelineView) -> None:
        lane = _lane_y(3)
        for name, gaps in (
            ("gaps", [g for g in view.gaps if not g.over_threshold]),
            (self._over_name, [g for g in view.gaps if g.over_threshold]),
        ):
            self._set(
                name,
                x=_nan_joined((g.start, g.end) for g in gaps),
                y=_nan_joined((lane, lane) for _ in gaps),
            )
        gaps = view.gaps
        labels = fit_labels(
            ((g.start, g.end, f"{g.length * 1000:.0f} ms") for g in gaps),
            self._px_per_second(view),
            font_size=_LABEL_SIZE,
            rows=len(_GAP_ROWS),
            must=gaps_that_matter(gaps, *self._thresholds),
        )
        self._set(
            "gap length",
            x=np.fromiter((lab.x for lab in labels), float, len(labels)),
            y=np.fromiter((lane + _GAP_ROWS[lab.row] for lab in labels), float, len(labels)),
            text=[lab.text for lab in labels],
        )

    def _draw_events(self, view: TimelineView) -> None:
        lane = _lane_y(4)
        finals = view.speech_finals
        self._set(
            "speech_final",
            x=np.fromiter((m.time for m in finals), float, len(finals)),
            y=np.full(len(finals), lane + 0.25),
            customdata=np.fromiter((m.at for m in finals), float, len(finals)),
        )
        for name, markers, y, label in (
            ("UtteranceEnd", view.utterance_ends, lane, "last_word_end"),
            ("SpeechStarted", view.speech_starts, lane - 0.25, "timestamp"),
        ):
            # Each event: a big marker at its stream time, a dotted line to a small dot at its arrival.
            self._set(
                name,
                x=_nan_joined((m.time, m.at) for m in markers),
                y=_nan_joined((y, y) for _ in markers),
                marker_size=np.tile([14.0, 7.0, 0.0], len(markers)),
                hovertext=[
                    text for m in markers for text in (f"{label}={m.time:.3f} s", f"arrived at {m.at:.3f} s", "")
                ],
            )
        for event in TURN_MARKER_EVENTS:
            markers = [m for m in view.turn_events if m.event == event]
            y = lane + _TURN_MARKS[event][0]
            # A big marker when it arrived, a dotted line back to a dot at the audio it judged.
            self._set(
                event,
                x=_nan_joined((m.at, m.time) for m in markers),
                y=_nan_joined((y, y) for _ in markers),
                marker_size=np.tile([13.0, 6.0, 0.0], len(markers)),
                hovertext=[
                    text
                    for m in markers
                    for text in (
                        f"turn {m.turn} {m.event} arrived at {m.at:.3f} s"
                        f"{f' (trigger {m.trigger})' if m.trigger else ''}<br>"
                        f"end_of_turn_confidence {m.confidence:.2f}<br>{m.transcript or '(no words)'}",
                        f"audio judged up to {m.time:.3f} s",
                        "",
                    )
                ],
            )

    def _draw_decisions(self, view: TimelineView) -> None:
        lanes = {name: _lane_y(len(LANES) + i) for i, name in enumerate(strategy_order(view.strategies))}
        # Every strategy trace is redrawn, also those of a previous session (emptied).
        by_strategy: dict[str, list[Any]] = {name: [] for name in self._strategy_traces}
        for decision in view.decisions:
            by_strategy.setdefault(decision.strategy, []).append(decision)
        for name, decisions in by_strategy.items():
            y = lanes.get(name, 0.0)
            self._set_strategy(
                name,
                x=_nan_joined((d.end, d.decided_at) for d in decisions),
                y=_nan_joined((y, y) for _ in decisions),
                marker_size=np.tile([9.0, 12.0, 0.0], len(decisions)),
                marker_symbol=[
                    s
                    for d in decisions
                    for s in ("line-ns-open", "circle-open" if d.provisional else "circle", "circle")
                ],
                hovertext=[
                    text
                    for d in decisions
                    for text in (
                        f"last word ends {d.end:.3f} s",
                        f"{d.trigger} at {d.decided_at:.3f} s (+{(d.decided_at - d.end) * 1000:.0f} ms)"
                        f"{' provisional' if d.provisional else ''}<br>{d.text}",
                        "",
                    )
                ],
            )

    def _add_strategy_trace(self, name: str) -> None:
        color = strategy_color(name)
        self.figure.add_scatter(
            name=name,
            mode="lines+markers",
            line={"color": color, "width": 2},
            marker={"color": color, "line": {"width": 2, "color": color}},
            hovertemplate="%{hovertext}<extra>" + name + "</extra>",
            # Grouped under a title, so a strategy called "speech_final" is not read as the event.
            legendgroup="strategies",
            # the legend lists strategies in the registry's lane order, not in order of first decision
            legendrank=1000
            + (list(STRATEGY_COLORS).index(name) if name in STRATEGY_COLORS else 100 + len(self._strategy_traces)),
            legendgrouptitle_text="strategies (● decided, ○ on interim words):",
        )
        self._strategy_traces[name] = len(self.figure.data) - 1

    def _draw_layout(self, view: TimelineView) -> None:
        layout = self.figure.layout
        if self._drawn_keys.get("session") != self._session:
            # A new session: a new uirevision lets plotly drop the previous session's zoom.
            layout.uirevision = f"dgwidgets-{self._session}"
            if self.window_seconds is None:
                layout.xaxis.autorange = True
            self._drawn_keys["session"] = self._session
        if self.window_seconds is not None:
            # Follow the stream: the last window_seconds, growing until the stream is that long.
            left = max(0.0, view.duration - self.window_seconds)
            layout.xaxis.range = [left, left + self.window_seconds]
        # Otherwise x autoranges to the data and a zoom the user made is left alone: the
        # uirevision stays the same across updates, and the range is never set from here.
        playhead = self._playhead
        shape = layout.shapes[0]
        if playhead is None:
            shape.visible = False
        else:
            shape.update(x0=playhead, x1=playhead, visible=True)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop redrawing and following, and close the figure and this widget."""
        self._stop_updates()
        figure = getattr(self, "figure", None)
        if figure is not None:
            figure.close()
        super().close()
