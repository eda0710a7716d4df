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


def test_finetune_reports_epochs_on_stderr(capsys):
    import torch

    from matwidgets.engine.data import Dataset

    torch.manual_seed(0)
    schnet = mw.SchNet(cutoff=4.0, n_features=8, n_interactions=1, n_rbf=6)
    structs = [Structure(Lattice.cubic(3.0 + 0.1 * k), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]) for k in range(4)]
    ds = Dataset(structs, energy=[-6.0 - 0.1 * k for k in range(4)])
    kw = dict(freeze="none", epochs=3, lr=1e-2, batch_size=2, val=None, seed=0)
    quiet = mw.finetune(schnet, ds, **kw)
    assert capsys.readouterr().err == ""
    loud = mw.finetune(schnet, ds, progress=True, **kw)
    err = capsys.readouterr().err
    assert "fine-tuning" in err and "3/3" in err and "loss" in err
    assert [s.train_loss for s in loud.history] == [s.train_loss for s in quiet.history]  # same seed, same run


def test_relax_reports_converged_structures_on_stderr(capsys):
    lj = mw.LennardJones(epsilon=0.0104, sigma=3.4, cutoff=6.0)
    rng = np.random.default_rng(0)
    fcc = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    argon = [Structure(Lattice.cubic(a), ["Ar"] * 4, np.array(fcc) + rng.normal(0, 0.01, (4, 3))) for a in (5.3, 5.6)]
    quiet = mw.relax(argon, lj, fmax=0.01)
    assert capsys.readouterr().err == ""
    loud = mw.relax(argon, lj, fmax=0.01, progress=True)
    err = capsys.readouterr().err
    assert "relaxed" in err and "2/2" in err and "max force" in err
    assert all(r.converged for r in loud)
    assert [r.energy for r in loud] == [r.energy for r in quiet]
    assert [r.steps for r in loud] == [r.steps for r in quiet]
