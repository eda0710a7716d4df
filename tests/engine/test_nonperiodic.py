"""Molecules: no stress or pressure, and relaxing the cell means relaxing positions only."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones as AseLJ
from ase.optimize import BFGS

import matwidgets as mw

EPS, SIGMA, CUTOFF = 0.0104, 3.4, 8.5


def cluster() -> Atoms:
    return Atoms("Ar4", positions=[[0, 0, 0], [3.9, 0, 0], [0, 3.7, 0.2], [0.1, 0.3, 3.8]], pbc=False)


def test_molecule_prediction_has_no_stress_and_says_why():
    p = mw.predict(cluster(), mw.LennardJones(EPS, SIGMA, CUTOFF))[0]
    assert p.stress is None and p.pressure is None
    assert "not periodic" in p.extras["note"]


def test_relax_cell_on_a_molecule_relaxes_positions_only():
    lj = mw.LennardJones(EPS, SIGMA, CUTOFF)
    atoms = cluster()
    r = mw.relax(atoms, lj, fmax=1e-4, steps=2000, relax_cell=True)
    assert r.converged and "positions only" in r.note
    ref = atoms.copy()
    ref.calc = AseLJ(epsilon=EPS, sigma=SIGMA, rc=CUTOFF)
    BFGS(ref, logfile=None).run(fmax=1e-5)
    # the relaxed tetrahedron has the same energy as ASE's, and its box was not touched
    assert r.energy == pytest.approx(ref.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(r.structure.lattice.matrix, mw.AtomsBatch.from_structures(atoms).cell[0].numpy(), atol=1e-12)
    assert mw.relax(atoms, lj, fmax=1e-3, relax_cell=False).note is None


def test_mixed_batch_relaxes_only_the_periodic_cell():
    from pymatgen.core import Lattice, Structure

    lj = mw.LennardJones(EPS, SIGMA, CUTOFF)
    fcc = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Ar"], [[0, 0, 0]])
    crystal, molecule = mw.relax([fcc, cluster()], lj, fmax=1e-3, steps=1000)
    assert crystal.note is None and crystal.structure.volume < fcc.volume * 0.97  # 5.6 Å is expanded: it shrinks
    assert "positions only" in molecule.note
