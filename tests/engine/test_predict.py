"""Batched prediction equals one-at-a-time prediction; pressure is -dE/dV."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.calculators.lj import LennardJones as AseLJ
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

import matwidgets as mw
from matwidgets.engine import predict as predict_module
from matwidgets.engine.predict import plan_batches
from tests.conftest import random_cell


def test_plan_batches_respects_budget_and_order():
    plan = plan_batches([10, 20, 30, 100, 5], max_atoms=50)
    assert plan == [[0, 1], [2], [3], [4]]
    assert sum(plan, []) == list(range(5))


def test_batched_equals_single(si, nacl, monkeypatch):
    rng = np.random.default_rng(1)
    structures = [si, nacl] + [random_cell(rng, n, volume_per_atom=20.0) for n in (1, 3, 7)]
    model = mw.load_model("chgnet", device="cpu")
    monkeypatch.setitem(predict_module.ATOMS_PER_BATCH, "cpu", 10_000)
    batched = mw.predict(structures, model)
    single = [mw.predict(s, model)[0] for s in structures]
    for b, s in zip(batched, single):
        assert abs(b.energy - s.energy) < 1e-4
        np.testing.assert_allclose(b.forces, s.forces, atol=1e-4)
        np.testing.assert_allclose(b.stress, s.stress, atol=1e-3)


def test_lj_batched_equals_single_exactly(argon_fcc):
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    s2 = argon_fcc.copy()
    s2.make_supercell([1, 1, 2])
    b = mw.predict([argon_fcc, s2], lj, batch_size=2)
    one = mw.predict(s2, lj)[0]
    assert abs(b[1].energy - one.energy) < 1e-10
    np.testing.assert_allclose(b[1].forces, one.forces, atol=1e-12)
    np.testing.assert_allclose(b[1].stress, one.stress, atol=1e-10)


def rattled_argon(seed: int) -> Structure:
    """fcc argon (sigma = 3.4 Å) rattled with a seeded generator, so the test is reproducible."""
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    rng = np.random.default_rng(seed)
    return Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, 0.08, (len(s), 3)), coords_are_cartesian=True)


@pytest.mark.parametrize("volume_scale", [0.85, 1.0, 1.2])  # compressed (P > 0), near zero, stretched (P < 0)
def test_lj_pressure_is_minus_dE_dV_and_equals_ase(volume_scale):
    """Prediction.pressure against two references that never read our stress:
    -dE/dV by central differences of the energy under uniform scaling of the cell
    (atoms move with it), and ASE's LennardJones stress converted with ase.units."""
    eps, sigma, rc = 0.0104, 3.4, 8.0
    lj = mw.LennardJones(eps, sigma, rc)
    cubic = rattled_argon(0)
    rng = np.random.default_rng(4)
    strain = np.eye(3) + rng.uniform(-0.08, 0.08, (3, 3))  # a triclinic, sheared copy
    sheared = Structure(Lattice(cubic.lattice.matrix @ strain), cubic.species, cubic.frac_coords)
    cells = [cubic, sheared]
    for s in cells:
        s.scale_lattice(s.volume * volume_scale)
    preds = mw.predict(cells, lj, batch_size=2)  # both in one batch
    for s, p in zip(cells, preds):
        # a small step: the energy's slope jumps where a pair crosses the cutoff
        v, dv = s.volume, 1e-6 * s.volume

        def energy(volume):
            t = s.copy()
            t.scale_lattice(volume)  # fractional coordinates kept: atoms scale with the cell
            return mw.predict(t, lj)[0].energy

        p_fd = -(energy(v + dv) - energy(v - dv)) / (2 * dv) / units.GPa  # eV/Å^3 -> GPa
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = AseLJ(epsilon=eps, sigma=sigma, rc=rc)
        p_ase = -np.trace(atoms.get_stress(voigt=False)) / 3 / units.GPa
        scale = max(abs(p_ase), 1e-3)
        assert abs(p.pressure - p_ase) < 1e-7 * scale, (p.pressure, p_ase)
        assert abs(p.pressure - p_fd) < 1e-6 * scale, (p.pressure, p_fd)
    if volume_scale == 0.85:
        assert min(p.pressure for p in preds) > 0.05  # GPa: squeezed argon pushes outwards
    if volume_scale == 1.2:
        assert max(p.pressure for p in preds) < -0.05
