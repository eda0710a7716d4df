"""Uniform cell scaling to a target pressure, against FIRE's full cell relaxation."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.optimize import scale_to_pressure


@pytest.mark.parametrize("a", [4.6, 6.5])  # compressed (~+GPa) and expanded
def test_scale_to_zero_pressure_matches_relaxed_volume(a):
    lj = mw.LennardJones(0.0104, 3.4, 8.5)
    start = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Ar"], [[0, 0, 0]])
    relaxed = mw.relax(start.copy(), lj, fmax=1e-5, steps=2000).structure  # fcc with one atom per site: no internal dof
    scaled, p = scale_to_pressure(start, lj, tol=0.01)
    assert abs(p) <= 0.01 and abs(mw.predict(scaled, lj)[0].pressure) <= 0.01
    assert scaled.volume == pytest.approx(relaxed.volume, rel=2e-3)
    assert scaled.lattice.angles == pytest.approx(start.lattice.angles)  # uniform: the shape is kept


def test_scale_to_pressure_refuses_molecules():
    from ase import Atoms

    with pytest.raises(ValueError, match="periodic"):
        scale_to_pressure(mw.AtomsBatch.from_structures(Atoms("Ar2", positions=[[0, 0, 0], [3.8, 0, 0]])).to_structures()[0],
                          mw.LennardJones(0.0104, 3.4, 8.5))
