"""On-disk cache of computed results: SQLite through ase.db.

One row per (candidate structure, model, settings) key. SQLite commits are atomic,
so a crashed or cancelled run keeps every finished row and never a half-written
one; the next run skips what is there. Failed candidates are stored too, with
their error, so they are reported rather than silently recomputed or dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """$MATWIDGETS_CACHE, else the user cache directory (platformdirs)."""
    env = os.environ.get("MATWIDGETS_CACHE")
    if env:
        path = Path(env)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("matwidgets"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def structure_key(structure, *extra: object) -> str:
    """A stable hash of a structure (species, lattice, fractional coordinates) and settings."""
    frac = np.round(np.asarray(structure.frac_coords) % 1.0, 5) % 1.0
    data = {
        "species": [str(sp) for sp in structure.species],
        "lattice": np.round(structure.lattice.matrix, 5).tolist(),
        "frac": frac.tolist(),
        "extra": [str(x) for x in extra],
    }
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()


class ResultStore:
    """Relaxed structures and energies keyed by ``structure_key``."""

    def __init__(self, path: str | os.PathLike | None = None):
        import ase.db

        self.path = Path(path) if path is not None else cache_dir() / "results.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = ase.db.connect(str(self.path), type="db", append=True)

    def get(self, key: str) -> dict | None:
        """{"status", "energy", "structure", "error", "meta"} or None when absent."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """The rows present for ``keys``, read in one pass over the table (a warm hull
        looks up hundreds of candidates; one query each would dominate its time)."""
        from pymatgen.io.ase import AseAtomsAdaptor

        wanted = set(keys)
        out = {}
        for row in self.db.select():
            key = row.get("cache_key")
            if key not in wanted:
                continue
            data = row.data
            structure = AseAtomsAdaptor.get_structure(row.toatoms()) if row.status == "ok" else None
            out[key] = {"status": row.status, "energy": data.get("energy"), "structure": structure, "error": data.get("error"), "meta": data.get("meta", {})}
        return out

    def put_many(self, results: list[tuple[str, str, object, float | None, str | None, dict]]) -> None:
        """Write (key, status, structure, energy, error, meta) rows in one transaction."""
        from ase import Atoms
        from pymatgen.io.ase import AseAtomsAdaptor

        with self.db:
            for key, status, structure, energy, error, meta in results:
                atoms = AseAtomsAdaptor.get_atoms(structure) if structure is not None else Atoms()
                for old in list(self.db.select(cache_key=key)):
                    del self.db[old.id]
                self.db.write(atoms, cache_key=key, status=status, data={"energy": energy, "error": error, "meta": meta})

    def __len__(self) -> int:
        return self.db.count()
