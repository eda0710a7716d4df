"""The AFLOW prototype library read through its pickle in the cache directory."""

from __future__ import annotations

import pymatgen.core

from matwidgets.engine import candidates


def test_pickled_library_equals_pymatgens_and_a_corrupt_file_is_rebuilt(tmp_path, monkeypatch):
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY

    monkeypatch.setenv("MATWIDGETS_CACHE", str(tmp_path))
    candidates._aflow_library.cache_clear()
    built = candidates._aflow_library()  # builds the pickle
    path = tmp_path / f"aflow-prototypes-pymatgen-{pymatgen.core.__version__}.pkl"
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))
    candidates._aflow_library.cache_clear()
    read = candidates._aflow_library()  # reads it back
    assert len(read) == len(built) == len(AFLOW_PROTOTYPE_LIBRARY)
    for (tags, s), ref in zip(read, AFLOW_PROTOTYPE_LIBRARY):
        assert tags == ref["tags"] and s == ref["snl"].structure
    path.write_bytes(b"not a pickle")  # a half-written or foreign file
    candidates._aflow_library.cache_clear()
    assert len(candidates._aflow_library()) == len(built)
    candidates._aflow_library.cache_clear()
