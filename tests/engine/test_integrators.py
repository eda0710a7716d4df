"""Thermostats and barostats against statistical mechanics: kinetic temperature with the
right degrees of freedom, NPT volume fluctuations against the model's own bulk modulus,
cell shape relaxation, and the Nose-Hoover extended energy."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.dynamics import run_md
from matwidgets.engine.optimize import relax
from matwidgets.engine.properties import bulk_modulus

EPS, SIGMA, CUTOFF = 0.0104, 3.4, 8.5  # argon
KB = 8.617333262e-5


@pytest.fixture
def lj():
    return mw.LennardJones(EPS, SIGMA, CUTOFF)


def fcc_argon(a=5.3, rattle=0.05, seed=0) -> Structure:
    """The 4-atom conventional fcc cell."""
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Ar"], [[0, 0, 0]])
    rng = np.random.default_rng(seed)
    return Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, rattle, (len(s), 3)), coords_are_cartesian=True)


class CountingLJ(mw.LennardJones):
    calls = 0

    def compute(self, batch, **kw):
        CountingLJ.calls += 1
        return super().compute(batch, **kw)


@pytest.mark.parametrize("ensemble", ["nvt", "npt"])
def test_langevin_temperature_on_4_atom_cells(lj, ensemble):
    """Langevin noise moves the centre of mass: 3N degrees of freedom. With 3N - 3 a
    4-atom cell at a 60 K target reads 80 K."""
    # 8 cells x 2000 steps: the mean is known to ~1%, the 3N-3 error would be 33%
    structures = [fcc_argon(seed=k) for k in range(8)]
    temps = []
    for k, frames in enumerate(run_md(structures, lj, ensemble=ensemble, temperature=60, timestep=5.0, steps=2000, every=5, seed=3,
                                      friction=0.02, tau_p=300.0, compressibility=0.3)):
        if k * 5 >= 300:
            temps.extend(f.temperature for f in frames)
    assert abs(np.mean(temps) / 60 - 1) < 0.05, np.mean(temps)


def test_npt_one_model_evaluation_per_step():
    model = CountingLJ(EPS, SIGMA, CUTOFF)
    CountingLJ.calls = 0
    list(run_md(fcc_argon(), model, ensemble="npt", temperature=20, timestep=5.0, steps=50, every=10, seed=0))
    assert CountingLJ.calls == 51  # the initial forces + one per step


@pytest.mark.parametrize("anisotropic", [False, True])
def test_npt_volume_fluctuations_match_bulk_modulus(lj, anisotropic):
    """<dV^2> = kT V / B, with B = V d2E/dV2 of the model at the mean volume. A barostat
    without the right noise (Berendsen) gives the right mean volume and far too small
    fluctuations. Low T keeps anharmonic softening (B changes ~2% per 0.1% of volume) small."""
    t = 5.0
    ref = relax(fcc_argon(rattle=0), lj, fmax=1e-5, steps=2000).structure
    b_guess = bulk_modulus(ref, lj, strain=0.02)["B_GPa"]
    structures = [fcc_argon(a=ref.lattice.a, rattle=0.02, seed=k) for k in range(16)]
    vols = []
    for k, frames in enumerate(run_md(structures, lj, ensemble="npt", temperature=t, timestep=5.0, steps=3000, every=5, seed=1,
                                      friction=0.02, tau_p=200.0, compressibility=1 / b_guess, anisotropic=anisotropic)):
        if k * 5 >= 500:
            vols.append([np.linalg.det(f.cell) for f in frames])
    vols = np.array(vols)  # [n_frames, n_systems]
    var = vols.var(axis=0).mean()  # fluctuations within each system, pooled
    v_mean = vols.mean()

    def energy(v):
        x = ref.copy()
        x.scale_lattice(v)  # one atom per primitive cell: no internal relaxation
        return mw.predict(x, lj)[0].energy

    h = 0.01 * v_mean
    b = v_mean * (energy(v_mean + h) - 2 * energy(v_mean) + energy(v_mean - h)) / h**2  # eV/Å^3
    expected = KB * t * v_mean / b
    assert abs(var / expected - 1) < 0.25, (var, expected, b * 160.21766208)


def test_anisotropic_npt_relaxes_cell_shape(lj):
    """A tetragonally strained fcc cell goes back to cubic only when the cell may change shape."""
    ref = relax(fcc_argon(rattle=0), lj, fmax=1e-5, steps=2000).structure
    a = ref.lattice.a
    start = Structure(Lattice.tetragonal(a * 0.98, a * 1.05), ref.species, ref.frac_coords)
    ratios = {}
    for aniso in (False, True):
        frames = list(run_md(start, lj, ensemble="npt", temperature=5, timestep=5.0, steps=2000, every=10, seed=2,
                             tau_p=200.0, compressibility=0.3, anisotropic=aniso))[100:]
        lengths = np.array([np.linalg.norm(f.cell, axis=1) for f in frames]).mean(0)
        ratios[aniso] = lengths[2] / lengths[0]
    assert abs(ratios[True] - 1) < 0.01, ratios
    assert abs(ratios[False] - 1.05 / 0.98) < 0.01, ratios  # isotropic scaling keeps the shape


def test_nose_hoover_extended_energy_is_conserved(lj):
    """Bound: the extended energy (E_pot + E_kin + thermostat) drifts < 1e-4 eV/atom over
    15 ps at dt = 5 fs, while the physical energy exchanged with the bath is ~100x that."""
    s = fcc_argon()
    s.make_supercell([2, 2, 2])
    frames = list(run_md(s, lj, ensemble="nvt", thermostat="nose-hoover", temperature=50, timestep=5.0, steps=3000, every=10,
                         seed=4, tau=200.0))
    n = len(s)
    h = np.array([f.conserved_energy for f in frames]) / n
    e = np.array([f.total_energy for f in frames]) / n
    assert np.ptp(h) < 1e-4, np.ptp(h)
    assert np.ptp(e) > 30 * np.ptp(h), (np.ptp(e), np.ptp(h))  # the thermostat really worked


def test_stochastic_thermostats_report_no_conserved_energy(lj):
    frame = next(iter(run_md(fcc_argon(), lj, ensemble="nvt", steps=1, seed=0)))
    assert frame.conserved_energy is None
    frames = list(run_md(fcc_argon(), lj, ensemble="nve", temperature=40, timestep=5.0, steps=400, every=10, seed=0))
    h = np.array([f.conserved_energy for f in frames]) / 4
    assert np.ptp(h) < 2e-5 < np.ptp([f.kinetic_energy for f in frames]) / 4  # conserved while energy moves between E_pot and E_kin


def test_molecule_has_no_pressure(lj):
    cluster = Atoms("Ar4", positions=[[0, 0, 0], [3.8, 0, 0], [0, 3.8, 0], [0, 0, 3.8]], pbc=False)
    frames = list(run_md(cluster, lj, ensemble="nve", temperature=10, steps=5, every=5, seed=0))
    assert all(f.pressure is None for f in frames)
    with pytest.raises(ValueError, match="periodic"):
        next(run_md(cluster, lj, ensemble="npt"))
