"""Few-shot adaptation: meta-learn an initialisation (Reptile, first-order MAML), then adapt.

A pretrained potential fine-tuned on five examples of a new family of materials mostly
over- or under-shoots; meta-training rehearses exactly that situation on other families
(tasks) so the trainable parameters end where a few gradient steps go far.

- ``adapt(model, support, steps)``: ``steps`` full-batch SGD steps on the support set (a
  deep copy; the model passed in is never modified). The same inner loop is used by
  meta-training, so an initialisation is judged by the procedure it was trained for.
- ``meta_train(model, tasks, method)``: each meta step draws a task and k support
  structures (plus k query structures for FOMAML), adapts a copy of the trainable
  parameters with ``inner_steps`` SGD steps, then moves the initialisation:
    reptile: theta <- theta + meta_lr * (theta' - theta)        (Nichol et al. 2018)
    fomaml:  theta <- theta - meta_lr * grad L_query(theta')     (Finn et al. 2017, first order)

Written here rather than with a meta-learning library (learn2learn, higher): both updates
are a few lines over ``finetune``'s loss, and those libraries pin old torch versions.
Losses are ``finetune``'s: energy per atom, forces and stress, or formation energy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from matwidgets.engine.data import Dataset
from matwidgets.engine.finetune import FORMATION_KEYS, _as_model, _elemental_refs, _loss, apply_freeze
from matwidgets.engine.models import Potential
from matwidgets.engine.progress import progress_bar

METHODS = ("reptile", "fomaml")


def _check_target(dataset: Dataset, target: str, what: str) -> None:
    if target == "formation_energy":
        if not any(k in dataset.labels for k in FORMATION_KEYS):
            raise ValueError(f"{what} has no formation-energy label {FORMATION_KEYS}; it has {list(dataset.labels)}")
    elif target != "energy":
        raise ValueError(f"target {target!r}: few-shot adaptation trains the potential ('energy' or 'formation_energy')")
    elif "energy" not in dataset.labels:
        raise ValueError(f"{what} has no 'energy' label; it has {list(dataset.labels)}")


def _references(model: Potential, datasets: Sequence[Dataset], target: str, references: Mapping[str, float] | None):
    if target != "formation_energy":
        return None
    if references is not None:
        return dict(references)
    return _elemental_refs(model, sorted({el for d in datasets for el in d.elements()}))


def _sgd(work: Potential, params: list[torch.nn.Parameter], data, target: str, mu, steps: int, lr: float,
         weights: tuple[float, float, float]) -> None:
    """``steps`` plain SGD steps on one batch (the inner loop)."""
    for _ in range(steps):
        loss = _loss(work, data, target, mu, *weights)
        # allow_unused: a trainable group may hold parameters the loss never reaches (CHGNet's
        # readout group includes the magmom head, which an energy loss does not use)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(params, grads):
                if g is not None:
                    p -= lr * g


def _full_batch(dataset: Dataset):
    return next(iter(dataset.loader(len(dataset))))


def adapt(model: Potential | str, support: Dataset, steps: int = 10, lr: float = 1e-3, target: str = "energy",
          freeze: str | Sequence[str] = "backbone", references: Mapping[str, float] | None = None,
          energy_weight: float = 1.0, force_weight: float = 1.0, stress_weight: float = 0.0) -> Potential:
    """A copy of ``model`` after ``steps`` full-batch SGD steps (learning rate ``lr``) on ``support``.

    ``freeze`` as in ``finetune`` ("backbone" trains the readout only: no reference refit here);
    ``target`` "energy" or "formation_energy" (then ``references`` {el: eV/atom}, else the
    model's own relaxed elemental references)."""
    base = _as_model(model)
    if not isinstance(support, Dataset) or len(support) == 0:
        raise ValueError("support must be a non-empty matwidgets Dataset")
    if steps < 0 or lr <= 0:
        raise ValueError(f"steps must be >= 0 and lr > 0 (got steps={steps}, lr={lr})")
    _check_target(support, target, "the support set")
    mu = _references(base, [support], target, references)
    work = copy.deepcopy(base)
    work.train(False)
    if apply_freeze(work, freeze) == 0:
        raise ValueError(f"freeze={freeze!r} leaves no trainable parameter in {base.name}")
    params = [p for p in work.parameters() if p.requires_grad]
    _sgd(work, params, _full_batch(support), target, mu, steps, lr, (energy_weight, force_weight, stress_weight))
    for p in work.parameters():
        p.requires_grad_(True)
    work.tag = f"adapted:{target}:{base.name}:k={len(support)}:steps={steps}"
    return work


def meta_train(model: Potential | str, tasks: Sequence[Dataset] | Mapping[str, Dataset], method: str = "reptile",
               meta_steps: int = 100, k: int = 5, inner_steps: int = 5, inner_lr: float = 1e-3, meta_lr: float = 0.5,
               target: str = "energy", freeze: str | Sequence[str] = "backbone", references: Mapping[str, float] | None = None,
               seed: int | None = None, energy_weight: float = 1.0, force_weight: float = 1.0, stress_weight: float = 0.0,
               callback: Callable[[int, float], bool | None] | None = None, progress: bool = False) -> Potential:
    """Meta-train an initialisation of ``model``'s trainable parameters on ``tasks``.

    tasks: Datasets, one per family (e.g. ``Dataset.groupby("anion")``'s values), each with
    at least ``k`` structures (``2k`` for "fomaml": support and query are disjoint).
    Returns a copy; adapt it to a new family with ``adapt(result, support, inner_steps,
    inner_lr)``. ``callback(step, query_or_support_loss)`` after each meta step; True stops.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {METHODS}")
    tasks = list(tasks.values()) if isinstance(tasks, Mapping) else list(tasks)
    need = 2 * k if method == "fomaml" else k
    if not tasks:
        raise ValueError("meta_train needs at least one task (a Dataset per family)")
    if k < 1 or meta_steps < 0 or inner_steps < 1 or inner_lr <= 0 or meta_lr <= 0:
        raise ValueError("k >= 1, meta_steps >= 0, inner_steps >= 1, inner_lr > 0 and meta_lr > 0 are required")
    for i, task in enumerate(tasks):
        if not isinstance(task, Dataset):
            raise TypeError(f"task {i} is a {type(task).__name__}, not a matwidgets Dataset")
        if len(task) < need:
            raise ValueError(f"task {i} has {len(task)} structures; {method} with k={k} needs at least {need}")
        _check_target(task, target, f"task {i}")
    base = _as_model(model)
    mu = _references(base, tasks, target, references)
    work = copy.deepcopy(base)
    work.train(False)
    if apply_freeze(work, freeze) == 0:
        raise ValueError(f"freeze={freeze!r} leaves no trainable parameter in {base.name}")
    params = [p for p in work.parameters() if p.requires_grad]
    weights = (energy_weight, force_weight, stress_weight)
    rng = np.random.default_rng(seed)
    with progress_bar(progress, meta_steps, f"meta-training ({method})", unit="step") as bar:
        for step in range(1, meta_steps + 1):
            task = tasks[rng.integers(len(tasks))]
            pick = rng.permutation(len(task))[:need]
            support = _full_batch(task.subset(pick[:k]))
            start = [p.detach().clone() for p in params]
            _sgd(work, params, support, target, mu, inner_steps, inner_lr, weights)
            with torch.no_grad():
                if method == "reptile":
                    loss = float(_loss(work, support, target, mu, *weights))
                    for p, p0 in zip(params, start):
                        p.copy_(p0 + meta_lr * (p - p0))
                else:
                    query = _full_batch(task.subset(pick[k:]))
                    with torch.enable_grad():
                        q_loss = _loss(work, query, target, mu, *weights)
                        grads = torch.autograd.grad(q_loss, params, allow_unused=True)
                    loss = float(q_loss)
                    for p, p0, g in zip(params, start, grads):
                        p.copy_(p0 if g is None else p0 - meta_lr * g)
            bar.update(1)
            bar.set_postfix_str(f"loss {loss:.4g}")
            if callback is not None and callback(step, loss):
                break
    for p in work.parameters():
        p.requires_grad_(True)
    work.tag = f"meta:{method}:{target}:{base.name}:k={k}:steps={meta_steps}"
    return work
