"""Model calls per converged structure: our batched FIRE against ASE's FIRE and BFGS.

The same hull candidates (pre-scaled AFLOW prototypes of a chemical system, the smallest
first), the same model (CHGNet 0.3.0, float32), the same convergence test (every atomic
force and the cell's generalised force below --fmax eV/Å, cell relaxed). ASE runs one
structure at a time through a small Calculator over our model, with its FrechetCellFilter;
ours relaxes all of them in one batch (``optimize.iter_relax``), where a call evaluates
every system still relaxing. Reported: the median and mean number of model evaluations a
structure needed (not converged within --steps: counted at --steps), and how many converged.

Run: python benchmarks/optimizers.py [--chemsys Li-O] [--n 20] [--fmax 0.1] [--steps 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ase_calculator(model):
    from ase.calculators.calculator import Calculator, all_changes

    from matwidgets.engine.atoms import AtomsBatch
    from matwidgets.engine.models.base import EV_PER_A3_TO_GPA

    class ModelCalculator(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def __init__(self):
            super().__init__()
            self.calls = 0

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.calls += 1
            out = model.compute(AtomsBatch.from_structures([atoms.copy()], device=model.device))
            stress = out["stress"][0].detach().cpu().double().numpy() / EV_PER_A3_TO_GPA  # GPa -> eV/Å^3, ASE's sign
            self.results = {"energy": float(out["energy"][0]), "forces": out["forces"].detach().cpu().double().numpy(),
                            "stress": np.array([stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]])}

    return ModelCalculator()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chemsys", default="Li-O")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--fmax", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()

    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    import matwidgets as mw
    from matwidgets.engine.atoms import AtomsBatch
    from matwidgets.engine.candidates import prototype_candidates
    from matwidgets.engine.hull import parse_chemsys
    from matwidgets.engine.optimize import iter_relax

    model = mw.load_model("chgnet", device="cpu")
    cands = sorted(prototype_candidates(parse_chemsys(args.chemsys), 40), key=lambda c: len(c.structure))
    structures = [c.structure for c in cands[: args.n]]
    print(f"{len(structures)} candidates of {args.chemsys} with {min(map(len, structures))}-{max(map(len, structures))} atoms; "
          f"fmax {args.fmax} eV/Å, at most {args.steps} steps", flush=True)

    calls = {}
    last = None
    for last in iter_relax(AtomsBatch.from_structures(structures), model, fmax=args.fmax, steps=args.steps):
        pass
    conv = last.converged_step
    calls["ours: batched FIRE"] = ([int(s) + 1 if s >= 0 else args.steps + 1 for s in conv], int((conv >= 0).sum()))
    for name, opt in [("ASE FIRE", FIRE), ("ASE BFGS", BFGS)]:
        n_calls, n_conv = [], 0
        for s in structures:
            atoms = AseAtomsAdaptor.get_atoms(s)
            calc = ase_calculator(model)
            atoms.calc = calc
            ok = opt(FrechetCellFilter(atoms), logfile=None).run(fmax=args.fmax, steps=args.steps)
            n_calls.append(calc.calls)
            n_conv += bool(ok)
        calls[name] = (n_calls, n_conv)
        print(f"  {name} done", flush=True)
    ref = statistics.median(calls["ours: batched FIRE"][0])
    for name, (n, ok) in calls.items():
        print(f"{name:22s} model calls per structure: median {statistics.median(n):6.1f}, mean {statistics.mean(n):6.1f} "
              f"({statistics.median(n) / ref:.2f}x ours); converged {ok}/{len(n)}")


if __name__ == "__main__":
    main()
