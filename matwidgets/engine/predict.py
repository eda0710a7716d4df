"""Batched prediction: many structures packed into few forward passes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential, load_model

# Atoms per forward pass. On the CPU, 256-1024 atoms run equally fast (measured with
# benchmarks/predict.py) and bigger batches only cost memory (CHGNet's angle graph
# grows fast); a GPU wants far more work per launch.
ATOMS_PER_BATCH = {"cpu": 512, "cuda": 8192}


@dataclass
class Prediction:
    """What a model says about one structure (eV, Å, GPa, mu_B)."""

    energy: float
    energy_per_atom: float
    forces: np.ndarray  # [n_atoms, 3] eV/Å
    stress: np.ndarray | None  # [3, 3] GPa, ASE sign convention (negative = compressed); None unless periodic in 3D
    atom_energies: np.ndarray  # [n_atoms] eV
    magmoms: np.ndarray | None = None  # [n_atoms] mu_B
    extras: dict = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return len(self.forces)

    @property
    def max_force(self) -> float:
        return float(np.linalg.norm(self.forces, axis=1).max())

    @property
    def pressure(self) -> float | None:
        """Pressure in GPa: minus the mean of the stress diagonal (None without a 3D-periodic cell)."""
        return None if self.stress is None else float(-np.trace(self.stress) / 3.0)


def plan_batches(counts: Sequence[int], max_atoms: int) -> list[list[int]]:
    """Group structure indices (in order) into batches of at most max_atoms atoms.

    A structure bigger than max_atoms gets a batch of its own.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for k, n in enumerate(counts):
        if current and total + n > max_atoms:
            batches.append(current)
            current, total = [], 0
        current.append(k)
        total += n
    if current:
        batches.append(current)
    return batches


def iter_predict(structures: Any, model: Potential | str | None = None, batch_size: int | None = None) -> Iterator[tuple[list[int], list[Prediction]]]:
    """Yield (indices, predictions) batch by batch, for progress bars and live widgets.

    ``batch_size`` is the number of structures per pass; by default batches are
    sized by atom count.
    """
    model = _as_model(model)
    batch = AtomsBatch.from_structures(structures, dtype=torch.float64)
    counts = batch.counts.tolist()
    if batch_size is None:
        plan = plan_batches(counts, ATOMS_PER_BATCH.get(model.device.type, 2048))
    else:
        plan = [list(range(s, min(s + batch_size, len(counts)))) for s in range(0, len(counts), batch_size)]
    for indices in plan:
        yield indices, _predict_batch(batch.select(indices), model)


def predict(structures: Any, model: Potential | str | None = None, batch_size: int | None = None) -> list[Prediction]:
    """Predict energy, forces, stress (and magmoms) for one or many structures.

    Accepts what ``AtomsBatch.from_structures`` accepts; always returns a list.
    """
    out: list[Prediction] = []
    for _, preds in iter_predict(structures, model, batch_size):
        out.extend(preds)
    return out


def _as_model(model: Potential | str | None) -> Potential:
    if model is None:
        return load_model("chgnet")
    if isinstance(model, Potential):
        return model
    return load_model(model)


NO_STRESS = "no stress or pressure: the structure is not periodic in all three directions (a vacuum box's would be an artefact)"


def _predict_batch(batch: AtomsBatch, model: Potential) -> list[Prediction]:
    periodic = batch.pbc.all(dim=1).tolist()
    res = model.compute(batch, forces=True, stress=any(periodic))
    counts = batch.counts.tolist()
    np_res = {k: v.detach().cpu().double().numpy() for k, v in res.items()}
    per_atom = {k: np.split(v, np.cumsum(counts)[:-1]) for k, v in np_res.items() if k in ("forces", "atom_energies", "magmoms", "forces_std")}
    preds = []
    for k, n in enumerate(counts):
        e = float(np_res["energy"][k])
        extras = {} if periodic[k] else {"note": NO_STRESS}
        if "energy_std" in np_res:  # a Committee: the members' disagreement (eV/atom, and eV/Å per atom)
            extras["energy_std"] = float(np_res["energy_std"][k])
        if "forces_std" in per_atom:
            extras["forces_std"] = per_atom["forces_std"][k]
        preds.append(
            Prediction(
                energy=e,
                energy_per_atom=e / n,
                forces=per_atom["forces"][k],
                stress=np_res["stress"][k] if periodic[k] else None,
                atom_energies=per_atom["atom_energies"][k],
                magmoms=per_atom["magmoms"][k] if "magmoms" in per_atom else None,
                extras=extras,
            )
        )
    return preds
