"""Shared helpers for benchmarks: deterministic test structures and timing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from pymatgen.core import Lattice, Structure

ELEMENTS = ["Li", "O", "Si", "Fe", "Mg", "Al", "Ti", "Na", "Cl", "Ca"]


def random_structures(n: int, min_atoms: int = 2, max_atoms: int = 64, seed: int = 0) -> list[Structure]:
    """Random but physical-looking crystals: atoms on a jittered grid at ~14 Å^3/atom."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(min_atoms, max_atoms + 1))
        a = (k * 14.0) ** (1 / 3)
        lat = Lattice.from_parameters(*(a * rng.uniform(0.9, 1.1, 3)), *rng.uniform(80, 100, 3))
        g = int(np.ceil(k ** (1 / 3)))
        grid = np.array([[i, j, m] for i in range(g) for j in range(g) for m in range(g)], float)
        frac = grid[rng.permutation(len(grid))[:k]] / g + rng.normal(0, 0.02, (k, 3))
        out.append(Structure(lat, list(rng.choice(ELEMENTS, k)), frac))
    return out


def median_time(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
