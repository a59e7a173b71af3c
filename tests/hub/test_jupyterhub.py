"""Two students on one real JupyterHub at once, each speaking into notebook 07 through their browser.

The class as a university runs it: JupyterHub (with configurable-http-proxy) in front, a
single-user JupyterLab and kernel per student, and the browser's microphone as the only
microphone. ``ada``'s Chromium "speaks" ``hello-there.wav`` and ``grace``'s ``phone-number.wav``
(Chromium's fake capture device; one browser each, since the device is a browser-wide flag).
Each logs in, opens notebook 07, runs it, presses **Start** on its first lab (the
browser-microphone path, embedded local engine: Start starts the browser's microphone too, and the
microphone's own **● Start microphone** button shows only if the browser insists on a click), and
presses **Stop** once the audio has been heard. grace first types her phrases into the keyterm field, as the notebook tells a
learner to do.

Asserted: each transcript holds the words of that student's own audio and none of the other's;
every message each student received carries their own request id, and the two differ; each
kernel ran its own engine in its own process as its own hub user; the page showed the same
transcript; and a student's login does not open the other's server.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

import pytest

from dgwidgets.samples import sample

from ..browser.conftest import CHROMIUM, SCREENSHOTS, _missing, chromium_args

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(420)]

NOTEBOOK = "notebooks/07_your_microphone_and_deepgram.ipynb"
#: Audio heard after the WAV ends before the student presses Stop: lets the engine endpoint the last words.
TAIL_SECONDS = 1.5
STEP_MS = 60_000


@dataclass
class Student:
    name: str
    voice: str  # the sample the fake microphone plays
    #: typed into the keyterm field before recording (None: the notebook's own keyterms)
    keyterms: str | None = None
    page: object = None
    errors: list[str] = field(default_factory=list)
    report: dict = field(default_factory=dict)

    @property
    def words(self) -> set[str]:
        return set(sample(self.voice).text.split())


STUDENTS = (
    Student("ada", "hello-there"),
    Student("grace", "phone-number", keyterms="my phone number is, phone number"),
)

# Run in each kernel after the stream: what that student's kernel received, as JSON on one line.
REPORT = """
import json as _json, os as _os, psutil as _psutil
_s, _c, _k = mic_lab.session, mic_lab._client, _psutil.Process()
_t = _k.cpu_times()
print("DGW-REPORT " + _json.dumps({
    "user": _os.environ.get("JUPYTERHUB_USER"), "pid": _os.getpid(),
    "backend": _c.backend.kind, "url": _c.backend.url, "request_id": _c.request_id,
    "message_request_ids": sorted({r.metadata.request_id for r in _s.results()}),
    "final": _s.final_transcript(), "heard": " ".join(r.transcript for r in _s.results()),
    "messages": len(_s), "finals": len(_s.finals()),
    "seconds": mic_lab.microphone.samples_received / mic_lab.microphone.sample_rate,
    "error": repr(mic_lab.error) if mic_lab.error else None,
    "kernel_rss_mb": _k.memory_info().rss / 2**20, "server_rss_mb": _k.parent().memory_info().rss / 2**20,
    "kernel_cpu_s": _t.user + _t.system,
}))
"""

KERNEL_IDLE = """(path) => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = w && w.context && w.context.path === path && w.sessionContext.session
        && w.sessionContext.session.kernel;
    return kernel && kernel.status === "idle";
}"""

EXECUTE = """async (code) => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const future = kernel.requestExecute({ code, store_history: false });
    let out = "";
    future.onIOPub = (msg) => {
        if (msg.header.msg_type === "stream") out += msg.content.text;
        if (msg.header.msg_type === "error") out += `ERROR ${msg.content.ename}: ${msg.content.evalue}`;
    };
    await future.done;
    return out;
}"""


def _lab(page):
    return page.locator(".dg-stream-lab").first  # notebook 07's first lab: the browser microphone


def _button(lab, label: str):
    return lab.locator("button.jupyter-button", has_text=re.compile(rf"^\s*{label}\s*$"))


def _login(student: Student, hub) -> None:
    page = student.page
    page.goto(hub.url("hub/login"), timeout=STEP_MS)
    page.fill("#username_input", student.name)
    page.fill("#password_input", "any")  # DummyAuthenticator: the allowed names, any password
    page.click("#login_submit")


def _open_notebook(student: Student, hub) -> None:
    page = student.page
    # Logging in spawns the server; the hub sends the browser on to /user/NAME/lab when it is up.
    page.wait_for_url(re.compile(rf"/user/{student.name}/lab"), timeout=180_000)
    # "commit": go on to the other student while this page loads
    page.goto(hub.url(f"user/{student.name}/lab/tree/{NOTEBOOK}?reset"), timeout=STEP_MS, wait_until="commit")


def _run_notebook(student: Student, hub) -> None:
    page = student.page
    page.wait_for_function(KERNEL_IDLE, arg=NOTEBOOK, timeout=120_000)
    # Not awaited: the command's promise resolves only when every cell has finished.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def _notebook_ran(student: Student, hub) -> None:
    page = student.page
    # The notebook's last cell checks the key lesson: seeing its line means every cell ran.
    done = page.locator(".jp-OutputArea-output", has_text="the key lives only in the kernel")
    deadline = time.monotonic() + 120
    while not done.count():
        if time.monotonic() > deadline:
            raise AssertionError(f"{student.name}: notebook 07 did not run to its end")
        # JupyterLab draws only the cells near the viewport
        page.locator(".jp-Cell").last.scroll_into_view_if_needed()
        page.wait_for_timeout(200)


def _record(student: Student, hub) -> None:
    """What the notebook tells a learner: (type your phrases,) press Start.

    The lab's Start starts the browser microphone with the stream; the microphone widget's own
    button stays hidden (``show_button=False``) unless the browser refuses to start without a
    click on it (state "error"): then, and only then, it is clicked, as the status line asks.
    """
    lab = _lab(student.page)
    lab.scroll_into_view_if_needed()
    if student.keyterms is not None:
        box = lab.locator("input[placeholder^='phrases that bias']")
        box.fill(student.keyterms)
        box.press("Tab")
    _button(lab, "Start").click(timeout=STEP_MS)
    recording = lab.locator(".dgw-mic[data-state=recording]")
    refused = lab.locator(".dgw-mic[data-state=error]")
    recording.or_(refused).first.wait_for(timeout=30_000)
    if not recording.count():
        lab.locator(".dgw-mic[data-state=error] button.dgw-button", has_text="Start microphone").click(timeout=STEP_MS)
        recording.wait_for(timeout=30_000)


def _received_seconds(student: Student) -> float:
    """Audio streamed so far, from the lab's status line (a plain ipywidgets HTML the kernel updates).

    Not the microphone widget's own counter: under heavy load its trait updates were seen to stop
    reaching the page (anywidget "Failed to initialize model") while the audio kept flowing.
    """
    text = _lab(student.page).locator(".dg-status").inner_text()
    match = re.search(r"audio ([\d.]+) s", text)
    return float(match.group(1)) if match else 0.0


def _stop_when_heard(student: Student) -> bool:
    """Press Stop once the voice and a short tail have reached the kernel; True when stopped."""
    if _received_seconds(student) < sample(student.voice).duration + TAIL_SECONDS:
        return False
    _button(_lab(student.page), "Stop").click(timeout=STEP_MS)
    return True


def _collect(student: Student) -> None:
    page = student.page
    status = _lab(page).locator(".dg-status")
    page.wait_for_function(
        "(el) => el.textContent.includes('done:') || el.textContent.includes('✖')",
        arg=status.element_handle(),
        timeout=STEP_MS,
    )
    out = page.evaluate(EXECUTE, REPORT)
    line = next((ln for ln in out.splitlines() if ln.startswith("DGW-REPORT ")), None)
    assert line, f"{student.name}: the kernel report failed: {out}"
    student.report = json.loads(line.removeprefix("DGW-REPORT "))
    student.report["status"] = status.inner_text()
    student.report["table"] = _lab(page).locator(".dg-results-table").inner_text().lower()


def _dump(students, hub) -> None:
    """On failure: screenshots, page errors and the hub's log (single-user servers log there too)."""
    out = SCREENSHOTS.parent / "hub"
    out.mkdir(parents=True, exist_ok=True)
    for s in students:
        if s.page is not None:
            try:
                s.page.screenshot(path=out / f"{s.name}.png", full_page=True)
            except Exception as err:  # a crashed page must not hide the original failure
                print(f"{s.name}: no screenshot ({err})")
        print(f"--- {s.name}: url {getattr(s.page, 'url', None)}; page errors {s.errors}; report {s.report}")
    (out / "jupyterhub.log").write_text(hub.log.read_text(errors="replace"))
    print(f"--- JupyterHub log (whole log in {out / 'jupyterhub.log'}):\n{hub.log_tail()}")


def test_two_students_transcribe_their_own_voice_at_once(hub):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed", "`pip install playwright` (it drives Debian's Chromium)")
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM}", "`apt-get install chromium`")
    started = time.monotonic()
    students = [Student(s.name, s.voice, s.keyterms) for s in STUDENTS]
    with sync_playwright() as pw:
        browsers = []
        try:
            for s in students:
                wav = sample(s.voice).path
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args(wav))
                browsers.append(browser)
                s.page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
                s.page.on("pageerror", lambda e, s=s: s.errors.append(str(e)))
            # Each step for both students before the next, so they are logged in, spawning and
            # streaming at the same time.
            phases = {"browsers": time.monotonic() - started}
            for step in (_login, _open_notebook, _run_notebook, _notebook_ran, _record):
                for s in students:
                    step(s, hub)
                phases[step.__name__.strip("_")] = time.monotonic() - started
            streaming = time.monotonic()
            waiting = list(students)
            deadline = time.monotonic() + 90
            while waiting:
                waiting = [s for s in waiting if not _stop_when_heard(s)]
                if waiting and time.monotonic() > deadline:
                    raise AssertionError(f"no audio reached {[s.name for s in waiting]}'s kernel")
                time.sleep(0.2)
            for s in students:
                _collect(s)
            streamed = time.monotonic() - streaming
            # ada's login must not open grace's server: the hub refuses it.
            response = students[0].page.goto(hub.url(f"user/{students[1].name}/api/status"), timeout=STEP_MS)
            cross_status = response.status if response else None
            _check(students, cross_status)
        except BaseException:
            _dump(students, hub)
            raise
        finally:
            for browser in browsers:
                browser.close()
    print(f"\nJupyterHub, two students: {time.monotonic() - started:.1f} s in all, {streamed:.1f} s streaming")
    print("  reached at: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    for s in students:
        r = s.report
        print(f"{s.name}: {r['final']!r} ({r['messages']} messages, {r['seconds']:.1f} s of audio, {r['status']})")
        print(f"  kernel with its embedded engine: {r['kernel_rss_mb']:.0f} MB RSS, {r['kernel_cpu_s']:.1f} s CPU "
              f"since it started; its single-user server: {r['server_rss_mb']:.0f} MB RSS")


def _check(students: list[Student], cross_status: int | None) -> None:
    a, b = students
    for me, other in ((a, b), (b, a)):
        r = me.report
        assert r["error"] is None and "done:" in r["status"], (me.name, r)
        assert r["user"] == me.name, f"{me.name}'s notebook ran in {r['user']}'s server"
        assert r["backend"] == "local" and r["url"].startswith("ws://127.0.0.1:"), r
        assert r["seconds"] >= sample(me.voice).duration, f"{me.name}'s browser sent too little audio: {r}"
        said = set(r["final"].split())
        own = said & me.words
        # the words of their own audio (the recognizer may miss one), none of the other's
        assert len(own) >= 0.6 * len(me.words), f"{me.name} said {sorted(me.words)}, transcript {r['final']!r}"
        foreign = set(r["heard"].split()) & (other.words - me.words)
        assert not foreign, f"{me.name} received {other.name}'s words {sorted(foreign)}: {r['heard']!r}"
        # every message they received came from their own stream
        assert r["message_request_ids"] == [r["request_id"]], r
        # the page showed what the kernel received
        assert all(word in r["table"] for word in own), (me.name, r["table"])
    assert a.report["request_id"] != b.report["request_id"]
    assert a.report["pid"] != b.report["pid"], "each student has a kernel of their own"
    assert a.report["url"] != b.report["url"], "each kernel embeds its own engine"
    assert cross_status == 403, f"ada opened grace's server: HTTP {cross_status}"

