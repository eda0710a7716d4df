"""Packaging and repository rules: the engine layering ban (ruff), core dependencies,
no imports from pymatgen's private modules."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

needs_ruff = pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed (pip install -e '.[test]')")


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, input=stdin, capture_output=True, text=True, timeout=120)


@needs_ruff
def test_engine_layering_ban_passes():
    """DESIGN rule 1 through ruff's banned-api (TID251), configured in pyproject.toml."""
    out = ruff("check", "--select", "TID", "matwidgets")
    assert out.returncode == 0, out.stdout + out.stderr


@needs_ruff
@pytest.mark.parametrize("line", ["import plotly.graph_objects as go", "from ipywidgets import HBox", "from matwidgets.widgets import hull_plot"])
def test_engine_layering_ban_catches_widget_imports(line):
    """The rule is live for engine/ files and off elsewhere (checked on stdin, no file is touched)."""
    engine = ruff("check", "--select", "TID", "--stdin-filename", "matwidgets/engine/probe.py", "-", stdin=line + "\n")
    assert engine.returncode == 1 and "TID251" in engine.stdout, engine.stdout + engine.stderr
    widgets = ruff("check", "--select", "TID", "--stdin-filename", "matwidgets/widgets/probe.py", "-", stdin=line + "\n")
    assert widgets.returncode == 0, widgets.stdout + widgets.stderr


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def test_plain_install_has_every_feature():
    """`pip install matwidgets` with no extras: SHAP, nglview export, colour maps, torch-geometric."""
    core = _requirement_names(PYPROJECT["project"]["dependencies"])
    assert {"shap", "nglview", "matplotlib", "torch-geometric", "setuptools"} <= core
    assert "nglview==3.1.4" in PYPROJECT["project"]["dependencies"]
    assert PYPROJECT["project"]["license"] == "MIT"  # PEP 639 expression


# Owned elsewhere, to be fixed there: remove each from here once it imports AFLOW_PROTOTYPE_LIBRARY
# from pymatgen.analysis.prototypes (the public module) instead of its private _data.
PRIVATE_IMPORT_ALLOWED: set[str] = set()


def test_no_imports_from_private_pymatgen_modules():
    offenders = []
    for folder in ("matwidgets", "tools", "benchmarks", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if rel in PRIVATE_IMPORT_ALLOWED:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                for name in names:
                    if name.startswith("pymatgen") and any(part.startswith("_") for part in name.split(".")):
                        offenders.append(f"{rel}:{node.lineno}: {name}")
    assert not offenders, offenders


def test_docs_link_only_inside_the_repository():
    """README and docs/ point at files in this repository that exist, never outside it."""
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = doc.read_text()
        assert "../" not in text.replace(str(REPO), ""), f"{doc.name} points outside the repository"
        for target in re.findall(r"\]\(([^)#]+)", text):
            assert not re.match(r"[a-z]+://", target), f"{doc.name} links outside the repository: {target}"
            assert (doc.parent / target).resolve().is_relative_to(REPO), target
            assert (doc.parent / target).exists(), f"{doc.name} links to a missing file: {target}"
