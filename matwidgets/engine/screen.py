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

from collections.abc import Iterator
from typing import Any

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.optimize import RelaxResult, relax as relax_structures
from matwidgets.engine.predict import ATOMS_PER_BATCH, Prediction, plan_batches, predict
from matwidgets.engine.progress import progress_bar

RELAX_KEYS = ("fmax", "steps", "relax_cell", "pressure")


def iter_screen(structures: Any, model: Potential | str | None = None, relax: bool = False, client: Any = None,
                shard_atoms: int | None = None, progress: bool = False, **kw: Any) -> Iterator[tuple[int, Prediction | RelaxResult]]:
    """Yield ``(index, result)`` as results complete: a Prediction, or a RelaxResult when ``relax``.

    ``structures``: what ``AtomsBatch.from_structures`` accepts (pymatgen, ASE, file paths);
    all are checked before any work starts. ``client``: a dask.distributed Client, or None to
    run here, batched. ``shard_atoms``: atoms per shard (default: a few shards per worker).
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
    counts = batch.counts.tolist()
    with progress_bar(progress, len(counts), "screened", unit="struct") as bar:
        if client is None:
            model = _as_model(model)
            size = shard_atoms or ATOMS_PER_BATCH.get(model.device.type, 2048)
            for indices in plan_batches(counts, size):
                for k, res in zip(indices, run_shard(batch.select(indices), model, relax, kw)):
                    bar.update(1)
                    yield k, res
            return
        from matwidgets.engine.cluster import iter_cluster

        for k, res in iter_cluster(batch, counts, model, relax, kw, client, shard_atoms):
            bar.update(1)
            yield k, res


def screen(structures: Any, model: Potential | str | None = None, relax: bool = False, client: Any = None,
           shard_atoms: int | None = None, progress: bool = False, **kw: Any) -> list[Prediction | RelaxResult]:
    """``iter_screen``'s results in input order."""
    out: dict[int, Any] = dict(iter_screen(structures, model, relax, client, shard_atoms, progress, **kw))
    return [out[k] for k in range(len(out))]


def run_shard(batch: AtomsBatch, model: Potential, relax: bool, kw: dict) -> list[Prediction | RelaxResult]:
    """One shard's results, in its order (the same code in process and on a worker)."""
    if relax:
        return relax_structures(list(batch.to_structures()), model, **kw)
    return predict(batch, model)


def _as_model(model: Potential | str | None) -> Potential:
    if model is None:
        return load_model()
    return model if isinstance(model, Potential) else load_model(model)
