"""A real JupyterHub on loopback: configurable-http-proxy, DummyAuthenticator, SimpleLocalProcessSpawner.

Everything listens on 127.0.0.1 on free ports. Each student gets a home directory under the test's
temporary directory holding a copy of the course notebooks and fresh JupyterLab settings; their
single-user server is this venv's ``jupyterhub-singleuser`` (so the kernel imports the dgwidgets
being tested) started as the hub's own user (root here, hence ``--allow-root``).

configurable-http-proxy comes from npm into ``.ci/node`` (``make test`` and ``.ci/run`` install it
from ``.ci/node/package-lock.json``). Outside CI a missing proxy or JupyterHub skips; under
``CI=true`` it fails (the root conftest.py turns skips into failures).

Every process the hub starts (proxy, single-user servers, their kernels) inherits a marker in its
environment; after the hub stops, any such process still alive is killed by its pid, so a failed
run leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..browser.conftest import REPO, _free_port, _missing, _settings

CHP_LOCAL = REPO / ".ci" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_START_TIMEOUT = 90.0
#: Starting a single-user server and its first kernel on a busy 2-core machine can take a while.
SPAWN_TIMEOUT = 120
MARKER_ENV = "DGWIDGETS_HUB_TEST"


def configurable_http_proxy() -> Path:
    """The project-local proxy (``.ci/node``), else one on PATH, else skip (fail under CI)."""
    if CHP_LOCAL.exists():
        return CHP_LOCAL
    found = shutil.which("configurable-http-proxy")
    if found:
        return Path(found)
    _missing(
        "configurable-http-proxy is not installed",
        "`make node` (runs `npm ci --prefix .ci/node`; needs Node.js and npm)",
    )
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Hub:
    base_url: str
    base: Path
    log: Path
    users: tuple[str, ...]

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def home(self, user: str) -> Path:
        return self.base / "home" / user

    def log_tail(self, chars: int = 8000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no hub log)"


def _config(*, port: int, hub_port: int, api_port: int, chp: Path, base: Path, users: tuple[str, ...], marker: str):
    singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
    env = {
        MARKER_ENV: marker,
        # the kernels find the samples whatever their working directory
        "DGWIDGETS_SAMPLES_DIR": str(REPO / "sample_audio"),
        "PYTHONUNBUFFERED": "1",
    }
    return f"""# written by tests/hub/conftest.py
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{str(chp)!r}]
c.ConfigurableHTTPProxy.auth_token = {secrets.token_hex(16)!r}
c.JupyterHub.db_url = "sqlite:///{base / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret = bytes.fromhex({secrets.token_hex(32)!r})
c.JupyterHub.pid_file = {str(base / "jupyterhub.pid")!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set({list(users)!r})
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(base / "home" / "{username}")!r}
c.Spawner.cmd = [{str(singleuser)!r}]
c.Spawner.args = ["--allow-root", "--LabApp.expose_app_in_browser=True"]
c.Spawner.default_url = "/lab"
c.Spawner.ip = "127.0.0.1"
c.Spawner.environment = {env!r}
c.Spawner.start_timeout = {SPAWN_TIMEOUT}
c.Spawner.http_timeout = {SPAWN_TIMEOUT}
"""


def _prepare_home(home: Path) -> None:
    """The student's home: the course notebooks and JupyterLab settings without the news toast."""
    shutil.copytree(REPO / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _settings(home / ".jupyter" / "lab" / "user-settings")


def _marked_pids(marker: str) -> list[int]:
    """Processes whose environment carries this run's marker (the hub's children and theirs)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                pass
    return pids


def _stop(proc: subprocess.Popen, marker: str) -> list[int]:
    """Stop the hub (it stops the proxy and the servers), then kill what outlived it; returns those pids."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while (left := _marked_pids(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    """A running JupyterHub for the students ``ada`` and ``grace``; stopped with everything it started."""
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        _missing("JupyterHub is not installed", "`pip install 'dgwidgets[dev]'` (it brings jupyterhub)")
    if not (Path(sys.executable).parent / "jupyterhub-singleuser").exists():
        _missing(f"no jupyterhub-singleuser beside {sys.executable}", "`pip install jupyterhub` into this venv")
    chp = configurable_http_proxy()
    base = tmp_path_factory.mktemp("hub")
    users = ("ada", "grace")
    for user in users:
        _prepare_home(base / "home" / user)
    marker = secrets.token_hex(8)
    port = _free_port()
    config = base / "jupyterhub_config.py"
    config.write_text(
        _config(
            port=port, hub_port=_free_port(), api_port=_free_port(), chp=chp, base=base, users=users, marker=marker
        )
    )
    env = dict(os.environ, **{MARKER_ENV: marker})
    env.pop("DEEPGRAM_API_KEY", None)  # the students use the embedded local engine, never the cloud
    log_path = base / "jupyterhub.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        cwd=base,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C of pytest must not hit the hub before its own cleanup
    )
    hub = Hub(f"http://127.0.0.1:{port}", base, log_path, users)
    try:
        deadline = time.monotonic() + HUB_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyterhub exited with {proc.returncode}:\n{hub.log_tail()}")
            try:  # through the proxy: both the proxy and the hub answer
                with urllib.request.urlopen(hub.url("hub/api/"), timeout=2) as r:
                    if r.status == 200 and "version" in json.load(r):
                        break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterHub did not answer in {HUB_START_TIMEOUT:.0f} s:\n{hub.log_tail()}")
            time.sleep(0.3)
        yield hub
    finally:
        leftovers = _stop(proc, marker)
        log.close()
        if leftovers:
            print(f"killed {len(leftovers)} processes the hub left behind: {leftovers}")
