"""Candidate coverage: peroxides, superoxides, mixed valence, sub-valent compounds, sources."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Structure

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.candidates import SOURCES, prototype_candidates, source_counts
from matwidgets.engine.oxidation import classify, prototype_bonds


def formulas(cands, source=None):
    return {c.structure.composition.reduced_formula for c in cands if source is None or c.source == source}


def pair_distances(s: Structure, element: str) -> np.ndarray:
    """Each `element` atom's distance to its nearest `element` neighbour (periodic images included)."""
    out = []
    for i, site in enumerate(s):
        if site.specie.symbol == element:
            ds = [n.nn_distance for n in s.get_neighbors(site, 4.0) if n.specie.symbol == element]
            out.append(min(ds) if ds else np.inf)
    return np.array(out)


@pytest.mark.parametrize("chemsys,formula", [(["Li", "O"], "Li2O2"), (["Na", "O"], "Na2O2"), (["Ba", "O"], "BaO2")])
def test_peroxides_are_generated_with_o2_pairs_near_1_5_angstrom(chemsys, formula):
    cands = [c for c in prototype_candidates(chemsys, max_atoms=12) if c.structure.composition.reduced_formula == formula]
    assert cands, f"no {formula} candidate"
    peroxide = [c for c in cands if c.meta.get("oxidation") == "peroxide O2^2-"]
    assert peroxide and all(c.source == "oxidation" for c in peroxide)
    for c in peroxide:
        d = pair_distances(c.structure, "O")
        assert np.allclose(d, 1.49, atol=0.02), d  # every O sits in an O2^2- unit after pre-scaling
        o = [i for i, sp in enumerate(c.structure.species) if sp.symbol == "O"]
        metal = [i for i, sp in enumerate(c.structure.species) if sp.symbol != "O"]
        assert c.structure.distance_matrix[np.ix_(o, metal)].min() > 1.6  # metal-O contacts pre-scaled, not squeezed
    AtomsBatch.from_structures([c.structure for c in cands])


def test_superoxide_pairs_are_shorter():
    cands = [c for c in prototype_candidates(["K", "O"], max_atoms=12) if c.structure.composition.reduced_formula == "KO2"]
    sup = [c for c in cands if c.meta.get("oxidation") == "superoxide O2^-"]
    assert sup and all(np.allclose(pair_distances(c.structure, "O"), 1.33, atol=0.02) for c in sup)


def test_mixed_valence_spinel_fe3o4():
    cands = prototype_candidates(["Fe", "O"], max_atoms=14)
    spinel = [c for c in cands if c.label == "A2BC4_cF56_227_d_a_e" and c.structure.composition.reduced_formula == "Fe3O4"]
    assert len(spinel) == 1 and spinel[0].source == "oxidation" and spinel[0].meta["oxidation"] == "mixed valence"
    assert "FeO" in formulas(cands, "prototype") and "Fe2O3" in formulas(cands, "prototype")


@pytest.mark.parametrize("chemsys,formula", [(["Fe", "N"], "Fe4N"), (["Fe", "P"], "Fe2P"), (["Ti", "O"], "Ti2O")])
def test_subvalent_compounds_are_kept(chemsys, formula):
    cands = prototype_candidates(chemsys, max_atoms=12)
    assert formula in formulas(cands, "subvalent")
    assert not Composition(formula).oxi_state_guesses()  # the charge filter alone would have dropped it


def test_fe4n_antiperovskite_and_fe2p_prototype():
    fe4n = [c for c in prototype_candidates(["Fe", "N"], max_atoms=5) if c.label == "AB3C_cP5_221_a_c_b"]
    assert any(c.structure.composition.reduced_formula == "Fe4N" and c.structure[[i for i, s in enumerate(c.structure.species)
               if s.symbol == "N"][0]].frac_coords.tolist() == [0.5, 0.5, 0.5] for c in fe4n)  # N in the body centre
    assert any(c.label == "A2B_hP9_189_fg_bc" for c in prototype_candidates(["Fe", "P"], max_atoms=9)
               if c.structure.composition.reduced_formula == "Fe2P")


def test_charge_filter_still_rejects_nonsense():
    cands = prototype_candidates(["Li", "Fe", "O"], max_atoms=12)
    assert "LiO3" not in formulas(cands) and "Li4O" not in formulas(cands)
    assert "Li2O" in formulas(cands, "prototype") and "LiFeO2" in formulas(cands)
    assert classify(["Li", "Li", "Li", "Li", "O"]) is None  # alkali sub-oxide: no
    assert classify(["Ti", "Ti", "O"]).kind == "subvalent"
    assert classify(["Li", "Li", "O"]).kind == "ionic"
    assert classify(["Fe", "Fe", "Fe", "O", "O", "O", "O"]).kind == "oxidation"  # Fe2+ 2Fe3+
    for c in cands:
        assert c.source in SOURCES


def test_prototype_bonds_find_dimers_not_cation_contacts():
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert prototype_bonds(nacl) == []  # Na-Na (3.99 Å) is longer than Na-Cl
    pyrite = Structure.from_spacegroup("Pa-3", Lattice.cubic(5.42), ["Fe", "S"], [[0, 0, 0], [0.385, 0.385, 0.385]])
    bonds = prototype_bonds(pyrite)
    assert len(bonds) == 4 and all(pyrite.species[i].symbol == "S" for i, _, _ in bonds)  # 4 S2 pairs in the cell


def test_source_counts():
    cands = prototype_candidates(["Li", "O"], max_atoms=8)
    counts = source_counts(cands)
    assert sum(counts.values()) == len(cands) and list(counts) == [s for s in SOURCES if s in counts]
    assert counts["molecule"] == 1 and counts["oxidation"] >= 1


def test_max_atoms_below_one_is_an_error():
    with pytest.raises(ValueError, match="max_atoms must be >= 1"):
        prototype_candidates(["Li", "O"], max_atoms=0)


def test_chgnet_keeps_the_generated_li2o2_a_peroxide_on_the_hull(tmp_path):
    """Chemistry check: the generated Li2O2 relaxes to an O2^2- solid (O-O 1.55 Å in experiment)
    on the CHGNet hull, its formation energy near experiment (-6.57 eV per Li2O2 = -1.64 eV/atom)."""
    import matwidgets as mw
    from matwidgets.engine.candidates import Candidate, dimer
    from matwidgets.engine.hull import hull_for
    from matwidgets.engine.store import ResultStore

    cands = [c for c in prototype_candidates(["Li", "O"], max_atoms=8)
             if (c.label, c.structure.composition.reduced_formula) in {("A2B2_hP8_194_ac_f", "Li2O2"), ("AB2_cF12_225_a_c", "Li2O")}]
    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    cands += [Candidate(li, "prototype", "bcc"), Candidate(dimer("O"), "molecule", "O2")]
    res = hull_for("Li-O", mw.load_model("chgnet", device="cpu"), candidates=cands, store=ResultStore(tmp_path / "c.sqlite"))
    li2o2 = next(e for e in res.entries if e.composition.reduced_formula == "Li2O2")
    assert res.e_above_hull(li2o2) < 1e-6
    assert -1.9 < res.formation_energy(li2o2) < -1.4
    assert np.allclose(pair_distances(li2o2.structure, "O"), 1.55, atol=0.06)  # still peroxide pairs after relaxation


def test_oxyanions_and_anion_only_cells_follow_pymatgens_guess():
    """Several anion-forming elements (phosphates, nitrates, sulfates, P2O5): the less
    electronegative ones may be cations; nonsense stoichiometries stay out."""
    from pymatgen.core import Composition

    from matwidgets.engine.oxidation import classify

    def sites(formula):
        return [str(el) for el, n in Composition(formula).items() for _ in range(int(n))]

    for ok in ("Li3PO4", "LiNO3", "Li2SO4", "LiFePO4", "P2O5", "SO3"):
        assert classify(sites(ok)) is not None, ok
    for bad in ("PO7", "LiO3", "Li4O"):
        assert classify(sites(bad)) is None, bad
    assert classify(["O", "O"]).kind == "covalent"  # an element
