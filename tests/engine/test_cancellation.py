"""Every long engine generator can be stopped within one batch of model evaluations."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.explain import Attribution, iter_explain


class CountingLJ(mw.LennardJones):
    calls = 0

    def compute(self, batch, **kw):
        CountingLJ.calls += 1
        return super().compute(batch, **kw)


def test_kernel_shap_stops_inside_shaps_loop():
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    s.make_supercell([2, 1, 1])
    s.perturb(0.1)
    model = CountingLJ(0.0104, 3.4, 8.5)
    CountingLJ.calls = 0
    full = list(iter_explain(s, model, target="energy", method="kernel", n_samples=200))
    assert isinstance(full[-1], Attribution)
    complete = CountingLJ.calls

    CountingLJ.calls = 0
    stop = {"now": False}
    items = []
    for item in iter_explain(s, model, target="energy", method="kernel", n_samples=200, cancel=lambda: stop["now"]):
        items.append(item)
        stop["now"] = True  # the user presses Stop after the first progress report
    assert not any(isinstance(x, Attribution) for x in items)
    assert CountingLJ.calls < complete / 2, (CountingLJ.calls, complete)
