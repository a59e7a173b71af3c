"""The CI guard itself: a skip must fail under CI=true (checked in a child pytest run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFTEST = REPO / "conftest.py"


def test_skips_fail_under_ci(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_skip.py").write_text("import pytest\n\ndef test_x():\n    pytest.skip('no browser')\n")
    env = {**os.environ, "CI": "true"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stdout
    assert "skipped under CI=true" in run.stdout and "no browser" in run.stdout
    env["CI"] = ""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "1 skipped" in run.stdout


def test_the_guard_covers_every_test_path():
    # A conftest applies only below its own directory: in tests/ it missed a +SKIP doctest in the
    # package (CI reported "1 skipped" and passed it).
    import tomllib

    paths = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    assert CONFTEST.is_file()
    for path in paths:
        assert (REPO / path).resolve().is_relative_to(CONFTEST.parent), path


def test_a_skipped_doctest_fails_under_ci(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "mod.py").write_text('def f():\n    """\n    >>> f()  # doctest: +SKIP\n    """\n')
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules", str(tmp_path / "mod.py")],
        cwd=tmp_path,
        env={**os.environ, "CI": "true"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "skipped under CI=true" in run.stdout, run.stdout
