"""The committed notebooks: stored without outputs, with no author paths or keys in them.

(They are executed by nbmake in the same test run: `notebooks/` is in pytest's testpaths.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_the_course_has_its_numbered_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08", "09"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_clean(path):
    book = json.loads(path.read_text())
    for cell in book["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "outputs must be stripped"
    text = path.read_text()
    assert not re.search(r"/(work|root|home|Users)/", text), "no paths of the author's machine"
    assert not re.search(r"[0-9a-f]{40}", text), "nothing that looks like an API key"
    assert "widgets" not in book.get("metadata", {}), "no saved widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_ends_by_checking_its_lesson(path):
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    last = "".join(code[-1]["source"])
    assert "assert" in last and "✔" in last
