"""Turn structures and arrays into the plain binary data widgets send to the browser.

Kept apart from the widgets so they stay small and these stay testable without a browser.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.widgets.bonding import BOND_TOLERANCE, bonds_of  # noqa: F401 (BOND_TOLERANCE: part of this module's API)



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
    """Directed bonds (i, j, shift) of a one-structure batch; see ``bonding.bonds_of``."""
    return bonds_of(batch.numbers.numpy(), batch.positions.numpy(), batch.cell[0].numpy(), batch.pbc[0].numpy())


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


# ---- the picture chemists expect: boundary images and bonded neighbours outside the box ----
SITES_MAX = 500  # boundary images and outside neighbours by default up to this many atoms x repeats


def display_sites(batch: AtomsBatch, bond_i: np.ndarray, bond_j: np.ndarray, bond_shift: np.ndarray,
                  repeat: tuple[int, int, int] = (1, 1, 1), outside: bool = True, tol: float = 1e-3) -> dict[str, np.ndarray]:
    """The atoms drawn in a box of ``repeat`` cells, the way VESTA draws a unit cell.

    Every atom whose fractional coordinates lie in [0, repeat] (within ``tol``) is drawn,
    so atoms on faces, edges and corners appear on the opposite boundaries too (cubic
    SrTiO3: 8 Sr, 6 O, 1 Ti). With ``outside``, the bonded neighbours of those atoms that
    lie outside the box are added as well (kind 1), so no bond ends in a stub. Along an
    axis that is not periodic (a molecule's or a slab's vacuum) atoms are drawn once,
    where they are.

    Returns ``atom`` [m] (index of the atom each site images), ``shift`` [m, 3] (integer
    cell shift from the stored position: the site is at ``positions[atom] + shift @ cell``),
    ``kind`` [m] (0 in the box, 1 outside neighbour) and ``bonds`` [k, 2] (site pairs,
    each bond once; bonds between two outside neighbours are left out).
    """
    pos = batch.positions.numpy().astype(float)  # [n, 3]
    cell = batch.cell[0].numpy().astype(float)
    n = len(pos)
    periodic = batch.pbc[0].numpy().astype(bool)  # [3]
    rep = np.where(periodic, np.asarray(repeat, dtype=int), 0)  # no images along a vacuum axis
    frac = pos @ np.linalg.inv(cell)  # [n, 3]
    floor = np.where(periodic, np.floor(frac + tol), 0.0)  # an atom at 0.9999 counts as one at 0 (so it has its image at 1)
    w = frac - floor  # [n, 3] in [-tol, 1 - tol) along periodic axes
    atoms, shifts = [], []
    for s in np.ndindex(*(rep + 1)):
        s = np.asarray(s)
        keep = np.all((w + s <= rep + tol) | ~periodic, axis=1)  # [n]
        atoms.append(np.nonzero(keep)[0])
        shifts.append(np.broadcast_to(s, (int(keep.sum()), 3)) - floor[keep])
    atom = np.concatenate(atoms).astype(np.int64)  # [m0]
    shift = np.concatenate(shifts).astype(np.int64)  # [m0, 3]
    kind = np.zeros(len(atom), dtype=np.int64)
    # bonds of every site in the box: site (i, S) bonds to (j, S + shift_ij)
    bi, bj, bs = np.asarray(bond_i), np.asarray(bond_j), np.rint(np.asarray(bond_shift).reshape(-1, 3)).astype(np.int64)
    order = np.argsort(bi, kind="stable")
    counts = np.bincount(bi, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_site = counts[atom]  # [m0]
    src = np.repeat(np.arange(len(atom)), per_site)  # [e] the site each bond starts at
    offset = np.arange(per_site.sum()) - np.repeat(np.cumsum(per_site) - per_site, per_site)
    edge = order[np.repeat(starts[atom], per_site) + offset]  # [e] bond index
    to_atom, to_shift = bj[edge], shift[src] + bs[edge]  # [e], [e, 3]

    def key(a, s):  # one int64 per (atom, shift); shifts stay within +-1000
        return ((a * 2048 + s[:, 0] + 1024) * 2048 + s[:, 1] + 1024) * 2048 + s[:, 2] + 1024

    box_keys = key(atom, shift)
    to_keys = key(to_atom, to_shift)
    lookup = dict(zip(box_keys.tolist(), range(len(atom))))
    dst = np.array([lookup.get(k, -1) for k in to_keys.tolist()], dtype=np.int64)  # [e] -1: outside the box
    missing = dst < 0
    if outside and missing.any():
        new_keys, first, inverse = np.unique(to_keys[missing], return_index=True, return_inverse=True)
        dst[missing] = len(atom) + inverse.ravel()
        atom = np.concatenate([atom, to_atom[missing][first]])
        shift = np.concatenate([shift, to_shift[missing][first]])
        kind = np.concatenate([kind, np.ones(len(new_keys), dtype=np.int64)])
    pairs = np.stack([src, dst], axis=1)[dst >= 0]
    pairs = np.unique(np.sort(pairs, axis=1), axis=0) if len(pairs) else np.zeros((0, 2), dtype=np.int64)
    return {"atom": atom, "shift": shift, "kind": kind, "bonds": pairs}


def nearest_image(pos: np.ndarray, cell: np.ndarray, i: int, target: np.ndarray) -> np.ndarray:
    """Integer cell shift [3] that puts atom ``i`` nearest to the point ``target`` (minimum image)."""
    inv = np.linalg.inv(cell)
    base = np.rint((target - pos[i]) @ inv)
    trial = base + np.array(list(np.ndindex(3, 3, 3))) - 1  # [27, 3]: rounding is not enough in skewed cells
    d = np.linalg.norm(pos[i] + trial @ cell - target, axis=1)
    return trial[np.argmin(d)]


def measure(pos: np.ndarray, cell: np.ndarray, atoms: list[int], images: list | None = None) -> dict:
    """Distance (2 atoms), angle (3) or dihedral (4) of picked atoms, in Å and degrees.

    ``images``: the cell shift of each picked atom (the periodic image clicked in the
    view); without them each atom is taken at the image nearest the one before it, so
    a chain of bonded atoms measures its bonds, not distances across the cell.
    Angles are at the middle atom(s); the dihedral follows pymatgen's sign convention.
    """
    pos, cell = np.asarray(pos, dtype=float), np.asarray(cell, dtype=float)
    if not 2 <= len(atoms) <= 4:
        return {}
    if images is None or len(images) != len(atoms):
        images = [np.zeros(3)]
        for a, b in zip(atoms, atoms[1:]):
            images.append(nearest_image(pos, cell, b, pos[a] + images[-1] @ cell))
    xyz = np.array([pos[a] + np.asarray(s, dtype=float) @ cell for a, s in zip(atoms, images)])  # [k, 3]
    out: dict = {"atoms": [int(a) for a in atoms], "images": [[int(round(x)) for x in s] for s in images]}
    out["distances"] = [float(np.linalg.norm(xyz[k + 1] - xyz[k])) for k in range(len(atoms) - 1)]
    out["angles"] = [_angle(xyz[k] - xyz[k + 1], xyz[k + 2] - xyz[k + 1]) for k in range(len(atoms) - 2)]
    if len(atoms) == 2:
        out["distance"] = out["distances"][0]
    elif len(atoms) == 3:
        out["angle"] = out["angles"][0]
    else:
        v1, v2, v3 = xyz[2] - xyz[3], xyz[1] - xyz[2], xyz[0] - xyz[1]
        v23, v12 = np.cross(v2, v3), np.cross(v1, v2)
        out["dihedral"] = float(np.degrees(np.arctan2(np.linalg.norm(v2) * np.dot(v1, v23), np.dot(v12, v23))))
    return out


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    c = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def coordination(structure: Any, batch: AtomsBatch, method: str | float = "bonds") -> list[list[tuple[int, tuple[int, int, int]]]]:
    """Neighbours of each atom as (index, integer cell shift), periodic images included.

    ``method``: "bonds" (the view's covalent-radius bonds), "crystalnn" (pymatgen's
    CrystalNN) or a cutoff in Å.
    """
    out: list[list] = [[] for _ in range(len(structure))]
    frac = structure.frac_coords

    def image(j: int, site: Any) -> tuple[int, int, int]:  # shift from the stored position, whatever pymatgen wrapped
        return tuple(int(x) for x in np.rint(site.frac_coords - frac[j]))

    if method == "bonds":
        for i, j, s in zip(*bonds(batch)):
            out[int(i)].append((int(j), tuple(int(round(x)) for x in s)))
    elif method == "crystalnn":
        from pymatgen.analysis.local_env import CrystalNN

        nn = CrystalNN()
        for i in range(len(structure)):
            out[i] = [(int(d["site_index"]), image(int(d["site_index"]), d["site"])) for d in nn.get_nn_info(structure, i)]
    elif isinstance(method, (int, float)) and not isinstance(method, bool) and method > 0:
        for i, nbs in enumerate(structure.get_all_neighbors(float(method))):
            out[i] = [(int(nb.index), image(int(nb.index), nb)) for nb in nbs if nb.nn_distance > 0.1]
    else:
        raise ValueError(f"polyhedra method must be 'bonds', 'crystalnn' or a cutoff in Å, got {method!r}")
    return out


def polyhedra(pos: np.ndarray, cell: np.ndarray, centres: list[tuple[int, Any]], neighbours: list[list]) -> dict[str, np.ndarray]:
    """Coordination polyhedra: the convex hull of each centre's neighbours (4 or more).

    ``centres``: (atom, cell shift) of each centre drawn; ``neighbours``: per atom, its
    (index, shift) neighbours. Returns vertices as ``atom`` [v] and ``shift`` [v, 3] (so a
    streamed frame moves them), triangles ``faces`` [f, 3] into the vertices and the
    ``center`` atom [f] of each face (its colour).
    """
    from scipy.spatial import ConvexHull, QhullError

    atom, shift, faces, center = [], [], [], []
    for c, cs in centres:
        nbs = neighbours[c]
        if len(nbs) < 4:
            continue  # a triangle or less is no polyhedron
        sh = np.array([s for _, s in nbs], dtype=float) + np.asarray(cs, dtype=float)  # [k, 3]
        js = [j for j, _ in nbs]
        xyz = pos[js] + sh @ cell
        try:
            tri = ConvexHull(xyz).simplices  # [t, 3]
        except QhullError:  # coplanar (square planar): a fan around the centroid's ordering
            u, v = np.linalg.svd(xyz - xyz.mean(0))[2][:2]
            order = np.argsort(np.arctan2((xyz - xyz.mean(0)) @ v, (xyz - xyz.mean(0)) @ u))
            tri = np.array([[order[0], order[k], order[k + 1]] for k in range(1, len(order) - 1)])
        faces.append(tri + len(atom))
        center += [c] * len(tri)
        atom += js
        shift += sh.tolist()
    if not faces:
        return {"atom": np.zeros(0, int), "shift": np.zeros((0, 3)), "faces": np.zeros((0, 3), int), "center": np.zeros(0, int)}
    return {"atom": np.array(atom), "shift": np.array(shift), "faces": np.concatenate(faces), "center": np.array(center)}
