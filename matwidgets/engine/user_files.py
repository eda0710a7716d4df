"""The user's own structures as hull candidates: Structures, ASE Atoms, files, folders, ASE databases.

``iter_hull("Li-O", structures=...)`` adds them to the system's prototypes under the source
"user" (candidates.SOURCES), always fully relaxed. Readers are pymatgen's and ASE's own:
CIF (every data block, pymatgen's CifParser), POSCAR/CONTCAR/*.vasp and the other files
``Structure.from_file`` knows, ASE databases (.db, every row) and anything else
``ase.io.read`` reads (every frame of an extxyz or a trajectory). A folder means every
structure file directly in it (by name, see ``is_structure_file``; other files, such as a
README, are passed over). A file that cannot be read raises InvalidStructureError naming
it; structures with elements outside the chemical system are skipped with one warning
naming them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from matwidgets.engine.candidates import Candidate
from matwidgets.errors import InvalidStructureError

# names pymatgen reads by their stem (POSCAR, CONTCAR.relax, ...), and suffixes of structure files
VASP_NAMES = ("POSCAR", "CONTCAR")
# (not .json: pymatgen and ASE write different things under that name, and folders often hold metadata in it)
SUFFIXES = (".cif", ".mcif", ".vasp", ".poscar", ".db", ".xyz", ".extxyz", ".traj", ".xsf")


def is_structure_file(path: Path) -> bool:
    """A file a folder's scan picks up: a known suffix or a POSCAR/CONTCAR name (hidden files never)."""
    name = path.name
    return (not name.startswith(".") and path.is_file()
            and (path.suffix.lower() in SUFFIXES or any(name.upper().startswith(v) for v in VASP_NAMES)))


def read_structures(path: str | os.PathLike) -> list[tuple[Structure, str]]:
    """(structure, label) for every structure in a file or folder; InvalidStructureError naming
    the file that cannot be read (or the folder that holds none)."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_structure_file(p))
        if not files:
            raise InvalidStructureError(f"no structure files in folder {path} (looked for {', '.join(SUFFIXES)}, POSCAR*, CONTCAR*)")
        return [item for f in files for item in read_structures(f)]
    if not path.exists():
        raise InvalidStructureError(f"no such file or folder: {path}")
    try:
        items = _read_file(path)
    except Exception as err:  # noqa: BLE001 - every reader has its own errors; the message names the file
        raise InvalidStructureError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    if not items:
        raise InvalidStructureError(f"cannot read {path}: it holds no structure")
    for s, label in items:
        if not s.is_ordered:
            raise InvalidStructureError(f"{label}: the structure is disordered (partial occupancies): order it first, "
                                        "e.g. with pymatgen's OrderDisorderedStructureTransformation")
    return items


def _read_file(path: Path) -> list[tuple[Structure, str]]:
    from pymatgen.io.ase import AseAtomsAdaptor

    suffix = path.suffix.lower()
    if suffix in (".cif", ".mcif"):
        from pymatgen.io.cif import CifParser

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen warns on rounding of occupancies; a bad file raises anyway
            structures = CifParser(path).parse_structures(primitive=False)
        return _labelled(structures, path.name)
    if suffix == ".db":
        from ase.db import connect

        with connect(path) as db:
            return [(AseAtomsAdaptor.get_structure(row.toatoms()), f"{path.name} id={row.id}") for row in db.select()]
    if suffix in (".vasp", ".poscar") or any(path.name.upper().startswith(v) for v in VASP_NAMES):
        return [(Structure.from_file(path), path.name)]
    from ase.io import read

    frames = read(path, index=":")
    return _labelled([AseAtomsAdaptor.get_structure(a) for a in frames], path.name)


def _labelled(structures: Sequence[Structure], name: str) -> list[tuple[Structure, str]]:
    return [(s, name if len(structures) == 1 else f"{name} #{k}") for k, s in enumerate(structures)]


def user_candidates(structures: Any, elements: Iterable[str] | None = None) -> list[Candidate]:
    """Candidates (source "user") from a Structure, ASE Atoms, a path (file or folder) or a
    list of these; with ``elements``, those with other elements are skipped with a warning
    naming them."""
    from ase import Atoms
    from pymatgen.io.ase import AseAtomsAdaptor

    items = structures if isinstance(structures, (list, tuple)) else [structures]
    found: list[tuple[Structure, str, dict]] = []
    for k, item in enumerate(items):
        if isinstance(item, Structure):
            found.append((item, f"user {k}", {}))
        elif isinstance(item, Atoms):
            found.append((AseAtomsAdaptor.get_structure(item), f"user {k}", {}))
        elif isinstance(item, (str, os.PathLike)):
            found += [(s, label, {"file": str(item)}) for s, label in read_structures(item)]
        else:
            raise InvalidStructureError(f"structures item {k} is a {type(item).__name__}: pass Structures, ASE Atoms, "
                                        "file or folder paths (CIF, POSCAR, ASE .db, ...)")
    if elements is None:
        return [Candidate(s, "user", label, meta) for s, label, meta in found]
    allowed = set(elements)
    keep, outside = [], []
    for s, label, meta in found:
        (keep if {el.symbol for el in s.composition.elements} <= allowed else outside).append((s, label, meta))
    if outside:
        warnings.warn(f"skipped {len(outside)} user structure(s) outside the chemical system {'-'.join(elements)}: "
                      + ", ".join(f"{label} ({s.composition.reduced_formula})" for s, label, _ in outside), UserWarning, stacklevel=3)
    return [Candidate(s, "user", label, meta) for s, label, meta in keep]
