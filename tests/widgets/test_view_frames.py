"""StructureView trajectories, Python side: bonds per frame, atoms that change between frames."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matwidgets.widgets.bonding import BOND_TOLERANCE, FrameBonds, bonds_of
from matwidgets.widgets.structure_view import StructureView


@pytest.fixture
def o2() -> Structure:
    """Two O atoms 1.2 Å apart (bonded: d < 1.1 * 2 * 0.66 Å) in an 8 Å box."""
    return Structure(Lattice.cubic(8.0), ["O", "O"], [[0.4, 0.5, 0.5], [0.55, 0.5, 0.5]], coords_are_cartesian=False)


def capture(view, monkeypatch):
    sent = []
    monkeypatch.setattr(view, "send", lambda content, buffers=None: sent.append((content, buffers)))
    return sent


def test_bonds_of_matches_pymatgen_neighbours():
    """Every pair within 1.1 x (sum of covalent radii), not metal-metal, both ways, with its image."""
    from ase.data import covalent_radii
    from pymatgen.core.periodic_table import Element

    rng = np.random.default_rng(3)
    s = Structure(Lattice.from_parameters(6.1, 5.7, 6.6, 80, 100, 110), ["Li", "Fe", "O", "O", "P", "O", "Li", "O"],
                  rng.uniform(0, 1, (8, 3)))
    want = set()
    for i, nbs in enumerate(s.get_all_neighbors(4.0)):
        for nb in nbs:
            zi, zj = s[i].specie.Z, nb.specie.Z
            metal = Element.from_Z(zi).is_metal and Element.from_Z(zj).is_metal
            if nb.nn_distance < 1.1 * (covalent_radii[zi] + covalent_radii[zj]) and not metal:
                want.add((i, nb.index, *np.rint(nb.image).astype(int)))  # frac = frac[index] + image
    bi, bj, bs = bonds_of(s.atomic_numbers, s.cart_coords, s.lattice.matrix, [True] * 3)
    got = {(int(i), int(j), *np.rint(x).astype(int)) for i, j, x in zip(bi, bj, bs)}
    assert got == want and len(want) > 4
    # sorted: the same bonds give the same bytes, whatever order the neighbour search found them in
    assert np.all(np.diff(bi) >= 0)


def test_frame_bonds_verlet_list_equals_a_fresh_search():
    """A random walk of a rattled LiFePO4-like cell: every frame's bonds as bonds_of finds them."""
    rng = np.random.default_rng(0)
    s = Structure(Lattice.cubic(4.2), ["Li", "Fe", "O", "O", "P", "O"], rng.uniform(0, 1, (6, 3))) * (2, 2, 2)
    pos, cell, pbc = s.cart_coords, s.lattice.matrix, [True] * 3
    fb = FrameBonds(skin=0.6, break_tolerance=BOND_TOLERANCE)  # no hysteresis: every frame as bonds_of
    changes = 0
    last = None
    for _ in range(60):
        pos = pos + rng.normal(0, 0.05, pos.shape)
        got, want = fb(s.atomic_numbers, pos, cell, pbc), bonds_of(s.atomic_numbers, pos, cell, pbc)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        changes += last is not None and len(got[0]) != len(last[0])
        last = got
    assert changes > 0  # bonds did break and form
    assert 1 < fb.searches < 30  # the list was searched again when atoms had moved, not at every frame


def test_frame_bonds_hysteresis_against_bonds_of():
    """A drawn bond stays up to 1.25 (r_i + r_j), a new one forms below 1.1 (r_i + r_j), in a
    periodic chain of Si pairs whose bond crosses the cell face (so the shift matters)."""
    s = Structure(Lattice.orthorhombic(12, 12, 12), ["Si", "Si"], [[0.05, 0.5, 0.5], [0.95, 0.5, 0.5]])  # 2.4 Å apart across x = 0
    pos, cell, z, pbc = s.cart_coords, s.lattice.matrix, s.atomic_numbers, [True] * 3
    fb = FrameBonds(skin=0.1)  # a small skin: every move below searches again, and the old bonds are found again
    limit_new, limit_old = 1.1 * 2 * 1.11, 1.25 * 2 * 1.11  # ASE's covalent radius of Si: 1.11 Å

    def at(d):  # the two atoms d apart across the cell face
        p = pos.copy()
        p[0, 0], p[1, 0] = d / 2, 12 - d / 2
        return p

    n = [len(fb(z, at(d), cell, pbc)[0]) // 2 for d in (2.3, 2.6, 2.7, 2.9, 2.6, 2.4)]
    assert limit_new < 2.6 < 2.7 < limit_old < 2.9
    assert n == [1, 1, 1, 0, 0, 1]
    assert [len(bonds_of(z, at(d), cell, pbc)[0]) // 2 for d in (2.3, 2.6, 2.9)] == [1, 0, 0]  # static: no hysteresis
    assert fb.searches == 6
    # the kept bond (bonded at 2.4, now 2.6 Å) is the one across the face, both ways
    bi, bj, bs = fb(z, at(2.6), cell, pbc)
    assert sorted(map(tuple, bs.astype(int))) == [(-1, 0, 0), (1, 0, 0)]
    with pytest.raises(ValueError, match="break_tolerance"):
        FrameBonds(break_tolerance=1.0)


def test_bonds_break_and_form_while_streaming(o2, monkeypatch):
    view = StructureView(o2)
    assert len(view.bonds_now[0]) == 2  # one bond, both ways
    sent = capture(view, monkeypatch)
    topo0 = view.topology_id
    apart = o2.cart_coords + [[0, 0, 0], [2.0, 0, 0]]  # 3.2 Å: no bond
    view.push_frame(apart)
    assert len(view.bonds_now[0]) == 0 and len(view.sites["bonds"]) == 0
    assert view.topology_id == topo0 + 1
    # the frame message carries the topology it is drawn with, and the traits hold its positions
    assert sent[-1][0]["type"] == "frame" and sent[-1][0]["topo"] == view.topology_id
    np.testing.assert_allclose(np.frombuffer(view.positions, "<f4").reshape(-1, 3), apart, atol=1e-5)
    # small moves keep the bond count: no new topology, frames only
    view.push_frame(apart + 0.01)
    view.flush()
    assert view.topology_id == topo0 + 1 and sent[-1][0]["topo"] == topo0 + 1
    view.push_frame(o2.cart_coords)
    view.flush()
    assert len(view.bonds_now[0]) == 2 and len(view.sites["bonds"]) == 1 and view.topology_id == topo0 + 2
    d = np.linalg.norm(np.diff(o2.cart_coords, axis=0))
    i, j, s = view.bonds_now
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (1, 0)] and abs(d - 1.2) < 1e-6
    # switched off: the structure's bonds stay
    view.bonds_per_frame = False
    view.push_frame(apart)
    view.flush()
    assert len(view.bonds_now[0]) == 2


def test_bonds_follow_kept_trajectory_frames(o2, monkeypatch):
    view = StructureView(o2)
    sent = capture(view, monkeypatch)
    frames = [o2.cart_coords + [[0, 0, 0], [dx, 0, 0]] for dx in (0.0, 1.0, 2.0)]
    view.show_frames(frames)
    for k, n_bonds in [(2, 0), (0, 2), (1, 0)]:  # 1.2 Å, 2.2 Å and 3.2 Å apart
        view._on_msg(view, {"type": "get_frame", "id": k, "index": k}, [])
        assert len(view.bonds_now[0]) == n_bonds, k
        assert sent[-1][0]["result"]["topo"] == view.topology_id


def test_bond_hysteresis_only_between_consecutive_frames(monkeypatch):
    """A Si pair bonded at 2.3 Å keeps its bond at 2.6 Å only when that frame follows (a streamed
    frame, a slider step of one); a jump, or a new structure, finds the bonds afresh (none at 2.6)."""
    s = Structure(Lattice.cubic(12), ["Si", "Si"], [[0.4, 0.5, 0.5], [0.6, 0.5, 0.5]])

    def at(d):
        p = s.cart_coords.copy()
        p[1, 0] = p[0, 0] + d
        return p

    view = StructureView(s)
    capture(view, monkeypatch)
    view.show_frames([at(2.3), at(2.6), at(2.6)])  # frame 0 is shown: bonded
    n_bonds = []
    for k in (2, 1, 0, 1, 2):  # a jump 0 -> 2, then steps of one
        view._on_msg(view, {"type": "get_frame", "id": k, "index": k}, [])
        n_bonds.append(len(view.bonds_now[0]) // 2)
    assert n_bonds == [0, 0, 1, 1, 1]
    view.push_frame(at(2.3)); view.flush()  # noqa: E702
    view.push_frame(at(2.6)); view.flush()  # noqa: E702
    assert len(view.bonds_now[0]) == 2  # streamed frames follow each other
    view.structure = Structure(Lattice.cubic(12), ["Si", "Si"], at(2.6), coords_are_cartesian=True)
    view.push_frame(at(2.6)); view.flush()  # noqa: E702
    assert len(view.bonds_now[0]) == 0  # the old structure's bonds do not carry over


def test_push_frame_with_new_atoms(nacl, monkeypatch):
    view = StructureView(nacl)
    view.selected = [1, 7]
    sent = capture(view, monkeypatch)
    pos = np.r_[nacl.cart_coords, [[1.4, 1.4, 1.4]]]
    numbers = list(nacl.atomic_numbers) + [19]  # a K atom comes in
    view.push_frame(pos, numbers=numbers)
    view.flush()
    assert view.n_atoms == 9 and view.species == {"11": "Na", "17": "Cl", "19": "K"}
    np.testing.assert_array_equal(np.frombuffer(view.numbers, "<i4"), numbers)
    assert len(view.colors) == len(view.radii) * 3 == 9 * 3 * 4 and view.selected == [1, 7]
    assert sent[-1][0]["type"] == "frame" and sent[-1][0]["topo"] == view.topology_id
    assert view.structure.composition.reduced_formula == "KNa4Cl4"
    # later frames keep the new atoms; the count is checked against them
    view.push_frame(pos + 0.01)
    with pytest.raises(ValueError, match="got 8 positions for 9 atoms"):
        view.push_frame(nacl.cart_coords)
    # an atom leaves and a Na becomes K: selection beyond the atoms is dropped
    view.push_frame(pos[:7], numbers=[19] + numbers[1:7])
    view.flush()
    assert view.n_atoms == 7 and view.selected == [1] and view.species == {"11": "Na", "17": "Cl", "19": "K"}
    with pytest.raises(ValueError, match="not atomic numbers"):
        view.push_frame(pos[:2], numbers=[8, 0])


def test_show_frames_with_changing_atoms(nacl, monkeypatch):
    view = StructureView(nacl)
    smaller = nacl.copy()
    smaller.remove_sites([7])
    swapped = nacl.copy()
    swapped.replace(0, "K")
    view.show_frames([nacl, smaller, swapped])
    sent = capture(view, monkeypatch)
    view._on_msg(view, {"type": "get_frame", "id": 1, "index": 1}, [])
    assert view.n_atoms == 7 and len(sent[-1][1][0]) == 7 * 3 * 4
    assert sent[-1][0]["result"]["topo"] == view.topology_id
    view._on_msg(view, {"type": "get_frame", "id": 2, "index": 2}, [])
    assert view.n_atoms == 8 and view.species["19"] == "K"
    view._on_msg(view, {"type": "get_frame", "id": 3, "index": 0}, [])
    assert view.species == {"11": "Na", "17": "Cl"}
    # arrays have no species: they must fit the structure's atoms
    with pytest.raises(ValueError, match="expected \\(8, 3\\)"):
        view.show_frames([nacl.cart_coords, nacl.cart_coords[:7]])


def test_stream_resolution_is_a_fraction_between_a_quarter_and_one(nacl):
    view = StructureView(nacl)
    assert view.stream_resolution == 0.5  # the default floor while a stream lags
    view.stream_resolution = 1
    assert view.stream_resolution == 1.0
    for bad in (0.1, 0, 1.5, -1):
        with pytest.raises(Exception, match="stream_resolution must be between 0.25 and 1"):
            view.stream_resolution = bad
    assert view.stream_resolution == 1.0
    with pytest.raises(Exception, match="stream_resolution"):
        StructureView(nacl, stream_resolution=2)
