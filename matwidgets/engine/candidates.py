"""Hull candidates: prototypes by substitution and the elemental references.

Offline candidates come from pymatgen's AFLOW prototype library. Every element gets
one set of reference candidates (``reference_candidates``), used alike by the hull and
by the PropertyPanel's formation energies, so the two always agree: the small unary
prototypes, the element's known ground state when it is a large cell (alpha-Mn,
alpha-B, alpha-S, ...), or, for diatomic gases and halogens, the molecule in a box.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure

ANIONS = {"N", "P", "As", "O", "S", "Se", "Te", "F", "Cl", "Br", "I"}
# Gases whose standard state is a diatomic molecule: the reference is the molecule in a
# box, not the element forced into a metal prototype (which would bias every formation energy).
DIMERS = {"H": 0.74, "N": 1.10, "O": 1.21, "F": 1.42, "Cl": 1.99, "Br": 2.28, "I": 2.67}
# Elements whose ground state is a large or unusual cell that small prototypes miss: without
# it the reference is too high and formation energies come out too negative (Mn by ~0.1 eV/atom).
# AFLOW labels of pymatgen's prototype library (primitive cells).
GROUND_STATES = {
    "Mn": "A_cI58_217_ac2g",  # alpha-Mn, 29 atoms
    "B": "A_hR12_166_2h",  # alpha-B, 12 atoms
    "S": "A_oF128_70_4h",  # alpha-S (S8 crowns), 32 atoms
    "P": "A_oC8_64_f",  # black P
    "Ga": "A_oC8_64_f",  # alpha-Ga (same Cmce prototype family)
    "Se": "A_hP3_152_a",  # trigonal Se
    "Te": "A_hP3_152_a",
    "U": "A_oC4_63_c",  # alpha-U
    "Np": "A_oP8_62_2c",  # alpha-Np
    "Pu": "A_mP16_11_8e",  # alpha-Pu
}
REFERENCE_MAX_ATOMS = 4  # every small unary prototype is tried for every element




@dataclass
class Candidate:
    structure: Structure
    source: str  # "prototype", "molecule", "user"
    label: str  # AFLOW label, mineral or user name
    meta: dict = field(default_factory=dict)


@lru_cache(maxsize=4096)
def _charge_balanced(formula: str) -> bool:
    comp = Composition(formula).reduced_composition
    try:
        return bool(comp.oxi_state_guesses(max_sites=-50))
    except ValueError:  # too many sites to enumerate: no common charge-balanced guess
        return False


def _prescale(s: Structure) -> Structure:
    """Scale the cell so the closest pair sits at the sum of covalent radii (no overlaps)."""
    from ase.data import covalent_radii

    if len(s) == 1:
        d = min(s.lattice.abc)
        target = 2 * covalent_radii[s.species[0].Z]
    else:
        dm = s.distance_matrix + np.eye(len(s)) * 1e9
        r = np.array([covalent_radii[sp.Z] for sp in s.species])
        ratio = dm / (r[:, None] + r[None, :])
        i, j = np.unravel_index(np.argmin(ratio), ratio.shape)
        d, target = dm[i, j], r[i] + r[j]
        # also consider an atom and its own periodic images
        d_self = min(s.lattice.abc)
        if d_self / (2 * r.max()) < ratio[i, j]:
            d, target = d_self, 2 * r.max()
    out = s.copy()
    out.scale_lattice(s.volume * (target / d) ** 3)
    return out


@lru_cache(maxsize=1)
def _library() -> list[tuple[dict, Structure]]:
    """pymatgen's AFLOW prototypes as (tags, structure), read through a pickle in the cache
    directory: importing the library validates 288 BibTeX records with pyparsing (~3 s),
    which was most of a warm hull's time."""
    import os
    import pickle

    import pymatgen.core

    from matwidgets.engine.store import cache_dir

    path = cache_dir() / f"aflow-prototypes-pymatgen-{pymatgen.core.__version__}.pkl"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        pass  # absent or unreadable: rebuild it
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY

    lib = [(p["tags"], p["snl"].structure) for p in AFLOW_PROTOTYPE_LIBRARY]
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(lib, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # atomic: another process reads the old file or the new one, never half
    return lib


def _substituted(tags: dict, s0: Structure, mapping: dict[str, str]) -> Candidate:
    s = s0.copy()
    s.replace_species({Element(k): Element(v) for k, v in mapping.items()})
    return Candidate(_prescale(s), "prototype", tags.get("aflow", ""), dict(tags))


def reference_candidates(element: str) -> list[Candidate]:
    """The candidates for an element's reference state (the same for the hull and the panel).

    Diatomic gases and halogens: the molecule in a box. Otherwise every unary prototype
    of at most REFERENCE_MAX_ATOMS sites plus the element's known ground state when that
    is a larger cell (GROUND_STATES).
    """
    if element in DIMERS:
        return [Candidate(dimer(element), "molecule", f"{element}2 molecule", {"mineral": f"{element}2 gas"})]
    out = []
    for tags, s0 in _library():
        species = s0.composition.elements
        if len(species) == 1 and (len(s0) <= REFERENCE_MAX_ATOMS or tags.get("aflow") == GROUND_STATES.get(element)):
            out.append(_substituted(tags, s0, {species[0].symbol: element}))
    return out


def prototype_candidates(elements: Sequence[str], max_atoms: int = 40) -> list[Candidate]:
    """Substitute the system's elements into pymatgen's AFLOW prototypes.

    Compounds: every prototype with 2..len(elements) species and at most max_atoms sites,
    every assignment of distinct elements to its species; compositions with an anion
    must have a charge-balanced oxidation-state guess. Elements: ``reference_candidates``.
    """
    elements = list(elements)
    has_anion = bool(ANIONS & set(elements))
    out = [c for el in elements for c in reference_candidates(el)]
    seen: set = set()
    for tags, s0 in _library():
        species = [el.symbol for el in s0.composition.elements]
        if not 1 < len(species) <= len(elements) or len(s0) > max_atoms:
            continue
        for combo in itertools.permutations(elements, len(species)):
            mapping = dict(zip(species, combo))
            formula = Composition({mapping[k]: v for k, v in s0.composition.get_el_amt_dict().items()}).formula
            if has_anion and ANIONS & set(combo) and not _charge_balanced(formula):
                continue
            key = (tags.get("aflow"), tuple(mapping[str(sp)] for sp in s0.species))
            if key in seen:
                continue
            seen.add(key)
            out.append(_substituted(tags, s0, mapping))
    return out


def dimer(element: str, box: float = 12.0) -> Structure:
    """A diatomic molecule in a cubic box: 12 Å keeps periodic images beyond a 6 Å model cutoff."""
    d = DIMERS[element]
    return Structure(Lattice.cubic(box), [element, element], [[0, 0, 0], [d / box, 0, 0]], coords_are_cartesian=False)


