"""Every widget refuses an unknown keyword argument with a TypeError naming it, at construction."""

from __future__ import annotations

import ipywidgets as W
import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.widgets import hull_explorer, shap_view


def nacl():
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


LJ = mw.LennardJones(0.01, 2.5, 6.0)

# how to construct each widget, with extra keyword arguments
MAKE = {
    "StructureView": lambda **kw: mw.StructureView(nacl(), **kw),
    "StructureMap": lambda **kw: mw.StructureMap([nacl(), nacl()], "volume_per_atom", "density", **kw),
    "PeriodicTable": lambda **kw: mw.PeriodicTable(**kw),
    "StructureBuilder": lambda **kw: mw.StructureBuilder(**kw),
    "PropertyPanel": lambda **kw: mw.PropertyPanel(nacl(), model=LJ, **kw),
    "MDPlayer": lambda **kw: mw.MDPlayer(nacl(), model=LJ, **kw),
    "ShapView": lambda **kw: mw.ShapView(nacl(), model=LJ, autostart=False, **kw),
    "HullExplorer": lambda **kw: mw.HullExplorer("Li-Fe-O", model=LJ, **kw),
    "InverseDesigner": lambda **kw: mw.InverseDesigner(nacl(), model=LJ, **kw),
    "FineTuner": lambda **kw: mw.FineTuner(mw.Dataset([nacl(), nacl()], energy=[-6.5, -6.4]), model=mw.SchNet(), **kw),
}


def test_every_exported_widget_is_checked():
    widgets = {name for name in mw.__all__ if isinstance(getattr(mw, name), type) and issubclass(getattr(mw, name), W.Widget)}
    assert widgets == set(MAKE)


@pytest.fixture
def no_jobs(monkeypatch):
    """Fail if a widget starts background work before refusing its arguments."""
    started = []

    class NoJob:
        def __init__(self, *a, **k):
            started.append(a)

        def start(self):
            raise AssertionError("a job started before the arguments were checked")

    for module in (hull_explorer, shap_view):
        monkeypatch.setattr(module, "Job", NoJob)
    return started


@pytest.mark.parametrize("name", sorted(MAKE))
def test_unknown_keyword_is_a_type_error(name, no_jobs):
    with pytest.raises(TypeError, match="foo_typo"):
        MAKE[name](foo_typo=1)
    assert not no_jobs


def test_hull_keywords_are_checked_against_the_engine(no_jobs):
    with pytest.raises(TypeError, match="'stpes'.*steps"):  # names the typo and what is accepted
        mw.HullExplorer("Li-Fe-O", model=LJ, stpes=10)
    with pytest.raises(TypeError, match="'n_sample'"):
        mw.ShapView(nacl(), model=LJ, n_sample=10)
    assert not no_jobs
    mw.ShapView(nacl(), model=LJ, autostart=False, n_samples=10, seed=1)  # real engine keywords pass


def test_anywidgets_accept_their_traits_and_layout():
    view = mw.StructureView(nacl(), height=300, layout=W.Layout(width="200px"), repeat=[2, 1, 1])
    assert view.height == 300 and view.layout.width == "200px" and view.repeat == [2, 1, 1]
    assert mw.PeriodicTable(selected="Fe").selected == "Fe"
    with pytest.raises(TypeError, match="hieght"):
        mw.StructureView(nacl(), hieght=300)
