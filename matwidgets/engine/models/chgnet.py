"""The pretrained default: CHGNet 0.3.0 (Deng et al., Nat. Mach. Intell. 5, 1031), offline.

The weights ship inside the ``chgnet`` wheel. We reuse CHGNet's own modules and
graph code and change only what costs time without changing the numbers:

* neighbours come from vesin on our AtomsBatch instead of building a pymatgen
  Structure and calling ``get_neighbor_list`` for every evaluation;
* forces and stress come from ONE backward pass without ``create_graph``.
  CHGNet's ``_compute`` keeps the double-backward graph (needed for training on
  forces, not for inference) and runs two passes; that is most of its time.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA, Potential, weights_hash
from matwidgets.engine.neighbors import neighbor_list
from matwidgets.errors import InvalidStructureError

# chgnet's BatchedGraph builds a volume tensor from grad-carrying scalars; harmless here
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar")


class CHGNetPotential(Potential):
    """CHGNet behind the Potential contract; also returns magnetic moments (mu_B)."""

    name = "chgnet"
    has_magmoms = True

    def __init__(self, model_name: str = "0.3.0", device: str | None = None):
        super().__init__()
        from chgnet.model import CHGNet

        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints a banner
            self.model = CHGNet.load(model_name=model_name, use_device="cpu", verbose=False)
        self.model.eval()
        self.version = model_name
        self.cutoff = float(self.model.graph_converter.atom_graph_cutoff)
        self.max_z = int(self.model.atom_embedding.embedding.num_embeddings)
        if device is not None:
            self.to(device)

    @property
    def model_id(self) -> str:
        return f"chgnet-{self.version}-{weights_hash(self.model)}"  # fine-tuned weights get their own id

    def graphs(self, batch: AtomsBatch, allow_isolated: bool = False) -> list:
        """One chgnet CrystalGraph per system, built from a vesin neighbour list.

        ``allow_isolated``: atoms with no neighbour within the cutoff are evaluated
        (chgnet's on_isolated_atoms="ignore": the energy comes from the embedding alone,
        the model's isolated-atom limit) instead of refused."""
        from chgnet.graph.crystalgraph import CrystalGraph

        converter = self.model.graph_converter
        cpu = batch.to("cpu", torch.float64)
        edges = neighbor_list(cpu, self.cutoff)
        vectors = cpu.positions[edges.j] - cpu.positions[edges.i] + torch.einsum("ek,ekx->ex", edges.shifts, cpu.cell[cpu.system_idx[edges.i]])
        dist = torch.linalg.norm(vectors, dim=1).numpy()
        edge_sys = cpu.system_idx[edges.i].numpy()
        bounds = np.searchsorted(edge_sys, np.arange(cpu.n_systems + 1))
        counts = cpu.counts.tolist()
        starts = np.concatenate([[0], np.cumsum(counts)])
        dtype = next(self.model.parameters()).dtype
        graphs = []
        for k, n in enumerate(counts):
            sl = slice(bounds[k], bounds[k + 1])
            center = (edges.i[sl].numpy() - starts[k]).astype(np.int64)
            neighbor = (edges.j[sl].numpy() - starts[k]).astype(np.int64)
            isolated = np.setdiff1d(np.arange(n), center)
            if len(isolated) and not allow_isolated:
                raise InvalidStructureError(f"atom {int(isolated[0])} has no neighbour within {self.cutoff} Å; CHGNet cannot treat isolated atoms")
            image = edges.shifts[sl].numpy().round().astype(np.int64)
            graph = converter.create_graph(n, center, neighbor, image, dist[sl])
            atom_graph, d2u = graph.adjacency_list()
            bond_graph, u2d = graph.line_graph_adjacency_list(cutoff=converter.bond_graph_cutoff)
            cell = cpu.cell[k]
            frac = torch.linalg.solve(cell.T, cpu.positions[starts[k] : starts[k + 1]].T).T
            graphs.append(
                CrystalGraph(
                    atomic_number=cpu.numbers[starts[k] : starts[k + 1]].to(torch.int32),
                    atom_frac_coord=frac.to(dtype),
                    atom_graph=torch.tensor(atom_graph, dtype=torch.int32).reshape(-1, 2),
                    neighbor_image=torch.tensor(image, dtype=dtype),
                    directed2undirected=torch.tensor(d2u, dtype=torch.int32),
                    undirected2directed=torch.tensor(u2d, dtype=torch.int32),
                    bond_graph=torch.tensor(bond_graph, dtype=torch.int32),
                    lattice=cell.to(dtype),
                    atom_graph_cutoff=converter.atom_graph_cutoff,
                    bond_graph_cutoff=converter.bond_graph_cutoff,
                ).to(self.device)
            )
        return graphs

    def compute(self, batch: AtomsBatch, forces: bool = True, stress: bool = True, training: bool = False,
                allow_isolated: bool = False) -> dict[str, torch.Tensor]:
        from chgnet.model.model import BatchedGraph

        self.check_numbers(batch)
        model = self.model
        if training:
            raise NotImplementedError("training mode for CHGNet comes with the engine v2 forward pass")
        graphs = self.graphs(batch, allow_isolated)
        with torch.set_grad_enabled(forces or stress):
            for g in graphs:
                g.atom_frac_coord.requires_grad_(forces)
            bg = BatchedGraph.from_graphs(graphs, model.bond_basis_expansion, model.angle_basis_expansion, compute_stress=stress)
            pred = model._compute(bg, compute_magmom=True, return_site_energies=True)
            counts = pred["atoms_per_graph"]
            energy = pred["e"] * counts  # [n_systems] eV, without the composition term
            wrt = ([*bg.atom_positions] if forces else []) + ([*bg.strains] if stress else [])
            grads = torch.autograd.grad(energy.sum(), wrt) if wrt else []
        site = torch.cat(pred["site_energies"])
        if model.composition_model is not None:
            # AtomRef: a fixed energy per element (no position dependence, no gradient)
            ref = model.composition_model.fc.weight[0].to(site.dtype)  # [n_elements]
            shift = ref[torch.cat([g.atomic_number for g in graphs]).long() - 1]  # [n_atoms]
            site = site + shift
            owner = torch.repeat_interleave(torch.arange(len(graphs), device=site.device), counts)
            energy = energy + torch.zeros_like(energy).index_add(0, owner, shift)
        out = {
            "energy": energy.detach().double(),
            "atom_energies": site.detach().double(),
            "magmoms": torch.cat(pred["m"]).detach().double(),
        }
        if forces:
            out["forces"] = -torch.cat(grads[: len(graphs)]).detach().double()
        if stress:
            s = torch.stack(grads[len(graphs) if forces else 0 :]).detach().double()  # [n_systems, 3, 3]
            out["stress"] = s / bg.volumes.detach().double()[:, None, None] * EV_PER_A3_TO_GPA
        return out
