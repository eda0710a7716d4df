"""HullExplorer in JupyterLab: clicking a hull point reaches Python and shows the structure."""

from __future__ import annotations

import os

import pytest

from tests.browser.harness import gallery

pytestmark = pytest.mark.browser

SETUP = """
import matwidgets as mw
from tests.widgets.test_hull_explorer import entries_li_o, li2o_polymorph
explorer = mw.HullExplorer(entries_li_o() + [li2o_polymorph()], threshold=1.0)
await explorer.job.wait_async(30)
explorer
"""


def overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_click_hull_point_selects_entry(open_notebook):
    nb = open_notebook("hull.ipynb", [SETUP])
    page = nb.page
    traces = page.locator(".js-plotly-plot .scatterlayer .trace")
    stable = traces.nth(1).locator("path.point")  # "above hull" is drawn first, "stable" over it
    stable.first.wait_for(state="visible", timeout=60_000)
    assert stable.count() == 3  # Li, O2, Li2O
    assert nb.kernel("print(explorer.selected)").strip() == "None"
    # the empty side view drew no NaN geometry
    assert not [t for _, t in nb.console if "NaN" in t], nb.console

    # the lowest stable point is Li2O, with a 32 meV/atom polymorph drawn just under it
    # the controls above the plot (search row, counts) render on their own: click once the layout is still

    boxes = None
    for _ in range(20):
        page.wait_for_timeout(250)
        now = [stable.nth(k).bounding_box() for k in range(3)]
        if now == boxes:
            break
        boxes = now
    k = max(range(3), key=lambda i: boxes[i]["y"])
    b = boxes[k]
    page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    nb.kernel_until("print(explorer.selected is not None)", "True")
    assert nb.kernel("print(explorer.selected.composition.reduced_formula, explorer.result.e_above_hull(explorer.selected) < 1e-9)").strip() == "Li2O True"
    assert nb.kernel("print(explorer.view.n_atoms == len(explorer.selected.structure))").strip() == "True"
    # the StructureView beside the plot rendered the structure; the polymorph menu offers the other Li2O
    page.locator(".mw-sv canvas").first.wait_for(state="visible", timeout=20_000)
    out = page.locator(".jp-OutputArea-output").first
    assert "Li2O Fm-3m (relaxed)" in out.inner_text()
    page.wait_for_function("() => document.querySelector('.mw-polymorphs select')?.options.length === 2", timeout=10_000)
    # the ring on the clicked point
    ring = traces.nth(3).locator("path.point")
    assert ring.count() == 1

    if os.environ.get("MW_DEBUG_PNG"):
        out.screenshot(path="/tmp/hull_explorer.png")
    # title and legend apart; the plot takes the width the side panel leaves
    title, legend = page.locator(".js-plotly-plot .gtitle").bounding_box(), page.locator(".js-plotly-plot .legend").bounding_box()
    assert not overlap(title, legend), (title, legend)
    # the plot fits its column: it ends where the side panel begins, and fills the room up to it
    plot = page.locator(".js-plotly-plot .main-svg").first.bounding_box()
    side = page.locator(".mw-sv").first.bounding_box()
    page.wait_for_function(
        "() => { const s = document.querySelector('.js-plotly-plot .main-svg').getBoundingClientRect();"
        " const v = document.querySelector('.mw-sv').getBoundingClientRect(); return s.right <= v.left + 1; }", timeout=10_000)
    plot = page.locator(".js-plotly-plot .main-svg").first.bounding_box()
    assert plot["x"] + plot["width"] <= side["x"] + 1 and plot["x"] + plot["width"] > side["x"] - 40, (plot, side)
    if os.environ.get("MW_DEBUG_PNG"):
        out.screenshot(path="/tmp/hull_explorer.png")
    gallery(out, "hull_explorer")
    # the job is done: Stop is disabled and not red
    stop = page.locator("button", has_text="Stop")
    assert stop.is_disabled()
    assert "mod-danger" not in (stop.get_attribute("class") or "")
    assert "meV/atom" in out.inner_text()
