"""The course notebook 03 in real JupyterLab + Chromium: the live table and plot render and update.

The notebook streams the credit-card sample through the local engine with `await lab.run()`;
the kernel pushes every row and redraw to the page while the cell runs. The test waits for the
notebook's own last cell to report success, then checks what the page shows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import open_and_run, screenshot, wait_for_output
from .test_browser_notebooks import check_honest_times_and_players, check_rendered_notebook, watch_console

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "03_credit_card.ipynb"


def test_notebook_03_shows_the_live_table_and_plot(page, jupyter_server):
    console = watch_console(page)
    shutil.copy(NOTEBOOK, jupyter_server.root / NOTEBOOK.name)
    open_and_run(page, jupyter_server, NOTEBOOK.name, timeout=90)
    wait_for_output(page, "concatenating is_final until speech_final gives the three dictated groups", timeout=120)

    lab = page.locator(".dg-stream-lab:visible").last
    lab.scroll_into_view_if_needed()
    table = lab.locator(".dg-results-table")
    table.locator("[data-kind]").first.wait_for(timeout=20_000)
    speech_final_rows = table.locator(".dg-row-speech-final")
    assert speech_final_rows.count() >= 3, "a row per dictated group with speech_final: true"
    assert "two three three three three" in table.inner_text() or "three three three three" in table.inner_text()
    assert table.locator(".dg-row-interim").count() >= 5, "interim rows are shown as they are replaced"

    plot = lab.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    bars = plot.locator(".barlayer .point")
    assert bars.count() >= 20, "a bar per finalized word"
    assert plot.locator(".scatterlayer .trace").count() >= 3, "windows, gaps and markers are drawn"
    assert "speech_final" in (plot.locator(".legend").text_content() or "")

    screenshot(lab, "notebook03_stream_lab")
    panel = lab.locator(".dg-parameter-panel")
    assert "endpointing" in panel.inner_text()
    screenshot(panel, "notebook03_parameter_panel")
    status = lab.locator(".dg-status")
    assert "done:" in status.inner_text() and "3 speech_final" in status.inner_text()
    doc_table = page.locator(".dg-results-table:visible").first
    screenshot(doc_table, "notebook03_doc_table")
    assert not [e for e in page.errors if "dgwidgets" in e or "anywidget" in e], page.errors
    page.wait_for_timeout(600)
    check_rendered_notebook(page, "nb03", console)
    check_honest_times_and_players(page)
