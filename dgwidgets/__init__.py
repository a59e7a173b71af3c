"""dgwidgets: learn live speech-to-text timing (interim results, endpointing, UtteranceEnd,
SpeechStarted) hands-on in JupyterLab, offline with a local engine or with Deepgram's cloud.

>>> from dgwidgets import LiveOptions
>>> LiveOptions(interim_results=True, endpointing=300).to_query()
'interim_results=true&endpointing=300'
"""

from .protocol import LiveOptions, MessageError, OptionsError, parse_message
from .session import SessionFileError, SessionLog

__version__ = "0.1.0"

__all__ = [
    "LiveOptions",
    "OptionsError",
    "MessageError",
    "parse_message",
    "SessionLog",
    "SessionFileError",
    "__version__",
]
