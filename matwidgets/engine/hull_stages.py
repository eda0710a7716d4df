"""Staged screening of hull candidates: a complete first hull in minutes, refined where it matters.

Relaxing every candidate fully costs ~200 optimiser steps each, most of them spent on
candidates that end far above the hull. The stages (each over every candidate still
open, in batches of ATOMS_PER_CHUNK atoms):

1. ``single point``: the energy at the pre-scaled cell - one model call per candidate;
2. ``short relax``: ``screen_steps`` FIRE steps (cell included); those that converge are final;
3. ``relaxed``: full relaxation, only for candidates within ``window`` (eV/atom) of the
   provisional hull that the stage-2 energies make (pymatgen's PhaseDiagram); the others
   are kept as ``screened out``, with their stage-2 structure and energy (an upper bound
   of the relaxed energy) - in the table and the plot, never dropped. User structures
   are always relaxed fully.

An element's reference is its lowest unary entry, which is within any window of itself,
so every reference is fully relaxed - first, so the first complete hull (every candidate
with an energy, every reference relaxed) comes before the compounds refine. No library stages hull screening; this is ours, on
top of iter_relax and PhaseDiagram. Entries keep one ``entry_id`` through the stages, so
a consumer replaces the provisional entry by the refined one (``merge_progress``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from matwidgets.engine.atoms import AtomsBatch

SINGLE, SHORT, RELAXED, SCREENED = "single point", "short relax", "relaxed", "screened out"
FINAL_STAGES = (RELAXED, SCREENED)
WINDOW = 0.1  # eV/atom above the provisional hull still worth a full relaxation
SCREEN_STEPS = 15  # FIRE steps of the short relaxation


@dataclass
class HullProgress:
    """One step of ``iter_hull``: what finished or changed since the last step, and the totals.

    ``new_entries`` holds new entries and refined versions of earlier ones (same
    ``entry_id``): use ``merge_progress`` to keep one entry per candidate. ``done`` counts
    candidates with a final result (relaxed, screened out or failed); ``stage`` is the
    stage running and ``stage_done`` / ``stage_total`` its candidates."""

    done: int
    total: int
    new_entries: list
    new_failures: list
    from_cache: bool = False
    workers: dict | None = None  # on a dask cluster: candidates finished per worker address so far
    stage: str = RELAXED
    stage_done: int = 0
    stage_total: int = 0
    sources: dict | None = None  # {source: candidates} of the whole run (candidates.SOURCES), for counts in a widget


def entry_key(entry) -> object:
    """What identifies a candidate's entry through the stages (given entries: the object)."""
    return entry.entry_id if "stage" in entry.data else id(entry)


def merge_progress(entries: dict, failed: list, step: HullProgress) -> bool:
    """Fold one HullProgress into ``entries`` ({entry_key: entry}, refined entries replace
    provisional ones) and ``failed`` (a failure removes that candidate's provisional entry).
    Returns whether anything changed."""
    for e in step.new_entries:
        entries[entry_key(e)] = e
    for f in step.new_failures:
        if f.get("key"):  # a candidate that had provisional entries (a failed search trial never had one)
            entries.pop(f["key"][:12], None)
        failed.append(f)
    return bool(step.new_entries or step.new_failures)


def collect(steps) -> tuple[list, list]:
    """(entries, failures) at the end of an ``iter_hull`` run."""
    entries: dict = {}
    failed: list = []
    for step in steps:
        merge_progress(entries, failed, step)
    return list(entries.values()), failed


def iter_staged(todo, model, fmax: float, steps: int, store, done: int, total: int, known: list,
                window: float, screen_steps: int) -> Iterator[HullProgress]:
    """The three stages over ``todo`` [(Candidate, cache key)]; ``known``: final entries already
    there (cached or given), part of the provisional hull. Final results go to ``store``."""
    from matwidgets.engine import hull as H  # the chunking, failure and storing helpers

    n = len(todo)
    # 1. single points
    open_items, k = [], 0
    for chunk in H._chunks(todo, H.ATOMS_PER_CHUNK):
        results = _single_points(chunk, model)
        entries, failures = [], []
        for (cand, key), res in zip(chunk, results):
            if isinstance(res, Exception):
                failures.append(H._fail(cand, key, res, SINGLE, store))
            else:
                entries.append(H._entry(cand.structure, res, cand, key, converged=False, stage=SINGLE))
                open_items.append((cand, key))
        done += len(failures)
        k += len(chunk)
        yield HullProgress(done, total, entries, failures, stage=SINGLE, stage_done=k, stage_total=n)
    # 2. short relaxation of everything that has an energy
    short, relaxed, k = [], [], 0
    for chunk in H._chunks(open_items, H.ATOMS_PER_CHUNK):
        results = yield from H._relax_items(chunk, model, fmax, screen_steps, store, done, total, SHORT, k, len(open_items))
        failures = [H._fail(cand, key, res, SHORT, store) for (cand, key), res in zip(chunk, results) if isinstance(res, Exception)]
        ok = [(item, res) for item, res in zip(chunk, results) if not isinstance(res, Exception)]
        # converged within the short relaxation: final already, stored as relaxed
        final, _ = H._store_results([item for item, res in ok if res[2]], [res for _, res in ok if res[2]], store)
        relaxed += final
        entries = list(final)
        for (cand, key), (structure, energy, converged) in ok:
            if not converged:
                e = H._entry(structure, energy, cand, key, False, SHORT)
                entries.append(e)
                short.append((cand, key, e))
        done += len(failures) + len(final)
        k += len(chunk)
        yield HullProgress(done, total, entries, failures, stage=SHORT, stage_done=k, stage_total=len(open_items))
    # 3. full relaxation within the window of the provisional hull
    refine, screened = _within_window(short, list(known) + relaxed, window)
    rows = [(key, "ok", e.structure, e.energy, None, {"converged": False, "stage": SCREENED, "window": window,
                                                      "screen_steps": screen_steps})
            for _, key, e in screened]
    store.put_many(rows)
    done += len(screened)
    out = [H._entry(e.structure, e.energy, cand, key, False, SCREENED, window=window) for cand, key, e in screened]
    yield HullProgress(done, total, out, [], stage=RELAXED, stage_done=0, stage_total=len(refine))
    k = 0
    # the elemental references first: once they are final, the hull's frame is (a complete first hull)
    starts = [(replace(cand, structure=e.structure), key) for cand, key, e in refine]  # from where the short run left it
    unary = [x for x in starts if len(x[0].structure.composition.elements) == 1]
    rest = [x for x in starts if len(x[0].structure.composition.elements) > 1]
    for chunk in [*H._chunks(unary, H.ATOMS_PER_CHUNK), *H._chunks(rest, H.ATOMS_PER_CHUNK)]:
        entries, failures = yield from H._relax_chunk(chunk, model, fmax, max(steps - screen_steps, 1), store, done, total,
                                                      stage_counts=(k, len(refine)))
        done += len(chunk)
        k += len(chunk)
        yield HullProgress(done, total, entries, failures, stage=RELAXED, stage_done=k, stage_total=len(refine))


def _single_points(chunk, model) -> list:
    """Total energies (eV) of the chunk's structures, or the exception of each one that fails."""
    from matwidgets.engine.hull import _checked

    try:
        batch = AtomsBatch.from_structures([c.structure for c, _ in chunk], device=model.device)
        energy = model.compute(batch, forces=False, stress=False)["energy"].detach().cpu().numpy()
    except Exception as err:  # noqa: BLE001 - one by one, so only the culprit fails
        if len(chunk) > 1:
            return [r for item in chunk for r in _single_points([item], model)]
        return [err]  # a physics error is cached as failed, anything else reported as transient
    out = []
    for (cand, _), e in zip(chunk, energy):
        res = _checked(cand.structure, float(e), False)
        out.append(res if isinstance(res, Exception) else float(e))
    return out


def _within_window(short: list, finals: list, window: float) -> tuple[list, list]:
    """Split the unconverged stage-2 candidates into (to refine, screened out) by their
    energy above the hull of ``finals`` + all stage-2 entries. Without a hull (an element
    has no entry at all) everything is refined."""
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    entries = finals + [e for _, _, e in short]
    try:
        pd = PhaseDiagram(entries)
    except ValueError:
        return short, []
    refine, screened = [], []
    for item in short:
        e_hull = pd.get_decomp_and_e_above_hull(item[2], allow_negative=True)[1]
        # the user's own structures are always relaxed: they asked about them
        (refine if e_hull <= window or item[0].source == "user" else screened).append(item)
    return refine, screened
