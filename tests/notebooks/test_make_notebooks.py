"""The committed tutorial notebooks are exactly what tools/make_notebooks.py writes
(stable cell ids: regenerating them changes nothing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _make_notebooks():
    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "tools" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerated_notebooks_equal_committed(tmp_path):
    make = _make_notebooks()
    written = make.write_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    for path in written:
        committed = (REPO / "notebooks" / path.name).read_bytes()
        assert path.read_bytes() == committed, f"notebooks/{path.name} differs from tools/make_notebooks.py: run it and commit"


def test_cell_ids_are_stable_and_unique():
    make = _make_notebooks()
    for name, cells in make.NOTEBOOKS.items():
        first, second = make.build(name, cells), make.build(name, cells)
        ids = [c.id for c in first.cells]
        assert ids == [c.id for c in second.cells] and len(set(ids)) == len(ids)
