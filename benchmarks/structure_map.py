"""StructureMap speed in real JupyterLab + headless chromium (the browser-test harness).

Measures, for maps of 1,000, 10,000 and 100,000 points: the kernel's time to build the
widget, and the first render (from running the cell to the first WebGL frame drawn, and
within that the view's own time from render() to the frame); then, at 100,000 points, a
lasso round trip (mouse up -> `selected` in the kernel) and a hover (tooltip shown).
Chromium renders WebGL with SwiftShader on the CPU here; a real GPU is faster.

Run: python benchmarks/structure_map.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.browser.harness import NotebookPage, lab_and_browser  # noqa: E402

SETUP = """
import time, numpy as np
import matwidgets as mw
from benchmarks.common import random_structures
distinct = random_structures(500, max_atoms=16)  # 100,000 points reuse 500 structures: the map, not pymatgen, is timed
rng = np.random.default_rng(0)
def make(n):
    structures = [distinct[k % 500] for k in range(n)]
    centres = rng.normal(0, 3, (8, 2))
    xy = centres[rng.integers(0, 8, n)] + rng.normal(0, 1, (n, 2))  # eight blobs
    t = time.perf_counter()
    m = mw.StructureMap(structures, xy[:, 0], xy[:, 1], color=xy[:, 0] * xy[:, 1], height=500)
    print(f"{time.perf_counter() - t:.2f}")
    return m
_ = make(100)  # warm-up: first-use imports are not the map's cost
"""


def add_cell_and_run(nb: NotebookPage, code: str) -> float:
    """Insert a cell at the end and run it; returns performance.now() in the page at the start."""
    return nb.page.evaluate(
        """async (code) => {
            const app = window.jupyterapp, nb = app.shell.currentWidget.content;
            nb.activeCellIndex = nb.widgets.length - 1;
            await app.commands.execute('notebook:insert-cell-below');
            nb.activeCell.model.sharedModel.setSource(code);
            const t0 = performance.now();
            app.commands.execute('notebook:run-cell');
            return t0;
        }""",
        code,
    )


def main() -> None:
    bundle = ROOT / "matwidgets" / "static" / "structure_map.js"
    print(f"bundle: {bundle.stat().st_size / 1024:.0f} KiB ({bundle.name}, minified)")
    with lab_and_browser() as (lab, browser):
        lab.write_notebook("bench.ipynb", [SETUP])
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        nb = NotebookPage(lab, page, "bench.ipynb")
        nb.run_all()
        for k, n in enumerate((1_000, 10_000, 100_000)):
            t0 = add_cell_and_run(nb, f"m{k} = make({n})\nm{k}")
            page.wait_for_function(f"document.querySelectorAll('.mw-map[data-first-drawn-at]').length > {k}", timeout=300_000)
            root = page.locator(".mw-map").nth(k)
            t1 = float(root.get_attribute("data-first-drawn-at"))
            out = page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-OutputArea-output").first.inner_text().strip()  # make() printed it
            print(f"first render of {n:,} points: {(t1 - t0) / 1000:.2f} s from running the cell "
                  f"(kernel builds the widget in {out} s; the view draws in {float(root.get_attribute('data-first-draw-ms')) / 1000:.2f} s)")

        # lasso round trip and hover at 100,000 points
        root = page.locator(".mw-map").nth(2)
        root.scroll_into_view_if_needed()
        canvas = root.locator("canvas.mw-map-points").bounding_box()
        cx, cy, r = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2, canvas["height"] / 6
        root.locator("button.mw-lasso").click()
        page.mouse.move(cx - r, cy - r)
        page.mouse.down()
        for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r)):
            page.mouse.move(x, y, steps=5)
        t = time.perf_counter()
        page.mouse.up()
        while nb.kernel("print(len(m2.selected))").strip() == "0" and time.perf_counter() - t < 60:
            page.wait_for_timeout(20)
        n_sel = nb.kernel("print(len(m2.selected))").strip()
        print(f"lasso of {n_sel} of 100,000 points: {time.perf_counter() - t:.2f} s from mouse up to m.selected in the kernel")
        root.locator("button.mw-lasso").click()
        if os.environ.get("MW_DEBUG_PNG"):
            page.wait_for_timeout(300)
            root.screenshot(path="/tmp/structure_map_100k.png")
        t = time.perf_counter()
        page.mouse.move(cx + 3, cy + 2)
        root.locator(".mw-map-tooltip").wait_for(state="visible", timeout=10_000)
        print(f"hover at 100,000 points: tooltip after {1000 * (time.perf_counter() - t):.0f} ms")


if __name__ == "__main__":
    main()
