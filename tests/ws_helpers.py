"""A websocket exchange shared by the fault and fuzz tests: send frames, then read until the close."""

from __future__ import annotations

import asyncio
import contextlib
import json

from websockets.exceptions import ConnectionClosed

from dgwidgets.protocol import parse_message


async def send_and_collect(ws, frames, *, close: bool = True) -> list:
    """Send `frames` (then CloseStream unless `close=False`) while reading every text message until the
    server closes; a closed connection ends either side quietly (close codes are what the tests check)."""
    messages = []

    async def send():
        with contextlib.suppress(ConnectionClosed):
            for frame in frames:
                await ws.send(frame)
            if close:
                await ws.send(json.dumps({"type": "CloseStream"}))

    sender = asyncio.create_task(send())
    with contextlib.suppress(ConnectionClosed):
        async for text in ws:
            assert isinstance(text, str), "the server sends text frames only"
            messages.append(parse_message(text))
    await sender
    return messages
