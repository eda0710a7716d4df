"""Every model against independent references: finite differences, ASE, chgnet itself."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from ase.calculators.lj import LennardJones as AseLJ
from ase.calculators.morse import MorsePotential as AseMorse
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA
from matwidgets.engine.training import fit_atom_refs, train


def fd_check(model, structure, h=1e-4, atoms=(0, 1), tol_f=1e-5, tol_s=1e-5):
    """Forces = -dE/dr and stress = (1/V) dE/d(strain) by central differences."""
    b = AtomsBatch.from_structures(structure)
    out = model.compute(b)

    def energy(pos, cell=None):
        return float(model.compute(b.with_positions(pos, cell), forces=False, stress=False)["energy"][0])

    for a in atoms:
        for x in range(3):
            p, m = b.positions.clone(), b.positions.clone()
            p[a, x] += h
            m[a, x] -= h
            fd = -(energy(p) - energy(m)) / (2 * h)
            assert abs(fd - float(out["forces"][a, x])) < tol_f, (a, x, fd, float(out["forces"][a, x]))
    vol = float(b.volumes[0])
    for x, y in [(0, 0), (1, 2), (2, 1), (2, 2)]:
        eps = torch.zeros(3, 3, dtype=torch.float64)
        eps[x, y] = h
        es = []
        for sign in (1, -1):
            d = torch.eye(3, dtype=torch.float64) + sign * eps
            es.append(energy(b.positions @ d, b.cell @ d))
        fd = (es[0] - es[1]) / (2 * h) / vol * EV_PER_A3_TO_GPA
        assert abs(fd - float(out["stress"][0, x, y])) < tol_s, (x, y, fd, float(out["stress"][0, x, y]))
    return out


def triclinic(symbol="Ar", a=3.9, n=2, seed=0):
    rng = np.random.default_rng(seed)
    lat = Lattice.from_parameters(a, a * 1.1, a * 0.95, 75, 95, 105)
    s = Structure(lat, [symbol] * n, rng.random((n, 3)))
    s.make_supercell([2, 1, 1])
    return s


def test_lj_finite_differences(argon_fcc):
    lj = mw.load_model("lj", epsilon=0.0104, sigma=3.4, cutoff=8.0, device="cpu")
    fd_check(lj, argon_fcc, tol_f=1e-7, tol_s=1e-6)
    fd_check(lj, triclinic(), tol_f=1e-6, tol_s=1e-5)


def test_morse_finite_differences():
    morse = mw.Morse(epsilon=0.5, r0=2.5, rho0=4.0)
    fd_check(morse, triclinic("Cu", a=3.0, n=3), tol_f=1e-6, tol_s=1e-5)


@pytest.mark.parametrize("name,calc,ours", [
    ("lj", lambda: AseLJ(epsilon=0.0104, sigma=3.4, rc=8.0), lambda: mw.LennardJones(0.0104, 3.4, 8.0)),
    ("morse", lambda: AseMorse(epsilon=0.5, r0=2.6, rho0=4.0), lambda: mw.Morse(epsilon=0.5, r0=2.6, rho0=4.0)),
])
def test_pair_potentials_equal_ase(name, calc, ours, argon_fcc):
    for s in (argon_fcc, triclinic(a=3.7, n=3, seed=2)):
        atoms = AtomsBatch.from_structures(s).to_ase()[0]
        atoms.calc = calc()
        p = mw.predict(s, ours())[0]
        assert abs(p.energy - atoms.get_potential_energy()) < 1e-9
        np.testing.assert_allclose(p.forces, atoms.get_forces(), atol=1e-9)
        np.testing.assert_allclose(p.atom_energies, atoms.get_potential_energies(), atol=1e-9)
        ase_stress = atoms.get_stress(voigt=False) * EV_PER_A3_TO_GPA
        np.testing.assert_allclose(p.stress, ase_stress, atol=1e-7)


def test_schnet_finite_differences(nacl):
    torch.manual_seed(0)
    model = mw.SchNet(cutoff=4.0, n_features=16, n_rbf=8).double()
    s = nacl.copy()
    s.perturb(0.1, min_distance=0.05)
    fd_check(model, s, tol_f=1e-6, tol_s=1e-5)
    fd_check(model, triclinic("Si", a=4.0, n=2), tol_f=1e-6, tol_s=1e-5)


def test_chgnet_finite_differences(chgnet64, si):
    s = si.copy()
    s.perturb(0.1, min_distance=0.05)
    fd_check(chgnet64, s, h=1e-4, tol_f=2e-4, tol_s=2e-3)


def test_chgnet_equals_reference_package(si, nacl):
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):
        ref = CHGNet.load(verbose=False, use_device="cpu")
    rng = np.random.default_rng(3)
    structures = [
        si,
        nacl,
        Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]),
        Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(2.95, 4.68), ["Ti"], [[1 / 3, 2 / 3, 0.25]]),
        Structure(Lattice.from_parameters(5.0, 5.5, 6.0, 80, 95, 110), ["Li", "Fe", "O", "O", "Fe", "Li"], rng.random((6, 3))),
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ]
    structures[1].perturb(0.1, min_distance=0.05)
    preds = mw.predict(structures, mw.load_model("chgnet", device="cpu"))
    for s, p in zip(structures, preds):
        r = ref.predict_structure(s, task="efsm")
        assert abs(p.energy_per_atom - float(r["e"])) < 1e-5
        np.testing.assert_allclose(p.forces, r["f"], atol=1e-4)
        np.testing.assert_allclose(p.stress, r["s"], atol=1e-3)
        np.testing.assert_allclose(p.magmoms, r["m"], atol=1e-4)
        assert abs(p.atom_energies.sum() - p.energy) < 1e-4


def test_unsupported_element_is_named():
    s = Structure(Lattice.cubic(5), ["Og"], [[0, 0, 0]])
    with pytest.raises(mw.InvalidStructureError, match="Og"):
        mw.predict(s, mw.load_model("chgnet", device="cpu"))


def test_schnet_trains_saves_and_loads(tmp_path, argon_fcc):
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    rng = np.random.default_rng(0)
    data = []
    for k in range(24):
        s = argon_fcc.copy()
        s.scale_lattice(argon_fcc.volume * rng.uniform(0.9, 1.15))
        s.perturb(0.15, min_distance=0.02)
        data.append(s)
    refs = mw.predict(data, lj)
    energies = [p.energy for p in refs]
    torch.manual_seed(0)
    model = mw.SchNet(cutoff=6.0, n_features=32, n_rbf=16).double()
    fit_atom_refs(model, data, energies)
    reports = list(train(model, data, energies, forces=[p.forces for p in refs], epochs=30, lr=3e-3, batch_size=8))
    assert reports[-1].train_loss < 0.2 * reports[0].train_loss
    path = tmp_path / "argon.pt"
    model.tag = "argon"
    model.save(path)
    loaded = mw.load_model(path, device="cpu").double()
    a, b = mw.predict(data[:3], model), mw.predict(data[:3], loaded)
    for x, y in zip(a, b):
        assert x.energy == pytest.approx(y.energy, abs=1e-10)
        np.testing.assert_allclose(x.forces, y.forces, atol=1e-10)
    assert loaded.model_id == model.model_id  # same weights, same cache key


def test_load_model_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        mw.load_model("nonsense")
    bad = tmp_path / "bad.pt"
    torch.save({"x": 1}, bad)
    with pytest.raises(ValueError, match="not a matwidgets checkpoint"):
        mw.load_model(bad)
