"""Neighbour lists against pymatgen's get_neighbor_list (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.neighbors import edge_vectors, neighbor_list
from tests.conftest import random_cell


def pairs_pymatgen(s: Structure, cutoff: float) -> dict:
    c, n, img, d = s.get_neighbor_list(cutoff, numerical_tol=1e-8)
    return {(int(a), int(b), *map(int, np.round(i))): float(x) for a, b, i, x in zip(c, n, img, d)}


def pairs_ours(batch: AtomsBatch, cutoff: float) -> list[dict]:
    e = neighbor_list(batch, cutoff)
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


def test_random_cells_match_pymatgen_batched():
    rng = np.random.default_rng(42)
    cells = []
    for k in range(60):
        n = [1, 2, 3, 5, 8, 16][k % 6]
        cells.append(random_cell(rng, n, skew=k % 3 != 0))
    cutoff = 6.0  # longer than most of these cell lengths: many periodic images
    batch = AtomsBatch.from_structures(cells)
    assert float(batch.cell.norm(dim=2).min()) < cutoff / 2
    for s, ours in zip(cells, pairs_ours(batch, cutoff)):
        assert_same_pairs(ours, pairs_pymatgen(s, cutoff))


@pytest.mark.parametrize("pbc", [(True, True, False), (True, False, False), (False, False, False), (False, True, True)])
def test_partial_periodicity_matches_pymatgen(pbc):
    rng = np.random.default_rng(sum(pbc) + 7)
    for _ in range(4):
        s = random_cell(rng, 6, skew=True)
        s = Structure(Lattice(s.lattice.matrix, pbc=pbc), s.species, s.frac_coords)
        batch = AtomsBatch.from_structures(s)
        assert_same_pairs(pairs_ours(batch, 5.0)[0], pairs_pymatgen(s, 5.0))


def test_tiny_cell_many_images():
    # one atom in a 2.1 Å simple cubic cell: neighbours are its own images only
    s = Structure(Lattice.cubic(2.1), ["Cu"], [[0, 0, 0]])
    e = neighbor_list(AtomsBatch.from_structures(s), 6.0)
    ref = pairs_pymatgen(s, 6.0)
    assert e.n_edges == len(ref) > 80
    assert bool((e.i == 0).all() and (e.j == 0).all())


def test_half_list_has_each_pair_once(si):
    b = AtomsBatch.from_structures(si)
    assert 2 * neighbor_list(b, 4.0, full=False).n_edges == neighbor_list(b, 4.0).n_edges


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
