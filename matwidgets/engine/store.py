"""On-disk cache of computed results: one SQLite table in WAL mode.

One row per (candidate structure, model, settings) key, the key the table's primary
key, so a row is written once and rewritten in place (INSERT OR REPLACE), never
duplicated. WAL mode lets two notebooks read and write the same file at once (readers
never block the writer); a chunk is written in one transaction, so a process killed in
the middle (even with SIGKILL) leaves the rows of earlier chunks and none of its own,
and the next run computes only what is missing. Failed candidates are stored too,
with their error and the stage that failed, so they are reported rather than silently
recomputed or dropped; hull.py stores only failures of the candidate itself (physics).
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


_SCHEMA = """CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, status TEXT NOT NULL, energy REAL, structure TEXT, error TEXT, stage TEXT, meta TEXT)"""


def _encode(structure) -> str | None:
    if structure is None:
        return None
    return json.dumps({"lattice": structure.lattice.matrix.tolist(), "species": [str(sp) for sp in structure.species],
                       "frac": structure.frac_coords.tolist()})


def _decode(text: str | None):
    if text is None:
        return None
    from pymatgen.core import Lattice, Structure

    d = json.loads(text)
    return Structure(Lattice(d["lattice"]), d["species"], d["frac"])


class ResultStore:
    """Relaxed structures and energies keyed by ``structure_key`` (SQLite, WAL mode)."""

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 60.0):
        import sqlite3

        self.path = Path(path) if path is not None else cache_dir() / "results.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        # this connection sets up the file; every read and write opens its own (threads that
        # share a store then never share a transaction or a read snapshot)
        self.db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")  # persistent in the file: every connection uses it
        self.db.execute(_SCHEMA)

    @property
    def journal_mode(self) -> str:
        return self.db.execute("PRAGMA journal_mode").fetchone()[0]

    def get(self, key: str) -> dict | None:
        """{"status", "energy", "structure", "error", "stage", "meta"} or None when absent."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """The rows present for ``keys`` (queried in slices below SQLite's variable limit)."""
        out = {}
        keys = list(dict.fromkeys(keys))
        db = self._connect()  # its own connection: a read never sees another thread's open snapshot
        try:
            rows = []
            for k in range(0, len(keys), 500):
                part = keys[k:k + 500]
                rows += db.execute(f"SELECT key, status, energy, structure, error, stage, meta FROM results WHERE key IN ({','.join('?' * len(part))})",
                                   part).fetchall()
        finally:
            db.close()
        for key, status, energy, structure, error, stage, meta in rows:
            out[key] = {"status": status, "energy": energy, "structure": _decode(structure) if status == "ok" else None,
                        "error": error, "stage": stage, "meta": json.loads(meta or "{}")}
        return out

    def put_many(self, results: list[tuple]) -> None:
        """Write (key, status, structure, energy, error, meta[, stage]) rows in one transaction.

        Each call writes through its own short-lived connection: threads sharing this store
        (a widget's main run, its search and its add) never share a transaction."""
        if not results:
            return
        rows = []
        for row in results:
            key, status, structure, energy, error, meta = row[:6]
            stage = row[6] if len(row) > 6 else (meta or {}).get("stage")
            rows.append((key, status, None if energy is None else float(energy), _encode(structure), error, stage, json.dumps(meta or {})))
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO results (key, status, energy, structure, error, stage, meta) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _connect(self):
        import sqlite3

        # isolation_level=None: the transaction is ours (BEGIN IMMEDIATE); the timeout waits for
        # another process's write instead of failing with "database is locked"
        db = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most the last commits, never consistency
        return db

    def __len__(self) -> int:
        db = self._connect()
        try:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        finally:
            db.close()

    def close(self) -> None:
        self.db.close()
