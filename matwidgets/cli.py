"""Command line: ``matwidgets predict FILE...`` and ``matwidgets hull CHEMSYS``."""

from __future__ import annotations

import argparse
import json
import sys


def _predict(args: argparse.Namespace) -> int:
    import matwidgets as mw

    model = mw.load_model(args.model, device=args.device)
    structures = [mw.read_structure(path) for path in args.files]
    preds = mw.predict(structures, model)
    rows = []
    for path, s, p in zip(args.files, structures, preds):
        formula = s.composition.reduced_formula if hasattr(s, "composition") else s.get_chemical_formula()
        rows.append(
            {
                "file": path,
                "formula": formula,
                "n_atoms": p.n_atoms,
                "energy_eV": p.energy,
                "energy_per_atom_eV": p.energy_per_atom,
                "max_force_eV_per_A": p.max_force,
                "pressure_GPa": p.pressure,
                "stress_GPa": p.stress.tolist(),
                "magmoms_muB": None if p.magmoms is None else p.magmoms.tolist(),
            }
        )
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    header = f"{'file':30s} {'formula':12s} {'atoms':>5s} {'E (eV)':>12s} {'E/atom (eV)':>12s} {'Fmax (eV/Å)':>12s} {'P (GPa)':>9s}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['file'][-30:]:30s} {r['formula']:12s} {r['n_atoms']:5d} {r['energy_eV']:12.4f} "
            f"{r['energy_per_atom_eV']:12.4f} {r['max_force_eV_per_A']:12.4f} {r['pressure_GPa']:9.3f}"
        )
    return 0


def _hull(args: argparse.Namespace) -> int:
    import matwidgets as mw
    from matwidgets.engine.hull import HullResult, iter_hull, parse_chemsys
    from matwidgets.widgets.hull_plot import hull_figure

    elements = parse_chemsys(args.chemsys)
    model = mw.load_model(args.model, device=args.device)
    entries, failed = [], []
    for step in iter_hull(elements, model, max_atoms=args.max_atoms, steps=args.steps):
        entries.extend(step.new_entries)
        failed.extend(step.new_failures)
        print(f"\r{step.done}/{step.total} candidates", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result = HullResult(entries, failed, elements)
    df = result.to_dataframe()
    cols = ["formula", "e_form", "e_above_hull", "stable", "source", "prototype"]
    print(df[df.stable | (df.e_above_hull <= args.threshold)][cols].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if failed:
        print(f"{len(failed)} candidates failed; their errors are in the table from HullResult.to_dataframe()", file=sys.stderr)
    if args.out:
        if len(elements) <= 4:
            fig, _ = hull_figure(result, args.threshold, elements)
            fig.write_html(args.out, include_plotlyjs=True)
        else:
            df.to_html(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="matwidgets", description="Machine-learned materials science from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="predict energy, forces and stress of structure files")
    p.add_argument("files", nargs="+", help="CIF, POSCAR, extxyz, ... files")
    p.add_argument("--model", default="chgnet", help="model name or checkpoint path (default chgnet)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_predict)
    h = sub.add_parser("hull", help="convex hull of a chemical system from prototype candidates (cached)")
    h.add_argument("chemsys", help='e.g. "Li-Fe-O"')
    h.add_argument("--out", help="write a standalone HTML plot (or a table for > 4 elements)")
    h.add_argument("--model", default="chgnet")
    h.add_argument("--device", default=None)
    h.add_argument("--max-atoms", type=int, default=40, help="largest prototype cell (default 40)")
    h.add_argument("--steps", type=int, default=200, help="FIRE steps per candidate (default 200)")
    h.add_argument("--threshold", type=float, default=0.1, help="show entries up to this E_hull, eV/atom (default 0.1)")
    h.set_defaults(func=_hull)
    args = parser.parse_args(argv)
    from matwidgets.errors import InvalidChemsysError, InvalidStructureError

    try:
        return args.func(args)
    except (InvalidStructureError, InvalidChemsysError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
