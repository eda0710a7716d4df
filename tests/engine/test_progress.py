"""progress=True: long engine calls draw a tqdm bar (text on stderr outside Jupyter), results unchanged."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

import matwidgets as mw


def test_hull_for_and_explain_report_progress_on_stderr(capsys):
    lj = mw.LennardJones(epsilon=0.0104, sigma=3.4, cutoff=6.0)
    argon = [Structure(Lattice.cubic(a), ["Ar"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) for a in (5.3, 5.5)]
    quiet = mw.hull_for(argon, lj, store=None)
    assert capsys.readouterr().err == ""
    loud = mw.hull_for(argon, lj, store=None, progress=True)
    err = capsys.readouterr().err
    n = len(quiet.entries) + len(quiet.failed)
    assert "hull candidates" in err and f"{n}/{n}" in err
    assert loud.to_dataframe().e_above_hull.tolist() == quiet.to_dataframe().e_above_hull.tolist()

    s = Structure(Lattice.cubic(3.2), ["Ar", "Ar"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    a = mw.explain(s, lj, target="energy", progress=True)
    err = capsys.readouterr().err
    assert "SHAP coalitions" in err and "100/100" in err
    np.testing.assert_allclose(a.values, mw.explain(s, lj, target="energy").values)
