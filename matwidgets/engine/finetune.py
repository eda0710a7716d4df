"""Transfer learning: fine-tune a pretrained potential (or a head on its features) on a small dataset.

``iter_finetune`` is a generator (one ``FineTuneStep`` per epoch) so a script, a
progress bar and the FineTuner widget share it; ``finetune`` runs it to the end.
The model given is never modified: a deep copy is trained.

Order of work:
1. freeze: parameter groups (``model.parameter_groups()``) are frozen by a preset;
2. per-element atom reference energies are refitted by least squares to the
   residual E_label - E_model (energy and formation-energy targets);
3. Adam on the loss, with forces and stress through ``compute(training=True)``
   (double backward); a scalar property trains a linear head on mean-pooled atom
   features, initialised by least squares on the frozen features;
4. ``replay="base"``: every epoch also fits the base model's own energies and
   forces on a replay set (elemental reference structures of the dataset's
   elements, built with pymatgen), and ``forgetting`` reports the energy MAE
   (eV/atom) against the base model on that set.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from matwidgets.engine.progress import progress_bar
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.data import Dataset, to_batch
from matwidgets.engine.models.base import Potential

FORMATION_KEYS = ("formation_energy", "formation_enthalpy")  # eV/atom
BOHR = 0.529177210903  # Å


@dataclass
class FineTuneStep:
    """One epoch. train_loss: mean loss over the epoch; val_mae: validation MAE (eV/atom for
    energy and formation energy, the property's unit otherwise); forgetting: energy MAE
    (eV/atom) against the base model on the replay set (None without one)."""

    epoch: int
    train_loss: float
    val_mae: float | None
    forgetting: float | None = None
    best_epoch: int = 0
    best_model: Potential | None = field(default=None, repr=False)  # a stopped run uses this
    model: Potential | None = field(default=None, repr=False)  # the weights now


@dataclass
class FineTuneResult:
    """model: the best model (lowest val_mae, or train loss without validation); history: the
    steps; metrics: val_mae of base and fine-tuned, best_epoch, trainable parameters, refs."""

    model: Potential
    history: list[FineTuneStep]
    metrics: dict[str, Any]


# ---- property head -------------------------------------------------------------------------

def readout_module(model: Potential) -> nn.Module:
    """The module whose input is the final per-atom features [n_atoms, F] of ``model``."""
    if model.family == "schnet":
        return model.head
    if model.family == "chgnet":
        return model.model.mlp
    raise ValueError(f"model {model.name} ({model.family}) cannot produce pooled features for a property head "
                     "(supported: schnet, chgnet); fine-tune target='energy' instead")


def pooled_features(model: Potential, batch: AtomsBatch, training: bool = False, forces: bool = False, stress: bool = False,
                    **kw) -> tuple[torch.Tensor, dict]:
    """Mean over each system's atoms of the readout's input features: [n_systems, F], and compute's output."""
    seen = []
    handle = readout_module(model).register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    try:
        out = model.compute(batch, forces=forces, stress=stress, training=training, **kw)
    finally:
        handle.remove()
    x = seen[-1]
    idx = batch.system_idx.to(x.device)
    pooled = torch.zeros(batch.n_systems, x.shape[1], dtype=x.dtype, device=x.device).index_add(0, idx, x)
    pooled = pooled / torch.bincount(idx, minlength=batch.n_systems).to(x.dtype)[:, None]
    return pooled, out


class PropertyModel(Potential):
    """A potential plus a linear head on its mean-pooled atom features: ``compute`` returns
    everything the base returns and ``out[property]`` [n_systems] in the property's unit."""

    family = "property"

    def __init__(self, base: Potential, property: str, n_features: int):
        super().__init__()
        self.base, self.property, self.n_features = base, property, int(n_features)
        self.head = nn.Linear(self.n_features, 1).to(dtype=base.dtype, device=base.device)
        self.name = f"{base.name}+{property}"
        self.cutoff, self.max_z, self.has_magmoms = base.cutoff, base.max_z, base.has_magmoms
        self.tag = base.tag

    def get_config(self) -> dict:
        return {"base_family": self.base.family, "base_config": self.base.get_config(), "base_name": self.base.name,
                "property": self.property, "n_features": self.n_features}

    @classmethod
    def from_config(cls, config: dict) -> PropertyModel:
        from matwidgets.engine.models import family_class

        base = family_class(config["base_family"]).from_config(config["base_config"])
        base.name = config.get("base_name", base.name)
        return cls(base, config["property"], config["n_features"])

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {**self.base.parameter_groups(), "head": list(self.head.parameters())}

    def predict_property(self, batch: AtomsBatch, training: bool = False) -> torch.Tensor:
        pooled, _ = pooled_features(self.base, batch, training=training)
        return self.head(pooled.to(self.head.weight.dtype)).squeeze(-1).to(torch.float64)

    def compute(self, batch: AtomsBatch, forces: bool = True, stress: bool = True, training: bool = False, **kw) -> dict:
        pooled, out = pooled_features(self.base, batch, training=training, forces=forces, stress=stress, **kw)
        prop = self.head(pooled.to(self.head.weight.dtype)).squeeze(-1).to(torch.float64)
        out[self.property] = prop if training else prop.detach()
        return out


# ---- freezing --------------------------------------------------------------------------------

FREEZE_PRESETS = ("backbone", "readout", "last-k", "none")


def trainable_groups(groups: Sequence[str], freeze: str | Sequence[str]) -> list[str]:
    """Names of the parameter groups left trainable by ``freeze``.

    "backbone": only "readout" (and a property "head") train; "readout": everything but
    "readout" trains; "last-k" / "last-2" ...: the last k "interaction.*" groups and the
    readout ("last-k" means k=1); "none": everything; a list: the groups named are frozen.
    A property head always trains. "atom_refs" is refitted by least squares first and
    trains by gradient only under "none" (or a list that leaves it out).
    """
    groups = list(groups)
    head = [g for g in groups if g == "head"]
    if isinstance(freeze, str):
        if freeze == "backbone":
            keep = ["readout"]
        elif freeze == "readout":
            keep = [g for g in groups if g not in ("readout", "atom_refs")]
        elif freeze == "none":
            keep = groups
        elif (m := re.fullmatch(r"last-(k|\d+)", freeze)):
            k = 1 if m.group(1) == "k" else int(m.group(1))
            inter = [g for g in groups if g.startswith("interaction.")]
            keep = (inter[-k:] if k > 0 else []) + ["readout"]
        else:
            raise ValueError(f"freeze={freeze!r}: use one of {FREEZE_PRESETS}, 'last-<k>' or a list of group names {groups}")
    else:
        unknown = [g for g in freeze if g not in groups]
        if unknown:
            raise ValueError(f"freeze: unknown parameter groups {unknown}; this model has {groups}")
        keep = [g for g in groups if g not in freeze]
    return [g for g in groups if g in keep or g in head]


def apply_freeze(model: Potential, freeze: str | Sequence[str]) -> int:
    """Set requires_grad by ``freeze`` (see trainable_groups); returns the number of trainable parameters."""
    groups = model.parameter_groups()
    keep = set(trainable_groups(groups, freeze))
    for p in model.parameters():
        p.requires_grad_(False)
    n = 0
    for name, params in groups.items():
        if name in keep:
            for p in params:
                p.requires_grad_(True)
                n += p.numel()
    return n


def count_trainable(model: Potential, freeze: str | Sequence[str]) -> int:
    """How many parameters ``freeze`` leaves trainable on ``model`` (which is not changed)."""
    groups = model.parameter_groups()
    keep = set(trainable_groups(groups, freeze))
    return sum(p.numel() for name, ps in groups.items() if name in keep for p in ps)


# ---- atom references -----------------------------------------------------------------------

def _atom_ref_table(model: Potential) -> tuple[torch.Tensor, int] | None:
    """(the per-element reference energy vector, index offset: row = Z - offset), or None."""
    if model.family == "schnet":
        return model.atom_refs, 0
    if model.family == "chgnet" and model.model.composition_model is not None:
        return model.model.composition_model.fc.weight[0], 1
    if model.family == "property":
        return _atom_ref_table(model.base)
    return None


def composition_matrix(batch: AtomsBatch) -> tuple[np.ndarray, list[int]]:
    """[n_systems, n_elements] atom counts and the atomic numbers of the columns (sorted)."""
    zs = sorted(set(batch.numbers.tolist()))
    counts = np.zeros((batch.n_systems, len(zs)))
    for col, z in enumerate(zs):
        counts[:, col] = torch.bincount(batch.system_idx[batch.numbers == z], minlength=batch.n_systems).cpu().numpy()
    return counts, zs


def refit_atom_refs(model: Potential, batch: AtomsBatch, energy: np.ndarray, batch_size: int = 64) -> dict[int, float]:
    """Shift the model's per-element references by the least-squares fit of the residual:
    delta = argmin |counts @ delta - (E_label - E_model)|^2, refs[Z] += delta[Z]. Returns the
    shifts {Z: delta in eV}. Models without a reference table are left alone ({})."""
    table = _atom_ref_table(model)
    if table is None:
        return {}
    refs, offset = table
    pred = np.concatenate([model.compute(batch.select(range(s, min(s + batch_size, batch.n_systems))), forces=False,
                                         stress=False)["energy"].cpu().numpy() for s in range(0, batch.n_systems, batch_size)])
    counts, zs = composition_matrix(batch)
    delta, *_ = np.linalg.lstsq(counts, np.asarray(energy, float) - pred, rcond=None)
    rows = torch.as_tensor([z - offset for z in zs], device=refs.device)
    with torch.no_grad():
        refs[rows] += torch.as_tensor(delta, dtype=refs.dtype, device=refs.device)
    return {z: float(d) for z, d in zip(zs, delta)}


# ---- replay set ------------------------------------------------------------------------------

def replay_structures(elements: Sequence[str], max_structures: int = 24) -> list:
    """Elemental reference structures (matwidgets' prototype library, built with pymatgen) of
    ``elements``, rattled by 0.05 Å so forces are non-zero; at most ``max_structures``."""
    from matwidgets.engine.candidates import reference_candidates

    out = []
    rng = np.random.default_rng(0)
    for el in elements:
        for cand in reference_candidates(el)[:2]:
            s = cand.structure.copy()
            if len(s) < 2:
                s.make_supercell([2, 1, 1])
            for i, d in enumerate(rng.normal(0, 0.05, (len(s), 3))):
                s.translate_sites([i], d, frac_coords=False)
            out.append(s)
    return out[:max_structures]


# ---- the loop --------------------------------------------------------------------------------

def _as_model(model: Potential | str) -> Potential:
    if isinstance(model, str):
        from matwidgets.engine.models import load_model

        return load_model(model)
    if not isinstance(model, Potential):
        raise TypeError(f"model must be a Potential or a model name, not {type(model).__name__}")
    return model


def _predict(model: Potential, dataset: Dataset, target: str, batch_size: int) -> np.ndarray:
    """Per-structure predictions: energy in eV (energy/formation targets) or the property."""
    vals = []
    for data in dataset.loader(batch_size):
        batch = to_batch(data, model.dtype, model.device)
        if target in ("energy", "formation_energy"):
            vals.append(model.compute(batch, forces=False, stress=False)["energy"].cpu().numpy())
        else:
            with torch.no_grad():
                vals.append(model.predict_property(batch).cpu().numpy())
    return np.concatenate(vals)


def _labels(dataset: Dataset, target: str, mu: dict[str, float] | None) -> np.ndarray:
    """Per-structure training labels: eV for energy/formation targets, the property otherwise."""
    if target == "energy":
        return dataset.labels["energy"]
    if target == "formation_energy":
        key = next(k for k in FORMATION_KEYS if k in dataset.labels)
        shift = np.array([sum(n * mu[el.symbol] for el, n in s.composition.items()) for s in dataset.structures])
        return dataset.labels[key] * dataset.natoms + shift
    return dataset.labels[target]


def _mae(pred: np.ndarray, label: np.ndarray, dataset: Dataset, target: str) -> float:
    per = dataset.natoms if target in ("energy", "formation_energy") else 1.0
    return float(np.mean(np.abs(pred - label) / per))


def _check_force_units(model: Potential, dataset: Dataset) -> None:
    """Forces given in eV/Bohr or Hartree/Bohr show up as a slope of 0.53 or 1/51 against the base model."""
    sub = dataset.subset(range(min(len(dataset), 16)))
    batch = to_batch(next(iter(sub.loader(16))), model.dtype, model.device)
    fm = model.compute(batch, forces=True, stress=False)["forces"].cpu().numpy().ravel()
    fl = np.concatenate(sub.labels["forces"]).ravel()
    if np.dot(fm, fm) < 1e-8 or np.std(fl) < 1e-8:
        return
    slope = float(np.dot(fl, fm) / np.dot(fm, fm))
    r = float(np.corrcoef(fl, fm)[0, 1])
    if r > 0.8 and abs(slope - BOHR) < 0.08:
        raise ValueError(f"forces look like eV/Bohr: they are {slope:.2f} x the model's forces (1 Bohr = {BOHR} Å); "
                         "convert them to eV/Å (divide by 0.529)")
    if r > 0.8 and slope < 0.05:
        raise ValueError(f"forces are {slope:.3g} x the model's forces: Hartree/Bohr or another unit? expected eV/Å")


def iter_finetune(model: Potential | str, dataset: Dataset, target: str = "energy", freeze: str | Sequence[str] = "backbone",
                  epochs: int = 100, lr: float = 1e-3, batch_size: int = 16, val: float | Dataset | None = 0.1,
                  replay: str | Dataset | None = None, seed: int | None = None, energy_weight: float = 1.0,
                  force_weight: float = 1.0, stress_weight: float = 0.01, replay_weight: float = 1.0,
                  references: dict[str, float] | None = None, refit_refs: bool | str = "auto") -> Iterator[FineTuneStep]:
    """Fine-tune a deep copy of ``model`` on ``dataset``; yields one FineTuneStep per epoch.

    Args:
        target: "energy" (the potential: energy per atom, forces, stress with their weights,
            losses in (eV/atom)^2, (eV/Å)^2, GPa^2), "formation_energy" (the potential, on
            E = N * H_f + sum_el n_el mu_el with mu_el the base model's relaxed elemental
            references, or ``references`` {el: eV/atom}), or a property name in the dataset
            (a linear head on mean-pooled features: ``PropertyModel``).
        freeze: see ``trainable_groups``.
        val: a fraction held out of ``dataset`` (seeded), a Dataset, or None.
        replay: None, "base" (replay structures labelled by the base model) or a Dataset.
        seed: seeds the split, the shuffling and torch's generator (None: fresh randomness).
        refit_refs: "auto" (default) refits the per-element references only when the fit is
            over-determined (at least 2 training structures per element, full rank): with fewer,
            the least-squares shifts absorb family-specific errors exactly and transfer badly
            (measured: held-out chlorides 0.12 -> 0.64 eV/atom with the refit, 0.05 without);
            True always refits, False never.
    The step's best_model holds the best weights so far: a run stopped early keeps them.
    """
    base = _as_model(model)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a matwidgets Dataset, not {type(dataset).__name__}")
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError("epochs >= 0, batch_size >= 1 and lr > 0 are required")
    if target == "formation_energy":
        if not any(k in dataset.labels for k in FORMATION_KEYS):
            raise ValueError(f"target='formation_energy' needs a label {FORMATION_KEYS} (eV/atom); dataset has {list(dataset.labels)}")
    elif target not in dataset.labels or target in ("forces", "stress"):
        raise ValueError(f"target {target!r} is not a label of this dataset (it has {list(dataset.labels)}); "
                         "use 'energy', 'formation_energy' or a scalar property")
    if seed is not None:
        torch.manual_seed(seed)
    train_set, val_set = dataset, None
    if isinstance(val, Dataset):
        val_set = val
    elif val:
        if len(dataset) < 2:
            raise ValueError("a validation fraction needs at least 2 structures (pass val=None)")
        train_set, val_set = dataset.split(val, seed=seed)
    work = copy.deepcopy(base)
    is_energy = target in ("energy", "formation_energy")
    if not is_energy:
        n_feat = pooled_features(base, to_batch(next(iter(train_set.loader(1))), base.dtype, base.device))[0].shape[1]
        work = PropertyModel(work, target, n_feat)
    work.train(False)
    mu = None
    if target == "formation_energy":
        mu = dict(references) if references is not None else _elemental_refs(base, dataset.elements())
    if is_energy and "forces" in train_set.labels and force_weight > 0:
        _check_force_units(base, train_set)

    n_trainable = apply_freeze(work, freeze)
    if n_trainable == 0:
        raise ValueError(f"freeze={freeze!r} leaves no trainable parameter in {base.name}")
    y_train = _labels(train_set, target, mu)
    full_train = to_batch(next(iter(train_set.loader(len(train_set)))), work.dtype, work.device)
    refs = {}
    refit_note = None
    if is_energy and refit_refs == "auto":
        counts, _ = composition_matrix(full_train)
        if len(counts) < 2 * counts.shape[1] or np.linalg.matrix_rank(counts) < counts.shape[1]:
            refit_note = f"skipped: {len(counts)} structures for {counts.shape[1]} elements (auto needs >= 2 per element, full rank)"
    if is_energy and refit_refs and refit_note is None:
        refs = refit_atom_refs(work, full_train, y_train, batch_size=max(batch_size, 16))
    elif not is_energy:
        _init_head(work, train_set, batch_size)

    replay_set = None
    if replay is not None:
        replay_set = replay if isinstance(replay, Dataset) else _replay_dataset(base, dataset, replay, refs)
    y_val = _labels(val_set, target, mu) if val_set is not None else None
    base_val = _mae(_predict(base, val_set, target, batch_size), y_val, val_set, target) if val_set and is_energy else None
    init_val = _mae(_predict(work, val_set, target, batch_size), y_val, val_set, target) if val_set else None

    params = [p for p in work.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    best_model = copy.deepcopy(work)
    # metrics ride on the best model so finetune() reports them even for a stopped run
    best_model._finetune_info = {"val_mae_base": base_val, "val_mae_init": init_val, "n_trainable": n_trainable, "atom_ref_shifts": refs, "refit": refit_note or ("done" if refs else "no"),
                                 "references": mu, "n_train": len(train_set), "n_val": len(val_set) if val_set is not None else 0}
    best_score, best_epoch = (init_val, 0) if init_val is not None else (np.inf, 0)  # epoch 0: refs refit / head fitted
    replay_iter = None
    for epoch in range(1, epochs + 1):
        total, n_seen = 0.0, 0
        for data in train_set.loader(batch_size, shuffle=True, seed=None if seed is None else seed * 1000 + epoch):
            loss = _loss(work, data, target, mu, energy_weight, force_weight, stress_weight)
            if replay_set is not None and replay != "none":
                if replay_iter is None:
                    replay_iter = iter(replay_set.loader(batch_size, shuffle=True, seed=epoch))
                rdata = next(replay_iter, None)
                if rdata is None:
                    replay_iter = iter(replay_set.loader(batch_size, shuffle=True, seed=epoch))
                    rdata = next(replay_iter)
                loss = loss + replay_weight * _loss(work, rdata, "energy", None, 1.0, force_weight, 0.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * int(data.num_graphs)
            n_seen += int(data.num_graphs)
        train_loss = total / n_seen
        val_mae = _mae(_predict(work, val_set, target, batch_size), y_val, val_set, target) if val_set is not None else None
        forgetting = None
        if replay_set is not None:
            forgetting = _mae(_predict(work, replay_set, "energy", batch_size), replay_set.labels["energy"], replay_set, "energy")
        score = val_mae if val_mae is not None else train_loss
        if score < best_score:
            best_score, best_epoch = score, epoch
            best_model.load_state_dict(work.state_dict())
        yield FineTuneStep(epoch, train_loss, val_mae, forgetting, best_epoch, best_model, work)


def _elemental_refs(model: Potential, elements: list[str]) -> dict[str, float]:
    from matwidgets.engine.hull import elemental_references

    return elemental_references(elements, model)


def _replay_dataset(base: Potential, dataset: Dataset, replay: str, shifts: dict[int, float]) -> Dataset:
    """The base model's energies and forces on the replay structures. Energies carry the
    refitted reference shifts (sum_i delta[Z_i]): those are wanted, so they are no forgetting."""
    if replay != "base":
        raise ValueError(f"replay={replay!r}: use None, 'base' or a Dataset")
    structures = replay_structures(dataset.elements())
    batch = AtomsBatch.from_structures(structures, dtype=base.dtype, device=base.device)
    out = base.compute(batch, forces=True, stress=False)
    shift = np.zeros(batch.n_systems)
    for z, d in shifts.items():
        shift += d * torch.bincount(batch.system_idx[batch.numbers == z].cpu(), minlength=batch.n_systems).numpy()
    forces = [f.cpu().numpy() for f in batch.split(out["forces"])]
    return Dataset(structures, energy=out["energy"].cpu().numpy() + shift, forces=forces, check_units=False)


def _init_head(work: PropertyModel, train_set: Dataset, batch_size: int) -> None:
    """Least-squares head on the (current) pooled features: exact for a frozen backbone."""
    feats = []
    with torch.no_grad():
        for data in train_set.loader(batch_size):
            feats.append(pooled_features(work.base, to_batch(data, work.dtype, work.device))[0].double().cpu().numpy())
    x = np.concatenate(feats)
    a = np.hstack([x, np.ones((len(x), 1))])
    y = train_set.labels[work.property]
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    with torch.no_grad():
        work.head.weight.copy_(torch.as_tensor(coef[:-1][None], dtype=work.head.weight.dtype))
        work.head.bias.copy_(torch.as_tensor(coef[-1:], dtype=work.head.bias.dtype))


def _loss(work: Potential, data, target: str, mu, we: float, wf: float, ws: float) -> torch.Tensor:
    batch = to_batch(data, work.dtype, work.device)
    n = batch.counts.to(torch.float64)
    if target not in ("energy", "formation_energy"):
        pred = work.predict_property(batch, training=True)
        return ((pred - data[target].to(pred.device)) ** 2).mean()
    want_f = wf > 0 and getattr(data, "forces", None) is not None
    want_s = ws > 0 and getattr(data, "stress", None) is not None
    out = work.compute(batch, forces=want_f, stress=want_s, training=True)
    if target == "energy":
        label = data.energy.to(out["energy"].device)
    else:
        key = next(k for k in FORMATION_KEYS if k in data)
        structures_shift = torch.zeros(batch.n_systems, dtype=torch.float64)
        for el, m in mu.items():
            from pymatgen.core import Element

            structures_shift += m * torch.bincount(batch.system_idx[batch.numbers == Element(el).Z].cpu(), minlength=batch.n_systems)
        label = data[key] * n.cpu() + structures_shift
        label = label.to(out["energy"].device)
    loss = we * (((out["energy"].double() - label) / n.to(label.device)) ** 2).mean()
    if want_f:
        loss = loss + wf * ((out["forces"].double() - data.forces.to(out["forces"].device)) ** 2).mean()
    if want_s:
        loss = loss + ws * ((out["stress"].double() - data.stress.to(out["stress"].device)) ** 2).mean()
    return loss


def finetune(model: Potential | str, dataset: Dataset, target: str = "energy", freeze: str | Sequence[str] = "backbone",
             epochs: int = 100, lr: float = 1e-3, batch_size: int = 16, val: float | Dataset | None = 0.1,
             replay: str | Dataset | None = None, seed: int | None = None,
             callback: Callable[[FineTuneStep], bool | None] | None = None, progress: bool = False, **kw) -> FineTuneResult:
    """Run ``iter_finetune`` (same arguments) and return FineTuneResult(best model, history, metrics).

    ``callback(step)`` is called after each epoch; returning True stops the run, which
    keeps the best model so far. The returned model saves with ``save`` and loads with
    ``load_model(path)``; its ``tag`` records what it was fine-tuned on. ``progress=True``
    shows a bar of epochs with the latest losses (tqdm: notebook or terminal).
    """
    history: list[FineTuneStep] = []
    gen = iter_finetune(model, dataset, target, freeze, epochs, lr, batch_size, val, replay, seed, **kw)
    with progress_bar(progress, epochs, "fine-tuning", unit="epoch") as bar:
        for step in gen:
            history.append(step)
            bar.update(1)
            bar.set_postfix_str(f"loss {step.train_loss:.4g}" + ("" if step.val_mae is None else f", val MAE {step.val_mae:.4g}"))
            if callback is not None and callback(step):
                gen.close()
                break
    return result_from_steps(model, history, epochs, target, freeze)


def result_from_steps(model: Potential | str, history: list[FineTuneStep], epochs: int, target: str,
                      freeze: str | Sequence[str]) -> FineTuneResult:
    """The FineTuneResult of the steps an ``iter_finetune`` run yielded (all, or those before a
    stop): the best model so far, tagged, every parameter trainable again."""
    if not history:
        raise ValueError("no epoch finished: nothing was trained (epochs=0, or stopped before the first epoch ended)")
    base = _as_model(model)
    best = history[-1].best_model
    info = dict(getattr(best, "_finetune_info", {}))
    if hasattr(best, "_finetune_info"):
        del best._finetune_info
    for p in best.parameters():
        p.requires_grad_(True)
    best.tag = f"finetuned:{target}:{base.name}:freeze={freeze}"
    last = history[-1]
    best_val = min([info.get("val_mae_init")] + [s.val_mae for s in history], key=lambda v: np.inf if v is None else v)
    metrics = {"val_mae": best_val, "best_epoch": last.best_epoch, "epochs_run": len(history),
               "stopped": len(history) < epochs, **info}
    for s in history:  # the steps keep numbers only: the models are the result's
        s.best_model = s.model = None
    return FineTuneResult(best, history, metrics)
