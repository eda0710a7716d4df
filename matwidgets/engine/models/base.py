"""The one contract every model follows.

A Potential maps an AtomsBatch to per-system energies and per-atom energies.
Forces and stress come from autograd of the total energy with respect to the
positions and to a homogeneous strain applied to the whole cell:

    F_i = -dE/dr_i            stress = (1/V) dE/d(strain)   (ASE sign convention)

so every model written as an energy gets exact, consistent forces and stress.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.neighbors import Edges, edge_vectors, neighbor_list

EV_PER_A3_TO_GPA = 160.21766208


def weights_hash(module: torch.nn.Module) -> str:
    """A short hash of every parameter and buffer (names, shapes, dtypes, values)."""
    h = hashlib.sha1()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


class Potential(torch.nn.Module):
    """Base class. Subclasses implement ``energies(batch, vectors, edges)``.

    Attributes:
        name: short id used in caches and printed tables.
        cutoff: neighbour cutoff in Å.
        has_magmoms: whether ``compute`` returns "magmoms".
        max_z: the highest atomic number the model knows.
    """

    name: str = "potential"
    cutoff: float = 5.0
    has_magmoms: bool = False
    max_z: int = 118

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        b = next(self.buffers(), None)
        t = p if p is not None else b
        return t.device if t is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        p = next(self.parameters(), None)
        b = next((b for b in self.buffers() if b.is_floating_point()), None)
        t = p if p is not None else b
        return t.dtype if t is not None else torch.float64

    @property
    def model_id(self) -> str:
        """Identifies the model and its weights (a cache key): different weights never share one."""
        return f"{self.name}-{weights_hash(self)}"

    def energies(self, batch: AtomsBatch, vectors: torch.Tensor, edges: Edges) -> torch.Tensor:
        """[n_atoms] atom energies in eV from [n_edges, 3] edge vectors."""
        raise NotImplementedError

    def check_numbers(self, batch: AtomsBatch) -> None:
        from matwidgets.errors import InvalidStructureError

        if int(batch.numbers.max()) > self.max_z:
            from pymatgen.core.periodic_table import Element

            z = int(batch.numbers.max())
            raise InvalidStructureError(f"element {Element.from_Z(z).symbol} (Z={z}) is not supported by model {self.name} (Z <= {self.max_z})")

    def compute(self, batch: AtomsBatch, forces: bool = True, stress: bool = True, training: bool = False,
                allow_isolated: bool = False, neighbors: Callable[[AtomsBatch, float], Edges] | None = None) -> dict[str, torch.Tensor]:
        """Energies, forces and stress of every system of ``batch``.

        ``allow_isolated``: evaluate atoms with no neighbour within the cutoff instead of
        refusing them (SHAP's remove masker makes such cells). A per-call argument, never
        model state, so concurrent jobs sharing one model cannot affect each other. Pair
        and message-passing models never refuse them; CHGNet does unless allowed, as its
        own package does.

        ``neighbors``: a callable ``(batch, cutoff) -> Edges`` (a Verlet list during MD and
        relaxation). It may return extra pairs beyond the cutoff; every model ignores them.

        Returns a dict of tensors (detached unless ``training``, which keeps the
        graph so a loss on forces can be back-propagated to the parameters):
            energy [n_systems] eV, atom_energies [n_atoms] eV,
            forces [n_atoms, 3] eV/Å, stress [n_systems, 3, 3] GPa.
        """
        self.check_numbers(batch)
        batch = batch.to(self.device, self.dtype)
        edges = (neighbors or neighbor_list)(batch, self.cutoff)
        pos = batch.positions.detach().requires_grad_(forces)
        strain = torch.zeros_like(batch.cell).requires_grad_(stress)  # [n_systems, 3, 3]
        deform = torch.eye(3, dtype=batch.dtype, device=batch.device) + strain
        pos_s = torch.einsum("ax,axy->ay", pos, deform[batch.system_idx])
        cell_s = batch.cell @ deform
        vectors = edge_vectors(pos_s, cell_s, batch.system_idx, edges)
        atom_e = self.energies(batch, vectors, edges)
        energy = torch.zeros(batch.n_systems, dtype=atom_e.dtype, device=atom_e.device)
        energy = energy.index_add(0, batch.system_idx, atom_e)
        keep = (lambda t: t) if training else (lambda t: t.detach())
        out = {"energy": keep(energy), "atom_energies": keep(atom_e)}
        wrt = [t for t, want in ((pos, forces), (strain, stress)) if want]
        if wrt:
            grads = torch.autograd.grad(energy.sum(), wrt, allow_unused=True, create_graph=training)
            grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, wrt)]
            if forces:
                out["forces"] = keep(-grads[0])
            if stress:
                volume = torch.linalg.det(batch.cell).abs()[:, None, None]
                out["stress"] = keep(grads[-1] / volume * EV_PER_A3_TO_GPA)
        return out
