"""Batched periodic neighbour lists.

vesin-torch finds the pairs (CPU and CUDA, any cell shape, cutoffs longer than the
cell, partial periodicity). We only ask it *which* pairs and *which periodic
images*; the edge vectors are recomputed here from positions and cell in plain
torch, so they are differentiable with respect to positions and to strain
(forces and stress by autograd) whatever the neighbour search does internally.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from vesin_torch import NeighborList

from matwidgets.engine.atoms import AtomsBatch


@dataclass
class Edges:
    """Directed pairs (i -> j) of a batch within a cutoff.

    Attributes:
        i: [n_edges] centre atom (global index into the batch).
        j: [n_edges] neighbour atom (global index).
        shifts: [n_edges, 3] integer cell shifts S, so r_ij = r_j - r_i + S @ cell.
        cutoff: the cutoff in Å.
    """

    i: torch.Tensor
    j: torch.Tensor
    shifts: torch.Tensor
    cutoff: float

    @property
    def n_edges(self) -> int:
        return self.i.shape[0]


def neighbor_list(batch: AtomsBatch, cutoff: float, full: bool = True) -> Edges:
    """All pairs closer than ``cutoff`` (Å) in every system of the batch.

    ``full=True`` lists each pair both ways (i->j and j->i); ``full=False`` once.
    An atom's own periodic images count as neighbours; the zero-shift self pair
    never does.
    """
    # vesin has no batched entry point yet: one call per system, offsets added here.
    nl = NeighborList(cutoff=float(cutoff), full_list=full)
    positions = batch.positions.detach()
    cells = batch.cell.detach()
    counts = batch.counts.tolist()
    ii, jj, ss = [], [], []
    start = 0
    for k, n in enumerate(counts):
        pos = positions[start : start + n]
        pbc = batch.pbc[k]
        # vesin wants a non-degenerate box; along open directions any vector works
        i, j, s = nl.compute(points=pos, box=cells[k], periodic=pbc.cpu(), quantities="ijS")
        ii.append(i.long() + start)
        jj.append(j.long() + start)
        ss.append(s)
        start += n
    return Edges(
        i=torch.cat(ii),
        j=torch.cat(jj),
        shifts=torch.cat(ss).to(batch.dtype),
        cutoff=float(cutoff),
    )


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
