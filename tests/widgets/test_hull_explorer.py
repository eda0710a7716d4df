"""HullExplorer, Python side: plot groups, threshold, click -> selected, add, export."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from plotly.callbacks import Points
from pymatgen.core import Composition, Lattice, Structure
import ipywidgets as W
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

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


def trace(fig, name):
    return next(tr for tr in fig.data if tr.name == name)


def click(ex, name, k):
    tr = trace(ex.figure, name)
    ex._on_click(tr, Points(point_inds=[k], trace_name=name, trace_index=list(ex.figure.data).index(tr)), None)


def test_plot_click_selects_and_threshold_filters():
    ex = mw.HullExplorer(entries_li_o(), threshold=1.0)
    assert ex.job.wait(30) and ex.result is not None
    stable_trace, unstable_trace = trace(ex.figure, "stable"), trace(ex.figure, "above hull")
    n_unstable = len(unstable_trace.x)
    assert n_unstable >= 1
    # click the first stable point
    seen = []
    ex.observe(lambda ch: seen.append(ch["new"]), "selected")
    k = int(np.argmin(stable_trace.y))  # the most negative formation energy
    click(ex, "stable", k)
    assert seen and seen[-1].composition.reduced_formula == "Li2O"
    assert ex.view.n_atoms == len(seen[-1].structure)
    assert "Li2O" in ex.info.value and "on the hull" in ex.info.value
    ex.threshold.value = 0.0
    assert len(trace(ex.figure, "above hull").x) == 0  # unstable points hidden, nothing recomputed
    ex.threshold.value = 1000.0
    assert len(trace(ex.figure, "above hull").x) == n_unstable


def li2o_polymorph():
    """A second Li2O, 32 meV/atom above the fluorite one (same x on the plot)."""
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.75), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    s.perturb(0.05, min_distance=0.05)
    return s, (-4.95 + 0.032) * 12


def test_polymorphs_stable_on_top_listed_and_highlighted():
    ex = mw.HullExplorer(entries_li_o() + [li2o_polymorph()], threshold=0.1)
    assert ex.job.wait(30)
    names = [tr.name for tr in ex.figure.data]
    # plotly draws later traces on top and a click takes the top point: stable after unstable
    assert names.index("stable") > names.index("above hull")
    stable = trace(ex.figure, "stable")
    assert sorted(stable.text) == ["Li", "Li2O", "O2"]  # stable phases are labelled with their formula
    k = list(stable.text).index("Li2O")
    unstable = trace(ex.figure, "above hull")
    assert any(abs(x - stable.x[k]) < 1e-9 for x in unstable.x)  # the polymorph sits at the same x
    click(ex, "stable", k)
    assert ex.selected.composition.reduced_formula == "Li2O" and ex.result.e_above_hull(ex.selected) < 1e-9
    # the clicked point is ringed
    ring = trace(ex.figure, "selected")
    assert list(ring.x) == [stable.x[k]] and list(ring.y) == [stable.y[k]]
    # the side panel lists both polymorphs, lowest first; choosing the other selects it
    assert ex.polymorphs.layout.display != "none" and len(ex.polymorphs.options) == 2
    assert "0 meV/atom" in ex.polymorphs.options[0][0] and "32 meV/atom" in ex.polymorphs.options[1][0]
    ex.polymorphs.value = 1
    assert abs(ex.result.e_above_hull(ex.selected) - 0.032) < 1e-6 and "32.0 meV/atom" in ex.info.value
    ring = trace(ex.figure, "selected")
    j = [i for i, x in enumerate(unstable.x) if abs(x - stable.x[k]) < 1e-9][0]
    assert list(ring.y) == [unstable.y[j]]
    # a composition with one polymorph hides the menu
    click(ex, "stable", list(stable.text).index("Li"))
    assert ex.polymorphs.layout.display == "none"


def test_threshold_slider_is_in_mev_and_layout():
    ex = mw.HullExplorer(entries_li_o(), threshold=0.1)
    assert ex.job.wait(30)
    assert ex.threshold.value == 100 and ex.threshold_ev == 0.1
    labels = [w.value for w in ex.children[0].children if isinstance(w, W.Label)]
    assert "meV/atom" in labels
    n100 = len(trace(ex.figure, "above hull").x)
    ex.threshold.value = 1000
    assert len(trace(ex.figure, "above hull").x) > n100
    lay = ex.figure.layout
    # title on the left, legend on the right above the plot area: they do not overlap
    assert lay.title.xanchor == "left" and lay.legend.xanchor == "right" and lay.legend.yanchor == "bottom"
    assert "E_hull" in trace(ex.figure, "above hull").marker.colorbar.title.text
    assert "meV/atom" in trace(ex.figure, "above hull").marker.colorbar.title.text


def test_labels_relaxed_spacegroup_and_prototype():
    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    o2 = Structure(Lattice.cubic(12), ["O", "O"], [[0, 0, 0], [0.1, 0, 0]])
    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.62), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    entries = [
        ComputedStructureEntry(li, -3.8, entry_id="li", data={"source": "prototype", "label": "A_hP4_194_bc", "mineral": "Graphite"}),
        ComputedStructureEntry(o2, -9.8, entry_id="o2", data={"source": "molecule", "label": "O2 molecule"}),
        ComputedStructureEntry(li2o, -4.95 * 12, entry_id="li2o", data={"source": "prototype", "label": "A2B_cF12_225_c_a",
                                                                          "mineral": "Fluorite", "converged": False}),
    ]
    ex = mw.HullExplorer(entries)
    assert ex.job.wait(30)
    stable = trace(ex.figure, "stable")
    hover = stable.hovertext[list(stable.text).index("Li")]
    # the relaxed structure's space group next to where it started, in the hover and in the panel alike
    assert "Li Im-3m (relaxed)" in hover and "from the Graphite prototype (A_hP4_194_bc)" in hover
    click(ex, "stable", list(stable.text).index("Li"))
    assert "Li Im-3m (relaxed)" in ex.info.value and "from the Graphite prototype (A_hP4_194_bc)" in ex.info.value
    click(ex, "stable", list(stable.text).index("Li2O"))
    assert "Li2O Fm-3m (relaxed)" in ex.info.value and "not converged" in ex.info.value
    assert "not converged" in stable.hovertext[list(stable.text).index("Li2O")]


def test_points_drawn_as_they_arrive_with_provisional_references():
    """A cold run draws what it has: each element's lowest energy so far is its reference,
    compounds of an element with no reference yet wait, and the status says so."""
    from matwidgets.engine.hull import HullProgress

    li, o2, li2o, _, _ = [ComputedStructureEntry(s, e, entry_id=f"e{k}") for k, (s, e) in enumerate(entries_li_o())]
    li_high = ComputedStructureEntry(li.structure, -1.8 * 2, entry_id="li-high")  # a worse Li polymorph, first
    ex = mw.HullExplorer("Li-O", autostart=False)
    ex.job = Job(lambda: iter(()), lambda *a: None)  # a job still running
    ex._set_running(True)
    assert ex.stop_button.button_style == "danger" and not ex.stop_button.disabled
    ex._on_progress(ex.job, [HullProgress(1, 5, [li_high], [])])
    assert ex.count.value == "1 / 5 final" and ex.progress.value == 1 and ex.progress.max == 5
    stable = trace(ex.figure, "stable")
    assert list(stable.text) == ["Li"]  # not an empty plot
    assert "provisional" in ex.figure.layout.title.text and "provisional: references still relaxing" in ex.status.value
    assert "no reference for O yet" in ex.status.value
    ex._on_progress(ex.job, [HullProgress(2, 5, [li2o], []), HullProgress(2, 5, [], [])])  # Li2O waits for O
    assert "Li2O" not in "".join(trace(ex.figure, "stable").text) and len(trace(ex.figure, "above hull").x) == 0
    ex._on_progress(ex.job, [HullProgress(3, 5, [o2], [])])
    assert "Li2O" in trace(ex.figure, "stable").text
    e_prov = ex.result.formation_energy(li2o)  # against the provisional Li reference
    ex._on_progress(ex.job, [HullProgress(4, 5, [li], [])])  # the real Li ground state arrives later
    e_final = ex.result.formation_energy(li2o)
    assert e_final == pytest.approx(e_prov + 2 / 3 * 0.1)  # 2/3 Li, reference 0.1 eV/atom lower
    assert ex.result.e_above_hull(li_high) == pytest.approx(0.1)
    assert ex.count.value == "4 / 5 final"
    ex._set_running(False)
    assert ex.stop_button.disabled and ex.stop_button.button_style == ""  # a disabled Stop is not red


def test_steps_with_nothing_new_do_not_redraw(monkeypatch):
    from matwidgets.engine.hull import HullProgress

    ex = mw.HullExplorer(entries_li_o(), threshold=1.0)
    assert ex.job.wait(30)
    calls = []
    monkeypatch.setattr(ex, "_redraw", lambda: calls.append(1))
    ex._on_progress(ex.job, [HullProgress(3, 9, [], []), HullProgress(3, 9, [], [])])
    assert not calls and ex.count.value == "3 / 9 final"


def test_single_element_plots_polymorphs():
    from matwidgets.engine.hull import HullResult
    from matwidgets.widgets.hull_plot import hull_figure

    bcc = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    fcc = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.33), ["Li"], [[0, 0, 0]])
    entries = [ComputedStructureEntry(bcc, -1.90 * 2, entry_id="bcc"), ComputedStructureEntry(fcc, -1.88 * 4, entry_id="fcc")]
    fig, groups = hull_figure(HullResult(entries, [], ["Li"]), 0.1, ["Li"])
    assert [e.entry_id for e in groups["stable"]] == ["bcc"] and [e.entry_id for e in groups["above hull"]] == ["fcc"]
    assert list(trace(fig, "above hull").y) == pytest.approx([0.02])
    assert list(fig.layout.xaxis.ticktext) == ["Im-3m", "Fm-3m"]
    ex = mw.HullExplorer(entries)
    assert ex.job.wait(30) and ex.job.status == "done"
    assert "rebuilding" not in ex.status.value and len(trace(ex.figure, "stable").x) == 1
    click(ex, "above hull", 0)
    assert ex.selected.entry_id == "fcc" and "20.0 meV/atom" in ex.info.value


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
    ex.threshold.value = 500  # a redraw from the slider
    assert "redrawing the hull failed: plot broke" in ex.status.value
    ex2 = mw.HullExplorer(entries_li_o())  # rebuilds while the job delivers, and at its end
    assert ex2.job.wait(30) and ex2.job.status == "done"
    assert "rebuilding the hull failed: plot broke" in ex2.status.value and "broken_figure" in error_text(ex2)


def test_missing_references_are_said():
    li2o = next(s for s, e in entries_li_o() if s.composition.reduced_formula == "Li2O")
    ex = mw.HullExplorer([(li2o, -50.0)])
    assert ex.job.wait(30)
    assert ex.result is None and "no hull" in ex.status.value and "cannot build a hull" in ex.status.value


def test_points_refine_through_the_stages(tmp_path):
    """Staged screening in the explorer: one point per candidate that moves as it refines;
    the hover names the stage; the counts say how many were relaxed or screened out."""
    from tests.engine.test_hull_stages import KW, Counting, candidates

    ex = mw.HullExplorer(["Na", "Cl"], model=Counting(), candidates=candidates(), store=ResultStore(tmp_path / "r.db"),
                         window=0.05, threshold=1.0, **KW)
    sizes = []
    ex.figure.observe(lambda change: sizes.append(len(ex.entries)), names="_widget_data")  # every redraw
    assert ex.job.wait(120) and ex.job.status == "done"
    assert len(ex.entries) == 5 and all(n <= 5 for n in sizes)  # refined in place, never duplicated
    assert ex.stage_counts == {"relaxed": 3, "screened out": 2, "failed": 1}
    assert "3 relaxed" in ex.status.value and "2 screened out" in ex.status.value
    above = trace(ex.figure, "above hull")
    screened = [t for t in above.hovertext if "screened out" in t]
    assert len(screened) == 2 and all("upper bound" in t for t in screened)
    assert ex.count.value == "6 / 6 final"


def nacl_pairs():
    na = Structure.from_spacegroup("Im-3m", Lattice.cubic(4.2), ["Na"], [[0, 0, 0]])
    cl = Structure(Lattice.cubic(10), ["Cl", "Cl"], [[0, 0, 0], [0.2, 0, 0]])
    return [(na, -0.1 * 2), (cl, -0.1 * 2), (rocksalt(5.0), -0.3 * 8)]


def test_search_runs_in_a_job_and_counts_its_sources(tmp_path):
    ex = mw.HullExplorer(nacl_pairs(), model=mw.LennardJones(0.05, 2.3, 6.0), store=ResultStore(tmp_path / "r.sqlite"), steps=10)
    assert ex.job.wait(30)
    job = ex.search("NaCl", n=3)
    assert isinstance(job, Job) and job is ex.search_job and job.wait(120) and job.status == "done", job.error
    found = [e for e in ex.entries if e.data.get("source") == "search"]
    lost = [f for f in ex.failed if f.get("source") == "search"]
    assert found and len(found) + len(lost) == 3 and {e.composition.reduced_formula for e in found} <= {"NaCl"}
    assert ex.source_counts == {"search": len(found)} and f"search {len(found)}" in ex.sources.value
    assert f"{len(found)} of 3 trials on the plot" in ex.status.value and ex.searches == [{"formula": "NaCl", "n": 3, "seed": 0}]
    assert any(e in ex.result.entries for e in found)  # on the hull
    again = ex.search("NaCl", n=3)  # the next search has the next seed: new structures
    assert again.wait(120) and ex.searches[-1]["seed"] == 1
    keys = [e.entry_id for e in ex.entries if e.data.get("source") == "search"]
    assert len(keys) == len(set(keys))


def test_search_bad_input_is_refused_and_shown(tmp_path):
    ex = mw.HullExplorer(nacl_pairs(), model=mw.LennardJones(0.05, 2.3, 6.0))
    assert ex.job.wait(30)
    with pytest.raises(ValueError, match="budget for NaCl must be an integer >= 1"):
        ex.search("NaCl", n=0)
    with pytest.raises(mw.InvalidChemsysError, match="NaCl is not in the chemical system Li-O"):
        mw.HullExplorer("Li-O", autostart=False).search("NaCl")
    ex.search_formula.value, ex.search_n.value = "Xq2", 5
    ex.search_button.click()
    assert "random search failed: search: cannot read the formula" in ex.status.value and ex.search_job is None


def test_main_run_shows_candidates_per_source(tmp_path):
    from tests.engine.test_hull import Counting, small_candidates

    ex = mw.HullExplorer(["Na", "Cl"], model=Counting(), candidates=small_candidates(), store=ResultStore(tmp_path / "r.db"), steps=30)
    assert ex.job.wait(60)
    assert ex.source_counts == {"prototype": 5} and "prototype 5" in ex.sources.value
    assert "Still missing can be" in ex.missing.value


def test_stop_reaches_a_random_search(tmp_path):
    ex = mw.HullExplorer(nacl_pairs(), model=mw.LennardJones(0.05, 2.3, 6.0), store=ResultStore(tmp_path / "r.sqlite"), steps=500)
    assert ex.job.wait(30)
    assert ex.stop_button.disabled  # nothing runs
    job = ex.search("NaCl", n=200)
    assert not ex.stop_button.disabled and ex.stop_button.button_style == "danger"
    ex.stop()
    assert job.wait(120) and job.status == "cancelled"
    assert ex.stop_button.disabled


def test_correction_is_named_and_user_files_are_counted(tmp_path):
    from pymatgen.io.cif import CifWriter

    from tests.engine.test_hull import Counting, small_candidates

    CifWriter(rocksalt(5.4)).write_file(tmp_path / "mine.cif")
    ex = mw.HullExplorer(["Na", "Cl"], model=Counting(), candidates=small_candidates(), store=ResultStore(tmp_path / "r.db"), steps=30,
                         correction={"Cl": 0.1}, structures=tmp_path / "mine.cif")
    assert ex.job.wait(60) and ex.result is not None
    assert ex.source_counts == {"prototype": 5, "user": 1} and "user 1" in ex.sources.value
    assert "energy correction: elemental reference shifts Cl +0.100" in ex.status.value
    hovers = [h for tr in ex.figure.data for h in (tr.hovertext or [])]
    assert any("correction: elemental reference shifts Cl +0.100 (-0.050 eV/atom)" in h for h in hovers)  # NaCl: -x_Cl * 0.1
    with pytest.raises(TypeError, match="correction"):  # the keywords it forwards are named when one is wrong
        mw.HullExplorer(["Na", "Cl"], corection=None, autostart=False)


def test_correction_switches_in_place_from_the_menu(tmp_path):
    from tests.engine.test_hull import Counting, small_candidates

    ex = mw.HullExplorer(["Na", "Cl"], model=Counting(), candidates=small_candidates(), store=ResultStore(tmp_path / "r.db"), steps=30)
    assert ex.job.wait(60) and ex.result is not None
    assert ex.correction.value == "none (model energies)"
    n_calls = ex._model.calls

    def e_form():
        return {e.entry_id: ex.result.formation_energy(e) for e in ex.result.entries}

    raw = e_form()
    raw_energy = {e.entry_id: e.uncorrected_energy for e in ex.result.entries}
    ex.set_correction({"Cl": 0.1})  # each Cl atom's reference 0.1 eV higher: E_form(x_Cl) moves by -0.1 x_Cl
    shifted = e_form()
    assert set(shifted) == set(raw) and ex.correction.value == "your shifts"
    assert any(0 < e.composition.get_atomic_fraction("Cl") < 1 for e in ex.result.entries)  # compounds were moved
    for e in ex.result.entries:
        moved = 0.1 * e.composition.get_atomic_fraction("Cl") if len(e.composition.elements) > 1 else 0.0  # elements: none
        assert shifted[e.entry_id] == pytest.approx(raw[e.entry_id] - moved, abs=1e-9)
        assert e.uncorrected_energy == raw_energy[e.entry_id]  # the model's own energies kept
    assert "energy correction: elemental reference shifts Cl +0.100" in ex.status.value
    assert ex._model.calls == n_calls  # nothing recomputed
    ex.correction.value = "none (model energies)"  # from the menu: back to the model's energies
    assert e_form() == pytest.approx(raw)
    # an added candidate gets the correction in use, as the others have
    ex.set_correction({"Cl": 0.1})
    job = ex.add(rocksalt(5.5), name="mine")
    assert job.wait(60) and job.status == "done"
    added = ex.added[-1]["entry"]
    assert added.correction == pytest.approx(-0.1 * added.composition["Cl"])
    # a correction this model has none of: said in the widget, and the menu and hull stay as they were
    before = e_form()
    ex.correction.value = "fitted (FERE)"
    assert "switching the correction failed" in ex.status.value
    assert ex.correction.value == "your shifts" and e_form() == before


def test_entries_a_correction_rejects_are_failed_and_come_back(tmp_path, monkeypatch):
    from matwidgets.engine.corrections import Corrector
    from tests.engine.test_hull import Counting, small_candidates

    class Picky(Corrector):  # a scheme that rejects every compound (as MP2020 may reject an entry)
        def apply(self, entries):
            ok, bad = super().apply(entries)
            if self.correction == {"Na": 0.0}:
                return [e for e in ok if len(e.composition.elements) == 1], [e for e in ok if len(e.composition.elements) > 1]
            return ok, bad

    monkeypatch.setattr(hull_explorer, "Corrector", Picky)
    ex = mw.HullExplorer(["Na", "Cl"], model=Counting(), candidates=small_candidates(), store=ResultStore(tmp_path / "r.db"), steps=30)
    assert ex.job.wait(60) and ex.result is not None
    raw = {e.entry_id: ex.result.formation_energy(e) for e in ex.result.entries}
    n_compounds = sum(len(e.composition.elements) > 1 for e in ex.entries)
    n_failed = len(ex.failed)
    ex.set_correction({"Na": 0.0})
    assert all(len(e.composition.elements) == 1 for e in ex.entries)
    rejected = [f for f in ex.failed if "rejects this entry" in f["error"]]
    assert len(rejected) == n_compounds > 0 and len(ex.failed) == n_failed + n_compounds
    # a step of a run started under that scheme: its rejections are judged again by the new one
    from matwidgets.engine.hull_stages import HullProgress

    late = HullProgress(done=1, total=1, new_entries=[], new_failures=[dict(rejected[0])])
    ex.set_correction(None)
    assert len(ex.failed) == n_failed  # the rejected compounds are back, not failed twice
    assert {e.entry_id: ex.result.formation_energy(e) for e in ex.result.entries} == pytest.approx(raw)
    again = ex._recorrected(late)
    assert again.new_failures == [] and [e.entry_id for e in again.new_entries] == [rejected[0]["key"]]
    assert again.new_entries[0].data["correction"] == "none (raw model energies)"

    # a scheme that fails part way: nothing is lost, the menu and the hull stay
    class Broken(Corrector):
        def apply(self, entries):
            if self.correction == {"Na": 1.0}:
                raise RuntimeError("broken scheme")
            return super().apply(entries)

    monkeypatch.setattr(hull_explorer, "Corrector", Broken)
    compound = next(e for e in ex.result.entries if len(e.composition.elements) > 1)
    ex.select(compound)
    entries, failed = list(ex.entries), list(ex.failed)
    with pytest.raises(RuntimeError, match="broken scheme"):
        ex.set_correction({"Na": 1.0})
    assert ex.entries == entries and ex.failed == failed and ex._hull_kw["correction"] is None
    # the selected compound follows the switch: its corrected copy, with the new E_form in the panel
    ex.set_correction({"Na": 0.5})
    assert ex.selected is not compound and ex.selected.structure is compound.structure
    assert any(e is ex.selected for e in ex.result.entries)
    assert f"E_form = {ex.result.formation_energy(ex.selected):.3f}" in ex.info.value
    assert ex.result.formation_energy(ex.selected) == pytest.approx(
        raw[compound.entry_id] - 0.5 * compound.composition.get_atomic_fraction("Na"), abs=1e-9)
