"""Committees against their members' own predictions (mean and spread computed here)."""

import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.committee import Committee
from matwidgets.errors import InvalidStructureError

warnings.filterwarnings("ignore", module="sevenn")
NAMES = ["chgnet", "chgnet-0.2.0", "sevennet-0"]


@pytest.fixture(scope="module")
def structures():
    si = bulk("Si", "diamond", 5.43)
    si.rattle(0.05, seed=4)
    lio = bulk("Li2O", "fluorite", 4.6)  # 3 atoms
    lio.rattle(0.05, seed=5)
    return [si, lio]


@pytest.fixture(scope="module")
def committee():
    return mw.load_model(NAMES, device="cpu")


def test_members_are_the_shared_cached_models(committee):
    assert isinstance(committee, Committee)
    for member, name in zip(committee.members, NAMES):
        assert member is mw.load_model(name, device="cpu")


def test_mean_and_spread_equal_the_members_predictions(committee, structures):
    batch = AtomsBatch.from_structures(structures)
    res = committee.compute(batch)
    counts = batch.counts.double()
    members = [m.compute(batch) for m in committee.members]
    e = np.stack([o["energy"].double().numpy() / counts.numpy() for o in members])  # [3, n_systems] eV/atom
    f = np.stack([o["forces"].double().numpy() for o in members])  # [3, n_atoms, 3]
    s = np.stack([o["stress"].double().numpy() for o in members])
    np.testing.assert_allclose(res["energy"].numpy() / counts.numpy(), e.mean(0), atol=1e-9)
    np.testing.assert_allclose(res["forces"].numpy(), f.mean(0), atol=1e-9)
    np.testing.assert_allclose(res["stress"].numpy(), s.mean(0), atol=1e-8)
    np.testing.assert_allclose(res["energy_std"].numpy(), e.std(0), atol=1e-9)  # numpy's std: ddof=0
    rms = np.sqrt(np.mean(np.sum((f - f.mean(0)) ** 2, axis=-1), axis=0))  # [n_atoms]
    np.testing.assert_allclose(res["forces_std"].numpy(), rms, atol=1e-9)
    assert (res["energy_std"] > 0).all() and (res["forces_std"] > 0).all()  # three different models disagree


def test_predict_puts_spread_in_extras(committee, structures):
    preds = mw.predict(structures, committee)
    direct = committee.compute(AtomsBatch.from_structures(structures))
    for k, p in enumerate(preds):
        assert isinstance(p.extras["energy_std"], float)
        assert p.extras["energy_std"] == pytest.approx(float(direct["energy_std"][k]), abs=1e-9)
        assert p.extras["forces_std"].shape == (len(structures[k]),)
    plain = mw.predict(structures[:1], committee.members[2])
    assert "energy_std" not in plain[0].extras


def test_common_range_of_cutoffs_and_elements(structures):
    small = mw.SchNet(cutoff=3.0, n_features=8, n_rbf=4, max_z=20).double()
    lj = mw.LennardJones(0.01, 2.0, 6.5)
    c = Committee([small, lj])
    assert c.cutoff == 6.5 and c.max_z == 20
    res = c.compute(AtomsBatch.from_structures(structures[1]))  # Li, O: inside both
    a = small.compute(AtomsBatch.from_structures(structures[1]))
    b = lj.compute(AtomsBatch.from_structures(structures[1]))
    torch.testing.assert_close(res["energy"], (a["energy"] + b["energy"]) / 2)
    fe = bulk("Fe", "bcc", 2.87)  # Z=26 > the SchNet's max_z
    with pytest.raises(InvalidStructureError, match="Fe"):
        c.compute(AtomsBatch.from_structures(fe))


def test_committee_saves_members_and_loads(tmp_path, structures):
    torch.manual_seed(0)
    c = Committee([mw.SchNet(cutoff=4.0, n_features=8, n_rbf=4).double(), mw.Morse(0.2, 2.5, 4.0)])
    c.save(tmp_path / "c.pt")
    loaded = mw.load_model(tmp_path / "c.pt", device="cpu")
    assert isinstance(loaded, Committee) and [m.family for m in loaded.members] == ["schnet", "morse"]
    batch = AtomsBatch.from_structures(structures)
    a, b = c.compute(batch), loaded.compute(batch)
    for key in ("energy", "forces", "energy_std", "forces_std"):
        assert torch.equal(a[key], b[key]), key
