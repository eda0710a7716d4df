"""Distillation on this CPU: a SchNet student trained on CHGNet's MD frames.

Teacher: CHGNet 0.3.0. Configurations: NVT MD of the teacher from each start structure at
3 strains x 3 temperatures; the student (native SchNet) trains on those frames' teacher
energies and forces and is judged on frames of runs with another seed. Then MD speed:
steps/s of run_md with the teacher and with the student on the same 64-atom cell, medians
of --repeat runs in this process (teacher and student alternate).

Goal (issue 14): >= 10x faster MD with force MAE <= 0.15 eV/Å on held-out teacher frames.

Measured (2026-12-02, this CPU: 2 cores shared with two other jobs, OMP_NUM_THREADS=1, nice 19),
`python benchmarks/distill.py` (Si, defaults; 3.4 min wall):
    180 training frames, 180 held out; SchNet 32 features, 3 interactions, 16 rbf, 18,087 parameters
    held-out force MAE vs teacher 0.074 eV/Å (untrained 0.474); energy MAE 3.6 meV/atom
    MD on 64 atoms: teacher 5.1 steps/s, student 88.5 steps/s: 17.3x   -> goal met (for Si)
The Li-O run (several compounds) was not re-measured this time.

Run: python benchmarks/distill.py            (Si; ~3-10 min on 2 cores)
     python benchmarks/distill.py --system Li-O --epochs 80
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import matwidgets as mw  # noqa: E402
from matwidgets.engine.distill import distill  # noqa: E402


def md_rate(structure, model, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in mw.run_md(structure, model, "nvt", temperature=600.0, steps=steps, every=steps, seed=0):
        pass
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", default="Si", help="'Si' (diamond, 8 atoms) or a chemical system such as Li-O")
    ap.add_argument("--md-steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--interactions", type=int, default=3)
    ap.add_argument("--rbf", type=int, default=16)
    ap.add_argument("--cutoff", type=float, default=4.5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--speed-steps", type=int, default=50)
    args = ap.parse_args()
    from pymatgen.core import Lattice, Structure

    teacher = mw.load_model("chgnet", device="cpu")
    if args.system == "Si":
        starts = [Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]).get_primitive_structure()
                  .make_supercell([2, 2, 1], in_place=False)]
    else:
        starts = args.system
    torch.manual_seed(0)
    student = mw.SchNet(cutoff=args.cutoff, n_features=args.features, n_interactions=args.interactions, n_rbf=args.rbf)
    t0 = time.perf_counter()
    res = distill(teacher, starts, student=student, md_steps=args.md_steps, every=args.every, epochs=args.epochs,
                  lr=2e-3, batch_size=16, seed=0, progress=True)
    m = res.metrics
    print(f"student: SchNet cutoff {args.cutoff} Å, {args.features} features, {args.interactions} interactions, {args.rbf} rbf, "
          f"{sum(p.numel() for p in student.parameters())} parameters")
    print(f"distilled in {time.perf_counter() - t0:.0f} s: {m['n_frames']} training frames, {m['n_held_out']} held out")
    print(f"held-out force MAE vs teacher: {m['force_mae']:.3f} eV/Å (untrained student {m['force_mae_before']:.3f}); "
          f"energy MAE {m['energy_mae'] * 1000:.1f} meV/atom")
    cell = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]).make_supercell([2, 2, 2], in_place=False)
    if args.system != "Si":
        cell = res.held_out.structures[0].make_supercell([2, 2, 2], in_place=False)
    t_rates, s_rates = [], []
    md_rate(cell, teacher, 5), md_rate(cell, res.model, 5)  # warm-up: first-call costs out of the figures
    for _ in range(args.repeat):
        t_rates.append(md_rate(cell, teacher, args.speed_steps))
        s_rates.append(md_rate(cell, res.model, args.speed_steps))
    t, s = statistics.median(t_rates), statistics.median(s_rates)
    print(f"MD on {len(cell)} atoms: teacher {t:.1f} steps/s, student {s:.1f} steps/s, ratio {s / t:.1f}x (medians of {args.repeat})")


if __name__ == "__main__":
    main()
