"""CHGNet's atom graph and bond ("line") graph for a whole batch, in torch ops.

chgnet builds these one structure at a time (``chgnet.graph.graph.Graph`` in
Python/C, then numpy). We rebuild the same bookkeeping for every system of an
AtomsBatch at once, on the batch's device, with no loop over systems or edges
and no host round trip (the only syncs are the implicit ones of data-dependent
sizes: nonzero and repeat_interleave), so CHGNet's own modules can run on it unchanged.

What chgnet's ``Graph`` does (chgnet/graph/graph.py), and what we reproduce:

* Directed edges: every pair i -> j (with periodic image S) with r <= 6 Å, the
  comparison of pymatgen's ``get_neighbor_list`` that chgnet's converter calls.
  A pair at exactly 6 Å adds exactly nothing to the energy (CHGNet's radial
  envelope and its slope are zero there), but it does make an atom
  non-isolated, as in chgnet: a 1-atom cubic cell of 6 Å is a valid input.
  Pairs beyond 6 Å (a Verlet list's skin) are dropped.
* Undirected edges: i -> j with image S and j -> i with image -S share one
  undirected edge (``add_edge`` pairs a directed edge with the earlier one whose
  nodes are reversed and whose image is negated). This includes an atom's own
  periodic images: i -> i with S and i -> i with -S share one undirected edge.
  ``directed2undirected[d]`` is the undirected edge of directed edge d;
  ``undirected2directed[u]`` is the first of its two directed edges.
* Bond graph (``line_graph_adjacency_list``): for every undirected edge of
  length <= bond cutoff and each of its two directed edges b (centre = the
  source atom of b), one angle with every *other* directed edge b' leaving the
  same centre whose length is < bond cutoff (a bond never pairs with itself,
  but it does pair with the other image of a self-image bond). A row is
  ``[centre, undirected(b), b, undirected(b'), b']``.

Only the ordering of edges and angles differs from chgnet's (it follows the
neighbour list and a sort here); CHGNet's sums do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.neighbors import Edges, edge_vectors


@dataclass
class CHGNetGraph:
    """A batch's CHGNet graphs, all indices global (into the batch's atoms / edges).

    Attributes:
        edges: the directed edges within the atom-graph cutoff (i = centre, j = neighbour).
        atom_graph: [n_directed, 2] long, columns (centre, neighbour); chgnet's
            ``batched_atom_graph``.
        directed2undirected: [n_directed] long.
        undirected2directed: [n_undirected] long (n_undirected = n_directed / 2).
        bond_graph: [n_angles, 5] long, columns (centre atom, undirected left bond,
            directed left bond, undirected right bond, directed right bond).
        isolated: [n_atoms] bool, atoms with no neighbour within the atom-graph cutoff.
    """

    edges: Edges
    atom_graph: torch.Tensor
    directed2undirected: torch.Tensor
    undirected2directed: torch.Tensor
    bond_graph: torch.Tensor
    isolated: torch.Tensor

    @property
    def n_undirected(self) -> int:
        return self.undirected2directed.shape[0]


def _edge_keys(i: torch.Tensor, j: torch.Tensor, shifts: torch.Tensor, n_atoms: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer keys of each directed edge (i, j, S) and of its reverse (j, i, -S).

    Two edges have the same key iff they have the same atoms and image. The shift
    range is read from the data as a tensor (no host sync); the keys fit int64 for
    any realistic batch (n_atoms^2 * (2 max|S| + 1)^3 < 2^63).
    """
    s = shifts.round().long()  # [n_edges, 3] integer images
    smax = s.abs().amax()
    base = 2 * smax + 1

    def key(a: torch.Tensor, b: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        k = a * n_atoms + b
        for x in range(3):
            k = k * base + (img[:, x] + smax)
        return k

    return key(i, j, s), key(j, i, -s)


def _undirected(i: torch.Tensor, j: torch.Tensor, shifts: torch.Tensor, n_atoms: int) -> tuple[torch.Tensor, torch.Tensor]:
    """chgnet's directed2undirected [n_directed] and undirected2directed [n_directed / 2].

    Each directed edge and its reverse share the canonical key min(key, reverse key);
    after sorting by it, the two directed edges of an undirected edge sit side by side.
    The edge whose own key is the smaller one is the undirected edge's "first" edge.
    """
    n = i.shape[0]
    if n == 0:  # every atom isolated
        return i.new_zeros(0), i.new_zeros(0)
    k_fwd, k_rev = _edge_keys(i, j, shifts, n_atoms)
    canon = torch.minimum(k_fwd, k_rev)
    order = torch.argsort(canon)
    a, b = order[0::2], order[1::2]
    # every directed edge must have its reverse (a full, symmetric neighbour list)
    # (checked on the device, without a host sync)
    torch._assert_async(torch.all(canon[a] == canon[b]) & (n % 2 == 0),
                        "CHGNet graph: the neighbour list is not symmetric (an edge i->j,S without j->i,-S)")
    d2u = torch.empty(n, dtype=torch.long, device=i.device)
    d2u[order] = torch.arange(n, device=i.device) // 2
    u2d = torch.where(k_fwd[a] < k_rev[a], a, b)
    return d2u, u2d


def _count(index: torch.Tensor, n: int) -> torch.Tensor:
    """[n] occurrences of each value of ``index`` (a fixed-size bincount: bincount's output
    size depends on the data, which costs a host sync on CUDA; index_add does not)."""
    return torch.zeros(n, dtype=torch.long, device=index.device).index_add_(0, index, torch.ones_like(index))


def _bond_graph(centre: torch.Tensor, dist: torch.Tensor, d2u: torch.Tensor, n_atoms: int, cutoff: float) -> torch.Tensor:
    """chgnet's line graph [n_angles, 5]: pairs of distinct directed bonds sharing a centre.

    Left bonds have length <= cutoff, right bonds < cutoff (chgnet's two comparisons in
    ``line_graph_adjacency_list``). Right bonds are sorted by centre; each left bond is
    repeated once per right bond of its centre and paired with them by an arange offset
    into that centre's block (repeat_interleave instead of a loop over centres).
    """
    left_idx = torch.nonzero(dist <= cutoff).squeeze(1)  # [n_left]
    right_idx = torch.nonzero(dist < cutoff).squeeze(1)
    right_idx = right_idx[torch.argsort(centre[right_idx], stable=True)]  # grouped by centre
    n_right = _count(centre[right_idx], n_atoms)  # [n_atoms]
    right_start = torch.cumsum(n_right, 0) - n_right
    reps = n_right[centre[left_idx]]  # right bonds at each left bond's centre
    left = torch.repeat_interleave(left_idx, reps)  # [n_pairs]
    block_start = torch.repeat_interleave(torch.cumsum(reps, 0) - reps, reps)
    offset = torch.arange(left.shape[0], device=left.device) - block_start
    right = right_idx[right_start[centre[left]] + offset]
    keep = left != right  # a bond never forms an angle with itself
    left, right = left[keep], right[keep]
    return torch.stack([centre[left], d2u[left], left, d2u[right], right], dim=1)


def chgnet_graph(batch: AtomsBatch, edges: Edges, atom_cutoff: float = 6.0, bond_cutoff: float = 3.0) -> CHGNetGraph:
    """CHGNet's atom and bond graphs of every system in ``batch`` (one pass, batch's device).

    Args:
        batch: the systems; positions and cell in Å.
        edges: a full neighbour list (both directions) of ``batch`` holding every pair with
            r <= atom_cutoff; longer pairs (a Verlet list's skin) are dropped here.
        atom_cutoff, bond_cutoff: CHGNet's graph cutoffs in Å.
    """
    n_atoms = batch.n_atoms
    with torch.no_grad():  # the graph is topology only; distances are recomputed with grad later
        dist = torch.linalg.norm(edge_vectors(batch.positions, batch.cell, batch.system_idx, edges), dim=1)
        keep = torch.nonzero(dist <= atom_cutoff).squeeze(1)  # pymatgen's (chgnet's) comparison
        i, j, shifts, dist = edges.i[keep], edges.j[keep], edges.shifts[keep], dist[keep]
        d2u, u2d = _undirected(i, j, shifts, n_atoms)
        bond_graph = _bond_graph(i, dist, d2u, n_atoms, bond_cutoff)
        isolated = _count(i, n_atoms) == 0
    return CHGNetGraph(
        edges=Edges(i=i, j=j, shifts=shifts, cutoff=float(atom_cutoff)),
        atom_graph=torch.stack([i, j], dim=1),
        directed2undirected=d2u,
        undirected2directed=u2d,
        bond_graph=bond_graph,
        isolated=isolated,
    )
