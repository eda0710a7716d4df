"""FineTuner, Python side: a run fills the curves and the parity plot, Stop keeps the best, Save and Use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.models.base import weights_hash


def dataset(n=10):
    rng = np.random.default_rng(0)
    structs = []
    for k in range(n):
        s = Structure(Lattice.cubic(3.0 + 0.2 * rng.random()), ["Na", "Cl" if k % 2 else "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        s.perturb(0.05)
        structs.append(s)
    lj = mw.LennardJones(0.02, 2.4, 5.0)
    preds = mw.predict(structs, lj)
    return mw.Dataset(structs, energy=[p.energy - 3.0 * len(s) for p, s in zip(preds, structs)], forces=[p.forces for p in preds])


@pytest.fixture
def schnet():
    torch.manual_seed(0)
    return mw.SchNet(cutoff=4.0, n_features=16, n_interactions=2, n_rbf=8)


def test_run_fills_curves_and_parity_then_save_and_use(schnet, tmp_path):
    ds = dataset()
    tuner = mw.FineTuner(ds, schnet, freeze="none", epochs=3, batch_size=4, val=0.3, seed=1)
    assert "10</b> structures" in tuner.summary.value and "chloride" in tuner.summary.value
    n_all = sum(p.numel() for p in schnet.parameters())
    assert f"<b>{n_all:,}</b>" in tuner.trainable.value
    tuner.freeze.value = "backbone"  # the count follows the choice
    assert f"<b>{sum(p.numel() for p in [*schnet.head.parameters(), schnet.scale]):,}</b>" in tuner.trainable.value
    before = weights_hash(schnet)
    job = tuner.start()
    assert job.wait(60) and job.status == "done", tuner.status.value
    assert weights_hash(schnet) == before
    assert list(tuner.curves.data[0].x) == [1, 2, 3] and np.all(np.isfinite(tuner.curves.data[1].y))
    # parity: the best model's energies per atom on the loop's validation split (recomputed here)
    val = ds.split(0.3, seed=1)[1]
    e = np.array([p.energy for p in mw.predict(val.structures, tuner.result.model)]) / val.natoms
    assert np.allclose(np.sort(tuner.parity.data[0].y), np.sort(e), atol=1e-6)
    assert np.allclose(np.sort(tuner.parity.data[0].x), np.sort(val.labels["energy"] / val.natoms))
    assert "NaCl" in "".join(tuner.parity.data[0].text) or "Na" in "".join(tuner.parity.data[0].text)
    path = tuner.save(tmp_path / "ft.pt")
    assert mw.load_model(path, device="cpu").model_id == tuner.result.model.model_id
    got = []
    tuner.on_use(got.append)
    assert tuner.use() is tuner.result.model and got == [tuner.result.model]


def test_stop_keeps_the_best_model(schnet):
    tuner = mw.FineTuner(dataset(), schnet, freeze="none", epochs=10_000, batch_size=2, val=0.3, seed=0)
    job = tuner.start()
    while len(tuner.history) < 2:  # deliveries run on the loop, as in a kernel
        job.loop.run_until_complete(__import__("asyncio").sleep(0.02))
    tuner.stop()
    assert job.wait(60) and job.status == "cancelled"
    assert tuner.result is not None and tuner.result.metrics["stopped"]
    assert tuner.result.metrics["val_mae"] <= min(s.val_mae for s in tuner.history) + 1e-9
    assert not tuner.save_button.disabled


def test_bad_arguments_are_refused(schnet):
    ds = dataset(4)
    with pytest.raises(ValueError, match="'band_gap' is not a label"):
        mw.FineTuner(ds, schnet, target="band_gap")
    with pytest.raises(TypeError, match="unexpected keyword"):
        mw.FineTuner(ds, schnet, force_wieght=2.0)
    with pytest.raises(TypeError, match="Dataset"):
        mw.FineTuner(ds.structures, schnet)
    tuner = mw.FineTuner(ds, schnet)
    tuner.save_button.click()  # no model yet: an error line, not an exception
    assert "nothing to save" in tuner.status.value
