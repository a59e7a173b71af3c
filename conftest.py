"""Shared test configuration, at the repository root so that it covers every test path (the
package's doctests and the notebooks as well as tests/).

Under CI=true nothing may be skipped: a test that would skip for lack of a browser, a system
library or a package fails instead, so a green CI run means every test really ran.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must run every test: {reason}"
