"""MD integrators and FIRE against ASE, analytic results and conservation laws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.calculators.lj import LennardJones as AseLJ
from ase.md.verlet import VelocityVerlet
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.dynamics import MDControl, SimulationError, init_state, kinetic_energy, nve_step, run_md
from matwidgets.engine.optimize import relax

EPS, SIGMA = 0.0104, 3.4  # argon


def argon(a=5.3, n=2, rattle=0.05, seed=0):
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Ar"], [[0, 0, 0]])
    s.make_supercell([n, n, n])
    if rattle:
        rng = np.random.default_rng(seed)
        s = Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, rattle, (len(s), 3)), coords_are_cartesian=True)
    return s


@pytest.fixture
def lj():
    return mw.LennardJones(EPS, SIGMA, 8.5)


def test_velocity_verlet_equals_ase(lj):
    s = argon()
    state = init_state(AtomsBatch.from_structures(s), lj, 80.0, seed=1)
    atoms = state.batch.to_ase()[0]
    atoms.calc = AseLJ(epsilon=EPS, sigma=SIGMA, rc=8.5)
    atoms.set_velocities(state.velocities.numpy() / 0.09822694788464063)  # Å/fs -> ASE units
    atoms.set_masses(state.masses.numpy())
    dyn = VelocityVerlet(atoms, timestep=2.0 * 0.09822694788464063)  # 2 fs
    for _ in range(100):
        state = nve_step(state, lj, 2.0)
    dyn.run(100)
    np.testing.assert_allclose(state.batch.positions.numpy(), atoms.get_positions(), atol=1e-8)


def test_nve_energy_drift_lj(lj):
    frames = list(run_md(argon(n=2), lj, ensemble="nve", temperature=40, timestep=5.0, steps=2000, every=20, seed=0))
    e = np.array([f.total_energy for f in frames]) / 32
    # bound: 2e-5 eV/atom over 10 ps (kinetic energy swings are ~5e-3 eV/atom)
    assert np.ptp(e) < 2e-5, np.ptp(e)
    assert np.ptp([f.kinetic_energy for f in frames]) / 32 > 1e-3  # it really moved


def test_nve_energy_drift_chgnet_si():
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    si.make_supercell([2, 2, 2])
    frames = list(run_md(si, mw.load_model("chgnet", device="cpu"), ensemble="nve", temperature=300, timestep=1.0, steps=60, every=5, seed=0))
    e = np.array([f.total_energy for f in frames]) / 64
    # bound: 1e-3 eV/atom over 60 fs (float32 model; kinetic swings ~2e-2 eV/atom)
    assert np.ptp(e) < 1e-3, np.ptp(e)


# Langevin mean temperatures: tests/engine/test_integrators.py (4-atom cells, where 3N vs 3N-3 matters)


def test_nose_hoover_mean_temperature(lj):
    temps = [f.temperature for f in run_md(argon(n=3), lj, ensemble="nvt", thermostat="nose-hoover", temperature=50, timestep=5.0,
                                            steps=4000, every=5, seed=4, tau=200.0)][200:]
    assert abs(np.mean(temps) / 50 - 1) < 0.05, np.mean(temps)


def test_fire_relaxes_lj_fcc_to_analytic_lattice_constant():
    lj = mw.LennardJones(EPS, SIGMA, 5 * SIGMA)
    start = argon(a=5.6, n=1, rattle=0.0)
    r = relax(start, lj, fmax=1e-4, steps=1000)
    assert r.converged
    # analytic: fcc lattice sums A12 = 12.13188, A6 = 14.45392 give r_nn = (2 A12 / A6)^(1/6) sigma
    a_analytic = np.sqrt(2) * (2 * 12.13188 / 14.45392) ** (1 / 6) * SIGMA
    a = np.mean(r.structure.lattice.abc)
    assert abs(a / a_analytic - 1) < 3e-3, (a, a_analytic)  # the rest is the 5 sigma cutoff
    assert len(r.trajectory) >= 2 and r.trajectory[0] == start


def test_fire_batched_positions_only(lj):
    structures = [argon(n=1, seed=k, rattle=0.1) for k in range(3)]
    rs = relax(structures, lj, fmax=1e-3, relax_cell=False)
    for s, r in zip(structures, rs):
        assert r.converged and r.max_force < 1e-3
        assert r.structure.lattice == s.lattice


def test_npt_reaches_lj_equilibrium_density():
    lj = mw.LennardJones(EPS, SIGMA, 8.5)
    v0 = relax(argon(n=2, rattle=0), lj, fmax=1e-4).structure.volume
    start = argon(a=5.3 * 1.015, n=2)  # 4.5% too large a volume
    vols = [np.linalg.det(f.cell) for f in run_md(start, lj, ensemble="npt", temperature=5, timestep=5.0, steps=3000, every=10,
                                                    seed=0, tau_p=300.0, compressibility=0.3)][150:]
    assert abs(np.mean(vols) / v0 - 1) < 0.01, (np.mean(vols), v0)


def test_batched_run_equals_single_runs(lj):
    structures = [argon(n=1, seed=k, rattle=0.1) for k in range(8)]
    batch = AtomsBatch.from_structures(structures)
    state = init_state(batch, lj, 50.0, seed=2)
    singles = []
    for k in range(8):
        sub = init_state(batch.select([k]), lj, 0.0)
        sub.velocities = state.velocities[batch.system_idx == k].clone()
        singles.append(sub)
    for _ in range(50):
        state = nve_step(state, lj, 4.0)
        singles = [nve_step(s, lj, 4.0) for s in singles]
    for k, s in enumerate(singles):
        np.testing.assert_allclose(state.batch.positions[batch.system_idx == k].numpy(), s.batch.positions.numpy(), atol=1e-10)


def test_maxwell_boltzmann_zero_momentum_and_seeded(lj):
    batch = AtomsBatch.from_structures(argon(n=3))
    a, b = init_state(batch, lj, 300.0, seed=5), init_state(batch, lj, 300.0, seed=5)
    assert torch.equal(a.velocities, b.velocities)
    p = (a.masses[:, None] * a.velocities).sum(0)
    assert float(p.abs().max()) < 1e-10
    t = 2 * float(kinetic_energy(a)[0]) / (3 * 107 * 8.617333262e-5)
    assert abs(t / 300 - 1) < 0.15


def test_exploding_run_names_step_and_keeps_frames(tmp_path, lj):
    path = tmp_path / "run.extxyz"
    frames = []
    with pytest.raises(SimulationError, match="step"):
        for f in run_md(argon(n=1), lj, ensemble="nve", temperature=3000, timestep=60.0, steps=500, every=1, seed=0, trajectory=path):
            frames.append(f)
    import ase.io

    kept = ase.io.read(path, index=":")
    assert len(kept) == len(frames) >= 1
    assert kept[-1].info["step"] == frames[-1].step


def test_stop_and_live_temperature_control(lj):
    control = MDControl(temperature=30)
    seen = []
    for f in run_md(argon(n=1), lj, ensemble="nvt", timestep=5.0, steps=1000, every=10, seed=0, control=control):
        seen.append(f.step)
        if f.step == 50:
            control.temperature = 60
        if f.step == 100:
            control.stop = True
    assert seen[-1] == 100


def test_bad_arguments(lj):
    with pytest.raises(ValueError, match="unknown ensemble"):
        next(run_md(argon(n=1), lj, ensemble="nph"))
    with pytest.raises(ValueError, match="timestep"):
        next(run_md(argon(n=1), lj, timestep=0))
