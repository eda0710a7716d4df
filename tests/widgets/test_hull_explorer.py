"""HullExplorer, Python side: plot groups, threshold, click -> selected, add, export."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from plotly.callbacks import Points
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry

import matwidgets as mw
from matwidgets.engine.store import ResultStore
from matwidgets.jobs import Job
from matwidgets.widgets import hull_explorer


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
    job = ex.add(rocksalt(4.2, ("Li", "O")), name="my LiO")  # relaxes in a job: the kernel stays free
    assert isinstance(job, Job) and job.wait(60) and job.status == "done"
    out = ex.added[-1]
    assert set(out) == {"entry", "e_above_hull", "e_form", "reaction"}
    assert "added my LiO" in ex.status.value
    assert ex.selected is out["entry"] and out["entry"] in ex.result.entries
    path = ex.to_html(tmp_path / "hull.html")
    text = Path(path).read_text()
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


def error_text(widget) -> str:
    return "".join(o.get("text", "") for o in widget.errors.outputs)


def test_add_and_rebuild_failures_are_shown(monkeypatch):
    ex = mw.HullExplorer(entries_li_o(), model=mw.LennardJones(0.02, 2.0, 6.0))
    assert ex.job.wait(30)

    def broken_relax(*a, **k):
        raise RuntimeError("relaxation diverged")

    monkeypatch.setattr(hull_explorer, "relax", broken_relax)
    n = len(ex.entries)
    job = ex.add(rocksalt(4.2, ("Li", "O")), name="bad one")
    assert "relaxing bad one" in ex.status.value
    job.wait(30)
    assert job.status == "error" and "adding bad one failed: relaxation diverged" in ex.status.value
    assert "broken_relax" in error_text(ex) and len(ex.entries) == n and not ex.added

    def broken_figure(*a, **k):
        raise RuntimeError("plot broke")

    monkeypatch.setattr(hull_explorer, "hull_figure", broken_figure)
    ex.threshold.value = 0.5  # a redraw from the slider
    assert "redrawing the hull failed: plot broke" in ex.status.value
    ex2 = mw.HullExplorer(entries_li_o())  # rebuilds while the job delivers, and at its end
    assert ex2.job.wait(30) and ex2.job.status == "done"
    assert "rebuilding the hull failed: plot broke" in ex2.status.value and "broken_figure" in error_text(ex2)


def test_missing_references_are_said():
    li2o = next(s for s, e in entries_li_o() if s.composition.reduced_formula == "Li2O")
    ex = mw.HullExplorer([(li2o, -50.0)])
    assert ex.job.wait(30)
    assert ex.result is None and "no hull" in ex.status.value and "cannot build a hull" in ex.status.value
