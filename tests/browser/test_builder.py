"""StructureBuilder + PropertyPanel in JupyterLab: prototype, periodic-table substitution, panel update."""

from __future__ import annotations

import pytest

from tests.browser.harness import gallery

pytestmark = pytest.mark.browser

SETUP = """
import matwidgets as mw, ipywidgets as W
builder = mw.StructureBuilder()
panel = mw.PropertyPanel(builder, model=mw.LennardJones(0.01, 2.5, 6.0), references={"Ca": 0.0, "Sr": 0.0, "Ti": 0.0, "O": 0.0, "Ba": 0.0, "Na": 0.0, "Cl": 0.0})
W.HBox([builder, panel])
"""


def test_prototype_substitute_updates_view_and_panel(open_notebook):
    nb = open_notebook("builder.ipynb", [SETUP])
    page = nb.page
    page.locator(".mw-sv canvas").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function("document.body.innerText.includes('energy')", timeout=60_000)
    # pick a prototype by name through the UI
    page.get_by_placeholder("mineral, Pearson, Strukturbericht, AFLOW label").fill("perovskite")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1000)
    nb.kernel("builder.matches.value = next(v for k, v in builder.matches.options if 'cP5' in k)")
    page.get_by_role("button", name="Load prototype").click()
    assert nb.kernel_until("print(len(builder.structure))", "5") == "5"
    # select atom 0 (as a click in the view would) and an element in the periodic table
    nb.kernel("builder.view.selected = [0]")
    page.get_by_role("tab", name="Atoms").click()
    page.locator(".mw-element[data-symbol='Ba']").click()
    assert nb.kernel_until("print(builder.table.selected)", "Ba") == "Ba"
    formula_before = nb.kernel("print(builder.structure.composition.reduced_formula)").strip()
    page.get_by_role("button", name="Substitute picked").click()
    nb.kernel_until("print('Ba' in builder.structure.composition.reduced_formula)", "True")
    formula = nb.kernel("print(builder.structure.composition.reduced_formula)").strip()
    assert formula != formula_before and "Ba" in formula
    assert nb.kernel("print(sorted(builder.view.species.values()))").count("Ba") == 1
    page.wait_for_function(f"document.body.innerText.includes('{formula}')", timeout=30_000)  # the panel shows the new formula
    page.wait_for_function("document.body.innerText.includes('eV/atom') && document.body.innerText.includes('formation energy')", timeout=30_000)
    assert nb.kernel("print(panel.errors.outputs)").strip() == "()", "the panel shows an error"
    gallery(page.locator('.jp-OutputArea-output').first, "builder_and_panel")
