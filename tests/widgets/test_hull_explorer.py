"""HullExplorer, Python side: plot groups, threshold, click -> selected, add, export."""

from __future__ import annotations

import re

import numpy as np
import pytest
from plotly.callbacks import Points
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

import matwidgets as mw
from matwidgets.engine.store import ResultStore


def rocksalt(a, species=("Na", "Cl")):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def entries_li_o():
    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    o2 = Structure(Lattice.cubic(12), ["O", "O"], [[0, 0, 0], [0.1, 0, 0]])
    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.62), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    li2o2 = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.14, 7.65), ["Li", "Li", "O"], [[0, 0, 0.25], [1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, 0.85]])
    lio2 = rocksalt(4.5, ("Li", "O"))
    lio2.replace_species({"Li": "Li"})
    return [(li, -1.9 * 2), (o2, -4.9 * 2), (li2o, -4.95 * 12), (li2o2, 4.6 * -8), (lio2, -3.2 * 8)]


def test_plot_click_selects_and_threshold_filters():
    ex = mw.HullExplorer(entries_li_o(), threshold=1.0)
    assert ex.job.wait(30) and ex.result is not None
    stable_trace, unstable_trace = ex.figure.data[0], ex.figure.data[1]
    assert stable_trace.name == "stable"
    n_unstable = len(unstable_trace.x)
    assert n_unstable >= 1
    # click the first stable point
    seen = []
    ex.observe(lambda ch: seen.append(ch["new"]), "selected")
    k = int(np.argmin(stable_trace.y))  # the most negative formation energy
    ex._on_click(stable_trace, Points(point_inds=[k], trace_name="stable", trace_index=0), None)
    assert seen and seen[-1].composition.reduced_formula == "Li2O"
    assert ex.view.n_atoms == len(seen[-1].structure)
    assert "Li2O" in ex.info.value and "on the hull" in ex.info.value
    ex.threshold.value = 0.0
    assert len(ex.figure.data[1].x) == 0  # unstable points hidden, nothing recomputed
    ex.threshold.value = 1.0
    assert len(ex.figure.data[1].x) == n_unstable


def test_add_candidate_and_export(tmp_path):
    ex = mw.HullExplorer(entries_li_o(), model=mw.LennardJones(0.02, 2.0, 6.0))
    ex.job.wait(30)
    out = ex.add(rocksalt(4.2, ("Li", "O")), name="my LiO")
    assert set(out) == {"entry", "e_above_hull", "e_form", "reaction"}
    assert ex.selected is out["entry"] and out["entry"] in ex.result.entries
    path = ex.to_html(tmp_path / "hull.html")
    text = open(path).read()
    # offline: no script is fetched from anywhere (the inlined plotly.js itself mentions cdn.plot.ly)
    assert re.search(r"<script[^>]*\ssrc=", text) is None
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # plotly.js is inlined
    assert "Li2O" in text  # and the plot holds the hull's entries
    cifs = ex.write_cifs(tmp_path / "cifs")
    assert len(cifs) == len([e for e in ex.result.stable_entries if hasattr(e, "structure")])
    assert set(ex.to_dataframe().formula) >= {"Li2O", "Li", "O2"}


def test_progress_from_chemsys_and_failures(tmp_path):
    from tests.engine.test_hull import Counting, small_candidates

    ex = mw.HullExplorer(["Na", "Cl"], model=Counting(), candidates=small_candidates(), store=ResultStore(tmp_path / "r.db"), steps=30)
    assert ex.job.wait(60)
    assert ex.progress.value == ex.progress.max == 5
    assert "1 failed" in ex.status.value
    assert len(ex.figure.data) >= 3


def test_more_than_four_elements_gets_a_table():
    els = ["Li", "Na", "K", "Rb", "Cs"]
    entries = [ComputedEntry(Composition(e), -1.0) for e in els] + [ComputedEntry(Composition("LiNaKRbCs"), -7.0)]
    ex = mw.HullExplorer(entries)
    ex.job.wait(30)
    assert Composition("LiNaKRbCs").reduced_formula in ex.table.value and len(ex.figure.data) == 0


def test_bad_chemsys():
    with pytest.raises(mw.InvalidChemsysError, match="Xx"):
        mw.HullExplorer("Li-Xx-O")
