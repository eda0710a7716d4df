"""%load_ext matwidgets / notebook_mode: which objects display as which widget, and what is left alone."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule
from IPython.core.interactiveshell import InteractiveShell
from ipywidgets.widgets.widget import _instances
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, IStructure, Lattice, Molecule, Structure

import matwidgets as mw
from matwidgets import notebook
from matwidgets.widgets.hull_explorer import HullExplorer
from matwidgets.widgets.structure_view import StructureView

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def shell(monkeypatch):
    """An IPython shell that looks like a Jupyter kernel (it has one), with our formatters off after."""
    ip = InteractiveShell.instance()
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    yield ip
    mw.notebook_mode(False)


def shown(ip, obj):
    """The widget ``obj`` displays as, or None when it stays text."""
    data, _ = ip.display_formatter.format(obj)
    return _instances[data[WIDGET]["model_id"]] if WIDGET in data else None


def nacl() -> Structure:
    return Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_off_by_default_and_outside_a_kernel(monkeypatch):
    ip = InteractiveShell.instance()
    monkeypatch.setattr(ip, "kernel", None, raising=False)
    assert mw.notebook_mode(True) is False  # a terminal/plain shell: nothing registered, text stays
    assert shown(ip, nacl()) is None


def test_structures_and_atoms_display_as_views(shell):
    assert mw.notebook_mode(True) is True
    s = nacl()
    for obj, n in [(s, 2), (IStructure.from_sites(s), 2), (bulk("Cu"), 1), (molecule("H2O"), 3),
                   (Molecule(["C", "O"], [[0, 0, 0], [0, 0, 1.13]]), 2)]:
        view = shown(shell, obj)
        assert isinstance(view, StructureView), type(obj)
        assert view.n_atoms == n
    np.testing.assert_allclose(shown(shell, s).structure.cart_coords, s.cart_coords, atol=1e-5)


def test_a_list_of_structures_plays_back_and_other_lists_stay_text(shell):
    mw.notebook_mode(True)
    frames = [nacl() for _ in range(3)]
    for k, f in enumerate(frames):
        f.translate_sites([0], [0.01 * k, 0, 0])
    view = shown(shell, frames)
    assert isinstance(view, StructureView) and view.n_frames == 3 and view.traj_frames == 3
    assert shown(shell, tuple(frames)).traj_frames == 3
    assert shown(shell, [1, 2, 3]) is None
    assert shown(shell, []) is None
    assert shown(shell, [nacl(), bulk("Cu")]) is None  # different atoms: not a trajectory
    assert shell.display_formatter.format([1, 2])[0]["text/plain"] == "[1, 2]"


def test_a_phase_diagram_opens_a_hull_explorer_over_its_entries(shell):
    mw.notebook_mode(True)
    entries = [PDEntry(Composition(c), e) for c, e in [("Li", -1.9), ("O2", -9.8), ("Li2O", -14.3), ("Li2O2", -19.0)]]
    explorer = shown(shell, PhaseDiagram(entries))
    assert isinstance(explorer, HullExplorer)
    assert explorer.job.wait(60) and explorer.result is not None
    assert sorted(e.composition.reduced_formula for e in explorer.entries) == ["Li", "Li2O", "Li2O2", "O2"]
    # the energies are the diagram's own, nothing recomputed: the same distances to the hull
    ours = {e.composition.reduced_formula: explorer.result.e_above_hull(e) for e in explorer.entries}
    theirs = {e.composition.reduced_formula: PhaseDiagram(entries).get_e_above_hull(e) for e in entries}
    assert ours == pytest.approx(theirs) and theirs["Li2O2"] > 0.01


def test_a_users_own_formatter_is_kept_and_unload_removes_only_ours(shell):
    html = shell.display_formatter.formatters["text/html"]
    mine = lambda s: "<b>mine</b>"  # noqa: E731
    html.for_type(Structure, mine)
    try:
        mw.notebook_mode(True)
        assert shown(shell, nacl()) is None
        assert shell.display_formatter.format(nacl())[0]["text/html"] == "<b>mine</b>"
        assert isinstance(shown(shell, bulk("Cu")), StructureView)  # the other types are ours
        mw.load_ipython_extension(shell)  # loading twice changes nothing
        mw.unload_ipython_extension(shell)
        assert shown(shell, bulk("Cu")) is None
        assert html.type_printers[Structure] is mine
        assert notebook._REGISTERED == {}
    finally:
        html.type_printers.pop(Structure, None)
