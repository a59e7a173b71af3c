"""One JupyterLab server and one headless Chromium shared by all the browser tests.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright through ``executable_path``:
``playwright install`` downloads browsers, which these machines can't. Its fake microphone plays
``sample_audio/hello-there.wav`` once (the ``%noloop`` suffix), so a recording is repeatable.

Outside CI a missing Chromium or Playwright skips these tests; under ``CI=true`` it fails them,
because a green CI run must mean the browser tests really ran.

Tests write notebooks (with nbformat) into ``jupyter_server.root`` and drive them with
`open_and_run`; `screenshot` saves an element under ``artifacts/screenshots/`` (CI keeps it).
JupyterLab draws only the cells near the viewport, so both scroll to an element first.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from dgwidgets.samples import sample

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FAKE_MIC_SAMPLE = "hello-there"
SERVER_START_TIMEOUT = 60.0


def _missing(what: str, fix: str) -> None:
    message = f"{what}: {fix}"
    if IN_CI:
        pytest.fail(f"browser tests must run under CI=true, but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; its absence skips the browser tests (fails them under CI=true)."""
    path = Path(os.environ.get("DGWIDGETS_CHROMIUM", CHROMIUM))
    if not path.exists():
        _missing(f"no Chromium at {path}", "install it with `sudo apt-get install chromium` (Debian/Ubuntu)")
    return path


@dataclass(frozen=True)
class JupyterServer:
    base_url: str
    token: str
    root: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Write a notebook of code cells into the server's root; returns its name."""
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(nb, self.root / name)
        return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(settings_dir: Path) -> None:
    # No "fetch Jupyter news?" toast: it would cover widgets in screenshots.
    plugin = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Every cell stays in the page (no windowing), so a test can read all of a notebook's outputs.
    tracker = settings_dir / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> JupyterServer:
    """A JupyterLab on a free loopback port with fresh settings, workspaces and runtime dirs."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        _missing("JupyterLab is not installed", "`pip install 'dgwidgets[dev]'`")
    base = tmp_path_factory.mktemp("jupyter")
    root, settings, workspaces, runtime, config = (
        base / d for d in ("root", "settings", "workspaces", "runtime", "config")
    )
    for d in (root, settings, workspaces, runtime, config):
        d.mkdir()
    _settings(settings)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(workspaces),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_CONFIG_DIR=str(config),
        # The kernel finds the samples whatever its working directory.
        DGWIDGETS_SAMPLES_DIR=str(sample(FAKE_MIC_SAMPLE).path.parent),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DEEPGRAM_API_KEY", None)  # the tests use the local engine, never the cloud
    log = (base / "server.log").open("wb")
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{(base / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(server.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer in {SERVER_START_TIMEOUT:.0f} s; log in {base / 'server.log'}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def chromium_args(fake_mic: Path) -> list[str]:
    """Headless Chromium flags for these machines; the fake microphone plays ``fake_mic`` once.

    The fake device is a browser-wide flag, so two students with different voices need two browsers.
    """
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",  # grants getUserMedia without a permission prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic}%noloop",  # without %noloop the file repeats
        "--autoplay-policy=no-user-gesture-required",  # sound without a click, as after one in class
    ]


# Package scope, not session: while sync Playwright is running it leaves its event loop marked as
# running in the main thread, so asyncio.run() in any later (non-browser) test would fail.
@pytest.fixture(scope="package")
def browser(chromium_path: Path):
    """Headless Debian Chromium whose fake microphone plays the hello-there sample once."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(
            "Playwright is not installed",
            "`pip install playwright` (no `playwright install`: it uses Debian's Chromium)",
        )
    args = chromium_args(sample(FAKE_MIC_SAMPLE).path)
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=str(chromium_path), headless=True, args=args)
        yield chromium
        chromium.close()
    finally:
        pw.stop()


@pytest.fixture
def page(browser):
    """A fresh page (own cookies/storage) per test, closed afterwards; console errors are kept on ``page.errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def open_and_run(page, server: JupyterServer, notebook: str, *, timeout: float = 60.0) -> None:
    """Open ``notebook`` in JupyterLab, wait for an idle kernel, and run all its cells."""
    ms = timeout * 1000
    # ?reset: a fresh workspace, so notebooks opened by earlier tests are not restored beside this one
    page.goto(server.url(f"lab/tree/{notebook}?reset"), timeout=ms)
    page.wait_for_function(
        """(name) => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const kernel = w && w.context && w.context.path.endsWith(name) && w.sessionContext.session
                && w.sessionContext.session.kernel;
            return kernel && kernel.status === "idle";
        }""",
        arg=notebook,
        timeout=ms,
    )
    # Not awaited: the command's promise resolves only when every cell has finished.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def wait_for_output(page, text: str, *, timeout: float = 60.0):
    """The output area holding ``text`` once it appears (scrolled into view)."""
    output = page.locator(".jp-OutputArea-output", has_text=text).last
    deadline = time.monotonic() + timeout
    while True:
        try:
            output.wait_for(state="attached", timeout=1000)
            output.scroll_into_view_if_needed()
            return output
        except Exception:
            if time.monotonic() > deadline:
                texts = page.locator(".jp-OutputArea-output").all_inner_texts()
                raise AssertionError(f"no output containing {text!r} after {timeout:.0f} s; outputs: {texts}") from None
            # Virtualized notebooks only draw cells near the viewport: bring the last cell into view.
            page.locator(".jp-Cell").last.scroll_into_view_if_needed()


def screenshot(locator, name: str) -> Path:
    """Save ``locator``'s element as ``artifacts/screenshots/NAME.png`` and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=path)
    return path
