"""StructureView renders in Notebook 7 (served by the same server) without any extension."""

from __future__ import annotations

import pytest

from tests.browser.harness import gallery, png_pixels

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


def test_double_click_a_cif_in_notebook7_opens_the_viewer(lab_browser):
    """Notebook 7 shares JupyterLab's document registry: its file browser opens a CIF in our
    viewer, in a new browser tab (/edit/<file>), drawn with pymatgen's atom count."""
    from pymatgen.core import Structure

    from tests.browser.conftest import EXAMPLES

    lab, browser = lab_browser
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto(f"{lab.url}/tree?token={lab.token}")
        item = page.locator(".jp-DirListing-item", has_text="NaCl.cif").first
        item.wait_for(state="visible", timeout=90_000)
        with page.context.expect_page(timeout=60_000) as opened:
            item.dblclick()
        tab = opened.value
        try:
            assert "/edit/NaCl.cif" in tab.url
            viewer = tab.locator(".mw-structure-file").first
            canvas = viewer.locator("canvas").first
            canvas.wait_for(state="visible", timeout=60_000)
            tab.wait_for_timeout(800)
            px = png_pixels(canvas.screenshot())
            assert (px.sum(axis=2) < 700).mean() > 0.02, "the viewer is blank"
            assert viewer.get_attribute("data-n-atoms") == str(len(Structure.from_file(EXAMPLES / "NaCl.cif")))
            gallery(tab, "file_viewer_notebook7")
        finally:
            tab.close()
    finally:
        page.close()
