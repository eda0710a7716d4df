"""iter_screen / screen: in process and on a real dask LocalCluster (127.0.0.1), a worker killed mid-run."""

from __future__ import annotations

import importlib.metadata
import os
import signal

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.cluster import check_client
from matwidgets.engine.hull import iter_hull

LJ = mw.LennardJones(epsilon=0.0104, sigma=3.4, cutoff=7.0)


def argon(k: int, n: int = 1, rattle: float = 0.0) -> Structure:
    s = Structure(Lattice.cubic(5.3 + 0.02 * k), ["Ar"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    s.make_supercell([n, n, n])
    if rattle:
        rng = np.random.default_rng(k)
        s = Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, rattle, (len(s), 3)), coords_are_cartesian=True)
    return s


def test_in_process_equals_predict_and_relax():
    structs = [argon(k) for k in range(6)] + [argon(9, 2)]
    got = list(mw.iter_screen(structs, LJ, shard_atoms=10))
    assert sorted(k for k, _ in got) == list(range(7))  # each once, whatever the order
    ref = mw.predict(structs, LJ)
    for k, res in got:
        assert res.energy == pytest.approx(ref[k].energy, abs=1e-10)
        np.testing.assert_allclose(res.forces, ref[k].forces, atol=1e-10)
    relaxed = mw.screen(structs[:3], LJ, relax=True, fmax=0.01, shard_atoms=4)
    direct = mw.relax(structs[:3], LJ, fmax=0.01)
    assert [r.energy for r in relaxed] == pytest.approx([r.energy for r in direct], abs=1e-10)


def test_bad_input():
    with pytest.raises(TypeError, match="only apply with relax=True"):
        mw.screen([argon(0)], LJ, fmax=0.1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        mw.screen([argon(0)], LJ, relax=True, fmx=0.1)
    with pytest.raises(ValueError, match="shard_atoms must be >= 1"):
        mw.screen([argon(0)], LJ, shard_atoms=0)
    with pytest.raises(mw.InvalidStructureError, match="structure 1"):
        mw.screen([argon(0), Structure(Lattice.cubic(3), ["Ar", "Ar"], [[0, 0, 0], [0, 0, 0.01]])], LJ)

    class Closed:
        status = "closed"

    with pytest.raises(RuntimeError, match="not connected"):
        mw.screen([argon(0)], LJ, client=Closed())

    class NoPackage:  # a scheduler with one worker lacking the package: the error names that worker
        status = "running"

        def scheduler_info(self, n_workers=-1):
            return {"workers": {"tcp://10.0.0.7:4000": {"nthreads": 1}, "tcp://10.0.0.8:4000": {"nthreads": 1}}}

        def run(self, fn, *args, on_error="raise"):
            return {"tcp://10.0.0.7:4000": fn(*args),
                    "tcp://10.0.0.8:4000": importlib.metadata.PackageNotFoundError("matwidgets")}

    with pytest.raises(RuntimeError, match=r"worker tcp://10\.0\.0\.8:4000 cannot run matwidgets"):
        check_client(NoPackage())


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True) as cluster:
        with Client(cluster) as c:
            c.wait_for_workers(2)
            yield c


def test_cluster_equals_in_process_and_shares_the_cores(client):
    structs = [argon(k, rattle=0.05) for k in range(12)]
    ours = mw.screen(structs, LJ, client=client)
    here = mw.screen(structs, LJ)
    for a, b in zip(ours, here):
        assert abs(a.energy_per_atom - b.energy_per_atom) <= 1e-5
        np.testing.assert_allclose(a.forces, b.forces, atol=1e-5)
    cores = len(os.sched_getaffinity(0))
    threads = client.run(lambda: __import__("torch").get_num_threads())
    assert set(threads.values()) == {max(1, cores // 2)}  # two single-threaded workers on this host
    relaxed = mw.screen(structs[:4], LJ, relax=True, client=client, fmax=0.01)
    direct = mw.screen(structs[:4], LJ, relax=True, fmax=0.01)
    assert [r.energy for r in relaxed] == pytest.approx([r.energy for r in direct], abs=1e-6)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(client):
    structs = [argon(k, n=2, rattle=0.1) for k in range(10)]  # 32 atoms each: shards that take a while
    here = mw.screen(structs, LJ, relax=True, fmax=0.005, steps=300)
    pids = client.run(os.getpid)
    seen = []
    for k, res in mw.iter_screen(structs, LJ, relax=True, client=client, shard_atoms=32, fmax=0.005, steps=300):
        if not seen:
            os.kill(next(iter(pids.values())), signal.SIGKILL)  # a real worker process, mid-run
        seen.append((k, res))
    assert sorted(k for k, _ in seen) == list(range(10))
    for k, res in seen:
        assert res.energy == pytest.approx(here[k].energy, abs=1e-6)
    assert set(client.run(os.getpid).values()) != set(pids.values())  # the nanny brought a new worker up


class CountingLJ(mw.LennardJones):
    """Lennard-Jones that counts the systems it evaluates."""

    def __init__(self):
        super().__init__(epsilon=0.0104, sigma=3.4, cutoff=7.0)
        self.systems = 0

    def compute(self, batch, *args, **kw):
        self.systems += batch.n_systems
        return super().compute(batch, *args, **kw)


def test_a_stopped_run_resumes_from_the_store(tmp_path):
    structs = [argon(k, rattle=0.05) for k in range(6)]
    model = CountingLJ()
    run = mw.iter_screen(structs, model, shard_atoms=8, store=tmp_path / "screen.db")
    first = [next(run), next(run)]  # the first shard (2 structures), then the user stops
    run.close()
    model.systems = 0
    resumed = list(mw.iter_screen(structs, model, shard_atoms=8, store=tmp_path / "screen.db"))
    assert [k for k, _ in resumed[:2]] == [k for k, _ in first]  # stored results first, not recomputed
    assert model.systems == 4
    fresh = mw.predict(structs, LJ)
    for k, res in resumed:
        assert res.energy == pytest.approx(fresh[k].energy, abs=1e-12)
        np.testing.assert_allclose(res.forces, fresh[k].forces, atol=1e-12)
        np.testing.assert_allclose(res.stress, fresh[k].stress, atol=1e-12)

    relaxed = mw.screen(structs[:2], model, relax=True, fmax=0.01, store=tmp_path / "screen.db")
    model.systems = 0
    again = mw.screen(structs[:2], model, relax=True, fmax=0.01, store=tmp_path / "screen.db")
    assert model.systems == 0
    assert [r.energy for r in again] == pytest.approx([r.energy for r in relaxed], abs=1e-12)
    assert [r.converged for r in again] == [r.converged for r in relaxed]
    np.testing.assert_allclose(again[0].structure.cart_coords, relaxed[0].structure.cart_coords, atol=1e-8)
    assert mw.screen(structs[:2], model, relax=True, fmax=0.02, store=tmp_path / "screen.db") and model.systems > 0  # other settings: computed


def test_hull_on_the_cluster_equals_the_hull_here(client, tmp_path):
    from matwidgets.engine.store import ResultStore

    structs = [argon(k, rattle=0.05) for k in (0, 5)]
    # on a cluster every candidate is relaxed fully (no staged screening): compare like with like
    here = mw.hull_for(structs, LJ, store=ResultStore(tmp_path / "here.db"), window=None)
    there = mw.hull_for(structs, LJ, store=ResultStore(tmp_path / "there.db"), client=client)
    assert here.failed == [] and there.failed == []
    a, b = here.to_dataframe(), there.to_dataframe()
    assert len(a) == len(b) > 2
    a, b = a.sort_values(["formula", "prototype"]).reset_index(drop=True), b.sort_values(["formula", "prototype"]).reset_index(drop=True)
    assert b.prototype.tolist() == a.prototype.tolist()
    np.testing.assert_allclose(b.e_form, a.e_form, atol=1e-5)
    assert len(ResultStore(tmp_path / "there.db")) == len(b)  # written here, by the client process

    # progress per worker: every candidate counted once, by the worker that relaxed it
    steps = list(iter_hull(structs, LJ, store=ResultStore(tmp_path / "again.db"), client=client))
    workers = steps[-1].workers
    assert sum(workers.values()) == steps[-1].total == len(b)
    assert set(workers) <= set(client.scheduler_info(n_workers=-1)["workers"])

    from matwidgets.widgets.hull_explorer import HullExplorer

    explorer = HullExplorer(structs, LJ, store=ResultStore(tmp_path / "widget.db"), client=client)
    assert explorer.job.wait(120) and explorer.result is not None
    assert sum(explorer.workers.values()) == len(b)
    assert "workers: tcp://127.0.0.1:" in explorer.status.value


def test_explain_on_the_cluster_equals_explain_here(client):
    s = argon(3, rattle=0.1)
    for method in ("exact", "kernel"):
        here = mw.explain(s, LJ, target="energy", method=method, n_samples=10, seed=1)
        there = mw.explain(s, LJ, target="energy", method=method, n_samples=10, seed=1, client=client)
        np.testing.assert_allclose(there.values, here.values, atol=1e-9)
        assert there.n_evaluations == here.n_evaluations > 0
