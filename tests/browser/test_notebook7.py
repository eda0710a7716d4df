"""StructureView renders in Notebook 7 (served by the same server) without any extension."""

from __future__ import annotations

import pytest

from tests.browser.harness import png_pixels

pytestmark = pytest.mark.browser


def test_structure_view_in_notebook7(lab_browser):
    lab, browser = lab_browser
    lab.write_notebook("nb7.ipynb", ["import matwidgets as mw\nview = mw.StructureView('NaCl.cif')\nview"])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(f"{lab.url}/notebooks/nb7.ipynb?token={lab.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=60_000)
        page.wait_for_timeout(5000)  # the kernel starts
        page.locator(".jp-Cell .cm-content").first.click()
        page.keyboard.press("Shift+Enter")
        canvas = page.locator(".mw-sv canvas").first
        canvas.wait_for(state="visible", timeout=90_000)
        page.wait_for_timeout(1000)
        px = png_pixels(canvas.screenshot())
        assert (px.sum(axis=2) < 700).mean() > 0.01
    finally:
        page.close()
