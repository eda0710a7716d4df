"""Staged hull screening: single point -> short relax -> full relaxation within the window.

Reference: the same candidates fully relaxed (window=None). With a species-blind
Lennard-Jones model every structure's energy depends on its packing only: fcc (the
elements) is the ground state, bcc (CsCl-type) sits ~0.02 eV/atom above it, simple cubic
(rocksalt with one kind of atom) ~0.08 and diamond (zincblende) far higher.
"""

from __future__ import annotations

import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.candidates import Candidate
from matwidgets.engine.hull import hull_for, iter_hull
from matwidgets.engine.hull_stages import RELAXED, SCREENED, SINGLE, collect
from matwidgets.engine.store import ResultStore

KW = dict(fmax=0.01, steps=300)


class Counting(mw.LennardJones):
    """LJ that counts evaluations and the systems evaluated; NaN energy for any Cs system."""

    def __init__(self):
        super().__init__(epsilon=0.05, sigma=2.3, cutoff=6.0)
        self.calls = self.systems = 0

    def compute(self, batch, **kw):
        self.calls += 1
        self.systems += batch.n_systems
        out = super().compute(batch, **kw)
        bad = torch.zeros(batch.n_systems, dtype=torch.bool).index_fill(0, batch.system_idx[batch.numbers == 55], True)
        out["energy"] = torch.where(bad, torch.nan, out["energy"])
        return out


def candidates() -> list[Candidate]:
    def fcc(species, a, coords):
        return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), species, coords)

    zb = Structure.from_spacegroup("F-43m", Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    return [
        Candidate(fcc(["Na"], 3.9, [[0, 0, 0]]), "prototype", "fcc Na"),
        Candidate(fcc(["Cl"], 3.6, [[0, 0, 0]]), "prototype", "fcc Cl"),
        Candidate(Structure(Lattice.cubic(2.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]), "prototype", "CsCl"),
        Candidate(fcc(["Na", "Cl"], 5.0, [[0, 0, 0], [0.5, 0.5, 0.5]]), "prototype", "rocksalt"),
        Candidate(zb, "prototype", "zincblende"),
        Candidate(fcc(["Cs", "Cl"], 5.0, [[0, 0, 0], [0.5, 0.5, 0.5]]), "prototype", "CsCl rocksalt"),
    ]


def by_label(res) -> dict:
    return {e.data["label"]: e for e in res.entries}


def test_staged_hull_keeps_every_candidate_and_matches_full_relaxation_near_the_hull(tmp_path):
    model = Counting()
    full = hull_for(["Na", "Cl"], model, candidates=candidates(), store=ResultStore(tmp_path / "full.db"), window=None, **KW)
    full_systems, model.systems = model.systems, 0
    staged = hull_for(["Na", "Cl"], model, candidates=candidates(), store=ResultStore(tmp_path / "staged.db"), window=0.05, **KW)
    f, s = by_label(full), by_label(staged)
    assert set(s) == set(f) == {"fcc Na", "fcc Cl", "CsCl", "rocksalt", "zincblende"}  # nothing dropped
    assert [x["label"] for x in staged.failed] == ["CsCl rocksalt"] and staged.failed[0]["stage"] == SINGLE
    # near the hull (the elements and bcc CsCl, ~20 meV/atom up): fully relaxed, as without stages
    for label in ("fcc Na", "fcc Cl", "CsCl"):
        assert s[label].data["stage"] == RELAXED and s[label].data["converged"]
        assert s[label].energy_per_atom == pytest.approx(f[label].energy_per_atom, abs=2e-4)
    assert {e.composition.reduced_formula for e in staged.stable_entries} == {e.composition.reduced_formula for e in full.stable_entries}
    assert staged.e_above_hull(s["CsCl"]) == pytest.approx(full.e_above_hull(f["CsCl"]), abs=2e-4)
    # far above it: screened out after the short relaxation, the energy an upper bound of the relaxed one
    for label in ("rocksalt", "zincblende"):
        assert s[label].data["stage"] == SCREENED and not s[label].data["converged"]
        assert s[label].energy_per_atom >= f[label].energy_per_atom - 1e-9
        assert staged.e_above_hull(s[label]) > 0.05
    df = staged.to_dataframe()
    assert sorted(df.stage) == sorted(["relaxed"] * 3 + ["screened out"] * 2 + ["failed (single point)"])
    assert model.systems < full_systems  # the screened-out ones were not relaxed to the end


def test_screened_candidates_are_cached_with_their_window(tmp_path):
    store = ResultStore(tmp_path / "r.db")
    model = Counting()
    first = hull_for(["Na", "Cl"], model, candidates=candidates(), store=store, window=0.05, **KW)
    model.calls = 0
    again = hull_for(["Na", "Cl"], model, candidates=candidates(), store=store, window=0.05, **KW)
    assert model.calls == 0  # screened-out and failed candidates come from the cache too
    assert {k: e.data["stage"] for k, e in by_label(again).items()} == {k: e.data["stage"] for k, e in by_label(first).items()}
    # a narrower window needs nothing new; a wider one reopens what was screened out
    hull_for(["Na", "Cl"], model, candidates=candidates(), store=store, window=0.02, **KW)
    assert model.calls == 0
    wide = hull_for(["Na", "Cl"], model, candidates=candidates(), store=store, window=1.0, **KW)
    assert model.calls > 0
    assert {e.data["stage"] for e in wide.entries} == {RELAXED}


def test_entries_refine_in_place_and_done_counts_final_candidates(tmp_path):
    steps = list(iter_hull(["Na", "Cl"], Counting(), candidates=candidates(), store=ResultStore(tmp_path / "r.db"), window=0.05, **KW))
    stages_seen = [p.stage for p in steps if p.new_entries]
    assert stages_seen[0] == SINGLE and "short relax" in stages_seen and stages_seen[-1] == RELAXED
    # every candidate first appears after its single point, then is replaced under the same entry_id
    first = next(p for p in steps if p.new_entries)
    assert len(first.new_entries) == 5 and first.done == 1  # 5 energies, 1 final (the failure)
    ids = [e.entry_id for p in steps for e in p.new_entries]
    assert len(set(ids)) == 5 and len(ids) > 5
    entries, failed = collect(steps)
    assert len(entries) == 5 and len(failed) == 1
    assert steps[-1].done == steps[-1].total == 6


def test_stop_during_refinement_keeps_final_results_and_resumes(tmp_path):
    store = ResultStore(tmp_path / "r.db")
    model = Counting()
    gen = iter_hull(["Na", "Cl"], model, candidates=candidates(), store=store, window=0.05, **KW)
    for p in gen:
        if p.stage == RELAXED and p.stage_total:
            break  # the user pressed Stop once the full relaxations began
    gen.close()
    done_then = p.done
    resumed = list(iter_hull(["Na", "Cl"], model, candidates=candidates(), store=store, window=0.05, **KW))
    assert resumed[0].from_cache and resumed[0].done == done_then  # screened-out and failed ones kept
    assert resumed[-1].done == resumed[-1].total


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="window"):
        next(iter_hull(["Na", "Cl"], Counting(), candidates=candidates(), window=-0.1))
    with pytest.raises(ValueError, match="screen_steps"):
        next(iter_hull(["Na", "Cl"], Counting(), candidates=candidates(), screen_steps=0))


def test_user_structures_are_always_relaxed(tmp_path):
    from dataclasses import replace

    cands = [replace(c, source="user") if c.label == "zincblende" else c for c in candidates()]
    res = hull_for(["Na", "Cl"], Counting(), candidates=cands, store=ResultStore(tmp_path / "r.db"), window=0.05, **KW)
    s = by_label(res)
    assert s["zincblende"].data["stage"] == RELAXED and s["rocksalt"].data["stage"] == SCREENED
