"""Inverse design by gradients: FGSM, PGD and Adam on positions, cell strain and soft species.

The gradient of an objective of the model's outputs tells how to move atoms, strain the
cell or mix species. Downhill in energy leads to more stable structures; uphill is an
adversarial attack on stability; uphill in committee disagreement finds where a potential
is weak (Schwalbe-Koda, Tan and Gomez-Bombarelli, Nat. Commun. 12, 5104 (2021)).

Variables (all in the starting cell's frame, as in optimize.py):
    positions: r_ref [n_atoms, 3] Å; atoms sit at r = r_ref @ D.
    cell: a symmetric strain E [3, 3]; D = I + E, cell = cell0 @ D. Steps are taken on
        E * V0^(1/3) so one ``step_size`` (Å) serves positions and cell alike.
    species: logits [n_atoms, n_allowed]; weights W = softmax(logits / T) over each site's
        allowed elements, T annealed geometrically from ``anneal[0]`` to ``anneal[1]``, and
        the last step is evaluated one-hot. Reported structures carry hard species: the
        total composition of W rounded (largest remainder) and given to the sites with the
        largest weights.

Gradients are exact chain rules through the model's energies: dE/dr = -forces,
dE/d(strain) = stress * V, and dE/dW by autograd through the soft-species path
(``compute(..., species_weights=(allowed_z, W))``), member by member for a Committee.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.design_constraints import (
    Unrepairable, check_contradictions, parse_constraints, project_distances, violations,
)
from matwidgets.engine.design_species import SoftSpecies
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA
from matwidgets.engine.models.committee import Committee

OBJECTIVES = ("min_energy", "max_energy", "min_formation_energy", "e_above_hull", "target_pressure", "target_volume",
              "target_magmom", "max_uncertainty")
METHODS = ("fgsm", "pgd", "adam")
VARIABLES = ("positions", "cell", "species")


@dataclass
class DesignStep:
    """One step of ``gradient_design``.

    step: 0 is the start. structure: pymatgen Structure (hard species). objective: the value
    minimised (see ``gradient_design``). grad_norm: L2 norm of the gradient over all
    variables. valid / violations: constraints still broken, in words. extras: energy
    (eV/atom), pressure (GPa), volume (Å^3), energy_std (eV/atom, committees), magmom (mu_B/atom,
    when the model has them), temperature and species_weights (soft species), stopped
    (why the run ended early, keeping the last valid structure).
    """

    step: int
    structure: Any
    objective: float
    grad_norm: float
    valid: bool
    violations: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)


def gradient_design(structure, model: Potential | str | None = None, objective: str | Callable = "min_energy", steps: int = 50,
                    step_size: float = 0.02, method: str = "pgd", variables=("positions", "cell"), constraints: dict | None = None,
                    seed: int | None = None, *, epsilon: float = 0.3, strain_bound: float = 0.1, target: float | None = None,
                    kT: float = 0.05, references: dict | None = None, hull=None, species=None, species_step: float = 0.3,
                    anneal: tuple[float, float] = (1.0, 0.05)) -> Iterator[DesignStep]:
    """Yield a DesignStep per step (step 0 = the start), minimising ``objective``.

    Objectives (values in the trace, all minimised):
        "min_energy" / "max_energy": +/- energy per atom (eV/atom).
        "min_formation_energy": (E - sum_el n_el mu_el) / N, ``references`` {element: eV/atom}
            or the model's relaxed elements (engine.hull.elemental_references).
        "e_above_hull": E/N - the hull energy at the composition, ``hull`` a HullResult.
        "target_pressure": the enthalpy (E + P V) / N at P = ``target`` GPa, whose stationary
            points are exactly the structures at that pressure (needs "cell").
        "target_volume": (V / ``target`` - 1)^2 (needs "cell").
        "target_magmom": (mean magmom - ``target``)^2 in mu_B^2 (needs "species"; the model must
            predict magmoms).
        "max_uncertainty": -std_E * exp(-(E/N - E0/N) / kT), std_E the committee's energy std
            (eV/atom), E0 the start (needs a Committee).
        a callable f(outputs) -> scalar tensor, outputs = {"energy" (mean, eV), "energies"
            [n_members] eV, "volume" Å^3 (tensors carrying the gradient), "n_atoms", "forces",
            "stress", "magmoms" (numpy)}.
    Methods: "fgsm" steps of ``step_size`` along -sign(grad); "pgd" the same, then projected
    into the L-inf ball of radius ``epsilon`` Å around the start and |strain| <= ``strain_bound``;
    "adam" Adam with learning rate ``step_size``. Species logits move by ``species_step`` times the
    current temperature (so the weights change at a steady pace while T falls).
    ``species``: allowed elements, a list for every site or {element: [elements]} by the
    starting element (default: the structure's elements on every site).
    ``constraints``: {"min_distance": Å | "covalent", "volume": (lo, hi) Å^3, "charge_neutral",
    "keep_symmetry", "fixed": [indices]}; every step is projected back to validity; a step that
    cannot be made valid ends the run with the last valid structure (extras["stopped"]).
    Bad settings raise ValueError before any step.
    """
    run = _Run(structure, model, objective, steps, step_size, method, variables, constraints, seed, epsilon, strain_bound,
               target, kT, references, hull, species, species_step, anneal)
    yield from run.iterate()


def _accepts_species(model: Potential) -> bool:
    members = list(model.members) if isinstance(model, Committee) else [model]
    return all("species_weights" in inspect.signature(m.compute).parameters for m in members)


class _Run:
    def __init__(self, structure, model, objective, steps, step_size, method, variables, constraints, seed, epsilon,
                 strain_bound, target, kT, references, hull, species, species_step, anneal):
        from pymatgen.core import Structure

        if not isinstance(structure, Structure):
            raise ValueError(f"gradient_design needs a pymatgen Structure, got {type(structure).__name__}")
        self.model = load_model() if model is None else load_model(model) if isinstance(model, (str, list, tuple)) else model
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        bad = [v for v in variables if v not in VARIABLES]
        if bad or not variables:
            raise ValueError(f"unknown variables {bad or variables!r}; choose from {VARIABLES}")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        if not callable(objective) and objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose from {OBJECTIVES} or pass a callable")
        if steps < 0 or step_size <= 0:
            raise ValueError("steps must be >= 0 and step_size > 0")
        self.structure0 = structure
        self.variables, self.method, self.objective, self.steps = variables, method, objective, int(steps)
        self.step_size, self.epsilon, self.strain_bound = float(step_size), float(epsilon), float(strain_bound)
        self.target, self.kT, self.hull, self.species_step, self.anneal = target, float(kT), hull, float(species_step), anneal
        self.rng = np.random.default_rng(seed)
        self.symbols0 = [str(s.specie) for s in structure]
        self.pbc = bool(np.all(structure.lattice.pbc))
        self.batch0 = AtomsBatch.from_structures(structure)
        self.cell0 = structure.lattice.matrix.copy()
        self.r0 = structure.cart_coords.copy()
        self.length = abs(np.linalg.det(self.cell0)) ** (1 / 3)  # Å per unit strain
        self.is_committee = isinstance(self.model, Committee)
        self.use_species = "species" in variables
        self.sp = SoftSpecies(self.symbols0, species, self.rng, float(anneal[1]))
        self.can_change_species = self.use_species and self.sp.can_change
        self.c = parse_constraints(constraints, structure)
        check_contradictions(self.c, structure, variables, self.can_change_species)
        self._check_model()
        self.references = self._references(references) if objective == "min_formation_energy" else None
        self.e0 = None

    # ---- setup ---------------------------------------------------------------------------
    def _check_model(self):
        m, obj = self.model, self.objective
        if obj == "target_magmom":
            if not getattr(m, "has_magmoms", False):
                raise ValueError(f"target_magmom: model {m.name} does not predict magnetic moments")
            if not self.use_species:
                raise ValueError("target_magmom moves species only: add 'species' to variables")
        if obj == "max_uncertainty" and not self.is_committee:
            raise ValueError(f"max_uncertainty needs a Committee (load_model([...]) or Committee([...])); {m.name} is a single model")
        if self.use_species and not _accepts_species(m):
            raise ValueError(f"species as a variable needs a model with soft species (compute(..., species_weights=)); "
                             f"{m.name} has none")
        if obj in ("target_pressure", "target_volume", "target_magmom") and self.target is None:
            raise ValueError(f"{obj} needs target= ({'GPa' if obj == 'target_pressure' else 'Å^3' if obj == 'target_volume' else 'mu_B/atom'})")
        if obj in ("target_pressure", "target_volume") and "cell" not in self.variables:
            raise ValueError(f"{obj} needs 'cell' among the variables")
        if obj == "target_volume" and self.c.volume is not None and not self.c.volume[0] <= self.target <= self.c.volume[1]:
            raise ValueError(f"contradictory settings: target volume {self.target} outside the volume constraint {self.c.volume}")
        if "cell" in self.variables and not self.pbc:
            raise ValueError("the cell is a variable only for structures periodic in all three directions")
        if obj == "e_above_hull":
            if self.hull is None:
                raise ValueError("e_above_hull needs hull= (a HullResult from hull_for)")
            hull_els = {e.symbol for e in self.hull.phase_diagram.elements}
            missing = sorted(set(self.sp.allowed if self.use_species else self.symbols0) - hull_els)
            if missing:
                raise ValueError(f"e_above_hull: the hull has no {missing}")

    def _references(self, references):
        els = self.sp.allowed if self.use_species else sorted(set(self.symbols0))
        if references is None:
            from matwidgets.engine.hull import elemental_references

            references = elemental_references(els, self.model)
        missing = [e for e in els if e not in references]
        if missing:
            raise ValueError(f"min_formation_energy: references lack {missing}")
        return torch.tensor([float(references[e]) for e in self.sp.allowed], dtype=torch.float64)

    # ---- evaluation ------------------------------------------------------------------------
    def evaluate(self, r_ref: np.ndarray, E: np.ndarray, theta: np.ndarray, temp: float | None):
        D = np.eye(3) + E
        pos, cell = r_ref @ D, self.cell0 @ D
        th = torch.tensor(theta, requires_grad=self.use_species)
        W = self.sp.weights(th, temp) if self.use_species else None
        symbols = self.sp.hard(W.detach().numpy()) if self.use_species else self.symbols0
        numbers = torch.tensor([self.sp.allowed_z[self.sp.allowed.index(s)] for s in symbols]) if self.use_species else self.batch0.numbers
        batch = AtomsBatch(torch.tensor(pos), torch.tensor(cell)[None], numbers, self.batch0.pbc, self.batch0.system_idx)
        members = list(self.model.members) if self.is_committee else [self.model]
        kw: dict[str, Any] = {"stress": self.pbc}
        if W is not None:
            kw["species_weights"] = (self.sp.allowed_z, W)
        # outputs to CPU float64 (a differentiable copy: the species gradient still reaches W), so the
        # objective, references and numpy bookkeeping never mix devices
        outs = [{k: v.to("cpu", torch.float64) for k, v in m.compute(batch, forces=True, **kw).items() if torch.is_tensor(v)}
                for m in members]
        n = len(pos)
        vol = abs(np.linalg.det(cell))
        e_m = torch.stack([o["energy"][0].to(torch.float64) for o in outs])  # [n_members] eV, graph to W
        e_leaf = e_m.detach().clone().requires_grad_()
        v_leaf = torch.tensor(vol, dtype=torch.float64, requires_grad=True)
        mag = outs[0].get("magmoms") if not self.is_committee else None
        value = self.value(e_leaf, v_leaf, W, n, outs, mag)
        if not value.requires_grad:  # an objective independent of every variable
            value = value + 0.0 * e_leaf.sum()
        g_e, g_v = (g if g is not None else torch.zeros(())
                    for g in torch.autograd.grad(value, [e_leaf, v_leaf], retain_graph=True, allow_unused=True))
        forces = np.stack([o["forces"].detach().numpy() for o in outs])  # [n_members, n_atoms, 3]
        stress = np.stack([o["stress"][0].detach().numpy() for o in outs]) if self.pbc else np.zeros((len(outs), 3, 3))
        ge = g_e.detach().numpy().reshape(-1)
        g_pos = -np.einsum("m,max->ax", ge, forces)
        G = np.einsum("m,mxy->xy", ge, stress) * vol / EV_PER_A3_TO_GPA + float(g_v) * vol * np.eye(3)
        grads = {"positions": g_pos @ D.T, "cell": 0.5 * (np.linalg.solve(D.T, G) + np.linalg.solve(D.T, G).T)}
        if self.use_species:
            surrogate = value + (g_e.detach() * (e_m - e_m.detach())).sum()
            (g_th,) = torch.autograd.grad(surrogate, th, allow_unused=True) if surrogate.requires_grad else (None,)
            g_th = np.zeros_like(theta) if g_th is None else np.nan_to_num(g_th.numpy())
            grads["species"] = np.where(self.sp.mask, g_th, 0.0)
        e_mean = float(e_m.detach().mean()) / n
        extras = {"energy": e_mean, "volume": vol}
        if self.pbc:
            extras["pressure"] = float(-np.trace(stress.mean(0)) / 3)
        if self.is_committee:
            per = e_m.detach().numpy() / n
            extras["energy_std"] = float(per.std())
            extras["forces_std_max"] = float(np.sqrt(((forces - forces.mean(0)) ** 2).sum(-1).mean(0)).max())
        if mag is not None:
            extras["magmom"] = float(mag.detach().mean())  # mu_B per atom
        if W is not None:
            extras["species_weights"] = W.detach().numpy().copy()
        return float(value.detach()), grads, pos, cell, symbols, extras

    def value(self, e_m, vol, W, n, outs, mag) -> torch.Tensor:
        obj, e = self.objective, e_m.mean()
        if callable(obj):
            out = {"energy": e, "energies": e_m, "volume": vol, "n_atoms": n,
                   "forces": np.mean([o["forces"].detach().numpy() for o in outs], 0),
                   "stress": np.mean([o["stress"].detach().numpy() for o in outs], 0) if self.pbc else None,
                   "magmoms": None if mag is None else mag.detach().numpy()}
            val = obj(out)
            if not torch.is_tensor(val):
                raise ValueError("a callable objective must return a scalar torch tensor built from outputs['energy'], "
                                 "['energies'] or ['volume'] (a float carries no gradient)")
            return val.reshape(())
        if obj == "min_energy":
            return e / n
        if obj == "max_energy":
            return -e / n
        if obj == "min_formation_energy":
            counts = W.sum(0) if W is not None else self._hard_counts()
            return (e - (counts * self.references).sum()) / n
        if obj == "e_above_hull":
            from pymatgen.core import Composition

            symbols = self.sp.hard(W.detach().numpy()) if W is not None else self.symbols0
            e_hull = self.hull.phase_diagram.get_hull_energy_per_atom(Composition("".join(symbols)))
            return e / n - float(e_hull)
        if obj == "target_pressure":
            return (e + self.target / EV_PER_A3_TO_GPA * vol) / n
        if obj == "target_volume":
            return (vol / self.target - 1) ** 2
        if obj == "target_magmom":
            return (mag.mean() - self.target) ** 2
        # max_uncertainty
        per = e_m / n
        std = (per - per.mean()).pow(2).mean().sqrt()
        if self.e0 is None:
            self.e0 = float(per.mean().detach())
        return -std * torch.exp(-(per.mean() - self.e0) / self.kT)

    def _hard_counts(self) -> torch.Tensor:
        return torch.tensor([self.symbols0.count(e) for e in self.sp.allowed], dtype=torch.float64)

    # ---- the loop --------------------------------------------------------------------------
    def temperature(self, k: int) -> float | None:
        if not self.use_species:
            return None
        if k >= self.steps and self.steps > 0:
            return None  # the last step is evaluated one-hot
        t0, t1 = self.anneal
        return float(t0 * (t1 / t0) ** (k / max(self.steps - 1, 1)))

    def iterate(self) -> Iterator[DesignStep]:
        from pymatgen.core import Lattice, Structure

        r_ref, E, theta = self.r0.copy(), np.zeros((3, 3)), self.sp.theta0.copy()
        adam = {k: (0.0, 0.0) for k in VARIABLES}
        last = None
        for k in range(self.steps + 1):
            val, grads, pos, cell, symbols, extras = self.evaluate(r_ref, E, theta, self.temperature(k))
            gnorm = float(np.sqrt(sum((grads[v] ** 2).sum() for v in self.variables)))
            structure = Structure(Lattice(cell, pbc=self.structure0.lattice.pbc), symbols, pos, coords_are_cartesian=True)
            viol = self.check(pos, cell, symbols, r_ref, structure)
            if k == 0 or not viol:
                last = DesignStep(k, structure, val, gnorm, not viol, viol, extras)
                yield last
            else:
                yield DesignStep(k, last.structure, last.objective, last.grad_norm, last.valid, last.violations,
                                 {**last.extras, "stopped": f"step {k} could not be made valid: {'; '.join(viol)}"})
                return
            if k == self.steps:
                return
            try:
                r_ref, E, theta = self.update(k, r_ref, E, theta, grads, adam, symbols)
            except Unrepairable as err:
                yield DesignStep(k + 1, last.structure, last.objective, last.grad_norm, last.valid, last.violations,
                                 {**last.extras, "stopped": f"step {k + 1} could not be made valid: {err}"})
                return

    def check(self, pos, cell, symbols, r_ref, structure) -> list[str]:
        from matwidgets.errors import InvalidStructureError

        sym_number = None
        if self.c.keep_symmetry:
            import spglib

            ds = spglib.get_symmetry_dataset((cell, structure.frac_coords, [s.specie.Z for s in structure]), symprec=1e-3)
            sym_number = None if ds is None else int(ds.number)
        viol = violations(pos, cell, symbols, self.c, r_ref, self.r0, sym_number)
        try:
            AtomsBatch.from_structures(structure)
        except InvalidStructureError as err:
            viol.append(f"AtomsBatch validation: {err}")
        return viol

    def step(self, name: str, g: np.ndarray, k: int, adam: dict, lr: float) -> np.ndarray:
        if self.method in ("fgsm", "pgd"):
            return -lr * np.sign(g)
        m, v = adam[name]
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        adam[name] = (m, v)
        return -lr * (m / (1 - 0.9 ** (k + 1))) / (np.sqrt(v / (1 - 0.999 ** (k + 1))) + 1e-8)

    def update(self, k, r_ref, E, theta, grads, adam, symbols):
        c, sym = self.c, self.c.symmetry
        if "positions" in self.variables:
            d = self.step("positions", grads["positions"], k, adam, self.step_size)
            if sym is not None:
                d = sym.positions(d)
            d[c.fixed] = 0.0
            r_ref = r_ref + d
            if self.method == "pgd":
                r_ref = np.clip(r_ref, self.r0 - self.epsilon, self.r0 + self.epsilon)
                if sym is not None:
                    r_ref = self.r0 + sym.positions(r_ref - self.r0)
        if "cell" in self.variables:
            d = self.step("cell", grads["cell"] * self.length, k, adam, self.step_size) / self.length
            d = 0.5 * (d + d.T)
            E = E + (sym.strain(d) if sym is not None else d)
            if self.method == "pgd":
                E = np.clip(E, -self.strain_bound, self.strain_bound)
                if sym is not None:
                    E = sym.strain(E)
            if c.volume is not None:
                D = np.eye(3) + E
                v = abs(np.linalg.det(self.cell0 @ D))
                if not c.volume[0] <= v <= c.volume[1]:
                    E = D * (np.clip(v, *c.volume) / v) ** (1 / 3) - np.eye(3)
        if self.use_species:
            # logits move by species_step * T: the weights softmax(logits / T) change at the same pace as T falls
            lr = self.species_step * (self.temperature(k) or self.anneal[1])
            new = theta + np.where(self.sp.mask, self.step("species", grads["species"], k, adam, lr), 0.0)
            if sym is not None:
                new = np.where(self.sp.mask, sym.sites(np.where(self.sp.mask, new, 0.0)), -np.inf)
            if c.charge_neutral:
                new = self.sp.neutral(new, theta, symbols, self.temperature(k + 1) or self.anneal[1])
            theta = new
        dmin = c.min_distances(symbols)
        if dmin.any():
            D = np.eye(3) + E
            pos = project_distances(r_ref @ D, self.cell0 @ D, dmin, c.fixed)
            r_ref = pos @ np.linalg.inv(D)
        return r_ref, E, theta
