"""StructureMap in JupyterLab: 210 points drawn in their colours, hover, click to the linked view, lasso to Python."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.path import Path

from tests.browser.harness import gallery, png_pixels

pytestmark = pytest.mark.browser

NX, NY = 15, 14  # a grid of points: lasso edges run between them, never through one

SETUP = f"""
import numpy as np
import matwidgets as mw
from pymatgen.core import Lattice, Structure
pairs = [("Na", "Cl"), ("K", "Br"), ("Mg", "O"), ("Cs", "I")]
structures = [Structure(Lattice.cubic(3.0 + 0.004 * k), pairs[k % 4], [[0, 0, 0], [0.5, 0.5, 0.5]]) for k in range({NX * NY})]
gx, gy = np.meshgrid(np.arange({NX}), np.arange({NY}))
m = mw.StructureMap(structures, gx.ravel(), gy.ravel(), color="volume_per_atom", height=420)
m
"""


def grid():
    gx, gy = np.meshgrid(np.arange(NX), np.arange(NY))
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(float)  # [n, 2] data coordinates


def volumes():
    return np.array([(3.0 + 0.004 * k) ** 3 / 2 for k in range(NX * NY)])  # Å^3 per atom, 2 atoms per cubic cell


def test_map_draws_clicks_and_lassoes(open_notebook):
    nb = open_notebook("structure_map.ipynb", [SETUP])
    page = nb.page
    points = page.locator("canvas.mw-map-points")
    points.wait_for(state="visible", timeout=60_000)
    page.wait_for_function("() => document.querySelector('.mw-map')?.dataset.firstDrawMs", timeout=30_000)
    box = points.bounding_box()
    x0, x1, y0, y1 = map(float, page.locator(".mw-map").get_attribute("data-window").split(","))

    def to_page(xy):  # data -> page pixels, the plot's own mapping
        xy = np.atleast_2d(xy)
        return np.stack([box["x"] + (xy[:, 0] - x0) / (x1 - x0) * box["width"],
                         box["y"] + (y1 - xy[:, 1]) / (y1 - y0) * box["height"]], axis=1)

    def pixels():
        png = page.screenshot(clip=box)
        return png_pixels(png).astype(int)

    xy = grid()
    px = to_page(xy) - [box["x"], box["y"]]  # in the canvas screenshot
    before = pixels()
    # every point is drawn at its place in its colour: matplotlib's viridis of its volume per atom
    v = volumes()
    want = colormaps["viridis"]((v - v.min()) / (v.max() - v.min()))[:, :3] * 255
    got = before[np.round(px[:, 1]).astype(int), np.round(px[:, 0]).astype(int)]
    assert np.abs(got - want).max() < 16, np.abs(got - want).max()
    # and the background between points is white
    mid = np.round((px[0] + px[NX + 1]) / 2).astype(int)
    assert (before[mid[1], mid[0]] > 245).all()
    # the colour bar and axis ticks are there
    assert page.locator(".mw-map-colorbar").is_visible()
    assert "volume per atom" in page.locator(".mw-map-colorbar-label").inner_text()

    # hover: the tooltip names the structure
    k = 3 * NX + 6
    target = to_page(xy[k])[0]
    page.mouse.move(*target)
    tip = page.locator(".mw-map-tooltip")
    tip.wait_for(state="visible", timeout=5_000)
    assert tip.inner_text().splitlines()[0] == f"#{k} CsI"  # k % 4 == 3

    # click: Python gets the index, the StructureView beside the map shows that structure
    page.mouse.click(*target)
    assert nb.kernel_until("print(m.active, m.selected)", f"{k} [{k}]") == f"{k} [{k}]"
    formula, a = nb.kernel("print(m.view.structure.composition.reduced_formula, m.view.structure.lattice.a)").split()
    assert formula == "CsI" and float(a) == pytest.approx(3.0 + 0.004 * k)
    page.locator(".mw-sv canvas").first.wait_for(state="visible", timeout=20_000)

    # lasso a non-convex polygon; Python's selection = the points inside it, by matplotlib. Its edges are
    # vertical or diagonal through half-integers, so no grid point comes closer than 0.35 (~14 px) to one
    poly = np.array([[0.5, 3], [3.5, 0], [12.5, 9], [10.5, 11], [6.5, 7], [4.5, 9], [0.5, 5]])
    page.locator("button.mw-lasso").click()
    path = np.concatenate([np.linspace(poly[i], poly[(i + 1) % len(poly)], 8, endpoint=False) for i in range(len(poly))] + [poly[:1]])
    screen = to_page(path)
    page.mouse.move(*screen[0])
    page.mouse.down()
    for p in screen[1:]:
        page.mouse.move(*p)
    page.mouse.up()
    expected = np.flatnonzero(Path(poly).contains_points(xy)).tolist()
    assert len(expected) == 55
    got_sel = nb.kernel_until("print(m.selected)", str(expected))
    assert json.loads(got_sel) == expected

    # unselected points fade, selected ones keep their colour
    page.wait_for_timeout(300)
    after = pixels()
    at = lambda img, i: img[int(round(px[i, 1])), int(round(px[i, 0]))]  # noqa: E731
    out = next(i for i in range(len(xy)) if i not in expected)
    assert at(after, out).mean() > at(before, out).mean() + 60
    assert np.abs(at(after, expected[0]) - at(before, expected[0])).max() < 8
    # Python clears the selection: the points come back
    nb.kernel("m.selected = []")
    page.wait_for_function("() => !document.querySelector('.mw-map-status').textContent.includes('selected')", timeout=10_000)
    page.wait_for_timeout(300)
    assert np.abs(at(pixels(), out) - at(before, out)).max() < 8
    if os.environ.get("MW_DEBUG_PNG"):
        page.locator(".jp-OutputArea-output").first.screenshot(path="/tmp/structure_map.png")
    gallery(page.locator(".jp-OutputArea-output").first, "structure_map")
    assert not [t for kind, t in nb.console if kind == "error"], nb.console
