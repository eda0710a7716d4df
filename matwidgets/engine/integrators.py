"""Batched MD integrators as pure step functions (state in, state out, no I/O).

NVE velocity Verlet, Langevin BAOAB, Nose-Hoover chain and NPT (Langevin + isotropic
or anisotropic stochastic cell rescaling). Every system of an AtomsBatch moves at once
with its own temperature; every step costs one model evaluation. ``dynamics.run_md``
drives them and reports frames.

Units: Å, fs, amu, eV, K; velocities in Å/fs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from ase.data import atomic_masses

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA
from matwidgets.engine.neighbors import Edges

KB = 8.617333262e-5  # eV/K
MVV2E = 103.642696  # amu (Å/fs)^2 in eV


@dataclass
class MDState:
    batch: AtomsBatch
    velocities: torch.Tensor  # [n_atoms, 3] Å/fs
    masses: torch.Tensor  # [n_atoms] amu
    energy: torch.Tensor  # [n_systems] eV
    forces: torch.Tensor  # [n_atoms, 3] eV/Å
    stress: torch.Tensor  # [n_systems, 3, 3] GPa
    dof: torch.Tensor | None = None  # [n_systems] degrees of freedom the temperature counts
    step: int = 0
    extra: dict = field(default_factory=dict)  # thermostat variables
    # the run's neighbour list callable (a VerletList), passed to every model evaluation;
    # None: the model builds a new list each time
    neighbors: Callable[[AtomsBatch, float], Edges] | None = None
    # whether any system is periodic in 3D, so a stress is wanted: decided once per run
    # (reading it from the pbc tensor every step would be a host sync on a GPU)
    want_stress: bool = True


def _sys_sum(batch: AtomsBatch, per_atom: torch.Tensor) -> torch.Tensor:
    return torch.zeros(batch.n_systems, dtype=per_atom.dtype, device=per_atom.device).index_add(0, batch.system_idx, per_atom)


def kinetic_energy(state: MDState) -> torch.Tensor:
    """[n_systems] kinetic energy in eV."""
    return 0.5 * MVV2E * _sys_sum(state.batch, state.masses * (state.velocities**2).sum(1))


def degrees_of_freedom(batch: AtomsBatch, momentum_conserved: bool = True) -> torch.Tensor:
    """[n_systems] kinetic degrees of freedom.

    3N - 3 only where total momentum is conserved (NVE, Nose-Hoover started from zero
    momentum). Langevin noise moves the centre of mass, so there all 3N count: with
    3N - 3 a 4-atom cell at a 60 K target would read 80 K.
    """
    n = batch.counts.to(batch.dtype)
    return torch.where(n > 1, 3 * n - 3, 3 * n) if momentum_conserved else 3 * n


def temperature(state: MDState) -> torch.Tensor:
    dof = state.dof if state.dof is not None else degrees_of_freedom(state.batch)
    return 2 * kinetic_energy(state) / (dof * KB)


def pressure(state: MDState) -> torch.Tensor:
    """[n_systems] pressure in GPa: kinetic term minus a third of the stress trace
    (NaN for systems that are not periodic in all three directions)."""
    return torch.diagonal(pressure_tensor(state), dim1=1, dim2=2).mean(1) * EV_PER_A3_TO_GPA


def pressure_tensor(state: MDState) -> torch.Tensor:
    """[n_systems, 3, 3] instantaneous pressure tensor in eV/Å^3: sum(m v v^T)/V - stress."""
    mv = (state.masses[:, None] * state.velocities)[:, :, None] * state.velocities[:, None, :] * MVV2E  # [n_atoms, 3, 3]
    kin = torch.zeros(state.batch.n_systems, 3, 3, dtype=mv.dtype, device=mv.device).index_add(0, state.batch.system_idx, mv)
    p = kin / state.batch.volumes[:, None, None] - state.stress / EV_PER_A3_TO_GPA
    periodic = state.batch.pbc.all(dim=1)
    return torch.where(periodic[:, None, None], p, torch.full_like(p, float("nan")))


def init_state(batch: AtomsBatch, model: Potential, temperature_k: float | torch.Tensor = 0.0, seed: int | None = None,
               momentum_conserved: bool = True, neighbors: Callable[[AtomsBatch, float], Edges] | None = None) -> MDState:
    """Maxwell-Boltzmann velocities at ``temperature_k`` with zero total momentum, seeded.

    ``momentum_conserved``: whether the integrator keeps total momentum (sets the
    degrees of freedom the temperature counts; False for Langevin thermostats).
    ``neighbors``: a neighbour-list callable (a VerletList) every step of the run reuses.
    Random numbers are drawn on the batch's device (the same numbers as before on the CPU).
    """
    masses = torch.as_tensor(atomic_masses[batch.numbers.cpu().numpy()], dtype=batch.dtype, device=batch.device)
    gen = torch.Generator(device=batch.device).manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
    v = torch.randn(batch.n_atoms, 3, generator=gen, dtype=batch.dtype, device=batch.device)
    t_atom = torch.as_tensor(temperature_k, dtype=batch.dtype, device=batch.device).expand(batch.n_systems)[batch.system_idx]
    v = v * torch.sqrt(KB * t_atom / (masses * MVV2E))[:, None]
    # remove centre-of-mass motion per system
    p = _sys_sum_vec(batch, masses[:, None] * v)
    m = _sys_sum(batch, masses)
    v = v - (p / m[:, None])[batch.system_idx]
    want_stress = bool(batch.pbc.all(dim=1).any())  # once per run
    energy, forces, stress = _compute(model, batch, neighbors, want_stress)
    return MDState(batch, v, masses, energy, forces, stress, dof=degrees_of_freedom(batch, momentum_conserved),
                   neighbors=neighbors, want_stress=want_stress)


def _compute(model: Potential, batch: AtomsBatch, neighbors: Callable[[AtomsBatch, float], Edges] | None = None,
             want_stress: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Energy, forces and stress; the stress of a system that is not periodic in all three
    directions is NaN (a molecule has none; a vacuum box's would be an artefact)."""
    periodic = batch.pbc.all(dim=1)
    # only models that take a neighbour list get one (CHGNet's wrapper builds its own graphs)
    out = model.compute(batch, stress=want_stress, **({"neighbors": neighbors} if neighbors is not None else {}))
    e = out["energy"]
    stress = out.get("stress", torch.zeros(batch.n_systems, 3, 3, dtype=e.dtype, device=e.device))
    stress = torch.where(periodic[:, None, None], stress, torch.full_like(stress, float("nan")))
    return e, out["forces"], stress


def _sys_sum_vec(batch: AtomsBatch, per_atom: torch.Tensor) -> torch.Tensor:
    return torch.zeros(batch.n_systems, per_atom.shape[1], dtype=per_atom.dtype, device=per_atom.device).index_add(0, batch.system_idx, per_atom)


def _evaluate(state: MDState, model: Potential, batch: AtomsBatch, velocities: torch.Tensor) -> MDState:
    energy, forces, stress = _compute(model, batch, state.neighbors, state.want_stress)
    return replace(state, batch=batch, velocities=velocities, energy=energy, forces=forces, stress=stress, step=state.step + 1)


def _accel(state: MDState) -> torch.Tensor:
    return state.forces / (state.masses[:, None] * MVV2E)  # [n_atoms, 3] Å/fs^2


def nve_step(state: MDState, model: Potential, dt: float) -> MDState:
    """Velocity Verlet."""
    v = state.velocities + 0.5 * dt * _accel(state)
    batch = state.batch.with_positions(state.batch.positions + dt * v)
    new = _evaluate(state, model, batch, v)
    new.velocities = v + 0.5 * dt * _accel(new)
    return new


def _ornstein_uhlenbeck(state: MDState, v: torch.Tensor, dt: float, temperature_k: torch.Tensor, friction: float,
                        gen: torch.Generator) -> torch.Tensor:
    """The exact O step of BAOAB: friction plus noise over ``dt``."""
    c1 = math.exp(-friction * dt)
    sigma = torch.sqrt(KB * temperature_k[state.batch.system_idx] / (state.masses * MVV2E))[:, None]
    noise = torch.randn(v.shape, generator=gen, dtype=v.dtype, device=v.device)  # gen lives on v's device
    return c1 * v + math.sqrt(1 - c1 * c1) * sigma * noise


def langevin_step(state: MDState, model: Potential, dt: float, temperature_k: torch.Tensor, friction: float, gen: torch.Generator) -> MDState:
    """BAOAB Langevin (Leimkuhler & Matthews 2013); ``friction`` in 1/fs."""
    v = state.velocities + 0.5 * dt * _accel(state)
    x = state.batch.positions + 0.5 * dt * v
    v = _ornstein_uhlenbeck(state, v, dt, temperature_k, friction, gen)
    x = x + 0.5 * dt * v
    new = _evaluate(state, model, state.batch.with_positions(x), v)
    new.velocities = v + 0.5 * dt * _accel(new)
    return new


def nose_hoover_step(state: MDState, model: Potential, dt: float, temperature_k: torch.Tensor, tau: float, chain: int = 3) -> MDState:
    """Nose-Hoover chain (Martyna, Klein & Tuckerman 1992), one Trotter half step each side.

    The thermostat positions are integrated too, so ``nose_hoover_energy`` gives the
    extended energy this integrator conserves.
    """
    dof = state.dof if state.dof is not None else degrees_of_freedom(state.batch)
    kt = KB * temperature_k
    q = torch.stack([dof * kt * tau**2] + [kt * tau**2] * (chain - 1))  # [chain, n_systems] eV fs^2
    xi = state.extra.get("nhc_v", torch.zeros_like(q))  # thermostat velocities, 1/fs
    eta = state.extra.get("nhc_x", torch.zeros_like(q))  # thermostat positions (dimensionless)

    h = 0.5 * dt

    def kick(xi: torch.Tensor, ke2: torch.Tensor, k: int) -> None:
        """Quarter-step update of thermostat k, damped by thermostat k+1 on both sides."""
        g = (ke2 - dof * kt) / q[0] if k == 0 else (q[k - 1] * xi[k - 1] ** 2 - kt) / q[k]
        damp = torch.exp(-0.25 * h * xi[k + 1]) if k < chain - 1 else 1.0
        xi[k] = (xi[k] * damp + 0.5 * h * g) * damp

    def half(st: MDState, xi: torch.Tensor, eta: torch.Tensor) -> tuple[MDState, torch.Tensor, torch.Tensor]:
        ke2 = 2 * kinetic_energy(st)
        for k in reversed(range(chain)):
            kick(xi, ke2, k)
        scale = torch.exp(-h * xi[0])
        st = replace(st, velocities=st.velocities * scale[st.batch.system_idx][:, None])
        eta = eta + h * xi
        ke2 = ke2 * scale**2
        for k in range(chain):
            kick(xi, ke2, k)
        return st, xi, eta

    st, xi, eta = half(state, xi.clone(), eta)
    st = nve_step(st, model, dt)
    st, xi, eta = half(st, xi, eta)
    st.extra = {**st.extra, "nhc_v": xi, "nhc_x": eta, "nhc_q": q, "nhc_kt": kt}
    return st


def nose_hoover_energy(state: MDState) -> torch.Tensor:
    """[n_systems] energy of the Nose-Hoover chain (eV): sum(Q xi^2 / 2) + N_f kT eta_1 + kT sum(eta_k>1)."""
    ex = state.extra
    if "nhc_v" not in ex:
        return torch.zeros_like(state.energy)
    xi, eta, q, kt = ex["nhc_v"], ex["nhc_x"], ex["nhc_q"], ex["nhc_kt"]
    dof = state.dof if state.dof is not None else degrees_of_freedom(state.batch)
    return 0.5 * (q * xi**2).sum(0) + dof * kt * eta[0] + kt * eta[1:].sum(0)


def npt_step(state: MDState, model: Potential, dt: float, temperature_k: torch.Tensor, pressure_gpa: float, friction: float,
             tau_p: float, compressibility: float, gen: torch.Generator, anisotropic: bool = False) -> MDState:
    """Langevin BAOAB + stochastic cell rescaling (Bernetti & Bussi, JCP 153, 114107 (2020)),
    isotropic or, with ``anisotropic``, every component of a symmetric strain (Del Tatto et
    al., Appl. Sci. 12, 1139 (2022)), so non-cubic cells relax their shape too.

    One model evaluation per step: the barostat acts after the second drift with the
    virial of the last evaluation and the current kinetic tensor, as GROMACS does.
    ``tau_p`` in fs, ``compressibility`` in 1/GPa (a guess of the material's is enough:
    it sets how fast the volume relaxes, not where it ends or how much it fluctuates).
    """
    b = state.batch
    v = state.velocities + 0.5 * dt * _accel(state)
    x = b.positions + 0.5 * dt * v
    v = _ornstein_uhlenbeck(state, v, dt, temperature_k, friction, gen)
    x = x + 0.5 * dt * v
    mid = replace(state, batch=b.with_positions(x), velocities=v)
    deform = _cell_rescaling(mid, dt, temperature_k, pressure_gpa, tau_p, compressibility, gen, anisotropic)  # [n_systems, 3, 3]
    x = torch.einsum("ax,axy->ay", x, deform[b.system_idx])
    v = torch.einsum("ax,axy->ay", v, torch.linalg.inv_ex(deform)[0][b.system_idx])  # inv_ex: no error check, no sync
    new = _evaluate(state, model, b.with_positions(x, b.cell @ deform), v)
    new.velocities = v + 0.5 * dt * _accel(new)
    return new


def _cell_rescaling(state: MDState, dt: float, temperature_k: torch.Tensor, pressure_gpa: float, tau_p: float, compressibility: float,
                    gen: torch.Generator, anisotropic: bool) -> torch.Tensor:
    """[n_systems, 3, 3] deformation D of one stochastic cell rescaling step (cell -> cell @ D).

    Isotropic: d(ln V) = -(beta/tau)(P0 - P - kT/V) dt + sqrt(2 kT beta dt / (V tau)) dW.
    Anisotropic: the same per strain component with beta/3 (so its trace is the isotropic
    move); off-diagonal noise has half the variance because each appears twice in the
    symmetric strain. No rotation: the strain is symmetric.
    """
    vol = state.batch.volumes  # [n_systems]
    kt = KB * temperature_k
    beta = compressibility * EV_PER_A3_TO_GPA  # Å^3/eV
    p0 = pressure_gpa / EV_PER_A3_TO_GPA
    p_int = pressure_tensor(state)  # [n_systems, 3, 3] eV/Å^3
    eye = torch.eye(3, dtype=vol.dtype, device=vol.device)
    if anisotropic:
        drive = (p0 - kt / vol)[:, None, None] * eye - p_int
        noise = torch.randn((vol.shape[0], 3, 3), generator=gen, dtype=vol.dtype, device=vol.device)
        noise = (noise + noise.transpose(1, 2)) / 2  # diagonal variance 1, off-diagonal 1/2
        d_eps = -beta / (3 * tau_p) * drive * dt + torch.sqrt(2 * kt * beta * dt / (3 * vol * tau_p))[:, None, None] * noise
        return torch.linalg.matrix_exp(d_eps)
    p_iso = torch.diagonal(p_int, dim1=1, dim2=2).mean(1)
    noise = torch.randn(vol.shape, generator=gen, dtype=vol.dtype, device=vol.device)
    d_eps = -beta / tau_p * (p0 - p_iso - kt / vol) * dt + torch.sqrt(2 * kt * beta * dt / (vol * tau_p)) * noise
    return torch.exp(d_eps / 3)[:, None, None] * eye


