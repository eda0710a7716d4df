"""The projection trait: an orthographic view draws equal atoms at equal size whatever
their depth; a perspective view draws the nearer one larger. Checked at construction and
after switching, in pixels and in the camera of the picture drawn."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.test_structure_view import canvas_png, project

pytestmark = pytest.mark.browser

# Two equal C atoms, one 5 Å nearer the camera than the other along its starting direction
# (viewer3d.fit looks at the box centre from (0.35, 0.25, 1)), 5 Å apart sideways so
# their discs do not overlap; too far apart to bond.
TWO_DEPTHS = """
import numpy as np
from pymatgen.core import Lattice, Structure
from matwidgets.widgets.structure_view import StructureView
d = np.array([0.35, 0.25, 1.0]); d /= np.linalg.norm(d)
side = np.cross(d, [0.0, 1.0, 0.0]); side /= np.linalg.norm(side)
centre = np.full(3, 8.0)
xyz = np.array([centre + 2.5 * d - 2.5 * side, centre - 2.5 * d + 2.5 * side])   # near, far
s = Structure(Lattice.cubic(16.0), ["C", "C"], xyz, coords_are_cartesian=True)
views = [StructureView(s, height=400, atom_scale=1.5, show_cell=False, projection=p) for p in ("orthographic", "perspective")]
"""
SHOW = "views[{k}]"


def disc_radii(nb, k):
    """Radii in pixels of the two drawn atoms (near, far) of view k, from the non-white
    area around each projected centre, and whether the picture was orthographic."""
    root = nb.page.locator(".mw-sv").nth(k)
    nb.page.wait_for_timeout(500)
    _, px = canvas_png(nb, k)
    size = (px.shape[1], px.shape[0])
    centres = project(root, np.array(eval(nb.kernel("print(xyz.tolist())"))), size)
    drawn = np.abs(px.astype(int) - 255).sum(axis=2) > 60
    yy, xx = np.mgrid[: size[1], : size[0]]
    gap = np.hypot(*(centres[0] - centres[1]))
    radii = [np.sqrt((drawn & (np.hypot(xx - c[0], yy - c[1]) < 0.5 * gap)).sum() / np.pi) for c in centres]
    m = np.array([float(x) for x in root.get_attribute("data-view-proj").split(",")]).reshape(4, 4)
    orthographic = np.allclose(m[:3, 3], 0.0) and np.isclose(m[3, 3], 1.0)  # no w from depth
    return radii, orthographic


def test_orthographic_at_construction_and_switching(open_notebook):
    nb = open_notebook("projection.ipynb", [TWO_DEPTHS, SHOW.format(k=0), SHOW.format(k=1)])
    nb.page.wait_for_selector(".mw-sv[data-view-proj] >> nth=1", timeout=60_000)
    (near, far), ortho = disc_radii(nb, 0)
    assert ortho and far > 6, (near, far, ortho)
    assert abs(near / far - 1) < 0.04, (near, far)  # same size at any depth
    (near, far), ortho = disc_radii(nb, 1)
    assert not ortho and near / far > 1.08, (near, far)  # the nearer atom is larger
    # switching the trait redraws with the other camera, looking the same way
    nb.kernel("views[1].projection = 'orthographic'; views[0].projection = 'perspective'")
    nb.page.wait_for_timeout(800)
    (near1, far1), ortho1 = disc_radii(nb, 1)
    (near0, far0), ortho0 = disc_radii(nb, 0)
    assert ortho1 and abs(near1 / far1 - 1) < 0.04, (near1, far1)
    assert not ortho0 and near0 / far0 > 1.08, (near0, far0)
    assert nb.cell_errors() == []
