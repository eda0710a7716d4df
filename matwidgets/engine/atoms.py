"""AtomsBatch: the one representation of structures that flows through the engine.

Many structures are stored concatenated (torch-sim / PyG style): per-atom arrays
have one row per atom of every system, and ``system_idx`` says which system an
atom belongs to. Converters go to and from pymatgen ``Structure``, ASE ``Atoms``
and the files those read (CIF, POSCAR, extxyz, ...).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from matwidgets.errors import InvalidStructureError

MIN_DISTANCE = 0.5  # Å; closer pairs are almost certainly a mistake (overlapping atoms)
N_ELEMENTS = 118
VACUUM = 10.0  # Å of box padding given to non-periodic systems that come without a cell


@dataclass
class AtomsBatch:
    """A batch of structures on one device.

    Attributes:
        positions: [n_atoms, 3] Cartesian positions in Å.
        cell: [n_systems, 3, 3] lattice vectors as rows, in Å.
        numbers: [n_atoms] atomic numbers (int64).
        pbc: [n_systems, 3] periodicity along each lattice vector (bool).
        system_idx: [n_atoms] index of the system each atom belongs to (int64, sorted).
    """

    positions: torch.Tensor
    cell: torch.Tensor
    numbers: torch.Tensor
    pbc: torch.Tensor
    system_idx: torch.Tensor

    @property
    def n_systems(self) -> int:
        return self.cell.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[0]

    @property
    def device(self) -> torch.device:
        return self.positions.device

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def counts(self) -> torch.Tensor:
        """[n_systems] number of atoms in each system."""
        return torch.bincount(self.system_idx, minlength=self.n_systems)

    @property
    def volumes(self) -> torch.Tensor:
        """[n_systems] cell volumes in Å^3."""
        return torch.linalg.det(self.cell).abs()

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> AtomsBatch:
        """Copy to another device and/or float dtype (integer arrays keep theirs)."""
        return AtomsBatch(
            positions=self.positions.to(device=device, dtype=dtype),
            cell=self.cell.to(device=device, dtype=dtype),
            numbers=self.numbers.to(device=device),
            pbc=self.pbc.to(device=device),
            system_idx=self.system_idx.to(device=device),
        )

    def with_positions(self, positions: torch.Tensor, cell: torch.Tensor | None = None) -> AtomsBatch:
        """The same atoms at new positions (and optionally a new cell)."""
        return replace(self, positions=positions, cell=self.cell if cell is None else cell)

    def split(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Split a per-atom tensor [n_atoms, ...] into one tensor per system."""
        return list(torch.split(values, self.counts.tolist()))

    def select(self, systems: Sequence[int]) -> AtomsBatch:
        """A new batch with only the given systems, renumbered from 0."""
        systems = torch.as_tensor(list(systems), dtype=torch.long, device=self.device)
        lookup = torch.full((self.n_systems,), -1, dtype=torch.long, device=self.device)
        lookup[systems] = torch.arange(len(systems), device=self.device)
        order = torch.argsort(lookup[self.system_idx], stable=True)
        keep = order[lookup[self.system_idx][order] >= 0]
        return AtomsBatch(
            positions=self.positions[keep],
            cell=self.cell[systems],
            numbers=self.numbers[keep],
            pbc=self.pbc[systems],
            system_idx=lookup[self.system_idx[keep]],
        )

    @classmethod
    def concatenate(cls, batches: Sequence[AtomsBatch]) -> AtomsBatch:
        offsets = np.cumsum([0] + [b.n_systems for b in batches[:-1]])
        return cls(
            positions=torch.cat([b.positions for b in batches]),
            cell=torch.cat([b.cell for b in batches]),
            numbers=torch.cat([b.numbers for b in batches]),
            pbc=torch.cat([b.pbc for b in batches]),
            system_idx=torch.cat([b.system_idx + int(o) for b, o in zip(batches, offsets)]),
        )

    # ---- converters -------------------------------------------------------------

    @classmethod
    def from_structures(
        cls,
        structures: Any,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float64,
        validate: bool = True,
    ) -> AtomsBatch:
        """Build a batch from pymatgen Structures/Molecules, ASE Atoms, file paths or batches.

        A single object is accepted as well as a list. Raises InvalidStructureError
        naming the problem (and the structure's position in the list) on bad input.
        """
        if isinstance(structures, AtomsBatch):
            return structures.to(device=device, dtype=dtype)
        if not isinstance(structures, (list, tuple)):
            structures = [structures]
        if len(structures) == 0:
            raise InvalidStructureError("no structures given (empty list)")
        parts = []
        for k, item in enumerate(structures):
            if isinstance(item, AtomsBatch):
                parts.append(item.to(device="cpu", dtype=torch.float64))
                continue
            try:
                numbers, positions, cell, pbc = _arrays_from(item)
                if validate:
                    check_arrays(numbers, positions, cell, pbc)
            except InvalidStructureError as err:
                prefix = f"structure {k}: " if len(structures) > 1 else ""
                raise InvalidStructureError(prefix + str(err)) from None
            n = len(numbers)
            parts.append(
                cls(
                    positions=torch.from_numpy(np.array(positions)),
                    cell=torch.from_numpy(np.array(cell))[None],
                    numbers=torch.from_numpy(numbers.astype(np.int64)),
                    pbc=torch.from_numpy(np.array(pbc))[None],
                    system_idx=torch.zeros(n, dtype=torch.long),
                )
            )
        return cls.concatenate(parts).to(device=device, dtype=dtype)

    def to_structures(self) -> list:
        """One pymatgen Structure per system (a Lattice carrying this batch's pbc)."""
        from pymatgen.core import Lattice, Structure

        out = []
        for pos, num, cell, pbc in self._numpy_systems():
            lattice = Lattice(cell, pbc=tuple(bool(p) for p in pbc))
            out.append(Structure(lattice, num.tolist(), pos, coords_are_cartesian=True))
        return out

    def to_ase(self) -> list:
        """One ASE Atoms per system."""
        from ase import Atoms

        return [Atoms(numbers=num, positions=pos, cell=cell, pbc=pbc) for pos, num, cell, pbc in self._numpy_systems()]

    def _numpy_systems(self) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        pos = self.split(self.positions.detach().cpu().double())
        num = self.split(self.numbers.cpu())
        cells = self.cell.detach().cpu().double().numpy()
        pbcs = self.pbc.cpu().numpy()
        for k in range(self.n_systems):
            yield pos[k].numpy(), num[k].numpy(), cells[k], pbcs[k]


# ---- reading and validation ---------------------------------------------------------


def read_structure(path: str | os.PathLike, index: int | str | None = None) -> Any:
    """Read a structure file (CIF, POSCAR/CONTCAR, extxyz, anything ASE reads).

    Returns a pymatgen Structure for CIF/POSCAR and ASE Atoms otherwise (a list when
    ``index`` selects several frames). Raises InvalidStructureError when the file is
    missing or cannot be parsed.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InvalidStructureError(f"file not found: {path}")
    name = os.path.basename(path).lower()
    try:
        if name.endswith(".cif") or "poscar" in name or "contcar" in name or name.endswith(".vasp"):
            from pymatgen.core import Structure

            return Structure.from_file(path)
        import ase.io

        return ase.io.read(path, index=index)
    except InvalidStructureError:
        raise
    except Exception as err:  # parsers raise anything from KeyError to StopIteration
        raise InvalidStructureError(f"cannot parse {path}: {type(err).__name__}: {err}") from None


def _arrays_from(item: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numbers [n], positions [n,3], cell [3,3], pbc [3]) from any supported object."""
    if isinstance(item, (str, os.PathLike)):
        item = read_structure(item)
        if isinstance(item, list):
            raise InvalidStructureError("file holds several frames; read it with read_structure(path, index=...)")
    from ase import Atoms

    # ASE first: pymatgen's AseAtomsAdaptor returns MSONAtoms, an ase.Atoms subclass from a pymatgen module
    if isinstance(item, Atoms):
        numbers = np.asarray(item.numbers, dtype=np.int64)
        positions = np.asarray(item.positions, dtype=np.float64)
        cell = np.asarray(item.cell.array, dtype=np.float64)
        pbc = np.asarray(item.pbc, dtype=bool)
        return numbers, positions, *_box_if_needed(positions, cell, pbc)
    if type(item).__module__.startswith("pymatgen"):
        return _arrays_from_pymatgen(item)
    raise InvalidStructureError(
        f"cannot make a structure from {type(item).__name__}; "
        "pass a pymatgen Structure, ASE Atoms or a file path"
    )


def _arrays_from_pymatgen(item: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    numbers = []
    seen: dict[int, int] = {}  # id(site.species) -> Z: supercells share one species object per element
    for site in item:
        z = seen.get(id(site.species))  # the structure keeps each object alive: ids are not reused here
        if z is None:
            if not site.is_ordered:
                raise InvalidStructureError(f"site {site.species} is disordered; order it first (e.g. OrderDisorderedStructureTransformation)")
            z = getattr(site.specie, "Z", 0)
            if not 1 <= z <= N_ELEMENTS:
                raise InvalidStructureError(f"unknown element {site.specie!s} at site {len(numbers)}")
            seen[id(site.species)] = z
        numbers.append(z)
    numbers = np.asarray(numbers, dtype=np.int64)
    positions = np.asarray(item.cart_coords, dtype=np.float64).reshape(-1, 3)
    if hasattr(item, "lattice"):
        cell = np.asarray(item.lattice.matrix, dtype=np.float64)
        pbc = np.asarray(item.lattice.pbc, dtype=bool)
        return numbers, positions, cell, pbc
    return numbers, positions, *_box_if_needed(positions, np.zeros((3, 3)), np.zeros(3, dtype=bool))


def _box_if_needed(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A molecule without a cell gets an orthorhombic box with VACUUM of padding.

    Models built on lattices (CHGNet) need one; for non-periodic directions it only
    sets where the atoms sit, never what they interact with.
    """
    if pbc.any() or abs(np.linalg.det(cell)) > 1e-8 or len(positions) == 0:
        return cell, pbc
    if not np.isfinite(positions).all():
        return cell, pbc  # check_arrays reports it
    span = positions.max(axis=0) - positions.min(axis=0)
    return np.diag(span + 2 * VACUUM), pbc


def check_arrays(numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> None:
    """Raise InvalidStructureError if a structure cannot be simulated."""
    if len(numbers) == 0:
        raise InvalidStructureError("empty structure: it has no atoms")
    bad = (numbers < 1) | (numbers > N_ELEMENTS)
    if bad.any():
        raise InvalidStructureError(f"unknown element with atomic number {int(numbers[bad][0])} at site {int(np.argmax(bad))}")
    if not np.isfinite(positions).all():
        site = int(np.argmax(~np.isfinite(positions).all(axis=1)))
        raise InvalidStructureError(f"coordinates of site {site} are NaN or infinite")
    if not np.isfinite(cell).all():
        raise InvalidStructureError("the cell contains NaN or infinite values")
    lengths = np.linalg.norm(cell, axis=1)
    volume = abs(np.linalg.det(cell))
    if volume < 1e-6 * max(float(np.prod(lengths)), 1e-12) or volume < 1e-3:
        raise InvalidStructureError(f"singular cell (volume {volume:.3g} Å^3): lattice vectors are (nearly) linearly dependent")
    i, j, d = _close_pairs(positions, cell, pbc, MIN_DISTANCE)
    if len(d):
        k = int(np.argmin(d))
        raise InvalidStructureError(
            f"atoms {int(i[k])} and {int(j[k])} overlap: {d[k]:.3f} Å apart (minimum {MIN_DISTANCE} Å)"
        )


def _close_pairs(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float):
    """Pairs closer than cutoff (including an atom and its own periodic image)."""
    from vesin import NeighborList

    nl = NeighborList(cutoff=cutoff, full_list=False)
    return nl.compute(points=positions, box=cell, periodic=pbc, quantities="ijd")
