"""The JupyterLab file viewer: double-click a structure file, a viewer tab draws it; bad files say why."""

from __future__ import annotations

import urllib.request

import pytest
from pymatgen.core import Structure

from tests.browser.harness import gallery, png_pixels
from tests.browser.conftest import EXAMPLES

pytestmark = pytest.mark.browser


def open_from_file_browser(lab, browser, name: str):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(f"{lab.url}/lab?token={lab.token}&reset")
    item = page.locator(".jp-DirListing-item", has_text=name).first
    item.wait_for(state="visible", timeout=90_000)
    item.dblclick()
    return page


def test_double_click_a_cif_opens_a_viewer_with_its_atoms(lab_browser):
    lab, browser = lab_browser
    page = open_from_file_browser(lab, browser, "NaCl.cif")
    try:
        viewer = page.locator(".mw-structure-file").first
        canvas = viewer.locator("canvas").first
        canvas.wait_for(state="visible", timeout=60_000)
        page.wait_for_timeout(800)
        px = png_pixels(canvas.screenshot())
        assert (px.sum(axis=2) < 700).mean() > 0.02, "the viewer tab is blank"
        expected = len(Structure.from_file(EXAMPLES / "NaCl.cif"))
        assert viewer.get_attribute("data-n-atoms") == str(expected)
        gallery(page, "file_viewer_jupyterlab")
    finally:
        page.close()


def test_an_unparsable_file_shows_the_parser_message_and_the_server_stays_up(lab_browser):
    lab, browser = lab_browser
    (lab.root / "broken.cif").write_text("data_broken\n_cell_length_a 4.0\nthis is not a CIF loop\n")
    page = open_from_file_browser(lab, browser, "broken.cif")
    try:
        error = page.locator(".mw-viewer-error").first
        error.wait_for(state="visible", timeout=60_000)
        assert "broken.cif could not be read" in error.text_content()
        status = urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=10)
        assert status.status == 200
    finally:
        page.close()
