"""Hull candidates: prototypes by substitution and the elemental references.

Offline candidates come from pymatgen's AFLOW prototype library plus the peroxide
prototypes it lacks (EXTRA_PROTOTYPES), every species of a prototype given any of the
system's elements (two species may get the same one: MgAl2O4 spinel -> Fe3O4, CaTiO3
perovskite -> Fe4N), kept when oxidation.py finds a charge assignment (or the compound
is sub-valent or intermetallic). Ordered derivatives (derivatives.py) and random search
(search.py) add more. Each candidate's ``source`` says where it came from: "prototype",
"oxidation" (kept only thanks to mixed valence or a polyanion), "subvalent",
"derivative", "search", "user", "molecule" (an elemental reference). Every element gets
one set of reference candidates (``reference_candidates``), used alike by the hull and
by the PropertyPanel's formation energies, so the two always agree: the small unary
prototypes, the element's known ground state when it is a large cell (alpha-Mn,
alpha-B, alpha-S, ...), or, for diatomic gases and halogens, the molecule in a box.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from matwidgets.engine.oxidation import ANIONS, anion_bonds, classify, prototype_bonds, set_polyanion_bonds  # noqa: F401 (ANIONS: re-exported)

SOURCES = ("prototype", "oxidation", "subvalent", "derivative", "search", "user", "molecule")
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
# Peroxide / superoxide prototypes missing from pymatgen's AFLOW library (which has pyrite
# and marcasite, but neither of these): (tags, space group, lattice, species, Wyckoff sites)
EXTRA_PROTOTYPES = [
    # Li2O2 (Foeppl structure; Cota et al., J. Phys. Chem. C 2009): O2 pairs along c, 1.55 Å
    ({"aflow": "A2B2_hP8_194_ac_f", "mineral": "Li2O2 (peroxide)", "pearson": "hP8"}, "P6_3/mmc",
     Lattice.hexagonal(3.142, 7.650), ["Li", "Li", "O"], [[0, 0, 0], [1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, 0.85]]),
    # CaC2 type (BaO2, SrO2, KO2): dumbbells along c on the body-centred tetragonal cell
    ({"aflow": "A2B_tI6_139_e_a", "mineral": "CaC2 (BaO2 peroxide, KO2 superoxide)", "pearson": "tI6"}, "I4/mmm",
     Lattice.tetragonal(3.81, 6.84), ["Ba", "O"], [[0, 0, 0], [0, 0, 0.391]]),
]


@dataclass
class Candidate:
    structure: Structure
    source: str  # one of SOURCES
    label: str  # AFLOW label, mineral or user name
    meta: dict = field(default_factory=dict)


def source_counts(candidates: Sequence[Candidate]) -> dict[str, int]:
    """{source: number of candidates} in SOURCES order (sources with none left out)."""
    n = Counter(c.source for c in candidates)
    return {k: n[k] for k in sorted(n, key=lambda k: SOURCES.index(k) if k in SOURCES else len(SOURCES))}


def _prescale(s: Structure, bonds: Sequence = ()) -> Structure:
    """Scale the cell so the closest pair sits at the sum of covalent radii (no overlaps).

    Pairs in ``bonds`` (polyanion pairs, shorter than any contact by nature) are left out
    of the choice; ``set_polyanion_bonds`` gives them their own length afterwards."""
    from ase.data import covalent_radii

    if len(s) == 1:
        d = min(s.lattice.abc)
        target = 2 * covalent_radii[s.species[0].Z]
    else:
        dm = s.distance_matrix + np.eye(len(s)) * 1e9
        for i, j, _ in bonds:
            dm[i, j] = dm[j, i] = 1e9
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
def _aflow_library() -> list[tuple[dict, Structure]]:
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


@lru_cache(maxsize=1)
def _library() -> list[tuple[dict, Structure]]:
    """The AFLOW prototypes and the few we add (EXTRA_PROTOTYPES)."""
    extra = [(tags, Structure.from_spacegroup(spg, lat, species, coords)) for tags, spg, lat, species, coords in EXTRA_PROTOTYPES]
    return _aflow_library() + extra


@lru_cache(maxsize=512)
def _bonds(index: int) -> list:
    """Polyanion bonds of library prototype ``index`` in its own geometry (oxidation.prototype_bonds)."""
    return prototype_bonds(_library()[index][1])


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
    """Substitute the system's elements into the AFLOW prototypes (and EXTRA_PROTOTYPES).

    Compounds: every prototype with 2..len(elements)+1 species and at most max_atoms sites,
    every assignment of the elements to its species giving at least two elements, where
    two species may share an element (spinel MgAl2O4 -> Fe3O4); kept when oxidation.classify
    finds a charge assignment, or the compound is sub-valent or intermetallic (the source
    says which). Elements: ``reference_candidates``.
    """
    elements = list(elements)
    if max_atoms < 1:
        raise ValueError(f"max_atoms must be >= 1, got {max_atoms}")
    out = [c for el in elements for c in reference_candidates(el)]
    seen: set = set()
    for index, (tags, s0) in enumerate(_library()):
        species = [el.symbol for el in s0.composition.elements]
        if not 1 < len(species) <= len(elements) + 1 or len(s0) > max_atoms:
            continue
        for combo in itertools.product(elements, repeat=len(species)):
            # at most two prototype species share an element: one collapse gives Fe3O4 and Fe4N,
            # more would mostly re-make smaller prototypes
            if len(set(combo)) < max(2, len(species) - 1):
                continue
            mapping = dict(zip(species, combo))
            site_species = tuple(mapping[sp.symbol] for sp in s0.species)
            key = (tags.get("aflow"), site_species)
            if key in seen:
                continue
            seen.add(key)
            cand = _decorated(tags, s0, index, mapping, site_species)
            if cand is not None:
                out.append(cand)
    return out


def _decorated(tags: dict, s0: Structure, index: int, mapping: dict[str, str], site_species: tuple[str, ...]) -> Candidate | None:
    """The prototype with ``mapping`` applied and pre-scaled, if oxidation.classify keeps it."""
    bonds = anion_bonds(site_species, _bonds(index))
    charges = classify(site_species, bonds)
    collapsed = len(set(site_species)) < len(set(s0.species))
    # a collapsed intermetallic mostly repeats what the binary prototypes already give, at a cost
    if charges is None or (collapsed and charges.kind == "intermetallic"):
        return None
    s = Structure(s0.lattice, list(site_species), s0.frac_coords)
    s = _prescale(s, bonds)
    if bonds:
        s = set_polyanion_bonds(s, bonds, charges.superoxide)
    source = {"oxidation": "oxidation", "subvalent": "subvalent"}.get(charges.kind, "prototype")
    meta = dict(tags, charges=charges.kind) | ({"oxidation": charges.note} if charges.note else {})
    return Candidate(s, source, tags.get("aflow", ""), meta)


def dimer(element: str, box: float = 12.0) -> Structure:
    """A diatomic molecule in a cubic box: 12 Å keeps periodic images beyond a 6 Å model cutoff."""
    d = DIMERS[element]
    return Structure(Lattice.cubic(box), [element, element], [[0, 0, 0], [d / box, 0, 0]], coords_are_cartesian=False)


