"""The Verlet list against rebuilding the neighbour list at every step (``skin=None``):
MD (NVE, Langevin, NPT) and FIRE with the cell must follow the same trajectory to
1e-10 Å while rebuilding far less often."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets.engine.dynamics as dynamics
import matwidgets.engine.optimize as optimize
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.pair import LennardJones, Morse
from matwidgets.engine.neighbors import VerletList, neighbor_list

STEPS = 200
SKIN = 0.1  # Å


def argon(seed: int = 0) -> Structure:
    """32-atom fcc argon (2x2x2 conventional cells), rattled by a seeded 0.05 Å."""
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    frac = np.concatenate([(basis + np.array(c)) / 2 for c in np.ndindex(2, 2, 2)])
    cart = frac * 10.6 + np.random.default_rng(seed).normal(0, 0.05, frac.shape)
    return Structure(Lattice.cubic(10.6), ["Ar"] * 32, cart, coords_are_cartesian=True)


def lj() -> LennardJones:
    return LennardJones(epsilon=0.0104, sigma=3.4, cutoff=6.5).double()


@pytest.fixture
def builds(monkeypatch):
    """The VerletLists run_md / relax make, so tests can count their builds."""
    made: list[VerletList] = []

    def spy(model, skin=0.5):
        v = real(model, skin)
        if v is not None:
            made.append(v)
        return v

    real = dynamics.verlet_list_for
    monkeypatch.setattr(dynamics, "verlet_list_for", spy)
    monkeypatch.setattr(optimize, "verlet_list_for", spy)
    return made


def trajectory(skin, **kw) -> list[np.ndarray]:
    return [f.positions for f in dynamics.run_md(argon(), lj(), steps=STEPS, every=1, timestep=2.0, seed=7, skin=skin, **kw)]


@pytest.mark.parametrize("kw", [dict(ensemble="nve", temperature=60.0),
                                dict(ensemble="nvt", temperature=60.0),
                                dict(ensemble="npt", temperature=60.0, tau_p=200.0, compressibility=0.3, pressure=0.5)],
                         ids=["nve", "langevin", "npt"])
def test_md_with_verlet_list_equals_rebuilding_every_step(kw, builds):
    ref = trajectory(None, **kw)
    assert not builds
    # a small skin, so rebuilds matter: the fcc third shell (6.49 Å) sits at the cutoff and
    # never rebuilding this list moves atoms by 4e-3 to 7e-3 Å over the run
    ours = trajectory(SKIN, **kw)
    assert len(ours) == len(ref) == STEPS + 1
    worst = max(float(np.abs(a - b).max()) for a, b in zip(ours, ref))
    assert worst < 1e-10
    moved = float(np.abs(ref[-1] - ref[0]).max())
    assert moved > SKIN  # atoms moved more than skin/2: the list had to be rebuilt
    (vlist,) = builds
    assert vlist.n_calls == STEPS + 1
    assert 5 <= vlist.n_builds <= STEPS // 4  # measured 17 (NVE), 27 (Langevin), 30 (NPT)


def test_npt_cell_moves_and_verlet_list_follows(builds):
    frames = list(dynamics.run_md(argon(), lj(), ensemble="npt", temperature=60.0, steps=60, every=60, timestep=2.0, seed=3,
                                  tau_p=100.0, compressibility=0.3, pressure=2.0))
    assert abs(np.linalg.det(frames[-1].cell) / np.linalg.det(frames[0].cell) - 1) > 1e-3  # the barostat did act
    assert builds[0].n_builds >= 2


def test_fire_with_cell_equals_rebuilding_every_step(builds):
    s = argon()
    s.apply_strain(0.04)  # stressed, so the cell relaxes too
    s.perturb(0.15)
    ref = optimize.relax(s, lj(), fmax=1e-3, steps=300, relax_cell=True, skin=None)
    ours = optimize.relax(s, lj(), fmax=1e-3, steps=300, relax_cell=True, skin=0.5)
    assert ref.converged and ours.converged and ours.steps == ref.steps
    assert abs(ours.energy - ref.energy) < 1e-10
    assert np.abs(ours.structure.lattice.matrix - ref.structure.lattice.matrix).max() < 1e-10
    assert np.abs(ours.structure.cart_coords - ref.structure.cart_coords).max() < 1e-10
    assert abs(ours.structure.volume / s.volume - 1) > 0.02  # the cell did relax
    (vlist,) = builds
    assert vlist.n_builds < ref.steps // 3


def test_rebuild_rule_is_a_bound():
    """Direct checks of the rule: under skin/2 of motion no rebuild; the list always holds
    every pair within the cutoff (against a fresh list) as atoms and the cell move."""
    rng = np.random.default_rng(1)
    b = AtomsBatch.from_structures([argon(), Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]])])
    cutoff, v = 4.0, VerletList(skin=0.4)
    v(b, cutoff)
    assert v.n_builds == 1
    nudge = torch.zeros_like(b.positions)
    nudge[0, 0] = 0.19  # < skin / 2
    v(b.with_positions(b.positions + nudge), cutoff)
    assert v.n_builds == 1
    v(b.with_positions(b.positions + 1.1 * nudge), cutoff)  # 0.209 Å > skin / 2
    assert v.n_builds == 2
    # a cell change alone (atoms fixed): in a 2.55 Å cubic cell the (1,1,1) image sits at
    # 4.417 Å, beyond the list's 4.4 Å; a 10% smaller cell brings it to 3.975 Å, inside
    one = AtomsBatch.from_structures(Structure(Lattice.cubic(2.55), ["Cu"], [[0, 0, 0]]))
    w = VerletList(skin=0.4)
    w(one, cutoff)
    shrunk = one.with_positions(one.positions, one.cell * 0.9)
    as_set = lambda x: set(zip(x.i.tolist(), x.j.tolist(), map(tuple, x.shifts.long().tolist())))  # noqa: E731
    assert (0, 0, (1, 1, 1)) in as_set(neighbor_list(shrunk, cutoff)) - as_set(w._edges)
    assert as_set(neighbor_list(shrunk, cutoff)) <= as_set(w(shrunk, cutoff))
    assert w.n_builds == 2
    # a random walk of atoms and cell: every pair within the cutoff is in the list
    pos, cell = b.positions.clone(), b.cell.clone()
    for _ in range(40):
        pos = pos + torch.as_tensor(rng.normal(0, 0.03, pos.shape))
        cell = cell @ (torch.eye(3, dtype=cell.dtype) + torch.as_tensor(rng.normal(0, 0.004, (2, 3, 3))))
        cur = b.with_positions(pos, cell)
        e = v(cur, cutoff)
        fresh = neighbor_list(cur, cutoff)
        assert as_set(fresh) <= as_set(e)
    assert 2 < v.n_builds < 40
    # a smaller cutoff reuses the list (a wider margin), a larger one rebuilds
    n = v.n_builds
    v(cur, cutoff - 1.0)
    assert v.n_builds == n
    e = v(cur, cutoff + 0.5)
    assert v.n_builds == n + 1 and e.cutoff == cutoff + 0.5 + v.skin
    v(cur, cutoff)
    assert v.n_builds == n + 1
    # a layout change rebuilds
    n = v.n_builds
    v(b.select([0]), cutoff)
    assert v.n_builds == n + 1


def test_models_ignore_pairs_beyond_their_cutoff():
    # the Verlet list hands over pairs up to cutoff + skin: energies and forces must not change
    b = AtomsBatch.from_structures(argon())
    for model in (lj(), Morse(epsilon=0.01, r0=3.8, rho0=6.0, rcut1=5.0, rcut2=6.5).double()):
        plain = model.compute(b)
        padded = model.compute(b, neighbors=VerletList(skin=1.5))
        for key in ("energy", "forces", "stress"):
            assert torch.allclose(plain[key], padded[key], rtol=0, atol=1e-12), key


def test_fire_reports_every_k_steps_same_result():
    """iter_relax reading the device only at reports (every 10 steps) relaxes exactly as
    reading it every step: same path, same convergence step, per system."""
    systems = [argon(seed=1), argon(seed=2)]
    for s in systems:
        s.apply_strain(0.03)
    batch = AtomsBatch.from_structures(systems)
    every1 = list(optimize.iter_relax(batch, lj(), fmax=1e-3, steps=200))
    every10 = list(optimize.iter_relax(batch, lj(), fmax=1e-3, steps=200, report_every=10))
    assert all(r.step % 10 == 0 for r in every10[:-1])
    assert len(every10) < len(every1) // 5
    a, b = every1[-1], every10[-1]
    assert a.converged.all() and b.converged.all()
    assert (a.converged_step == b.converged_step).all() and a.converged_step[0] != a.converged_step[1]
    assert torch.allclose(a.batch.positions, b.batch.positions, rtol=0, atol=1e-10)
    assert torch.allclose(a.batch.cell, b.batch.cell, rtol=0, atol=1e-10)
