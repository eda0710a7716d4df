"""SevenNet (Park et al., J. Chem. Theory Comput. 20, 4857), offline, on our batches.

The weights ship inside the ``sevenn`` wheel (sevenn/pretrained_potentials/). We build
sevenn's own ``AtomGraphSequential`` from its checkpoint and run its modules (e3nn
convolutions, gates, self-interactions, per-species rescale) on a dict built from OUR
AtomsBatch and neighbour list, for the whole batch at once. Three of its modules are
replaced, and only these:

* ``onehot_idx_to_onehot``: we map atomic numbers through its type map and build the
  one-hot ourselves, in the model's dtype (sevenn's casts to float32), or, with soft
  species, put the species weights where the one-hot goes;
* ``reduce_total_enegy`` (sic) and ``force_output``: energy sum, forces and stress come
  from autograd on positions and a homogeneous strain, as for every Potential, so
  ``training=True`` keeps the double-backward graph and the stress carries our sign and
  unit conventions. sevenn's own output module differentiates with respect to edge vectors,
  which is the same derivative.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from typing import Any

import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.base import Potential, energy_outputs, weights_hash
from matwidgets.engine.neighbors import Edges, edge_vectors, neighbor_list
from matwidgets.errors import InvalidStructureError

# our name -> sevenn's pretrained name
PRETRAINED = {"sevennet-0": "7net-0", "sevennet-l3i5": "7net-l3i5", "sevennet-mf-0": "7net-mf-0"}
# sevennet-mf-0 is trained on two fidelities: "PBE" (MPtrj, the data every other zoo model is
# trained on, with MP2020-compatible energies) and "R2SCAN" (MP r2SCAN). PBE is what matches MP.
DEFAULT_MODAL = "PBE"
_REPLACED = ("onehot_idx_to_onehot", "reduce_total_enegy", "force_output")


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    """sevenn's model config made JSON-able: arrays to lists, devices to strings, int-keyed type map to pairs."""
    import numpy as np

    out = {}
    for key, value in config.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, torch.device):
            value = str(value)
        elif key == "_type_map":
            value = [[int(z), int(i)] for z, i in value.items()]
        out[key] = value
    return out


def _sevenn_config(config: dict[str, Any]) -> dict[str, Any]:
    """Inverse of ``_jsonable`` for the keys sevenn's model builder reads."""
    config = dict(config)
    if isinstance(config.get("_type_map"), list):
        config["_type_map"] = {int(z): int(i) for z, i in config["_type_map"]}
    config["device"] = "cpu"
    return config


class SevenNetPotential(Potential):
    """A pretrained (or fine-tuned) SevenNet behind the Potential contract.

    Args:
        model_name: "sevennet-0", "sevennet-l3i5" or "sevennet-mf-0" (from the sevenn wheel).
        modal: the fidelity of a multi-fidelity model ("PBE" or "R2SCAN" for sevennet-mf-0;
            default "PBE"); ignored (None) for single-fidelity models.
        sevenn_config: build this architecture instead of a pretrained one (weights as
            sevenn's builder initialises them); what ``from_config`` passes.
        dtype: float32 (default) or float64.
        checkpoint: path of a sevenn checkpoint file (e.g. one downloaded by sevenn itself),
            used instead of ``model_name``.
    """

    name = "sevennet"
    family = "sevennet"

    def __init__(self, model_name: str | None = "sevennet-0", modal: str | None = None, sevenn_config: dict | None = None,
                 device: str | None = None, dtype: torch.dtype | None = None, checkpoint: str | None = None):
        super().__init__()
        import sevenn._keys as KEY

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # sevenn warns that no accelerated tensor-product backend is installed
            if sevenn_config is None:
                from sevenn.checkpoint import SevenNetCheckpoint
                from sevenn.util import pretrained_name_to_path

                if checkpoint is not None:
                    model_name = None
                    path = str(checkpoint)
                elif model_name in PRETRAINED:
                    # a file inside the wheel (sevenn would download only names the wheel lacks)
                    path = pretrained_name_to_path(PRETRAINED[model_name])
                else:
                    raise ValueError(f"unknown SevenNet model {model_name!r}: use one of {', '.join(PRETRAINED)}")
                cp = SevenNetCheckpoint(path)
                config = cp.config
                model = cp.build_model()
            else:
                from sevenn.model_build import build_E3_equivariant_model

                config = _sevenn_config(sevenn_config)
                model = build_E3_equivariant_model(config)
        model.set_is_batch_data(True)
        model.eval()
        self.model = model
        self.model_name = model_name
        self.sevenn_config = _jsonable(config)
        self.name = model_name or "sevennet"
        self.cutoff = float(config[KEY.CUTOFF])
        type_map = {int(z): int(i) for z, i in config[KEY.TYPE_MAP].items()}
        self.known_z = sorted(type_map)
        self.max_z = max(self.known_z)
        z_to_type = torch.full((120,), -1, dtype=torch.long)
        for z, i in type_map.items():
            z_to_type[z] = i
        self.register_buffer("z_to_type", z_to_type, persistent=False)
        self.n_types = len(type_map)
        modal_map = config.get(KEY.MODAL_MAP) or {}
        if config.get(KEY.USE_MODALITY, False) and modal_map:
            modal = modal or DEFAULT_MODAL
            if modal not in modal_map:
                raise ValueError(f"{self.name} has no modal {modal!r}: use one of {', '.join(modal_map)}")
            self.modal, self.modal_index = modal, int(modal_map[modal])
        else:
            self.modal, self.modal_index = None, None
        self.to(device=device, dtype=dtype or torch.float32)

    # ---- contract --------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "modal": self.modal, "sevenn_config": self.sevenn_config}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SevenNetPotential:
        """The architecture alone, built offline from sevenn's stored config (weights come from the checkpoint)."""
        return cls(model_name=config.get("model_name"), modal=config.get("modal"), sevenn_config=config["sevenn_config"])

    @property
    def model_id(self) -> str:
        return f"{self.name}-{self.modal or ''}-{weights_hash(self.model)}"

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """embedding (edge basis and species embedding), interaction.k (the k-th convolution
        block with its self-connection and gate), readout (the two output linears) and
        atom_refs (the per-species energy shift and scale)."""
        groups: dict[str, list[torch.nn.Parameter]] = {"embedding": []}
        n_layers = int(self.sevenn_config.get("num_convolution_layer", 0))
        for k in range(n_layers):
            groups[f"interaction.{k}"] = []
        groups["readout"], groups["atom_refs"] = [], []
        for module_name, module in self.model._modules.items():
            if next(module.parameters(), None) is None:
                continue
            head = module_name.split("_", 1)[0]
            if head.isdigit():
                key = f"interaction.{int(head)}"
            elif module_name in ("edge_embedding", "onehot_to_feature_x", "one_hot_modality"):
                key = "embedding"
            elif module_name == "rescale_atomic_energy":
                key = "atom_refs"
            elif module_name.startswith("reduce_"):
                key = "readout"
            else:
                raise RuntimeError(f"sevenn module {module_name!r} has no parameter group; update parameter_groups")
            groups[key].extend(module.parameters())
        return groups

    def check_numbers(self, batch: AtomsBatch) -> None:
        self._check_z(batch.numbers)

    def _check_z(self, zs: torch.Tensor) -> None:
        zs = zs.to(self.z_to_type.device)
        unknown = (zs >= len(self.z_to_type)) | (self.z_to_type[zs.clamp(max=len(self.z_to_type) - 1)] < 0)
        if bool(unknown.any()):  # one host sync per call, as the base class's check
            bad = [int(z) for z in zs[unknown].cpu()]
            from pymatgen.core.periodic_table import Element

            z = bad[0]
            raise InvalidStructureError(f"element {Element.from_Z(z).symbol} (Z={z}) is not supported by model {self.name} "
                                        f"(it knows {len(self.known_z)} elements, Z = 1..{self.max_z} with gaps)")

    # ---- forward ---------------------------------------------------------------------

    def energies(self, batch: AtomsBatch, vectors: torch.Tensor, edges: Edges,
                 species_weights: tuple[torch.Tensor, torch.Tensor] | None = None, filter_edges: bool = True) -> torch.Tensor:
        """[n_atoms] atom energies in eV from [n_edges, 3] edge vectors r_j - r_i.

        ``species_weights`` (allowed_z [n_allowed], weights [n_atoms, n_allowed]) replaces the
        one-hot species input by the weights and mixes the per-species energy shift and scale
        linearly by them (one-hot weights give the hard path exactly).
        ``filter_edges``: drop pairs at r >= cutoff (a Verlet list holds some). sevenn's
        polynomial cutoff is not zero beyond the cutoff, so they must go, not be masked;
        skipped for our own neighbour list, which has none (the filter syncs with the device).
        """
        import sevenn._keys as KEY

        dtype = vectors.dtype
        i, j = edges.i, edges.j
        if filter_edges:
            keep = torch.linalg.norm(vectors.detach(), dim=1) < self.cutoff
            vectors, i, j = vectors[keep], i[keep], j[keep]
        if species_weights is None:
            types = self.z_to_type[batch.numbers]  # [n_atoms]
            x = torch.nn.functional.one_hot(types, self.n_types).to(dtype)  # [n_atoms, n_types]
        else:
            allowed_z, weights = species_weights
            self._check_z(allowed_z)
            types = None
            columns = self.z_to_type[allowed_z.to(self.z_to_type.device)]  # [n_allowed]
            x = torch.zeros(batch.n_atoms, self.n_types, dtype=dtype, device=vectors.device)
            x = x.index_add(1, columns, weights.to(dtype))  # weights in the one-hot's place
        data = {
            KEY.NODE_FEATURE: x,
            KEY.NODE_ATTR: x,  # the self-connection reads the species input too
            KEY.EDGE_IDX: torch.stack([i, j]),  # sevenn: edge_vec = pos[idx[1]] - pos[idx[0]]
            KEY.EDGE_VEC: vectors,
            KEY.BATCH: batch.system_idx,
            KEY.NUM_ATOMS: batch.counts,
        }
        if types is not None:
            data[KEY.ATOM_TYPE] = types
        if self.modal_index is not None:
            data[KEY.MODAL_TYPE] = torch.full((batch.n_systems,), self.modal_index, dtype=torch.long, device=x.device)
        for module_name, module in self.model._modules.items():
            if module_name in _REPLACED:
                continue
            if module_name == "rescale_atomic_energy" and species_weights is not None:
                data[KEY.ATOMIC_ENERGY] = self._soft_rescale(module, data[KEY.SCALED_ATOMIC_ENERGY], x, batch)
                continue
            data = module(data)
        return data[KEY.ATOMIC_ENERGY].squeeze(-1)  # [n_atoms]

    def _soft_rescale(self, module: torch.nn.Module, scaled: torch.Tensor, x: torch.Tensor, batch: AtomsBatch) -> torch.Tensor:
        """sevenn's per-species ``scaled * scale[type] + shift[type]`` with shift and scale mixed by the weights x."""
        shift, scale = module.shift, module.scale  # [n_types] or [n_modalities, n_types]
        if shift.dim() == 2:
            shift = shift[self.modal_index]
        if scale.dim() == 2:
            scale = scale[self.modal_index]
        mixed_shift = (x * shift.to(x.dtype)).sum(-1, keepdim=True)  # [n_atoms, 1]
        mixed_scale = (x * scale.to(x.dtype)).sum(-1, keepdim=True)
        return scaled * mixed_scale + mixed_shift

    def compute(self, batch: AtomsBatch, forces: bool = True, stress: bool = True, training: bool = False,
                allow_isolated: bool = False, neighbors: Callable[[AtomsBatch, float], Edges] | None = None,
                species_weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """As ``Potential.compute``, plus ``species_weights`` (soft species, see ``energies``).

        Written out here rather than inherited because the base class's compute has no
        species_weights argument; the strain/autograd steps are the same.
        """
        if species_weights is None:
            self.check_numbers(batch)
        batch = batch.to(self.device, self.dtype)
        edges = (neighbors or neighbor_list)(batch, self.cutoff)
        pos = batch.positions.detach().requires_grad_(forces)
        strain = torch.zeros_like(batch.cell).requires_grad_(stress)  # [n_systems, 3, 3]
        deform = torch.eye(3, dtype=batch.dtype, device=batch.device) + strain
        pos_s = torch.einsum("ax,axy->ay", pos, deform[batch.system_idx])
        cell_s = batch.cell @ deform
        vectors = edge_vectors(pos_s, cell_s, batch.system_idx, edges)
        if species_weights is not None:
            allowed_z, weights = species_weights
            species_weights = (allowed_z.to(self.device), weights.to(self.device, self.dtype))
        with torch.set_grad_enabled(forces or stress or training or torch.is_grad_enabled()):
            atom_e = self.energies(batch, vectors, edges, species_weights, filter_edges=neighbors is not None)
            return energy_outputs(batch, atom_e, pos, strain, forces, stress, training)
