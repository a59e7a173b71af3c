"""dgwidgets: learn live speech-to-text timing (interim results, endpointing, UtteranceEnd,
SpeechStarted) hands-on in JupyterLab, offline with a local engine or with Deepgram's cloud.

>>> from dgwidgets import LiveOptions
>>> LiveOptions(interim_results=True, endpointing=300).to_query()
'interim_results=true&endpointing=300'

In a notebook::

    from dgwidgets import StreamLab
    StreamLab(source="sample:credit-card", interim_results=True, endpointing=300)
    StreamLab(api="v2", source="sample:voice-agent", eager_eot_threshold=0.5)   # Flux, /v2/listen

The widgets (StreamLab and friends), the server and the client are imported on first use, so
the command line and the engine do not load ipywidgets or plotly.
"""

from __future__ import annotations

import importlib
from typing import Any

from .examples import example
from .flux import FluxOptions
from .protocol import LiveOptions, MessageError, OptionsError, parse_message
from .replay import replay
from .samples import sample, samples
from .session import SessionFileError, SessionLog

__version__ = "0.1.0"

_LAZY = {
    "StreamLab": "dgwidgets.widgets.lab",
    "Comparison": "dgwidgets.widgets.lab",
    "ParameterPanel": "dgwidgets.widgets.controls",
    "ResultsTable": "dgwidgets.widgets.table",
    "WordTimeline": "dgwidgets.widgets.timeline",
    "BrowserMicrophone": "dgwidgets.widgets.browser",
    "Beeper": "dgwidgets.widgets.browser",
    "AudioPlayer": "dgwidgets.widgets.browser",
    "LiveClient": "dgwidgets.client",
    "Backend": "dgwidgets.client",
    "BackgroundServer": "dgwidgets.server",
    "LocalServer": "dgwidgets.server",
}

__all__ = [
    "LiveOptions",
    "FluxOptions",
    "OptionsError",
    "MessageError",
    "parse_message",
    "SessionLog",
    "SessionFileError",
    "example",
    "replay",
    "sample",
    "samples",
    "serve",
    "__version__",
    *_LAZY,
]


def serve(host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> Any:
    """Start the local engine in the background of this process; returns the running BackgroundServer.

    >>> server = serve()
    >>> server.url.startswith("ws://127.0.0.1:")
    True
    >>> server.stop()
    """
    from .server import BackgroundServer

    return BackgroundServer(host, port, **kwargs).start()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dgwidgets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
