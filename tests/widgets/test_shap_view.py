"""ShapView, Python side: colours, bars, units, selector recompute, bar -> highlighted atoms."""

from __future__ import annotations

import numpy as np
import pytest
from plotly.callbacks import Points
from pymatgen.core import Lattice, Structure

import matwidgets as mw


def perovskite():
    return Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])


def lj():
    return mw.LennardJones(0.01, 2.5, 6.0)


def pts(k):
    return Points(point_inds=[k], trace_name="", trace_index=0)


def test_shap_view_colours_bars_and_selection():
    sv = mw.ShapView(perovskite(), model=lj(), target="energy")
    assert sv.job.wait(60) and sv.attribution is not None
    a = sv.attribution
    np.testing.assert_allclose(np.frombuffer(sv.view.values, "<f4"), a.per_atom(), rtol=1e-5, atol=1e-7)
    assert sv.view.colorbar["center"] == 0.0
    assert len(sv.bars.data[0].x) == 5
    sv._on_bar_click(sv.bars.data[0], pts(0), None)
    assert sv.view.selected == sv._bar_players[0]
    sv.group.value = "orbit"  # recomputes
    assert sv.job.wait(60) and len(sv.attribution.players) == 3
    assert "residual" in sv.summary.value


@pytest.mark.parametrize("target, unit", [("energy", "eV"), ("energy_per_atom", "eV/atom"), ("pressure", "GPa")])
def test_each_target_in_its_own_units(target, unit):
    sv = mw.ShapView(perovskite(), model=lj(), target=target)
    assert sv.job.wait(60) and sv.job.status == "done"
    assert sv.view.colorbar["label"].startswith(f"SHAP per atom, {unit}")
    assert sv.bars.layout.xaxis.title.text == f"SHAP value of {target} ({unit})"
    assert f"{sv.attribution.full_value:.4f} {unit}" in sv.summary.value


def test_orbit_mode_says_bars_are_totals_and_colours_per_atom():
    sv = mw.ShapView(perovskite(), model=lj(), target="energy", group="orbit")
    assert sv.job.wait(60)
    a = sv.attribution
    assert "orbit's total shared equally by its atoms" in sv.view.colorbar["label"]
    assert "orbit totals" in sv.bars.layout.title.text
    o = a.names.index(next(n for n in a.names if n.startswith("O")))
    # the bar is the orbit's total, the colour of each of its 3 atoms a third of it
    np.testing.assert_allclose(np.frombuffer(sv.view.values, "<f4")[a.players[o]], a.values[o] / 3, rtol=1e-5)


def test_no_stale_state():
    sv = mw.ShapView(perovskite(), model=lj(), target="energy")
    assert sv.job.wait(60)
    assert sv.progress.description == "done" and sv.progress.bar_style == "success"
    # hover highlights a bar's atoms only while the pointer is on it; a click stays
    sv._on_bar_hover(sv.bars.data[0], pts(1), None)
    assert sv.view.selected == sv._bar_players[1]
    sv._on_bar_unhover(sv.bars.data[0], pts(1), None)
    assert sv.view.selected == []
    sv._on_bar_click(sv.bars.data[0], pts(0), None)
    sv._on_bar_hover(sv.bars.data[0], pts(2), None)
    sv._on_bar_unhover(sv.bars.data[0], pts(2), None)
    assert sv.view.selected == sv._bar_players[0]
    # a new target: nothing of the old one (values in the tooltip, colours, bars) stays on show
    sv.target.value = "pressure"
    assert sv.progress.description == "computing…" and sv.view.values == b"" and sv.view.colorbar == {}
    assert len(sv.bars.data[0].x) == 0 and sv.view.selected == [] and sv.attribution is None
    assert sv.job.wait(60) and "GPa" in sv.view.colorbar["label"] and sv.progress.description == "done"


def test_default_is_formation_energy_against_model_references(monkeypatch):
    """The default target is E_form per atom against the engine's elemental references,
    which the job (not the kernel thread) asks for once."""
    import threading

    from matwidgets.engine import hull

    calls = []
    refs = {"Sr": -1.0, "Ti": -2.0, "O": -3.0}

    def fake_references(elements, model=None, **kw):
        calls.append((sorted(elements), model, threading.current_thread() is threading.main_thread()))
        return refs

    monkeypatch.setattr(hull, "elemental_references", fake_references)
    s, model = perovskite(), lj()
    sv = mw.ShapView(s, model=model)
    assert sv.target.value == "formation_energy"
    assert ("formation energy per atom", "formation_energy") in sv.target.options
    assert sv.progress.description == "references…"
    assert sv.job.wait(60) and sv.job.status == "done", sv.summary.value
    assert calls == [(["O", "Sr", "Ti"], model, False)]
    e_total = mw.predict([s], model)[0].energy
    expected = (e_total - sum(refs[site.specie.symbol] for site in s)) / len(s)
    assert sv.attribution.full_value == pytest.approx(expected, abs=1e-6)
    assert sv.attribution.values.sum() == pytest.approx(expected - sv.attribution.base_value, abs=1e-6)
    assert "eV/atom" in sv.view.colorbar["label"]
    # computed once: another grouping reuses them
    sv.group.value = "orbit"
    assert sv.progress.description == "computing…"
    assert sv.job.wait(60) and sv.attribution.full_value == pytest.approx(expected, abs=1e-6) and len(calls) == 1


def test_masker_explained():
    sv = mw.ShapView(perovskite(), model=lj(), target="energy", autostart=False)
    sv.compute()
    assert "deleted from the cell" in sv.masker_help.value
    sv.masker.value = "substitute"
    assert "replaced by a reference species (He)" in sv.masker_help.value
    sv.job.wait(60)


def test_shap_view_error_is_shown():
    sv = mw.ShapView(perovskite(), model=lj(), target="magmom")
    sv.job.wait(60)
    assert sv.job.status == "error" and "no magnetic moments" in sv.summary.value
    assert sv.progress.description == "failed"
    assert "Traceback" in "".join(o.get("text", "") for o in sv.errors.outputs)  # kept in the widget, not the log


def test_stop_acts_inside_kernel_shap():
    """Kernel SHAP yields nothing until shap returns: Stop must still end it within a batch."""

    class Stopping(mw.LennardJones):
        calls = 0
        view = None

        def compute(self, batch, **kw):
            Stopping.calls += 1
            if Stopping.calls == 3:
                Stopping.view.job.cancel()  # the user presses Stop mid-run
            return super().compute(batch, **kw)

    s = perovskite()
    s.make_supercell([2, 2, 1])  # 20 atoms: kernel SHAP
    model = Stopping(0.01, 2.5, 6.0)
    sv = mw.ShapView(s, model=model, target="energy", method="kernel", n_samples=2000, autostart=False)
    Stopping.view = sv
    job = sv.compute()
    assert job.wait(60)
    assert job.status == "cancelled" and sv.attribution is None
    assert Stopping.calls <= 4  # left within one batch (the full run takes 13 evaluations)
