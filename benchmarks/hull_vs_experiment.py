"""Hulls against experiment: formation energies of known compounds, and how many sit on the hull.

Reference: pymatgen's experimental formation enthalpies (pymatgen/analysis/compatibility/
exp_compounds.json.gz, 2,135 compounds, eV per formula unit). For each chemical system below
we build the default hull (``hull_for(system)``: staged screening, cached on disk), then for
every experimental compound of that system take the lowest-energy entry of its composition:

  formation energy   model (against the hull's own elemental references) - experiment, eV/atom;
  on the hull        E_hull of that lowest entry <= 50 meV/atom;
  missing            no candidate of that composition was generated (counted as not on the hull).

Families by anion: oxides, halides, sulfides, nitrides, intermetallics (no anion). The
goal (issue 13): MAE <= 0.08 eV/atom and >= 85% of the known compounds within 50 meV/atom.

Corrections (``--correction``, one table each; the hulls are cached with raw energies, so the
later tables cost seconds): none; mp2020 (pymatgen's MaterialsProject2020Compatibility: counted
twice for CHGNet, whose training energies include it, kept to show that); fitted (per-element
reference shifts fitted to the bundled 293 compounds less the system's own: what
``correction="fitted"`` ships, evaluated leave-one-system-out); fitted-hull (the same shifts
fitted to the other 38 systems' raw results here, leave-one-system-out).

Measured 2026-12-02, CHGNet 0.3.0, 2-core CPU, cold cache (2,626 s in all):
  OMP_NUM_THREADS=2 python benchmarks/hull_vs_experiment.py --correction none fitted fitted-hull mp2020
97 known compounds in 39 systems (3 not generated: Ti4O7, Al9Ni11, Mo4O11), MAE in eV/atom:

  correction    all    oxides  halides  sulfides  nitrides  intermetallics  within 50 meV/atom
  none          0.110  0.093   0.181    0.144     0.059     0.073           90%
  fitted        0.097  0.090   0.120    0.115     0.096     0.077           90%
  fitted-hull   0.085  0.084   0.115    0.073     0.064     0.080           90%
  mp2020        0.438  0.722   0.492    0.412     0.175     0.071           91%

The goal of 0.08 is not reached out of sample; the fitted shifts help halides and sulfides,
and the largest errors remain (ZrCl2 -0.48, Ti3O5 +0.45 with fitted-hull), which are not
per-element errors. MP2020 on CHGNet moves oxides by the oxide and U corrections (FeO -1.58).

Run: python benchmarks/hull_vs_experiment.py                  (the 39 systems below)
     python benchmarks/hull_vs_experiment.py --systems Li-O Na-Cl --max-atoms 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# 39 systems, every binary the table has several compounds of, spread over the families
SYSTEMS = [
    # oxides
    "Ti-O", "V-O", "Mn-O", "Fe-O", "Na-O", "K-O", "Nb-O", "Mo-O", "Li-O", "Ba-O", "Cu-O",
    # halides
    "Ti-Cl", "Zr-F", "Zr-Cl", "In-Cl", "Na-Cl", "Li-F", "Ca-F", "Mg-Cl", "Ag-Cl",
    # sulfides
    "Ni-S", "Sn-S", "Ti-S", "Mo-S", "Na-S", "Fe-S", "Zn-S",
    # nitrides
    "Ta-N", "Nb-N", "Cr-N", "Ti-N", "Al-N", "Ga-N", "Li-N",
    # intermetallics and borides
    "Cu-Zr", "Cr-Si", "Al-Ni", "Al-Sc", "Ni-B",
]
MAX_FU_ATOMS = 20  # experimental phases with larger reduced formulas (Fe877S1000, Al27Ni23) are non-stoichiometric
ANION_FAMILIES = [("O", "oxides"), ("F", "halides"), ("Cl", "halides"), ("Br", "halides"), ("I", "halides"),
                  ("S", "sulfides"), ("N", "nitrides")]


def family(elements: set[str]) -> str:
    return next((name for el, name in ANION_FAMILIES if el in elements), "intermetallics")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", nargs="+", default=SYSTEMS)
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--max-atoms", type=int, default=40)
    ap.add_argument("--window", type=lambda v: None if v.lower() == "none" else float(v), default=0.1)
    ap.add_argument("--correction", nargs="+", default=["none"], choices=["none", "mp2020", "fitted", "fitted-hull"],
                    help="one table each; fitted: shifts fitted to the bundled compounds less the system's own; "
                         "fitted-hull: fitted to the other systems' hull results here (both leave-one-system-out)")
    args = ap.parse_args()

    from pymatgen.core import Composition

    import matwidgets as mw
    from matwidgets.engine.data import experimental_compounds

    model = mw.load_model(args.model, device="cpu")
    exp = defaultdict(list)
    for row in experimental_compounds(None):
        comp = Composition(row["formula"])
        exp[comp.chemical_system].append((comp.reduced_composition, row["exp energy"] / comp.num_atoms))
    tables, t_all = {}, time.perf_counter()
    for corr in sorted(args.correction, key=lambda c: c != "none"):  # fitted-hull needs the raw table first
        if corr == "fitted-hull" and "none" not in tables:
            tables["none"] = run(args, model, exp, "none")
            report("none", tables["none"])
        tables[corr] = run(args, model, exp, corr, tables.get("none"))
        report(corr, tables[corr])  # as each is done: a long cold run shows its first table early
    print(f"\n{time.perf_counter() - t_all:.0f} s in all")


def correction_for(name: str, system: str, model, raw_rows: list[dict] | None):
    """The hull_for correction; the fitted ones are fitted without the system's own compounds (out of sample)."""
    from matwidgets.engine.corrections import bundled_shifts, fit_element_shifts

    if name == "none":
        return None
    if name == "fitted":
        return bundled_shifts(model, exclude_chemsys=[system])
    if name == "fitted-hull":
        train = [r for r in raw_rows if r["system"] != system and r["model"] is not None]
        return fit_element_shifts([r["formula"] for r in train], [r["model"] for r in train], [r["exp"] for r in train])
    return name


def run(args, model, exp, corr: str, raw_rows: list[dict] | None = None) -> list[dict]:
    rows = []
    try:
        for system in args.systems:
            _system(args, model, exp, corr, raw_rows, system, rows)
    except KeyboardInterrupt:  # Ctrl-C (or SIGINT) on a long cold run: the table of the systems done so far
        args.systems = list(dict.fromkeys(r["system"] for r in rows))  # the other tables: these systems (cached) only
        print(f"[{corr}] interrupted: the tables below cover {len(args.systems)} systems only", flush=True)
    return rows


def _system(args, model, exp, corr, raw_rows, system, rows) -> None:
    import warnings

    import matwidgets as mw

    key = "-".join(sorted(system.split("-")))
    known = {c.reduced_formula: (c, e) for c, e in exp.get(key, []) if len(c.elements) > 1 and c.num_atoms <= MAX_FU_ATOMS}
    if not known:
        print(f"{system}: no experimental compound in the table", flush=True)
        return
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mp2020 on CHGNet: the double count is the point of that table
        res = mw.hull_for(system, model, max_atoms=args.max_atoms, window=args.window,
                          correction=correction_for(corr, system, model, raw_rows))
    dt = time.perf_counter() - t0
    for formula, (comp, h_exp) in sorted(known.items()):
        mine = [e for e in res.entries if e.composition.reduced_composition.almost_equals(comp)]
        if not mine:
            rows.append(dict(system=system, formula=formula, family=family(set(system.split("-"))), exp=h_exp, model=None, e_hull=None))
            continue
        best = min(mine, key=lambda e: e.energy_per_atom)
        rows.append(dict(system=system, formula=formula, family=family(set(system.split("-"))), exp=h_exp,
                         model=res.formation_energy(best), e_hull=res.e_above_hull(best), stage=best.data.get("stage", "")))
    found = [r for r in rows if r["system"] == system]
    print(f"[{corr}] {system}: hull in {dt:.0f} s, {len(res.entries)} entries; "
          + ", ".join(f"{r['formula']} " + (f"{r['model'] - r['exp']:+.3f} eV/atom, E_hull {1000 * r['e_hull']:.0f} meV"
                                           if r["model"] is not None else "MISSING") for r in found), flush=True)


def report(corr: str, rows: list[dict]) -> None:
    print(f"\ncorrection {corr}: {len(rows)} known compounds in {len({r['system'] for r in rows})} systems")
    print(f"{'family':15s} {'n':>4s} {'found':>6s} {'MAE eV/atom':>12s} {'within 50 meV':>14s}")
    for fam in ["oxides", "halides", "sulfides", "nitrides", "intermetallics", "all"]:
        sel = [r for r in rows if fam == "all" or r["family"] == fam]
        if not sel:
            continue
        got = [r for r in sel if r["model"] is not None]
        mae = statistics.mean(abs(r["model"] - r["exp"]) for r in got) if got else float("nan")
        near = sum(r["e_hull"] is not None and r["e_hull"] <= 0.05 for r in sel)
        print(f"{fam:15s} {len(sel):4d} {len(got):6d} {mae:12.3f} {near / len(sel):13.0%}")
    missing = [r["formula"] for r in rows if r["model"] is None]
    print(f"missing (no candidate of the composition): {', '.join(missing) or 'none'}")
    worst = sorted((r for r in rows if r["model"] is not None), key=lambda r: -abs(r["model"] - r["exp"]))[:8]
    print("largest errors: " + ", ".join(f"{r['formula']} {r['model'] - r['exp']:+.2f}" for r in worst))


if __name__ == "__main__":
    main()
