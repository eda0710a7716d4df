"""Batched periodic neighbour lists, and a Verlet list with a skin for MD and relaxation.

Two searches find *which* pairs and *which periodic images* are within a cutoff:

- vesin-torch (CPU and CUDA, any cell shape, cutoffs longer than the cell, partial
  periodicity). vesin_torch 0.6.2 has no batched entry point (``NeighborList.compute``
  takes one system), so it runs once per system in a Python loop: right for large
  systems, where the loop's per-call overhead is small next to the search.
- a batched pure-torch search (after torch-sim's ``torch_nl_n2``, written anew here)
  for many tiny systems: every atom pair of a system times every periodic image that
  can hold a neighbour, for all systems at once, filtered by distance. O(n^2) per
  system, but one set of tensor ops for the whole batch instead of one call per system.

``neighbor_list`` picks one by ``use_torch_search`` (the rule and its measurement are
there). The edge vectors are recomputed from positions and cell in plain torch
(``edge_vectors``), so they are differentiable with respect to positions and strain
whatever the search does internally.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from vesin_torch import NeighborList

from matwidgets.engine.atoms import AtomsBatch

# The torch search is used on an accelerator when every system has at most this many
# atoms (and there is more than one system): there vesin's loop pays a few kernel launches
# and a host sync per system. On the CPU vesin always wins; measured here (2-core CPU, 1
# thread, float64, cutoff 6 Å, random triclinic cells at 20 Å^3/atom; torch vs vesin ms):
#   1 x 8 atoms 2.5 vs 0.28 | 32 x 1: 3.9 vs 2.6 | 32 x 8: 43 vs 5.2 | 16 x 32: 124 vs 6.8
#   8 x 64: 208 vs 9.0 | 4 x 128: 369 vs 12
# (vesin costs ~0.1-0.2 ms per system on the CPU; the torch search ~170 ns per candidate
# pair x image). No GPU was available to measure the crossover there: 64 atoms is the
# point where a system's n^2 x images candidates (~5e5 at 6 Å) stop being small next to
# one launch per system.
TORCH_SEARCH_MAX_ATOMS = 64
# Candidate pairs (atom pairs x images) per chunk of the torch search: ~100 bytes each,
# so a chunk peaks near 100 MB whatever the batch size.
TORCH_SEARCH_CHUNK = 1_000_000


@dataclass
class Edges:
    """Directed pairs (i -> j) of a batch within a cutoff. Their order carries no meaning.

    Attributes:
        i: [n_edges] centre atom (global index into the batch).
        j: [n_edges] neighbour atom (global index).
        shifts: [n_edges, 3] integer cell shifts S (stored in the batch's float dtype),
            so r_ij = r_j - r_i + S @ cell.
        cutoff: the cutoff in Å the pairs were searched with (a Verlet list's includes its
            skin: pairs may then be longer than the model's cutoff).
    """

    i: torch.Tensor
    j: torch.Tensor
    shifts: torch.Tensor
    cutoff: float

    @property
    def n_edges(self) -> int:
        return self.i.shape[0]


def use_torch_search(batch: AtomsBatch) -> bool:
    """Whether ``neighbor_list`` takes the batched torch search rather than vesin's loop.

    Rule: not on the CPU, more than one system, and none bigger than
    TORCH_SEARCH_MAX_ATOMS atoms. On the CPU vesin's cell list is 5-30x faster even for
    batches of 1-atom cells (measurements above TORCH_SEARCH_MAX_ATOMS); a single system
    gains nothing from batching; beyond ~64 atoms per system the O(n^2) pair enumeration
    costs more than vesin's per-system launches.
    """
    if batch.device.type == "cpu" or batch.n_systems < 2:
        return False
    return int(batch.counts.max()) <= TORCH_SEARCH_MAX_ATOMS


def neighbor_list(batch: AtomsBatch, cutoff: float, full: bool = True, method: str = "auto") -> Edges:
    """All pairs closer than ``cutoff`` (Å) in every system of the batch.

    ``full=True`` lists each pair both ways (i->j and j->i); ``full=False`` once.
    An atom's own periodic images count as neighbours; the zero-shift self pair
    never does. Positions need not be wrapped into the cell.
    ``method``: "auto" (see ``use_torch_search``), "torch" or "vesin".
    """
    if method not in ("auto", "torch", "vesin"):
        raise ValueError(f"unknown neighbour search {method!r}: use 'auto', 'torch' or 'vesin'")
    if method == "torch" or (method == "auto" and use_torch_search(batch)):
        return torch_neighbor_list(batch, cutoff, full)
    return vesin_neighbor_list(batch, cutoff, full)


def vesin_neighbor_list(batch: AtomsBatch, cutoff: float, full: bool = True) -> Edges:
    """vesin-torch, one call per system (vesin has no batched entry point)."""
    nl = NeighborList(cutoff=float(cutoff), full_list=full)
    positions = batch.positions.detach()
    cells = batch.cell.detach()
    pbcs = batch.pbc.cpu()  # one transfer for all systems, not one per system
    ii, jj, ss = [], [], []
    start = 0
    for k, n in enumerate(batch.counts.tolist()):
        pos = positions[start : start + n]
        # vesin wants a non-degenerate box; along open directions any vector works
        i, j, s = nl.compute(points=pos, box=cells[k], periodic=pbcs[k], quantities="ijS")
        ii.append(i.long() + start)
        jj.append(j.long() + start)
        ss.append(s)
        start += n
    return Edges(i=torch.cat(ii), j=torch.cat(jj), shifts=torch.cat(ss).to(batch.dtype), cutoff=float(cutoff))


def cell_heights(cell: torch.Tensor) -> torch.Tensor:
    """[n_systems, 3] distances (Å) between opposite faces of each cell: h_k = V / |a_l x a_m|.

    Args:
        cell: [n_systems, 3, 3], lattice vectors as rows.
    """
    a, b, c = cell[:, 0], cell[:, 1], cell[:, 2]
    cross = torch.stack([torch.linalg.cross(b, c), torch.linalg.cross(c, a), torch.linalg.cross(a, b)], dim=1)
    volume = torch.linalg.det(cell).abs()
    return volume[:, None] / torch.linalg.norm(cross, dim=2)


def torch_neighbor_list(batch: AtomsBatch, cutoff: float, full: bool = True) -> Edges:
    """Batched brute-force search in torch ops, on the batch's device.

    Positions are first wrapped into their cell along periodic axes (fractional
    coordinates in [0, 1)), so images |S_k| <= ceil(cutoff / h_k) cover every pair within
    the cutoff (h_k: the cell's height perpendicular to the other two vectors; no images
    along open axes). Every (i, j, S) candidate of a system is built with
    repeat_interleave, so systems of different sizes and image counts share one set of
    tensor ops; candidates are processed in chunks of whole systems to bound memory.
    The returned shifts are valid for the original (unwrapped) positions.
    """
    positions = batch.positions.detach()
    cell = batch.cell.detach()
    dtype, dev = positions.dtype, positions.device
    n_sys = batch.n_systems
    counts = batch.counts
    first_atom = torch.cumsum(counts, 0) - counts  # [n_sys]
    periodic = batch.pbc

    # wrap along periodic axes: r_w = r - w @ cell with w = floor(frac); the shift of a pair
    # found between wrapped positions is S, between the original ones S - w_j + w_i
    inv, _ = torch.linalg.inv_ex(cell)  # inv_ex: no error check, so no host sync on CUDA
    frac = torch.einsum("ax,axy->ay", positions, inv[batch.system_idx])
    wrap = torch.where(periodic[batch.system_idx], torch.floor(frac), torch.zeros_like(frac))  # [n_atoms, 3]
    pos_w = positions - torch.einsum("ax,axy->ay", wrap, cell[batch.system_idx])

    n_img = torch.ceil(cutoff / cell_heights(cell)).long() * periodic.long()  # [n_sys, 3]
    n_max = n_img.amax(0).tolist() if n_sys else [0, 0, 0]
    axes = [torch.arange(-m, m + 1, device=dev) for m in n_max]
    grid = torch.cartesian_prod(*axes).reshape(-1, 3)  # [G, 3] every shift any system needs
    fits = (grid.abs()[None] <= n_img[:, None]).all(dim=2)  # [n_sys, G]
    img_sys, img_g = fits.nonzero(as_tuple=True)  # one row per (system, image), grouped by system
    img_shift = grid[img_g]  # [E, 3] integer shifts
    img_offset = torch.einsum("ex,exy->ey", img_shift.to(dtype), cell[img_sys])  # [E, 3] Å
    img_zero = (img_shift == 0).all(dim=1)  # [E]
    per_img = counts[img_sys] ** 2  # candidates per image entry

    # chunks of whole systems, each with at most TORCH_SEARCH_CHUNK candidates (one host
    # read of the per-system totals; output sizes are data dependent anyway)
    per_sys = torch.zeros(n_sys, dtype=torch.long, device=dev).index_add(0, img_sys, per_img).tolist()
    img_counts = torch.bincount(img_sys, minlength=n_sys).tolist()
    ii, jj, ss = [], [], []
    s0 = e0 = 0
    while s0 < n_sys:
        s1, total = s0, 0
        while s1 < n_sys and (s1 == s0 or total + per_sys[s1] <= TORCH_SEARCH_CHUNK):
            total += per_sys[s1]
            s1 += 1
        e1 = e0 + sum(img_counts[s0:s1])
        i, j, e = _candidates(img_sys[e0:e1], per_img[e0:e1], counts, first_atom, total)
        e = e + e0
        d = pos_w[j] - pos_w[i] + img_offset[e]
        keep = ((d * d).sum(dim=1) < cutoff * cutoff) & ~((i == j) & img_zero[e])
        i, j, e = i[keep], j[keep], e[keep]
        shift = img_shift[e]
        if not full:  # each unordered pair once: i < j, or an atom's image with S > 0 lexicographically
            sign = torch.sign(shift)
            first_nonzero = torch.gather(sign, 1, (sign != 0).long().argmax(dim=1, keepdim=True))[:, 0]
            half = (i < j) | ((i == j) & (first_nonzero > 0))
            i, j, shift = i[half], j[half], shift[half]
        ii.append(i)
        jj.append(j)
        ss.append(shift - wrap[j].long() + wrap[i].long())
        s0, e0 = s1, e1
    if not ii:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        return Edges(empty, empty, torch.zeros(0, 3, dtype=dtype, device=dev), float(cutoff))
    return Edges(i=torch.cat(ii), j=torch.cat(jj), shifts=torch.cat(ss).to(dtype), cutoff=float(cutoff))


def _candidates(img_sys: torch.Tensor, per_img: torch.Tensor, counts: torch.Tensor, first_atom: torch.Tensor,
                total: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (i, j) atom pair of its system for each image entry.

    Args:
        img_sys: [E] system of each image entry; per_img: [E] its n^2 candidates.
        counts, first_atom: [n_sys] atoms per system and index of each system's first atom.
        total: sum(per_img), known on the host already (saves a sync).
    Returns: i, j [total] global atom indices and e [total] the image entry (0..E-1).
    """
    dev = img_sys.device
    e = torch.repeat_interleave(torch.arange(img_sys.shape[0], device=dev), per_img, output_size=total)
    start = torch.cumsum(per_img, 0) - per_img
    local = torch.arange(total, device=dev) - start[e]
    n = counts[img_sys][e]
    base = first_atom[img_sys][e]
    return base + local // n, base + local % n, e


def edge_vectors(positions: torch.Tensor, cell: torch.Tensor, system_idx: torch.Tensor, edges: Edges) -> torch.Tensor:
    """[n_edges, 3] vectors r_j - r_i + S @ cell, differentiable in positions and cell.

    Args:
        positions: [n_atoms, 3]
        cell: [n_systems, 3, 3] (rows are lattice vectors)
        system_idx: [n_atoms]
    """
    cell_of_edge = cell[system_idx[edges.i]]  # [n_edges, 3, 3]
    offsets = torch.einsum("ek,ekx->ex", edges.shifts, cell_of_edge)  # [n_edges, 3]
    return positions[edges.j] - positions[edges.i] + offsets


# 0.5 Å: about a tenth of typical cutoffs (5-6 Å), so the list holds ~30% more pairs
# than needed ((1 + 0.5/5.5)^3 = 1.3), which models must skip; at 300 K an atom moves
# ~0.01-0.02 Å per 1-2 fs step, so half the skin lasts ~10-25 steps between rebuilds
# (LAMMPS uses 2 Å in LJ units, ~0.3 sigma, and 1 Å for metal units).
DEFAULT_SKIN = 0.5


class VerletList:
    """A neighbour list with a skin, rebuilt only when it could miss a pair.

    Use one per MD run or relaxation, as ``model.compute(batch, neighbors=vlist)``.
    ``vlist(batch, cutoff)`` returns every pair within R = ``cutoff + skin`` of the last
    build; models ignore the pairs beyond their cutoff. It rebuilds when the batch layout
    (atom count, numbers, systems, pbc, dtype, device) changed, or when

        cutoff * ||M^-1 - I||_F + 2 * max_a |r~_a - r0_a| > R - cutoff   (= skin)

    where r0 are the positions at the last build, M = C0^-1 C the deformation of each
    cell since then and r~ = r M^-1 = frac(r, C) @ C0 the positions mapped back to the
    build-time cell. This is a bound, so the list never misses a pair: a pair within
    ``cutoff`` now, d = d~ M, has |d~| <= |d| ||M^-1||_2 <= cutoff (1 + ||M^-1 - I||_F),
    and at the build it was at most 2 max|r~ - r0| longer than d~. With a fixed cell this
    is the usual "some atom moved more than skin/2"; under NPT or cell relaxation a cell
    strain of eps costs about cutoff * eps of the skin (0.006 Å at 6 Å for 0.1%).
    A call with a smaller cutoff than the list was built for reuses it with a wider
    margin (a committee whose members have different cutoffs shares one list); a larger
    one rebuilds. Positions must be unwrapped (as in our MD): no minimum image is taken.
    The cell must not be modified in place (a new cell tensor is compared; the same
    tensor object is taken as unchanged).

    The decision to rebuild is the one host-device synchronisation per step (one bool;
    on the CPU there is no device to sync with). ``n_builds`` counts the builds.
    """

    def __init__(self, skin: float = DEFAULT_SKIN, method: str = "auto"):
        if skin < 0:
            raise ValueError("skin must be >= 0 Å")
        self.skin = float(skin)
        self.method = method
        self.n_builds = 0
        self.n_calls = 0
        self.fresh = False  # whether the last call built the list
        # the models that have checked this list's topology (CHGNet: no isolated atom); cleared
        # at each build. Per model, not per call: committee members share one list
        self.checked: weakref.WeakSet = weakref.WeakSet()
        self._edges: Edges | None = None
        self._key: tuple | None = None  # (n_atoms, n_systems, dtype, device)
        self._radius = 0.0  # Å: the list holds every pair within this at the last build
        self._layout: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # numbers, system_idx, pbc
        self._pos0: torch.Tensor | None = None  # [n_atoms, 3] positions at the last build
        self._cell0: torch.Tensor | None = None  # [n_systems, 3, 3] cells at the last build

    def reset(self) -> None:
        """Forget the current list: the next call builds a new one."""
        self._edges = None  # (the build clears ``checked``)

    def __call__(self, batch: AtomsBatch, cutoff: float) -> Edges:
        self.n_calls += 1
        self.fresh = self._must_rebuild(batch, cutoff)  # built by this call (models check topology then)
        if self.fresh:
            self._build(batch, cutoff)
        return self._edges

    def _build(self, batch: AtomsBatch, cutoff: float) -> None:
        self._radius = float(cutoff) + self.skin
        self._edges = neighbor_list(batch, self._radius, method=self.method)
        self.checked = weakref.WeakSet()
        self._key = (batch.n_atoms, batch.n_systems, batch.dtype, batch.device)
        self._layout = (batch.numbers, batch.system_idx, batch.pbc)
        self._pos0 = batch.positions.detach().clone()
        self._cell0 = batch.cell.detach().clone()
        self._cell_seen = batch.cell  # the caller's tensor: while it is passed again, the cell is unchanged
        self.n_builds += 1

    def _must_rebuild(self, batch: AtomsBatch, cutoff: float) -> bool:
        if self._edges is None:
            return True
        margin = self._radius - float(cutoff)
        if margin < 0 or self._key != (batch.n_atoms, batch.n_systems, batch.dtype, batch.device):
            return True
        for old, new in zip(self._layout, (batch.numbers, batch.system_idx, batch.pbc)):
            # the same tensor object in the common case (with_positions keeps them): no compare
            if old is not new and not torch.equal(old, new):
                return True
        positions, cell = batch.positions.detach(), batch.cell.detach()
        if batch.cell is self._cell_seen:
            strain_cost = 0.0
            moved = positions - self._pos0
        else:
            # frac(r, C) @ C0 without an explicit inverse; solve_ex: no error check, no sync
            to_old, _ = torch.linalg.solve_ex(cell, self._cell0)  # M^-1 = C^-1 C0, [n_systems, 3, 3]
            moved = torch.einsum("ax,axy->ay", positions, to_old[batch.system_idx]) - self._pos0
            eye = torch.eye(3, dtype=cell.dtype, device=cell.device)
            strain_cost = cutoff * torch.linalg.matrix_norm(to_old - eye).max()
        max_disp = torch.linalg.vector_norm(moved, dim=1).max() if moved.shape[0] else 0.0
        return bool(strain_cost + 2 * max_disp > margin)  # the one host sync of a step


def verlet_list_for(model, skin: float | None = DEFAULT_SKIN) -> VerletList | None:
    """A new VerletList for a run with ``model``, or None (a new list every evaluation) when
    ``skin`` is None or its ``compute`` takes no ``neighbors`` argument (a wrapper that
    builds its own graphs)."""
    import inspect

    if skin is None:
        return None
    try:
        params = inspect.signature(model.compute).parameters
    except (TypeError, ValueError):
        return None
    return VerletList(skin) if "neighbors" in params else None
