"""MDPlayer in JupyterLab + Chromium: the live plots receive only new points and draw them."""

from __future__ import annotations

import pytest

from tests.browser.harness import png_pixels

pytestmark = pytest.mark.browser

SETUP = """
from pymatgen.core import Lattice, Structure
import matwidgets as mw
ar = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
ar.perturb(0.05)
player = mw.MDPlayer(ar, model=mw.LennardJones(0.0104, 3.4, 8.0), ensemble="nvt", temperature=40, timestep=5,
                     steps=3000, every=1, seed=3, max_points=40)
sent = []
_send = player.plot.send
player.plot.send = lambda content, buffers=None: (sent.append((content, sum(len(b) for b in buffers or []))), _send(content, buffers))[1]
player
"""


def coloured(px):
    """Pixels of a line colour: saturated, not the grey of axes, grid and text."""
    rgb = px[..., :3].astype(int)
    return (rgb.max(axis=2) - rgb.min(axis=2)) > 80


def test_plots_stream_new_points_and_match_the_kernel(open_notebook):
    nb = open_notebook("md.ipynb", [SETUP])
    page = nb.page
    assert page.locator(".mw-trace").count() == 1
    assert not page.locator(".mw-trace").is_visible()  # no empty axes before Start
    nb.kernel("job = player.start()")
    nb.kernel_until("print(job.finished)", "True", timeout_s=120)
    plot = page.locator(".mw-trace").first
    n_offered = int(nb.kernel("print(player.plot._history.n_offered)"))
    n_kept = int(nb.kernel("print(len(player.plot))"))
    assert n_offered == 3001 and n_kept <= 40
    # the view thinned its copy exactly as the kernel did, from new points only
    page.wait_for_selector(f'.mw-trace[data-received="{n_offered}"]', timeout=15_000)
    assert plot.get_attribute("data-points") == str(n_kept)
    sent_rows = nb.kernel("print(sum(c['n'] for c, _ in sent if c['type'] == 'extend'))")
    assert int(sent_rows) == n_offered  # each point sent once
    # three panels side by side, within the notebook's width, each with drawn lines
    assert plot.get_attribute("data-panels") == "3"
    panels = page.locator(".mw-trace .mw-trace-panel")
    out = page.locator(".jp-OutputArea-output").first.bounding_box()
    for k in range(3):
        box = panels.nth(k).bounding_box()
        assert box["x"] + box["width"] <= out["x"] + out["width"] + 1
        px = png_pixels(panels.nth(k).locator("canvas").first.screenshot())
        assert coloured(px).sum() > 100, k
    # a view rendered after the run (a second display) shows the same points
    page.evaluate("""async () => {
        const app = window.jupyterapp, nbw = app.shell.currentWidget.content;
        nbw.activeCellIndex = nbw.widgets.length - 1;
        await app.commands.execute('notebook:insert-cell-below');
        nbw.activeCell.model.sharedModel.setSource('player.plot');
        await app.commands.execute('notebook:run-cell');
    }""")
    page.wait_for_function("document.querySelectorAll('.mw-trace').length == 2", timeout=15_000)
    second = page.locator(".mw-trace").nth(1)
    page.wait_for_function(f"document.querySelectorAll('.mw-trace')[1].dataset.points == '{n_kept}'", timeout=15_000)
    assert second.get_attribute("data-received") == str(n_offered)
    assert nb.cell_errors() == []
