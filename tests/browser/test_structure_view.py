"""StructureView in real JupyterLab + Chromium: pixels, picking, colours, streaming, nglview."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.harness import png_pixels

pytestmark = pytest.mark.browser

SETUP = """
import numpy as np
from matwidgets.widgets.structure_view import StructureView
view = StructureView("NaCl.cif", height=500)
# all atoms grey but atom 5, bright red, to find it on screen
colors = np.full((view.n_atoms, 3), 0.6, dtype="f4"); colors[5] = [1, 0, 0]
view.colors = colors.tobytes()
view
"""


def canvas_png(nb, index=0):
    canvas = nb.page.locator(".mw-sv canvas").nth(index)
    canvas.wait_for(state="visible", timeout=60_000)
    nb.page.wait_for_timeout(300)
    return canvas, png_pixels(canvas.screenshot())


def changed_fraction(nb, before, timeout_ms=15_000):
    """Fraction of canvas pixels that changed, polled until some did (or the time is up)."""
    waited, frac = 0, 0.0
    while waited <= timeout_ms:
        after = canvas_png(nb)[1]
        frac = (np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 30).mean()
        if frac > 0.01:
            break
        nb.page.wait_for_timeout(300)
        waited += 600
    return frac


def test_render_pick_color_stream(open_notebook):
    nb = open_notebook("view.ipynb", [SETUP])
    canvas, px = canvas_png(nb)
    non_white = (px.sum(axis=2) < 700).mean()
    assert non_white > 0.02, "canvas is blank"

    # click the projected position of atom 5 (the red pixels)
    red = (px[..., 0] > 200) & (px[..., 1] < 80) & (px[..., 2] < 80)
    assert red.sum() > 20, "atom 5 not visible"
    ys, xs = np.nonzero(red)
    k = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    canvas.click(position={"x": float(xs[k]), "y": float(ys[k])})
    assert nb.kernel_until("print(view.selected)", "[5]") == "[5]"
    # shift-click on the same atom again removes it; clicking empty space clears
    canvas.click(position={"x": 3, "y": 3})
    assert nb.kernel_until("print(view.selected)", "[]") == "[]"

    # color_by changes pixel colours
    before = canvas_png(nb)[1]
    nb.kernel("view.color_by(np.linspace(-1, 1, view.n_atoms), label='test')")
    assert changed_fraction(nb, before) > 0.01
    assert "test" in nb.page.locator(".mw-colorbar").inner_text()

    # stream 200 frames: the view ends on the last one
    nb.kernel(
        "pos0 = np.frombuffer(view.positions, dtype='f4').reshape(-1, 3).astype(float)\n"
        "for k in range(200):\n"
        "    view.push_frame(pos0 + 0.002 * k)\n"
    )
    nb.page.wait_for_selector('.mw-sv[data-frame-seq="200"]', timeout=20_000)


def test_repeat_and_trajectory_slider(open_notebook):
    nb = open_notebook("repeat.ipynb", [SETUP])
    _, px1 = canvas_png(nb)
    nb.kernel("view.repeat = [2, 2, 1]")
    assert changed_fraction(nb, px1) > 0.01
    with pytest.raises(AssertionError, match="repeat must be 1-4"):
        nb.kernel("view.repeat = [5, 1, 1]")
    nb.kernel("view.show_frames([pos for pos in np.frombuffer(view.positions, dtype='f4').reshape(1, -1, 3).repeat(10, 0)])")
    nb.page.wait_for_selector(".mw-traj input[type=range]", state="visible", timeout=10_000)
    assert nb.page.locator(".mw-traj span").inner_text() == "1/10"


def test_nglview_renders(open_notebook):
    nb = open_notebook("ngl.ipynb", [SETUP, "ngl = view.to_nglview()\nngl"])
    errors = []
    nb.page.on("console", lambda m: m.type == "error" and "nglview" in m.text and errors.append(m.text))
    # the second cell's output, which holds only the nglview widget
    canvas = nb.page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output canvas")
    canvas.wait_for(state="visible", timeout=60_000)
    nb.page.wait_for_timeout(3000)
    px = png_pixels(canvas.screenshot())
    # nglview draws on a black or white background: count pixels unlike the corner
    bg = px[2, 2].astype(int)
    assert (np.abs(px.astype(int) - bg).sum(axis=2) > 60).mean() > 0.005, "nglview canvas is blank"
    assert not errors, errors
    assert nb.page.locator(".jp-Cell").nth(1).locator(".mw-sv").count() == 0
