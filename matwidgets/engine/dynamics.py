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
from matwidgets.engine.models import Potential, load_model

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


def frames_of(state: MDState, dt: float, conserved: torch.Tensor | None = None) -> list[MDFrame]:
    """One MDFrame per system of the current state (one host transfer for all of them)."""
    ke, temp, pres = kinetic_energy(state).tolist(), temperature(state).tolist(), pressure(state).tolist()
    pos = state.batch.split(state.batch.positions.detach().cpu())
    cells = state.batch.cell.detach().cpu().numpy()
    e = state.energy.tolist()
    cons = conserved.tolist() if conserved is not None else [None] * len(e)
    return [MDFrame(state.step, state.step * dt, pos[k].numpy().copy(), cells[k].copy(), e[k], ke[k], temp[k],
                    None if np.isnan(pres[k]) else pres[k], cons[k]) for k in range(state.batch.n_systems)]


def run_md(structure, model: Potential | str | None = None, ensemble: str = "nvt", temperature: float = 300.0, timestep: float = 1.0,
           steps: int = 1000, every: int = 10, seed: int | None = None, trajectory: str | os.PathLike | None = None,
           control: MDControl | None = None, thermostat: str = "langevin", friction: float = 0.01, tau: float = 100.0,
           pressure: float = 0.0, tau_p: float = 1000.0, compressibility: float = 0.01, anisotropic: bool = False) -> Iterator:
    """Run MD; yields an MDFrame (a list of them for a list of structures) every ``every`` steps.

    ensemble: "nve", "nvt" (thermostat "langevin" or "nose-hoover") or "npt" (Langevin +
    stochastic cell rescaling; ``anisotropic=True`` lets the cell change shape too).
    ``control`` (MDControl) lets a caller change temperature/pressure or stop while it runs.
    ``trajectory``: an extxyz path appended frame by frame (single structure only).
    A structure that is not periodic in all directions has no pressure (frames say None)
    and cannot run NPT.
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
    gen = torch.Generator().manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
    stochastic = ensemble == "npt" or (ensemble == "nvt" and thermostat == "langevin")
    state = init_state(batch, model, temperature, seed=int(torch.randint(0, 2**31, (1,), generator=gen)), momentum_conserved=not stochastic)
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
                state = npt_step(state, model, timestep, t_target, control.pressure, friction, tau_p, compressibility, gen, anisotropic)
            check_finite(state)
        if k % every == 0 or k == steps or control.stop:
            conserved = None if stochastic else state.energy + kinetic_energy(state) + nose_hoover_energy(state)
            frames = frames_of(state, timestep, conserved)
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
