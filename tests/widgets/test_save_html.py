"""save_html writes one offline page for any widget: every visible view's state, no network script."""

from __future__ import annotations

import json
import re

import ipywidgets as W
import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.widgets.periodic_table import PeriodicTable


def nacl() -> Structure:
    return Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def specs(text: str, kind: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(rf"<script type='application/x-matwidgets-{kind}'>(.*?)</script>", text, re.S)]


def test_a_builder_page_holds_its_views_and_controls(tmp_path):
    builder = mw.StructureBuilder(nacl(), model=mw.LennardJones())
    text = mw.save_html(builder, tmp_path / "b.html").read_text()
    views = specs(text, "view")
    assert {v["esm"] for v in views} >= {"mw-esm-StructureView", "mw-esm-PeriodicTable"}
    sv = next(v for v in views if v["esm"] == "mw-esm-StructureView")
    assert "positions" in sv["binary"] and sv["state"]["species"] == {"11": "Na", "17": "Cl"}
    assert re.search(r"<script[^>]+src=", text) is None and "https://" not in text.split("<script type='text/plain'")[0]
    assert "<button disabled>" in text  # the builder's buttons, drawn without a kernel


def test_hidden_widgets_are_left_out_and_text_is_escaped(tmp_path):
    hidden = PeriodicTable(layout=W.Layout(display="none"))
    box = W.VBox([W.Label("<b>not html</b>"), W.HTML("<i>html</i>"), hidden, mw.StructureView(nacl())])
    text = mw.save_html(box, tmp_path / "p.html").read_text()
    assert [v["esm"] for v in specs(text, "view")] == ["mw-esm-StructureView"]
    assert "&lt;b&gt;not html&lt;/b&gt;" in text and "<i>html</i>" in text


def test_bad_input(tmp_path):
    with pytest.raises(TypeError, match="needs a widget"):
        mw.save_html(nacl(), tmp_path / "x.html")
    with pytest.raises(FileNotFoundError):
        mw.save_html(mw.StructureView(nacl()), tmp_path / "missing" / "x.html")
