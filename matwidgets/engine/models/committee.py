"""A committee of potentials: mean predictions and the members' disagreement.

``load_model(["chgnet", "chgnet-0.2.0", "sevennet-0"])`` builds one from the shared,
cached pretrained instances. Every member computes the whole batch (with its own cutoff
and neighbour list); the committee averages energies, forces and stress and reports how
much the members disagree, which widgets show as model uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.base import Potential
from matwidgets.engine.neighbors import Edges


class Committee(Potential):
    """Mean of its members' predictions, plus their spread.

    ``compute`` returns the members' mean energy [n_systems] (eV), atom_energies [n_atoms],
    forces [n_atoms, 3] (eV/Å) and stress [n_systems, 3, 3] (GPa), and also:

        energy_std [n_systems], eV/atom: the standard deviation over members (population,
            ddof=0) of the energy per atom;
        forces_std [n_atoms], eV/Å: sqrt(mean over members m of |F_m - F_mean|^2), the
            root-mean-square distance of the members' force vectors from their mean.

    Members with different cutoffs and element ranges work within their common range:
    ``max_z`` is the smallest of the members' and ``cutoff`` the largest (each member keeps
    only its own pairs). Outputs are float64.
    """

    family = "committee"

    def __init__(self, members: Sequence[Potential]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"a committee needs at least 2 models, got {len(members)}")
        self.members = torch.nn.ModuleList(members)
        self.name = "committee(" + ",".join(m.name for m in members) + ")"
        self.cutoff = max(float(m.cutoff) for m in members)
        self.max_z = min(int(m.max_z) for m in members)

    @property
    def model_id(self) -> str:
        return "committee(" + ",".join(m.model_id for m in self.members) + ")"

    def get_config(self) -> dict[str, Any]:
        return {"members": [{"family": m.family, "config": m.get_config()} for m in self.members]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Committee:
        from matwidgets.engine.models import family_class

        return cls([family_class(m["family"]).from_config(m["config"]) for m in config["members"]])

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """The members' groups merged by name (a parameter shared by two members is listed once)."""
        groups: dict[str, list[torch.nn.Parameter]] = {}
        seen: set[int] = set()
        for member in self.members:
            for key, params in member.parameter_groups().items():
                fresh = [p for p in params if id(p) not in seen]
                seen.update(id(p) for p in fresh)
                groups.setdefault(key, []).extend(fresh)
        order = ["embedding", *sorted((k for k in groups if k.startswith("interaction.")), key=lambda k: int(k.split(".")[1])), "readout", "atom_refs"]
        return {k: groups[k] for k in order if k in groups}

    def check_numbers(self, batch: AtomsBatch) -> None:
        for member in self.members:  # each names itself and the element it lacks
            member.check_numbers(batch)

    def compute(self, batch: AtomsBatch, forces: bool = True, stress: bool = True, training: bool = False,
                allow_isolated: bool = False, neighbors: Callable[[AtomsBatch, float], Edges] | None = None,
                species_weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Every member on the whole batch, then mean and spread (see the class docstring)."""
        kw: dict[str, Any] = {"forces": forces, "stress": stress, "allow_isolated": allow_isolated}
        # pass optional arguments only when used: members need not all accept them
        if training:
            kw["training"] = True
        if neighbors is not None:
            kw["neighbors"] = neighbors
        if species_weights is not None:
            kw["species_weights"] = species_weights
        outs = [member.compute(batch, **kw) for member in self.members]
        keys = [k for k in ("energy", "atom_energies", "forces", "stress") if all(k in o for o in outs)]
        stacked = {k: torch.stack([o[k].to(torch.float64) for o in outs]) for k in keys}  # [n_members, ...]
        out = {k: v.mean(0) for k, v in stacked.items()}
        counts = batch.counts.to(stacked["energy"].device, torch.float64)  # [n_systems]
        per_atom = stacked["energy"] / counts  # [n_members, n_systems]
        out["energy_std"] = (per_atom - per_atom.mean(0)).pow(2).mean(0).sqrt()  # [n_systems] eV/atom
        if "forces" in stacked:
            dev = stacked["forces"] - out["forces"]  # [n_members, n_atoms, 3]
            out["forces_std"] = dev.pow(2).sum(-1).mean(0).sqrt()  # [n_atoms] eV/Å
        return out
