"""finetune: freezing, least-squares references, property heads, replay, stopping, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.data import Dataset
from matwidgets.engine.finetune import count_trainable, finetune, iter_finetune, trainable_groups
from matwidgets.engine.models.base import weights_hash


def rattled(n=10, seed=0, elements=("Na", "Cl")):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        species = [elements[k % len(elements)], elements[(k // 2) % len(elements)]]
        s = Structure(Lattice.cubic(3.0 + 0.2 * rng.random()), species, [[0, 0, 0], [0.5, 0.5, 0.5]])
        if k % 3 == 0:
            s.make_supercell([2, 1, 1])
        s.perturb(0.05)
        out.append(s)
    return out


def lj_dataset(structs, mu=(-2.0, -3.0)):
    """Energies and forces from Lennard-Jones plus a per-element shift (eV/atom)."""
    lj = mw.load_model("lj", epsilon=0.02, sigma=2.4, cutoff=5.0)
    preds = mw.predict(structs, lj)
    shift = {"Na": mu[0], "Cl": mu[1]}
    e = [p.energy + sum(shift[site.specie.symbol] for site in s) for p, s in zip(preds, structs)]
    return Dataset(structs, energy=e, forces=[p.forces for p in preds])


@pytest.fixture(scope="module")
def schnet():
    torch.manual_seed(0)
    return mw.SchNet(cutoff=4.0, n_features=16, n_interactions=2, n_rbf=8)


def changed(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return {k for k in sa if not torch.equal(sa[k], sb[k])}


def test_presets_select_groups():
    groups = ["embedding", "interaction.0", "interaction.1", "interaction.2", "readout", "atom_refs"]
    assert trainable_groups(groups, "backbone") == ["readout"]
    assert trainable_groups(groups, "readout") == ["embedding", "interaction.0", "interaction.1", "interaction.2"]
    assert trainable_groups(groups, "last-k") == ["interaction.2", "readout"]
    assert trainable_groups(groups, "last-2") == ["interaction.1", "interaction.2", "readout"]
    assert trainable_groups(groups, "none") == groups
    assert trainable_groups(groups, ["embedding", "atom_refs"]) == ["interaction.0", "interaction.1", "interaction.2", "readout"]
    with pytest.raises(ValueError, match="unknown parameter groups"):
        trainable_groups(groups, ["decoder"])
    with pytest.raises(ValueError, match="freeze='top'"):
        trainable_groups(groups, "top")


def test_backbone_frozen_changes_only_readout_and_never_the_original(schnet):
    ds = lj_dataset(rattled())
    before = weights_hash(schnet)
    res = finetune(schnet, ds, freeze="backbone", epochs=2, batch_size=4, val=None, seed=0, refit_refs=False)
    assert weights_hash(schnet) == before  # the model given is untouched
    diff = changed(schnet, res.model)
    assert diff, "fine-tuning changed no weight"
    assert all(k.startswith("head.") or k == "scale" for k in diff), diff
    assert res.metrics["n_trainable"] == sum(p.numel() for p in [*schnet.head.parameters(), schnet.scale])
    assert count_trainable(schnet, "backbone") == res.metrics["n_trainable"]


def test_refitted_atom_refs_equal_numpy_lstsq(schnet):
    structs = rattled(12, seed=3)
    ds = lj_dataset(structs)
    base = np.array([p.energy for p in mw.predict(structs, schnet)])
    counts = np.array([[sum(site.specie.symbol == el for site in s) for el in ("Na", "Cl")] for s in structs])
    delta, *_ = np.linalg.lstsq(counts, ds.labels["energy"] - base, rcond=None)  # Na (Z=11), Cl (Z=17)
    res = finetune(schnet, ds, freeze="backbone", epochs=1, batch_size=6, val=None, seed=0)
    got = res.model.atom_refs.detach().double().numpy()
    old = schnet.atom_refs.detach().double().numpy()
    assert np.allclose(got[[11, 17]] - old[[11, 17]], delta, atol=2e-5)
    assert np.allclose([res.metrics["atom_ref_shifts"][z] for z in (11, 17)], delta, atol=2e-5)
    assert np.array_equal(got[[1, 8, 26]], old[[1, 8, 26]])  # elements absent from the data keep theirs


def test_linear_property_is_learned_exactly(schnet):
    """Atoms farther apart than the cutoff: the pooled features are the composition average of
    one vector per element, so a property linear in the atomic fractions is exactly learnable."""
    rng = np.random.default_rng(1)
    coef = {"Li": 0.7, "O": -1.3, "Fe": 2.1}

    def sparse(k):
        species = list(rng.choice(list(coef), size=int(rng.integers(1, 4))))
        frac = [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0]][: len(species)]
        return Structure(Lattice.cubic(10.0), species, frac)  # 5 Å apart > cutoff 4 Å

    structs = [sparse(k) for k in range(16)]
    y = [np.mean([coef[site.specie.symbol] for site in s]) + 0.25 for s in structs]
    train, test = Dataset(structs[:10], y_lin=y[:10]), Dataset(structs[10:], y_lin=y[10:])
    res = finetune(schnet, train, target="y_lin", freeze="backbone", epochs=1, lr=1e-5, val=test, seed=0)
    from matwidgets.engine.atoms import AtomsBatch

    pred = res.model.compute(AtomsBatch.from_structures(structs[10:]), forces=False, stress=False)["y_lin"].numpy()
    assert np.allclose(pred, y[10:], atol=1e-4)
    assert res.metrics["val_mae"] < 1e-4


def test_energy_and_force_finetune_saves_and_loads(schnet, tmp_path):
    ds = lj_dataset(rattled(10, seed=5))
    res = finetune(schnet, ds, freeze="none", epochs=3, lr=3e-3, batch_size=4, val=0.2, seed=2, replay="base")
    assert len(res.history) == 3 and all(s.forgetting is not None and s.forgetting >= 0 for s in res.history)
    assert res.metrics["val_mae"] <= res.metrics["val_mae_init"] <= res.metrics["val_mae_base"]
    path = tmp_path / "ft.pt"
    res.model.save(path)
    loaded = mw.load_model(path, device="cpu")
    a = mw.predict(ds.structures[:3], res.model)
    b = mw.predict(ds.structures[:3], loaded)
    assert np.allclose([p.energy for p in a], [p.energy for p in b])
    assert "finetuned:energy" in loaded.tag


def test_stopped_run_keeps_the_best_model(schnet):
    ds = lj_dataset(rattled(10, seed=7))
    train, val = ds.split(0.3, seed=0)
    res = finetune(schnet, train, freeze="none", epochs=20, lr=2e-2, batch_size=2, val=val, seed=0,
                   callback=lambda step: step.epoch == 3)
    assert res.metrics["stopped"] and len(res.history) == 3
    e = np.array([p.energy for p in mw.predict(val.structures, res.model)])
    mae = np.mean(np.abs(e - val.labels["energy"]) / val.natoms)  # recomputed independently of the loop
    assert np.isclose(mae, res.metrics["val_mae"], rtol=1e-4, atol=1e-6)
    assert mae <= min(s.val_mae for s in res.history) + 1e-6


def test_property_head_saves_and_loads(schnet, tmp_path):
    structs = rattled(8, seed=9)
    ds = Dataset(structs, band_gap=np.linspace(0.0, 2.0, 8))
    res = finetune(schnet, ds, target="band_gap", freeze="last-k", epochs=1, val=None, seed=0)
    res.model.save(tmp_path / "gap.pt")
    loaded = mw.load_model(tmp_path / "gap.pt", device="cpu")
    from matwidgets.engine.atoms import AtomsBatch

    batch = AtomsBatch.from_structures(structs)
    assert torch.allclose(res.model.compute(batch)["band_gap"], loaded.compute(batch)["band_gap"])
    assert torch.allclose(res.model.compute(batch)["energy"], loaded.compute(batch)["energy"])


def test_bad_requests_get_clear_errors(schnet):
    structs = rattled(6)
    ds = lj_dataset(structs)
    with pytest.raises(ValueError, match="'band_gap' is not a label"):
        next(iter_finetune(schnet, ds, target="band_gap"))
    with pytest.raises(ValueError, match="cannot produce pooled features"):
        next(iter_finetune(mw.load_model("lj", device="cpu"), Dataset(structs, band_gap=np.ones(6)), target="band_gap"))
    with pytest.raises(ValueError, match="formation_energy"):
        next(iter_finetune(schnet, ds, target="formation_energy"))
    lj = mw.load_model("lj", epsilon=0.02, sigma=2.4, cutoff=5.0, device="cpu")
    bohr = Dataset(structs, energy=ds.labels["energy"], forces=[f * 0.529177 for f in ds.labels["forces"]])
    with pytest.raises(ValueError, match="eV/Bohr"):
        next(iter_finetune(lj, bohr))
    with pytest.raises(TypeError, match="Dataset"):
        next(iter_finetune(schnet, structs))


def test_formation_energy_target_uses_given_references(schnet):
    structs = rattled(8, seed=11)
    mu = {"Na": -1.3, "Cl": -1.8}
    hf = np.linspace(-0.5, -0.1, 8)
    ds = Dataset(structs, formation_energy=hf)
    res = finetune(schnet, ds, target="formation_energy", references=mu, epochs=1, val=None, seed=0)
    e = np.array([p.energy for p in mw.predict(structs, res.model)])
    n = np.array([len(s) for s in structs])
    pred_hf = (e - np.array([sum(mu[site.specie.symbol] for site in s) for s in structs])) / n
    # after the least-squares refit alone the formation energies are right on average
    assert abs(np.mean(pred_hf - hf)) < 0.05


def test_tiny_chgnet_readout_only():
    chgnet = mw.load_model("chgnet", device="cpu")
    structs = [Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
               for a in (5.5, 5.64)]
    for s in structs:
        s.perturb(0.05)
    preds = mw.predict(structs, chgnet)
    ds = Dataset(structs, energy=[p.energy + 0.05 * len(s) for p, s in zip(preds, structs)],
                 forces=[p.forces * 1.1 for p in preds])
    before = weights_hash(chgnet)
    res = finetune(chgnet, ds, freeze="backbone", epochs=1, batch_size=2, val=None, seed=0, refit_refs=False)
    assert weights_hash(chgnet) == before
    diff = changed(chgnet, res.model)
    readout = {id(p) for p in chgnet.parameter_groups()["readout"]}
    names = {k for k, p in chgnet.named_parameters() if id(p) in readout}
    assert diff and diff <= names, diff - names


def test_auto_refit_is_skipped_when_underdetermined(schnet):
    ds = lj_dataset(rattled(3, seed=13))  # 3 structures, 2 elements: fewer than 2 per element
    res = finetune(schnet, ds, freeze="backbone", epochs=1, val=None, seed=0)
    assert res.metrics["refit"].startswith("skipped") and res.metrics["atom_ref_shifts"] == {}
    assert torch.equal(res.model.atom_refs, schnet.atom_refs)
    forced = finetune(schnet, ds, freeze="backbone", epochs=1, val=None, seed=0, refit_refs=True)
    assert forced.metrics["refit"] == "done" and not torch.equal(forced.model.atom_refs, schnet.atom_refs)
