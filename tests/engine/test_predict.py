"""Batched prediction equals one-at-a-time prediction."""

from __future__ import annotations

import numpy as np

import matwidgets as mw
from matwidgets.engine import predict as predict_module
from matwidgets.engine.predict import plan_batches
from tests.conftest import random_cell


def test_plan_batches_respects_budget_and_order():
    plan = plan_batches([10, 20, 30, 100, 5], max_atoms=50)
    assert plan == [[0, 1], [2], [3], [4]]
    assert sum(plan, []) == list(range(5))


def test_batched_equals_single(si, nacl, monkeypatch):
    rng = np.random.default_rng(1)
    structures = [si, nacl] + [random_cell(rng, n, volume_per_atom=20.0) for n in (1, 3, 7)]
    model = mw.load_model("chgnet", device="cpu")
    monkeypatch.setitem(predict_module.ATOMS_PER_BATCH, "cpu", 10_000)
    batched = mw.predict(structures, model)
    single = [mw.predict(s, model)[0] for s in structures]
    for b, s in zip(batched, single):
        assert abs(b.energy - s.energy) < 1e-4
        np.testing.assert_allclose(b.forces, s.forces, atol=1e-4)
        np.testing.assert_allclose(b.stress, s.stress, atol=1e-3)


def test_lj_batched_equals_single_exactly(argon_fcc):
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    s2 = argon_fcc.copy()
    s2.make_supercell([1, 1, 2])
    b = mw.predict([argon_fcc, s2], lj, batch_size=2)
    one = mw.predict(s2, lj)[0]
    assert abs(b[1].energy - one.energy) < 1e-10
    assert b[0].pressure == -np.trace(b[0].stress) / 3
