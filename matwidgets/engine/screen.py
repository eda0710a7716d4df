"""Screening many structures: in this process, batched, or on a dask.distributed cluster.

    for index, result in iter_screen(structures, model, relax=True, client=client):
        ...                              # results stream back as shards finish
    results = screen(structures, model)  # the same, in input order

We use dask.distributed rather than a scheduler of our own: one ``Client`` drives a
LocalCluster, dask-jobqueue's SLURMCluster or an existing scheduler, and dask already
resubmits the tasks of a worker that dies (so a shard is lost by nobody and returned
once). What is ours:

* shards balanced by atom count (each a contiguous run of the input, a few per worker
  so fast workers take more);
* a worker plugin (engine/cluster.py) that loads the model once per worker and gives torch's intra-op
  threads the worker's share of its host's cores (two processes with 2 threads each
  on 2 cores run 4.5x slower each than one alone; 1 thread each runs both at full
  speed);
* only this (client) process touches files: workers return results, never write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.dynamics import SimulationError
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.optimize import RelaxResult, relax as relax_structures
from matwidgets.engine.predict import ATOMS_PER_BATCH, Prediction, plan_batches, predict
from matwidgets.engine.progress import progress_bar
from matwidgets.engine.store import ResultStore, structure_key
from matwidgets.errors import InvalidStructureError

RELAX_KEYS = ("fmax", "steps", "relax_cell", "pressure")


def iter_screen(structures: Any, model: Potential | str | None = None, relax: bool = False, client: Any = None,
                shard_atoms: int | None = None, progress: bool = False, store: ResultStore | str | os.PathLike | None = None,
                **kw: Any) -> Iterator[tuple[int, Prediction | RelaxResult]]:
    """Yield ``(index, result)`` as results complete: a Prediction, or a RelaxResult when ``relax``.

    ``structures``: what ``AtomsBatch.from_structures`` accepts (pymatgen, ASE, file paths);
    all are checked before any work starts. ``client``: a dask.distributed Client, or None to
    run here, batched. ``shard_atoms``: atoms per shard (default: a few shards per worker).
    ``store``: a ResultStore (or its path): finished results are written there by this
    process as they arrive, and a run that stopped resumes from them (stored results come
    first; a relaxation's trajectory is not stored, only its final structure).
    ``kw`` (with ``relax``): fmax, steps, relax_cell, pressure, as for ``relax``.
    """
    unknown = set(kw) - set(RELAX_KEYS)
    if unknown:
        raise TypeError(f"iter_screen got unexpected keyword arguments {sorted(unknown)}; with relax=True it takes {list(RELAX_KEYS)}")
    if kw and not relax:
        raise TypeError(f"{sorted(kw)} only apply with relax=True")
    if shard_atoms is not None and shard_atoms < 1:
        raise ValueError(f"shard_atoms must be >= 1, got {shard_atoms}")
    batch = AtomsBatch.from_structures(structures)  # InvalidStructureError names the bad one, before any work
    if client is None or store is not None:
        model = _as_model(model)
    todo = list(range(batch.n_systems))
    keys: list[str] = []
    if store is not None:
        store = store if isinstance(store, ResultStore) else ResultStore(store)
        settings = (model.model_id, "screen", f"relax={relax}", *(f"{k}={kw[k]}" for k in sorted(kw)))
        keys = [structure_key(st, *settings) for st in batch.to_structures()]
        hits = store.get_many(keys)
    with progress_bar(progress, batch.n_systems, "screened", unit="struct") as bar:
        if store is not None:
            todo = []
            for k, key in enumerate(keys):
                if key in hits and hits[key]["status"] == "ok":
                    bar.update(1)
                    yield k, _from_row(hits[key], relax)
                else:
                    todo.append(k)
            if not todo:
                return
        sub = batch.select(todo)
        counts = sub.counts.tolist()
        if client is None:
            size = shard_atoms or ATOMS_PER_BATCH.get(model.device.type, 2048)
            pairs = ((ix, run_shard(sub.select(ix), model, relax, kw)) for ix in plan_batches(counts, size))
        else:
            from matwidgets.engine.cluster import iter_cluster

            pairs = ((ix, res) for ix, res, _worker in iter_cluster(sub, counts, model, relax, kw, client, shard_atoms))
        for ix, results in pairs:
            if store is not None:
                store.put_many([_to_row(keys[todo[i]], res, relax) for i, res in zip(ix, results)])
            for i, res in zip(ix, results):
                bar.update(1)
                yield todo[i], res


def screen(structures: Any, model: Potential | str | None = None, relax: bool = False, client: Any = None,
           shard_atoms: int | None = None, progress: bool = False, store: ResultStore | str | os.PathLike | None = None,
           **kw: Any) -> list[Prediction | RelaxResult]:
    """``iter_screen``'s results in input order."""
    out: dict[int, Any] = dict(iter_screen(structures, model, relax, client, shard_atoms, progress, store, **kw))
    return [out[k] for k in range(len(out))]


def run_shard(batch: AtomsBatch, model: Potential, relax: bool, kw: dict) -> list[Prediction | RelaxResult]:
    """One shard's results, in its order (the same code in process and on a worker).

    A relaxation that fails for a physical reason (it explodes, atoms collide) is retried
    structure by structure, so only the culprit comes back failed: a RelaxResult with
    ``error`` set and its input structure."""
    if not relax:
        return predict(batch, model)
    try:
        return relax_structures(list(batch.to_structures()), model, **kw)
    except (SimulationError, InvalidStructureError) as err:
        if batch.n_systems == 1:
            s = batch.to_structures()[0]
            return [RelaxResult(s, float("nan"), False, 0, [s], error=f"{type(err).__name__}: {err}")]
        return [r for k in range(batch.n_systems) for r in run_shard(batch.select([k]), model, relax, kw)]


def _as_model(model: Potential | str | None) -> Potential:
    if model is None:
        return load_model()
    return model if isinstance(model, Potential) else load_model(model)


# ---- the result store: one row per structure and settings, written by this process only ----

PREDICTION_ARRAYS = ("forces", "stress", "atom_energies", "magmoms")


def _to_row(key: str, res: Prediction | RelaxResult, relax: bool) -> tuple:
    if relax:
        meta = {"converged": res.converged, "steps": res.steps, "max_force": res.max_force, "note": res.note}
        return key, "ok", res.structure, res.energy, res.error, meta
    meta = {name: (None if getattr(res, name) is None else np.asarray(getattr(res, name)).tolist()) for name in PREDICTION_ARRAYS}
    meta["extras"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.extras.items()}
    return key, "ok", None, res.energy, None, meta


def _from_row(row: dict, relax: bool) -> Prediction | RelaxResult:
    meta = row["meta"]
    if relax:
        return RelaxResult(row["structure"], row["energy"], meta["converged"], meta["steps"], [row["structure"]],
                           meta["max_force"], note=meta.get("note"))
    arrays = {name: (None if meta.get(name) is None else np.asarray(meta[name], dtype=float)) for name in PREDICTION_ARRAYS}
    n = len(arrays["forces"])
    return Prediction(energy=row["energy"], energy_per_atom=row["energy"] / n, extras=dict(meta.get("extras") or {}), **arrays)
