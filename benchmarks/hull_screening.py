"""Where a cold hull's time goes, stage by stage, and whether the single point could screen.

For each system: a cold ``iter_hull`` (fresh store, default settings) records every
candidate's energy at each stage (hull_stages.py) and when each stage ended. Then, with
pymatgen's PhaseDiagram, it asks of a rule that would skip the short relaxation of every
compound whose single-point energy is more than X eV/atom above the single-point hull:
how many atoms it saves, and how many candidates it would lose that end within 0.1 eV/atom
of the final hull.

Run: OMP_NUM_THREADS=2 python benchmarks/hull_screening.py [Li-O Fe-O Ni-S ...]

Measured 2026-12-03 on this 2-core CPU (CHGNet 0.3.0):
  Li-O  122 candidates, 50 s: single points end at 3 s, short relaxation (877 atoms) at 34 s, full (136 atoms) at 50 s
  Fe-O  343 candidates, 107 s: 2 / 82 / 107 s (2,648 atoms in the short relaxation, 398 in the full one)
  Ni-S  474 candidates, 114 s: 4 / 101 / 114 s (4,142 / 443 atoms)
  skip above X:        X = 0.5              X = 1.0              X = 1.5
    Li-O   saves 480 atoms, loses 0   282, loses 0         162, loses 0
    Fe-O   1,809, loses 9 (FeO)       1,035, loses 2 (FeO) 714, loses 2 (FeO)
    Ni-S   2,741, loses 1 (Ni2S3)     1,540, loses 0       782, loses 0
  Fe-O's candidates that end within 0.1 eV/atom were up to 1.58 eV/atom above the
  single-point hull (the relaxed bcc Fe reference itself 0.87): pre-scaled single points do not
  rank Fe oxides, so this rule saves 20-40% of the short relaxation at best, and loses
  compounds where it saves more. The short relaxation costs ~2.2 ms per atom and FIRE step here.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram  # noqa: E402

from matwidgets.engine.hull import iter_hull  # noqa: E402
from matwidgets.engine.hull_stages import RELAXED, SCREENED, SHORT, SINGLE, entry_key  # noqa: E402
from matwidgets.engine.store import ResultStore  # noqa: E402


def cold_run(chemsys: str, folder: str) -> tuple[dict, float]:
    """{candidate: {"comp", "n", stage: eV/atom, "t " + stage: s}} of a cold run, and its time."""
    rows: dict = {}
    t0 = time.perf_counter()
    for step in iter_hull(chemsys, store=ResultStore(Path(folder) / f"{chemsys}.sqlite")):
        for e in step.new_entries:
            r = rows.setdefault(entry_key(e), {"comp": e.composition, "n": e.composition.num_atoms})
            stage = e.data.get("stage", "given")
            r[stage] = e.energy / e.composition.num_atoms
            r["t " + stage] = time.perf_counter() - t0
    return rows, time.perf_counter() - t0


def e_above(rows: dict, energy) -> dict:
    entries = {k: PDEntry(r["comp"], energy(r) * r["n"]) for k, r in rows.items()}
    pd = PhaseDiagram(list(entries.values()))
    return {k: pd.get_e_above_hull(e, allow_negative=True) for k, e in entries.items()}


def main() -> None:
    systems = sys.argv[1:] or ["Li-O", "Fe-O", "Ni-S"]
    with tempfile.TemporaryDirectory() as folder:
        for chemsys in systems:
            rows, total = cold_run(chemsys, folder)
            final = e_above(rows, lambda r: r.get(RELAXED, r.get(SCREENED)))
            single = e_above(rows, lambda r: r[SINGLE])
            ends = {s: max(r.get("t " + s, 0.0) for r in rows.values()) for s in (SINGLE, SHORT, RELAXED)}
            rows = {k: r for k, r in rows.items() if r.get(RELAXED, r.get(SCREENED)) is not None}  # failed ones have no final energy
            # every candidate with a single point enters the short relaxation; those that converge there have no SHORT entry
            atoms = {SHORT: sum(r["n"] for r in rows.values() if SINGLE in r), RELAXED: sum(r["n"] for r in rows.values() if SHORT in r and RELAXED in r)}
            print(f"{chemsys}: {len(rows)} candidates, {total:.0f} s; stages end at "
                  + ", ".join(f"{s} {t:.0f} s" for s, t in ends.items())
                  + f"; atoms in the short relaxation {atoms[SHORT]:.0f}, in the full one {atoms[RELAXED]:.0f}", flush=True)
            near = [k for k in rows if final[k] <= 0.1]
            print(f"  {len(near)} end within 0.1 eV/atom of the hull; their single-point e_above_hull reaches {max(single[k] for k in near):.2f}")
            for x in (0.5, 1.0, 1.5):
                skip = [k for k in rows if single[k] > x and len(rows[k]["comp"].elements) > 1]
                lost = sorted(rows[k]["comp"].reduced_formula for k in skip if final[k] <= 0.1)
                print(f"  skip above {x}: saves {sum(rows[k]['n'] for k in skip):.0f} atoms of the short relaxation, loses {len(lost)} {lost[:4]}")


if __name__ == "__main__":
    main()
