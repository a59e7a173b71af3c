"""ParameterPanel: pick the audio, the backend and every live parameter, with the rules explained inline.

The panel only collects choices; `options()` turns them into validated `LiveOptions`, and
invalid or ineffective combinations are explained under the controls as you change them (e.g.
"utterance_end_ms needs interim_results"). An API key typed into the password field is moved
into the kernel at once and the field is emptied, so the key is never kept in widget state
(which a notebook may save) nor shown.

>>> panel = ParameterPanel(source="sample:dictation-pauses", endpointing=500, interim_results=True)
>>> panel.options().to_query().startswith("interim_results=true&endpointing=500")
True

With ``api="v2"`` (or the API toggle) the panel shows Flux's controls instead and `options()`
gives `FluxOptions`:

>>> ParameterPanel(api="v2", eager_eot_threshold=0.5).options().to_query()
'model=flux-general-en&eager_eot_threshold=0.5'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import ipywidgets as W

from ..client import API_KEY_ENV, Backend
from ..flux import EAGER_EOT_THRESHOLD_RANGE, EOT_THRESHOLD_RANGE, EOT_TIMEOUT_RANGE, FluxOptions
from ..protocol import DEFAULT_ENDPOINTING_MS, MIN_UTTERANCE_END_MS, LiveOptions, OptionsError
from ..samples import samples

__all__ = ["ParameterPanel", "SOURCE_MIC", "SOURCE_BROWSER_MIC", "SOURCE_UPLOAD", "BACKEND_ENV", "URL_ENV"]

SOURCE_MIC = "mic"
SOURCE_BROWSER_MIC = "browser-mic"
SOURCE_UPLOAD = "upload"
_BACKENDS = (("Local engine", "local"), ("Deepgram cloud", "cloud"), ("Custom URL", "url"))
#: The default backend of new panels (`make lab` sets it to `local`; a class may use `url` or `cloud`).
BACKEND_ENV = "DGWIDGETS_BACKEND"
#: With the `url` backend, the default URL (e.g. the classroom server's).
URL_ENV = "DGWIDGETS_URL"
#: `model=`: None sends none (the cloud's default; the local engine's Whisper tiny.en).
_MODELS = (
    ("default (cloud: Deepgram's; local: Whisper tiny.en)", None),
    ("nova-3 (local engine: Whisper tiny.en)", "nova-3"),
    ("pocketsphinx (local only: the classic recognizer, interims rewritten a lot)", "pocketsphinx"),
)
_SPEEDS = (("real time (1×)", 1.0), ("2×", 2.0), ("as fast as possible", 0.0))
_APIS = (("/v1/listen: Results, endpointing, UtteranceEnd", "v1"), ("/v2/listen: Flux turns", "v2"))
_DESCRIPTION = {"description_width": "initial"}


def _source_choices() -> list[tuple[str, str]]:
    choices = [(f"{s.title} (sample:{s.name})", f"sample:{s.name}") for s in samples()]
    choices += [
        ("Upload an audio file…", SOURCE_UPLOAD),
        ("Microphone of the kernel's machine", SOURCE_MIC),
        ("Microphone of this browser", SOURCE_BROWSER_MIC),
    ]
    return choices


class ParameterPanel(W.VBox):
    """Controls for the source, the backend and the live parameters (Deepgram's ranges and defaults).

    The API toggle (`api`: ``"v1"`` or ``"v2"``) picks ``/v1/listen`` (interim results, endpointing,
    UtteranceEnd, …) or Flux's ``/v2/listen`` (``eot_threshold``, ``eager_eot_threshold``,
    ``eot_timeout_ms``); only the chosen API's controls are shown, keyterms and the source are shared.
    """

    def __init__(
        self,
        *,
        source: str = "sample:credit-card",
        backend: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        speed: float = 1.0,
        interim_results: bool = True,
        endpointing: int | bool = DEFAULT_ENDPOINTING_MS,
        utterance_end_ms: int | None = None,
        vad_events: bool = False,
        punctuate: bool = False,
        smart_format: bool = False,
        numerals: bool = False,
        no_delay: bool = False,
        keyterms: tuple[str, ...] | list[str] | None = None,
        model: str | None = None,
        params: str = "",
        api: str = "v1",
        eot_threshold: float = 0.7,
        eager_eot_threshold: float | None = None,
        eot_timeout_ms: int = 5000,
    ) -> None:
        if api not in dict(_APIS).values():
            raise ValueError(f"api must be 'v1' (/v1/listen) or 'v2' (Flux, /v2/listen), got {api!r}")
        self._api_key = api_key
        self._uploaded: Path | None = None
        backend = backend or os.environ.get(BACKEND_ENV) or "local"
        if backend not in dict(_BACKENDS).values():
            raise ValueError(
                f"backend must be one of local, cloud, url (from {BACKEND_ENV} or the argument), got {backend!r}"
            )
        url = url if url is not None else os.environ.get(URL_ENV, "")
        choices = _source_choices()
        values = [v for _, v in choices]
        if source not in values:
            # a file path given in code: offer it in the list
            choices.insert(0, (str(source), str(source)))
        self.source = W.Dropdown(
            options=choices, value=str(source), description="Audio", style=_DESCRIPTION, layout=W.Layout(width="480px")
        )
        self.upload = W.FileUpload(
            accept="audio/*,.wav,.flac,.ogg,.mp3", multiple=False, layout=W.Layout(display="none")
        )
        self.speed = W.Dropdown(
            options=_SPEEDS,
            value=speed if speed in dict(_SPEEDS).values() else 1.0,
            description="Pace",
            style=_DESCRIPTION,
            layout=W.Layout(width="260px"),
        )
        self.backend_choice = W.ToggleButtons(
            options=_BACKENDS, value=backend, description="Backend", style=_DESCRIPTION
        )
        self.api_key = W.Password(
            placeholder=f"Deepgram API key (or set {API_KEY_ENV})", description="Key", layout=W.Layout(width="360px")
        )
        self.key_state = W.HTML()
        self.url = W.Text(
            value=url, placeholder="ws://127.0.0.1:8765/v1/listen", description="URL", layout=W.Layout(width="420px")
        )

        self.interim_results = W.Checkbox(value=interim_results, description="interim_results", indent=False)
        endpoint_off = endpointing is False
        self.endpointing = W.IntSlider(
            value=DEFAULT_ENDPOINTING_MS if endpoint_off else int(endpointing),
            min=0,
            max=2000,
            step=10,
            description="endpointing (ms)",
            style=_DESCRIPTION,
            continuous_update=False,
            layout=W.Layout(width="420px"),
        )
        self.endpointing_off = W.Checkbox(value=endpoint_off, description="off (endpointing=false)", indent=False)
        self.utterance_end_on = W.Checkbox(
            value=utterance_end_ms is not None, description="utterance_end_ms", indent=False
        )
        self.utterance_end_ms = W.IntSlider(
            value=utterance_end_ms if utterance_end_ms is not None else MIN_UTTERANCE_END_MS,
            min=MIN_UTTERANCE_END_MS,
            max=5000,
            step=100,
            continuous_update=False,
            layout=W.Layout(width="300px"),
        )
        self.vad_events = W.Checkbox(value=vad_events, description="vad_events", indent=False)
        self.punctuate = W.Checkbox(value=punctuate, description="punctuate", indent=False)
        self.smart_format = W.Checkbox(value=smart_format, description="smart_format", indent=False)
        self.numerals = W.Checkbox(value=numerals, description="numerals", indent=False)
        self.no_delay = W.Checkbox(value=no_delay, description="no_delay", indent=False)
        self.keyterms = W.Text(
            description="keyterm",
            placeholder="phrases that bias recognition, comma-separated",
            style=_DESCRIPTION,
            layout=W.Layout(width="640px"),
        )
        self._keyterms_given = keyterms is not None
        self.keyterms.value = ", ".join(keyterms) if keyterms is not None else self._sample_keyterms()
        model_choices = list(_MODELS)
        if model not in dict(_MODELS).values():
            model_choices.append((str(model), model))
        self.model = W.Dropdown(
            options=model_choices, value=model, description="model", style=_DESCRIPTION, layout=W.Layout(width="520px")
        )
        self.params = W.Text(
            value=params,
            description="more parameters",
            placeholder="any other query parameters, e.g. diarize=true&extra=room:7b",
            style=_DESCRIPTION,
            layout=W.Layout(width="640px"),
        )
        self.message = W.HTML(layout=W.Layout(min_height="1.5em"))

        self.api = W.ToggleButtons(options=_APIS, value=api, description="API", style=_DESCRIPTION)
        self.eot_threshold = W.FloatSlider(
            value=eot_threshold,
            min=EOT_THRESHOLD_RANGE[0],
            max=EOT_THRESHOLD_RANGE[1],
            step=0.05,
            description="eot_threshold",
            style=_DESCRIPTION,
            continuous_update=False,
            readout_format=".2f",
            layout=W.Layout(width="420px"),
        )
        self.eager_on = W.Checkbox(
            value=eager_eot_threshold is not None, description="eager_eot_threshold", indent=False
        )
        self.eager_eot_threshold = W.FloatSlider(
            value=eager_eot_threshold if eager_eot_threshold is not None else 0.5,
            min=EAGER_EOT_THRESHOLD_RANGE[0],
            max=EAGER_EOT_THRESHOLD_RANGE[1],
            step=0.05,
            continuous_update=False,
            readout_format=".2f",
            layout=W.Layout(width="300px"),
        )
        self.eot_timeout_ms = W.IntSlider(
            value=eot_timeout_ms,
            min=EOT_TIMEOUT_RANGE[0],
            max=EOT_TIMEOUT_RANGE[1],
            step=100,
            description="eot_timeout_ms",
            style=_DESCRIPTION,
            continuous_update=False,
            layout=W.Layout(width="520px"),
        )
        # Each API's own controls, shown only while that API is chosen.
        self._v1_boxes = [
            W.HBox(
                [
                    self.interim_results,
                    self.vad_events,
                    self.punctuate,
                    self.smart_format,
                    self.numerals,
                    self.no_delay,
                ]
            ),
            W.HBox([self.endpointing, self.endpointing_off]),
            W.HBox([self.utterance_end_on, self.utterance_end_ms]),
            W.HBox([self.model]),
        ]
        self._v2_boxes = [
            W.HBox([self.eot_threshold]),
            W.HBox([self.eager_on, self.eager_eot_threshold]),
            W.HBox([self.eot_timeout_ms]),
        ]

        super().__init__(
            children=[
                W.HBox([self.source, self.speed]),
                self.upload,
                W.HBox([self.backend_choice]),
                W.HBox([self.api_key, self.key_state, self.url]),
                W.HBox([self.api]),
                *self._v1_boxes,
                *self._v2_boxes,
                self.keyterms,
                self.params,
                self.message,
            ],
            layout=W.Layout(border="1px solid var(--jp-border-color2, #ddd)", padding="6px"),
        )
        self.add_class("dg-parameter-panel")
        for control in (
            self.interim_results,
            self.endpointing,
            self.endpointing_off,
            self.utterance_end_on,
            self.utterance_end_ms,
            self.vad_events,
            self.punctuate,
            self.smart_format,
            self.numerals,
            self.no_delay,
            self.keyterms,
            self.model,
            self.params,
            self.url,
            self.speed,
            self.eot_threshold,
            self.eager_on,
            self.eager_eot_threshold,
            self.eot_timeout_ms,
        ):
            control.observe(self._validate, names="value")
        self.api.observe(self._on_api, names="value")
        self.source.observe(self._on_source, names="value")
        self.backend_choice.observe(self._on_backend, names="value")
        self.api_key.observe(self._on_key, names="value")
        self.upload.observe(self._on_upload, names="value")
        self._on_backend()
        self._on_source()
        self._on_api()

    # -- what the panel says --------------------------------------------------------------------

    @property
    def api_value(self) -> str:
        """The chosen API: ``"v1"`` (``/v1/listen``) or ``"v2"`` (Flux, ``/v2/listen``)."""
        return str(self.api.value)

    def _keyterm_tuple(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.keyterms.value.split(",") if k.strip())

    def flux_options(self) -> FluxOptions:
        """The Flux controls as FluxOptions (raises OptionsError naming the parameter)."""
        options = FluxOptions(
            eot_threshold=round(float(self.eot_threshold.value), 4),
            eager_eot_threshold=round(float(self.eager_eot_threshold.value), 4) if self.eager_on.value else None,
            eot_timeout_ms=int(self.eot_timeout_ms.value),
            keyterm=self._keyterm_tuple(),
        )
        more = self.params.value.strip().lstrip("?")
        if not more:
            return options
        return FluxOptions.from_query(options.to_query() + "&" + more, keep_unknown=True)

    def options(self) -> LiveOptions | FluxOptions:
        """The chosen parameters as LiveOptions, or FluxOptions when the API is v2 (raises OptionsError
        naming the parameter)."""
        if self.api_value == "v2":
            return self.flux_options()
        options = LiveOptions(
            interim_results=self.interim_results.value,
            endpointing=False if self.endpointing_off.value else int(self.endpointing.value),
            utterance_end_ms=int(self.utterance_end_ms.value) if self.utterance_end_on.value else None,
            vad_events=self.vad_events.value,
            punctuate=self.punctuate.value,
            smart_format=self.smart_format.value,
            numerals=self.numerals.value,
            no_delay=self.no_delay.value,
            keyterm=self._keyterm_tuple(),
            model=self.model.value,
        )
        more = self.params.value.strip().lstrip("?")
        if not more:
            return options
        # read as a server reads a query: modelled names (extra, model, …) land in their fields
        return LiveOptions.from_query(options.to_query() + "&" + more)

    @property
    def source_spec(self) -> str:
        """'sample:NAME', a file path, 'mic' or 'browser-mic'."""
        if self.source.value == SOURCE_UPLOAD:
            if self._uploaded is None:
                raise ValueError("choose a file to upload first")
            return str(self._uploaded)
        return str(self.source.value)

    @property
    def pace(self) -> float:
        return float(self.speed.value)

    def backend(self) -> Backend:
        """Where to stream: the local engine, the cloud (with the key) or the custom URL."""
        kind = self.backend_choice.value
        if kind == "cloud":
            key = self._api_key or os.environ.get(API_KEY_ENV)
            if not key:
                raise ValueError(f"enter a Deepgram API key (or set {API_KEY_ENV}) to use the cloud")
            return Backend.resolve(api_key=key)
        if kind == "url":
            return Backend.resolve(url=self.url.value.strip() or None, api_key=self._api_key)
        return Backend.resolve(local=True)

    def set_enabled(self, enabled: bool) -> None:
        """Lock the controls while a stream runs (parameters are fixed for a stream)."""
        for box in self.children:
            for control in getattr(box, "children", (box,)):
                if hasattr(control, "disabled"):
                    control.disabled = not enabled
        if enabled:
            self._validate()  # controls that depend on a checkbox go back to their own state

    def summary(self) -> str:
        """The parameters in one line, e.g. for a comparison's title."""
        try:
            return self.options().replace(keyterm=()).to_query().replace("&", " ") or "Deepgram's defaults"
        except OptionsError as err:
            return f"invalid: {err}"

    # -- reactions ------------------------------------------------------------------------------

    def _sample_keyterms(self) -> str:
        value = str(self.source.value) if hasattr(self, "source") else ""
        if value.startswith("sample:"):
            from ..samples import sample

            return ", ".join(sample(value.removeprefix("sample:")).keyterms)
        return ""

    def _on_source(self, change: Any = None) -> None:
        value = self.source.value
        self.upload.layout.display = None if value == SOURCE_UPLOAD else "none"
        self.speed.disabled = value in (SOURCE_MIC, SOURCE_BROWSER_MIC)
        if change is not None and not self._keyterms_given:
            self.keyterms.value = self._sample_keyterms()
        self._validate()

    def _on_api(self, change: Any = None) -> None:
        v2 = self.api_value == "v2"
        for box in self._v1_boxes:
            box.layout.display = "none" if v2 else None
        for box in self._v2_boxes:
            box.layout.display = None if v2 else "none"
        self.params.placeholder = (
            "any other query parameters, e.g. mip_opt_out=true" if v2 else
            "any other query parameters, e.g. diarize=true&extra=room:7b"
        )  # fmt: skip
        self._validate()

    def _on_backend(self, change: Any = None) -> None:
        kind = self.backend_choice.value
        self.api_key.layout.display = None if kind in ("cloud", "url") else "none"
        self.key_state.layout.display = self.api_key.layout.display
        self.url.layout.display = None if kind == "url" else "none"
        self._show_key_state()
        self._validate()

    def _on_key(self, change: Any) -> None:
        if change["new"]:
            # Take the key into the kernel and empty the field: widget state may be saved in the notebook.
            self._api_key = change["new"]
            self.api_key.value = ""
        self._show_key_state()

    def _show_key_state(self) -> None:
        if self._api_key:
            self.key_state.value = "🔑 key set (kept in the kernel, never shown)"
        elif os.environ.get(API_KEY_ENV):
            self.key_state.value = f"🔑 using {API_KEY_ENV} from the environment"
        else:
            self.key_state.value = ""

    def _on_upload(self, change: Any) -> None:
        files = self.upload.value
        if not files:
            return
        item = files[0]
        suffix = Path(item["name"]).suffix or ".wav"
        handle, path = tempfile.mkstemp(prefix="dgwidgets-upload-", suffix=suffix)
        with os.fdopen(handle, "wb") as out:
            out.write(bytes(item["content"]))
        self._uploaded = Path(path)
        self._validate()

    def _validate(self, change: Any = None) -> bool:
        """Explain invalid or ineffective choices under the controls; True when streaming is possible."""
        self.utterance_end_ms.disabled = not self.utterance_end_on.value
        self.endpointing.disabled = self.endpointing_off.value
        self.eager_eot_threshold.disabled = not self.eager_on.value
        if not hasattr(self, "_v2_boxes"):  # observers fire while the panel is still being built
            return False
        try:
            options = self.options()
        except OptionsError as err:
            self.message.value = f"<span style='color:#c62828'>✖ {err}</span>"
            return False
        notes = options.advice() if isinstance(options, LiveOptions) else []
        if self.backend_choice.value == "url" and not self.url.value.strip().startswith(("ws://", "wss://")):
            notes.insert(0, "enter a websocket URL starting with ws:// or wss://")
        if self.source.value == SOURCE_UPLOAD and self._uploaded is None:
            notes.insert(0, "choose an audio file to upload")
        if self.backend_choice.value == "cloud" and options.model == "pocketsphinx":
            notes.insert(0, "pocketsphinx runs only on the local engine: Deepgram's cloud will refuse it")
        if self.backend_choice.value == "local" and isinstance(options, LiveOptions):
            notes.extend(options.local_engine_notes())
        if isinstance(options, FluxOptions) and self.backend_choice.value == "local" and options.other:
            names = ", ".join(k for k, _ in options.other)
            notes.append(f"{names}: not a /v2/listen parameter; the local engine will refuse the stream (400)")
        if notes:
            self.message.value = "<br>".join(f"<span style='color:#b26a00'>⚠ {n}</span>" for n in notes)
        else:
            self.message.value = "<span style='color:#2e7d32'>✔ ready</span>"
        return True
