"""Hull speed: cold (empty cache) and warm Li-Fe-O and Ba-Ti-O with the default model.

Run: python benchmarks/hull.py [--max-atoms 40] [--systems Li-Fe-O Ba-Ti-O]
Cold runs use a fresh cache directory; warm runs repeat with the same cache.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-atoms", type=int, default=40)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--systems", nargs="+", default=["Li-Fe-O", "Ba-Ti-O"])
    args = ap.parse_args()
    os.environ["MATWIDGETS_CACHE"] = tempfile.mkdtemp(prefix="mw-bench-hull-")
    import matwidgets as mw
    from matwidgets.engine.hull import HullResult, iter_hull

    model = mw.load_model("chgnet", device="cpu")
    for chemsys in args.systems:
        t0 = time.perf_counter()
        entries, failed, total = [], [], 0
        for st in iter_hull(chemsys, model, max_atoms=args.max_atoms, steps=args.steps):
            entries += st.new_entries
            failed += st.new_failures
            total = st.total
            t = time.perf_counter() - t0
            print(f"  {chemsys}: {st.done}/{st.total} candidates after {t:.0f} s ({st.done / t:.2f}/s)", flush=True)
        cold = time.perf_counter() - t0
        res = HullResult(entries, failed)
        stable = ", ".join(e.composition.reduced_formula for e in res.stable_entries)
        print(f"{chemsys}: {total} candidates (<= {args.max_atoms} atoms), cold {cold:.0f} s = {total / cold:.2f} candidates/s, "
              f"{len(failed)} failed; stable: {stable}")
        t0 = time.perf_counter()
        ex = mw.HullExplorer(chemsys, model=model, max_atoms=args.max_atoms, steps=args.steps)
        ex.job.wait(300)
        print(f"{chemsys}: warm HullExplorer (cached, plot built) in {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
