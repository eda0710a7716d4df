"""SHAP speed: exact Shapley values of an 8-atom cell with chgnet (256 coalitions in batches),
and kernel SHAP on 64 atoms; the reference is one chgnet predict_structure per coalition.

Run: python benchmarks/explain.py
"""

from __future__ import annotations

import contextlib
import io
import time

from pymatgen.core import Lattice, Structure

import matwidgets as mw


def main() -> None:
    from chgnet.model import CHGNet

    model = mw.load_model("chgnet", device="cpu")
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    si.replace(0, "Ge")
    si.perturb(0.05)
    mw.explain(si, model)  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        a = mw.explain(si, model)
        times.append(time.perf_counter() - t0)
    t_ours = sorted(times)[1]
    print(f"exact, 8 atoms, chgnet: median {t_ours:.2f} s for {a.n_evaluations} coalitions, residual {a.residual:.1e}")

    # reference: the same 256 coalition structures through chgnet's predict_structure
    with contextlib.redirect_stdout(io.StringIO()):
        ref = CHGNet.load(verbose=False, use_device="cpu")
    subsets = []
    for m in range(1, 256):
        keep = [i for i in range(8) if m >> i & 1]
        subsets.append(Structure(si.lattice, [si[i].specie for i in keep], [si[i].frac_coords for i in keep]))
    t0 = time.perf_counter()
    ref.predict_structure(subsets, task="e", batch_size=64)
    t_ref = time.perf_counter() - t0
    print(f"  chgnet predict_structure on the same 255 coalitions (energy only, batch 64): {t_ref:.2f} s, ratio {t_ref / t_ours:.2f}x")

    big = si.make_supercell([2, 2, 2], in_place=False)
    t0 = time.perf_counter()
    k = mw.explain(big, model, method="kernel", n_samples=2048)
    print(f"kernel SHAP, 64 atoms, 2048 coalitions: {time.perf_counter() - t0:.1f} s, residual {k.residual:.1e}")


if __name__ == "__main__":
    main()
