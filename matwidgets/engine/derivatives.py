"""Ordered derivatives of parent lattices: cation (and vacancy) orderings in small supercells.

pymatgen's EnumerateStructureTransformation would do this (Hart-Forcade enumeration),
but it needs the enumlib binaries (enum.x, makestr.x), which no wheel ships and which
are absent here; OrderDisorderedStructureTransformation ranks every ordering of one
cell by Ewald energy without removing symmetry-equivalent ones. So this module does a
small enumeration by hand: a few parents (rocksalt, antifluorite, spinel, perovskite),
each in a few small supercells chosen for the orderings that occur in real compounds
(alpha-NaFeO2's (111) layers, the rocksalt-ordered double perovskite, spinel's
octahedral 1:3 order of LiFe5O8, antifluorite's cation/vacancy order of Li5FeO4). On
one cation sublattice of a supercell two cations (and vacancies, in antifluorite) are
placed in every charge-balanced proportion (oxidation.classify); orderings equivalent
under the supercell's symmetry are counted once (canonical form over spglib's
operations), and the DERIVATIVES_PER_COMPOSITION lowest in Ewald energy are kept.
What it cannot find: orderings in other or larger supercells (Li5FeO4's real 80-atom
Pbca cell), and derivatives of other parents.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pymatgen.core import Lattice, Structure

from matwidgets.engine.candidates import Candidate, _prescale
from matwidgets.engine.oxidation import ANIONS, classify

DERIVATIVES_PER_COMPOSITION = 2  # lowest-Ewald orderings kept per parent cell and composition
MAX_ORDERINGS = 5000  # decorations tried per sublattice and composition (the cells here stay far below)
PLACEHOLDER = {"A": "Na", "B": "Mg", "X": "Cl"}  # sublattice roles while building the parents
FCC = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])  # fcc primitive vectors, units of the cubic a
# supercell vectors (rows, units of the cubic a): alternating (111) cation planes of fcc
# (alpha-NaFeO2), the cubic cell, and the fcc superlattice of a simple-cubic B site (double perovskite)
FCC_L11 = np.array([[1, 1, 0], [1, -1, 0], [1, 0, 1]]) @ FCC
CUBIC = np.eye(3)
SC_TO_FCC = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]])
FCC_T = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]  # the fcc translations of a cubic cell


def _shifted(role: str, shift: Sequence[float]) -> list[tuple[str, list[float]]]:
    return [(role, [(t + d) % 1.0 for t, d in zip(tr, shift)]) for tr in FCC_T]


# name: (cubic a, [(role, coords)] of the cubic cell or None for the library's spinel, {supercell: vectors}, vacancies);
# written out rather than built with Structure.from_spacegroup, whose space-group set-up costs ~0.5 s a parent
PARENTS = {
    "rocksalt": (4.2, _shifted("A", [0, 0, 0]) + _shifted("X", [0.5, 0.5, 0.5]), {"(111) layers": FCC_L11, "cubic": CUBIC}, False),
    "antifluorite": (4.6, _shifted("X", [0, 0, 0]) + _shifted("A", [0.25] * 3) + _shifted("A", [0.75] * 3), {"cubic": CUBIC}, True),
    "spinel": (8.3, None, {"primitive": None}, False),  # the AFLOW MgAl2O4 cell (14 atoms): Mg -> A, Al -> B, O -> X
    "perovskite": (3.9, [("A", [0, 0, 0]), ("B", [0.5, 0.5, 0.5]), ("X", [0.5, 0.5, 0]), ("X", [0.5, 0, 0.5]), ("X", [0, 0.5, 0.5])],
                   {"double": SC_TO_FCC}, False),
}
SPINEL = "A2BC4_cF56_227_d_a_e"


def _recell(conventional: Structure, vectors: np.ndarray) -> Structure:
    """The same crystal in the cell spanned by ``vectors`` (Cartesian rows, Å): every image
    of the conventional sites folded into it, duplicates dropped."""
    big = conventional.make_supercell([3, 3, 3], in_place=False)
    lat = Lattice(vectors)
    frac = lat.get_fractional_coords(big.cart_coords) % 1.0
    frac = np.where(frac > 1 - 1e-6, 0.0, frac)
    keep, species = [], []
    for f, sp in zip(frac, big.species):
        if not any(np.abs((f - g + 0.5) % 1.0 - 0.5).max() < 1e-4 for g in keep):
            keep.append(f)
            species.append(sp)
    return Structure(lat, species, keep)


@lru_cache(maxsize=16)
def _cell(parent: str, supercell: str) -> tuple[Structure, tuple[str, ...], np.ndarray]:
    """(supercell with placeholder species, role per site, [n_ops, n_sites] site permutations of its symmetry)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from matwidgets.engine.candidates import _library

    a, sites, cells, _ = PARENTS[parent]
    if sites is None:
        s0 = next(st for tags, st in _library() if tags.get("aflow") == SPINEL)
        s = s0.copy()
        s.replace_species({"Mg": PLACEHOLDER["A"], "Al": PLACEHOLDER["B"], "O": PLACEHOLDER["X"]})
    else:
        conv = Structure(Lattice.cubic(a), [PLACEHOLDER[r] for r, _ in sites], [c for _, c in sites])
        s = _recell(conv, a * np.asarray(cells[supercell], dtype=float))
    roles = tuple(next(r for r, el in PLACEHOLDER.items() if el == sp.symbol) for sp in s.species)
    frac = s.frac_coords % 1.0
    perms = []
    for op in SpacegroupAnalyzer(s, symprec=1e-3).get_symmetry_operations():
        image = op.operate_multi(frac) % 1.0
        diff = np.abs(((image[:, None, :] - frac[None, :, :]) + 0.5) % 1.0 - 0.5).max(axis=2)  # [n, n]
        perms.append(tuple(int(k) for k in diff.argmin(axis=1)))
    return s, roles, np.array(sorted(set(perms)))


def _canonical(labels: Sequence[str], perms: np.ndarray) -> bytes:
    """The smallest relabelling of ``labels`` under the [n_ops, n_sites] symmetry permutations:
    equal for equivalent orderings."""
    codes = {lab: k for k, lab in enumerate(sorted(set(labels)))}
    arr = np.array([codes[lab] for lab in labels], dtype=np.int8)
    return min(map(bytes, arr[perms]))  # [n_ops, n_sites] relabelled rows, compared as bytes


@lru_cache(maxsize=1024)
def _oxidation_states(formula: str) -> dict[str, float] | None:
    from pymatgen.core import Composition

    guesses = Composition(formula).oxi_state_guesses(max_sites=-50)
    return dict(guesses[0]) if guesses else None


def _ewald(structure: Structure) -> float:
    """Ewald energy per atom with pymatgen's average oxidation states (inf when none fit)."""
    from pymatgen.analysis.ewald import EwaldSummation

    states = _oxidation_states(structure.composition.reduced_formula)
    if states is None:  # no guess for this composition: ranked last, kept only if nothing better
        return float("inf")
    s = structure.copy()
    s.add_oxidation_state_by_element(states)
    return float(EwaldSummation(s).total_energy) / len(structure)


def derivative_candidates(elements: Sequence[str], max_atoms: int = 40) -> list[Candidate]:
    """Charge-balanced orderings of two of the system's cations (and vacancies) on one cation
    sublattice of each parent in PARENTS, the other sublattices filled with one cation each."""
    cations = [e for e in elements if e not in ANIONS]
    anions = [e for e in elements if e in ANIONS]
    out: list[Candidate] = []
    for parent, (_, _, cells, vacancies) in PARENTS.items():
        for cell_name in cells:
            s0, roles, perms = _cell(parent, cell_name)
            if len(s0) > max_atoms:
                continue
            out += _orderings(parent, cell_name, s0, roles, perms, cations, anions, vacancies)
    return out


def _orderings(parent, cell_name, s0, roles, perms, cations, anions, vacancies) -> list[Candidate]:
    sublattices = sorted(set(roles) - {"X"})
    out = []
    for mixed in sublattices:
        others = [r for r in sublattices if r != mixed]
        mixed_sites = [k for k, r in enumerate(roles) if r == mixed]
        for x, (c1, c2), fill in itertools.product(anions, itertools.combinations(cations, 2), itertools.product(cations, repeat=len(others))):
            base = {"X": x, **dict(zip(others, fill))}
            options = [c1, c2] + (["vac"] if vacancies else [])
            best: dict[str, list] = {}
            for counts in _splits(len(mixed_sites), len(options)):
                seen = set()
                for n_tried, combo in enumerate(_arrangements(options, counts)):
                    if n_tried >= MAX_ORDERINGS:
                        break
                    labels = [base.get(r, "") for r in roles]
                    for k, lab in zip(mixed_sites, combo):
                        labels[k] = lab
                    key = _canonical(labels, perms)
                    if key in seen:
                        continue
                    seen.add(key)
                    kept = [k for k, lab in enumerate(labels) if lab != "vac"]
                    symbols = [labels[k] for k in kept]
                    charges = classify(symbols)
                    if charges is None or charges.kind not in ("ionic", "oxidation"):
                        break  # every ordering of these counts has this composition
                    s = Structure(s0.lattice, symbols, s0.frac_coords[kept])
                    best.setdefault(s.composition.reduced_formula, []).append((_ewald(s), s, charges))
            for formula, rows in best.items():
                rows.sort(key=lambda r: r[0])
                for e, s, charges in rows[:DERIVATIVES_PER_COMPOSITION]:
                    meta = {"parent": parent, "supercell": cell_name, "mixed_sublattice": mixed, "charges": charges.kind}
                    if charges.note:
                        meta["oxidation"] = charges.note
                    out.append(Candidate(_prescale(s), "derivative", f"{parent} ({cell_name}) ordering", meta))
    return out


def _splits(m: int, k: int):
    """Counts (n_1..n_k) summing to m with the first two >= 1 (both cations present)."""
    for counts in itertools.product(range(m + 1), repeat=k):
        if sum(counts) == m and counts[0] >= 1 and counts[1] >= 1:
            yield counts


def _arrangements(options: Sequence[str], counts: Sequence[int]):
    """Every placement of counts[i] copies of options[i] on sum(counts) sites."""
    m = sum(counts)
    if len(options) == 2:
        for pos in itertools.combinations(range(m), counts[0]):
            labels = [options[1]] * m
            for p in pos:
                labels[p] = options[0]
            yield labels
        return
    for pos0 in itertools.combinations(range(m), counts[0]):
        rest = [k for k in range(m) if k not in pos0]
        for pos1 in itertools.combinations(rest, counts[1]):
            labels = [options[2]] * m
            for p in pos0:
                labels[p] = options[0]
            for p in pos1:
                labels[p] = options[1]
            yield labels
