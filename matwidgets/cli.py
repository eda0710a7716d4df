"""Command line: ``matwidgets predict FILE...`` and ``matwidgets hull CHEMSYS``.

Bad input ends the command with one line on stderr, ``error: ...``, and exit
status 2, before anything expensive runs where it can be checked up front (paths,
device, chemical system, the model's elements). Only the error types that bad
input raises are caught; anything else is a bug and keeps its traceback.
Set ``MATWIDGETS_DEBUG=1`` to see the traceback of a caught error too.

Exit status: 0 done, 2 bad input, 1 (with a traceback) a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from pathlib import Path

EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """Bad command-line input, found by the CLI's own checks."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ...`` instead of usage + ``prog: error: ...``."""

    def error(self, message: str):
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _int_at_least(lowest: int):
    """An argparse type: an integer >= lowest (0 or 1), with a message that says so."""
    kind = "non-negative" if lowest == 0 else "positive"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be a {kind} integer, got {value}")
        return value

    return parse


# ---- checks that run before anything is computed -------------------------------------


def _check_device(device: str | None) -> None:
    """Refuse a device torch does not know or cannot use here, before any model loads."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise CLIError(f"unknown device {device!r}: use cpu or cuda (cuda:N for one GPU)") from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CLIError(f"device {device!r} is not available: torch sees no CUDA GPU on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CLIError(f"device {device!r} is not available: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
        return
    if dev.type == "mps" and torch.backends.mps.is_available():
        return
    raise CLIError(f"device {device!r} is not available: use cpu or cuda")


def _check_input_files(paths: list[str]) -> None:
    for path in paths:
        if not os.path.exists(path):
            raise CLIError(f"file not found: {path}")
        if os.path.isdir(path):
            raise CLIError(f"{path} is a directory, not a structure file")
        if os.path.getsize(path) == 0:
            raise CLIError(f"file {path} is empty")


def _check_out(out: str | None) -> None:
    """The --out file must be writable where it is named; checked before the hull is computed."""
    if out is None:
        return
    path = Path(out)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CLIError(f"--out {out} is a directory; give a file name such as hull.html")
    if not parent.is_dir():
        raise CLIError(f"--out {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"--out {out}: directory {parent} is not writable")


def _chemsys_error(text: str) -> CLIError:
    if not text.strip():
        return CLIError("empty chemical system: give elements joined by '-', like Li-Fe-O")
    return CLIError(f"chemical system {text!r} has an empty element (a stray '-'): write elements joined by '-', like Li-Fe-O")


def _split_chemsys(text: str) -> list[str]:
    """"Li-Fe-O" -> ["Li", "Fe", "O"]; refuses empty parts ("Li-O-", "-Li", "Li--O")
    that the engine's lenient parser would drop."""
    parts = text.replace(" ", "").split("-")
    if any(not p for p in parts):
        raise _chemsys_error(text)
    return parts


def _load_model(name: str, device: str | None):
    from matwidgets.engine.models import load_model

    if not os.path.exists(name):
        try:
            return load_model(name, device=device)
        except ValueError as err:  # an unknown name (or, later, weights that ship in no wheel): it says which exist
            raise CLIError(str(err)) from None
    if os.path.isdir(name):
        raise CLIError(f"--model {name} is a directory, not a matwidgets checkpoint")
    try:
        return load_model(name, device=device)
    except Exception as err:  # torch's unpickler raises anything (KeyError, UnpicklingError, EOFError, ...)
        raise CLIError(f"{name} is not a matwidgets checkpoint (saved by Potential.save): {type(err).__name__}: {err}") from None


def _check_elements(elements: list[str], model) -> None:
    from pymatgen.core import Element

    for sym in elements:
        z = Element(sym).Z
        if z > model.max_z:
            raise CLIError(f"model {model.name} does not support element {sym} (Z={z}; it knows Z <= {model.max_z})")


# ---- commands ---------------------------------------------------------------------------


def _predict(args: argparse.Namespace) -> int:
    _check_input_files(args.files)
    _check_device(args.device)
    import matwidgets as mw

    structures = [mw.read_structure(path) for path in args.files]
    model = _load_model(args.model, args.device)
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
                "stress_GPa": None if p.stress is None else p.stress.tolist(),
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
            f"{r['energy_per_atom_eV']:12.4f} {r['max_force_eV_per_A']:12.4f} "
            + (f"{r['pressure_GPa']:9.3f}" if r["pressure_GPa"] is not None else f"{'-':>9s}")
        )
    return 0


def _hull(args: argparse.Namespace) -> int:
    _split_chemsys(args.chemsys)
    _check_out(args.out)
    _check_device(args.device)
    from matwidgets.engine.hull import HullResult, iter_hull, parse_chemsys
    from matwidgets.engine.hull_stages import merge_progress
    from matwidgets.errors import InvalidStructureError

    elements = parse_chemsys(args.chemsys)  # unknown or repeated elements -> InvalidChemsysError
    model = _load_model(args.model, args.device)
    _check_elements(elements, model)
    found: dict = {}
    failed: list = []
    correction = None if args.correction == "none" else args.correction
    try:
        steps = iter_hull(elements, model, max_atoms=args.max_atoms, steps=args.steps, correction=correction,
                          structures=args.structures)
        first = next(steps, None)  # the set-up: user files read, the correction checked against the model
    except (InvalidStructureError, ValueError) as err:  # an unreadable file, "fitted" for another model
        raise CLIError(str(err)) from None
    if first is not None:
        merge_progress(found, failed, first)
    for step in steps:
        merge_progress(found, failed, step)
        stage = f", {step.stage} {step.stage_done}/{step.stage_total}" if step.stage_total else ""
        print(f"\r{step.done}/{step.total} candidates final{stage}   ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result = HullResult(list(found.values()), failed, elements)
    print(f"energy correction: {result.correction}", file=sys.stderr)
    df = result.to_dataframe()
    cols = ["formula", "e_form", "e_above_hull", "stable", "source", "prototype"]
    print(df[df.stable | (df.e_above_hull <= args.threshold)][cols].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if failed:
        print(f"{len(failed)} candidates failed; their errors are in the table from HullResult.to_dataframe()", file=sys.stderr)
    if args.out:
        if 2 <= len(elements) <= 4:  # hull_figure draws binary to quaternary hulls
            from matwidgets.widgets.hull_plot import hull_figure

            fig, _ = hull_figure(result, args.threshold, elements)
            fig.write_html(args.out, include_plotlyjs=True)
        else:
            df.to_html(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="matwidgets", description="Machine-learned materials science from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{predict,hull}")
    p = sub.add_parser("predict", help="predict energy, forces and stress of structure files")
    p.add_argument("files", nargs="+", help="CIF, POSCAR, extxyz, ... files")
    p.add_argument("--model", default="chgnet", help="model name (chgnet, lj, morse, schnet) or checkpoint path (default chgnet)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_predict)
    h = sub.add_parser("hull", help="convex hull of a chemical system from prototype candidates (cached)")
    h.add_argument("chemsys", help='elements joined by "-", e.g. "Li-Fe-O"')
    h.add_argument("--out", help="write a standalone HTML plot (a table for 1 or > 4 elements); its directory must exist")
    h.add_argument("--model", default="chgnet", help="model name or checkpoint path (default chgnet)")
    h.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    h.add_argument("--max-atoms", type=_int_at_least(1), default=40, help="largest prototype cell (default 40)")
    h.add_argument("--steps", type=_int_at_least(0), default=200, help="FIRE steps per candidate (default 200)")
    h.add_argument("--threshold", type=float, default=0.1, help="show entries up to this E_hull, eV/atom (default 0.1)")
    h.add_argument("--correction", choices=["none", "mp2020", "fitted"], default="none",
                   help="energy correction on top of the model's energies (default none: CHGNet's training energies include MP2020)")
    h.add_argument("--structures", nargs="+", default=None, metavar="PATH",
                   help="your own candidates too: CIF/POSCAR files, folders of them, ASE .db files")
    h.set_defaults(func=_hull)
    return parser


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


def _expected_errors() -> tuple[type[BaseException], ...]:
    """What bad input raises below the CLI. A bare ValueError or RuntimeError from deep
    inside (numpy shapes, torch ops) is a bug and keeps its traceback."""
    import torch

    from matwidgets.engine.dynamics import SimulationError
    from matwidgets.errors import InvalidChemsysError, InvalidStructureError

    # OSError: reading and writing files; OutOfMemoryError: a hull or batch too big for the GPU
    return (InvalidStructureError, InvalidChemsysError, SimulationError, OSError, torch.cuda.OutOfMemoryError)


def _report(err: BaseException) -> int:
    if os.environ.get("MATWIDGETS_DEBUG"):
        raise err
    print(f"error: {_one_line(err)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["hull"]:
        # "-Li" or "-Li-O" would reach argparse as an unknown option; say what is wrong with it
        for arg in argv[1:]:
            if re.match(r"-[A-Z]", arg):
                print(f"error: {_one_line(_chemsys_error(arg))}", file=sys.stderr)
                return EXIT_BAD_INPUT
    args = build_parser().parse_args(argv)
    # Warnings (pymatgen's CIF parser, torch, ...) are held back: on bad input the
    # error line is all that is printed; on success they follow the result, once each.
    with warnings.catch_warnings(record=True) as caught:
        try:
            status = args.func(args)
        except CLIError as err:  # first: reporting it must not import the engine
            return _report(err)
        except _expected_errors() as err:
            return _report(err)
    seen = set()
    for w in caught:
        text = f"warning: {_one_line(w.message)}"
        if text not in seen:
            seen.add(text)
            print(text, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
