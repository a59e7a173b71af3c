"""The API key never leaks, the server is loopback-only unless told otherwise, keys are compared in
constant time, and the server's limits hold.

Every keyed path is run for real against a keyed local server: the CLI (key as a flag and from
DEEPGRAM_API_KEY), a LiveClient, a wrong key, a StreamLab whose key is typed into its password
field, and a notebook executed by nbclient that takes the key from its environment. Then the key,
its base64 and its first 12 characters are searched for in everything a person or a file could
see: subprocess output, Python logging at DEBUG (websockets' handshake logs included), exception
texts, reprs, saved sessions, the executed notebook (outputs and widget state) and widget state.

Covered elsewhere, not repeated here: tests/test_server.py (401 for missing/wrong keys and key
schemes, 429 past max_connections, close 1011 after the inactivity timeout, the serve command's
loopback URL and its warning on 0.0.0.0 without a key) and tests/test_faults.py (close 1009 for a
frame over max_frame_bytes, the other streams going on).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import ipywidgets as W
import nbformat
import psutil
import pytest
from nbclient import NotebookClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dgwidgets.audio import FileSource
from dgwidgets.client import API_KEY_ENV, AuthenticationError, Backend, ConnectionFailedError, LiveClient
from dgwidgets.protocol import LiveOptions
from dgwidgets.server import BackgroundServer, LocalServer, ServerSettings
from dgwidgets.session import SessionLog
from dgwidgets.widgets.lab import StreamLab

REPO = Path(__file__).resolve().parent.parent
# Random per run: it cannot be in any file, log or output unless this run put it there.
KEY = "dgwK" + secrets.token_hex(16)
NEEDLES = {
    "the key": KEY,
    "its base64": base64.b64encode(KEY.encode()).decode(),
    "its first 12 characters": KEY[:12],
}
YES = LiveOptions(keyterm=("yes",))


def assert_no_key(where: str, text: object) -> None:
    text = text if isinstance(text, str) else str(text)
    for what, needle in NEEDLES.items():
        assert needle not in text, f"{what} appears in {where}"


def no_key_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (API_KEY_ENV, "DGWIDGETS_SERVER_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def keyed():
    with BackgroundServer(api_key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def no_key_in_this_environment(monkeypatch):
    """A key set on this machine must not stand in for the one each test gives (or withholds)."""
    monkeypatch.delenv(API_KEY_ENV, raising=False)


@pytest.fixture
def debug_logs(caplog):
    """Python logging at DEBUG everywhere, websockets' handshake logs included."""
    caplog.set_level(logging.DEBUG)
    for name in ("websockets", "websockets.client", "websockets.server", "dgwidgets"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def all_widgets(widget: W.Widget) -> list[W.Widget]:
    """The widget and every widget inside it (children, and widget-valued traits)."""
    seen: dict[int, W.Widget] = {}
    todo = [widget]
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen[id(w)] = w
        for name in w.keys:
            value = getattr(w, name, None)
            items = value if isinstance(value, (list, tuple)) else [value]
            todo.extend(v for v in items if isinstance(v, W.Widget))
    return list(seen.values())


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("how", ["--api-key", "DEEPGRAM_API_KEY"])
def test_cli_stream_with_the_key_never_shows_it(keyed, tmp_path, how):
    saved = tmp_path / "session.jsonl"
    env = no_key_env()
    cmd = [sys.executable, "-m", "dgwidgets", "stream", "sample:yes", "--url", keyed.url, "--speed", "0"]
    cmd += ["--save", str(saved), "--interim-results", "--vad-events", "--format", "jsonl"]
    if how == "--api-key":
        cmd += ["--api-key", KEY]
    else:
        env[API_KEY_ENV] = KEY
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert SessionLog.load(saved).final_transcript() == "yes"  # the key was accepted: it really streamed
    assert_no_key("the CLI's stdout", proc.stdout)
    assert_no_key("the CLI's stderr", proc.stderr)
    assert_no_key("the saved session", saved.read_text())


def test_cli_stream_with_a_wrong_key_fails_without_showing_either_key(keyed, tmp_path):
    saved = tmp_path / "session.jsonl"
    wrong = KEY[::-1]
    cmd = [sys.executable, "-m", "dgwidgets", "stream", "sample:yes", "--url", keyed.url, "--speed", "0"]
    env = {**no_key_env(), API_KEY_ENV: wrong}
    proc = subprocess.run(cmd + ["--save", str(saved)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and "API key" in proc.stderr
    for text in (proc.stdout, proc.stderr, saved.read_text()):
        assert_no_key("the failed CLI run", text)
        assert wrong not in text and wrong[:12] not in text


# --------------------------------------------------------------------------- LiveClient and the servers


async def test_live_client_keyed_and_wrong_key_runs_leave_no_trace(keyed, tmp_path, debug_logs):
    saved = tmp_path / "client.jsonl"
    backend = Backend.resolve(url=keyed.url, api_key=KEY)
    client = LiveClient(backend, YES, save=saved)
    log = await client.stream(FileSource("sample:yes", speed=0))
    assert log.final_transcript() == "yes"

    errors = []
    for wrong in ("", "x", KEY[:-1], KEY + "x", KEY.upper(), "y" * 500):
        wrong_client = LiveClient(Backend.resolve(url=keyed.url, api_key=wrong or None), YES)
        with pytest.raises(AuthenticationError) as info:
            await wrong_client.stream(FileSource("sample:yes", speed=0))
        assert info.value.status == 401
        errors.append(info.value)
        assert_no_key("a wrong-key client's repr", repr(wrong_client))

    # a client given the right key for a server that is not there
    with BackgroundServer() as gone:
        url = gone.url
    with pytest.raises(ConnectionFailedError) as down:
        await LiveClient(Backend.resolve(url=url, api_key=KEY), YES, open_timeout=2).stream(
            FileSource("sample:yes", speed=0)
        )
    errors.append(down.value)

    for err in errors:
        for chained in (err, err.__cause__, err.__context__):
            assert_no_key("an exception's str", str(chained))
            assert_no_key("an exception's repr", repr(chained))
    for obj in (backend, client, keyed, keyed.server, Backend.resolve(api_key=KEY)):
        assert_no_key(f"repr({type(obj).__name__})", repr(obj))
        assert_no_key(f"str({type(obj).__name__})", str(obj))
    assert_no_key("the saved session", saved.read_text())
    assert_no_key("the session's JSONL", log.to_jsonl())
    # the handshake really was logged at DEBUG (so the check above means something)
    assert any(r.name.startswith("websockets") and "Authorization" in r.getMessage() for r in debug_logs.records)
    assert_no_key("Python logging at DEBUG", "\n".join(r.getMessage() for r in debug_logs.records))
    assert_no_key("the caplog text", debug_logs.text)


async def test_browser_style_subprotocol_key_is_not_logged(keyed, debug_logs):
    async with connect(keyed.url, subprotocols=["token", KEY]) as ws:
        assert ws.subprotocol == "token"
        await ws.send(json.dumps({"type": "CloseStream"}))
        async for _ in ws:
            pass
    assert any("Sec-WebSocket-Protocol" in r.getMessage() for r in debug_logs.records)
    assert_no_key("Python logging at DEBUG", debug_logs.text)


def test_server_settings_repr_hides_the_key():
    assert_no_key("repr(ServerSettings)", repr(ServerSettings(api_key=KEY)))


# --------------------------------------------------------------------------- the widgets


async def test_stream_lab_key_typed_into_the_password_field(keyed, debug_logs):
    lab = StreamLab(source="sample:yes", backend="url", url=keyed.url, speed=0, show_player=False)
    lab.panel.api_key.value = KEY  # what typing into the field does
    assert lab.panel.api_key.value == ""  # emptied at once
    assert "key set" in lab.panel.key_state.value

    log = await lab.run()
    assert log.final_transcript() == "yes" and lab.error is None

    widgets = all_widgets(lab)
    assert lab.panel.api_key in widgets and lab.table in widgets and lab.panel in widgets
    for w in widgets:
        assert_no_key(f"the state of {type(w).__name__}", json.dumps(w.get_state(), default=repr))
    for obj in (lab, lab.panel, lab.panel.backend(), lab._client):
        assert_no_key(f"repr({type(obj).__name__})", repr(obj))
    assert_no_key("the lab's status", lab.status.value)
    assert_no_key("the lab's session", log.to_jsonl())
    assert_no_key("the table's export", lab.table.to_jsonl())
    assert_no_key("Python logging at DEBUG", debug_logs.text)

    # a wrong key typed in: the error is shown, neither key is
    wrong = KEY[::-1]
    lab.panel.api_key.value = wrong
    with pytest.raises(AuthenticationError):
        await lab.run()
    assert "API key" in lab.status.value
    for text in (lab.status.value, str(lab.error), repr(lab.error), repr(lab), debug_logs.text):
        assert_no_key("the failed lab", text)
        assert wrong not in text and wrong[:12] not in text
    for w in all_widgets(lab):
        assert wrong not in json.dumps(w.get_state(), default=repr)


NOTEBOOK_CELLS = [
    "import logging, os\nlogging.basicConfig(level=logging.DEBUG)  # what a student debugging a connection does\n"
    "from dgwidgets.audio import FileSource\nfrom dgwidgets.client import Backend, LiveClient\n"
    "from dgwidgets.widgets.lab import StreamLab\nURL = {url!r}",
    "lab = StreamLab(source='sample:yes', backend='url', url=URL, speed=0, show_player=False)\nlab",
    "log = await lab.run()\nprint('lab:', log.final_transcript())\nlab.panel, lab.panel.backend()",
    "client = LiveClient(Backend.resolve(url=URL))\nclog = await client.stream(FileSource('sample:yes', speed=0))\n"
    "print('client:', clog.final_transcript())\nclient, client.backend, clog.info",
    "print('env key present:', bool(os.environ.get('DEEPGRAM_API_KEY')))",
]


def test_notebook_using_the_key_from_the_environment(keyed, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src.format(url=keyed.url)) for src in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env = {**no_key_env(), API_KEY_ENV: KEY}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)  # the kernel gets the key in its environment, nowhere else
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)

    text = path.read_text()
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "lab: yes" in outputs and "client: yes" in outputs and "env key present: True" in outputs
    assert "Authorization" in outputs  # the DEBUG handshake logs really reached the cell output
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    assert state.get("state"), "the executed notebook keeps the widget state"
    assert_no_key("the executed notebook's outputs", outputs)
    assert_no_key("the executed notebook's widget state", json.dumps(state))
    assert_no_key("the executed notebook file", text)


# --------------------------------------------------------------------------- binding


def _serve(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "dgwidgets", "serve", "--port", "0", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=no_key_env())


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.terminate()
    return proc.communicate(timeout=10)


def _listening(pid: int) -> list[tuple[str, int]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conns = [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        if conns:
            return [(c.laddr.ip, c.laddr.port) for c in conns]
        time.sleep(0.05)
    raise AssertionError("the server listens on no socket")


def test_defaults_bind_loopback_only():
    assert LocalServer().host == "127.0.0.1" and BackgroundServer().server.host == "127.0.0.1"
    assert not LocalServer().exposed
    proc = _serve()
    try:
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        sockets = _listening(proc.pid)
    finally:
        out, err = _stop(proc)
    assert sockets == [("127.0.0.1", port)], sockets
    assert ipaddress.ip_address(sockets[0][0]).is_loopback
    assert "without --api-key" not in err


@pytest.mark.parametrize("keyed_serve", [False, True])
def test_exposed_server_warns_only_without_a_key(keyed_serve):
    proc = _serve("--host", "0.0.0.0", *(["--api-key", KEY] if keyed_serve else []))
    try:
        assert proc.stdout.readline().startswith("listening on ws://0.0.0.0:")
        sockets = _listening(proc.pid)
    finally:
        out, err = _stop(proc)
    assert [ip for ip, _ in sockets] == ["0.0.0.0"]
    assert ("without --api-key" in err) is not keyed_serve
    assert_no_key("serve's output", out + err)


# --------------------------------------------------------------------------- constant-time comparison


async def _status_of(url: str, key: str | None) -> tuple[int, dict, str]:
    headers = {"Authorization": f"Token {key}"} if key is not None else None
    try:
        async with connect(url, additional_headers=headers, open_timeout=5):
            return 101, {}, ""
    except InvalidStatus as err:
        body = json.loads(err.response.body)
        return (
            err.response.status_code,
            {k: v for k, v in body.items() if k != "request_id"},
            (err.response.headers.get("dg-error", "")),
        )


def test_keys_are_compared_with_hmac_compare_digest(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    with BackgroundServer(api_key=KEY) as server:
        assert asyncio.run(_status_of(server.url, KEY))[0] == 101
        assert asyncio.run(_status_of(server.url, "nope"))[0] == 401
    assert calls == [(KEY.encode(), KEY.encode()), (b"nope", KEY.encode())]


def test_wrong_keys_of_every_length_get_the_same_401(keyed):
    candidates = [None, ""] + ["k" * n for n in range(1, len(KEY) + 12)]
    candidates += [KEY[:n] for n in range(1, len(KEY))] + [KEY + "x", "x" + KEY, KEY.swapcase(), KEY[1:] + KEY[0]]

    async def all_statuses():
        return [await _status_of(keyed.url, key) for key in candidates]

    answers = asyncio.run(all_statuses())
    expected = (401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}, "Invalid credentials.")
    assert all(answer == expected for answer in answers), [a for a in answers if a != expected]
    assert asyncio.run(_status_of(keyed.url, KEY))[0] == 101
