"""Batched molecular dynamics: NVE velocity Verlet, Langevin (BAOAB) and Nose-Hoover
chain NVT, and NPT (Langevin thermostat + stochastic cell rescaling barostat).

Every system of an AtomsBatch moves at once with its own temperature. Step functions
are pure (state in, state out); ``run_md`` wraps them in a generator that yields
frames every ``every`` steps, writes them to a trajectory file as it goes and stops
with a SimulationError naming the step when a run explodes (frames so far are kept).

Units: Å, fs, amu, eV, K; velocities in Å/fs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from ase.data import atomic_masses

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA

KB = 8.617333262e-5  # eV/K
MVV2E = 103.642696  # amu (Å/fs)^2 in eV
MAX_FORCE = 1e3  # eV/Å; beyond this a run has exploded


class SimulationError(RuntimeError):
    """A run became unphysical (NaN or huge energies/forces); the message names the step."""


@dataclass
class MDControl:
    """Settings a running simulation reads every step (a widget may change them live)."""

    temperature: float = 300.0  # K
    pressure: float = 0.0  # GPa (NPT)
    stop: bool = False


@dataclass
class MDState:
    batch: AtomsBatch
    velocities: torch.Tensor  # [n_atoms, 3] Å/fs
    masses: torch.Tensor  # [n_atoms] amu
    energy: torch.Tensor  # [n_systems] eV
    forces: torch.Tensor  # [n_atoms, 3] eV/Å
    stress: torch.Tensor  # [n_systems, 3, 3] GPa
    step: int = 0
    extra: dict = field(default_factory=dict)  # thermostat variables


@dataclass
class MDFrame:
    step: int
    time: float  # fs
    positions: np.ndarray  # [n_atoms, 3]
    cell: np.ndarray  # [3, 3]
    energy: float  # potential energy, eV
    kinetic_energy: float  # eV
    temperature: float  # K
    pressure: float  # GPa, including the kinetic term

    @property
    def total_energy(self) -> float:
        return self.energy + self.kinetic_energy


def _sys_sum(batch: AtomsBatch, per_atom: torch.Tensor) -> torch.Tensor:
    return torch.zeros(batch.n_systems, dtype=per_atom.dtype, device=per_atom.device).index_add(0, batch.system_idx, per_atom)


def kinetic_energy(state: MDState) -> torch.Tensor:
    """[n_systems] kinetic energy in eV."""
    return 0.5 * MVV2E * _sys_sum(state.batch, state.masses * (state.velocities**2).sum(1))


def degrees_of_freedom(batch: AtomsBatch) -> torch.Tensor:
    n = batch.counts.to(batch.dtype)
    return torch.where(n > 1, 3 * n - 3, 3 * n)


def temperature(state: MDState) -> torch.Tensor:
    return 2 * kinetic_energy(state) / (degrees_of_freedom(state.batch) * KB)


def pressure(state: MDState) -> torch.Tensor:
    """[n_systems] pressure in GPa: kinetic term minus a third of the stress trace."""
    vol = state.batch.volumes
    kin = 2 * kinetic_energy(state) / (3 * vol) * EV_PER_A3_TO_GPA
    return kin - torch.diagonal(state.stress, dim1=1, dim2=2).sum(1) / 3


def init_state(batch: AtomsBatch, model: Potential, temperature_k: float | torch.Tensor = 0.0, seed: int | None = None) -> MDState:
    """Maxwell-Boltzmann velocities at ``temperature_k`` with zero total momentum, seeded."""
    masses = torch.as_tensor(atomic_masses[batch.numbers.cpu().numpy()], dtype=batch.dtype, device=batch.device)
    gen = torch.Generator(device="cpu").manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
    v = torch.randn(batch.n_atoms, 3, generator=gen, dtype=batch.dtype).to(batch.device)
    t_atom = torch.as_tensor(temperature_k, dtype=batch.dtype, device=batch.device).expand(batch.n_systems)[batch.system_idx]
    v = v * torch.sqrt(KB * t_atom / (masses * MVV2E))[:, None]
    # remove centre-of-mass motion per system
    p = _sys_sum_vec(batch, masses[:, None] * v)
    m = _sys_sum(batch, masses)
    v = v - (p / m[:, None])[batch.system_idx]
    out = model.compute(batch)
    return MDState(batch, v, masses, out["energy"], out["forces"], out["stress"])


def _sys_sum_vec(batch: AtomsBatch, per_atom: torch.Tensor) -> torch.Tensor:
    return torch.zeros(batch.n_systems, per_atom.shape[1], dtype=per_atom.dtype, device=per_atom.device).index_add(0, batch.system_idx, per_atom)


def _evaluate(state: MDState, model: Potential, batch: AtomsBatch, velocities: torch.Tensor) -> MDState:
    out = model.compute(batch)
    return replace(state, batch=batch, velocities=velocities, energy=out["energy"], forces=out["forces"], stress=out["stress"], step=state.step + 1)


def _accel(state: MDState) -> torch.Tensor:
    return state.forces / (state.masses[:, None] * MVV2E)  # [n_atoms, 3] Å/fs^2


def nve_step(state: MDState, model: Potential, dt: float) -> MDState:
    """Velocity Verlet."""
    v = state.velocities + 0.5 * dt * _accel(state)
    batch = state.batch.with_positions(state.batch.positions + dt * v)
    new = _evaluate(state, model, batch, v)
    new.velocities = v + 0.5 * dt * _accel(new)
    return new


def langevin_step(state: MDState, model: Potential, dt: float, temperature_k: torch.Tensor, friction: float, gen: torch.Generator) -> MDState:
    """BAOAB Langevin (Leimkuhler & Matthews 2013); ``friction`` in 1/fs."""
    v = state.velocities + 0.5 * dt * _accel(state)
    x = state.batch.positions + 0.5 * dt * v
    c1 = math.exp(-friction * dt)
    sigma = torch.sqrt(KB * temperature_k[state.batch.system_idx] / (state.masses * MVV2E))[:, None]
    noise = torch.randn(v.shape, generator=gen, dtype=v.dtype).to(v.device)
    v = c1 * v + math.sqrt(1 - c1 * c1) * sigma * noise
    x = x + 0.5 * dt * v
    new = _evaluate(state, model, state.batch.with_positions(x), v)
    new.velocities = v + 0.5 * dt * _accel(new)
    return new


def nose_hoover_step(state: MDState, model: Potential, dt: float, temperature_k: torch.Tensor, tau: float, chain: int = 3) -> MDState:
    """Nose-Hoover chain (Martyna, Klein & Tuckerman 1992), one Trotter half step each side."""
    dof = degrees_of_freedom(state.batch)
    kt = KB * temperature_k
    q = torch.stack([dof * kt * tau**2] + [kt * tau**2] * (chain - 1))  # [chain, n_systems] eV fs^2
    xi = state.extra.get("nhc_v", torch.zeros_like(q))  # thermostat velocities, 1/fs

    h = 0.5 * dt

    def kick(xi: torch.Tensor, ke2: torch.Tensor, k: int) -> None:
        """Quarter-step update of thermostat k, damped by thermostat k+1 on both sides."""
        g = (ke2 - dof * kt) / q[0] if k == 0 else (q[k - 1] * xi[k - 1] ** 2 - kt) / q[k]
        damp = torch.exp(-0.25 * h * xi[k + 1]) if k < chain - 1 else 1.0
        xi[k] = (xi[k] * damp + 0.5 * h * g) * damp

    def half(st: MDState, xi: torch.Tensor) -> tuple[MDState, torch.Tensor]:
        ke2 = 2 * kinetic_energy(st)
        for k in reversed(range(chain)):
            kick(xi, ke2, k)
        scale = torch.exp(-h * xi[0])
        st = replace(st, velocities=st.velocities * scale[st.batch.system_idx][:, None])
        ke2 = ke2 * scale**2
        for k in range(chain):
            kick(xi, ke2, k)
        return st, xi

    st, xi = half(state, xi.clone())
    st = nve_step(st, model, dt)
    st, xi = half(st, xi)
    st.extra = {**st.extra, "nhc_v": xi}
    return st


def npt_step(state: MDState, model: Potential, dt: float, temperature_k: torch.Tensor, pressure_gpa: float, friction: float,
             tau_p: float, compressibility: float, gen: torch.Generator) -> MDState:
    """Langevin BAOAB + isotropic stochastic cell rescaling (Bernetti & Bussi 2020).

    ``tau_p`` in fs, ``compressibility`` in 1/GPa (a guess of the material's is enough:
    it sets how fast the volume relaxes, not where it ends).
    """
    new = langevin_step(state, model, dt, temperature_k, friction, gen)
    vol = new.batch.volumes
    p_target = pressure_gpa / EV_PER_A3_TO_GPA
    p_inst = pressure(new) / EV_PER_A3_TO_GPA  # eV/Å^3
    kt = KB * temperature_k
    beta = compressibility * EV_PER_A3_TO_GPA  # Å^3/eV
    noise = torch.randn(vol.shape, generator=gen, dtype=vol.dtype).to(vol.device)
    d_eps = -beta / tau_p * (p_target - p_inst) * dt + torch.sqrt(2 * kt * beta * dt / (vol * tau_p)) * noise
    scale = torch.exp(d_eps / 3)  # [n_systems] linear scale
    s_atom = scale[new.batch.system_idx][:, None]
    batch = new.batch.with_positions(new.batch.positions * s_atom, new.batch.cell * scale[:, None, None])
    out = model.compute(batch)
    return replace(new, batch=batch, velocities=new.velocities / s_atom, energy=out["energy"], forces=out["forces"], stress=out["stress"])


def check_finite(state: MDState) -> None:
    bad_e = ~torch.isfinite(state.energy)
    fmax = state.forces.abs().max() if state.forces.numel() else torch.tensor(0.0)
    if bad_e.any() or not torch.isfinite(fmax) or fmax > MAX_FORCE:
        what = "energy is NaN or infinite" if bad_e.any() else f"forces reached {float(fmax):.3g} eV/Å"
        raise SimulationError(f"simulation exploded at step {state.step}: {what} (frames up to here are kept)")


def frames_of(state: MDState, dt: float) -> list[MDFrame]:
    """One MDFrame per system of the current state."""
    ke, temp, pres = kinetic_energy(state).tolist(), temperature(state).tolist(), pressure(state).tolist()
    pos = state.batch.split(state.batch.positions.detach().cpu())
    cells = state.batch.cell.detach().cpu().numpy()
    e = state.energy.tolist()
    return [MDFrame(state.step, state.step * dt, pos[k].numpy().copy(), cells[k].copy(), e[k], ke[k], temp[k], pres[k]) for k in range(state.batch.n_systems)]


def run_md(structure, model: Potential | str | None = None, ensemble: str = "nvt", temperature: float = 300.0, timestep: float = 1.0,
           steps: int = 1000, every: int = 10, seed: int | None = None, trajectory: str | os.PathLike | None = None,
           control: MDControl | None = None, thermostat: str = "langevin", friction: float = 0.01, tau: float = 100.0,
           pressure: float = 0.0, tau_p: float = 1000.0, compressibility: float = 0.01) -> Iterator:
    """Run MD; yields an MDFrame (a list of them for a list of structures) every ``every`` steps.

    ensemble: "nve", "nvt" (thermostat "langevin" or "nose-hoover") or "npt".
    ``control`` (MDControl) lets a caller change temperature/pressure or stop while it runs.
    ``trajectory``: an extxyz path appended frame by frame (single structure only).
    """
    ensemble = ensemble.lower()
    if ensemble not in ("nve", "nvt", "npt"):
        raise ValueError(f"unknown ensemble {ensemble!r}: use 'nve', 'nvt' or 'npt'")
    if thermostat not in ("langevin", "nose-hoover"):
        raise ValueError(f"unknown thermostat {thermostat!r}: use 'langevin' or 'nose-hoover'")
    if timestep <= 0 or steps < 0 or every < 1:
        raise ValueError("timestep must be > 0, steps >= 0 and every >= 1")
    model = load_model() if model is None else load_model(model) if isinstance(model, str) else model
    single = not isinstance(structure, (list, tuple))
    batch = AtomsBatch.from_structures(structure, device=model.device)  # float64 state; the model casts for itself
    control = control or MDControl(temperature=temperature, pressure=pressure)
    gen = torch.Generator().manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
    state = init_state(batch, model, temperature, seed=int(torch.randint(0, 2**31, (1,), generator=gen)))
    writer = _TrajectoryWriter(trajectory) if trajectory is not None else None
    for k in range(steps + 1):
        if k > 0:
            t_target = torch.full((batch.n_systems,), float(control.temperature), dtype=batch.dtype, device=batch.device)
            if ensemble == "nve":
                state = nve_step(state, model, timestep)
            elif ensemble == "nvt" and thermostat == "nose-hoover":
                state = nose_hoover_step(state, model, timestep, t_target, tau)
            elif ensemble == "nvt":
                state = langevin_step(state, model, timestep, t_target, friction, gen)
            else:
                state = npt_step(state, model, timestep, t_target, control.pressure, friction, tau_p, compressibility, gen)
            check_finite(state)
        if k % every == 0 or k == steps or control.stop:
            frames = frames_of(state, timestep)
            if writer is not None:
                writer.write(state, frames[0])
            yield frames[0] if single else frames
        if control.stop:
            return


class _TrajectoryWriter:
    """Appends frames to an extxyz file, flushed each time, so a stopped run keeps them."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        open(self.path, "w").close()  # a new run starts a new file

    def write(self, state: MDState, frame: MDFrame) -> None:
        import ase.io
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = state.batch.to_ase()[0]
        n = len(atoms)
        atoms.set_velocities(state.velocities[:n].detach().cpu().numpy() * _ASE_VELOCITY)
        atoms.calc = SinglePointCalculator(atoms, energy=frame.energy, forces=state.forces[:n].detach().cpu().numpy())
        atoms.info.update(step=frame.step, time_fs=frame.time, temperature_K=frame.temperature, pressure_GPa=frame.pressure)
        with open(self.path, "a") as fh:
            ase.io.write(fh, atoms, format="extxyz")


_ASE_VELOCITY = 1.0 / 0.09822694788464063  # Å/fs -> ASE velocity units (Å / (Å sqrt(amu/eV)))
