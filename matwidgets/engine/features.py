"""Per-structure descriptors for maps of many structures: simple properties, model features, PCA.

    props = structure_properties(structures)        # volume_per_atom, density, n_atoms, formula
    feats, e = model_features(structures, model)    # [N, F] pooled features, [N] eV/atom
    xy = pca(feats)                                 # [N, 2] projection on the first two components
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential
from matwidgets.engine.predict import ATOMS_PER_BATCH, _as_model, plan_batches
from matwidgets.engine.threads import threads_for

AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660  # 1 amu/Å^3 in g/cm^3


def structure_properties(structures: Sequence[Any]) -> dict[str, np.ndarray]:
    """Cheap properties of each structure (pymatgen or ASE), read without a model.

    Returns ``volume_per_atom`` [N] Å^3/atom, ``density`` [N] g/cm^3, ``n_atoms`` [N] and
    ``formula`` [N] (reduced formula strings, object array). The same Python object
    appearing many times is measured once.
    """
    cache: dict[int, tuple] = {}
    rows = []
    for k, s in enumerate(structures):
        key = id(s)
        if key not in cache:
            cache[key] = _properties_of(s, k)
        rows.append(cache[key])
    vol, dens, n, formula = zip(*rows) if rows else ((), (), (), ())
    return {"volume_per_atom": np.array(vol, dtype=float), "density": np.array(dens, dtype=float),
            "n_atoms": np.array(n, dtype=float), "formula": np.array(formula, dtype=object)}


def _properties_of(s: Any, k: int) -> tuple[float, float, int, str]:
    from pymatgen.core import Composition

    if hasattr(s, "lattice") and hasattr(s, "composition"):  # pymatgen Structure
        n = len(s)
        return s.volume / n, float(s.density), n, s.composition.reduced_formula
    if hasattr(s, "get_masses") and hasattr(s, "get_volume"):  # ASE Atoms
        n = len(s)
        volume = s.get_volume()
        return volume / n, s.get_masses().sum() / volume * AMU_PER_A3_TO_G_PER_CM3, n, Composition(s.get_chemical_formula()).reduced_formula
    raise TypeError(f"structure {k} is a {type(s).__name__}: expected a pymatgen Structure or ASE Atoms")


def model_features(structures: Any, model: Potential | str | None = None, max_atoms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean over each structure's atoms of the model's readout input features, in batches.

    Returns (features [N, F], energy_per_atom [N] eV/atom) from the same forward passes.
    ``model``: a Potential or a name (default chgnet); it must expose per-atom features
    (chgnet, schnet). ``max_atoms``: atoms per forward pass (default by device).
    """
    from matwidgets.engine.finetune import pooled_features  # the property head's features, reused

    model = _as_model(model)
    batch = AtomsBatch.from_structures(structures, dtype=torch.float64)
    counts = batch.counts.tolist()
    plan = plan_batches(counts, max_atoms or ATOMS_PER_BATCH.get(model.device.type, 2048))
    feats, energy = [], np.empty(len(counts))
    for indices in plan:
        sub = batch.select(indices)
        with threads_for(sub.n_atoms):
            pooled, out = pooled_features(model, sub, forces=False, stress=False)
        feats.append(pooled.detach().double().cpu().numpy())  # [n_sub, F]
        energy[indices] = out["energy"].detach().double().cpu().numpy() / sub.counts.numpy()
    return np.concatenate(feats), energy


def pca(features: Any, n_components: int = 2) -> np.ndarray:
    """Project [N, F] features on their first principal components: [N, n_components].

    Features are centred (not scaled), as in scikit-learn's PCA; each component's sign is
    chosen so that its largest loading is positive, which makes the projection
    reproducible. A numpy SVD: scikit-learn is not a dependency.
    """
    x = np.asarray(features, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array [n_structures, n_features], got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 structures, got {x.shape[0]}")
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # rows of vt: components [k, F]
    vt = vt[:n_components]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    proj = x @ vt.T  # [N, k]
    if proj.shape[1] < n_components:  # fewer features than components: pad with zeros
        proj = np.pad(proj, ((0, 0), (0, n_components - proj.shape[1])))
    return proj
