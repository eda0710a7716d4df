"""Training loop for native potentials: energies (and optionally forces) by Adam.

A generator, so a script, a progress bar and the FineTuner widget share it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.schnet import SchNet


@dataclass
class EpochReport:
    epoch: int
    train_loss: float
    energy_mae: float  # eV/atom, on the training set of this epoch
    val_energy_mae: float | None = None


def fit_atom_refs(model: SchNet, structures: object, energies: Sequence[float]) -> None:
    """Set model.atom_refs by least squares: E ~ sum_i ref[Z_i] (composition only)."""
    batch = AtomsBatch.from_structures(structures)
    zs = sorted(set(batch.numbers.tolist()))
    counts = np.zeros((batch.n_systems, len(zs)))
    for col, z in enumerate(zs):
        counts[:, col] = torch.bincount(batch.system_idx[batch.numbers == z], minlength=batch.n_systems).numpy()
    refs, *_ = np.linalg.lstsq(counts, np.asarray(energies, float), rcond=None)
    with torch.no_grad():
        model.atom_refs.zero_()
        model.atom_refs[zs] = torch.tensor(refs, dtype=model.atom_refs.dtype, device=model.atom_refs.device)


def train(
    model: SchNet,
    structures: object,
    energies: Sequence[float],
    forces: Sequence[np.ndarray] | None = None,
    epochs: int = 100,
    lr: float = 1e-3,
    batch_size: int = 16,
    force_weight: float = 1.0,
    val: tuple[object, Sequence[float]] | None = None,
    seed: int = 0,
) -> Iterator[EpochReport]:
    """Fit energies (eV per structure) and, if given, forces; yields one report per epoch.

    Only parameters with ``requires_grad`` are trained (freeze layers by turning it off).
    The loss is MSE of energy per atom plus force_weight * MSE of force components.
    """
    batch = AtomsBatch.from_structures(structures, dtype=model.dtype, device=model.device)
    e_ref = torch.as_tensor(np.asarray(energies, float), dtype=model.dtype, device=model.device)
    f_ref = None
    if forces is not None:
        f_ref = torch.as_tensor(np.concatenate(forces), dtype=model.dtype, device=model.device)
    starts = torch.cumsum(batch.counts, 0) - batch.counts
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(batch.n_systems, generator=gen).tolist()
        total, err, n_seen = 0.0, 0.0, 0
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            sub = batch.select(idx)
            out = model.compute(sub, forces=f_ref is not None, stress=False, training=True)
            n = sub.counts.to(out["energy"].dtype)
            de = (out["energy"] - e_ref[idx]) / n
            loss = (de**2).mean()
            if f_ref is not None:
                rows = torch.cat([torch.arange(int(starts[k]), int(starts[k]) + int(batch.counts[k])) for k in idx])
                loss = loss + force_weight * ((out["forces"] - f_ref[rows]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
            err += float(de.abs().sum())
            n_seen += len(idx)
        report = EpochReport(epoch=epoch + 1, train_loss=total / n_seen, energy_mae=err / n_seen)
        if val is not None:
            report.val_energy_mae = energy_mae(model, *val)
        yield report


def energy_mae(model: SchNet, structures: object, energies: Sequence[float]) -> float:
    """Mean absolute error of energy per atom (eV/atom)."""
    batch = AtomsBatch.from_structures(structures)
    out = model.compute(batch, forces=False, stress=False)
    n = batch.counts.double()
    pred = out["energy"].cpu().double() / n
    return float((pred - torch.as_tensor(np.asarray(energies, float)) / n).abs().mean())
