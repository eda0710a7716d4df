"""DESIGN rule 1: engine/ never imports widget libraries, and jobs/threads stay out of it."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "matwidgets" / "engine"
BANNED = {"ipywidgets", "anywidget", "traitlets", "plotly", "threading", "matwidgets.widgets", "matwidgets.jobs"}


def test_engine_imports_no_widget_code():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if any(name == b or name.startswith(b + ".") for b in BANNED):
                    offenders.append(f"{path.name}: {name}")
    assert not offenders, offenders
