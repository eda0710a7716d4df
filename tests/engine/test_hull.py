"""Hull engine: candidates, pymatgen agreement, cache, resume, failures recorded."""

from __future__ import annotations

import pytest
import torch
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.candidates import prototype_candidates
from matwidgets.engine.hull import HullResult, hull_for, iter_hull, parse_chemsys
from matwidgets.engine.store import ResultStore


class Counting(mw.LennardJones):
    """LJ that counts evaluations and returns NaN for any structure holding Cs (a failing candidate)."""

    def __init__(self):
        super().__init__(epsilon=0.05, sigma=2.3, cutoff=6.0)
        self.calls = 0

    def compute(self, batch, **kw):
        self.calls += 1
        out = super().compute(batch, **kw)
        bad = torch.zeros(batch.n_systems, dtype=torch.bool).index_fill(0, batch.system_idx[batch.numbers == 55], True)
        out["energy"] = torch.where(bad, torch.nan, out["energy"])
        return out


def test_parse_chemsys_errors():
    assert parse_chemsys("Li-Fe-O") == ["Li", "Fe", "O"]
    assert parse_chemsys(["Ba", "Ti"]) == ["Ba", "Ti"]
    for bad, msg in [("Li-Xx-O", "unknown element 'Xx'"), ("", "empty"), ("Li-Li", "twice"), ([], "empty")]:
        with pytest.raises(mw.InvalidChemsysError, match=msg):
            parse_chemsys(bad)


def test_candidates_only_requested_elements_charge_balanced_valid():
    cands = prototype_candidates(["Li", "Fe", "O"], max_atoms=12)
    assert len(cands) > 50
    for c in cands:
        els = {e.symbol for e in c.structure.composition.elements}
        assert els <= {"Li", "Fe", "O"}
        assert len(c.structure) <= 12
        if len(els) > 1 and "O" in els and c.source == "prototype":  # ionic: pymatgen's own guess agrees
            assert c.structure.composition.oxi_state_guesses(max_sites=-50), c.structure.composition
        if c.source == "subvalent":  # kept without a charge-balanced reading: metal-rich, with a transition metal
            assert "Fe" in els and c.structure.composition["Fe"] > c.structure.composition["O"]
    AtomsBatch.from_structures([c.structure for c in cands])  # validation passes for all
    assert any(c.source == "molecule" and c.structure.composition.reduced_formula == "O2" for c in cands)
    assert not any(c.structure.composition.reduced_formula == "O2" and c.source == "prototype" for c in cands)
    # a metal-only system has no charge constraint; a made-up anion-bearing formula is rejected
    assert not any(c.structure.composition.reduced_formula == "LiO3" for c in cands)


def test_hull_agrees_with_pymatgen():
    entries = [ComputedEntry(Composition(f), e) for f, e in
               [("Li", -1.9), ("Fe", -8.3), ("O2", -9.8), ("Li2O", -14.3), ("Fe2O3", -38.0), ("LiFeO2", -25.0), ("Li5FeO4", -47.5), ("FeO", -16.0)]]
    res = HullResult(entries)
    pd = PhaseDiagram(entries)
    for e in entries:
        assert res.e_above_hull(e) == pytest.approx(pd.get_e_above_hull(e), abs=1e-12)
        assert {x.composition.reduced_formula for x in res.decomposition(e)} == {x.composition.reduced_formula for x in pd.get_decomposition(e.composition)}
        assert res.formation_energy(e) == pytest.approx(pd.get_form_energy_per_atom(e))
    unstable = next(e for e in entries if res.e_above_hull(e) > 1e-6)
    rxn = res.reaction(unstable)
    assert "->" in rxn and unstable.composition.reduced_formula in rxn
    df = res.to_dataframe()
    assert set(df.formula) == {e.composition.reduced_formula for e in entries}
    assert df.iloc[0].stable


def small_candidates():
    from matwidgets.engine.candidates import Candidate

    def s(species, a, coords):
        return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), species, coords)

    return [
        Candidate(s(["Na"], 4.6, [[0, 0, 0]]), "prototype", "fcc"),
        Candidate(s(["Cl"], 4.6, [[0, 0, 0]]), "prototype", "fcc"),
        Candidate(s(["Na", "Cl"], 5.0, [[0, 0, 0], [0.5, 0.5, 0.5]]), "prototype", "rocksalt"),
        Candidate(s(["Cs", "Cl"], 5.0, [[0, 0, 0], [0.5, 0.5, 0.5]]), "prototype", "rocksalt"),
        Candidate(Structure(Lattice.cubic(3.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]), "prototype", "CsCl"),
    ]


def test_cache_prevents_recomputation_and_records_failures(tmp_path):
    store = ResultStore(tmp_path / "r.db")
    model = Counting()
    res = hull_for(["Na", "Cl"], model, candidates=small_candidates(), store=store, steps=50, window=None)
    assert model.calls > 0
    assert len(res.entries) == 4 and len(res.failed) == 1
    assert res.failed[0]["formula"] == "CsCl"
    assert "exploded" in res.failed[0]["error"]  # the NaN energy is a physics failure, named as such
    assert "CsCl" not in {e.composition.reduced_formula for e in res.phase_diagram.all_entries}
    df = res.to_dataframe()
    assert df[df.formula == "CsCl"].error.notna().all()
    calls = model.calls
    again = hull_for(["Na", "Cl"], model, candidates=small_candidates(), store=store, steps=50, window=None)
    assert model.calls == calls  # nothing recomputed, the failure included
    assert len(again.failed) == 1
    for a, b in zip(sorted(res.entries, key=lambda e: e.entry_id), sorted(again.entries, key=lambda e: e.entry_id)):
        assert a.energy == pytest.approx(b.energy, abs=1e-9)


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    import matwidgets.engine.hull as hull

    monkeypatch.setattr(hull, "ATOMS_PER_CHUNK", 4)  # several chunks
    store = ResultStore(tmp_path / "r.db")
    model = Counting()
    gen = iter_hull(["Na", "Cl"], model, candidates=small_candidates(), store=store, steps=50, window=None)
    first = next(p for p in gen if p.new_entries or p.new_failures)
    gen.close()  # the user pressed Stop after one chunk
    assert 0 < first.done < first.total
    partial_calls = model.calls
    model.calls = 0
    steps = list(iter_hull(["Na", "Cl"], model, candidates=small_candidates(), store=store, steps=50, window=None))
    assert steps[0].from_cache and steps[0].done == first.done
    assert steps[-1].done == steps[-1].total
    assert 0 < model.calls  # only the rest was computed
    assert partial_calls > 0


def test_user_structures_and_pairs():
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    na = Structure.from_spacegroup("Im-3m", Lattice.cubic(4.2), ["Na"], [[0, 0, 0]])
    cl = Structure(Lattice.cubic(10), ["Cl", "Cl"], [[0, 0, 0], [0.2, 0, 0]])
    res = HullResult(hull_for([(nacl, -27.0), (na, -2.6), (cl, -3.6)]).entries)
    e = next(x for x in res.entries if x.composition.reduced_formula == "NaCl")
    assert res.formation_energy(e) == pytest.approx((-27.0 / 8) - 0.5 * (-1.3) - 0.5 * (-1.8))
    with pytest.raises(mw.InvalidStructureError, match="item 0"):
        hull_for([42])


def test_mp_source_needs_key(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="MP_API_KEY"):
        hull_for("Li-O", source="mp")


def test_chgnet_li_o_formation_energy(tmp_path):
    """A chemistry check: chgnet's Li2O formation energy is near experiment (-2.07 eV/atom)."""
    from matwidgets.engine.candidates import Candidate, dimer

    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.62), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    cands = [Candidate(li2o, "prototype", "antifluorite"), Candidate(li, "prototype", "bcc"), Candidate(dimer("O"), "molecule", "O2")]
    res = hull_for("Li-O", mw.load_model("chgnet", device="cpu"), candidates=cands, store=ResultStore(tmp_path / "c.db"))
    e = next(x for x in res.entries if x.composition.reduced_formula == "Li2O")
    assert -2.4 < res.formation_energy(e) < -1.8
    assert res.e_above_hull(e) == 0


def test_progress_after_every_optimiser_step_so_stop_is_prompt(tmp_path):
    """A consumer (a widget's Stop) gets control back after each model evaluation, not per chunk."""
    model = Counting()
    calls_between = []
    last = 0
    for _ in iter_hull(["Na", "Cl"], model, candidates=small_candidates(), store=ResultStore(tmp_path / "r.db"), steps=50):
        calls_between.append(model.calls - last)
        last = model.calls
    assert model.calls > 10
    # one evaluation per tick; two where a failing chunk is retried one candidate at a time
    assert max(calls_between) <= 2 and sorted(calls_between)[len(calls_between) // 2] == 1, calls_between


def test_stop_mid_chunk_keeps_converged_candidates(tmp_path):
    from matwidgets.engine.candidates import Candidate

    store = ResultStore(tmp_path / "r.db")
    model = Counting()
    fcc = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.65), ["Na"], [[0, 0, 0]])
    ideal = mw.relax(fcc, mw.LennardJones(0.05, 2.3, 6.0), fmax=1e-4, steps=1000).structure  # converged from the first step
    far = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    far.perturb(0.2)
    cands = [Candidate(ideal, "prototype", "fcc"), Candidate(far, "prototype", "rocksalt")]
    gen = iter_hull(["Na", "Cl"], model, candidates=cands, store=store, steps=500, fmax=0.01, window=None)
    for k, _ in enumerate(gen):
        if k == 5:
            break
    gen.close()  # the user pressed Stop while the rocksalt cell was still relaxing
    rows = list(iter_hull(["Na", "Cl"], model, candidates=cands, store=store, steps=500, fmax=0.01, window=None))
    assert rows[0].from_cache and [e.composition.reduced_formula for e in rows[0].new_entries] == ["Na"]


def test_transient_failures_are_reported_not_cached(tmp_path):
    class Flaky(Counting):
        fail = True

        def compute(self, batch, **kw):
            if self.fail and bool((batch.numbers == 11).all()):
                raise RuntimeError("CUDA out of memory (simulated)")
            return super().compute(batch, **kw)

    store = ResultStore(tmp_path / "r.db")
    model = Flaky()
    failed = [f for p in iter_hull(["Na", "Cl"], model, candidates=small_candidates(), store=store, steps=50, window=None) for f in p.new_failures]
    flaky = [f for f in failed if "out of memory" in f["error"]]
    assert flaky and all(f.get("transient") for f in flaky)
    model.fail = False
    again = hull_for(["Na", "Cl"], model, candidates=small_candidates(), store=store, steps=50, window=None)
    assert not any("out of memory" in f["error"] for f in again.failed)  # retried, not remembered
    assert any(e.composition.reduced_formula == "Na" for e in again.entries)
    assert any("exploded" in f["error"] for f in again.failed)  # the physics failure is still cached


def test_model_id_follows_the_weights(tmp_path):
    torch.manual_seed(0)
    a = mw.SchNet()
    path = tmp_path / "a.pt"
    a.save(path)
    b = mw.load_model(path, device="cpu")
    assert a.model_id == b.model_id
    with torch.no_grad():
        b.atom_refs[11] += 0.1
    assert a.model_id != b.model_id  # different weights, different cache entries
    torch.manual_seed(1)
    assert mw.SchNet().model_id != a.model_id


def test_dataframe_flags_unconverged_candidates(tmp_path):
    res = hull_for(["Na", "Cl"], Counting(), candidates=small_candidates(), store=ResultStore(tmp_path / "r.db"), steps=2)
    df = res.to_dataframe()
    assert "converged" in df.columns
    assert not df.converged.all()  # two FIRE steps cannot converge these
    res = hull_for(["Na", "Cl"], Counting(), candidates=small_candidates(), store=ResultStore(tmp_path / "s.db"), steps=400, fmax=0.05)
    ok = res.to_dataframe().dropna(subset=["energy_per_atom"])
    assert ok[ok.stage == "relaxed"].converged.all() and (ok.stage == "relaxed").sum() >= 3
    assert not ok[ok.stage == "screened out"].converged.any()  # screened out: flagged, not passed off as relaxed


def test_reaction_of_an_unstable_polymorph():
    entries = [ComputedEntry(Composition(f), e) for f, e in [("Li", -1.9), ("O2", -9.8), ("Li2O", -14.3), ("Li2O", -14.2)]]
    res = HullResult(entries)
    ground, poly = entries[2], entries[3]
    assert res.reaction(ground) == "Li2O is on the hull"
    assert res.reaction(poly) == "Li2O (this polymorph) -> Li2O (ground state), 33 meV/atom above the hull"


def test_one_set_of_elemental_references():
    from matwidgets.engine.candidates import reference_candidates
    from matwidgets.engine.store import structure_key

    def keys(cands):
        return {structure_key(c.structure) for c in cands}

    cands = prototype_candidates(["Mn", "Br", "I"], max_atoms=4)
    unary = [c for c in cands if len(c.structure.composition.elements) == 1]
    assert keys(unary) == keys(reference_candidates("Mn") + reference_candidates("Br") + reference_candidates("I"))
    mn = reference_candidates("Mn")
    assert any(len(c.structure) == 29 for c in mn)  # alpha-Mn, whatever max_atoms the hull uses
    assert any(len(c.structure) == 12 for c in reference_candidates("B"))  # alpha-B
    assert any(len(c.structure) == 32 for c in reference_candidates("S"))  # alpha-S: S8 crowns
    for el in ("Br", "I", "Cl"):
        (mol,) = reference_candidates(el)
        assert mol.source == "molecule" and len(mol.structure) == 2


def test_panel_and_hull_formation_energies_agree(tmp_path):
    """The PropertyPanel's references are the hull's: same candidates, same settings, same cache."""
    from matwidgets.engine.hull import elemental_references
    from matwidgets.engine.properties import iter_properties

    model = mw.LennardJones(0.05, 2.3, 6.0)
    store = ResultStore()
    res = hull_for(["Na", "Cl"], model, max_atoms=2, store=store)
    refs = elemental_references(["Na", "Cl"], model, store=store)
    for el in ("Na", "Cl"):
        best = min(e.energy_per_atom for e in res.entries if e.composition.reduced_formula in (el, el + "2"))
        assert refs[el] == pytest.approx(best, abs=1e-12)
    nacl = next(e for e in res.entries if e.composition.reduced_formula == "NaCl")
    *_, props = iter_properties(nacl.structure, model)
    assert props["e_form"] == pytest.approx(res.formation_energy(nacl), abs=1e-6)
