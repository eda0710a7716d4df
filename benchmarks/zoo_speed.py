"""Forward+backward cost of every offline zoo model, in µs per atom, on this CPU.

    OMP_NUM_THREADS=2 PYTHONPATH=$PWD python benchmarks/zoo_speed.py [--repeat 5] [--only NAME ...]

One batch of 8 small cells (64 atoms: Si, NaCl, MgO, LiF, Cu, Al2O3-like, ...), energy +
forces + stress (``model.compute(batch)``), float32 (the analytic lj/morse: float64),
median of ``--repeat`` timed calls after one warm-up. The numbers printed at the end are
the table ``US_PER_ATOM`` in matwidgets/engine/models/zoo.py.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
import warnings

import torch
from ase import Atoms
from ase.build import bulk

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch

warnings.filterwarnings("ignore")


def cells() -> list[Atoms]:
    out = [
        bulk("Si", "diamond", 5.43, cubic=True),  # 8
        bulk("NaCl", "rocksalt", 5.64, cubic=True),  # 8
        bulk("MgO", "rocksalt", 4.21, cubic=True),  # 8
        bulk("LiF", "rocksalt", 4.03, cubic=True),  # 8
        bulk("Cu", "fcc", 3.61, cubic=True) * (2, 1, 1),  # 8
        bulk("Al", "fcc", 4.05, cubic=True) * (1, 2, 1),  # 8
        bulk("Fe", "bcc", 2.87, cubic=True) * (2, 2, 1),  # 8
        bulk("GaAs", "zincblende", 5.65, cubic=True),  # 8
    ]
    for k, a in enumerate(out):
        a.rattle(0.03, seed=k)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="model names (default: every offline model)")
    args = ap.parse_args()
    batch = AtomsBatch.from_structures(cells())
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, {batch.n_atoms} atoms in {batch.n_systems} cells")
    table = {}
    for card in mw.list_models():
        if not card.offline or (args.only and card.name not in args.only):
            continue
        kw = {"epsilon": 0.01, "sigma": 2.3, "cutoff": 6.0} if card.name == "lj" else {}
        model = mw.load_model(card.name, device="cpu", **kw)
        model.compute(batch)  # warm-up (first-call allocations, lazy compilation)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model.compute(batch)
            times.append(time.perf_counter() - t0)
        table[card.name] = round(1e6 * statistics.median(times) / batch.n_atoms, 0)
        print(f"{card.name:16s} {table[card.name]:8.0f} us/atom  (min {1e6 * min(times) / batch.n_atoms:.0f})", flush=True)
    print("US_PER_ATOM =", table)


if __name__ == "__main__":
    main()
