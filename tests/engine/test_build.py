"""Builder operations against pymatgen equivalents."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

import matwidgets as mw
from matwidgets.engine import build


def test_search_prototypes_by_any_tag():
    assert any(t.get("mineral") == "Perovskite" or "Perovskite" in str(t.get("mineral")) for _, t in build.search_prototypes("perovskite"))
    assert any(t["pearson"] == "cF8" for _, t in build.search_prototypes("cF8"))
    assert any(t.get("strukturbericht") == "B1" for _, t in build.search_prototypes("B1"))
    label = build.search_prototypes("AB_cF8_225_a_b")[0][0]
    s = build.prototype(label, ["Mg", "O"])
    assert s.composition.reduced_formula == "MgO"
    with pytest.raises(ValueError, match="has 2 species"):
        build.prototype(label, ["Mg"])


def test_common_lattices_have_the_right_space_group():
    for name, els, number in [("fcc", ["Cu"], 225), ("bcc", ["Fe"], 229), ("diamond", ["Si"], 227), ("rocksalt", ["Na", "Cl"], 225),
                              ("perovskite", ["Sr", "Ti", "O"], 221), ("hcp", ["Mg"], 194), ("zincblende", ["Ga", "As"], 216),
                              ("wurtzite", ["Zn", "O"], 186), ("fluorite", ["Ca", "F"], 225), ("cscl", ["Cs", "Cl"], 221)]:
        s = build.common_lattice(name, els, 4.0 if name != "fluorite" else 5.5)
        assert SpacegroupAnalyzer(s).get_space_group_number() == number, name


def test_substitution_equals_pymatgen_and_orbit():
    s = build.common_lattice("perovskite", ["Sr", "Ti", "O"], 3.9)
    s = s.make_supercell([2, 1, 1], in_place=False)
    ours = build.substitute(s, [0], "Ba")
    ref = s.copy()
    ref.replace(0, "Ba")
    assert ours == ref
    all_sr = build.substitute(s, [0], "Ba", whole_orbit=True)
    assert all_sr.composition["Sr"] == 0 and all_sr.composition["Ba"] == 2


def test_supercell_and_lattice_edits_keep_crystal_system():
    s = build.common_lattice("rocksalt", ["Na", "Cl"], 5.64)
    assert build.supercell(s, [2, 2, 2]) == s.make_supercell([2, 2, 2], in_place=False)
    assert build.free_parameters(s) == ["a"]
    bigger = build.set_lattice(s, a=5.8)
    assert bigger.lattice.abc == pytest.approx((5.8, 5.8, 5.8)) and build.crystal_system(bigger) == "cubic"
    np.testing.assert_allclose(bigger.frac_coords, s.frac_coords)
    with pytest.raises(ValueError, match="cannot change on its own"):
        build.set_lattice(s, c=6.0)
    hcp = build.common_lattice("hcp", ["Mg"], 3.2)
    edited = build.set_lattice(hcp, a=3.3)
    assert edited.lattice.b == pytest.approx(3.3) and build.crystal_system(edited) == "hexagonal"
    strained = build.strain(s, 2.0)
    assert strained.volume == pytest.approx(s.volume * 1.02**3)


def test_invalid_edits_raise_clear_errors():
    s = build.common_lattice("rocksalt", ["Na", "Cl"], 5.64)
    with pytest.raises(mw.InvalidStructureError, match="overlap"):
        build.add_atom(s, "Na", [0.01, 0, 0])
    with pytest.raises(mw.InvalidStructureError, match="overlap"):
        build.set_lattice(s, a=1.0)
    with pytest.raises(mw.InvalidStructureError, match="empty"):
        build.remove_atoms(s, list(range(len(s))))
    with pytest.raises(ValueError, match="unknown element"):
        build.substitute(s, [0], "Xx")
