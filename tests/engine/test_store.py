"""The result cache: WAL mode, no duplicates, and a SIGKILL mid-chunk loses nothing committed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.hull import iter_hull
from matwidgets.engine.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]

CANDIDATES = """
from pymatgen.core import Lattice, Structure
from matwidgets.engine.candidates import Candidate

def candidates():
    out = []
    for k in range(8):  # 8 two-atom cells: 4 chunks of 4 atoms
        a = 5.0 + 0.1 * k
        s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()
        out.append(Candidate(s, "prototype", f"rocksalt {a:.1f}"))
    return out
"""

CHILD = CANDIDATES + """
import sys, time
from pathlib import Path
import matwidgets as mw
import matwidgets.engine.hull as hull
from matwidgets.engine.store import ResultStore

path, marker = sys.argv[1], Path(sys.argv[2])
hull.ATOMS_PER_CHUNK = 4
store = ResultStore(path)
connect = store._connect
chunks = []

class Slow:
    # a write connection, but the third chunk's rows are written one by one, then the process waits to be killed
    def __init__(self):
        self.real = connect()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def executemany(self, sql, rows):
        chunks.append(1)
        for i, row in enumerate(rows):
            self.real.execute(sql, row)
            if len(chunks) == 3 and i == 0:
                marker.write_text("in the middle of chunk 3")
                time.sleep(120)

store._connect = Slow
for _ in hull.iter_hull(["Na", "Cl"], mw.LennardJones(0.05, 2.3, 6.0), candidates=candidates(), store=store, steps=20, window=None):
    pass
"""


def test_store_is_wal_and_rewrites_a_key_in_place(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    assert store.journal_mode == "wal"
    s = Structure(Lattice.cubic(3.0), ["Na"], [[0, 0, 0]])
    store.put_many([("k1", "ok", s, -1.0, None, {"converged": True})])
    store.put_many([("k1", "ok", s, -2.0, None, {"converged": False}), ("k2", "failed", s, None, "SimulationError: x", {}, "relax")])
    assert len(store) == 2
    other = ResultStore(tmp_path / "r.sqlite")  # a second connection (another notebook) sees the commits
    got = other.get_many(["k1", "k2", "absent"])
    assert got["k1"]["energy"] == -2.0 and got["k1"]["meta"] == {"converged": False}
    assert got["k1"]["structure"].lattice.abc == pytest.approx((3.0, 3.0, 3.0))
    assert got["k2"]["status"] == "failed" and got["k2"]["stage"] == "relax" and got["k2"]["structure"] is None
    assert "absent" not in got


def test_sigkill_in_the_middle_of_a_chunk_keeps_committed_rows_and_resumes(tmp_path):
    path, marker = tmp_path / "r.sqlite", tmp_path / "marker"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(path), str(marker)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the child never reached its third chunk"
            time.sleep(0.1)
        # WAL: while the child holds its write transaction open, another process reads what is committed
        reader = ResultStore(path, timeout=1.0)
        assert len(reader) == 4  # chunks 1 and 2: two 2-atom candidates each
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    db = sqlite3.connect(str(path))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    keys = [k for (k,) in db.execute("SELECT key FROM results")]
    assert len(keys) == len(set(keys)) == 4  # the half-written chunk left nothing; no key twice
    db.close()
    ns: dict = {}
    exec(CANDIDATES, ns)
    model = mw.LennardJones(0.05, 2.3, 6.0)
    steps = list(iter_hull(["Na", "Cl"], model, candidates=ns["candidates"](), store=ResultStore(path), steps=20, window=None))
    assert steps[0].from_cache and steps[0].done == 4  # resumed: the committed chunks are not recomputed
    assert steps[-1].done == steps[-1].total == 8
    assert len(ResultStore(path)) == 8


@pytest.mark.parametrize("window, stage, why", [(0.1, "single point", "unphysical energy"), (None, "relaxed", "exploded")])
def test_physics_failures_are_stored_with_their_stage(tmp_path, window, stage, why):
    from tests.engine.test_hull import Counting, small_candidates

    kw = dict(candidates=small_candidates(), store=ResultStore(tmp_path / "r.sqlite"), steps=20, window=window)
    failed = [f for p in iter_hull(["Na", "Cl"], Counting(), **kw) for f in p.new_failures]
    assert [f["formula"] for f in failed] == ["CsCl"] and failed[0]["stage"] == stage
    row = kw["store"].get(failed[0]["key"])
    assert row["status"] == "failed" and row["stage"] == stage and why in row["error"]
    again = [f for p in iter_hull(["Na", "Cl"], Counting(), **kw) for f in p.new_failures]
    assert again[0]["stage"] == stage and again[0]["error"] == failed[0]["error"]  # from the cache, stage kept
    df = mw.hull_for(["Na", "Cl"], Counting(), **kw).to_dataframe()
    assert df[df.formula == "CsCl"].stage.tolist() == [f"failed ({stage})"]


WRITER = """
import sys
from pymatgen.core import Lattice, Structure
from matwidgets.engine.store import ResultStore

path, name = sys.argv[1], sys.argv[2]
store = ResultStore(path)
s = Structure(Lattice.cubic(3.0), ["Na"], [[0, 0, 0]])
for chunk in range(20):
    store.put_many([(f"{name}-{chunk}-{k}", "ok", s, -1.0, None, {}) for k in range(5)] + [("shared", "ok", s, -2.0, None, {"by": name})])
    assert len(store.get_many([f"{name}-{chunk}-0"])) == 1
"""


def test_two_processes_write_the_same_store_at_once(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultStore(path)  # the table exists before the writers race
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for name in ("a", "b")]
    for p in procs:
        out = p.communicate(timeout=240)[0].decode()
        assert p.returncode == 0, out  # no "database is locked": writers wait for each other
    db = sqlite3.connect(str(path))
    keys = [k for (k,) in db.execute("SELECT key FROM results")]
    assert len(keys) == len(set(keys)) == 2 * 20 * 5 + 1  # every row of both, the shared key once
    db.close()


def test_threads_sharing_one_store_never_share_a_transaction(tmp_path):
    """A widget's main run, its search and its add write through the same store from their jobs."""
    from concurrent.futures import ThreadPoolExecutor

    store = ResultStore(tmp_path / "r.sqlite")
    s = Structure(Lattice.cubic(3.0), ["Na"], [[0, 0, 0]])

    def write(name):
        for k in range(100):
            store.put_many([(f"{name}-{k}", "ok", s, -1.0, None, {}), (f"{name}-{k}b", "ok", s, -1.0, None, {})])
            assert len(store.get_many([f"{name}-{k}"])) == 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, ["a", "b", "c", "d"]))  # re-raises any thread's error
    assert len(store) == 800
