"""First formation energy on a cold cache: the elemental references a PropertyPanel prepares.

A structure with new elements (BaTiO3 from the builder) needs each element's reference
state: the lowest of ~32 relaxed unary candidates per element (hull.elemental_references).
Reference: every candidate relaxed fully (window=None, as before staged screening); ours:
the default staged screening (single point, 15 FIRE steps, full relaxation within 0.1
eV/atom). Both in this process, each on its own empty cache, after one warm-up call;
also printed: how far apart the two sets of reference energies are.

Run: python benchmarks/first_formation_energy.py [--elements Ba Ti O] [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--elements", nargs="+", default=["Ba", "Ti", "O"])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    import matwidgets as mw
    from matwidgets.engine.hull import elemental_references
    from matwidgets.engine.store import ResultStore

    model = mw.load_model("chgnet", device="cpu")
    mw.predict(mw.StructureBuilder().structure, model)  # warm-up: first-call costs out of both timings
    times: dict[str, list[float]] = {"all relaxed": [], "staged": []}
    refs = {}
    for _ in range(args.repeat):
        for name, window in [("all relaxed", None), ("staged", 0.1)]:
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                refs[name] = elemental_references(args.elements, model, store=ResultStore(Path(d) / "r.db"), window=window)
                times[name].append(time.perf_counter() - t0)
    a, b = statistics.median(times["all relaxed"]), statistics.median(times["staged"])
    print(f"references of {'-'.join(args.elements)} on a cold cache: all relaxed {a:.1f} s, staged {b:.1f} s -> {a / b:.1f}x")
    print("reference energies (eV/atom), staged - all relaxed: "
          + ", ".join(f"{el} {refs['staged'][el] - refs['all relaxed'][el]:+.4f}" for el in args.elements))


if __name__ == "__main__":
    main()
