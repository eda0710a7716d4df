"""save_html pages open offline in Chromium: structures drawn, saved frames played, plots drawn."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from tests.browser.harness import CHROMIUM, CHROMIUM_FLAGS, png_pixels

pytestmark = pytest.mark.browser

HULL_PAGE = """
import sys
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry
import matwidgets as mw
entries = [ComputedEntry(Composition(c), e) for c, e in [("Li", -1.9), ("O2", -9.8), ("Li2O", -14.3), ("Li2O2", -19.0)]]
explorer = mw.HullExplorer(entries)
assert explorer.job.wait(60) and explorer.result is not None
mw.save_html(explorer, sys.argv[1])
"""


@pytest.fixture(scope="module")
def offline_page():
    if os.environ.get("MATWIDGETS_SKIP_BROWSER") == "1":
        pytest.skip("MATWIDGETS_SKIP_BROWSER=1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, requests, errors
        browser.close()


def open_saved(page, path):
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.mounted === '1'", timeout=30_000)


def test_structure_view_with_saved_frames(offline_page, tmp_path):
    page, requests, errors = offline_page
    s = Structure(Lattice.cubic(5.64), ["Na", "Cl"] * 4, [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0, 0, 0.5],
                                                          [0.5, 0, 0.5], [0, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0]])
    frames = []
    for k in range(3):
        f = s.copy()
        f.translate_sites([0], [0.1 * k, 0, 0])
        frames.append(f)
    view = mw.StructureView(s, height=400)
    view.show_frames(frames)
    path = mw.save_html(view, tmp_path / "view.html")
    assert "<script src=" not in path.read_text()
    open_saved(page, path)
    canvas = page.locator(".mw-sv canvas").first
    canvas.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(500)
    px = png_pixels(canvas.screenshot())
    assert (px.sum(axis=2) < 700).mean() > 0.02, "canvas is blank"
    label = page.locator(".mw-traj span").first
    page.wait_for_function("document.querySelector('.mw-traj span').textContent === '1/3'", timeout=10_000)
    page.locator(".mw-traj input[type=range]").fill("2")  # the slider asks the page's saved frames
    page.wait_for_function("document.querySelector('.mw-sv').dataset.frameSeq === '2'", timeout=10_000)
    assert label.text_content() == "3/3"
    assert errors == []
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests


def test_hull_explorer_plot_and_controls(offline_page, tmp_path):
    page, requests, errors = offline_page
    # built in its own process: playwright's sync API keeps an event loop running in this thread,
    # and a widget's job delivers its results on the loop of the thread that made it
    path = tmp_path / "hull.html"
    subprocess.run([sys.executable, "-c", HULL_PAGE, str(path)], check=True, timeout=120)
    open_saved(page, path)
    page.wait_for_selector(".js-plotly-plot .scatterlayer .point", timeout=30_000)
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 4
    assert page.locator("input[disabled]").count() >= 1  # the threshold slider, shown as it was
    assert errors == []
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests


NBCONVERT_CELLS = [
    "from pymatgen.core import Lattice, Structure\nimport plotly.graph_objects as go\nimport ipywidgets as W\nimport matwidgets as mw\n"
    "s = Structure(Lattice.cubic(5.64), ['Na', 'Cl'], [[0, 0, 0], [0.5, 0.5, 0.5]])\nmw.StructureView(s, height=400)",
    "W.VBox([W.HTML('<b id=\"mw-test-html\">a label</b>'), go.FigureWidget(go.Scatter(x=[0.0, 1.0, 2.0], y=[3, 1, 2], mode='markers'))])",
]


def test_nbconvert_html_of_an_executed_notebook_offline(offline_page, tmp_path):
    """`jupyter nbconvert --to html --template matwidgets` of a notebook executed with its widget
    state stored (what nbclient does by default) draws the structure and the plot offline."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    page, requests, errors = offline_page
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NBCONVERT_CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert "widgets" in nb.metadata  # the saved widget state the preprocessor reads
    body, _ = HTMLExporter(template_name="matwidgets").from_notebook_node(nb)
    assert "application/vnd.jupyter.widget-view+json" not in body
    assert not re.search(r"<script[^>]*\bsrc=", body), "a script loaded from elsewhere"  # nbconvert's CDN scripts
    path = tmp_path / "nb.html"
    path.write_text(body)
    requests.clear()
    errors.clear()
    open_saved(page, path)
    canvas = page.locator(".mw-sv canvas").first
    canvas.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(500)
    px = png_pixels(canvas.screenshot())
    assert (px.sum(axis=2) < 700).mean() > 0.005, "canvas is blank"  # two atoms and the cell
    page.wait_for_selector(".js-plotly-plot .scatterlayer .point", timeout=30_000)
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() == 3
    assert page.locator("#mw-test-html").text_content() == "a label"
    assert errors == []
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests
