"""Two jobs sharing one model must not affect each other (widgets run engine work in threads)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch


def test_isolated_atom_permission_is_per_call_under_concurrency():
    model = mw.load_model("chgnet", device="cpu")  # the shared, cached instance
    lonely = AtomsBatch.from_structures(Structure(Lattice.cubic(14.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    reference = mw.predict(nacl, model)[0].energy
    errors, refused, energies = [], [], []
    start = threading.Barrier(3)

    def explainer():  # SHAP's remove masker: isolated atoms allowed, for this call only
        start.wait()
        for _ in range(30):
            out = model.compute(lonely, forces=False, stress=False, allow_isolated=True)
            if not np.isfinite(float(out["energy"][0])):
                errors.append("non-finite isolated energy")

    def strict():  # an ordinary prediction must keep refusing isolated atoms meanwhile
        start.wait()
        for _ in range(30):
            try:
                model.compute(lonely, forces=False, stress=False)
                errors.append("isolated atoms accepted outside the call that allowed them")
            except mw.InvalidStructureError as err:
                refused.append(str(err))

    def predictor():
        start.wait()
        for _ in range(10):
            energies.append(mw.predict(nacl, model)[0].energy)

    threads = [threading.Thread(target=f) for f in (explainer, strict, predictor)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(refused) == 30 and "no neighbour" in refused[0]
    assert energies == pytest.approx([reference] * 10, abs=1e-5)
