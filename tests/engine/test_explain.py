"""SHAP attributions against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.explain import explain, shapley_from_values


class PerElement(mw.Potential):
    """An additive model: every atom contributes a constant that depends on its element only."""

    name = "per-element"

    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.linspace(-3.0, 1.0, 119, dtype=torch.float64))

    def energies(self, batch, vectors, edges):
        return self.table[batch.numbers]


def perovskite():
    s = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])
    return s


def test_additive_model_values_equal_per_atom_terms():
    s = perovskite()
    s.make_supercell([2, 1, 1])
    a = explain(s, PerElement(), target="energy")
    np.testing.assert_allclose(a.values, PerElement().table[[site.specie.Z for site in s]].numpy(), atol=1e-12)
    assert abs(a.residual) < 1e-9


def test_pair_potential_remove_masker_gives_half_pair_energies():
    ar = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    ar.make_supercell([1, 1, 2])
    ar.perturb(0.15, min_distance=0.05)
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    a = explain(ar, lj, target="energy")
    np.testing.assert_allclose(a.values, mw.predict(ar, lj)[0].atom_energies, atol=1e-12)
    assert abs(a.residual) < 1e-6
    assert a.base_value == 0.0


def test_sum_rule_and_symmetry_with_chgnet():
    s = perovskite()
    a = explain(s, mw.load_model("chgnet", device="cpu"), target="energy_per_atom")
    assert abs(a.residual) < 1e-6
    assert abs(a.full_value - mw.predict(s, mw.load_model("chgnet", device="cpu"))[0].energy_per_atom) < 1e-5
    o = [i for i, site in enumerate(s) if site.specie.symbol == "O"]
    np.testing.assert_allclose(a.values[o], a.values[o[0]], atol=2e-5)  # the 3 O are equivalent
    orbit = explain(s, mw.load_model("chgnet", device="cpu"), group="orbit")
    assert len(orbit.players) == 3 and sorted(len(p) for p in orbit.players) == [1, 1, 3]
    assert abs(orbit.residual) < 1e-6


def test_substitute_and_model_maskers():
    s = perovskite()
    sub = explain(s, mw.LennardJones(0.01, 2.5, 6.0), target="energy", masker="substitute", reference="He")
    assert abs(sub.residual) < 1e-9
    torch.manual_seed(0)
    schnet = mw.SchNet(cutoff=4.0, n_features=16, n_rbf=8).double()
    m = explain(s, schnet, target="energy", masker="model")
    assert abs(m.residual) < 1e-9
    assert m.base_value == pytest.approx(0.0, abs=1e-12)  # all atoms masked: nothing left


def test_exact_and_kernel_agree_on_10_atoms():
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    s.make_supercell([1, 1, 3])
    s.remove_sites([3, 7])  # 10 atoms, two vacancies: values differ from atom to atom
    s.perturb(0.1, min_distance=0.05)
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    exact = explain(s, lj, target="energy")
    kernel = explain(s, lj, target="energy", method="kernel", n_samples=900)
    assert kernel.n_evaluations < 2**10
    scale = np.abs(exact.values).max()
    # kernel SHAP with 900 of 1024 coalitions: an estimate, within 10% of the largest value
    assert np.abs(kernel.values - exact.values).max() < 0.1 * scale
    assert abs(kernel.residual) < 1e-6


def test_shapley_formula_on_a_known_game():
    # v(S) = |S|^2 for 3 symmetric players: phi = 9/3 = 3 each
    v = np.array([bin(m).count("1") ** 2 for m in range(8)], float)
    np.testing.assert_allclose(shapley_from_values(v, 3), [3, 3, 3])


def test_bad_inputs():
    from ase import Atoms

    with pytest.raises(mw.InvalidStructureError, match="empty"):
        explain(Atoms(cell=np.eye(3) * 3, pbc=True), mw.LennardJones())
    with pytest.raises(ValueError, match="no magnetic moments"):
        explain(perovskite(), mw.LennardJones(), target="magmom")
    big = perovskite()
    big.make_supercell([2, 2, 1])
    with pytest.raises(ValueError, match="too many for exact"):
        explain(big, mw.LennardJones())
    with pytest.raises(ValueError, match="unknown target"):
        explain(perovskite(), mw.LennardJones(), target="band_gap")
    with pytest.raises(ValueError, match="masker='model' needs a native model"):
        explain(perovskite(), mw.LennardJones(), masker="model")


def test_remove_masker_with_isolated_atoms_chgnet():
    # in a 12 Å cell, a coalition of one atom leaves it with no neighbour within 6 Å
    s = Structure(Lattice.cubic(12.0), ["Si", "O", "O"], [[0, 0, 0], [0.13, 0, 0], [-0.13, 0, 0]])
    model = mw.load_model("chgnet", device="cpu")
    a = explain(s, model, target="energy")
    assert abs(a.residual) < 1e-6 and np.isfinite(a.values).all()
    with pytest.raises(mw.InvalidStructureError, match="isolated"):
        mw.predict(Structure(Lattice.cubic(12.0), ["Si"], [[0, 0, 0]]), model)
