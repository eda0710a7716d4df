"""PyXtal random search: seeded, budget kept, failures recorded, bad budgets named."""

from __future__ import annotations

import pytest

import matwidgets as mw
from matwidgets.engine.hull import iter_hull
from matwidgets.engine.search import random_search
from matwidgets.engine.store import ResultStore, structure_key


def keys(cands):
    return [structure_key(c.structure) for c in cands]


def test_same_seed_same_structures_other_seed_different():
    a, fa = random_search("Li5FeO4", 4, seed=0, max_atoms=20)
    b, fb = random_search("Li5FeO4", 4, seed=0, max_atoms=20)
    c, _ = random_search("Li5FeO4", 4, seed=1, max_atoms=20)
    assert keys(a) == keys(b) and fa == fb
    assert not set(keys(a)) & set(keys(c))
    assert len(a) + len(fa) == 4  # n trials, n rows
    for s in (x.structure for x in a):
        assert s.composition.reduced_formula == "Li5FeO4" and len(s) <= 20
    assert {x.source for x in a} == {"search"}
    first, _ = random_search("Li5FeO4", 2, seed=0, max_atoms=20)
    assert keys(first) == keys(a)[:len(first)]  # a longer search starts with the shorter one (each trial its own stream)


def test_impossible_trials_are_recorded_as_failures():
    # 1 formula unit of a 10-atom formula, max_atoms=10: some groups fit; a 41-atom cap is never exceeded
    cands, failures = random_search("Li5FeO4", 3, seed=3, max_atoms=10)
    assert len(cands) + len(failures) == 3
    for f in failures:
        assert f["source"] == "search" and f["stage"] == "generate" and f["error"]


@pytest.mark.parametrize("search,msg", [({"Li5FeO4": 0}, "budget for Li5FeO4 must be an integer >= 1"),
                                        ({"Li5FeO4": 2.5}, "budget"), ({"Xq2": 3}, "cannot read the formula"),
                                        ({"Li0.5O": 2}, "fractional amounts")])
def test_bad_search_budgets_are_named(search, msg):
    with pytest.raises(ValueError, match=msg):
        next(iter_hull("Li-Fe-O", mw.LennardJones(0.05, 2.3, 6.0), search=search))


def test_max_atoms_below_one():
    with pytest.raises(ValueError, match="max_atoms must be >= 1, got 0"):
        next(iter_hull("Li-O", mw.LennardJones(0.05, 2.3, 6.0), max_atoms=0))


def test_search_outside_the_system_and_unknown_elements_for_the_model():
    with pytest.raises(mw.InvalidChemsysError, match="NaCl is not in the chemical system"):
        next(iter_hull("Li-O", mw.LennardJones(0.05, 2.3, 6.0), search={"NaCl": 2}))
    small = mw.SchNet(max_z=20)
    with pytest.raises(mw.InvalidChemsysError, match="Fe"):
        next(iter_hull("Li-Fe-O", small, max_atoms=4))  # named at once, before any candidate is relaxed


def test_iter_hull_search_counts_sources(tmp_path):
    from matwidgets.engine.candidates import Candidate, reference_candidates

    refs = [c for el in ("Na", "Cl") for c in reference_candidates(el)][:3]
    steps = list(iter_hull(["Na", "Cl"], mw.LennardJones(0.05, 2.3, 6.0), candidates=list(refs), search={"NaCl": 3}, seed=5,
                           store=ResultStore(tmp_path / "r.sqlite"), steps=5))
    sources = steps[-1].sources
    assert sources["search"] + sum(1 for _ in steps[0].new_failures if _.get("stage") == "generate") >= 1
    assert sources.get("search", 0) + len([f for s in steps for f in s.new_failures if f.get("stage") == "generate"]) == 3
    assert all(s.sources == sources for s in steps)
    formulas = {e.composition.reduced_formula for s in steps for e in s.new_entries if e.data["source"] == "search"}
    assert formulas <= {"NaCl"} and isinstance(refs[0], Candidate)


def test_a_hull_with_failed_search_trials_keeps_them_as_failures(tmp_path, monkeypatch):
    """Trials PyXtal cannot fill (here: no space group offered) are recorded, and every
    consumer of iter_hull takes them (they have no cache key)."""
    from matwidgets.engine import search
    from matwidgets.engine.candidates import reference_candidates
    from matwidgets.engine.hull import hull_for

    monkeypatch.setattr(search, "_compatible_groups", lambda counts: ())
    refs = [reference_candidates("Na")[0], reference_candidates("Cl")[0]]
    res = hull_for(["Na", "Cl"], mw.LennardJones(0.05, 2.3, 6.0), candidates=refs, search={"NaCl": 2},
                   store=ResultStore(tmp_path / "r.sqlite"), steps=5)
    assert len(res.entries) == 2
    assert [(f["source"], f["stage"]) for f in res.failed] == [("search", "generate")] * 2
    assert all("no space group fits" in f["error"] for f in res.failed)
