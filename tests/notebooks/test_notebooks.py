"""Every tutorial notebook executes end to end without errors."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


VIEW = "application/vnd.jupyter.widget-view+json"


def drawn(models: dict, model_id: str) -> int:
    """How many anywidget views and plotly figures the widget ``model_id`` holds, children included."""
    st = models.get(model_id, {}).get("state", {})
    own = int("_esm" in st or "_widget_data" in st)
    return own + sum(drawn(models, str(c).removeprefix("IPY_MODEL_")) for c in st.get("children", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # and converts to offline HTML (jupyter nbconvert --to html --template matwidgets): every
    # widget output becomes static HTML, no script comes from a CDN (the browser test opens one)
    from nbconvert import HTMLExporter

    models = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    # the 3D views and plots the outputs hold (a tqdm bar is a widget too, but plain controls)
    views = sum(drawn(models, o["data"][VIEW]["model_id"]) for c in nb.cells for o in c.get("outputs", []) if VIEW in o.get("data", {}))
    body, _ = HTMLExporter(template_name="matwidgets").from_notebook_node(nb)
    assert VIEW not in body
    assert not re.search(r"<script[^>]*\bsrc=", body)
    assert len(re.findall(r"<div id=[\"']mw-(?:view|plot)-", body)) >= views
