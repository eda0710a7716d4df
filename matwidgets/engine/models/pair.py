"""Analytic pair potentials (Lennard-Jones, Morse) for tests and teaching.

Same functional forms and cutoff conventions as ASE's ``LennardJones`` (energy
shifted to zero at the cutoff) and ``MorsePotential`` (smooth quintic cutoff
between rcut1*r0 and rcut2*r0), so the two can be compared number for number.
"""

from __future__ import annotations

import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.base import Potential
from matwidgets.engine.neighbors import Edges


class PairPotential(Potential):
    """E = sum over pairs of phi(r); atom energies take half of each of their pairs."""

    def pair_energy(self, r: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def energies(self, batch: AtomsBatch, vectors: torch.Tensor, edges: Edges) -> torch.Tensor:
        r = torch.linalg.norm(vectors, dim=1)  # [n_edges]
        phi = torch.where(r < self.cutoff, self.pair_energy(r), 0.0)  # a Verlet list may hold pairs beyond the cutoff
        # the full list holds each pair twice, so half of phi goes to each end
        return torch.zeros(batch.n_atoms, dtype=r.dtype, device=r.device).index_add(0, edges.i, 0.5 * phi)


class LennardJones(PairPotential):
    """phi(r) = 4 eps [(sigma/r)^12 - (sigma/r)^6] - phi(rc), zero beyond rc (default 3 sigma)."""

    name = "lj"
    family = "lj"

    def __init__(self, epsilon: float = 1.0, sigma: float = 1.0, cutoff: float | None = None):
        super().__init__()
        self.epsilon, self.sigma = float(epsilon), float(sigma)
        self.cutoff = float(cutoff) if cutoff is not None else 3.0 * self.sigma
        self.register_buffer("_dtype_anchor", torch.zeros((), dtype=torch.float64))

    def get_config(self) -> dict:
        return {"epsilon": self.epsilon, "sigma": self.sigma, "cutoff": self.cutoff}

    @property
    def model_id(self) -> str:
        return f"lj(epsilon={self.epsilon},sigma={self.sigma},cutoff={self.cutoff})"

    def _phi(self, r: torch.Tensor | float) -> torch.Tensor:
        s6 = (self.sigma / r) ** 6
        return 4 * self.epsilon * (s6 * s6 - s6)

    def pair_energy(self, r: torch.Tensor) -> torch.Tensor:
        return self._phi(r) - self._phi(torch.tensor(self.cutoff, dtype=r.dtype))


class Morse(PairPotential):
    """phi(r) = eps [e^{-2 rho0 (r/r0 - 1)} - 2 e^{-rho0 (r/r0 - 1)}] * fcut(r)."""

    name = "morse"
    family = "morse"

    def __init__(self, epsilon: float = 1.0, r0: float = 1.0, rho0: float = 6.0, rcut1: float = 1.9, rcut2: float = 2.7):
        super().__init__()
        self.epsilon, self.r0, self.rho0 = float(epsilon), float(r0), float(rho0)
        self._rcut_factors = (float(rcut1), float(rcut2))  # as given (in units of r0), for get_config
        self.rcut1, self.rcut2 = float(rcut1) * self.r0, float(rcut2) * self.r0
        self.cutoff = self.rcut2
        self.register_buffer("_dtype_anchor", torch.zeros((), dtype=torch.float64))

    def get_config(self) -> dict:
        return {"epsilon": self.epsilon, "r0": self.r0, "rho0": self.rho0, "rcut1": self._rcut_factors[0], "rcut2": self._rcut_factors[1]}

    @property
    def model_id(self) -> str:
        return f"morse(epsilon={self.epsilon},r0={self.r0},rho0={self.rho0},rcut=({self.rcut1},{self.rcut2}))"

    def pair_energy(self, r: torch.Tensor) -> torch.Tensor:
        expf = torch.exp(self.rho0 * (1.0 - r / self.r0))
        s = (1.0 - (r - self.rcut1) / (self.rcut2 - self.rcut1)).clamp(0.0, 1.0)
        fcut = s**3 * (6 * s**2 - 15 * s + 10)  # quintic smoothstep, C2 at both ends
        return self.epsilon * expf * (expf - 2.0) * fcut
