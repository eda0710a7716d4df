"""Hull speed: cold (empty cache) and warm (new process, cache on disk) hulls with the default model.

Run: python benchmarks/hull.py [--systems Li-Fe-O Ba-Ti-O] [--max-atoms 40] [--steps 200] [--repeats 3] [--window 0.1|none]
Quick end-to-end check: python benchmarks/hull.py --chemsys Li-O --max-atoms 4 --steps 20

cold: one subprocess, MATWIDGETS_CACHE pointed at a new empty directory, screens and relaxes every
candidate (staged: single point, short relaxation, full relaxation within --window of the hull); it
reports when each stage ended and the first complete hull (every candidate with an energy, every
elemental reference final).
warm: every repeat is a NEW subprocess on that cache directory, as when a user reopens a notebook:
nothing is reused from memory (imports, model, lru caches, candidate generation). It must find every
candidate on disk: a relaxation in a warm run is reported as an error, not timed. Three warm kinds:
  candidates    prototype enumeration only (the part of a warm hull that never touches the cache)
  hull_for      mw.hull_for(chemsys) -> HullResult
  HullExplorer  mw.HullExplorer(chemsys) until its job is done and the plot is built
Times are medians over the repeats, of the call itself (after import and model load, which are
reported apart); ratios are cold / warm.

Measured, `OMP_NUM_THREADS=2 python benchmarks/hull.py --systems Fe-O Mn-O Ni-S Li-O --repeats 1`, 2026-12-03:
  cold: Fe-O 93 s (343 candidates), Mn-O 101 s (432), Ni-S 79 s (474), Li-O 35 s (122); issue 13's goal
  for a binary is 30 s. The 15-step screening relaxation of every candidate takes 70-85% of each run
  (Fe-O: single points done at 9 s, short relaxations at 76 s). Warm hull_for 0.7-1.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM_KINDS = ("candidates", "hull_for", "explorer")
LABELS = {"candidates": "candidates only", "hull_for": "hull_for", "explorer": "HullExplorer (plot built)"}


# ---- worker: runs in a subprocess, prints one RESULT line -------------------------------------


def worker(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    import matwidgets as mw
    from matwidgets.engine import hull as hull_module

    out: dict = {"import_s": time.perf_counter() - t0}
    kw = dict(max_atoms=args.max_atoms, steps=args.steps)
    if args.worker == "candidates":
        t0 = time.perf_counter()
        cands = hull_module.prototype_candidates(hull_module.parse_chemsys(args.chemsys), args.max_atoms)
        out.update(work_s=time.perf_counter() - t0, candidates=len(cands))
        return out

    t0 = time.perf_counter()
    model = mw.load_model(args.model, device=args.device)
    out["model_s"] = time.perf_counter() - t0

    if args.worker == "cold":
        from matwidgets.engine.hull_stages import FINAL_STAGES, merge_progress

        t0 = time.perf_counter()
        found: dict = {}
        failed: list = []
        marks: dict = {}  # seconds at which each milestone was reached
        for st in hull_module.iter_hull(args.chemsys, model, window=args.window, **kw):
            merge_progress(found, failed, st)
            t = time.perf_counter() - t0
            if st.new_entries or st.new_failures:
                unary = [e for e in found.values() if len(e.composition.elements) == 1]
                if "first_hull_s" not in marks and len(found) + len(failed) == st.total and unary and all(
                        e.data.get("stage", "relaxed") in FINAL_STAGES for e in unary):
                    marks["first_hull_s"] = t  # every candidate has an energy and every reference is final
                marks[f"{st.stage}_s"] = t
                print(f"  {args.chemsys} cold: {st.done}/{st.total} final, {st.stage} {st.stage_done}/{st.stage_total} "
                      f"after {t:.0f} s", file=sys.stderr, flush=True)
        out["work_s"] = time.perf_counter() - t0
        out.update(marks)
        out["stages"] = {k: sum(e.data.get("stage") == k for e in found.values()) for k in ("relaxed", "screened out")}
        res = hull_module.HullResult(list(found.values()), failed, hull_module.parse_chemsys(args.chemsys))
    else:
        missing: list[int] = []

        def refuse(chunk, *a, **k):  # the cache must hold everything: no relaxation in a warm run
            missing.append(len(chunk))
            raise RuntimeError(f"warm run found {len(chunk)} candidates missing from the cache")

        from matwidgets.engine import hull_stages

        hull_module._relax_items = hull_stages._single_points = refuse
        hull_module._relax_chunk = refuse
        kw["window"] = args.window
        t0 = time.perf_counter()
        if args.worker == "hull_for":
            res = mw.hull_for(args.chemsys, model, **kw)
        else:
            ex = mw.HullExplorer(args.chemsys, model=model, **kw)
            if not ex.job.wait(args.timeout):
                raise RuntimeError(f"HullExplorer not done after {args.timeout} s")
            if ex.job.status != "done":
                raise RuntimeError(f"HullExplorer job {ex.job.status}: {ex.job.error}")
            if ex.result is None:
                raise RuntimeError("HullExplorer finished without a hull")
            res = ex.result
        out["work_s"] = time.perf_counter() - t0
    out.update(candidates=len(res.entries) + len(res.failed), entries=len(res.entries), failed=len(res.failed),
               stable=sorted(e.composition.reduced_formula for e in res.stable_entries))
    return out


# ---- driver ---------------------------------------------------------------------------------------


def run_worker(kind: str, chemsys: str, args: argparse.Namespace, cache: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--chemsys", chemsys,
           "--max-atoms", str(args.max_atoms), "--steps", str(args.steps), "--model", args.model,
           "--device", args.device, "--timeout", str(args.timeout), "--window", str(args.window)]
    env = dict(os.environ, MATWIDGETS_CACHE=cache)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)  # progress goes to our stderr
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{kind} worker for {chemsys} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    if "error" in result:
        raise SystemExit(f"{kind} worker for {chemsys}: {result['error']}")
    result["process_s"] = wall
    return result


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def bench(chemsys: str, args: argparse.Namespace, cache: str) -> None:
    cold = None
    if not args.no_cold:
        print(f"{chemsys}: cold run (empty cache {cache}) ...", flush=True)
        cold = run_worker("cold", chemsys, args, cache)
        print(f"{chemsys}: {cold['candidates']} candidates (<= {args.max_atoms} atoms), {cold['failed']} failed; "
              f"stable: {', '.join(cold['stable'])}")
        print(f"  cold   hull {cold['work_s']:8.2f} s = {cold['candidates'] / cold['work_s']:.2f} candidates/s   "
              f"(process {cold['process_s']:.1f} s: import {cold['import_s']:.1f} s, model {cold['model_s']:.1f} s)")
        if "first_hull_s" in cold:
            marks = ", ".join(f"{k[:-2]} {cold[k]:.0f} s" for k in ("single point_s", "short relax_s", "first_hull_s", "relaxed_s") if k in cold)
            print(f"  cold   stages ended at: {marks}; {cold['stages']['relaxed']} relaxed, {cold['stages']['screened out']} screened out "
                  f"(window {args.window} eV/atom)")
    warm = {kind: [run_worker(kind, chemsys, args, cache) for _ in range(args.repeats)] for kind in WARM_KINDS}
    print(f"  warm, each a new process on the cache on disk, median of {args.repeats}:")
    for kind in WARM_KINDS:
        t = median(warm[kind], "work_s")
        ratio = f"   cold/warm {cold['work_s'] / t:7.1f}x" if cold else ""
        share = "" if kind == "candidates" else f"   ({median(warm['candidates'], 'work_s') / t:.0%} of it enumerating candidates)"
        print(f"    {LABELS[kind]:27s} {t:8.2f} s{ratio}{share}")
    runs = warm["explorer"]
    print(f"    whole process for HullExplorer {median(runs, 'process_s'):.2f} s "
          f"(python + import {median(runs, 'import_s'):.2f} s + model {median(runs, 'model_s'):.2f} s + hull)")
    # a warm hull is the cold hull read back: same candidates, same outcome
    for kind in ("hull_for", "explorer"):
        for r in warm[kind]:
            ref = cold or warm["hull_for"][0]
            same = (r["candidates"], r["entries"], r["failed"], r["stable"]) == (ref["candidates"], ref["entries"], ref["failed"], ref["stable"])
            if not same:
                print(f"    WARNING: warm {kind} differs from the {'cold run' if cold else 'first warm run'}: "
                      f"{r['entries']} entries, {r['failed']} failed, stable {r['stable']}")
                break


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", "--chemsys", nargs="+", default=["Li-Fe-O", "Ba-Ti-O"], dest="systems")
    ap.add_argument("--max-atoms", type=int, default=40)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="warm subprocesses per kind")
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache", help="cache directory to use (kept); default: a new temporary one, removed at the end")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold run: measure warm on an existing --cache")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--window", type=lambda v: None if v.lower() == "none" else float(v), default=0.1,
                    help="staged screening window in eV/atom ('none': relax every candidate fully)")
    ap.add_argument("--worker", choices=("cold", *WARM_KINDS), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        args.chemsys = args.systems[0]
        try:
            result = worker(args)
        except Exception as err:  # reported by the driver with the worker's kind and system
            result = {"error": f"{type(err).__name__}: {err}"}
        print("RESULT " + json.dumps(result), flush=True)
        return

    if args.no_cold and not args.cache:
        ap.error("--no-cold needs --cache DIR holding a previous run's results")
    cache = args.cache or tempfile.mkdtemp(prefix="mw-bench-hull-")
    try:
        for chemsys in args.systems:
            bench(chemsys, args, cache)
    finally:
        if not args.cache:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
