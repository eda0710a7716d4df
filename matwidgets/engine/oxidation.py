"""Which candidate compositions the hull keeps: oxidation-state assignments per structure.

A substituted prototype is kept when its atoms can carry oxidation states that sum to
zero. The check works per structure, not per formula, because the structure decides
what an anion is: an anion with k bonds to anions of its own element carries its most
negative common state plus k (the 8-N / Zintl rule), so the O of an O-O pair is -1
(peroxide O2^2-), an S of a pyrite S2 pair is -1, a P of a P2 pair -2. O2 pairs may also
be superoxide O2^- (-1/2 per O). Cations (every element not in ANIONS) take any of the
states pymatgen knows from the ICSD (``Element.icsd_oxidation_states``), atom by atom,
so mixed valence (Fe3O4 = Fe2+ 2 Fe3+ 4 O2-) is found.

Metal-rich compounds with no charge-balanced reading (Fe4N, Fe2P, Ti2O, Ca2N) are
kept as "subvalent": the charge filter is wrong for them, since their extra electrons
are metallic. They are kept when the metals cannot even reach their lowest positive
states and a transition metal is present or the anion is a pnictogen (N, P, As); an
alkali-rich oxide such as Li4O stays out. Only single-anion cells of at most SUBVALENT_MAX_ATOMS
sites with at most SUBVALENT_MAX_RATIO metal atoms per anion, and in ternaries only transition metals
(Fe3NiN, not LiFe2O), are kept: the rule is there for the known sub-valent families.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from pymatgen.core import Element, Structure

ANIONS = {"N", "P", "As", "O", "S", "Se", "Te", "F", "Cl", "Br", "I"}
PNICTOGENS = {"N", "P", "As"}
SUBVALENT_MAX_RATIO = 4  # metal atoms per anion in a sub-valent compound (Fe4N)
SUBVALENT_MAX_ATOMS = 12  # and sites per cell (Fe2P: 9): larger metal-rich cells are rare and costly to relax
BOND_FACTOR = 1.25  # a homonuclear pair closer than 1.25 x the covalent-radii sum is a bond (Li2O2's O-O is 1.16x)
# Bond lengths (Å) a polyanion pair is set to before relaxation: isotropic pre-scaling alone
# would squeeze or stretch the pair with the cation-anion contacts (Li2O2: O-O 1.55, NaO2: 1.33).
PEROXIDE_OO, SUPEROXIDE_OO = 1.49, 1.33


@dataclass(frozen=True)
class Charges:
    """How a candidate passed the filter: ``kind`` is "ionic" (one state per element),
    "oxidation" (mixed valence or a polyanion), "subvalent", or "intermetallic"."""

    kind: str
    note: str = ""
    superoxide: bool = False  # O2 pairs balanced only as O2^- (bond target SUPEROXIDE_OO)


def covalent_radius(symbol: str) -> float:
    from ase.data import covalent_radii

    return float(covalent_radii[Element(symbol).Z])


def prototype_bonds(structure: Structure) -> list[tuple[int, int, np.ndarray]]:
    """(i, j, image) for each same-species pair i < j that is a polyanion bond in the
    prototype's own geometry: closer than BOND_FACTOR x the covalent-radii sum and shorter
    than either atom's nearest contact with another species (pyrite's S2, CaC2's C2,
    Li2O2's O2; not the Na-Na of rocksalt, which is longer than Na-Cl). Taken from the
    prototype, not the substituted cell: a pre-scaled NaO2 pyrite has lost its O2 pairs."""
    symbols = [sp.symbol for sp in structure.species]
    rmax = max(covalent_radius(s) for s in set(symbols))
    centers, points, images, dists = structure.get_neighbor_list(2 * BOND_FACTOR * rmax + 2.0)
    hetero = np.full(len(symbols), np.inf)
    for i, j, d in zip(centers, points, dists):
        if symbols[i] != symbols[j]:
            hetero[i] = min(hetero[i], d)
    out = []
    for i, j, img, d in zip(centers, points, images, dists):
        if i < j and symbols[i] == symbols[j] and d < BOND_FACTOR * 2 * covalent_radius(symbols[i]) \
                and d < min(hetero[i], hetero[j]) - 0.01:
            out.append((int(i), int(j), np.asarray(img)))
    return out


def anion_bonds(species: Sequence[str], bonds: Sequence[tuple[int, int, np.ndarray]]) -> list[tuple[int, int, np.ndarray]]:
    """The prototype bonds whose two sites both became the same anion element."""
    return [(i, j, img) for i, j, img in bonds if species[i] == species[j] and species[i] in ANIONS]


def _cation_states(symbol: str) -> tuple[int, ...]:
    el = Element(symbol)
    states = tuple(sorted({s for s in (el.icsd_oxidation_states or el.common_oxidation_states) if s > 0}))
    return states


def _anion_state(symbol: str) -> int:
    return min(Element(symbol).common_oxidation_states)


@lru_cache(maxsize=65536)
def _reachable(states: tuple[int, ...], n: int) -> frozenset[int]:
    """Every total charge n atoms can carry, each atom taking any of ``states``."""
    sums = {0}
    for _ in range(n):
        sums = {s + q for s in sums for q in states}
    return frozenset(sums)


def _balanced(cations: dict[str, int], anion_charge: Fraction) -> tuple[bool, bool]:
    """(per-atom assignment exists, one state per element suffices) for cation counts that
    must carry -anion_charge in total."""
    need = -anion_charge
    if need.denominator != 1:
        return False, False
    need_i = int(need)
    totals = {0}
    for sym, n in cations.items():
        states = _cation_states(sym)
        if not states:
            return False, False
        totals = {t + s for t in totals for s in _reachable(states, n) if t + s <= need_i}
    any_ok = need_i in totals
    uniform = {0}
    for sym, n in cations.items():
        uniform = {t + n * q for t in uniform for q in _cation_states(sym)}
    return any_ok, need_i in uniform


@lru_cache(maxsize=4096)
def _guess_balanced(symbols: tuple[str, ...]) -> bool:
    from pymatgen.core import Composition

    comp = Composition(" ".join(symbols)).reduced_composition
    try:
        return bool(comp.oxi_state_guesses(max_sites=-50))
    except ValueError:  # too many sites to enumerate
        return False


def classify(symbols: Sequence[str], bonds: Sequence[tuple[int, int, np.ndarray]] = ()) -> Charges | None:
    """How a cell with these site symbols and homonuclear anion ``bonds`` (``anion_bonds``)
    is charge-balanced (see the module docstring), or None when it is not and the
    sub-valent rule does not keep it either."""
    symbols = list(symbols)
    present = set(symbols)
    if not present & ANIONS:
        return Charges("intermetallic")
    if len(present) == 1:
        return Charges("covalent")  # an element (O2, S8, black P)
    if present <= ANIONS or len(present & ANIONS) > 1:
        # several anion-forming elements (P2O5, SO3, Li3PO4, LiNO3): all but the most
        # electronegative may be cations, which the per-atom rule below does not know;
        # pymatgen's oxidation-state guess over the composition decides (as the filter did before)
        if _guess_balanced(tuple(sorted(symbols))):
            return Charges("oxidation", "oxyanion (pymatgen's oxidation-state guess)")
        if present <= ANIONS:
            return None
    nbond = [0] * len(symbols)
    for i, j, _ in bonds:
        nbond[i] += 1
        nbond[j] += 1
    cations: dict[str, int] = {}
    for s in symbols:
        if s not in ANIONS:
            cations[s] = cations.get(s, 0) + 1
    fixed = sum((Fraction(_anion_state(s) + nbond[k]) for k, s in enumerate(symbols) if s in ANIONS), Fraction(0))
    n_o2 = sum(1 for i, j, _ in bonds if symbols[i] == "O" and nbond[i] == nbond[j] == 1)
    polyanion = any(nbond[k] for k, s in enumerate(symbols) if s in ANIONS)
    ok, uniform = _balanced(cations, fixed)
    if ok:
        if polyanion:
            return Charges("oxidation", "peroxide O2^2-" if n_o2 else "polyanion (8-N rule)")
        return Charges("ionic") if uniform else Charges("oxidation", "mixed valence")
    if n_o2:  # every O2 pair as superoxide O2^-: one electron less per pair
        ok, _ = _balanced(cations, fixed + n_o2)
        if ok:
            return Charges("oxidation", "superoxide O2^-", superoxide=True)
    lowest = sum(n * _cation_states(s)[0] for s, n in cations.items() if _cation_states(s))
    n_anion = len(symbols) - sum(cations.values())
    # moderately metal-rich (Ti2O, Fe4N, Fe2P, Ti6O) with no alkali or alkaline-earth metal
    # in a ternary: beyond that the filter would let through hundreds of Fe13O3-like cells
    metal_rich = lowest > -fixed and not polyanion and sum(cations.values()) <= SUBVALENT_MAX_RATIO * n_anion \
        and len(symbols) <= SUBVALENT_MAX_ATOMS
    tm = all(Element(s).is_transition_metal for s in cations) if len(cations) > 1 else any(Element(s).is_transition_metal for s in cations)
    if metal_rich and len(present & ANIONS) == 1 and (tm or (len(cations) == 1 and present & PNICTOGENS)):
        return Charges("subvalent", "metal-rich: no charge-balanced reading")
    return None


def set_polyanion_bonds(structure: Structure, bonds: Sequence[tuple[int, int, np.ndarray]], superoxide: bool = False) -> Structure:
    """A copy with each homonuclear anion pair stretched or shrunk about its midpoint to its
    target length (O2: peroxide or superoxide; others: the covalent-radii sum). Moving both
    atoms along their axis keeps the space group."""
    out = structure.copy()
    cart = out.cart_coords.copy()
    lat = out.lattice.matrix
    nbond = np.bincount([k for i, j, _ in bonds for k in (i, j)], minlength=len(out))
    for i, j, img in bonds:
        if nbond[i] != 1 or nbond[j] != 1:  # chains and rings keep their prototype geometry
            continue
        el = out.species[i].symbol
        target = (SUPEROXIDE_OO if superoxide else PEROXIDE_OO) if el == "O" else 2 * covalent_radius(el)
        v = cart[j] + img @ lat - cart[i]
        d = float(np.linalg.norm(v))
        shift = 0.5 * (target - d) * v / d
        cart[i] -= shift
        cart[j] += shift
    return Structure(out.lattice, out.species, cart, coords_are_cartesian=True)
