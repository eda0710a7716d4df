"""Turn structures and arrays into the plain binary data widgets send to the browser.

Kept apart from the widgets so they stay small and these stay testable without a browser.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch

BOND_TOLERANCE = 1.1  # bond when d < 1.1 * (r_cov,i + r_cov,j), and not metal-metal


def f32(array: Any) -> bytes:
    """float32 little-endian bytes of an array (what JS reads as a Float32Array)."""
    return np.ascontiguousarray(np.asarray(array, dtype="<f4")).tobytes()


def i32(array: Any) -> bytes:
    return np.ascontiguousarray(np.asarray(array, dtype="<i4")).tobytes()


def as_batch(structure: Any) -> AtomsBatch:
    """One structure (pymatgen, ASE, path or a 1-system AtomsBatch) as an AtomsBatch."""
    batch = AtomsBatch.from_structures(structure)
    if batch.n_systems != 1:
        raise ValueError(f"expected one structure, got {batch.n_systems}")
    return batch


def jmol_colors(numbers: np.ndarray) -> np.ndarray:
    """[n, 3] Jmol element colours in 0..1."""
    from ase.data.colors import jmol_colors as table

    return table[np.asarray(numbers)]


def covalent_radii(numbers: np.ndarray) -> np.ndarray:
    from ase.data import covalent_radii as table

    return table[np.asarray(numbers)]


def bonds(batch: AtomsBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed bonds (i, j, shift) by covalent radii, periodic images included.

    Each bond appears both ways; the viewer draws half of each from its own atom.
    Metal-metal contacts are not drawn: in oxides they are cation-cation distances,
    and in metals sticks between every neighbour pair hide the structure.
    """
    from matwidgets.engine.neighbors import edge_vectors, neighbor_list

    radii = torch.as_tensor(covalent_radii(batch.numbers.numpy()))
    cutoff = float(2 * radii.max() * BOND_TOLERANCE)
    edges = neighbor_list(batch, min(cutoff, 6.0))
    d = torch.linalg.norm(edge_vectors(batch.positions, batch.cell, batch.system_idx, edges), dim=1)
    metal = torch.as_tensor(is_metal(batch.numbers.numpy()))
    keep = (d < BOND_TOLERANCE * (radii[edges.i] + radii[edges.j])) & (d > 0.1) & ~(metal[edges.i] & metal[edges.j])
    return edges.i[keep].numpy(), edges.j[keep].numpy(), edges.shifts[keep].numpy()


def is_metal(numbers: np.ndarray) -> np.ndarray:
    from pymatgen.core.periodic_table import Element

    return np.array([Element.from_Z(int(z)).is_metal for z in numbers], dtype=bool)


def species_table(numbers: np.ndarray) -> dict[str, str]:
    from ase.data import chemical_symbols

    return {str(int(z)): chemical_symbols[int(z)] for z in np.unique(numbers)}


def colormap(values: np.ndarray, cmap: str | None = None, center: float | None = None, vmin: float | None = None, vmax: float | None = None):
    """Map values to [n, 3] colours; returns (colors, colorbar description).

    Signed data (or a given ``center``) gets a diverging scale symmetric about the
    centre, so zero is white and the sign reads at a glance (SHAP values).
    """
    import matplotlib

    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"values must be one number per atom, got shape {values.shape}")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("values are all NaN or infinite")
    lo, hi = float(finite.min()), float(finite.max())
    if center is None and lo < 0 < hi:
        center = 0.0
    if center is not None:
        half = max(abs(lo - center), abs(hi - center)) or 1.0
        vmin = center - half if vmin is None else vmin
        vmax = center + half if vmax is None else vmax
        cmap = cmap or "RdBu_r"
    else:
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
        if vmax == vmin:
            vmax = vmin + 1.0
        cmap = cmap or "viridis"
    cm = matplotlib.colormaps[cmap]
    t = np.clip((values - vmin) / (vmax - vmin), 0, 1)
    colors = cm(np.nan_to_num(t, nan=0.5))[:, :3]
    stops = [[float(s), matplotlib.colors.to_hex(cm(s))] for s in np.linspace(0, 1, 11)]
    bar = {"cmap": cmap, "vmin": float(vmin), "vmax": float(vmax), "center": center, "stops": stops}
    return colors, bar
