"""HullExplorer in JupyterLab: clicking a hull point reaches Python and shows the structure."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

SETUP = """
import matwidgets as mw
from tests.widgets.test_hull_explorer import entries_li_o
explorer = mw.HullExplorer(entries_li_o(), threshold=1.0)
await explorer.job.wait_async(30)
explorer
"""


def test_click_hull_point_selects_entry(open_notebook):
    nb = open_notebook("hull.ipynb", [SETUP])
    points = nb.page.locator(".js-plotly-plot .scatterlayer .trace").first.locator("path.point")
    points.first.wait_for(state="visible", timeout=60_000)
    n = points.count()
    assert n >= 3  # Li, O2, Li2O stable
    assert nb.kernel("print(explorer.selected)").strip() == "None"
    points.nth(1).click(force=True)
    nb.kernel_until("print(explorer.selected is not None)", "True")
    formula = nb.kernel("print(explorer.selected.composition.reduced_formula)").strip()
    assert formula in {"Li", "O2", "Li2O", "Li2O2", "LiO2"}
    assert nb.kernel("print(explorer.view.n_atoms == len(explorer.selected.structure))").strip() == "True"
    # the StructureView beside the plot rendered the structure
    nb.page.locator(".mw-sv canvas").first.wait_for(state="visible", timeout=20_000)
    assert formula in nb.page.locator(".jp-OutputArea-output").first.inner_text()
