"""Few-shot adaptation (Reptile, FOMAML) and distillation, checked against hand-computed updates,
least-squares optima and an analytic teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.data import Dataset
from matwidgets.engine.finetune import _loss, composition_matrix
from matwidgets.engine.meta import adapt, meta_train

ALL_BUT_REFS = ["embedding", "interaction.0", "interaction.1", "readout"]  # only atom_refs trains


def structures(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        species = [["Na", "Cl"], ["Na", "Na"], ["Cl", "Cl"], ["Na", "Cl"]][k % 4] + (["Na"] if k % 3 == 0 else [])
        coords = [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.5, 0.0]][: len(species)]
        s = Structure(Lattice.cubic(3.4 + 0.3 * rng.random()), species, coords)
        s.perturb(0.05)
        out.append(s)
    return out


@pytest.fixture(scope="module")
def schnet():
    torch.manual_seed(0)
    return mw.SchNet(cutoff=4.0, n_features=8, n_interactions=2, n_rbf=6)


def family(model, seed, shift):
    """A family of materials: the base model's energies plus per-element shifts (eV/atom)."""
    ss = structures(8, seed)
    base = [p.energy for p in mw.predict(ss, model)]
    e = [b + sum(shift[site.specie.symbol] for site in s) for b, s in zip(base, ss)]
    return Dataset(ss, energy=e, check_units=False)


def flat(model, names=("atom_refs",)):
    groups = model.parameter_groups()
    return torch.cat([p.detach().reshape(-1) for g in names for p in groups[g]])


def test_reptile_step_equals_the_update_rule(schnet):
    task = family(schnet, 1, {"Na": -1.0, "Cl": -2.0})
    batch = next(iter(task.loader(len(task))))
    lr, eps = 0.3, 0.5
    # by hand: two SGD steps from theta, then theta + eps * (theta'' - theta)
    work = mw.SchNet.from_config(schnet.get_config())
    work.load_state_dict(schnet.state_dict())
    refs = work.atom_refs
    theta = refs.detach().clone()
    for _ in range(2):
        (g,) = torch.autograd.grad(_loss(work, batch, "energy", None, 1.0, 0.0, 0.0), [refs])
        with torch.no_grad():
            refs -= lr * g
    expected = theta + eps * (refs.detach() - theta)
    got = meta_train(schnet, [task], "reptile", meta_steps=1, k=len(task), inner_steps=2, inner_lr=lr, meta_lr=eps,
                     freeze=ALL_BUT_REFS, force_weight=0.0, seed=0)
    torch.testing.assert_close(got.atom_refs.detach(), expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(expected, theta)
    torch.testing.assert_close(flat(got, ALL_BUT_REFS), flat(schnet, ALL_BUT_REFS), rtol=0, atol=0)  # frozen: untouched
    torch.testing.assert_close(schnet.atom_refs.detach(), theta, rtol=0, atol=0)  # the model given is never modified


def test_fomaml_step_equals_the_update_rule(schnet):
    # every structure identical, so the random support/query split cannot change the answer
    s = structures(1, 3)[0]
    e = mw.predict(s, schnet)[0].energy - 4.0
    task = Dataset([s] * 4, energy=[e] * 4, check_units=False)
    batch = next(iter(task.subset([0, 1]).loader(2)))
    lr, beta = 0.2, 0.7
    work = mw.SchNet.from_config(schnet.get_config())
    work.load_state_dict(schnet.state_dict())
    refs = work.atom_refs
    theta = refs.detach().clone()
    (g,) = torch.autograd.grad(_loss(work, batch, "energy", None, 1.0, 0.0, 0.0), [refs])
    with torch.no_grad():
        refs -= lr * g
    (g_query,) = torch.autograd.grad(_loss(work, batch, "energy", None, 1.0, 0.0, 0.0), [refs])  # at theta'
    expected = theta - beta * g_query
    got = meta_train(schnet, [task], "fomaml", meta_steps=1, k=2, inner_steps=1, inner_lr=lr, meta_lr=beta,
                     freeze=ALL_BUT_REFS, force_weight=0.0, seed=0)
    torch.testing.assert_close(got.atom_refs.detach(), expected, rtol=1e-5, atol=1e-6)


def test_reptile_learns_what_families_share_and_adapts_faster(schnet):
    """Families differ by small per-element shifts around a common one. Reptile's fixed point for
    these quadratic tasks is the mean of the per-task optima (each computed here by numpy least
    squares), and adapting from it to an unseen family beats adapting the raw model."""
    rng = np.random.default_rng(0)
    shifts = [{"Na": -1.5 + d1, "Cl": -2.5 + d2} for d1, d2 in rng.normal(0, 0.05, size=(7, 2))]
    tasks = [family(schnet, 10 + t, sh) for t, sh in enumerate(shifts)]
    train_tasks, new = tasks[:6], tasks[6]
    optima = []
    for task in train_tasks:
        base = np.array([p.energy for p in mw.predict(task.structures, schnet)])
        counts, zs = composition_matrix(AtomsBatch.from_structures(task.structures))
        optimum, *_ = np.linalg.lstsq(counts, task.labels["energy"] - base, rcond=None)
        optima.append(dict(zip(zs, optimum)))
    mean_optimum = {z: np.mean([o[z] for o in optima]) for z in optima[0]}
    init = meta_train(schnet, train_tasks, "reptile", meta_steps=80, k=4, inner_steps=5, inner_lr=0.5, meta_lr=0.5,
                      freeze=ALL_BUT_REFS, force_weight=0.0, seed=0)
    learned = {z: float(init.atom_refs[z] - schnet.atom_refs[z]) for z in mean_optimum}
    for z in mean_optimum:
        assert abs(learned[z] - mean_optimum[z]) < 0.1, (z, learned[z], mean_optimum[z])

    support, query = new.subset([0, 1, 2]), new.subset(range(3, 8))

    def mae(model):
        e = np.array([p.energy for p in mw.predict(query.structures, model)])
        return np.mean(np.abs(e - query.labels["energy"]) / query.natoms)

    kw = dict(steps=3, lr=0.5, freeze=ALL_BUT_REFS, force_weight=0.0)
    from_meta, from_raw = mae(adapt(init, support, **kw)), mae(adapt(schnet, support, **kw))
    assert from_meta < 0.5 * from_raw, (from_meta, from_raw)


def test_bad_requests_get_clear_errors(schnet):
    task = family(schnet, 2, {"Na": 0.0, "Cl": 0.0})
    with pytest.raises(ValueError, match="unknown method"):
        meta_train(schnet, [task], "maml++")
    with pytest.raises(ValueError, match="needs at least 16"):
        meta_train(schnet, [task], "fomaml", k=8)
    with pytest.raises(ValueError, match="at least one task"):
        meta_train(schnet, [])
    with pytest.raises(ValueError, match="non-empty"):
        adapt(schnet, [], steps=1)
    with pytest.raises(ValueError, match="band_gap"):
        adapt(schnet, task, target="band_gap")


def test_distilled_student_reproduces_an_analytic_teacher():
    """Teacher: Lennard-Jones argon (analytic). The student's held-out force error, recomputed here
    with predict on the frames it never saw, matches the reported one and falls well below the
    untrained student's; the student runs MD like any model."""
    from matwidgets.engine.distill import distill

    lj = mw.LennardJones(epsilon=0.0104, sigma=3.4, cutoff=6.0)
    argon = Structure(Lattice.cubic(5.3), ["Ar"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    torch.manual_seed(0)
    student = mw.SchNet(cutoff=6.0, n_features=16, n_interactions=2, n_rbf=12)
    res = distill(lj, [argon], student=student, temperatures=(60.0, 120.0), strains=(-0.01, 0.01), md_steps=60, every=5,
                  epochs=25, lr=5e-3, batch_size=8, seed=0)
    held = res.held_out
    f = np.concatenate([p.forces for p in mw.predict(held.structures, res.model)])
    f_teacher = np.concatenate([p.forces for p in mw.predict(held.structures, lj)])
    mae = np.mean(np.abs(f - f_teacher))
    assert np.isclose(mae, res.metrics["force_mae"], rtol=1e-4)
    assert mae < 0.5 * res.metrics["force_mae_before"], res.metrics
    assert res.metrics["n_frames"] == res.metrics["n_held_out"] == 2 * 2 * 12  # temperatures x strains x frames
    assert res.metrics["n_train"] + res.metrics["n_val"] == res.metrics["n_frames"]
    frames = list(mw.run_md(argon, res.model, "nvt", temperature=60.0, steps=10, every=5, seed=0))
    assert len(frames) == 3 and np.isfinite(frames[-1].energy)


def test_trainable_parameters_the_loss_never_reaches_are_left_alone():
    # CHGNet's readout group holds its magmom head, which an energy loss never uses
    class WithUnused(mw.SchNet):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.unused = torch.nn.Parameter(torch.ones(3, dtype=self.atom_refs.dtype))

        def parameter_groups(self):
            groups = super().parameter_groups()
            groups["readout"] = [*groups["readout"], self.unused]
            return groups

    torch.manual_seed(0)
    model = WithUnused(cutoff=4.0, n_features=8, n_interactions=2, n_rbf=6)
    task = family(model, 3, {"Na": -0.5, "Cl": 0.5})
    for method in ("reptile", "fomaml"):
        init = meta_train(model, [task], method, meta_steps=2, k=4, inner_steps=2, inner_lr=0.1, force_weight=0.0, seed=0)
        assert torch.equal(init.unused.detach(), model.unused.detach())
        assert not torch.equal(flat(init, ["readout"]), flat(model, ["readout"]))  # the head did move
    tuned = adapt(model, task, steps=2, lr=0.1, force_weight=0.0)
    assert torch.equal(tuned.unused.detach(), torch.ones(3, dtype=tuned.unused.dtype))
    assert not torch.equal(flat(tuned, ["readout"]), flat(model, ["readout"]))
