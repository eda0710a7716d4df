"""How many intra-op threads torch uses in the engine's hot loops.

Policy (``set_threads(None)``, the default):

- a loop over a batch of fewer than SMALL_BATCH_ATOMS atoms runs on 1 thread: there a
  step is a few hundred small kernels whose parallel overhead eats the gain (8-atom Si
  CHGNet MD: 1 thread as fast as 2);
- a larger batch may use every core: min(physical cores, cores this process may run on
  (``os.sched_getaffinity``), ``OMP_NUM_THREADS`` when set);
- loops running at the same time in threads of one process (widgets run jobs in worker
  threads) share that budget: with ``k`` loops active each gets at most
  max(1, cores // k), so together they stay within the cores as long as k <= cores.

``set_threads(n)`` fixes the budget at ``n`` instead (``n`` threads for a loop alone,
``n // k`` each for ``k`` concurrent loops).

What it can and cannot guarantee. ``torch.set_num_threads`` with torch's OpenMP backend
sets the calling thread's OpenMP team size, so each loop sets its own share in the thread
that runs it, on entry and again at every step (``ThreadShare.refresh``) when another loop
has started or finished since. Between a loop starting and the others' next step, the
total may exceed the budget for one step. Nothing here can see other processes: two
Python processes on one machine each believe they own every core (measured here: two
processes with 2 threads each on 2 cores run 4.5x slower each than one alone). When
running several processes (pytest-xdist, a job array, several kernels), start each with
``OMP_NUM_THREADS=<cores // processes>`` and call ``set_threads`` with the same number.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Batches smaller than this run single-threaded. Measured here (2 cores shared with other
# work, load ~3; CHGNet Langevin steps, float32, Si supercells; 1 vs 2 threads):
#   8 atoms 37 vs 1040 ms/step (0.04x: OpenMP teams spinning against the other load),
#   32 atoms 1.21x, 64 atoms 1.27x, 128 atoms 1.35x faster with 2 threads.
# On an idle machine the issue measured 8 atoms 1 thread as fast as 2, 64 atoms 1.35x.
SMALL_BATCH_ATOMS = 32

# No lock: the engine imports no threading (DESIGN rule 5), and none is needed. Each
# piece of shared state changes by one operation the GIL makes atomic (a dict item set
# or popped, next() on itertools.count, a module global rebound); a loop that reads a
# stale count re-balances at its next step because the generation moved on.
_fixed: int | None = None  # set_threads(n); None: automatic
_shares: dict[int, ThreadShare] = {}  # active loops by id
_counter = itertools.count(1)
_generation = 0  # a new value whenever a loop starts or ends or the budget changes


def available_cores() -> int:
    """Cores this process may use: min(physical cores, CPUs in the affinity mask, and
    OMP_NUM_THREADS when set: the way to share a machine between processes)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    limit = int(env) if env.isdigit() and int(env) > 0 else None
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        allowed = os.cpu_count() or 1
    physical = None
    try:
        import psutil  # optional: logical CPUs count hyperthreads twice

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    return max(1, min(allowed, physical or allowed, limit or allowed))


def set_threads(n: int | None) -> None:
    """Fix the engine's thread budget at ``n`` (>= 1), or ``None`` for the automatic policy.

    Loops already running pick the change up at their next step.
    """
    global _fixed, _generation
    if n is not None and int(n) < 1:
        raise ValueError("set_threads needs n >= 1, or None for the automatic policy")
    _fixed = None if n is None else int(n)
    _generation = next(_counter)


def get_threads() -> int | None:
    """The fixed budget, or None under the automatic policy."""
    return _fixed


def budget() -> int:
    """Threads all concurrent engine loops of this process may use together."""
    return _fixed if _fixed is not None else available_cores()


def wanted(n_atoms: int) -> int:
    """Threads a loop over ``n_atoms`` atoms would take if it ran alone."""
    if _fixed is not None:
        return _fixed
    return 1 if n_atoms < SMALL_BATCH_ATOMS else available_cores()


class ThreadShare:
    """One active loop's share of the budget (made by ``threads_for``)."""

    def __init__(self, n_atoms: int):
        self.n_atoms = n_atoms
        self.threads = 1
        self._generation = -1

    def _grant(self) -> int:
        fair = max(1, budget() // max(1, len(_shares)))
        return max(1, min(wanted(self.n_atoms), fair))

    def refresh(self) -> int:
        """Re-apply the share if loops started or ended since; call once per step (cheap)."""
        if self._generation != _generation:
            self._generation = _generation  # read before granting: a change during it refreshes again
            self.threads = self._grant()
            torch.set_num_threads(self.threads)
        return self.threads


@contextmanager
def threads_for(n_atoms: int) -> Iterator[ThreadShare]:
    """Run the body of an engine loop over ``n_atoms`` atoms with its share of threads.

    Sets torch's intra-op threads in the calling thread on entry and restores them on
    exit; call ``share.refresh()`` every step of a long loop so it follows other loops
    starting or ending.
    """
    global _generation
    share = ThreadShare(n_atoms)
    before = torch.get_num_threads()
    _shares[id(share)] = share
    _generation = next(_counter)
    try:
        share.refresh()
        yield share
    finally:
        _shares.pop(id(share), None)
        _generation = next(_counter)
        torch.set_num_threads(before)


def active_shares() -> list[int]:
    """Threads granted to each active loop (for tests and diagnostics)."""
    return [s.threads for s in list(_shares.values())]


# ---- idle OpenMP teams ------------------------------------------------------------------
# libgomp (torch's OpenMP on Linux) lets the threads of a team spin between parallel
# regions, which a step of a few hundred small kernels needs; but when it manages more
# threads than there are CPUs it cuts the spinning to almost none. A kernel's main thread
# keeps the team of its last torch call alive, so a widget job's worker thread, with its
# own team, is throttled: measured here, 64-atom Si CHGNet MD ran at 19.2 steps/s in the
# main thread and 9.9 in a worker started after it (20.0 with the main team released).
# ``omp_pause_resource_all(omp_pause_soft)`` (OpenMP 5.0) releases the calling thread's
# idle team; its next parallel region starts a new one.
OMP_PAUSE_SOFT = 1
_omp_pause = None  # the C function once found, False where there is none


def _find_omp_pause():
    import ctypes
    import glob
    import re

    runtime = re.compile(r"^lib[gi]?omp\b.*\.so")  # libgomp, libomp, libiomp5
    libs = sorted(glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "lib*omp*.so*")))
    try:  # or whichever OpenMP runtime this process loaded (Linux)
        with open("/proc/self/maps") as fh:
            libs += sorted({line.split()[-1] for line in fh if line.strip().endswith(".so") or ".so." in line})
    except OSError:
        pass
    libs = [p for p in libs if runtime.match(os.path.basename(p))]
    for path in libs:
        try:
            return ctypes.CDLL(path).omp_pause_resource_all
        except (OSError, AttributeError):
            continue
    return False


def release_idle_team() -> bool:
    """Release the calling thread's idle OpenMP threads, before work starts in another
    thread (``Job.start`` calls it on the kernel thread). Returns whether it did; a no-op
    where torch does not use OpenMP or the runtime lacks ``omp_pause_resource_all``."""
    global _omp_pause
    if _omp_pause is None:
        _omp_pause = _find_omp_pause() if "OpenMP" in torch.__config__.parallel_info() else False
    return bool(_omp_pause) and _omp_pause(OMP_PAUSE_SOFT) == 0
