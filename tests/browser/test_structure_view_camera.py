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
    xyz = np.array(eval(nb.kernel("print(xyz.tolist())")))
    centres = project(root, xyz, size)
    drawn = np.abs(px.astype(int) - 255).sum(axis=2) > 60
    yy, xx = np.mgrid[: size[1], : size[0]]
    gap = np.hypot(*(centres[0] - centres[1]))
    radii = [np.sqrt((drawn & (np.hypot(xx - c[0], yy - c[1]) < 0.5 * gap)).sum() / np.pi) for c in centres]
    orthographic, w = camera(root, xyz)
    return radii, orthographic, w


def camera(root, xyz):
    """Whether the picture's camera is orthographic (no w from depth), and the clip w of
    each point: a perspective projection scales sizes by 1 / w."""
    m = np.array([float(x) for x in root.get_attribute("data-view-proj").split(",")]).reshape(4, 4)  # column-major
    w = np.c_[xyz, np.ones(len(xyz))] @ m[:, 3]
    return bool(np.allclose(m[:3, 3], 0.0) and np.isclose(m[3, 3], 1.0)), w


def wait_for_camera(nb, k, orthographic):
    """Poll until view k's last picture was drawn with the camera asked for."""
    root, xyz = nb.page.locator(".mw-sv").nth(k), np.zeros((1, 3))
    for _ in range(100):
        if camera(root, xyz)[0] == orthographic:
            return
        nb.page.wait_for_timeout(100)
    raise AssertionError(f"view {k} never drew with orthographic={orthographic}")


def test_orthographic_at_construction_and_switching(open_notebook):
    nb = open_notebook("projection.ipynb", [TWO_DEPTHS, SHOW.format(k=0), SHOW.format(k=1)])
    nb.page.wait_for_selector(".mw-sv[data-view-proj] >> nth=1", timeout=60_000)
    (near, far), ortho, _ = disc_radii(nb, 0)
    assert ortho and far > 6, (near, far, ortho)
    assert abs(near / far - 1) < 0.04, (near, far)  # same size at any depth
    (near, far), ortho, w = disc_radii(nb, 1)
    assert not ortho and near / far > 1.08, (near, far)  # the nearer atom is larger
    assert abs((near / far) / (w[1] / w[0]) - 1) < 0.04, (near, far, w)  # by the ratio of their depths (1 / w)
    # switching the trait redraws with the other camera, looking the same way
    nb.kernel("views[1].projection = 'orthographic'; views[0].projection = 'perspective'")
    wait_for_camera(nb, 1, True)
    wait_for_camera(nb, 0, False)
    (near1, far1), ortho1, _ = disc_radii(nb, 1)
    (near0, far0), ortho0, w0 = disc_radii(nb, 0)
    assert ortho1 and abs(near1 / far1 - 1) < 0.04, (near1, far1)
    assert not ortho0 and near0 / far0 > 1.08, (near0, far0)
    assert abs((near0 / far0) / (w0[1] / w0[0]) - 1) < 0.04, (near0, far0, w0)
    assert nb.cell_errors() == []
