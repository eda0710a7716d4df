"""Convex hulls from a model: candidates, relaxation, formation energies, stability.

pymatgen's PhaseDiagram does all hull geometry (formation energies, e_above_hull,
decompositions); this module produces the entries. Offline candidates come from
pymatgen's AFLOW prototype library by element substitution; every entry, the
elemental references included, is relaxed with the same model, so all formation
energies come from one model. Work is a generator (``iter_hull``) so a widget can
fill the hull in as candidates finish; results are cached on disk (store.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Composition, Element, Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.candidates import Candidate, prototype_candidates, reference_candidates, source_counts
from matwidgets.engine.corrections import Corrector, check_correction
from matwidgets.engine.dynamics import SimulationError
from matwidgets.engine.hull_stages import (RELAXED, SCREEN_STEPS, SCREENED, WINDOW, HullProgress, collect,
                                           iter_staged, merge_progress)
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.optimize import iter_relax
from matwidgets.engine.progress import progress_bar
from matwidgets.engine.store import ResultStore, structure_key
from matwidgets.engine.user_files import user_candidates
from matwidgets.errors import InvalidChemsysError, InvalidStructureError

ATOMS_PER_CHUNK = 256  # candidates relaxed together; converged ones still cost, so keep chunks moderate


def is_chemsys(x) -> bool:
    """True for "Li-Fe-O" or ["Li", "Fe", "O"] (as opposed to entries or structures)."""
    return isinstance(x, str) or (isinstance(x, (list, tuple)) and bool(x) and all(isinstance(v, str) for v in x))


def parse_chemsys(chemsys: str | Sequence[str]) -> list[str]:
    """["Li", "Fe", "O"] from "Li-Fe-O" or a list; InvalidChemsysError on bad input."""
    raw = chemsys.replace(" ", "").split("-") if isinstance(chemsys, str) else list(chemsys)
    raw = [r for r in raw if r]
    if not raw:
        raise InvalidChemsysError(f"empty chemical system {chemsys!r}: give elements like 'Li-Fe-O'")
    out = []
    for sym in raw:
        if not isinstance(sym, str) or not Element.is_valid_symbol(sym):
            raise InvalidChemsysError(f"unknown element {sym!r} in chemical system {chemsys!r}")
        if sym in out:
            raise InvalidChemsysError(f"element {sym} appears twice in {chemsys!r}")
        out.append(sym)
    return out


class HullResult:
    """Entries on a pymatgen PhaseDiagram, with failed candidates kept alongside."""

    def __init__(self, entries: list, failed: list | None = None, elements: Sequence[str] | None = None):
        from pymatgen.analysis.phase_diagram import PhaseDiagram

        self.entries = list(entries)
        self.failed = list(failed or [])
        self._decomp_cache: dict = {}
        els = [Element(e) for e in elements] if elements else None
        try:
            self.phase_diagram = PhaseDiagram(self.entries, elements=els)
        except ValueError as err:
            raise InvalidChemsysError(f"cannot build a hull: {err}") from None

    def _decomp(self, entry):
        # cached per entry: plots, tables and hover texts ask for the same entries many times
        cache = self._decomp_cache
        key = id(entry)
        if key not in cache:
            cache[key] = (entry, self.phase_diagram.get_decomp_and_e_above_hull(entry, allow_negative=True))
        return cache[key][1]

    def e_above_hull(self, entry) -> float:
        """Energy above the hull in eV/atom (0 for stable entries)."""
        return float(self._decomp(entry)[1])

    def formation_energy(self, entry) -> float:
        """Formation energy in eV/atom, with the entries' correction (``correction``)."""
        return float(self.phase_diagram.get_form_energy_per_atom(entry))

    @property
    def correction(self) -> str:
        """Which energy correction the model's entries carry (corrections.py), e.g. "none (raw model energies)";
        "given entries" when every entry came from the caller."""
        labels = sorted({e.data["correction"] for e in self.entries if "correction" in e.data})
        return " + ".join(labels) if labels else "given entries"

    def decomposition(self, entry) -> dict:
        """{product entry: fraction} the entry decomposes into (itself when stable)."""
        return self._decomp(entry)[0]

    def reaction(self, entry) -> str:
        """The balanced decomposition reaction, e.g. '2 LiFeO2 -> Li2O + Fe2O3'."""
        from pymatgen.analysis.reaction_calculator import Reaction

        products = [e.composition.reduced_composition for e in self.decomposition(entry)]
        reactant = entry.composition.reduced_composition
        if len(products) == 1 and products[0].almost_equals(reactant):
            e_hull = self.e_above_hull(entry)
            if e_hull < 1e-6:
                return f"{reactant.reduced_formula} is on the hull"
            f = reactant.reduced_formula
            return f"{f} (this polymorph) -> {f} (ground state), {1000 * e_hull:.0f} meV/atom above the hull"
        try:
            return str(Reaction([reactant], products))
        except Exception as err:  # pymatgen raises ReactionError when it cannot balance
            return f"{reactant.reduced_formula} -> {' + '.join(p.reduced_formula for p in products)} ({err})"

    @property
    def stable_entries(self) -> list:
        return sorted(self.phase_diagram.stable_entries, key=lambda e: e.composition.reduced_formula)

    def to_dataframe(self):
        import pandas as pd

        rows = []
        for e in self.entries:
            rows.append({
                "formula": e.composition.reduced_formula,
                "n_atoms": e.composition.num_atoms,
                "energy_per_atom": e.energy_per_atom,
                "correction_per_atom": e.correction_per_atom,
                "e_form": self.formation_energy(e),
                "e_above_hull": self.e_above_hull(e),
                "stable": e in self.phase_diagram.stable_entries,
                "source": e.data.get("source", ""),
                "prototype": e.data.get("label", ""),
                "converged": bool(e.data.get("converged", True)),
                "stage": e.data.get("stage", "given"),
                "entry_id": e.entry_id,
            })
        for f in self.failed:
            rows.append({"formula": f["formula"], "source": f.get("source", ""), "prototype": f.get("label", ""), "error": f["error"],
                         "stable": False, "converged": False, "stage": f"failed ({f.get('stage', RELAXED)})"})
        return pd.DataFrame(rows).sort_values(["stable", "e_above_hull"], ascending=[False, True], na_position="last", ignore_index=True)


def _entry(structure: Structure, energy: float, cand: Candidate, key: str, converged: bool = True, stage: str = RELAXED,
           **extra) -> ComputedStructureEntry:
    data = {"source": cand.source, "label": cand.label, "converged": converged, "stage": stage, **extra, **cand.meta}
    return ComputedStructureEntry(structure, energy, entry_id=key[:12], data=data)


def iter_hull(chemsys_or_entries, model: Potential | str | None = None, source="prototypes", max_atoms: int = 40, fmax: float = 0.1,
              steps: int = 200, store: ResultStore | None = None, candidates: list[Candidate] | None = None,
              client: Any = None, window: float | None = WINDOW, screen_steps: int = SCREEN_STEPS,
              search: dict[str, int] | None = None, seed: int = 0, derivatives: bool = True,
              correction: str | dict | None = None, structures: Any = None) -> Iterator[HullProgress]:
    """Screen and relax candidates (cached) and yield HullProgress as they advance.

    ``chemsys_or_entries``: "Li-Fe-O", ["Li", "Fe", "O"], or a list of pymatgen
    (Computed)Entries / Structures / (structure, energy) pairs. Staged (hull_stages.py):
    a single point and ``screen_steps`` FIRE steps for every candidate, then a full
    relaxation for those within ``window`` eV/atom of the provisional hull; ``window=None``
    relaxes every candidate fully. Entries are refined in place (same entry_id): collect
    them with ``hull_stages.merge_progress``. ``client``: a dask.distributed Client:
    candidates are fully relaxed on its workers (see screen.py) and this process alone
    writes the cache. ``search``: {formula: n} adds n PyXtal random structures of each
    formula (seeded by ``seed``; search.py). ``derivatives``: add ordered derivatives of
    parent lattices (derivatives.py). Every HullProgress carries ``sources``, the number
    of candidates per source. ``correction``: None (the model's energies, right for the default
    CHGNet, whose training energies include the MP2020 corrections already), "mp2020" (pymatgen's
    MaterialsProject2020Compatibility, for models trained on uncorrected MPtrj energies),
    "fitted" (per-element reference shifts fitted to experiment) or {element: eV/atom}: see
    corrections.py. It is applied to the entries the model computes, on top of the raw energies
    the cache holds (so switching costs nothing; screening ranks raw energies), never to
    entries the caller gives, and elements get none; ``entry.data["correction"]`` names it.
    ``structures``: the user's own candidates beside the system's (source "user", always relaxed
    fully): Structures, ASE Atoms, CIF/POSCAR/... files, folders of them, ASE databases (.db), or
    a list of these (user_files.py); those with elements outside the system are skipped with a
    warning naming them, a file that cannot be read raises InvalidStructureError naming it.
    """
    from matwidgets.engine.search import check_search, random_search

    if window is not None and window < 0:
        raise ValueError(f"window must be >= 0 eV/atom (or None to relax every candidate), got {window}")
    if screen_steps < 1:
        raise ValueError(f"screen_steps must be >= 1, got {screen_steps}")
    if max_atoms < 1:
        raise ValueError(f"max_atoms must be >= 1, got {max_atoms}")
    search = check_search(search)
    check_correction(correction)
    if is_chemsys(chemsys_or_entries) and candidates is None:
        system = set(parse_chemsys(chemsys_or_entries))
        outside = [f for f in search if not {el.symbol for el in Composition(f).elements} <= system]
        if outside:
            raise InvalidChemsysError(f"search: {', '.join(outside)} is not in the chemical system {chemsys_or_entries!r}")
    if structures is not None:
        if not is_chemsys(chemsys_or_entries):
            raise ValueError("structures= adds candidates to a chemical system ('Li-O'); with a list of entries, put them in the list")
        if source == "mp" and candidates is None:
            raise ValueError("structures= are relaxed with the model, source='mp' entries carry DFT energies: "
                             "one hull cannot mix the two")
    if candidates is not None:  # the caller chose what to relax
        given, cands = [], list(candidates)
    else:
        _, given, cands = _inputs(chemsys_or_entries, source, max_atoms, derivatives)
    if structures is not None:
        cands += user_candidates(structures, parse_chemsys(chemsys_or_entries))
    if not cands and not search:  # given entries only: no model needed
        if given:
            yield HullProgress(0, 0, given, [], from_cache=True, sources={})
        return
    model = load_model() if model is None else load_model(model) if isinstance(model, str) else model
    elements = sorted({el.symbol for c in cands for el in c.structure.composition.elements}
                      | {el.symbol for f in search for el in Composition(f).elements})
    if is_chemsys(chemsys_or_entries) and candidates is None:
        elements = sorted(set(elements) | set(parse_chemsys(chemsys_or_entries)))
    check_model_elements(model, elements)  # before any work: a model that lacks an element fails every candidate
    corrector = Corrector(correction, model)  # before any work too: "fitted" for a model it was not fitted for fails here
    gen_failures: list[dict] = []
    for formula, n in search.items():
        found, lost = random_search(formula, n, seed=seed, max_atoms=max_atoms)
        cands += found
        gen_failures += lost
    sources = source_counts(cands)
    if given:
        yield HullProgress(0, len(cands), given, [], from_cache=True, sources=sources)
    if gen_failures:
        yield HullProgress(0, len(cands), [], gen_failures, sources=sources)
    if not cands:
        return
    # closing(): a Stop (close) reaches the running chunk at once, which stores what converged
    with contextlib.closing(_relax_all(cands, given, model, fmax, steps, store, client, window, screen_steps)) as inner:
        for step in inner:
            step.sources = sources
            step.new_entries, rejected = corrector.apply(step.new_entries)
            step.new_failures = list(step.new_failures) + [rejection_record(e, corrector.label) for e in rejected]
            yield step


def rejection_record(entry, label: str) -> dict:
    """The failure record of an entry the correction scheme rejects (kept, not dropped)."""
    d = entry.data
    return {"formula": entry.composition.reduced_formula, "source": d.get("source", ""), "label": d.get("label", ""),
            "error": f"the correction {label} rejects this entry", "key": entry.entry_id, "structure": entry.structure,
            "stage": d.get("stage", RELAXED), "rejected_entry": entry}  # the entry: another correction may take it


def check_model_elements(model: Potential, elements: Sequence[str]) -> None:
    """InvalidChemsysError naming the first element ``model`` cannot treat (its own check, on one atom each)."""
    from pymatgen.core import Lattice

    if not elements:
        return
    box = 3.0 * len(elements) + 3.0
    probe = Structure(Lattice.cubic(box), list(elements), [[3.0 * k / box, 0, 0] for k in range(len(elements))])
    try:
        model.check_numbers(AtomsBatch.from_structures([probe], device=model.device))
    except InvalidStructureError as err:
        raise InvalidChemsysError(f"model {model.name} cannot treat this system: {err}") from None


def _relax_all(cands, given, model, fmax, steps, store, client, window, screen_steps) -> Iterator[HullProgress]:
    """Cached results first, then the rest: staged (hull_stages.py), fully relaxed chunk by
    chunk, or on a dask cluster."""
    store = store if store is not None else ResultStore()
    settings = (model.model_id, f"fmax={fmax}", f"steps={steps}")
    keys = [structure_key(c.structure, *settings) for c in cands]
    done, todo = 0, []
    cached_entries, cached_fail = [], []
    hits = store.get_many(keys)
    for cand, key in zip(cands, keys):
        hit = hits.get(key)
        meta = hit["meta"] if hit is not None else {}
        # a candidate screened out with a narrower window, a shorter screen (or none now) needs another look
        stale = meta.get("stage") == SCREENED and (window is None or meta.get("window", 0.0) < window
                                                   or meta.get("screen_steps", 0) < screen_steps)
        if hit is None or stale:
            todo.append((cand, key))
        elif hit["status"] == "ok":
            cached_entries.append(_entry(hit["structure"], hit["energy"], cand, key, meta.get("converged", True),
                                         meta.get("stage", RELAXED), **({"window": meta["window"]} if "window" in meta else {})))
        else:
            cached_fail.append(_failure(cand, key, hit["error"], hit.get("stage") or meta.get("stage") or RELAXED))
    done = len(cached_entries) + len(cached_fail)
    if done:
        yield HullProgress(done, len(cands), cached_entries, cached_fail, from_cache=True)
    if client is not None and todo:
        yield from _relax_on_cluster(todo, model, fmax, steps, store, done, len(cands), client)
        return
    if window is not None and todo and screen_steps < steps:  # (a short run relaxes everything anyway)
        yield from iter_staged(todo, model, fmax, steps, store, done, len(cands), given + cached_entries, window, screen_steps)
        return
    for chunk in _chunks(todo, ATOMS_PER_CHUNK):
        # yields a progress tick after every optimiser step, so a consumer can stop within a step
        entries, failures = yield from _relax_chunk(chunk, model, fmax, steps, store, done, len(cands))
        done += len(chunk)
        yield HullProgress(done, len(cands), entries, failures)


def elemental_references(elements: Sequence[str], model: Potential | str | None = None, store: ResultStore | None = None,
                         fmax: float = 0.1, steps: int = 200, window: float | None = WINDOW) -> dict[str, float]:
    """Relaxed energy per atom (eV) of each element's reference state with ``model``: the
    lowest over ``reference_candidates``, with the hull's default settings, so formation
    energies here and on a default hull agree exactly (they share cache entries)."""
    elements = parse_chemsys(list(elements))
    cands = [c for el in elements for c in reference_candidates(el)]  # relaxed together: fuller batches
    entries, failed = collect(iter_hull(elements, model, candidates=cands, store=store, fmax=fmax, steps=steps, window=window))
    refs = {}
    for el in elements:
        mine = [e.energy_per_atom for e in entries if {x.symbol for x in e.composition.elements} == {el}]
        if not mine:
            errors = [f["error"] for f in failed if Composition(f["formula"]).chemical_system == el]
            raise SimulationError(f"no reference state of {el} could be relaxed: {errors[0] if errors else 'no candidates'}")
        refs[el] = min(mine)
    return refs


def hull_for(chemsys_or_entries, model: Potential | str | None = None, source="prototypes", progress: bool = False,
             **kw) -> HullResult:
    """The convex hull of a chemical system (see ``iter_hull`` for the arguments).

    ``progress=True`` shows a bar of finished candidates (tqdm: notebook or terminal);
    ``correction=`` (None by default: see ``iter_hull`` and corrections.py) is named by
    ``HullResult.correction``."""
    found: dict = {}
    failed: list = []
    elements = None
    if is_chemsys(chemsys_or_entries):
        elements = parse_chemsys(chemsys_or_entries)
    with progress_bar(progress, None, "hull candidates", unit="cand") as bar:
        for step in iter_hull(chemsys_or_entries, model, source, **kw):
            merge_progress(found, failed, step)
            bar.total = step.total
            bar.update(step.done - bar.n)
            bar.set_postfix_str(f"{step.stage} {step.stage_done}/{step.stage_total}" if step.stage_total else step.stage)
    return HullResult(list(found.values()), failed, elements)


def _failure(cand: Candidate, key: str, error: str, stage: str = RELAXED) -> dict:
    return {"formula": cand.structure.composition.reduced_formula, "source": cand.source, "label": cand.label, "error": error,
            "key": key, "structure": cand.structure, "stage": stage}


def _fail(cand: Candidate, key: str, err: BaseException, stage: str, store: ResultStore) -> dict:
    """The failure record; cached as failed only for a physics reason (with its stage)."""
    fail = _failure(cand, key, f"{type(err).__name__}: {err}", stage)
    if isinstance(err, PHYSICS_ERRORS):
        store.put_many([(key, "failed", cand.structure, None, fail["error"], {"stage": stage})])
    else:
        fail["transient"] = True
    return fail


def _chunks(items: list, max_atoms: int) -> Iterator[list]:
    chunk, n = [], 0
    for item in sorted(items, key=lambda x: len(x[0].structure)):
        if chunk and n + len(item[0].structure) > max_atoms:
            yield chunk
            chunk, n = [], 0
        chunk.append(item)
        n += len(item[0].structure)
    if chunk:
        yield chunk


# Failures that belong to the candidate (cached as failed); anything else (out of memory,
# an interrupt, a runtime error) may not happen next time, so it is reported, not cached.
PHYSICS_ERRORS = (SimulationError, InvalidStructureError)


def _relax_items(chunk, model, fmax, steps, store, done, total, stage=RELAXED, stage_done=0, stage_total=0):
    """Relax a chunk together, yielding a HullProgress tick per optimiser step; returns one
    (structure, energy, converged) or exception per candidate. If the chunk fails, its
    candidates are relaxed one by one so only the culprit fails. Closed midway (a Stop), it
    stores the candidates that had already converged: they are final."""
    last = None
    try:
        batch = AtomsBatch.from_structures([c.structure for c, _ in chunk], device=model.device)
        for last in iter_relax(batch, model, fmax=fmax, steps=steps, relax_cell=True):
            yield HullProgress(done, total, [], [], stage=stage, stage_done=stage_done, stage_total=stage_total)
    except GeneratorExit:
        if last is not None:
            keep = [k for k in range(len(chunk)) if last.converged[k]]
            _store_results([chunk[k] for k in keep], _results(last, keep), store)
        raise
    except Exception as err:  # noqa: BLE001 - sorted by the caller into physics and transient failures
        if len(chunk) > 1:
            out = []
            for item in chunk:
                out += yield from _relax_items([item], model, fmax, steps, store, done, total, stage, stage_done, stage_total)
            return out
        return [err]
    return _results(last, range(len(chunk)))


def _relax_chunk(chunk, model, fmax, steps, store, done, total, stage_counts=(0, 0)):
    """Relax a chunk fully (see ``_relax_items``); returns (entries, failures), stored."""
    results = yield from _relax_items(chunk, model, fmax, steps, store, done, total, RELAXED, *stage_counts)
    failures = [_fail(cand, key, res, RELAXED, store) for (cand, key), res in zip(chunk, results) if isinstance(res, Exception)]
    ok = [(item, res) for item, res in zip(chunk, results) if not isinstance(res, Exception)]
    entries, _ = _store_results([item for item, _ in ok], [res for _, res in ok], store)
    return entries, failures


def _relax_on_cluster(todo, model, fmax, steps, store, done, total, client):
    """Relax the candidates on a dask cluster; a HullProgress per finished shard."""
    from matwidgets.engine.cluster import iter_cluster

    batch = AtomsBatch.from_structures([c.structure for c, _ in todo])
    kw = {"fmax": fmax, "steps": steps, "relax_cell": True}
    per_worker: dict[str, int] = {}
    for ix, results, worker in iter_cluster(batch, batch.counts.tolist(), model, True, kw, client, None):
        chunk = [todo[i] for i in ix]
        checked = [SimulationError(r.error) if r.error else _checked(r.structure, r.energy, r.converged) for r in results]
        entries, failures = _store_results(chunk, checked, store)
        done += len(chunk)
        per_worker[worker] = per_worker.get(worker, 0) + len(chunk)
        yield HullProgress(done, total, entries, failures, workers=dict(per_worker))


def _checked(structure, energy: float, converged: bool):
    """(structure, energy, converged), or a SimulationError when the energy is unphysical."""
    if not np.isfinite(energy) or energy / len(structure) < -50:
        return SimulationError(f"unphysical energy {energy / len(structure):.3g} eV/atom")
    return structure, energy, converged


def _results(step, indices) -> list:
    """(structure, energy, converged) or a SimulationError for systems ``indices`` of a RelaxStep."""
    structures = step.batch.to_structures()
    return [_checked(structures[k], float(step.energy[k]), bool(step.converged[k])) for k in indices]


def _store_results(chunk, results, store) -> tuple[list, list]:
    entries, failures, rows = [], [], []
    for (cand, key), res in zip(chunk, results):
        if isinstance(res, Exception):
            fail = _failure(cand, key, f"{type(res).__name__}: {res}")
            failures.append(fail)
            rows.append((key, "failed", cand.structure, None, fail["error"], {}))
            continue
        structure, energy, converged = res
        entries.append(_entry(structure, energy, cand, key, converged))
        rows.append((key, "ok", structure, energy, None, {"converged": converged, "stage": RELAXED}))
    store.put_many(rows)
    return entries, failures


def _inputs(chemsys_or_entries, source, max_atoms, derivatives=True):
    """(elements, ready entries, candidates to relax) from what the user passed."""
    if is_chemsys(chemsys_or_entries):
        elements = parse_chemsys(chemsys_or_entries)
        if source == "prototypes":
            cands = prototype_candidates(elements, max_atoms)
            if derivatives:
                from matwidgets.engine.derivatives import derivative_candidates

                cands += derivative_candidates(elements, max_atoms)
            return elements, [], cands
        if source == "mp":
            return elements, _mp_entries(elements), []
        raise ValueError(f"unknown source {source!r}: use 'prototypes' or 'mp', or pass entries/structures")
    items = list(chemsys_or_entries) if isinstance(chemsys_or_entries, (list, tuple)) else []
    if not items:
        raise InvalidChemsysError("nothing to build a hull from: pass a chemical system like 'Li-Fe-O' or a list of entries/structures")
    given, cands = [], []
    for k, item in enumerate(items):
        if isinstance(item, ComputedEntry):
            given.append(item)
        elif isinstance(item, tuple) and len(item) == 2:
            s, e = item
            given.append(ComputedStructureEntry(s, float(e), entry_id=f"user-{k}", data={"source": "user", "label": f"user {k}"}))
        elif isinstance(item, Structure):
            cands.append(Candidate(item, "user", f"user {k}"))
        else:
            raise InvalidStructureError(f"item {k} is a {type(item).__name__}: pass Structures, ComputedEntries or (structure, energy) pairs")
    elements = sorted({el.symbol for e in given for el in e.composition.elements} | {el.symbol for c in cands for el in c.structure.composition.elements})
    if cands and not given:  # user structures: add elemental references from the same model
        cands += [c for el in elements for c in reference_candidates(el)]
    return elements, given, cands


def _mp_entries(elements):
    key = os.environ.get("MP_API_KEY")
    if not key:
        raise RuntimeError("source='mp' needs a Materials Project API key in MP_API_KEY (and `pip install matwidgets[mp]`)")
    try:
        from mp_api.client import MPRester
    except ImportError:
        raise RuntimeError("source='mp' needs the mp-api package: pip install 'matwidgets[mp]'") from None
    with MPRester(key) as mpr:
        return mpr.get_entries_in_chemsys(elements)
