"""Engine v2 speed: reference packages and ours in one process, medians and ratios.

Sections (``--only`` picks some):
  predict   predict() on 200 structures of 2-64 atoms against chgnet's best (one by one or batch_size=16)
  md        64-atom Si NVT against chgnet's MolecularDynamics (ASE)
  overhead  64 systems of 8 atoms in one batch against one 512-atom supercell of the same crystal
  batched   MD of 32 x 8-atom Si in one batch against 32 runs one after the other
  frames    the cost of yielding an MDFrame every step (8-atom Si, every=1 against every=steps)
  zoo       forward+backward microseconds per atom of every offline zoo model

Goals (issue 12): predict >= 2x, md >= 2x, overhead <= 1.15x, batched >= 4x, frames <= 10%.
Ratios are reference time / ours (> 1: ours is faster) except overhead and frames (< 1.15, < 10%).

Run: python benchmarks/engine.py [--only predict md ...] [--repeat 3]

Measured 2026-12-02 on the 2-core CI-like CPU, after atom_conv (chgnet.py), medians of 3:
  predict   chgnet best 25.6 s (one by one), ours 11.2 s -> 2.28x
  md        chgnet 8.4 steps/s, ours 21.7 -> 2.59x (1.82x before atom_conv)
  overhead  64 x 8 atoms 282 ms, one 512-atom cell 311 ms -> 0.91x
  batched   sequential 376 atom-steps/s, batched 1631 -> 4.34x (2.95x before)
  frames    1.0% of a step
  zoo       us/atom: chgnet 1401, chgnet-0.2.0 1069, chgnet-r2scan 1421, sevennet-0 6044,
            sevennet-l3i5 17364, sevennet-mf-0 6614, schnet 100, lj 13, morse 12
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

import torch
from pymatgen.core import Lattice, Structure

sys.path.insert(0, str(Path(__file__).parent))
from common import median_time, random_structures  # noqa: E402

import matwidgets as mw  # noqa: E402
from matwidgets.engine.atoms import AtomsBatch  # noqa: E402

SECTIONS = ["predict", "md", "overhead", "batched", "frames", "zoo"]


def si(n: int = 1, rattle: float = 0.05) -> Structure:
    s = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    s.make_supercell([n, n, n])
    if rattle:
        s.perturb(rattle)
    return s


def chgnet_reference():
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):
        return CHGNet.load(verbose=False, use_device="cpu")


def bench_predict(model, repeat: int) -> None:
    ref = chgnet_reference()
    structures = random_structures(200)
    n_atoms = sum(len(s) for s in structures)
    ref.predict_structure(structures[:20], batch_size=16)  # warm-up both
    mw.predict(structures[:20], model)
    t_one = median_time(lambda: [ref.predict_structure(s) for s in structures], repeat)
    t_b16 = median_time(lambda: ref.predict_structure(structures, batch_size=16), repeat)
    t_ours = median_time(lambda: mw.predict(structures, model), repeat)
    best = min(t_one, t_b16)
    print(f"[predict] 200 structures, {n_atoms} atoms: chgnet one by one {t_one:.2f} s, batch_size=16 {t_b16:.2f} s, "
          f"ours {t_ours:.2f} s -> ratio {best / t_ours:.2f}x (goal >= 2)")


def bench_md(model, repeat: int, steps: int = 50) -> None:
    from chgnet.model.dynamics import MolecularDynamics

    ref = chgnet_reference()
    s64 = si(2)
    with contextlib.redirect_stdout(io.StringIO()):
        md = MolecularDynamics(atoms=s64, model=ref, ensemble="nvt", temperature=300, timestep=1, trajectory=None,
                               logfile=None, loginterval=10**9, use_device="cpu")
        md.run(3)
    list(mw.run_md(s64, model, ensemble="nvt", steps=3, every=10**9, seed=0))
    t_ref = median_time(lambda: md.run(steps), repeat)
    t_ours = median_time(lambda: list(mw.run_md(s64, model, ensemble="nvt", steps=steps, every=10**9, seed=0)), repeat)
    print(f"[md] 64-atom Si NVT, {steps} steps: chgnet {steps / t_ref:.1f} steps/s, ours {steps / t_ours:.1f} steps/s "
          f"-> ratio {t_ref / t_ours:.2f}x (goal >= 2)")


def bench_overhead(model, repeat: int) -> None:
    many = AtomsBatch.from_structures([si(1, 0.02) for _ in range(64)])
    one = AtomsBatch.from_structures([si(4, 0.02)])
    model.compute(many), model.compute(one)
    t_many = median_time(lambda: model.compute(many), repeat)
    t_one = median_time(lambda: model.compute(one), repeat)
    print(f"[overhead] energy+forces+stress: 64 x 8 atoms {1e3 * t_many:.0f} ms, one 512-atom cell {1e3 * t_one:.0f} ms "
          f"-> {t_many / t_one:.2f}x (goal <= 1.15)")


def bench_batched(model, repeat: int, steps: int = 10) -> None:
    structures = [si(1) for _ in range(32)]

    def batched():
        list(mw.run_md(structures, model, ensemble="nve", steps=steps, every=10**9, seed=0))

    def sequential():
        for s in structures:
            list(mw.run_md(s, model, ensemble="nve", steps=steps, every=10**9, seed=0))

    batched()
    t_b, t_s = median_time(batched, repeat), median_time(sequential, repeat)
    rate = 32 * 8 * steps
    print(f"[batched] 32 x 8-atom Si, {steps} NVE steps: sequential {rate / t_s:.0f} atom-steps/s, batched "
          f"{rate / t_b:.0f} atom-steps/s -> ratio {t_s / t_b:.2f}x (goal >= 4)")


def bench_frames(model, repeat: int, steps: int = 100) -> None:
    s8 = si(1)
    list(mw.run_md(s8, model, steps=3, every=1, seed=0))
    t_every = median_time(lambda: list(mw.run_md(s8, model, ensemble="nvt", steps=steps, every=1, seed=0)), repeat)
    t_none = median_time(lambda: list(mw.run_md(s8, model, ensemble="nvt", steps=steps, every=steps, seed=0)), repeat)
    print(f"[frames] 8-atom Si NVT, {steps} steps: every=1 {1e3 * t_every / steps:.2f} ms/step, every={steps} "
          f"{1e3 * t_none / steps:.2f} ms/step -> a frame costs {100 * (t_every / t_none - 1):.1f}% of a step (goal <= 10%)")


def bench_zoo(repeat: int) -> None:
    batch = AtomsBatch.from_structures(random_structures(20, 8, 32, seed=1))
    cards = mw.list_models() if hasattr(mw, "list_models") else []
    names = [c.name for c in cards if c.offline] or ["chgnet", "schnet", "lj"]
    for name in names:
        try:
            m = mw.load_model(name, device="cpu")
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            print(f"[zoo] {name}: cannot load ({exc})")
            continue
        try:
            m.compute(batch)
            t = median_time(lambda m=m: m.compute(batch), repeat)
            print(f"[zoo] {name:16s} {1e6 * t / batch.n_atoms:8.0f} us/atom forward+backward ({batch.n_atoms} atoms)")
        except Exception as exc:  # noqa: BLE001
            print(f"[zoo] {name}: {type(exc).__name__}: {exc}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", choices=SECTIONS, default=SECTIONS)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    model = mw.load_model("chgnet", device="cpu")
    t0 = time.perf_counter()
    for name in args.only:
        if name == "zoo":
            bench_zoo(args.repeat)
        else:
            globals()[f"bench_{name}"](model, args.repeat)
    print(f"total {time.perf_counter() - t0:.0f} s; medians of {args.repeat}")


if __name__ == "__main__":
    main()
