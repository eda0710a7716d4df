"""MD speed: ours against chgnet's own MolecularDynamics (ASE), and batched against sequential.

Run: python benchmarks/md.py [--steps 50]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import torch
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.dynamics import init_state, nve_step


def si(n: int) -> Structure:
    s = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    s.make_supercell([n, n, n])
    s.perturb(0.05)
    return s


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import MolecularDynamics

    model = mw.load_model("chgnet", device="cpu")
    s64 = si(2)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = CHGNet.load(verbose=False, use_device="cpu")
        md = MolecularDynamics(atoms=s64, model=ref, ensemble="nvt", temperature=300, timestep=1, trajectory=None, logfile=None, loginterval=10**9, use_device="cpu")
        md.run(3)  # warm-up
    list(mw.run_md(s64, model, ensemble="nvt", steps=3, every=10**9, seed=0))
    t_ref = min(timed(lambda: md.run(args.steps)) for _ in range(2))
    t_ours = min(timed(lambda: list(mw.run_md(s64, model, ensemble="nvt", steps=args.steps, every=10**9, seed=0))) for _ in range(2))
    print(f"64-atom Si, chgnet, {args.steps} NVT steps on {torch.get_num_threads()} threads")
    print(f"  chgnet MolecularDynamics: {args.steps / t_ref:6.2f} steps/s")
    print(f"  matwidgets run_md:        {args.steps / t_ours:6.2f} steps/s   ratio {t_ref / t_ours:.2f}x")

    # batched: 32 systems of 8 atoms in one batch against 32 runs one after the other
    structures = [si(1) for _ in range(32)]
    steps = max(5, args.steps // 5)
    batch = AtomsBatch.from_structures(structures)

    def batched():
        st = init_state(batch, model, 300.0, seed=0)
        for _ in range(steps):
            st = nve_step(st, model, 1.0)

    def sequential():
        for k in range(32):
            st = init_state(batch.select([k]), model, 300.0, seed=0)
            for _ in range(steps):
                st = nve_step(st, model, 1.0)

    t_b, t_s = timed(batched), timed(sequential)
    atom_steps = 32 * 8 * steps
    print(f"32 x 8-atom Si, chgnet, {steps} NVE steps")
    print(f"  sequential: {atom_steps / t_s:8.0f} atom-steps/s")
    print(f"  batched:    {atom_steps / t_b:8.0f} atom-steps/s   ratio {t_s / t_b:.2f}x")


if __name__ == "__main__":
    main()
