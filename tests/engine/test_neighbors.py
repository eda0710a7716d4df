"""Neighbour lists, both searches (vesin's loop and the batched torch search), against
pymatgen's get_neighbor_list and ASE's neighbor_list (independent implementations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from matwidgets.engine.atoms import AtomsBatch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from matwidgets.engine.neighbors import edge_vectors, neighbor_list, use_torch_search
from tests.conftest import random_cell


def pairs_pymatgen(s: Structure, cutoff: float) -> dict:
    c, n, img, d = s.get_neighbor_list(cutoff, numerical_tol=1e-8)
    return {(int(a), int(b), *map(int, np.round(i))): float(x) for a, b, i, x in zip(c, n, img, d)}


METHODS = ["vesin", "torch"]


def pairs_ours(batch: AtomsBatch, cutoff: float, method: str = "auto") -> list[dict]:
    e = neighbor_list(batch, cutoff, method=method)
    d = torch.linalg.norm(edge_vectors(batch.positions, batch.cell, batch.system_idx, e), dim=1)
    starts = torch.cumsum(batch.counts, 0) - batch.counts
    out = [{} for _ in range(batch.n_systems)]
    for i, j, s, x in zip(e.i.tolist(), e.j.tolist(), e.shifts.round().long().tolist(), d.tolist()):
        k = int(batch.system_idx[i])
        out[k][(i - int(starts[k]), j - int(starts[k]), *s)] = x
    return out


def assert_same_pairs(ours: dict, ref: dict) -> None:
    assert ours.keys() == ref.keys()
    for key, d in ref.items():
        assert abs(ours[key] - d) < 1e-5, key


@pytest.mark.parametrize("method", METHODS)
def test_random_cells_match_pymatgen_batched(method):
    rng = np.random.default_rng(42)
    cells = []
    for k in range(60):
        n = [1, 2, 3, 5, 8, 16][k % 6]
        cells.append(random_cell(rng, n, skew=k % 3 != 0))
    cutoff = 6.0  # longer than most of these cell lengths: many periodic images
    batch = AtomsBatch.from_structures(cells)
    assert float(batch.cell.norm(dim=2).min()) < cutoff / 2
    for s, ours in zip(cells, pairs_ours(batch, cutoff, method)):
        assert_same_pairs(ours, pairs_pymatgen(s, cutoff))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pbc", [(True, True, False), (True, False, False), (False, False, False), (False, True, True)])
def test_partial_periodicity_matches_pymatgen(pbc, method):
    rng = np.random.default_rng(sum(pbc) + 7)
    for _ in range(4):
        s = random_cell(rng, 6, skew=True)
        s = Structure(Lattice(s.lattice.matrix, pbc=pbc), s.species, s.frac_coords)
        batch = AtomsBatch.from_structures(s)
        assert_same_pairs(pairs_ours(batch, 5.0, method)[0], pairs_pymatgen(s, 5.0))


@pytest.mark.parametrize("method", METHODS)
def test_tiny_cell_many_images(method):
    # one atom in a 2.1 Å simple cubic cell: neighbours are its own images only
    s = Structure(Lattice.cubic(2.1), ["Cu"], [[0, 0, 0]])
    e = neighbor_list(AtomsBatch.from_structures(s), 6.0, method=method)
    ref = pairs_pymatgen(s, 6.0)
    assert e.n_edges == len(ref) > 80
    assert bool((e.i == 0).all() and (e.j == 0).all())


@pytest.mark.parametrize("method", METHODS)
def test_half_list_has_each_pair_once(si, method):
    b = AtomsBatch.from_structures([si, Structure(Lattice.cubic(2.1), ["Cu"], [[0, 0, 0]])])
    full, half = neighbor_list(b, 4.0, method=method), neighbor_list(b, 4.0, full=False, method=method)
    as_set = lambda e: set(zip(e.i.tolist(), e.j.tolist(), map(tuple, e.shifts.long().tolist())))  # noqa: E731
    both_ways = {(j, i, tuple(-x for x in s)) for i, j, s in as_set(half)} | as_set(half)
    assert 2 * half.n_edges == full.n_edges
    assert both_ways == as_set(full)


def test_edge_vectors_differentiable_in_positions_and_strain(si):
    si.perturb(0.05, min_distance=0.01)
    b = AtomsBatch.from_structures(si)
    e = neighbor_list(b, 4.0)
    pos = b.positions.clone().requires_grad_()
    strain = torch.zeros(1, 3, 3, dtype=torch.float64, requires_grad=True)

    def total(pos, strain):
        deform = torch.eye(3, dtype=torch.float64) + strain
        v = edge_vectors(pos @ deform[0], b.cell @ deform, b.system_idx, e)
        return (torch.linalg.norm(v, dim=1) ** 3).sum()

    assert torch.autograd.gradcheck(total, (pos, strain))


# ---- both searches against ASE's neighbor_list, (i, j, shift) sets, one batch ------------

def pairs_ase(atoms: Atoms, cutoff: float) -> set:
    i, j, shifts = ase_neighbor_list("ijS", atoms, cutoff)
    return set(zip(i.tolist(), j.tolist(), map(tuple, shifts.tolist())))


def pair_sets(edges, batch: AtomsBatch) -> list[set]:
    starts = (torch.cumsum(batch.counts, 0) - batch.counts).tolist()
    out = [set() for _ in range(batch.n_systems)]
    shifts = edges.shifts.round().long().tolist()
    for i, j, s in zip(edges.i.tolist(), edges.j.tolist(), shifts):
        k = int(batch.system_idx[i])
        out[k].add((i - starts[k], j - starts[k], tuple(s)))
    return out


def mixed_systems() -> list[Atoms]:
    """Tiny triclinic cells (cutoff longer than the cell), 1-atom cells, a slab, a molecule."""
    rng = np.random.default_rng(3)
    tri = Atoms("Si3", cell=[[3.1, 0, 0], [1.2, 2.9, 0], [0.7, -0.9, 3.3]], pbc=True)
    tri.set_scaled_positions(rng.random((3, 3)))
    one = Atoms("Cu", cell=[[2.2, 0, 0], [1.1, 1.9, 0], [0.4, 0.6, 2.1]], pbc=True)
    one_rect = Atoms("Ar", cell=[2.5, 3.0, 4.5], pbc=True)
    slab = Atoms("Si4", cell=[[3.8, 0, 0], [1.9, 3.3, 0], [0, 0, 14.0]], pbc=(True, True, False))
    slab.set_scaled_positions([[0, 0, 0.4], [0.5, 0.3, 0.45], [0.2, 0.7, 0.52], [0.8, 0.6, 0.58]])
    molecule = Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]],
                     cell=np.eye(3) * 12.0, pbc=False)
    wire = Atoms("Si2", positions=[[0, 0, 0], [1.2, 0.3, 1.1]], cell=[2.4, 12.0, 12.0], pbc=(True, False, False))
    return [tri, one, one_rect, slab, molecule, wire]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("cutoff", [2.5, 5.5])
def test_mixed_batch_matches_ase(method, cutoff):
    systems = mixed_systems()
    batch = AtomsBatch.from_structures(systems)
    ours = pair_sets(neighbor_list(batch, cutoff, method=method), batch)
    for k, atoms in enumerate(systems):
        ref = pairs_ase(atoms, cutoff)
        assert ours[k] == ref, (k, atoms.get_chemical_formula(), len(ours[k]), len(ref))
    if cutoff > 5:
        assert len(ours[0]) > 50  # the cutoff reaches many images of the tiny cell


@pytest.mark.parametrize("method", METHODS)
def test_unwrapped_positions_give_shifts_valid_for_them(method):
    # MD keeps positions unwrapped: atoms several cells away from their cell must give the
    # same pairs as ASE on the same (unwrapped) positions, with shifts valid for them
    systems = mixed_systems()[:4]
    rng = np.random.default_rng(5)
    for atoms in systems:
        jump = rng.integers(-3, 4, (len(atoms), 3)) * atoms.pbc
        atoms.positions = atoms.positions + jump @ atoms.cell.array + rng.normal(0, 0.3, (len(atoms), 3))
    batch = AtomsBatch.from_structures(systems)
    assert float(batch.positions.abs().max()) > 6.0
    edges = neighbor_list(batch, 4.0, method=method)
    for k, atoms in enumerate(systems):
        assert pair_sets(edges, batch)[k] == pairs_ase(atoms, 4.0)
    d = torch.linalg.norm(edge_vectors(batch.positions, batch.cell, batch.system_idx, edges), dim=1)
    assert float(d.max()) < 4.0


def test_both_searches_same_pairs_on_a_big_random_batch():
    rng = np.random.default_rng(11)
    cells = [random_cell(rng, n, skew=True) for n in [1, 2, 4, 7, 12] * 6]
    batch = AtomsBatch.from_structures(cells)
    a, b = neighbor_list(batch, 5.0, method="vesin"), neighbor_list(batch, 5.0, method="torch")
    assert a.n_edges == b.n_edges > 1000
    assert pair_sets(a, batch) == pair_sets(b, batch)


def test_search_choice():
    small = AtomsBatch.from_structures([Structure(Lattice.cubic(2.1), ["Cu"], [[0, 0, 0]])] * 4)
    assert not use_torch_search(small)  # the CPU: vesin measured faster for every batch shape
    if torch.cuda.is_available():
        assert use_torch_search(small.to("cuda"))
        assert not use_torch_search(small.select([0]).to("cuda"))
    with pytest.raises(ValueError, match="unknown neighbour search"):
        neighbor_list(small, 3.0, method="cells")
