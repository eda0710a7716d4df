"""ShapView, Python side: colours, bars, selector recompute, bar -> highlighted atoms."""

from __future__ import annotations

import numpy as np
from plotly.callbacks import Points
from pymatgen.core import Lattice, Structure

import matwidgets as mw


def test_shap_view_colours_bars_and_selection():
    s = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])
    sv = mw.ShapView(s, model=mw.LennardJones(0.01, 2.5, 6.0), target="energy")
    assert sv.job.wait(60) and sv.attribution is not None
    a = sv.attribution
    np.testing.assert_allclose(np.frombuffer(sv.view.values, "<f4"), a.per_atom(), rtol=1e-5, atol=1e-7)
    assert sv.view.colorbar["center"] == 0.0
    assert len(sv.bars.data[0].x) == 5
    sv._on_bar(sv.bars.data[0], Points(point_inds=[0], trace_name="", trace_index=0), None)
    assert sv.view.selected == sv._bar_players[0]
    sv.group.value = "orbit"  # recomputes
    assert sv.job.wait(60) and len(sv.attribution.players) == 3
    assert "residual" in sv.summary.value


def test_shap_view_error_is_shown():
    s = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])
    sv = mw.ShapView(s, model=mw.LennardJones(0.01, 2.5, 6.0), target="magmom")
    sv.job.wait(60)
    assert sv.job.status == "error" and "no magnetic moments" in sv.summary.value
    assert "Traceback" in "".join(o.get("text", "") for o in sv.errors.outputs)  # kept in the widget, not the log
