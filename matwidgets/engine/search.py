"""Random structure search for one composition with PyXtal, seeded.

Each trial draws a number of formula units and a space group compatible with that
composition, then PyXtal places the atoms on its Wyckoff positions at random (at
plausible distances). Trial k of a search uses its own generator, seeded with
(seed, k), so a search of 30 begins with the search of 10 and the same seed gives
the same structures. A trial that PyXtal cannot fill is recorded as a failure with
its reason, so n trials always give n rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pymatgen.core import Composition, Element

from matwidgets.engine.candidates import Candidate, _prescale

SEARCH_TRIES = 8  # space groups tried per trial before it counts as failed


@dataclass
class SearchFailure:
    """A trial that gave no structure (PyXtal found no valid placement)."""

    formula: str
    label: str
    error: str

    def as_dict(self) -> dict:
        return {"formula": self.formula, "source": "search", "label": self.label, "error": self.error, "stage": "generate"}


def check_search(search: dict | None) -> dict[str, int]:
    """{reduced formula: budget} from ``search``; ValueError naming a bad formula or budget."""
    out: dict[str, int] = {}
    for formula, n in (search or {}).items():
        try:
            comp = Composition(formula)
        except Exception:  # pymatgen raises several kinds on bad formulas
            raise ValueError(f"search: cannot read the formula {formula!r}") from None
        bad = [str(el) for el in comp.elements if not Element.is_valid_symbol(getattr(el, "symbol", str(el)))]
        if bad or not comp.elements:
            raise ValueError(f"search: cannot read the formula {formula!r} (unknown element {', '.join(bad) or 'none'})")
        if any(abs(a - round(a)) > 1e-8 for a in comp.values()):
            raise ValueError(f"search: {formula!r} has fractional amounts: give whole numbers of atoms (Li2O, not Li0.5O)")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"search: the budget for {formula} must be an integer >= 1, got {n!r}")
        out[comp.reduced_formula] = out.get(comp.reduced_formula, 0) + int(n)
    return out


@lru_cache(maxsize=256)
def _compatible_groups(counts: tuple[int, ...]) -> tuple[int, ...]:
    from pyxtal.symmetry import Group

    return tuple(g for g in range(1, 231) if Group(g).check_compatible(list(counts))[0])


def random_search(formula: str, n: int, seed: int = 0, max_atoms: int = 40) -> tuple[list[Candidate], list[dict]]:
    """``n`` random trials for ``formula`` (reduced): (candidates, failures), one per trial.

    Cells hold 1..k formula units, at most ``max_atoms`` sites (primitive cells)."""
    from pyxtal import pyxtal

    (n,) = check_search({formula: n}).values()
    comp = Composition(formula).reduced_composition
    symbols = [el.symbol for el in comp.elements]
    per_fu = [int(comp[el]) for el in symbols]
    max_z = max(1, min(4, max_atoms // sum(per_fu)))
    if sum(per_fu) > max_atoms:
        raise ValueError(f"search: {comp.reduced_formula} has {sum(per_fu)} atoms per formula unit, more than max_atoms={max_atoms}")
    cands, failures = [], []
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        label = f"search {comp.reduced_formula} #{k} (seed {seed})"
        z = int(rng.integers(1, max_z + 1))
        counts = tuple(c * z for c in per_fu)
        groups = _compatible_groups(counts)
        errors = []
        for _ in range(SEARCH_TRIES):
            if not groups:
                errors.append(f"no space group fits {counts}")
                break
            group = int(rng.choice(groups))
            crystal = pyxtal()
            try:
                crystal.from_random(3, group, symbols, list(counts), conventional=False, random_state=rng)
            except Exception as err:  # PyXtal raises its own kinds when a group cannot be filled
                errors.append(f"{group}: {type(err).__name__}: {str(err)[:80]}".rstrip(": "))
                continue
            if not crystal.valid:
                errors.append(f"{group}: no valid placement")
                continue
            # PyXtal returns the conventional cell of centred groups: relax the primitive one
            s = crystal.to_pymatgen().get_primitive_structure()
            if len(s) > max_atoms:
                errors.append(f"{group}: {len(s)} sites > max_atoms")
                continue
            s = _prescale(s)
            cands.append(Candidate(s, "search", label, {"space_group": group, "seed": seed, "trial": k, "z": z}))
            break
        if not cands or cands[-1].meta["trial"] != k:  # every trial is a row: a structure or a failure
            failures.append(SearchFailure(comp.reduced_formula, label, "PyXtal found no structure: " + "; ".join(errors)).as_dict())
    return cands, failures
