"""Keep API keys out of logs: websockets logs every handshake header at DEBUG level.

`install()` adds a filter to websockets' client and server loggers that keeps each header's name
and hides the value of `Authorization` and of a `token, KEY` subprotocol. The client and the server
install it when imported; it is idempotent.
"""

from __future__ import annotations

import logging

__all__ = ["install"]

_LOGGERS = ("websockets.client", "websockets.server")


class _RedactHandshakeKeys(logging.Filter):
    """websockets logs every handshake header at DEBUG level, so `logging.basicConfig(level=DEBUG)` in a
    notebook would print the API key (``Authorization: Token KEY``, or a browser's ``token, KEY``
    subprotocol) into the cell's output. Keep the header's name, hide its value."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg in ("> %s: %s", "< %s: %s") and isinstance(args, tuple) and len(args) == 2:
            name, value = str(args[0]), str(args[1])
            if name.lower() == "authorization":
                record.args = (name, "***")
            elif name.lower() == "sec-websocket-protocol" and "," in value:
                scheme = value.split(",", 1)[0].strip()
                record.args = (name, f"{scheme}, ***" if scheme.lower() in ("token", "bearer") else "***")
        return True


def install() -> None:
    """Attach the filter to websockets' loggers (once)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactHandshakeKeys) for f in logger.filters):
            logger.addFilter(_RedactHandshakeKeys())
