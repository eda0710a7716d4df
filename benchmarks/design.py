"""Inverse design by gradients (engine/design.py), measured with CHGNet.

1. Steps/s of gradient_design (positions + cell, PGD) on 8- and 64-atom cells.
2. Descent from rattled crystals: the fraction whose design energy comes within 5 meV/atom
   of relax()'s energy, and model calls per structure (design: calls until it first gets
   there; relax: FIRE's calls to convergence).
3. The uncertainty attack (a committee of two CHGNet versions): committee energy std after
   the attack against the start, and the fraction of structures on which members disagree
   on some force by more than 0.1 eV/Å, attacked against rattled equally far (same RMS
   displacement from the start).

Run: python benchmarks/design.py [--n 20] [--steps 200] [--attack-steps 50] [--model chgnet]
(small settings for a quick look: --n 2 --steps 30 --attack-steps 5 --sizes 8)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.design import gradient_design
from matwidgets.engine.models.committee import Committee


def prototypes() -> list[Structure]:
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.47), ["Si"], [[0, 0, 0]])
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    mgo = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.25), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.63), ["Cu"], [[0, 0, 0]])
    cu.make_supercell(2)
    return [si, nacl, mgo, cu]  # 8, 8, 8, 32 atoms


def rattle(s: Structure, sigma: float, seed: int) -> Structure:
    rng = np.random.default_rng(seed)
    return Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, sigma, (len(s), 3)), coords_are_cartesian=True)


class Counting:
    """Counts calls to ``compute`` of a model (and of a committee's members)."""

    def __init__(self, model):
        self.model, self.calls = model, 0
        members = list(model.members) if isinstance(model, Committee) else [model]
        for m in members:
            orig = m.compute

            def counted(*a, _orig=orig, **k):
                self.calls += 1
                return _orig(*a, **k)

            m.compute = counted


def speed(model, sizes, steps) -> None:
    si = prototypes()[0]
    for n in sizes:
        s = si.copy()
        s.make_supercell([1, 1, 1] if n <= 8 else [2, 2, 2] if n <= 64 else [3, 3, 3])
        s = rattle(s, 0.05, 0)
        list(gradient_design(s, model, steps=2))  # warm up
        t = time.perf_counter()
        list(gradient_design(s, model, "min_energy", steps=steps, step_size=0.01, method="pgd", variables=("positions", "cell")))
        dt = time.perf_counter() - t
        print(f"  {len(s):3d} atoms: {steps / dt:6.1f} design steps/s (PGD, positions + cell)")


def recovery(model, n, steps) -> None:
    protos = prototypes()
    counter = Counting(model)
    hits, design_calls, relax_calls = 0, [], []
    for k in range(n):
        s = rattle(protos[k % len(protos)], 0.1, k)
        counter.calls = 0
        ref = mw.relax(s, model, fmax=0.02, steps=500)
        relax_calls.append(counter.calls)
        e_ref = ref.energy / len(s)
        counter.calls = 0
        reached = None
        for st in gradient_design(s, model, "min_energy", steps=steps, step_size=0.01, method="adam", variables=("positions", "cell")):
            if st.extras["energy"] <= e_ref + 0.005:
                reached = counter.calls
                break
        hits += reached is not None
        if reached is not None:
            design_calls.append(reached)
    print(f"  {hits}/{n} recover relax()'s energy within 5 meV/atom (Adam, <= {steps} steps)")
    if design_calls:
        print(f"  model calls per structure: design {np.median(design_calls):.0f} (median, recovered ones), "
              f"relax() {np.median(relax_calls):.0f} (median)")


def attack(committee, n, steps) -> None:
    protos = prototypes()
    std0, std1, dis_attacked, dis_rattled = [], [], 0, 0
    for k in range(n):
        s = rattle(protos[k % len(protos)], 0.05, 100 + k)
        run = list(gradient_design(s, committee, "max_uncertainty", steps=steps, step_size=0.01, method="pgd", epsilon=0.3,
                                   variables=("positions",), constraints={"min_distance": "covalent"}, kT=0.1))
        std0.append(run[0].extras["energy_std"])
        std1.append(run[-1].extras["energy_std"])
        dis_attacked += run[-1].extras["forces_std_max"] > 0.1
        rms = np.sqrt(((run[-1].structure.cart_coords - s.cart_coords) ** 2).sum(1).mean())
        control = rattle(s, rms / np.sqrt(3), 200 + k)
        out = committee.compute(mw.AtomsBatch.from_structures(control))
        dis_rattled += float(out["forces_std"].max()) > 0.1
    print(f"  committee std (meV/atom): start {1000 * np.median(std0):.2f} -> after {steps} steps {1000 * np.median(std1):.2f} "
          f"(median; {np.median(np.array(std1) / np.array(std0)):.1f}x)")
    print(f"  members disagree on a force by > 0.1 eV/Å: attacked {dis_attacked}/{n}, equally rattled {dis_rattled}/{n}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--attack-steps", type=int, default=50)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--committee", nargs="+", default=["chgnet", "chgnet-0.2.0"])
    args = ap.parse_args()
    model = mw.load_model(args.model, device="cpu")
    print(f"gradient_design with {args.model}")
    speed(model, args.sizes, 20)
    recovery(model, args.n, args.steps)
    print(f"uncertainty attack, committee {args.committee}")
    attack(mw.load_model(args.committee, device="cpu"), args.n, args.attack_steps)


if __name__ == "__main__":
    main()
