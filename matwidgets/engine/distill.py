"""Distillation: a compact native student trained on a large teacher's energies and forces.

The teacher samples its own configuration space by short MD at several temperatures and
strains (the configurations a student will meet in MD, not only minima); every sampled
frame is labelled by the teacher (energy, forces); a native student (SchNet by default)
is trained on them with ``finetune`` (all parameters, energy and force loss), and judged
on frames from MD runs it never saw (another random seed, held out before training).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matwidgets.engine.data import Dataset
from matwidgets.engine.dynamics import run_md
from matwidgets.engine.finetune import FineTuneStep, _as_model, finetune
from matwidgets.engine.models import Potential
from matwidgets.engine.predict import predict


@dataclass
class DistillResult:
    """model: the trained student; metrics: held-out energy MAE (eV/atom) and force MAE
    (eV/Å) against the teacher, before and after training, and the frame counts."""

    model: Potential
    metrics: dict
    history: list[FineTuneStep] = field(default_factory=list)
    held_out: Dataset | None = field(default=None, repr=False)  # the teacher-labelled frames it is judged on


def _strained(structure, strain: float):
    s = structure.copy()
    s.apply_strain(strain)
    return s


def sample_configurations(teacher: Potential, structures: Sequence, temperatures: Sequence[float] = (300.0, 600.0, 1000.0),
                          strains: Sequence[float] = (-0.02, 0.0, 0.02), steps: int = 200, every: int = 10,
                          timestep: float = 1.0, seed: int = 0) -> list:
    """Frames (pymatgen Structures) of short teacher NVT runs (Langevin) from every structure
    at every strain (isotropic, fractional) and temperature (K); the first frame of each run
    (the unrelaxed start) is dropped so every configuration is one the dynamics reached."""
    from pymatgen.core import Structure

    starts = [_strained(s, e) for s in structures for e in strains]
    frames = []
    for k, temp in enumerate(temperatures):
        for step in run_md(starts, teacher, "nvt", temperature=float(temp), timestep=timestep, steps=steps, every=every,
                           seed=seed * 1000 + k):
            if step[0].step == 0:
                continue
            for s0, f in zip(starts, step):
                frames.append(Structure(f.cell, s0.species, f.positions, coords_are_cartesian=True))
    return frames


def _label(teacher: Potential, frames: list) -> Dataset:
    preds = predict(frames, teacher)
    return Dataset(frames, energy=[p.energy for p in preds], forces=[p.forces for p in preds], check_units=False)


def _errors(student: Potential, data: Dataset) -> tuple[float, float]:
    preds = predict(data.structures, student)
    e = np.array([p.energy for p in preds])
    f = np.concatenate([p.forces for p in preds])
    f_ref = np.concatenate(data.labels["forces"])
    return float(np.mean(np.abs(e - data.labels["energy"]) / data.natoms)), float(np.mean(np.abs(f - f_ref)))


def distill(teacher: Potential | str, structures_or_chemsys, student: Potential | str = "schnet", temperatures: Sequence[float] = (300.0, 600.0, 1000.0),
            strains: Sequence[float] = (-0.02, 0.0, 0.02), md_steps: int = 200, every: int = 10, epochs: int = 50, lr: float = 2e-3,
            batch_size: int = 16, seed: int = 0, progress: bool = False, **finetune_kw) -> DistillResult:
    """Train ``student`` to reproduce ``teacher`` on configurations the teacher samples.

    structures_or_chemsys: structures (pymatgen, ASE or paths), or a chemical system such
    as "Li-O" (up to 12 of its prototype candidates of at most 8 atoms, as MD starts).
    student: "schnet" (a fresh native SchNet with the teacher's cutoff) or a Potential.
    Training frames come from MD seeded with ``seed``, held-out frames from seed + 1.
    """
    teacher = _as_model(teacher)
    structures = _starting_structures(structures_or_chemsys)
    if student == "schnet":
        from matwidgets.engine.models.schnet import SchNet

        student = SchNet(cutoff=min(float(teacher.cutoff), 6.0))
    student = _as_model(student)
    kw = dict(temperatures=temperatures, strains=strains, steps=md_steps, every=every)
    train = _label(teacher, sample_configurations(teacher, structures, seed=seed, **kw))
    held_out = _label(teacher, sample_configurations(teacher, structures, seed=seed + 1, **kw))
    before = _errors(student, held_out)
    result = finetune(student, train, target="energy", freeze="none", epochs=epochs, lr=lr, batch_size=batch_size,
                      val=0.1, seed=seed, refit_refs=True, progress=progress, **finetune_kw)
    after = _errors(result.model, held_out)
    metrics = {"energy_mae_before": before[0], "force_mae_before": before[1], "energy_mae": after[0], "force_mae": after[1],
               "n_frames": len(train), "n_held_out": len(held_out), "teacher": teacher.name, **result.metrics}
    result.model.tag = f"distilled:{teacher.name}:{result.model.name}"
    return DistillResult(result.model, metrics, result.history, held_out)


def _starting_structures(structures_or_chemsys, max_structures: int = 12) -> list:
    """pymatgen Structures to start MD from: the given ones, or for a chemical system up to
    ``max_structures`` of its prototype candidates of at most 8 atoms (elements and
    compounds, spread evenly over the list)."""
    from matwidgets.engine.atoms import AtomsBatch
    from matwidgets.engine.hull import is_chemsys, parse_chemsys

    if is_chemsys(structures_or_chemsys) and not _is_path(structures_or_chemsys):
        from matwidgets.engine.candidates import prototype_candidates

        cands = [c.structure for c in prototype_candidates(parse_chemsys(structures_or_chemsys), max_atoms=8) if c.source != "molecule"]
        if not cands:
            raise ValueError(f"no prototype of at most 8 atoms for {structures_or_chemsys!r}: pass structures")
        pick = np.unique(np.linspace(0, len(cands) - 1, min(max_structures, len(cands))).round().astype(int))
        return [cands[k] for k in pick]
    items = structures_or_chemsys if isinstance(structures_or_chemsys, (list, tuple)) else [structures_or_chemsys]
    if not items:
        raise ValueError("distill needs at least one structure or a chemical system like 'Li-O'")
    return AtomsBatch.from_structures(list(items)).to_structures()


def _is_path(x) -> bool:
    import os

    return isinstance(x, str) and os.path.exists(x)
