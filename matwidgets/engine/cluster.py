"""The dask.distributed side of ``iter_screen(..., client=)``: shards out, results back.

dask resubmits the tasks of a worker that dies (up to the scheduler's
``allowed-failures``), and ``as_completed`` hands each finished shard over once, so a
killed worker loses nothing and duplicates nothing. Workers only compute and return;
files (the result store) are written by the client process alone.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator, Sequence
from typing import Any

from distributed import WorkerPlugin, as_completed, get_worker

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.predict import plan_batches
from matwidgets.engine.screen import run_shard
from matwidgets.engine.threads import set_threads

PLUGIN_PREFIX = "matwidgets-model-"
SHARDS_PER_SLOT = 4  # shards per worker thread: fast workers take more, per-task overhead stays small


def iter_cluster(batch: AtomsBatch, counts: Sequence[int], model: Any, relax: bool, kw: dict, client: Any,
                 shard_atoms: int | None) -> Iterator[tuple[list[int], list, str]]:
    """(indices, results, worker address) of each shard as it finishes."""
    workers = check_client(client)
    if shard_atoms is None:
        slots = sum(int(w.get("nthreads", 1)) for w in workers.values())
        shard_atoms = max(1, -(-sum(counts) // (SHARDS_PER_SLOT * slots)))
    name = register_model(client, model, workers)
    futures = {client.submit(_worker_shard, name, batch.select(ix), relax, kw, pure=False): ix
               for ix in plan_batches(counts, shard_atoms)}
    try:
        for fut in as_completed(futures):
            worker, results = fut.result()
            yield futures[fut], results, worker
    finally:
        client.cancel(list(futures))  # a consumer that stops early leaves no work behind


def map_shared(client: Any, fn: Any, shared: Any, chunks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
    """``(k, fn(shared, chunks[k]))`` as the cluster finishes them; ``shared`` travels to each
    worker once (scattered), the chunks one per task."""
    workers = check_client(client)
    client.register_plugin(ThreadsPlugin(task_threads_per_host(workers)), name=f"{PLUGIN_PREFIX}threads")
    [handle] = client.scatter([shared], broadcast=True, hash=False)
    futures = {client.submit(fn, handle, chunk, pure=False): k for k, chunk in enumerate(chunks)}
    try:
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        client.cancel(list(futures))


def task_threads_per_host(workers: dict) -> dict[str, int]:
    """Task threads of all workers on each host (the scheduler's view)."""
    per_host: dict[str, int] = {}
    for w in workers.values():
        per_host[w.get("host", "")] = per_host.get(w.get("host", ""), 0) + int(w.get("nthreads", 1))
    return per_host


def check_client(client: Any) -> dict:
    """The scheduler's workers, once the client is connected and every worker can run matwidgets."""
    status = getattr(client, "status", None)
    if status != "running":
        raise RuntimeError(f"the dask client is not connected (status {status!r}): connect it, e.g. "
                           "Client(LocalCluster(...)) or Client('tcp://scheduler:8786'), or pass client=None to run here")
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        raise RuntimeError("the dask cluster has no workers yet: client.wait_for_workers(1), or scale the cluster up")
    versions = client.run(importlib.metadata.version, "matwidgets", on_error="return")
    for address, version in versions.items():
        if isinstance(version, BaseException):
            raise RuntimeError(f"dask worker {address} cannot run matwidgets: the package is not installed in its "
                               f"environment ({type(version).__name__}: {version}); install the same versions there")
    return workers


def register_model(client: Any, model: Any, workers: dict) -> str:
    """Register the plugin that loads ``model`` once on every worker (and on workers that join
    later); returns its name. The same model keeps the same name, so registering is idempotent."""
    if isinstance(model, Potential):
        spec: Any = model.to("cpu") if model.device.type != "cpu" else model
        key = getattr(model, "model_id", type(model).__name__)
    else:
        spec = key = model or "chgnet"
    name = f"{PLUGIN_PREFIX}{key}"
    client.register_plugin(ModelPlugin(spec, task_threads_per_host(workers)), name=name)
    return name


class ThreadsPlugin(WorkerPlugin):
    """Gives torch's intra-op threads on a worker its share of the host's cores.

    Two processes with 2 torch threads each on 2 cores run 4.5x slower each than one alone
    (8-atom Si MD, measured here); with 1 thread each both run at full speed. So each task
    thread gets cores / (task threads of every worker on this host), at least 1."""

    def __init__(self, task_threads_per_host: dict[str, int]):
        self.task_threads_per_host = task_threads_per_host
        self.threads = 1

    def setup(self, worker: Any) -> None:
        import torch

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        host = worker.address.split("://")[-1].rsplit(":", 1)[0]
        busy = self.task_threads_per_host.get(host, worker.state.nthreads)
        self.threads = max(1, cores // max(1, busy))
        set_threads(self.threads)  # the engine's loops on this worker keep to it (engine/threads.py)
        torch.set_num_threads(self.threads)


class ModelPlugin(ThreadsPlugin):
    """Also loads the model once per worker (a name is loaded there; a Potential arrives pickled)."""

    def __init__(self, spec: Any, task_threads_per_host: dict[str, int]):
        super().__init__(task_threads_per_host)
        self.spec = spec
        self.model: Potential | None = None

    def setup(self, worker: Any) -> None:
        super().setup(worker)
        self.model = self.spec if isinstance(self.spec, Potential) else load_model(self.spec)

    def teardown(self, worker: Any) -> None:
        self.model = None


def _worker_shard(plugin_name: str, batch: AtomsBatch, relax: bool, kw: dict) -> tuple[str, list]:
    worker = get_worker()
    return worker.address, run_shard(batch, worker.plugins[plugin_name].model, relax, kw)
