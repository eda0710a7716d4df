"""Energy corrections on hull entries (engine/corrections.py) against pymatgen built by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
from pymatgen.entries.computed_entries import ComputedStructureEntry

import matwidgets as mw
from matwidgets.engine.candidates import Candidate
from matwidgets.engine.corrections import (Corrector, bundle_rows, bundled_shifts, check_correction, fit_element_shifts,
                                           mp_parameters)
from matwidgets.engine.hull import hull_for
from matwidgets.engine.store import ResultStore, structure_key


class Counting(mw.LennardJones):
    def __init__(self):
        super().__init__(epsilon=0.05, sigma=2.3, cutoff=6.0)
        self.calls = 0

    def compute(self, batch, **kw):
        self.calls += 1
        return super().compute(batch, **kw)


def fe_o_candidates():
    fe = Structure.from_spacegroup("Im-3m", Lattice.cubic(2.87), ["Fe"], [[0, 0, 0]])
    feo = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.3), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    o2 = Structure(Lattice.cubic(12.0), ["O", "O"], [[0, 0, 0], [2.6 / 12, 0, 0]])  # at the LJ minimum, not O2's 1.21 Å
    return [Candidate(fe, "prototype", "bcc"), Candidate(o2, "molecule", "O2"), Candidate(feo, "prototype", "rocksalt")]


def more_candidates():
    """Polymorphs too, so that staged screening has something to screen out."""
    fcc = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Fe"], [[0, 0, 0]])
    cscl = Structure(Lattice.cubic(2.7), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    fe3o4 = Structure(Lattice.cubic(4.2), ["Fe", "Fe", "Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return fe_o_candidates() + [Candidate(s, "prototype", k) for k, s in enumerate([fcc, cscl, fe3o4])]


def run(tmp_path, model, db="r.db", cands=None, **kw):
    kw = {"window": None, **kw}
    return hull_for("Fe-O", model, candidates=cands or fe_o_candidates(), store=ResultStore(tmp_path / db), steps=40, **kw)


def by_formula(res, formula):
    return next(e for e in res.entries if e.composition.reduced_formula == formula)


def test_mp2020_equals_pymatgen_by_hand_and_the_cache_keeps_raw_energies(tmp_path):
    model = Counting()
    raw = run(tmp_path, model)
    calls = model.calls
    cor = run(tmp_path, model, correction="mp2020")
    assert model.calls == calls  # switching the correction recomputes nothing
    feo_raw, feo = by_formula(raw, "FeO"), by_formula(cor, "FeO")
    assert feo_raw.correction == 0 and feo.uncorrected_energy == pytest.approx(feo_raw.energy, abs=1e-9)
    # the ComputedEntry an MP GGA+U calculation of FeO would give, through pymatgen alone
    hand = ComputedStructureEntry(feo_raw.structure, feo_raw.energy, parameters={"run_type": "GGA+U", "hubbards": {"Fe": 5.3}})
    hand = MaterialsProject2020Compatibility(check_potcar=False).process_entry(hand)
    # MP2020 (Wang et al., Sci. Rep. 11, 15496 (2021)): oxide -0.687 eV/O, Fe GGA/GGA+U mixing -2.256 eV/Fe
    n_fu = hand.composition.get_reduced_composition_and_factor()[1]  # the rocksalt cell holds 4 FeO
    assert hand.correction / n_fu == pytest.approx(-0.687 - 2.256, abs=0.01)
    assert feo.correction == pytest.approx(hand.correction, abs=1e-9)
    elements = [e for e in raw.entries if len(e.composition.elements) == 1]
    pd = PhaseDiagram(elements + [hand])
    assert cor.formation_energy(feo) == pytest.approx(pd.get_form_energy_per_atom(hand), abs=1e-9)
    assert raw.formation_energy(feo_raw) == pytest.approx(PhaseDiagram(elements + [feo_raw]).get_form_energy_per_atom(feo_raw))
    for e in cor.entries:  # elements get no correction: the references stay the model's
        if len(e.composition.elements) == 1:
            assert e.correction == 0
    # the cache row holds the raw energy, not the corrected one
    key = structure_key(fe_o_candidates()[2].structure, model.model_id, "fmax=0.1", "steps=40")
    assert ResultStore(tmp_path / "r.db").get(key)["energy"] == pytest.approx(feo_raw.energy, abs=1e-6)
    assert "MP2020" in cor.correction and "none" in raw.correction
    assert cor.to_dataframe().set_index("formula").loc["FeO", "correction_per_atom"] == pytest.approx(hand.correction / hand.composition.num_atoms)


def test_screening_ranks_raw_energies_so_a_switch_recomputes_nothing(tmp_path):
    model = Counting()
    staged = {"window": 0.0, "screen_steps": 3, "cands": more_candidates()}
    raw = run(tmp_path, model, "raw.db", **staged)
    shifted = run(tmp_path, model, "shifted.db", correction={"O": 0.8, "Fe": -0.4}, **staged)  # a fresh cache
    stages = {e.entry_id: (e.data["stage"], round(e.uncorrected_energy, 9)) for e in raw.entries}
    assert stages == {e.entry_id: (e.data["stage"], round(e.uncorrected_energy, 9)) for e in shifted.entries}
    assert "screened out" in {s for s, _ in stages.values()}
    calls = model.calls
    run(tmp_path, model, "raw.db", correction="mp2020", **staged)
    assert model.calls == calls


def test_mp_parameters_follow_mp_u_rules():
    compat = MaterialsProject2020Compatibility(check_potcar=False)
    assert mp_parameters(Composition("Fe2O3"), compat) == {"run_type": "GGA+U", "hubbards": {"Fe": 5.3}}
    assert mp_parameters(Composition("FeS"), compat) == {"run_type": "GGA", "hubbards": {}}  # U only for oxides, fluorides
    assert mp_parameters(Composition("Li2O"), compat) == {"run_type": "GGA", "hubbards": {}}
    assert mp_parameters(Composition("Fe"), compat) == {"run_type": "GGA", "hubbards": {}}


def test_element_shifts_move_the_references_of_compounds_only(tmp_path):
    model = Counting()
    raw = run(tmp_path, model)
    shifts = {"O": 0.1, "Fe": -0.05}
    cor = run(tmp_path, model, correction=shifts)
    feo_raw, feo = by_formula(raw, "FeO"), by_formula(cor, "FeO")
    # a reference moved up by shift makes the formation energy lower by x * shift
    assert cor.formation_energy(feo) == pytest.approx(raw.formation_energy(feo_raw) - 0.5 * 0.1 - 0.5 * -0.05, abs=1e-9)
    for e in cor.entries:
        if len(e.composition.elements) == 1:
            assert e.correction == 0 and e.energy_adjustments == []
    assert "O +0.100" in cor.correction


def test_mp2020_on_chgnet_warns_of_double_counting():
    with pytest.warns(UserWarning, match="counted twice"):
        Corrector("mp2020", SimpleNamespace(name="chgnet", model_id="chgnet-x"))


def test_mp2020_on_chgnet_energies_is_further_from_experiment():
    """CHGNet's targets include MP2020 already (corrections.py): correcting its energies again
    moves oxides away from experiment. The bundled compounds hold its relaxed energies."""
    import gzip
    import json

    from matwidgets.engine.data import BUNDLE_FILE, _data_path

    with gzip.open(_data_path(BUNDLE_FILE), "rt") as fh:
        doc = json.load(fh)
    compat = MaterialsProject2020Compatibility(check_potcar=False)
    raw_err, cor_err = [], []
    for c in doc["compounds"]:
        s = Structure(c["structure"]["lattice"], c["structure"]["species"], c["structure"]["frac"])
        if "O" not in {el.symbol for el in s.composition.elements}:
            continue
        ef = c["energy_per_atom"] - sum(s.composition.get_atomic_fraction(el) * doc["references"][el.symbol] for el in s.composition.elements)
        e = compat.process_entry(ComputedStructureEntry(s, c["energy_per_atom"] * len(s), parameters=mp_parameters(s.composition, compat)))
        raw_err.append(abs(ef - c["formation_enthalpy"]))
        cor_err.append(abs(ef + e.correction / len(s) - c["formation_enthalpy"]))
    assert len(raw_err) > 30
    assert np.mean(cor_err) > 2 * np.mean(raw_err)


def test_fit_element_shifts_recovers_known_shifts():
    comps = ["NaCl", "Na2O", "MgO", "MgCl2", "NaO2", "Mg3N2", "Na3N", "NaN3", "MgO2"]
    true = {"Na": 0.05, "Cl": -0.2, "O": 0.1, "Mg": -0.03, "N": 0.15}
    rng = np.random.default_rng(0)
    exp = rng.uniform(-3, -0.5, len(comps))
    model = [e + sum(Composition(c).get_atomic_fraction(el) * true[el.symbol] for el in Composition(c).elements) for c, e in zip(comps, exp)]
    got = fit_element_shifts(comps, model, exp, ridge=1e-9)
    assert got == pytest.approx(true, abs=1e-6)


def test_bundled_shifts_leave_a_system_out():
    rows = bundle_rows()
    out = [r for r in rows if r["chemsys"] != "Ag-O"]
    assert len(out) < len(rows)
    expect = fit_element_shifts([r["formula"] for r in out], [r["e_form"] for r in out], [r["exp"] for r in out])
    assert bundled_shifts(exclude_chemsys=["O-Ag"]) == pytest.approx(expect)  # either order of the elements
    with pytest.raises(ValueError, match="fitted for chgnet"):
        Corrector("fitted", Counting())


def test_bad_corrections_are_refused(tmp_path):
    for bad, match in [("mp2021", "unknown correction"), ({"Xx": 0.1}, "unknown element"), ({"O": "a"}, "finite number")]:
        with pytest.raises(ValueError, match=match):
            check_correction(bad)
    with pytest.raises(ValueError, match="unknown correction"):
        run(tmp_path, Counting(), correction="MP2020 ")
