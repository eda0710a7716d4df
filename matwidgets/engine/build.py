"""Building structures: prototypes, common lattices, and edits that keep symmetry constraints.

Pure pymatgen; every function returns a new Structure and never modifies its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from matwidgets.engine.atoms import AtomsBatch


def check(structure: Structure) -> Structure:
    """The structure itself if it can be simulated; InvalidStructureError naming why not."""
    AtomsBatch.from_structures(structure)
    return structure


@lru_cache(maxsize=1)
def _library() -> list[tuple[dict, Structure]]:
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY

    return [(dict(p["tags"]), p["snl"].structure) for p in AFLOW_PROTOTYPE_LIBRARY]


def search_prototypes(query: str, limit: int = 50) -> list[tuple[str, dict]]:
    """AFLOW prototypes whose mineral name, Pearson symbol, Strukturbericht designation,
    AFLOW label or formula contains ``query`` (case-insensitive): [(aflow label, tags)]."""
    q = query.strip().lower()
    out = []
    for tags, s in _library():
        fields = [tags.get("mineral", ""), tags.get("pearson", ""), tags.get("strukturbericht", ""), tags.get("aflow", ""),
                  s.composition.reduced_formula]
        if not q or any(q in str(f).lower() for f in fields):
            out.append((tags["aflow"], tags))
        if len(out) >= limit:
            break
    return out


def prototype(label: str, elements: Sequence[str] | None = None) -> Structure:
    """The prototype with this AFLOW label, its species replaced by ``elements`` in order."""
    for tags, s in _library():
        if tags.get("aflow") == label:
            s = s.copy()
            if elements:
                species = [el.symbol for el in s.composition.elements]
                if len(elements) != len(species):
                    raise ValueError(f"prototype {label} has {len(species)} species ({', '.join(species)}); got {len(elements)} elements")
                s.replace_species({Element(a): Element(b) for a, b in zip(species, elements)})
            return s
    raise ValueError(f"no AFLOW prototype with label {label!r}; search_prototypes() lists them")


# (space group, species count, Wyckoff positions) of common lattices; a is the cubic/hex a
LATTICES = {
    "fcc": ("Fm-3m", 1, [[0, 0, 0]]),
    "bcc": ("Im-3m", 1, [[0, 0, 0]]),
    "sc": ("Pm-3m", 1, [[0, 0, 0]]),
    "hcp": ("P6_3/mmc", 1, [[1 / 3, 2 / 3, 0.25]]),
    "diamond": ("Fd-3m", 1, [[0, 0, 0]]),
    "rocksalt": ("Fm-3m", 2, [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "cscl": ("Pm-3m", 2, [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "zincblende": ("F-43m", 2, [[0, 0, 0], [0.25, 0.25, 0.25]]),
    "wurtzite": ("P6_3mc", 2, [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.375]]),
    "fluorite": ("Fm-3m", 2, [[0, 0, 0], [0.25, 0.25, 0.25]]),
    "perovskite": ("Pm-3m", 3, [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]),
}


def common_lattice(name: str, elements: Sequence[str], a: float, c: float | None = None) -> Structure:
    """A common lattice: fcc, bcc, sc, hcp, diamond, rocksalt, cscl, zincblende, wurtzite, fluorite, perovskite."""
    key = name.lower()
    if key not in LATTICES:
        raise ValueError(f"unknown lattice {name!r}: use one of {', '.join(LATTICES)}")
    spg, n, coords = LATTICES[key]
    if len(elements) != n:
        raise ValueError(f"{name} needs {n} element(s), got {len(elements)}")
    hexagonal = key in ("hcp", "wurtzite")
    lattice = Lattice.hexagonal(a, c or a * np.sqrt(8 / 3)) if hexagonal else Lattice.cubic(a)
    return check(Structure.from_spacegroup(spg, lattice, list(elements), coords))


def crystal_system(structure: Structure) -> str:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(structure, symprec=0.01).get_crystal_system()
    except Exception:  # spglib gives up on some distorted cells: no constraint then
        return "triclinic"


def free_parameters(structure: Structure) -> list[str]:
    """Which of a, b, c, alpha, beta, gamma may change independently for its crystal system."""
    system = crystal_system(structure)
    la = structure.lattice
    if system == "cubic":
        return ["a"]
    if system in ("tetragonal", "hexagonal"):
        return ["a", "c"]
    if system == "trigonal":
        rhombohedral = np.allclose(la.abc, la.a, rtol=1e-4) and not np.allclose(la.angles, 90)
        return ["a", "alpha"] if rhombohedral else ["a", "c"]
    if system == "orthorhombic":
        return ["a", "b", "c"]
    if system == "monoclinic":
        angles = np.array(la.angles)
        unique = ["alpha", "beta", "gamma"][int(np.argmax(np.abs(angles - 90)))]
        return ["a", "b", "c", unique]
    return ["a", "b", "c", "alpha", "beta", "gamma"]


def set_lattice(structure: Structure, **params: float) -> Structure:
    """New lattice parameters, tied as the crystal system demands (cubic: a sets b and c).

    Fractional coordinates are kept. Setting a parameter the crystal system does not
    free raises ValueError naming the free ones.
    """
    free = free_parameters(structure)
    bad = [k for k in params if k not in free]
    if bad:
        raise ValueError(f"{', '.join(bad)} cannot change on its own in a {crystal_system(structure)} cell; free: {', '.join(free)}")
    la = structure.lattice
    p = dict(zip(["a", "b", "c", "alpha", "beta", "gamma"], [*la.abc, *la.angles]))
    p.update({k: float(v) for k, v in params.items()})
    if "a" in params:
        if free == ["a"] or free == ["a", "alpha"]:
            p["b"] = p["c"] = p["a"]
        elif free == ["a", "c"]:
            p["b"] = p["a"]
    if free == ["a", "alpha"] and "alpha" in params:
        p["beta"] = p["gamma"] = p["alpha"]
    new = Structure(Lattice.from_parameters(p["a"], p["b"], p["c"], p["alpha"], p["beta"], p["gamma"]), structure.species,
                    structure.frac_coords, site_properties=structure.site_properties)
    return check(new)


def orbit_of(structure: Structure, index: int) -> list[int]:
    """Indices of the atoms symmetry-equivalent to ``index`` (spglib)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    eq = SpacegroupAnalyzer(structure, symprec=0.01).get_symmetry_dataset().equivalent_atoms
    return [i for i in range(len(structure)) if eq[i] == eq[index]]


def substitute(structure: Structure, indices: Sequence[int], element: str, whole_orbit: bool = False) -> Structure:
    if not Element.is_valid_symbol(element):
        raise ValueError(f"unknown element {element!r}")
    if not indices:
        raise ValueError("no atoms selected to substitute")
    idx = set(indices)
    if whole_orbit:
        for i in list(idx):
            idx |= set(orbit_of(structure, i))
    out = structure.copy()
    for i in sorted(idx):
        out.replace(i, element)
    return check(out)


def remove_atoms(structure: Structure, indices: Sequence[int]) -> Structure:
    if not indices:
        raise ValueError("no atoms selected to remove")
    out = structure.copy()
    out.remove_sites(sorted(set(indices)))
    return check(out)


def add_atom(structure: Structure, element: str, frac_coords: Sequence[float]) -> Structure:
    out = structure.copy()
    out.append(element, list(frac_coords))
    return check(out)


def supercell(structure: Structure, scaling: Sequence[int]) -> Structure:
    if any(int(n) < 1 for n in scaling):
        raise ValueError(f"supercell multiples must be >= 1, got {list(scaling)}")
    return check(structure.make_supercell(list(scaling), in_place=False))


def rattle(structure: Structure, amplitude: float = 0.05, seed: int | None = None) -> Structure:
    """Random Gaussian displacements (Å, standard deviation per component)."""
    rng = np.random.default_rng(seed)
    out = Structure(structure.lattice, structure.species, structure.cart_coords + rng.normal(0, amplitude, (len(structure), 3)),
                    coords_are_cartesian=True)
    return check(out)


def strain(structure: Structure, percent: float, component: str = "iso") -> Structure:
    """Isotropic ("iso") or uniaxial ("a", "b", "c") strain in percent; atoms follow the cell."""
    eps = percent / 100
    if component == "iso":
        scale = np.full(3, 1 + eps)
    elif component in ("a", "b", "c"):
        scale = np.ones(3)
        scale["abc".index(component)] += eps
    else:
        raise ValueError(f"unknown strain component {component!r}: use 'iso', 'a', 'b' or 'c'")
    lattice = Lattice(structure.lattice.matrix * scale[:, None])
    return check(Structure(lattice, structure.species, structure.frac_coords))
