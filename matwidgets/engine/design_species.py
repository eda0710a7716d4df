"""Soft species for ``gradient_design``: per-site weights over allowed elements.

Logits [n_atoms, n_allowed] (-inf where a site may not take an element) give weights
W = softmax(logits / T). Hard species are the total composition of W rounded (largest
remainder) and given to the sites with the largest weights.
"""

from __future__ import annotations

import numpy as np
import torch

from matwidgets.engine.design_constraints import is_charge_neutral


class SoftSpecies:
    """``species``: allowed elements, a list for every site or {element: [elements]} by the
    starting element (default: the structure's elements on every site). A site may always
    keep its starting element."""

    def __init__(self, symbols0: list[str], species, rng: np.random.Generator, t_end: float):
        from pymatgen.core import Element

        self.t_end = t_end
        if species is None:
            species = sorted(set(symbols0), key=lambda s: Element(s).Z)
        if isinstance(species, dict):
            per_site = [list(species.get(s, [s])) for s in symbols0]
        else:
            per_site = [list(species) for _ in symbols0]
        try:
            allowed = sorted({e for site in per_site for e in site} | set(symbols0), key=lambda s: Element(s).Z)
        except ValueError as err:
            raise ValueError(f"species: {err}") from None
        self.allowed = allowed
        self.allowed_z = torch.tensor([Element(s).Z for s in allowed])
        mask = np.zeros((len(symbols0), len(allowed)), dtype=bool)
        for i, site in enumerate(per_site):
            mask[i, [allowed.index(e) for e in site]] = True
        start = np.array([[e == s for e in allowed] for s in symbols0])
        mask |= start
        self.mask = mask  # [n_atoms, n_allowed] bool
        self.can_change = bool((mask.sum(1) > 1).any())
        # logits: the starting species favoured, plus a little noise to break ties between equal sites
        self.theta0 = np.where(mask, 2.0 * start + 0.01 * rng.standard_normal(mask.shape), -np.inf)

    def hard(self, w: np.ndarray) -> list[str]:
        """Hard species from soft weights: the rounded total composition, given to the largest weights."""
        n = len(w)
        total = w.sum(0)
        quota = np.floor(total).astype(int)
        for k in np.argsort(-(total - quota))[: n - quota.sum()]:
            quota[k] += 1
        out = [None] * n
        for flat in np.argsort(-w, axis=None):
            i, k = divmod(int(flat), w.shape[1])
            if out[i] is None and quota[k] > 0 and self.mask[i, k]:
                out[i], quota[k] = k, quota[k] - 1
        return [self.allowed[k if k is not None else int(np.argmax(w[i]))] for i, k in enumerate(out)]

    def weights(self, theta: torch.Tensor, temp: float | None) -> torch.Tensor:
        """[n_atoms, n_allowed] weights at temperature ``temp``; None: one-hot (straight-through gradient)."""
        if temp is None:  # one-hot of the hardened species; the gradient passes straight through the softmax
            soft = torch.softmax(theta / self.t_end, dim=1)
            sym = self.hard(soft.detach().numpy())
            one_hot = torch.tensor([[float(e == s) for e in self.allowed] for s in sym], dtype=torch.float64)
            return one_hot + (soft - soft.detach())
        return torch.softmax(theta / temp, dim=1)

    def neutral(self, new: np.ndarray, old: np.ndarray, symbols: list[str], temp: float) -> np.ndarray:
        """Project species logits onto charge-neutral hard species (per-site masks).

        A site whose new element alone breaks neutrality (``symbols`` with that one site
        changed cannot be balanced) loses that element from its mask for the rest of the run;
        if the changes are neutral one by one but not together, the species step is rejected.
        """
        for _ in range(len(symbols) * len(self.allowed)):
            hard = self.hard(torch.softmax(torch.tensor(new) / temp, 1).numpy())
            if is_charge_neutral(hard):
                return new
            masked = False
            for i in (i for i in range(len(hard)) if hard[i] != symbols[i]):
                if not is_charge_neutral(symbols[:i] + [hard[i]] + symbols[i + 1:]):
                    k = self.allowed.index(hard[i])
                    self.mask[i, k], new[i, k] = False, -np.inf
                    masked = True
            if not masked:
                break
        return old  # projection by rejection: species stay where they were neutral

