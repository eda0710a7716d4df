"""Bond cylinders are closed: a bond seen end-on is a filled disc, not a hollow ring."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.test_structure_view import canvas_png, project

pytestmark = pytest.mark.browser

# Two C atoms 1.4 Å apart on the line through the cell centre along the camera's starting
# direction (viewer3d.fit looks at the box centre from (0.35, 0.25, 1)), so the bond
# points straight at the camera. The atoms are tiny and the bond thick: what is seen
# around the centre is the bond's end, or, with open cylinders, the background through it.
END_ON = """
import numpy as np
from pymatgen.core import Lattice, Structure
from matwidgets.widgets.structure_view import StructureView
d = np.array([0.35, 0.25, 1.0]); d /= np.linalg.norm(d)
centre = np.full(3, 6.0)
ends = np.array([centre - 0.7 * d, centre + 0.7 * d])
s = Structure(Lattice.cubic(12.0), ["C", "C"], ends, coords_are_cartesian=True)
view = StructureView(s, height=450, atom_scale=0.05, bond_scale=4.0)
view.colors = np.array([[1, 0, 0], [1, 0, 0]], dtype="f4").tobytes()
view
"""


def test_bond_seen_end_on_is_a_filled_disc(open_notebook):
    nb = open_notebook("bond_end_on.ipynb", [END_ON])
    root = nb.page.locator(".mw-sv").first
    nb.page.wait_for_selector(".mw-sv[data-view-proj]", timeout=60_000)
    assert int(root.get_attribute("data-bonds")) == 2  # two half bonds, atom to midpoint
    canvas, px = canvas_png(nb)
    size = (px.shape[1], px.shape[0])
    centre, ends = np.full(3, 6.0), np.array(eval(nb.kernel("print(ends.tolist())")))
    a, b = project(root, ends, size)
    assert np.hypot(*(a - b)) < 1.0, (a, b)  # the test's premise: the bond points at the camera
    # the projected bond radius (0.12 Å x 4) from a point of the near end's rim
    d = (ends[1] - ends[0]) / np.linalg.norm(ends[1] - ends[0])
    side = np.cross(d, [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    near = ends[np.argmin([np.linalg.norm(e - centre - 100 * d) for e in ends])]
    c, rim = project(root, np.array([near, near + 0.48 * side]), size)
    r_px = np.hypot(*(rim - c))
    assert r_px > 10, r_px  # big enough to sample inside
    # an annulus well inside the end and well outside the tiny atoms: all red when the end
    # is closed; through an open tube it would be the white background
    yy, xx = np.mgrid[: size[1], : size[0]]
    rr = np.hypot(xx - c[0], yy - c[1])
    ring = (rr > 0.35 * r_px) & (rr < 0.7 * r_px)
    red = (px[..., 0] > 120) & (px[..., 1] < 90) & (px[..., 2] < 90)
    assert red[ring].mean() > 0.98, red[ring].mean()
    # and outside the end: background, so the disc is the bond and not a red screen
    assert red[(rr > 1.5 * r_px) & (rr < 2.5 * r_px)].mean() < 0.02
    assert nb.cell_errors() == []
