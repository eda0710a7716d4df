"""Every model is invariant under rigid motions of the whole crystal.

For a random triclinic cell and random proper rotations R (rows of ``cell`` are
lattice vectors, so cell' = cell @ R^T and pos' = pos @ R^T):

    E' = E,   F' = F @ R^T,   stress' = R @ stress @ R^T,   atom energies unchanged,

and a translation of all atoms (by more than a cell length, so atoms leave the
cell) changes nothing. The reference is the same model on the unrotated cell:
only the transformation law is asserted. The rotated crystals go in as ASE Atoms
and the originals as pymatgen Structures, so both converters are on the path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

import matwidgets as mw
from tests.conftest import random_cell


def schnet():
    torch.manual_seed(0)
    model = mw.SchNet(cutoff=4.0, n_features=16, n_interactions=2, n_rbf=8).double()
    # untrained weights give tiny forces; a larger output scale makes the check sharper
    with torch.no_grad():
        model.scale.fill_(10.0)
    return model


# (model factory, species substituted into random_cell's Si sites, volume per atom Å^3, tolerance relative
# to the largest |component|; float64 round-off here is ~1e-15)
MODELS = {
    "lj": (lambda: mw.LennardJones(epsilon=0.01, sigma=2.0, cutoff=5.0), ["Ar"], 20.0, 1e-11),
    "morse": (lambda: mw.Morse(epsilon=0.5, r0=2.5, rho0=4.0), ["Cu"], 14.0, 1e-11),
    "schnet": (schnet, ["Si", "O", "Li"], 12.0, 1e-11),
    "chgnet64": (None, ["Li", "Fe", "O"], 14.0, 1e-11),
    "chgnet": (lambda: mw.load_model("chgnet", device="cpu"), ["Li", "Fe", "O"], 14.0, 2e-5),  # float32 weights: errors ~1e-6
}


def crystal(species: list[str], volume_per_atom: float, n_atoms: int = 6, seed: int = 0):
    """A random triclinic cell (tests.conftest.random_cell) with ``species`` assigned in turn."""
    s = random_cell(np.random.default_rng(seed), n_atoms, volume_per_atom=volume_per_atom)
    for k in range(len(s)):
        s.replace(k, species[k % len(species)])
    return s


def moved(structure, rotation: np.ndarray, shift=np.zeros(3)) -> Atoms:
    """ASE Atoms of ``structure`` rotated by ``rotation`` and then translated by ``shift``."""
    cell = structure.lattice.matrix @ rotation.T
    positions = structure.cart_coords @ rotation.T + shift
    return Atoms(numbers=[site.specie.Z for site in structure], positions=positions, cell=cell, pbc=True)


@pytest.mark.parametrize("name", list(MODELS))
def test_rotation_and_translation_invariance(name, request):
    factory, species, volume_per_atom, rtol = MODELS[name]
    model = request.getfixturevalue("chgnet64") if factory is None else factory()
    s = crystal(species, volume_per_atom)
    rotations = Rotation.random(3, random_state=7).as_matrix()  # [3, 3, 3], det +1
    rng = np.random.default_rng(1)
    shift = rng.normal(0.0, 1.0, 3) * 2 * max(s.lattice.abc)  # atoms end up outside the cell
    inputs = [s] + [moved(s, r) for r in rotations] + [moved(s, np.eye(3), shift), moved(s, rotations[0], shift)]
    ref, *rotated, translated, both = mw.predict(inputs, model)

    f_scale = np.abs(ref.forces).max()
    s_scale = np.abs(ref.stress).max()
    e_scale = max(abs(ref.energy), np.abs(ref.atom_energies).max())
    # the checks below can only fail if the quantities are not trivially invariant
    assert f_scale > 1e-3, f"forces too small ({f_scale:.2g} eV/Å) for a meaningful check"
    deviatoric = ref.stress - np.trace(ref.stress) / 3 * np.eye(3)
    assert np.abs(deviatoric).max() > 0.1 * s_scale, "stress is nearly isotropic: a rotation would not change it"

    for r, p in zip(rotations, rotated):
        assert np.abs(r @ ref.stress @ r.T - ref.stress).max() > 0.1 * s_scale  # an unrotated stress would fail
        assert abs(p.energy - ref.energy) < rtol * e_scale, (p.energy, ref.energy)
        np.testing.assert_allclose(p.atom_energies, ref.atom_energies, rtol=0, atol=rtol * e_scale)
        np.testing.assert_allclose(p.forces, ref.forces @ r.T, rtol=0, atol=rtol * f_scale)
        np.testing.assert_allclose(p.stress, r @ ref.stress @ r.T, rtol=0, atol=rtol * s_scale)
        if ref.magmoms is not None:
            np.testing.assert_allclose(p.magmoms, ref.magmoms, rtol=0, atol=rtol)

    for p, r in ((translated, np.eye(3)), (both, rotations[0])):
        assert abs(p.energy - ref.energy) < rtol * e_scale
        np.testing.assert_allclose(p.forces, ref.forces @ r.T, rtol=0, atol=rtol * f_scale)
        np.testing.assert_allclose(p.stress, r @ ref.stress @ r.T, rtol=0, atol=rtol * s_scale)
