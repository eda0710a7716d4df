"""SHAP attributions of a model's prediction to atoms, symmetry orbits or motifs.

The "game": players are groups of atoms; a coalition S is evaluated by a masker
that turns "the atoms of S present, the rest absent" into something the model
can evaluate:

* "remove": absent atoms are deleted from the cell (same lattice). The empty
  coalition is the empty cell, whose energy is 0. For a pair potential each atom
  then receives half of each of its pair energies.
* "substitute": absent atoms are replaced by ``reference`` (default "He": a
  nearly inert atom that keeps the volume filled); the baseline is the all-He cell.
* "model": (native SchNet only) absent atoms keep their place but have a zero
  embedding and send no messages: removal inside the network.

v(S) is a scalar target of the prediction. Intensive targets (energy_per_atom,
formation_energy) are divided by the atom count of the FULL structure, so the
values sum to the full prediction minus the baseline (the efficiency rule).

method="exact" enumerates all 2^p coalitions in batches (p <= 14);
method="kernel" uses the ``shap`` library's KernelExplainer on the same value
function (any p); both report the sum-rule residual.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from math import factorial
from typing import Any

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.neighbors import edge_vectors, neighbor_list
from matwidgets.engine.progress import progress_bar

MAX_EXACT_PLAYERS = 14
TARGETS = ("energy", "energy_per_atom", "formation_energy", "e_above_hull", "magmom", "pressure")
COALITION_ATOMS = 4096  # atoms per batched evaluation of coalitions


@dataclass
class Attribution:
    values: np.ndarray  # [n_players]
    players: list[list[int]]  # atom indices of each player
    names: list[str]
    base_value: float  # v(empty coalition)
    full_value: float  # v(all players)
    target: str
    group: str
    masker: str
    method: str
    n_evaluations: int
    model_atom_energies: np.ndarray | None = None  # the model's own per-atom energies, for comparison
    n_atoms: int = 0
    extras: dict = field(default_factory=dict)

    @property
    def residual(self) -> float:
        """sum(values) - (full - base): 0 up to round-off for exact Shapley values."""
        return float(self.values.sum() - (self.full_value - self.base_value))

    def per_atom(self) -> np.ndarray:
        """[n_atoms] each player's value shared equally by its atoms."""
        out = np.zeros(self.n_atoms)
        for v, atoms in zip(self.values, self.players):
            out[atoms] = v / len(atoms)
        return out

    def top(self, k: int = 10) -> list[tuple[str, float]]:
        order = np.argsort(-np.abs(self.values))[:k]
        return [(self.names[i], float(self.values[i])) for i in order]


def players_for(structure, group: str) -> tuple[list[list[int]], list[str]]:
    """Players (lists of atom indices) and their names for group "atom", "orbit" or "motif"."""
    symbols = [site.specie.symbol for site in structure]
    if group == "atom":
        return [[i] for i in range(len(structure))], [f"{s}{i}" for i, s in enumerate(symbols)]
    if group == "orbit":
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        eq = SpacegroupAnalyzer(structure, symprec=0.01).get_symmetry_dataset().equivalent_atoms
        reps = sorted(set(int(x) for x in eq))
        players = [[i for i in range(len(structure)) if eq[i] == r] for r in reps]
        return players, [f"{symbols[p[0]]} orbit ({len(p)} atoms)" for p in players]
    if group == "motif":
        from pymatgen.analysis.local_env import CrystalNN

        cnn = CrystalNN()
        keys = []
        for i in range(len(structure)):
            neigh = sorted(n["site"].specie.symbol for n in cnn.get_nn_info(structure, i))
            keys.append((symbols[i], len(neigh), "".join(f"{e}{neigh.count(e)}" for e in sorted(set(neigh)))))
        uniq = sorted(set(keys))
        players = [[i for i, k in enumerate(keys) if k == u] for u in uniq]
        return players, [f"{u[0]} CN{u[1]} ({u[2]})" for u in uniq]
    raise ValueError(f"unknown group {group!r}: use 'atom', 'orbit' or 'motif'")


class _ValueFunction:
    """v(coalitions) for a boolean matrix [n_coalitions, n_players], evaluated in batches."""

    def __init__(self, structure, model: Potential, target, masker: str, players, reference: str, references: dict | None, hull):
        self.batch = AtomsBatch.from_structures(structure)
        self.model, self.masker, self.players = model, masker, players
        self.n = self.batch.n_atoms
        self.structure = structure
        self.n_evaluations = 0
        self.cancel: Callable[[], bool] | None = None
        self.client = None  # a dask Client: batches of coalitions are evaluated on its workers
        self.player_of_atom = np.zeros(self.n, dtype=int)
        for k, atoms in enumerate(players):
            self.player_of_atom[atoms] = k
        if masker == "substitute":
            from pymatgen.core import Element

            self.ref_z = Element(reference).Z
        elif masker == "model" and not hasattr(model, "features"):
            raise ValueError(f"masker='model' needs a native model with an in-model mask (SchNet), not {model.name}")
        elif masker not in ("remove", "substitute", "model"):
            raise ValueError(f"unknown masker {masker!r}: use 'remove', 'substitute' or 'model'")
        self.scalar = _target_fn(target, model, self.n, references, hull)
        self.needs_stress = target == "pressure"
        if self.needs_stress and not bool(self.batch.pbc.all()):
            raise ValueError("target 'pressure' needs a cell periodic in all three directions: a molecule has no pressure")

    def __call__(self, coalitions: np.ndarray) -> np.ndarray:
        coalitions = np.asarray(coalitions) > 0.5
        out = np.zeros(len(coalitions))
        present = coalitions[:, self.player_of_atom]  # [n_coalitions, n_atoms]
        todo = np.arange(len(coalitions))
        if self.masker == "remove":  # the empty cell: zero energy, nothing to evaluate
            todo = todo[present.any(axis=1)]
        per = max(1, COALITION_ATOMS // self.n)
        groups = [todo[s : s + per] for s in range(0, len(todo), per)]
        if self.client is not None:
            from matwidgets.engine.cluster import map_shared

            results = map_shared(self.client, _evaluate_on_worker, self._portable(), [present[g] for g in groups])
        else:
            results = ((k, self._evaluate(present[g])) for k, g in enumerate(groups))  # lazy: one batch per step
        while True:
            if self.cancel is not None and self.cancel():
                raise _Cancelled  # leaves shap's loop, which calls us once with thousands of coalitions
            k, values = next(results, (None, None))
            if k is None:
                break
            out[groups[k]] = values
        self.n_evaluations += len(todo)
        return out

    def _portable(self) -> _ValueFunction:
        """A copy to send to workers: no client, no cancel callback (neither travels)."""
        clone = copy.copy(self)
        clone.client, clone.cancel = None, None
        return clone

    def _evaluate(self, present: np.ndarray) -> np.ndarray:
        b = self.batch
        k = len(present)
        pos = b.positions.repeat(k, 1)
        numbers = b.numbers.repeat(k)
        sys_idx = torch.arange(k).repeat_interleave(self.n)
        mask = torch.as_tensor(present.reshape(-1))
        if self.masker == "substitute":
            numbers = torch.where(mask, numbers, torch.full_like(numbers, self.ref_z))
        elif self.masker == "remove":
            pos, numbers, sys_idx = pos[mask], numbers[mask], sys_idx[mask]
        batch = AtomsBatch(pos, b.cell.repeat(k, 1, 1), numbers, b.pbc.repeat(k, 1), sys_idx)
        if self.masker == "model":
            res = _masked_model_energies(self.model, batch, mask)
        else:
            # removing atoms can leave one alone in the cell
            res = self.model.compute(batch, forces=False, stress=self.needs_stress, allow_isolated=True)
        return np.array([self.scalar(res, j, batch) for j in range(k)])


def _evaluate_on_worker(vf: _ValueFunction, present: np.ndarray) -> np.ndarray:
    return vf._evaluate(present)


def _masked_model_energies(model, batch: AtomsBatch, mask: torch.Tensor) -> dict:
    batch = batch.to(model.device, model.dtype)
    mask = mask.to(model.device)
    with torch.no_grad():
        edges = neighbor_list(batch, model.cutoff)
        vec = edge_vectors(batch.positions, batch.cell, batch.system_idx, edges)
        e_atom = model.energies(batch, vec, edges, mask=mask.to(model.dtype))
    energy = torch.zeros(batch.n_systems, dtype=e_atom.dtype, device=e_atom.device).index_add(0, batch.system_idx, e_atom)
    return {"energy": energy, "atom_energies": e_atom}


def _target_fn(target, model: Potential, n_full: int, references: dict | None, hull) -> Callable:
    """scalar(result dict, system j, batch) for a target name or a callable."""
    if callable(target):
        return lambda res, j, batch: float(target(res, j, batch))
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: use one of {', '.join(TARGETS)} or a callable(result, j, batch)")
    if target == "energy":
        return lambda res, j, batch: float(res["energy"][j])
    if target == "energy_per_atom":
        return lambda res, j, batch: float(res["energy"][j]) / n_full
    if target == "magmom":
        if not model.has_magmoms:
            raise ValueError(f"model {model.name} predicts no magnetic moments: target 'magmom' is not available")
        return lambda res, j, batch: float(res["magmoms"][batch.system_idx == j].abs().sum())
    if target == "pressure":
        return lambda res, j, batch: float(-torch.diagonal(res["stress"][j]).sum() / 3)
    if target == "formation_energy":
        if not references:
            raise ValueError("target 'formation_energy' needs references={element: eV/atom} (e.g. from a HullResult)")
        from pymatgen.core import Element

        mu = {Element(el).Z: float(v) for el, v in references.items()}

        def formation(res, j, batch):
            zs = batch.numbers[batch.system_idx == j].tolist()
            missing = set(zs) - set(mu)
            if missing:
                raise ValueError(f"no reference energy for Z={sorted(missing)}")
            return (float(res["energy"][j]) - sum(mu[z] for z in zs)) / n_full

        return formation
    if hull is None:
        raise ValueError("target 'e_above_hull' needs hull=HullResult")
    from pymatgen.core import Composition, Element
    from pymatgen.entries.computed_entries import ComputedEntry

    def e_hull(res, j, batch):
        zs = batch.numbers[batch.system_idx == j].tolist()
        comp = Composition({Element.from_Z(z): zs.count(z) for z in set(zs)})
        return hull.e_above_hull(ComputedEntry(comp, float(res["energy"][j]))) * len(zs) / n_full

    return e_hull


def shapley_from_values(v: np.ndarray, p: int) -> np.ndarray:
    """Exact Shapley values from v over all 2^p coalitions (bit k = player k present)."""
    masks = np.arange(2**p)
    size = np.array([bin(m).count("1") for m in masks])
    weight = np.array([factorial(s) * factorial(p - s - 1) / factorial(p) for s in range(p)])
    phi = np.zeros(p)
    for k in range(p):
        without = masks[(masks >> k) & 1 == 0]
        phi[k] = np.sum(weight[size[without]] * (v[without | (1 << k)] - v[without]))
    return phi


class _Cancelled(Exception):
    """Raised inside shap's loop to leave it when the caller cancels."""


def iter_explain(structure, model: Potential | str | None = None, target="energy_per_atom", group: str = "atom", method: str = "exact",
                 masker: str = "remove", reference: str = "He", references: dict | None = None, hull=None,
                 n_samples: int | None = None, seed: int = 0, cancel: Callable[[], bool] | None = None,
                 client: Any = None) -> Iterator[float | Attribution]:
    """Yields progress fractions (0..1), then the Attribution.

    ``cancel``: polled before every batch of model evaluations, so a stopped kernel-SHAP
    run (which yields nothing until shap returns) ends within one batch, without a result.
    ``client``: a dask.distributed Client: batches of coalitions are evaluated on its
    workers (the value function, model included, is sent to each worker once per call).
    """
    model = load_model() if model is None else load_model(model) if isinstance(model, str) else model
    batch = AtomsBatch.from_structures(structure)  # validates: empty structures and the like
    structure = batch.to_structures()[0]
    players, names = players_for(structure, group)
    p = len(players)
    if method not in ("exact", "kernel"):
        raise ValueError(f"unknown method {method!r}: use 'exact' or 'kernel'")
    if method == "exact" and p > MAX_EXACT_PLAYERS:
        raise ValueError(f"{p} players is too many for exact Shapley values (2^{p} coalitions; at most {MAX_EXACT_PLAYERS}): "
                         "use method='kernel', or group='orbit' or 'motif'")
    vf = _ValueFunction(structure, model, target, masker, players, reference, references, hull)
    vf.client = client
    full = np.ones((1, p), dtype=bool)
    base_value, full_value = (float(x) for x in vf(np.vstack([~full, full])))
    yield 0.0
    if method == "exact":
        masks = np.arange(2**p)
        coalitions = ((masks[:, None] >> np.arange(p)) & 1).astype(bool)
        v = np.zeros(len(masks))
        chunk = max(1, COALITION_ATOMS // batch.n_atoms)
        if client is not None:  # a few calls, each sharded over the workers, still report progress
            chunk = max(chunk, -(-len(masks) // 8))
        for s in range(0, len(masks), chunk):
            v[s : s + chunk] = vf(coalitions[s : s + chunk])
            yield min(1.0, (s + chunk) / len(masks))
        values = shapley_from_values(v, p)
    else:
        import shap

        np.random.seed(seed)  # KernelExplainer samples coalitions from numpy's global generator
        try:
            vf.cancel = cancel
            explainer = shap.KernelExplainer(vf, np.zeros((1, p)), link="identity")  # evaluates the background already
            # l1_reg=False: shap >= 0.47 otherwise keeps only the 10 largest players and zeroes the rest
            raw = explainer.shap_values(np.ones((1, p)), nsamples=n_samples or min(2 * p + 2048, 2**p), silent=True, l1_reg=False)
            values = np.asarray(raw).reshape(-1)
        except _Cancelled:
            return
        yield 1.0
    atom_e = model.compute(batch, forces=False, stress=False)["atom_energies"].cpu().numpy()
    yield Attribution(values, players, names, base_value, full_value, target if isinstance(target, str) else getattr(target, "__name__", "custom"),
                      group, masker, method, vf.n_evaluations, atom_e, batch.n_atoms)


def explain(structure, model: Potential | str | None = None, target="energy_per_atom", group: str = "atom", method: str = "exact",
            masker: str = "remove", progress: bool = False, **kw) -> Attribution:
    """SHAP attribution of ``target`` to the atoms (or orbits, motifs) of ``structure``.

    See the module docstring for what the maskers mean physically. ``progress=True``
    shows a bar of the coalitions evaluated (tqdm: notebook or terminal).
    """
    result = None
    with progress_bar(progress, 100, "SHAP coalitions", unit="%") as bar:
        for result in iter_explain(structure, model, target, group, method, masker, **kw):
            if isinstance(result, float):
                bar.update(round(100 * result) - bar.n)
    return result

