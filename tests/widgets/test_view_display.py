"""StructureView display options (widgets/view_display.py, adapters.display_sites / measure):
boundary images, outside neighbours, styles, vectors, measurements."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import traitlets
from pymatgen.core import Element, Lattice, Structure

from matwidgets.widgets import adapters
from matwidgets.widgets.structure_view import StructureView

from tests.conftest import random_cell


@pytest.fixture
def srtio3() -> Structure:
    """Cubic perovskite in pymatgen's standard setting: Sr at the corner, Ti at the centre, O on the faces."""
    return Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.905), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])


def site_xyz(view):
    """Cartesian position [m, 3] and element of every site drawn."""
    s = view.sites
    pos = np.frombuffer(view.positions, "<f4").reshape(-1, 3).astype(float)
    cell = np.frombuffer(view.cell, "<f4").reshape(3, 3).astype(float)
    return pos[s["atom"]] + s["shift"] @ cell, [view.species[str(z)] for z in np.frombuffer(view.numbers, "<i4")[s["atom"]]]


def in_box_counts(view):
    s = view.sites
    _, el = site_xyz(view)
    return Counter(e for e, k in zip(el, s["kind"]) if k == 0)


def test_srtio3_shows_8_sr_6_o_1_ti(srtio3):
    view = StructureView(srtio3)
    assert in_box_counts(view) == {"Sr": 8, "O": 6, "Ti": 1}
    xyz, el = site_xyz(view)
    box = view.sites["kind"] == 0
    corners = np.array(list(np.ndindex(2, 2, 2))) * 3.905
    sr = xyz[box & (np.array(el) == "Sr")]
    assert np.abs(sr[:, None] - corners[None]).sum(axis=2).min(axis=0).max() < 1e-4  # one Sr on each corner
    faces = xyz[box & (np.array(el) == "O")] / 3.905
    assert sorted(map(tuple, np.round(faces * 2).astype(int))) == sorted(  # each face centre
        [(1, 1, 0), (1, 1, 2), (1, 0, 1), (1, 2, 1), (0, 1, 1), (2, 1, 1)])
    assert all(isinstance(b, bytes) for b in (view.site_atom, view.site_shift, view.site_kind, view.site_bonds))
    assert len(view.site_shift) == 3 * len(view.site_atom)  # float32 [m, 3], int32 [m]


def test_no_stubs_every_bond_of_a_box_atom_ends_on_a_drawn_atom(srtio3):
    """Independent check with pymatgen's neighbours: each atom in the box is bonded to exactly
    the drawn sites that the covalent-radius rule says, at their drawn positions."""
    from ase.data import covalent_radii

    view = StructureView(srtio3)
    s = view.sites
    xyz, el = site_xyz(view)
    partners = {k: set() for k in range(len(xyz))}
    for a, b in s["bonds"]:
        partners[a].add(b)
        partners[b].add(a)
    for k in np.nonzero(s["kind"] == 0)[0]:
        z = Element(el[k]).Z
        expected = []
        for nb in srtio3.get_sites_in_sphere(xyz[k], 4.5):
            zj = nb.specie.Z
            d = np.linalg.norm(nb.coords - xyz[k])
            metal = Element.from_Z(z).is_metal and Element.from_Z(zj).is_metal
            if 0.1 < d < adapters.BOND_TOLERANCE * (covalent_radii[z] + covalent_radii[zj]) and not metal:
                expected.append(nb.coords)
        got = xyz[sorted(partners[k])]
        assert len(got) == len(expected), (el[k], len(got), len(expected))
        dist = np.linalg.norm(got[:, None] - np.array(expected)[None], axis=2)
        assert dist.min(axis=1).max() < 1e-3
    # the Ti octahedron is complete, and the outside neighbours are exactly the other bond ends
    ti = [k for k in range(len(el)) if el[k] == "Ti" and s["kind"][k] == 0]
    assert [len(partners[k]) for k in ti] == [6]
    outside = set(np.nonzero(s["kind"] == 1)[0])
    assert outside == {b for a, b in s["bonds"] if b in outside} | {a for a, b in s["bonds"] if a in outside}


def test_nacl_and_diamond_counts_and_repeat(nacl, si):
    view = StructureView(nacl)
    assert in_box_counts(view) == {"Na": 14, "Cl": 13}
    # fcc points (i, j, k)/2 in a 2x1x1 box: i+j+k even are Na, odd are Cl
    pts = [(i + j + k) % 2 for i in range(5) for j in range(3) for k in range(3)]
    view.repeat = [2, 1, 1]
    assert in_box_counts(view) == {"Na": pts.count(0), "Cl": pts.count(1)}
    assert in_box_counts(StructureView(si)) == {"Si": 8 + 6 + 4}  # corners, faces, inside


def test_boundary_atom_within_tolerance_and_outside_styles(nacl):
    s = nacl.copy()
    s.translate_sites([0], [-1e-5, 0.3, 0.3], frac_coords=True, to_unit_cell=True)  # Na 0 at x = 0.99999
    view = StructureView(s)
    xyz, el = site_xyz(view)
    ims = xyz[(view.sites["atom"] == 0) & (view.sites["kind"] == 0)]
    assert sorted(np.round(ims[:, 0] / 5.64, 3).tolist()) == [0.0, 1.0]  # on both a-faces
    with pytest.raises(traitlets.TraitError):
        view.outside = "transparent"
    view.outside = "small"  # drawn smaller: the JS reads it; the sites stay
    assert (view.sites["kind"] == 1).any()


def test_boundary_auto_small_cells_only(si):
    big = si.make_supercell([4, 4, 4], in_place=False)  # 512 atoms
    view = StructureView(big)
    assert view.site_atom == b""  # big: every atom once, half bonds
    view.boundary = "on"
    assert in_box_counts(view)["Si"] > 512
    small = StructureView(si)
    small.repeat = [4, 4, 4]  # 512 atoms x repeats: off again
    assert small.site_atom == b""
    small.boundary = "off"
    small.repeat = [1, 1, 1]
    assert small.site_atom == b""


def test_styles_and_validation(nacl):
    view = StructureView(nacl, style="space-filling", atom_scale=0.8, hidden_elements=["Cl", "Cl"])
    assert view.hidden_elements == ["Cl"]
    for style in ["ball-and-stick", "sticks", "wireframe"]:
        view.style = style
    with pytest.raises(traitlets.TraitError, match="ball-and-stick"):
        view.style = "cartoon"
    with pytest.raises(traitlets.TraitError, match="atom_scale must be > 0"):
        view.atom_scale = 0
    with pytest.raises(traitlets.TraitError, match="bond_scale"):
        view.bond_scale = -1
    with pytest.raises(traitlets.TraitError, match="unknown element symbol.*Xx"):
        view.hidden_elements = ["Na", "Xx"]
    with pytest.raises(TypeError, match="stlye"):
        StructureView(nacl, stlye="sticks")


def test_show_vectors_buffers_scale_and_shape(nacl):
    view = StructureView(nacl)
    v = np.zeros((8, 3))
    v[3] = [0, 0, 2.0]
    view.show_vectors(v)
    assert isinstance(view.vectors, bytes) and len(view.vectors) == 8 * 3 * 4  # float32, not JSON
    np.testing.assert_allclose(np.frombuffer(view.vectors, "<f4").reshape(8, 3), v)
    assert view.vector_scale == pytest.approx(0.75)  # the longest arrow is 1.5 Å
    view.show_vectors(v, color="red", scale=0.1)
    assert view.vector_color == "#ff0000" and view.vector_scale == 0.1
    with pytest.raises(ValueError, match=r"shape \(8, 3\), got shape \(7, 3\)"):
        view.show_vectors(np.zeros((7, 3)))
    with pytest.raises(ValueError, match=r"got shape \(8,\)"):
        view.show_vectors(np.zeros(8))
    with pytest.raises(ValueError, match="'forces'"):
        view.show_vectors("magmoms")
    with pytest.raises(traitlets.TraitError, match="not a colour"):
        view.show_vectors(v, color="notacolour")
    view.hide_vectors()
    assert view.vectors == b""


def test_show_vectors_forces_from_the_model(argon_fcc):
    import matwidgets as mw

    lj = mw.LennardJones(epsilon=0.0104, sigma=3.4, cutoff=7.0)
    view = StructureView(argon_fcc)
    view.show_vectors("forces", model=lj)
    forces = mw.predict(argon_fcc, model=lj)[0].forces
    np.testing.assert_allclose(np.frombuffer(view.vectors, "<f4").reshape(-1, 3), forces, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(forces.sum(axis=0), 0, atol=1e-6)  # Newton's third law: not all zeros by accident
    assert np.abs(forces).max() > 1e-3


def test_measurements_minimum_image_against_pymatgen():
    rng = np.random.default_rng(3)
    s = random_cell(rng, 6)
    view = StructureView(s)
    view.selected = [0, 4]
    assert view.measurements["distance"] == pytest.approx(s.get_distance(0, 4), abs=1e-5)
    # three and four atoms, each at the image nearest the one before (a bonded chain)
    chain = [2, 0, 5, 1]
    frac = [s.frac_coords[chain[0]]]
    for a in chain[1:]:
        _, image = s.lattice.get_distance_and_image(frac[-1], s.frac_coords[a])
        frac.append(s.frac_coords[a] + image)
    ref = Structure(s.lattice, ["Si"] * 4, frac, coords_are_cartesian=False, to_unit_cell=False)
    view.selected = chain[:3]
    assert view.measurements["angle"] == pytest.approx(ref.get_angle(0, 1, 2), abs=1e-4)
    view.selected = chain
    assert view.measurements["dihedral"] == pytest.approx(ref.get_dihedral(0, 1, 2, 3), abs=1e-4)
    assert view.measurements["distances"] == pytest.approx([ref.get_distance(k, k + 1, jimage=[0, 0, 0]) for k in range(3)], abs=1e-5)
    view.selected = [1]
    assert view.measurements == {}


def test_measurements_use_the_picked_images(srtio3):
    view = StructureView(srtio3)
    # the browser picks O 4 at (0.5, 0.5, 0), Ti 1, and O 4's image at (0.5, 0.5, 1): 180 degrees
    view.set_state({"selected": [4, 1, 4], "selected_images": [[0, 0, 0], [0, 0, 0], [0, 0, 1]]})
    assert view.measurements["angle"] == pytest.approx(180.0)
    assert view.measurements["images"] == [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    # two picked corners of the cube: the distance across the cell, not the minimum image (0)
    view.set_state({"selected": [0, 0], "selected_images": [[0, 0, 0], [1, 1, 1]]})
    assert view.measurements["distance"] == pytest.approx(3.905 * np.sqrt(3))
    # a selection set in Python drops the clicked images (they were other atoms')
    view.selected = [0, 1]
    assert view.selected_images == [] and view.measurements["distance"] == pytest.approx(srtio3.get_distance(0, 1))


def polyhedra_of(view):
    """Per face: centre atom and the three vertex positions [f, 3, 3], from the buffers as the JS reads them."""
    pos = np.frombuffer(view.positions, "<f4").reshape(-1, 3).astype(float)
    cell = np.frombuffer(view.cell, "<f4").reshape(3, 3).astype(float)
    atom, shift = np.frombuffer(view.poly_atom, "<i4"), np.frombuffer(view.poly_shift, "<f4").reshape(-1, 3)
    faces = np.frombuffer(view.poly_faces, "<i4").reshape(-1, 3)
    return np.frombuffer(view.poly_center, "<i4"), (pos[atom] + shift @ cell)[faces]


@pytest.mark.parametrize("method", ["bonds", "crystalnn", 2.2])
@pytest.mark.filterwarnings("ignore::UserWarning")  # CrystalNN warns when sites have no oxidation states
def test_polyhedra_tio6_octahedron(srtio3, method):
    view = StructureView(srtio3)
    view.show_polyhedra("Ti", method=method)
    center, tri = polyhedra_of(view)
    assert len(tri) == 8 and set(center) == {1}  # 8 triangles of one octahedron
    ti = srtio3.cart_coords[1]
    np.testing.assert_allclose(np.linalg.norm(tri - ti, axis=2), 3.905 / 2, atol=1e-4)
    # the hull closes around the centre: its volume is the regular octahedron's, 4/3 d^3
    vol = sum(abs(np.dot(a - ti, np.cross(b - ti, c - ti))) / 6 for a, b, c in tri)
    assert vol == pytest.approx(4 / 3 * (3.905 / 2) ** 3, rel=1e-5)


def test_polyhedra_across_periodic_boundaries(nacl):
    view = StructureView(nacl)
    view.show_polyhedra(["Na"])
    center, tri = polyhedra_of(view)
    assert len(tri) == 14 * 8  # every Na in the box (corners and faces): an octahedron of 6 Cl
    xyz, el = site_xyz(view)
    na = xyz[(np.array(el) == "Na") & (view.sites["kind"] == 0)]
    vertices = tri.reshape(-1, 3)
    d = np.linalg.norm(vertices[:, None] - na[None], axis=2).min(axis=1)
    np.testing.assert_allclose(d, 2.82, atol=1e-4)  # each vertex is a Cl bonded to a drawn Na
    assert (vertices < -1).any() and (vertices > 5.64 + 1).any()  # vertices outside the cell
    for cl in vertices:  # ... where pymatgen has a Cl
        assert any(s.specie.symbol == "Cl" for s in nacl.get_sites_in_sphere(cl, 0.01))
    view.boundary = "off"
    assert len(polyhedra_of(view)[1]) == 4 * 8  # each Na once
    view.show_polyhedra(None)
    assert view.poly_faces == b""
    with pytest.raises(ValueError, match="unknown element.*Qq"):
        view.show_polyhedra("Qq")
    with pytest.raises(ValueError, match="'bonds', 'crystalnn' or a cutoff"):
        view.show_polyhedra("Na", method="voronoi")
    with pytest.raises(ValueError, match="opacity"):
        view.show_polyhedra("Na", opacity=2)



def test_push_frame_vectors_and_measurements_follow_frames(nacl, monkeypatch):
    view = StructureView(nacl)
    sent = []
    monkeypatch.setattr(view, "send", lambda content, buffers=None: sent.append((content, buffers)))
    view.selected = [0, 4]
    d0 = view.measurements["distance"]
    pos = nacl.cart_coords.copy()
    pos[4] += [0.1, 0, 0]
    forces = np.arange(24.0).reshape(8, 3)
    view.push_frame(pos, vectors=forces)
    assert sent[-1][0]["parts"] == ["positions", "vectors"]
    np.testing.assert_allclose(np.frombuffer(sent[-1][1][1], "<f4").reshape(8, 3), forces)
    moved = Structure(nacl.lattice, nacl.species, pos, coords_are_cartesian=True)
    assert view.measurements["distance"] == pytest.approx(moved.get_distance(0, 4), abs=1e-6) != pytest.approx(d0)
    with pytest.raises(ValueError, match=r"vectors of shape \(8, 3\), got shape \(8,\)"):
        view.push_frame(pos, vectors=np.zeros(8))


def test_no_images_along_vacuum_axes():
    from ase.build import fcc111, molecule

    water = StructureView(molecule("H2O"))  # no periodic axis: each atom once, where it is
    assert water.sites["atom"].tolist() == [0, 1, 2] and not water.sites["shift"].any()
    slab = StructureView(fcc111("Cu", (2, 2, 3), vacuum=5.0))  # periodic in a and b only
    s = slab.sites
    assert not s["shift"][:, 2].any() and len(s["atom"]) > 12  # in-plane boundary images, none across the vacuum
    frac = (np.frombuffer(slab.positions, "<f4").reshape(-1, 3)[s["atom"]] + s["shift"] @ np.frombuffer(slab.cell, "<f4").reshape(3, 3)) \
        @ np.linalg.inv(np.frombuffer(slab.cell, "<f4").reshape(3, 3))
    assert (frac[:, :2] > -1e-3).all() and (frac[:, :2] < 1 + 1e-3).all()


def test_a_new_structure_drops_the_old_frames_before_measuring():
    a = Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.3, 0, 0]])
    b = Structure(Lattice.cubic(5.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.2, 0, 0], [0.6, 0, 0]])
    view = StructureView(a)
    view.push_frame(np.array([[0.0, 0, 0], [1.73, 0, 0]]))
    view.selected = [0, 1]
    assert view.measurements["distance"] == pytest.approx(1.73, abs=1e-5)  # the pushed frame is what is shown
    view.structure = b  # more atoms than the old frame had
    assert view.measurements["distance"] == pytest.approx(b.get_distance(0, 1), abs=1e-5)
    view.selected = [0, 2]
    assert view.measurements["distance"] == pytest.approx(b.get_distance(0, 2), abs=1e-5)
