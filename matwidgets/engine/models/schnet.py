"""A native, trainable SchNet-style potential (Schütt et al., J. Chem. Phys. 148, 241722).

Energy is a sum of atom energies; forces and stress come from autograd through
the Potential base class. Messages are summed onto atoms with torch-geometric's
``utils.scatter`` (its pure-torch path: pyg-lib and torch-scatter are not needed);
one scatter per layer is all SchNet needs, so no MessagePassing class.
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.base import Potential
from matwidgets.engine.neighbors import Edges


def shifted_softplus(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.softplus(x) - math.log(2.0)


class Interaction(nn.Module):
    """Continuous-filter convolution: x_i += W2 ssp(W1 sum_j x_j * filter(r_ij))."""

    def __init__(self, n_features: int, n_rbf: int):
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(n_rbf, n_features), nn.SiLU(), nn.Linear(n_features, n_features))
        self.into = nn.Linear(n_features, n_features, bias=False)
        self.out1 = nn.Linear(n_features, n_features)
        self.out2 = nn.Linear(n_features, n_features)

    def forward(self, x: torch.Tensor, rbf: torch.Tensor, fcut: torch.Tensor, edges: Edges) -> torch.Tensor:
        w = self.filter(rbf) * fcut[:, None]  # [n_edges, F]
        msg = self.into(x)[edges.j] * w  # [n_edges, F]
        from torch_geometric.utils import scatter  # imported on first use: it adds ~2 s to `import matwidgets`

        agg = scatter(msg, edges.i, dim=0, dim_size=x.shape[0], reduce="sum")  # [n_atoms, F]
        return x + self.out2(shifted_softplus(self.out1(agg)))


class SchNet(Potential):
    """SchNet-style potential.

    Args:
        cutoff: neighbour cutoff in Å.
        n_features: width of atom features.
        n_interactions: number of message-passing layers.
        n_rbf: number of Gaussian radial basis functions on [0, cutoff].
        max_z: highest atomic number with an embedding.
    """

    name = "schnet"
    family = "schnet"

    def __init__(self, cutoff: float = 5.0, n_features: int = 64, n_interactions: int = 3, n_rbf: int = 32, max_z: int = 100):
        super().__init__()
        self.config = dict(cutoff=cutoff, n_features=n_features, n_interactions=n_interactions, n_rbf=n_rbf, max_z=max_z)
        self.cutoff, self.max_z = float(cutoff), int(max_z)
        self.embedding = nn.Embedding(max_z + 1, n_features)
        self.register_buffer("centers", torch.linspace(0.0, cutoff, n_rbf))
        self.gamma = 0.5 / (cutoff / (n_rbf - 1)) ** 2
        self.interactions = nn.ModuleList(Interaction(n_features, n_rbf) for _ in range(n_interactions))
        self.head = nn.Sequential(nn.Linear(n_features, n_features // 2), nn.SiLU(), nn.Linear(n_features // 2, 1))
        # per-element reference energies (eV/atom), usually fitted by least squares first
        self.atom_refs = nn.Parameter(torch.zeros(max_z + 1))
        self.scale = nn.Parameter(torch.ones(()))
        self.tag = "untrained"

    def features(self, batch: AtomsBatch, vectors: torch.Tensor, edges: Edges, mask: torch.Tensor | None = None) -> torch.Tensor:
        """[n_atoms, F] atom features after message passing.

        ``mask`` [n_atoms] (bool), where given, marks present atoms: absent atoms
        start from a zero embedding and send no messages (used by SHAP's in-model masker).
        """
        r = torch.linalg.norm(vectors, dim=1)  # [n_edges]
        rbf = torch.exp(-self.gamma * (r[:, None] - self.centers) ** 2)  # [n_edges, n_rbf]
        fcut = 0.5 * (torch.cos(math.pi * r / self.cutoff) + 1.0) * (r < self.cutoff)
        x = self.embedding(batch.numbers)  # [n_atoms, F]
        if mask is not None:
            x = x * mask[:, None]
            fcut = fcut * mask[edges.j]
        for layer in self.interactions:
            x = layer(x, rbf, fcut, edges)
        return x

    def energies(self, batch: AtomsBatch, vectors: torch.Tensor, edges: Edges, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.features(batch, vectors, edges, mask)
        e = self.scale * self.head(x).squeeze(-1) + self.atom_refs[batch.numbers]  # [n_atoms]
        return e if mask is None else e * mask

    def get_config(self) -> dict:
        return dict(self.config)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """embedding, one group per interaction layer, readout (head and scale), atom_refs."""
        groups = {"embedding": list(self.embedding.parameters())}
        for k, layer in enumerate(self.interactions):
            groups[f"interaction.{k}"] = list(layer.parameters())
        groups["readout"] = [*self.head.parameters(), self.scale]
        groups["atom_refs"] = [self.atom_refs]
        return groups

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> SchNet:
        """A SchNet checkpoint (either format); ``load_model(path)`` does the same for every family."""
        from matwidgets.engine.models import load_checkpoint

        model = load_checkpoint(path, device=device or "cpu")
        if not isinstance(model, SchNet):
            raise ValueError(f"{path} holds a {model.family} model, not a SchNet")
        return model
