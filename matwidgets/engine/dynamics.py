"""Molecular dynamics runs: ``run_md`` drives the step functions of integrators.py
(NVE, Langevin or Nose-Hoover NVT, NPT with isotropic or anisotropic cell rescaling)
in a generator that yields frames every ``every`` steps, writes them to a trajectory
file as it goes and stops with a SimulationError naming the step when a run explodes
(frames so far are kept).

Units: Å, fs, amu, eV, K; velocities in Å/fs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.integrators import (  # noqa: F401  (re-exported: the step functions scripts use)
    KB,
    MVV2E,
    MDState,
    init_state,
    kinetic_energy,
    langevin_step,
    nose_hoover_energy,
    nose_hoover_step,
    npt_step,
    nve_step,
    pressure,
    temperature,
)
from matwidgets.engine.integrators import degrees_of_freedom
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA
from matwidgets.engine.neighbors import DEFAULT_SKIN, verlet_list_for
from matwidgets.engine.threads import threads_for

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
class MDFrame:
    step: int
    time: float  # fs
    positions: np.ndarray  # [n_atoms, 3]
    cell: np.ndarray  # [3, 3]
    energy: float  # potential energy, eV
    kinetic_energy: float  # eV
    temperature: float  # K
    pressure: float | None  # GPa, including the kinetic term; None without a periodic cell
    conserved_energy: float | None = None  # eV: NVE total energy, Nose-Hoover extended energy; None for stochastic thermostats

    @property
    def total_energy(self) -> float:
        return self.energy + self.kinetic_energy


def check_finite(state: MDState) -> None:
    bad_e = ~torch.isfinite(state.energy)
    fmax = state.forces.abs().max() if state.forces.numel() else torch.tensor(0.0)
    if bad_e.any() or not torch.isfinite(fmax) or fmax > MAX_FORCE:
        what = "energy is NaN or infinite" if bad_e.any() else f"forces reached {float(fmax):.3g} eV/Å"
        raise SimulationError(f"simulation exploded at step {state.step}: {what} (frames up to here are kept)")


class _ExplosionWatch:
    """Notes on the device the first step whose energy or forces went bad; no host sync.

    ``check_finite`` reads the device every step; this keeps a [1] tensor holding the first
    bad step (-1: none yet) and ``raise_if_bad`` reads it only when the run reports.
    """

    def __init__(self, device: torch.device):
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.fmax = torch.zeros((), dtype=torch.float64, device=device)

    def update(self, state: MDState) -> None:
        fmax = state.forces.abs().amax() if state.forces.numel() else torch.zeros((), dtype=state.forces.dtype, device=state.forces.device)
        bad = ~torch.isfinite(state.energy).all() | ~torch.isfinite(fmax) | (fmax > MAX_FORCE)
        new = bad & (self.first_bad < 0)
        self.first_bad = torch.where(new, state.step, self.first_bad)
        self.fmax = torch.where(new, fmax.to(self.fmax.dtype), self.fmax)

    def raise_if_bad(self) -> None:
        step = int(self.first_bad)  # the host sync, at reporting intervals only
        if step >= 0:
            f = float(self.fmax)
            what = f"forces reached {f:.3g} eV/Å" if np.isfinite(f) else "energy or forces are NaN or infinite"
            raise SimulationError(f"simulation exploded at step {step}: {what} (frames up to here are kept)")


def frames_of(state: MDState, dt: float, conserved: torch.Tensor | None = None, counts: list[int] | None = None) -> list[MDFrame]:
    """One MDFrame per system of the current state.

    Three host transfers for all systems together (scalars stacked into one tensor,
    positions, cells); ``counts`` (atoms per system, known to the caller) saves a fourth.
    """
    n_sys = state.batch.n_systems
    b = state.batch
    # the same quantities as kinetic_energy / temperature / pressure, with the kinetic
    # energy computed once and the scalar pressure from traces (tr(sum m v v^T) = 2 KE)
    # instead of the full pressure tensor: a frame is ~10 small ops instead of ~30
    ke = 0.5 * MVV2E * torch.zeros(n_sys, dtype=b.dtype, device=b.device).index_add(0, b.system_idx, state.masses * (state.velocities**2).sum(1))
    dof = state.dof if state.dof is not None else degrees_of_freedom(b)
    temp = 2 * ke / (dof * KB)
    p_kin = 2 * ke / (3 * torch.linalg.det(b.cell).abs()) * EV_PER_A3_TO_GPA
    pres = torch.where(b.pbc.all(dim=1), p_kin - torch.diagonal(state.stress, dim1=1, dim2=2).mean(1), float("nan"))
    scalars = [state.energy, ke, temp, pres] + ([conserved] if conserved is not None else [])
    rows = torch.stack(scalars).to(torch.float64).cpu().numpy()  # [4 or 5, n_sys], one transfer
    # a fresh host copy: on the CPU .cpu() would return the live tensor itself
    pos = state.batch.positions.detach().to("cpu", torch.float64, copy=True).numpy()
    cells = state.batch.cell.detach().to("cpu", torch.float64, copy=True).numpy()
    counts = counts if counts is not None else state.batch.counts.tolist()
    pos = np.split(pos, np.cumsum(counts)[:-1]) if n_sys > 1 else [pos]
    e, ke, temp, pres = rows[0].tolist(), rows[1].tolist(), rows[2].tolist(), rows[3].tolist()
    cons = rows[4].tolist() if conserved is not None else [None] * n_sys
    return [MDFrame(state.step, state.step * dt, pos[k], cells[k], e[k], ke[k], temp[k],
                    None if pres[k] != pres[k] else pres[k], cons[k]) for k in range(n_sys)]


def run_md(structure, model: Potential | str | None = None, ensemble: str = "nvt", temperature: float = 300.0, timestep: float = 1.0,  # noqa: F811
           steps: int = 1000, every: int = 10, seed: int | None = None, trajectory: str | os.PathLike | None = None,
           control: MDControl | None = None, thermostat: str = "langevin", friction: float = 0.01, tau: float = 100.0,
           pressure: float = 0.0, tau_p: float = 1000.0, compressibility: float = 0.01, anisotropic: bool = False,  # noqa: F811
           skin: float | None = DEFAULT_SKIN) -> Iterator:
    """Run MD; yields an MDFrame (a list of them for a list of structures) every ``every`` steps.

    ensemble: "nve", "nvt" (thermostat "langevin" or "nose-hoover") or "npt" (Langevin +
    stochastic cell rescaling; ``anisotropic=True`` lets the cell change shape too).
    ``control`` (MDControl) lets a caller change temperature/pressure or stop while it runs.
    ``trajectory``: an extxyz path appended frame by frame (single structure only).
    A structure that is not periodic in all directions has no pressure (frames say None)
    and cannot run NPT.
    ``skin`` (Å): the Verlet skin of the neighbour list the run reuses between steps
    (rebuilt only when an atom may have moved into the cutoff); None builds a new list
    at every step. Either way the trajectory is the same (to rounding).
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
    if ensemble == "npt" and not bool(batch.pbc.all()):
        raise ValueError("NPT needs a cell periodic in all three directions: a molecule or slab has no pressure to control")
    control = control or MDControl(temperature=temperature, pressure=pressure)
    # random numbers on the batch's device (a CPU generator would mean a copy per step)
    gen = torch.Generator(device=batch.device).manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
    stochastic = ensemble == "npt" or (ensemble == "nvt" and thermostat == "langevin")
    with threads_for(batch.n_atoms) as share:
        vlist = verlet_list_for(model, skin)  # one per run; None for models that build their own graphs
        state = init_state(batch, model, temperature, seed=int(torch.randint(0, 2**31, (1,), generator=gen, device=batch.device)),
                           momentum_conserved=not stochastic, neighbors=vlist)
        writer = _TrajectoryWriter(trajectory) if trajectory is not None else None
        watch = _ExplosionWatch(batch.device)
        counts = batch.counts.tolist()
        t_value, t_target = None, None
        # The step path reads nothing back from the device: explosions are noted on the
        # device and raised at reporting intervals (naming the step they happened at), the
        # target temperature is a tensor rebuilt only when control changes it. The Verlet
        # list's rebuild decision is the one read per step.
        on_cpu = batch.device.type == "cpu"
        for k in range(steps + 1):
            if k > 0:
                share.refresh()
                if control.temperature != t_value:
                    t_value = control.temperature
                    t_target = torch.full((batch.n_systems,), float(t_value), dtype=batch.dtype, device=batch.device)
                if ensemble == "nve":
                    state = nve_step(state, model, timestep)
                elif ensemble == "nvt" and thermostat == "nose-hoover":
                    state = nose_hoover_step(state, model, timestep, t_target, tau)
                elif ensemble == "nvt":
                    state = langevin_step(state, model, timestep, t_target, friction, gen)
                else:
                    state = npt_step(state, model, timestep, t_target, control.pressure, friction, tau_p, compressibility, gen, anisotropic)
                watch.update(state)
            report = k % every == 0 or k == steps or control.stop
            if report or on_cpu:  # on the CPU reading a flag costs nothing: stop at the bad step itself
                watch.raise_if_bad()
            if report:
                conserved = None if stochastic else state.energy + kinetic_energy(state) + nose_hoover_energy(state)
                frames = frames_of(state, timestep, conserved, counts)
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
        atoms.info.update(step=frame.step, time_fs=frame.time, temperature_K=frame.temperature)
        if frame.pressure is not None:
            atoms.info["pressure_GPa"] = frame.pressure
        with open(self.path, "a") as fh:
            ase.io.write(fh, atoms, format="extxyz")


_ASE_VELOCITY = 1.0 / 0.09822694788464063  # Å/fs -> ASE velocity units (Å / (Å sqrt(amu/eV)))
