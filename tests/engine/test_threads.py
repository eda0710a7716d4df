"""The threads policy: set_threads, the automatic choice by batch size, and the shared
budget of concurrent loops (observed through torch.get_num_threads inside real runs)."""

from __future__ import annotations

import threading

import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets
import matwidgets.engine.threads as threads
from matwidgets.engine.dynamics import run_md
from matwidgets.engine.models.pair import LennardJones
from matwidgets.engine.optimize import relax


@pytest.fixture(autouse=True)
def automatic_policy():
    before = torch.get_num_threads()
    yield
    threads.set_threads(None)
    torch.set_num_threads(before)


def argon(n_cells: int = 1) -> Structure:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    return s * (n_cells, n_cells, n_cells)


LJ = LennardJones(epsilon=0.0104, sigma=3.4, cutoff=6.0).double()


class Spy(LennardJones):
    """LJ that records torch's thread count at every evaluation (that is, inside the loop)."""

    def __init__(self):
        super().__init__(epsilon=0.0104, sigma=3.4, cutoff=6.0)
        self.double()
        self.seen: list[int] = []

    def compute(self, batch, **kw):
        self.seen.append(torch.get_num_threads())
        return super().compute(batch, **kw)


def test_set_threads_fixes_the_count_inside_runs():
    assert matwidgets.set_threads is threads.set_threads
    threads.set_threads(1)
    spy = Spy()
    list(run_md(argon(2), spy, steps=3, every=1))
    relax(argon(2), spy, steps=2)
    assert spy.seen and set(spy.seen) == {1}
    with pytest.raises(ValueError):
        threads.set_threads(0)


def test_automatic_policy_by_batch_size(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    assert threads.wanted(8) == 1  # 8-atom Si: 1 thread measured as fast as 2
    assert threads.wanted(threads.SMALL_BATCH_ATOMS) == 4
    assert threads.wanted(512) == 4
    spy = Spy()
    list(run_md(argon(1), spy, steps=2, every=1))  # 4 atoms
    list(run_md(argon(2), spy, steps=2, every=1))  # 32 atoms
    assert spy.seen[0] == 1 and spy.seen[-1] == 4


def test_available_cores_respects_affinity_and_omp(monkeypatch):
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    n = threads.available_cores()
    assert 1 <= n <= len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.available_cores() == 1


def test_concurrent_loops_share_the_budget(monkeypatch):
    """Two MD runs in two threads at once: once both have stepped, each runs with 2 of the
    4 cores (so together they use at most the cores); when one ends, the other gets all 4
    back at its next step."""
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    entered, stepped, recorded = threading.Barrier(2), threading.Barrier(2), threading.Barrier(2)
    a_closed = threading.Event()
    seen: dict[str, list[int]] = {"a": [], "b": []}
    totals: list[int] = []

    class Rec(LennardJones):
        def __init__(self, name):
            super().__init__(epsilon=0.0104, sigma=3.4, cutoff=6.0)
            self.double()
            self.name = name

        def compute(self, batch, **kw):
            seen[self.name].append(torch.get_num_threads())
            return super().compute(batch, **kw)

    def job(name):
        gen = run_md(argon(2), Rec(name), steps=20, every=1)  # 32 atoms: wants every core
        next(gen)  # inside the loop; the initial evaluation done
        entered.wait(timeout=30)
        seen[name].clear()
        for _ in range(3):
            next(gen)
        stepped.wait(timeout=30)
        totals.append(sum(threads.active_shares()))
        recorded.wait(timeout=30)
        if name == "a":
            gen.close()
            a_closed.set()
        else:
            a_closed.wait(timeout=30)
            next(gen)
            gen.close()

    workers = [threading.Thread(target=job, args=(name,)) for name in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not any(w.is_alive() for w in workers)
    assert seen["a"] == [2, 2, 2]
    assert seen["b"] == [2, 2, 2, 4]
    assert totals == [4, 4]
    assert threads.active_shares() == []


def test_many_loops_never_exceed_the_budget(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    managers = [threads.threads_for(1000) for _ in range(3)]
    shares = [m.__enter__() for m in managers]
    for s in shares:
        s.refresh()
    assert sum(threads.active_shares()) <= 4 and all(n >= 1 for n in threads.active_shares())
    for m in managers:
        m.__exit__(None, None, None)
    assert threads.active_shares() == []


def test_release_idle_team_ends_the_calling_threads_openmp_workers():
    """The kernel thread's idle OpenMP team is released before a job's worker starts (it
    would throttle the worker's team): its threads end, and torch starts a new team later."""
    import os

    import pytest

    from matwidgets.engine.threads import release_idle_team

    if "OpenMP" not in torch.__config__.parallel_info() or not os.path.isdir("/proc/self/task"):
        pytest.skip("needs torch's OpenMP backend on Linux")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a = torch.rand(512, 512)
        (a @ a).sum()
        torch.rand(1 << 20).exp_()  # an element-wise kernel: an OpenMP parallel region of 2
        n_team = len(os.listdir("/proc/self/task"))
        assert release_idle_team()
        n_after = len(os.listdir("/proc/self/task"))
        assert n_after <= n_team - 1, (n_team, n_after)
        torch.rand(1 << 20).exp_()  # works after, with a new team
    finally:
        torch.set_num_threads(before)
