"""The one contract every model follows.

A Potential maps an AtomsBatch to per-system energies and per-atom energies.
Forces and stress come from autograd of the total energy with respect to the
positions and to a homogeneous strain applied to the whole cell:

    F_i = -dE/dr_i            stress = (1/V) dE/d(strain)   (ASE sign convention)

so every model written as an energy gets exact, consistent forces and stress.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import weakref
from collections.abc import Callable
from typing import Any

import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.neighbors import Edges, edge_vectors, neighbor_list

EV_PER_A3_TO_GPA = 160.21766208
FORMAT = "matwidgets-potential/2"  # what Potential.save writes
OLD_FORMATS = ("matwidgets-potential/1",)  # SchNet-only checkpoints from before engine v2


_MAX_Z: dict[int, tuple[weakref.ref, int, int]] = {}  # id(numbers) -> (the tensor, its _version, max Z)


def max_number(numbers: torch.Tensor) -> int:
    """The largest atomic number of ``numbers``, read from its device once per tensor.

    An MD run or a relaxation passes the same numbers tensor at every step, so checking
    it costs one host sync per run, not per step (issue 12, item 9). An in-place change
    bumps the tensor's ``_version`` and is read again; a write through ``.numpy()`` or
    ``.data`` does not, and is not seen. Inference tensors have no version: read each time.
    """
    if numbers.is_inference():
        return int(numbers.max()) if numbers.numel() else 0
    hit = _MAX_Z.get(id(numbers))
    if hit is not None and hit[0]() is numbers and hit[1] == numbers._version:
        return hit[2]
    z = int(numbers.max()) if numbers.numel() else 0
    if len(_MAX_Z) > 256:  # a few live runs at a time: forget the old ones
        _MAX_Z.clear()
    _MAX_Z[id(numbers)] = (weakref.ref(numbers), numbers._version, z)
    return z


def weights_hash(module: torch.nn.Module) -> str:
    """A short hash of every parameter and buffer (names, shapes, dtypes, values)."""
    h = hashlib.sha1()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


class Potential(torch.nn.Module):
    """Base class. Subclasses implement ``energies(batch, vectors, edges)``.

    Attributes:
        name: short id used in caches and printed tables.
        cutoff: neighbour cutoff in Å.
        has_magmoms: whether ``compute`` returns "magmoms".
        max_z: the highest atomic number the model knows.
    """

    name: str = "potential"
    family: str = "potential"  # the key load_model(path) dispatches on ("chgnet", "sevennet", "schnet", ...)
    tag: str | None = None  # a free label saved with the weights (e.g. what it was fine-tuned on)
    cutoff: float = 5.0
    has_magmoms: bool = False
    max_z: int = 118

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        b = next(self.buffers(), None)
        t = p if p is not None else b
        return t.device if t is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        p = next(self.parameters(), None)
        b = next((b for b in self.buffers() if b.is_floating_point()), None)
        t = p if p is not None else b
        return t.dtype if t is not None else torch.float64

    @property
    def model_id(self) -> str:
        """Identifies the model and its weights (a cache key): different weights never share one."""
        return f"{self.name}-{weights_hash(self)}"

    # ---- save / load ------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """JSON-able kwargs such that ``type(self).from_config(config)`` rebuilds this architecture (weights excluded)."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_config(), so it cannot be saved")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Potential:
        """A model with the architecture ``config`` describes (weights as the constructor makes them)."""
        return cls(**config)

    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint that ``load_model(path)`` reads, atomically (a crash never leaves half a file).

        The file is ``torch.save`` of {"format": "matwidgets-potential/2", "family", "config",
        "state_dict", "tag"}: plain containers and tensors only, so it loads with weights_only=True.
        """
        path = os.fspath(path)
        state = {"format": FORMAT, "family": self.family, "config": self.get_config(), "state_dict": self.state_dict(), "tag": self.tag}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Named groups of parameters, in order: "embedding", "interaction.0", ..., "readout", "atom_refs".

        Every parameter appears in exactly one group, so freeze presets can be defined by group
        name once for all families. This default puts everything in "readout"; message-passing
        families override it.
        """
        params = list(self.parameters())
        return {"readout": params} if params else {}

    def energies(self, batch: AtomsBatch, vectors: torch.Tensor, edges: Edges) -> torch.Tensor:
        """[n_atoms] atom energies in eV from [n_edges, 3] edge vectors."""
        raise NotImplementedError

    def check_numbers(self, batch: AtomsBatch) -> None:
        from matwidgets.errors import InvalidStructureError

        z = max_number(batch.numbers)
        if z > self.max_z:
            from pymatgen.core.periodic_table import Element

            raise InvalidStructureError(f"element {Element.from_Z(z).symbol} (Z={z}) is not supported by model {self.name} (Z <= {self.max_z})")

    def compute(self, batch: AtomsBatch, forces: bool = True, stress: bool = True, training: bool = False,
                allow_isolated: bool = False, neighbors: Callable[[AtomsBatch, float], Edges] | None = None) -> dict[str, torch.Tensor]:
        """Energies, forces and stress of every system of ``batch``.

        ``allow_isolated``: evaluate atoms with no neighbour within the cutoff instead of
        refusing them (SHAP's remove masker makes such cells). A per-call argument, never
        model state, so concurrent jobs sharing one model cannot affect each other. Pair
        and message-passing models never refuse them; CHGNet does unless allowed, as its
        own package does.

        ``neighbors``: a callable ``(batch, cutoff) -> Edges`` (a Verlet list during MD and
        relaxation). It may return extra pairs beyond the cutoff; every model ignores them.

        Returns a dict of tensors (detached unless ``training``, which keeps the
        graph so a loss on forces can be back-propagated to the parameters):
            energy [n_systems] eV, atom_energies [n_atoms] eV,
            forces [n_atoms, 3] eV/Å, stress [n_systems, 3, 3] GPa.
        """
        self.check_numbers(batch)
        batch = batch.to(self.device, self.dtype)
        edges = (neighbors or neighbor_list)(batch, self.cutoff)
        pos = batch.positions.detach().requires_grad_(forces)
        strain = torch.zeros_like(batch.cell).requires_grad_(stress)  # [n_systems, 3, 3]
        deform = torch.eye(3, dtype=batch.dtype, device=batch.device) + strain
        pos_s = torch.einsum("ax,axy->ay", pos, deform[batch.system_idx])
        cell_s = batch.cell @ deform
        vectors = edge_vectors(pos_s, cell_s, batch.system_idx, edges)
        atom_e = self.energies(batch, vectors, edges)
        return energy_outputs(batch, atom_e, pos, strain, forces, stress, training)


def energy_outputs(batch: AtomsBatch, atom_e: torch.Tensor, pos: torch.Tensor, strain: torch.Tensor, forces: bool, stress: bool,
                   training: bool) -> dict[str, torch.Tensor]:
    """energy, atom_energies, forces = -dE/dpos and stress = (1/V) dE/dstrain (GPa) from atom energies
    computed on ``pos`` and a cell deformed by ``strain``; detached unless ``training``."""
    energy = torch.zeros(batch.n_systems, dtype=atom_e.dtype, device=atom_e.device).index_add(0, batch.system_idx, atom_e)
    keep = (lambda t: t) if training else (lambda t: t.detach())
    out = {"energy": keep(energy), "atom_energies": keep(atom_e)}
    wrt = [t for t, want in ((pos, forces), (strain, stress)) if want]
    if wrt:
        grads = torch.autograd.grad(energy.sum(), wrt, allow_unused=True, create_graph=training)
        grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, wrt)]
        if forces:
            out["forces"] = keep(-grads[0])
        if stress:
            volume = torch.linalg.det(batch.cell).abs()[:, None, None]
            out["stress"] = keep(grads[-1] / volume * EV_PER_A3_TO_GPA)
    return out


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The dict saved by ``Potential.save``, validated; ValueError naming the path otherwise.

    Old SchNet checkpoints ("matwidgets-potential/1") come back with family "schnet". A
    missing, truncated or corrupt file, a foreign torch checkpoint (a bare state_dict, a
    chgnet or sevenn checkpoint) or anything that is not a matwidgets checkpoint raises
    ValueError, never torch's UnpicklingError / RuntimeError / KeyError.
    """
    path = os.fspath(path)
    expected = f"expected a matwidgets checkpoint written by Potential.save (format {FORMAT!r})"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        # torch.load raises whatever its unpickler trips on: UnpicklingError for foreign
        # checkpoints holding classes (weights_only refuses them), RuntimeError/EOFError for
        # truncated zips, and KeyError/IndexError/struct.error for corrupt bytes
        if type(err).__name__ == "UnpicklingError":  # torch's hint (weights_only=False) is not for us
            why = "it holds pickled Python objects, as other packages' checkpoints do, or corrupt bytes"
        else:
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            why = f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__
        raise ValueError(f"{path} cannot be read as a checkpoint ({why}); {expected}") from None
    if not isinstance(state, dict) or "format" not in state:
        if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
            what = "a bare state_dict"
        elif isinstance(state, dict):
            what = f"a dict with keys {sorted(map(str, state))[:6]}, perhaps another package's checkpoint"
        else:
            what = type(state).__name__
        raise ValueError(f"{path} is not a matwidgets checkpoint (it holds {what}); {expected}")
    fmt = state.get("format")
    if fmt in OLD_FORMATS:
        state = {"format": fmt, "family": "schnet", "config": state.get("config"), "state_dict": state.get("state_dict"), "tag": state.get("tag")}
    elif fmt != FORMAT:
        raise ValueError(f"{path} is not a matwidgets checkpoint: format {fmt!r}; {expected}")
    missing = [k for k in ("family", "config", "state_dict") if not isinstance(state.get(k), (str, dict))]
    if missing or not isinstance(state["family"], str) or not isinstance(state["config"], dict) or not isinstance(state["state_dict"], dict):
        raise ValueError(f"{path} is not a matwidgets checkpoint: family, config or state_dict missing or malformed; {expected}")
    return state
