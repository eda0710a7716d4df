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


def half_pair_energies(structure, phi, cutoff: float) -> np.ndarray:
    """[n_atoms] half of each atom's pair energies, periodic images (its own too) included:
    ASE's neighbour list lists every pair both ways, so each end gets 0.5 phi(r)."""
    from ase.neighborlist import neighbor_list
    from pymatgen.io.ase import AseAtomsAdaptor

    i, d = neighbor_list("id", AseAtomsAdaptor.get_atoms(structure), cutoff)
    return np.bincount(i, weights=0.5 * phi(d), minlength=len(structure))


def lj_phi(epsilon, sigma, cutoff):
    def phi(r):
        return 4 * epsilon * ((sigma / r) ** 12 - (sigma / r) ** 6)

    return lambda r: phi(r) - phi(cutoff)  # ASE's convention: shifted to 0 at the cutoff


@pytest.mark.parametrize("method", ["exact", "kernel"])
def test_pair_potential_remove_masker_gives_half_pair_energies(method):
    """For a pair potential with the remove masker, v(S) = sum of the pair energies inside S
    (an atom's pairs with its own images count once it is present), a game with only pairwise
    terms: atom i's Shapley value is sum_j phi_ij / 2. The reference is computed here from the
    LJ formula on ASE's neighbour list, not from the model."""
    ar = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    ar.make_supercell([1, 1, 3])
    ar.remove_sites([3, 7, 8])  # 9 atoms, three vacancies: values differ from atom to atom
    rng = np.random.default_rng(0)
    ar = Structure(ar.lattice, ar.species, ar.cart_coords + rng.normal(0, 0.15, (len(ar), 3)), coords_are_cartesian=True)
    eps, sigma, rc = 0.0104, 3.4, 8.0
    expected = half_pair_energies(ar, lj_phi(eps, sigma, rc), rc)
    assert np.ptp(expected) > 0.2 * np.abs(expected).max()  # not all equal: the test can tell atoms apart
    kw = {"n_samples": 2**len(ar)} if method == "kernel" else {}
    a = explain(ar, mw.LennardJones(eps, sigma, rc), target="energy", method=method, **kw)
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    assert a.base_value == 0.0
    assert abs(a.full_value - expected.sum()) < 1e-10


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
    # float32: the full and empty values come from another batch than the coalitions, so the
    # sum rule holds to float32 round-off of the energy (~1e-7 relative), not to 1e-6 eV
    assert abs(a.residual) < 1e-6 * abs(a.full_value) and np.isfinite(a.values).all()
    with pytest.raises(mw.InvalidStructureError, match="isolated"):
        mw.predict(Structure(Lattice.cubic(12.0), ["Si"], [[0, 0, 0]]), model)
