"""StructureMap: properties against ASE and pymatgen, PCA against scikit-learn, traits, selection, bad input."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import traitlets as t
from ase import Atoms
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

import matwidgets as mw
from matwidgets.engine.features import model_features, pca
from matwidgets.widgets.structure_map import MapPlot

LJ = mw.LennardJones(0.01, 2.5, 6.0)


def crystals():
    """Six small crystals of different formulas, densities and sizes (fresh copies)."""
    return [s.copy() for s in _crystals()]


@functools.cache
def _crystals():  # from_spacegroup takes ~0.5 s per call: build them once
    rs = lambda a, el: Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), el, [[0, 0, 0], [0.5, 0.5, 0.5]])  # noqa: E731
    cscl = Structure.from_spacegroup("Pm-3m", Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    return [rs(5.64, ["Na", "Cl"]), rs(5.0, ["Na", "Cl"]), rs(4.21, ["Mg", "O"]), cscl, si, rs(6.29, ["K", "Cl"])]


def f32(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def test_traits_synced_equal_keys_read_by_js():
    src = (Path(__file__).resolve().parents[2] / "js" / "src" / "structure_map.js").read_text()
    read = set(re.findall(r'\b(?:model|m)\.get\("(\w+)"\)', src)) | set(re.findall(r"change:(\w+)", src))
    synced = {name for name in MapPlot.class_trait_names(sync=True) if not name.startswith("_")}
    synced -= set(t.HasTraits.class_trait_names()) | {"layout", "tabbable", "tooltip", "keys", "log"}
    assert read == synced
    written = set(re.findall(r'model\.set\("(\w+)"', src))
    assert written == {"selection", "active"}  # JS writes back only interaction traits


def test_properties_match_ase_for_pymatgen_and_ase_input():
    ss = crystals()
    # plain ase.Atoms: the engine reads pymatgen's MSONAtoms subclass as a pymatgen object (a bug outside this widget)
    atoms = [Atoms(a.numbers, a.positions, cell=a.cell, pbc=True) for a in map(AseAtomsAdaptor.get_atoms, ss)]
    vol = [a.get_volume() / len(a) for a in atoms]
    dens = [a.get_masses().sum() / a.get_volume() * 1.66053906660 for a in atoms]  # amu/Å^3 -> g/cm^3
    for structures in (ss, atoms):
        m = mw.StructureMap(structures, "volume_per_atom", "density", color="n_atoms")
        np.testing.assert_allclose(m.properties["volume_per_atom"], vol, rtol=1e-12)
        np.testing.assert_allclose(m.properties["density"], dens, rtol=1e-4)  # pymatgen's and ASE's atomic masses differ slightly
        np.testing.assert_array_equal(m.properties["n_atoms"], [len(a) for a in atoms])
        # the arrays travel as float32 buffers, colour bar over n_atoms' range
        np.testing.assert_allclose(f32(m.plot.x), vol, rtol=1e-6)
        np.testing.assert_allclose(f32(m.plot.y), dens, rtol=1e-4)
        assert (m.plot.colorbar["vmin"], m.plot.colorbar["vmax"]) == (2, 8)
        assert m.plot.s == b""
        assert [m.plot.formulas[i] for i in np.frombuffer(m.plot.formula_index, "<i4")] == [s.composition.reduced_formula for s in ss]
        assert m.plot.labels["x"].startswith("volume per atom") and m.plot.labels["color"] == "atoms in the cell"


def test_user_arrays_and_show():
    ss = crystals()
    m = mw.StructureMap(ss, np.arange(6), "density", size=[1, 2, 3, 4, 5, 6], properties={"band_gap": [5, 4, 7, 6, 1, 4]})
    assert m.plot.labels["x"] == "x"
    np.testing.assert_array_equal(f32(m.plot.s), [1, 2, 3, 4, 5, 6])
    m.show(y="band_gap", color="band_gap")
    np.testing.assert_array_equal(f32(m.plot.y), [5, 4, 7, 6, 1, 4])
    np.testing.assert_array_equal(f32(m.plot.x), np.arange(6))  # kept
    assert m.plot.colorbar["vmin"] == 1 and m.plot.colorbar["vmax"] == 7
    m.show(color=False)
    assert m.plot.c == b"" and m.plot.colorbar == {}
    assert "band_gap" in m.property_names and "pca1" in m.property_names and "formula" not in m.property_names
    # the menus above the map: the array given as x is offered as "x"; picking a property plots it
    assert m.controls["x"].value == "x" and m.controls["color"].value == "(none)"
    assert {"x", "band_gap", "density", "volume_per_atom", "n_atoms"} <= set(m.controls["y"].options)
    m.controls["color"].value = "n_atoms"
    np.testing.assert_array_equal(f32(m.plot.c), [8, 8, 8, 2, 8, 8])
    assert m.plot.labels["color"] == "atoms in the cell"
    m.controls["x"].value = "volume_per_atom"
    np.testing.assert_allclose(f32(m.plot.x), [s.volume / len(s) for s in ss], rtol=1e-6)


def test_bad_input_names_the_problem():
    ss = crystals()
    with pytest.raises(ValueError, match="x has shape"):
        mw.StructureMap(ss, [1, 2, 3], "density")
    with pytest.raises(ValueError, match=r"properties\['gap'\] has shape"):
        mw.StructureMap(ss, "density", "density", properties={"gap": [1, 2]})
    with pytest.raises(ValueError, match="size has shape"):
        mw.StructureMap(ss, "density", "density", size=np.ones((6, 2)))
    with pytest.raises(ValueError, match="'formula' is not numeric"):
        mw.StructureMap(ss, "formula", "density")
    with pytest.raises(ValueError, match="unknown property 'densty'.*density"):
        mw.StructureMap(ss, "densty", "density")
    with pytest.raises(ValueError, match="at least one structure"):
        mw.StructureMap([], "density", "density")
    with pytest.raises(TypeError, match="structure 1 is a str"):
        mw.StructureMap([ss[0], "nope"], "density", "density")
    m = mw.StructureMap(ss, "density", "density")
    with pytest.raises(t.TraitError, match=r"\[6\] are out of range"):
        m.selected = [0, 6]


def test_selection_syncs_both_ways_and_click_shows_structure():
    ss = crystals()
    m = mw.StructureMap(ss, "volume_per_atom", "density")
    assert m.active == 0 and m.view.structure.composition.reduced_formula == "NaCl"
    seen = []
    m.observe(lambda c: seen.append(c["new"]), "selected")
    # the browser writes int32 bytes (they arrive as a memoryview): a lasso of 3 structures
    m.plot.set_state({"selection": memoryview(np.array([1, 3, 4], "<i4").tobytes())})
    assert m.selected == [1, 3, 4] and seen == [[1, 3, 4]]
    # Python sets the selection: the browser gets it as int32 bytes
    m.selected = [2]
    assert np.frombuffer(m.plot.selection, "<i4").tolist() == [2]
    # a click: the view beside the map shows that structure (Si, 8 atoms in the conventional cell)
    m.plot.set_state({"active": 4})
    assert m.active == 4
    assert m.view.n_atoms == 8 and m.view.structure.composition.reduced_formula == "Si"
    assert m.view.structure.lattice.a == pytest.approx(5.43)
    assert "#4 Si" in m.title.value


def test_pca_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)) @ rng.normal(size=(8, 8)) + 3.0
    ours = pca(x)
    ref = sklearn.PCA(n_components=2, svd_solver="full").fit_transform(x)
    for k in range(2):  # the same components up to each one's sign
        sign = np.sign(ours[:, k] @ ref[:, k])
        np.testing.assert_allclose(ours[:, k], sign * ref[:, k], atol=1e-9)
    with pytest.raises(ValueError, match="2-D"):
        pca(np.ones(5))


def test_model_pca_and_energy_agree_with_predict():
    sklearn = pytest.importorskip("sklearn.decomposition")
    ss = crystals()
    model = mw.SchNet()  # random weights are enough: features are features
    m = mw.StructureMap(ss, "pca1", "pca2", color="energy_per_atom", model=model)
    # features do not depend on how structures are batched: one at a time gives the same
    one_by_one = np.concatenate([model_features([s], model)[0] for s in ss])
    np.testing.assert_allclose(m.features, one_by_one, rtol=1e-5, atol=1e-6)
    ref = sklearn.PCA(n_components=2, svd_solver="full").fit_transform(one_by_one)
    for k, name in enumerate(("pca1", "pca2")):
        sign = np.sign(m.properties[name] @ ref[:, k])
        np.testing.assert_allclose(m.properties[name], sign * ref[:, k], rtol=1e-4, atol=1e-5)
    # the energies come from the same passes; predict() computes them its own way
    np.testing.assert_allclose(m.properties["energy_per_atom"], [p.energy_per_atom for p in mw.predict(ss, model)], rtol=1e-6)


def test_from_screen_and_from_hull():
    from pymatgen.analysis.phase_diagram import PhaseDiagram
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    from matwidgets.engine.hull import HullResult
    from matwidgets.engine.optimize import RelaxResult
    from tests.widgets.test_hull_explorer import entries_li_o

    ss = crystals()[:3]
    preds = mw.predict(ss, LJ)
    m = mw.StructureMap.from_screen(ss, preds)
    np.testing.assert_allclose(m.properties["energy_per_atom"], [p.energy / len(s) for p, s in zip(preds, ss)])
    np.testing.assert_allclose(m.properties["max_force"], [np.linalg.norm(p.forces, axis=1).max() for p in preds])
    # relaxation results: the relaxed structure is shown; a failed one is a NaN point
    shrunk = ss[0].copy()
    shrunk.scale_lattice(ss[0].volume * 0.9)
    results = [RelaxResult(shrunk, -8.0, True, 10, max_force=0.01), RelaxResult(ss[1], float("nan"), False, 0, error="boom"),
               RelaxResult(ss[2], -4.0, True, 5, max_force=0.02)]
    m = mw.StructureMap.from_screen(ss, results)
    np.testing.assert_allclose(m.properties["energy_per_atom"], [-1.0, np.nan, -0.5])
    assert m.properties["volume_per_atom"][0] == pytest.approx(ss[0].volume * 0.9 / 8)
    with pytest.raises(ValueError, match="results has 2 entries for 3 structures"):
        mw.StructureMap.from_screen(ss, results[:2])

    entries = [ComputedStructureEntry(s, e) for s, e in entries_li_o()]
    m = mw.StructureMap.from_hull(HullResult(entries))
    pd = PhaseDiagram(entries)
    np.testing.assert_allclose(m.properties["e_above_hull"], [pd.get_e_above_hull(e) for e in entries], atol=1e-9)
    np.testing.assert_allclose(m.properties["formation_energy"], [pd.get_form_energy_per_atom(e) for e in entries], atol=1e-9)
    assert m.plot.labels["y"] == "formation energy (eV/atom)"
    with pytest.raises(ValueError, match="HullResult or a HullExplorer"):
        mw.StructureMap.from_hull(object())
