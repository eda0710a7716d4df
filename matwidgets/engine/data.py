"""Labelled structures for training: ``Dataset`` on torch_geometric.

Units (checked on construction): energy in eV per structure, forces in eV/Å,
stress in GPa (ASE sign), and any other property one scalar per structure
(e.g. ``formation_enthalpy`` in eV/atom).

A torch Dataset whose items are ``torch_geometric.data.Data`` with pos [n, 3] Å, z [n], cell
[1, 3, 3] Å, pbc [1, 3], natoms [1] and the labels present (energy [1],
forces [n, 3], stress [1, 3, 3], one [1] tensor per property); torch_geometric's
``DataLoader`` collates them, and ``to_batch`` turns a collated batch back into
the engine's ``AtomsBatch``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch, _arrays_from, check_arrays
from matwidgets.errors import InvalidStructureError

MAX_ABS_ENERGY_PER_ATOM = 150.0  # eV/atom; VASP totals reach ~-90 (r2SCAN f-elements); meV and kJ/mol land far above
MAX_ABS_FORCE = 50.0  # eV/Å
MAX_ABS_STRESS = 1000.0  # GPa; kBar and Pa land far above
ANIONS = ("O", "F", "Cl", "Br", "I", "S", "Se", "Te", "N", "P", "H", "C")  # most electronegative first is decided by X


def _structure(item: Any):
    """A pymatgen Structure (or Molecule) for ``item``."""
    from pymatgen.core import Molecule, Structure

    if isinstance(item, (Structure, Molecule)):
        return item
    from pymatgen.io.ase import AseAtomsAdaptor

    from matwidgets.engine.atoms import read_structure

    if isinstance(item, (str, os.PathLike)):
        return read_structure(item)
    return AseAtomsAdaptor.get_structure(item) if all(item.pbc) else AseAtomsAdaptor.get_molecule(item)


def anion_family(structure) -> str:
    """A chemical family by anion: "oxide", "fluoride", ..., or "intermetallic" (only metals).

    The anion is the most electronegative non-metal present (Pauling X); compounds of
    metals only, and elements, are "intermetallic".
    """
    names = {"O": "oxide", "F": "fluoride", "Cl": "chloride", "Br": "bromide", "I": "iodide", "S": "sulfide",
             "Se": "selenide", "Te": "telluride", "N": "nitride", "P": "phosphide", "H": "hydride", "C": "carbide",
             "B": "boride", "Si": "silicide", "As": "arsenide", "Sb": "antimonide"}
    els = structure.composition.elements
    if len(els) == 1:
        return "intermetallic"
    nonmetals = [e for e in els if e.symbol in names]
    if not nonmetals:
        return "intermetallic"
    anion = max(nonmetals, key=lambda e: (e.X if e.X == e.X else 0.0))
    return names[anion.symbol]


class Dataset(torch.utils.data.Dataset):
    """Structures with labels, validated.

    Args:
        structures: pymatgen Structures, ASE Atoms or file paths (one per item).
        energy: [n] total energies in eV per structure.
        forces: n arrays [n_atoms_k, 3] in eV/Å.
        stress: [n, 3, 3] (or [n, 6] Voigt xx yy zz yz xz xy) in GPa.
        check_units: set False to skip the order-of-magnitude checks (the NaN/shape checks stay).
        **properties: name=[n] scalars, one per structure.

    Raises ValueError naming the label and the item on: an empty dataset, mismatched
    lengths, NaN/inf labels, wrong shapes, and values off by orders of magnitude.
    """

    def __init__(self, structures: Sequence[Any], energy=None, forces=None, stress=None, check_units: bool = True,
                 **properties):
        if isinstance(structures, (str, os.PathLike)) or not hasattr(structures, "__len__"):
            raise TypeError("Dataset takes a list of structures (use Dataset.from_file for a file)")
        if len(structures) == 0:
            raise ValueError("empty dataset: no structures given")
        self.structures = [_structure(s) for s in structures]
        n = len(self.structures)
        self.natoms = np.array([len(s) for s in self.structures])
        self.labels: dict[str, Any] = {}
        arrays = []
        for k, s in enumerate(self.structures):
            try:
                z, pos, cell, pbc = _arrays_from(s)
                check_arrays(z, pos, cell, pbc)
            except InvalidStructureError as err:
                raise InvalidStructureError(f"structure {k}: {err}") from None
            arrays.append((np.array(z), np.array(pos, float), np.array(cell, float), np.array(pbc, bool)))
        self._arrays = arrays
        if energy is not None:
            self.labels["energy"] = self._scalar("energy", energy, n)
        if forces is not None:
            if len(forces) != n:
                raise ValueError(f"forces: {len(forces)} entries for {n} structures (lengths must match)")
            fs = []
            for k, f in enumerate(forces):
                f = np.asarray(f, float)
                if f.shape != (self.natoms[k], 3):
                    raise ValueError(f"forces of structure {k}: shape {f.shape}, expected ({self.natoms[k]}, 3) (eV/Å)")
                if not np.isfinite(f).all():
                    raise ValueError(f"forces of structure {k}: NaN or inf")
                fs.append(f.copy())
            self.labels["forces"] = fs
        if stress is not None:
            s = np.asarray(stress, float)
            if s.ndim == 2 and s.shape == (n, 6):
                xx, yy, zz, yz, xz, xy = s.T
                s = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1), np.stack([xz, yz, zz], -1)], 1)
            if s.shape != (n, 3, 3):
                raise ValueError(f"stress: shape {s.shape}, expected ({n}, 3, 3) or ({n}, 6) in GPa")
            bad = np.where(~np.isfinite(s).reshape(n, -1).all(1))[0]
            if len(bad):
                raise ValueError(f"stress: NaN or inf in structure {int(bad[0])}")
            self.labels["stress"] = s
        for name, values in properties.items():
            self.labels[name] = self._scalar(name, values, n)
        if check_units:
            self._check_units()

    # ---- validation ----------------------------------------------------------------------
    @staticmethod
    def _scalar(name: str, values, n: int) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        if v.ndim != 1:
            raise ValueError(f"{name}: expected one scalar per structure, got shape {v.shape}")
        if len(v) != n:
            raise ValueError(f"{name}: {len(v)} values for {n} structures (lengths must match)")
        bad = np.where(~np.isfinite(v))[0]
        if len(bad):
            raise ValueError(f"{name}: NaN or inf at item {int(bad[0])} ({len(bad)} in all)")
        return v

    def _check_units(self) -> None:
        hint = " (pass check_units=False if this is intended)"
        if "energy" in self.labels:
            e = self.labels["energy"]
            per_atom = e / self.natoms
            worst = int(np.argmax(np.abs(per_atom)))
            if abs(per_atom[worst]) > MAX_ABS_ENERGY_PER_ATOM:
                raise ValueError(f"energy: {per_atom[worst]:.3g} eV/atom for structure {worst}: expected eV per structure; "
                                 f"is it in meV, kJ/mol or Rydberg?{hint}")
            # per-atom labels given as totals: E stays flat while the sizes vary, so E/N scatters
            # far more than E (true totals: the other way round)
            if len(e) >= 4 and self.natoms.max() >= 2 * self.natoms.min() and np.abs(e).mean() > 0:
                cv_tot = np.std(e) / abs(np.mean(e))
                cv_per = np.std(per_atom) / max(abs(np.mean(per_atom)), 1e-12)
                if cv_per > 0.2 and cv_per > 3 * cv_tot:
                    raise ValueError("energy: the values do not grow with the number of atoms; they look like eV/atom, "
                                     f"but eV per structure is expected: multiply by the atom counts{hint}")
        if "forces" in self.labels:
            for k, f in enumerate(self.labels["forces"]):
                if np.abs(f).max() > MAX_ABS_FORCE:
                    raise ValueError(f"forces of structure {k}: |F| up to {np.abs(f).max():.3g}; expected eV/Å, "
                                     f"are they in meV/Å, kcal/mol/Å or Hartree/Bohr?{hint}")
        if "stress" in self.labels:
            s = self.labels["stress"]
            if np.abs(s).max() > MAX_ABS_STRESS:
                raise ValueError(f"stress up to {np.abs(s).max():.3g}; expected GPa, is it in kBar, bar or Pa?{hint}")

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike, index: str | slice = ":", check_units: bool = True, **kw) -> Dataset:
        """Read an extxyz file or an ASE database (.db/.json): energy, forces, stress from the
        attached calculator results (ASE stores stress in eV/Å^3, converted to GPa) and every
        scalar in ``atoms.info`` (or the row's key-value pairs) as a property present in all items."""
        from ase.io import read

        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        images = read(path, index=index)
        images = images if isinstance(images, list) else [images]
        if not images:
            raise ValueError(f"{path}: no structures")
        energy, forces, stress = [], [], []
        props: dict[str, list] = {}
        for atoms in images:
            calc = atoms.calc
            res = getattr(calc, "results", {}) if calc is not None else {}
            energy.append(res.get("energy", np.nan) if res.get("energy") is not None else np.nan)
            forces.append(res.get("forces"))
            st = res.get("stress")
            if st is not None:
                from ase.stress import voigt_6_to_full_3x3_stress

                st = np.asarray(st, float)
                st = voigt_6_to_full_3x3_stress(st) if st.shape == (6,) else st
                stress.append(st * 160.21766208)
            else:
                stress.append(None)
            for key, v in atoms.info.items():
                if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
                    props.setdefault(key, []).append(float(v))
        n = len(images)
        props = {k: v for k, v in props.items() if len(v) == n and k not in ("energy", "free_energy")}
        kw = {**props, **kw}
        return cls(images,
                   energy=None if all(np.isnan(energy)) else energy,
                   forces=None if any(f is None for f in forces) else forces,
                   stress=None if any(s is None for s in stress) else stress,
                   check_units=check_units, **kw)

    def subset(self, indices: Sequence[int]) -> Dataset:
        """A new Dataset with the given items (labels carried along, already validated)."""
        idx = [int(i) for i in indices]
        if not idx:
            raise ValueError("empty subset")
        new = Dataset.__new__(Dataset)
        new.structures = [self.structures[i] for i in idx]
        new.natoms = self.natoms[idx]
        new._arrays = [self._arrays[i] for i in idx]
        new.labels = {k: ([v[i] for i in idx] if isinstance(v, list) else v[idx]) for k, v in self.labels.items()}
        return new

    def split(self, fractions: float | Sequence[float] = 0.1, seed: int | None = 0) -> list[Dataset]:
        """Random split: ``split(0.1)`` -> [90 %, 10 %]; ``split([0.8, 0.1, 0.1])`` -> three parts.

        Every part gets at least one item (ValueError when there are too few)."""
        fr = [1.0 - float(fractions), float(fractions)] if np.isscalar(fractions) else [float(f) for f in fractions]
        if any(f <= 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must be positive and sum to 1 (or one fraction in (0, 1)): {fractions}")
        n = len(self)
        if n < len(fr):
            raise ValueError(f"cannot split {n} items into {len(fr)} non-empty parts")
        order = np.random.default_rng(seed).permutation(n)
        sizes = np.maximum(1, np.round(np.array(fr) * n).astype(int))
        sizes[np.argmax(sizes)] += n - sizes.sum()
        cuts = np.cumsum(sizes)[:-1]
        return [self.subset(part) for part in np.split(order, cuts)]

    def groupby(self, key: str | Callable[[Any], Any] = "anion") -> dict[Any, Dataset]:
        """Sub-datasets by a key: "anion" (``anion_family``), "chemsys", "formula", or a
        function of the pymatgen structure."""
        fn = {"anion": anion_family, "chemsys": lambda s: s.composition.chemical_system,
              "formula": lambda s: s.composition.reduced_formula}.get(key, key) if isinstance(key, str) else key
        if not callable(fn):
            raise ValueError(f"groupby key {key!r}: use 'anion', 'chemsys', 'formula' or a function")
        groups: dict[Any, list[int]] = {}
        for i, s in enumerate(self.structures):
            groups.setdefault(fn(s), []).append(i)
        return {k: self.subset(v) for k, v in groups.items()}

    # ---- torch_geometric items -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.structures)

    def __getitem__(self, idx: int):
        """Item ``idx`` as a torch_geometric ``Data`` (see the module docstring for its fields)."""
        if not -len(self) <= idx < len(self):
            raise IndexError(f"item {idx} of a Dataset of {len(self)}")
        return self._data(idx % len(self))

    def to_pyg(self) -> list:
        """Every item as a torch_geometric ``Data``: a plain list, for torch_geometric's own tools."""
        return [self._data(i) for i in range(len(self))]

    def _data(self, idx: int):
        from torch_geometric.data import Data  # imported on first use: it adds seconds to `import matwidgets`

        z, pos, cell, pbc = self._arrays[idx]
        d = Data(pos=torch.from_numpy(pos), z=torch.from_numpy(z).long(), cell=torch.from_numpy(cell)[None],
                 pbc=torch.from_numpy(pbc)[None], natoms=torch.tensor([len(z)]), idx=torch.tensor([idx]))
        for k, v in self.labels.items():
            if k == "forces":
                d.forces = torch.from_numpy(v[idx])
            elif k == "stress":
                d.stress = torch.from_numpy(v[idx])[None]
            else:
                d[k] = torch.tensor([v[idx]], dtype=torch.float64)
        return d

    def loader(self, batch_size: int = 16, shuffle: bool = False, seed: int | None = None):
        """A torch_geometric DataLoader over this dataset (collated ``Batch`` objects)."""
        from torch_geometric.loader import DataLoader

        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return DataLoader(self, batch_size=batch_size, shuffle=shuffle, generator=gen)

    # ---- summary -------------------------------------------------------------------------
    @property
    def properties(self) -> list[str]:
        """Names of the scalar labels besides energy."""
        return [k for k in self.labels if k not in ("energy", "forces", "stress")]

    def elements(self) -> list[str]:
        return sorted({el.symbol for s in self.structures for el in s.composition.elements})

    def summary(self) -> dict:
        """Counts: items, atoms, elements, labels present and families by anion."""
        return {"n_structures": len(self), "n_atoms": int(self.natoms.sum()), "elements": self.elements(),
                "labels": list(self.labels), "families": dict(Counter(anion_family(s) for s in self.structures))}

    def __repr__(self) -> str:
        return f"Dataset({len(self)} structures, labels={list(self.labels)})"


def to_batch(data, dtype: torch.dtype = torch.float64, device=None) -> AtomsBatch:
    """The engine's AtomsBatch of a torch_geometric ``Batch`` (or one ``Data``) from a Dataset."""
    system_idx = data.batch if getattr(data, "batch", None) is not None else torch.zeros(len(data.z), dtype=torch.long)
    return AtomsBatch(positions=data.pos, cell=data.cell, numbers=data.z, pbc=data.pbc.bool(),
                      system_idx=system_idx.long()).to(device=device, dtype=dtype)


# ---- bundled and derived datasets -------------------------------------------------------------

def _data_path(name: str) -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "matwidgets", "data", name)


def experimental_compounds(formulas: Sequence[str] | None = None) -> list[dict]:
    """pymatgen's experimental formation enthalpies (``exp_compounds.json.gz``, 2,135 compounds):
    dicts with formula, ``exp energy`` in eV per formula unit, uncertainty (eV/f.u.) and mpid."""
    import gzip
    import json

    import pymatgen.analysis.compatibility as compat
    from pymatgen.core import Composition

    path = os.path.join(os.path.dirname(compat.__file__), "exp_compounds.json.gz")
    with gzip.open(path, "rt") as fh:
        rows = json.load(fh)
    if formulas is not None:
        want = {Composition(f).reduced_formula for f in formulas}
        rows = [r for r in rows if Composition(r["formula"]).reduced_formula in want]
        missing = want - {Composition(r["formula"]).reduced_formula for r in rows}
        if missing:
            raise ValueError(f"no experimental formation enthalpy for {sorted(missing)} in pymatgen's exp_compounds.json.gz")
    return rows


def experimental_formation_enthalpies(model=None, formulas: Sequence[str] | None = None, max_atoms: int | None = None,
                                      store=None, progress: bool = False) -> Dataset:
    """Experimental formation enthalpies (eV/atom) paired with the lowest-energy structure that
    the hull machinery finds for each composition with ``model``.

    For each compound, pymatgen's AFLOW prototypes of exactly that reduced composition (at most
    ``max_atoms`` sites; None: the bundle's limit when read from it, else 20) are relaxed with
    ``model`` through ``iter_hull`` (so relaxations are cached in the ResultStore and shared
    with hulls) and the lowest energy per atom is kept. Every polymorph is relaxed fully: the
    energy after a short relaxation ranks them too poorly to screen (measured, AgF with 62
    prototypes: the lowest relaxed one was 56th after 15 FIRE steps, 0.22 eV/atom above the
    lowest there). Compounds with no matching prototype, or whose relaxations all fail, are
    left out and listed in ``dataset.skipped``. ``dataset.provenance[i]``: formula, mpid (of
    the experimental row), prototype label, model_id, max_atoms, relaxed energy per atom.
    Labels: formation_enthalpy and uncertainty (eV/atom; -1 where the file gives none).
    Computed on demand: ask for ``formulas`` to keep it short (the full set means relaxing
    thousands of prototypes). The compounds of the benchmark and tutorial ship in
    matwidgets/data/exp_enthalpy_structures.json.gz (written by ``write_enthalpy_bundle``):
    when they were relaxed with this very model (same model_id), cover ``formulas`` and were
    searched with the same ``max_atoms`` (or ``max_atoms`` is None), they are read from there,
    and ``dataset.references`` holds the model's relaxed elemental references (eV/atom);
    otherwise ``references`` is None. ``progress=True``: a bar of relaxed candidates.
    """
    from pymatgen.core import Composition

    from matwidgets.engine.candidates import prototype_candidates
    from matwidgets.engine.hull import iter_hull
    from matwidgets.engine.hull_stages import merge_progress
    from matwidgets.engine.models import load_model
    from matwidgets.engine.progress import progress_bar

    model = load_model() if model is None else load_model(model) if isinstance(model, str) else model
    rows = experimental_compounds(formulas)
    bundled = _bundled_enthalpies(model, rows, max_atoms) if formulas is not None else None
    if bundled is not None:
        return bundled
    max_atoms = DEFAULT_MAX_ATOMS if max_atoms is None else max_atoms
    structures, enthalpy, uncertainty, provenance, skipped = [], [], [], [], []
    todo, by_formula = [], {}  # rows with candidates; {reduced formula: its candidates}
    for row in rows:
        comp = Composition(row["formula"])
        elements = [el.symbol for el in comp.elements]
        if len(elements) < 2:
            skipped.append((row["formula"], "an element"))
            continue
        formula = comp.reduced_formula
        if formula not in by_formula:
            by_formula[formula] = [c for c in prototype_candidates(elements, max_atoms)
                                   if c.structure.composition.reduced_composition.almost_equals(comp.reduced_composition)]
        if not by_formula[formula]:
            skipped.append((row["formula"], f"no prototype of this composition with <= {max_atoms} sites"))
            continue
        todo.append(row)
    # every polymorph fully relaxed (there is no hull to screen against, only the lowest is
    # wanted), all compositions in one run: iter_hull batches ~256 atoms per relaxation, where
    # one composition's few small cells alone leave each optimiser step mostly overhead
    cands = [c for f in dict.fromkeys(Composition(r["formula"]).reduced_formula for r in todo) for c in by_formula[f]]
    lowest: dict = {}
    if cands:
        with progress_bar(progress, len(cands), "polymorphs", unit="cand") as bar:
            found: dict = {}
            for step in iter_hull(sorted({el.symbol for c in cands for el in c.structure.composition.elements}), model,
                                  candidates=cands, store=store, window=None):
                merge_progress(found, [], step)
                bar.update(step.done - bar.n)
        for e in found.values():
            f = e.composition.reduced_formula
            if f not in lowest or e.energy_per_atom < lowest[f].energy_per_atom:
                lowest[f] = e
    for row in todo:
        comp = Composition(row["formula"])
        best = lowest.get(comp.reduced_formula)
        if best is None:
            skipped.append((row["formula"], "every relaxation failed"))
            continue
        n_fu = comp.num_atoms
        structures.append(best.structure)
        enthalpy.append(row["exp energy"] / n_fu)
        unc = row.get("uncertainty")
        uncertainty.append(unc / n_fu if isinstance(unc, (int, float)) and np.isfinite(unc) else -1.0)  # -1: not given
        provenance.append({"formula": row["formula"], "mpid": row.get("mpid"), "prototype": best.data.get("label"),
                           "source": best.data.get("source"), "model_id": model.model_id, "max_atoms": max_atoms,
                           "energy_per_atom": best.energy_per_atom, "n_candidates": len(by_formula[comp.reduced_formula]),
                           "reference": "pymatgen/analysis/compatibility/exp_compounds.json.gz"})
    if not structures:
        raise ValueError(f"no structure found for any of {len(rows)} compounds: {skipped[:5]}")
    ds = Dataset(structures, formation_enthalpy=enthalpy, uncertainty=uncertainty)
    ds.provenance, ds.skipped, ds.references = provenance, skipped, None
    return ds


BUNDLE_FILE = "exp_enthalpy_structures.json.gz"
DEFAULT_MAX_ATOMS = 20  # prototype sites searched when nothing is bundled


def _compact(structure) -> dict:
    """A structure as lattice [3, 3] (Å), species and fractional coordinates, rounded to 1e-6:
    a third of ``Structure.as_dict()``'s size (which repeats abc, xyz, labels and properties)."""
    return {"lattice": np.round(structure.lattice.matrix, 6).tolist(), "species": [str(sp) for sp in structure.species],
            "frac": np.round(structure.frac_coords, 6).tolist()}


def _from_compact(d: dict):
    from pymatgen.core import Structure

    if "@class" in d:  # a bundle written with Structure.as_dict()
        return Structure.from_dict(d)
    return Structure(d["lattice"], d["species"], d["frac"])


def write_enthalpy_bundle(ds: Dataset, references: dict[str, float], path: str | None = None) -> str:
    """Write ``experimental_formation_enthalpies``' result (and the model's relaxed elemental
    references, eV/atom) as the package data file that later calls read instead of relaxing."""
    import gzip
    import json

    path = path or _data_path(BUNDLE_FILE)
    per_compound = ("model_id", "max_atoms", "reference")  # the same for all: stored once
    doc = {"model_id": ds.provenance[0]["model_id"], "max_atoms": ds.provenance[0].get("max_atoms"),
           "reference": ds.provenance[0].get("reference"), "references": references, "skipped": [list(x) for x in ds.skipped],
           "generated_by": "matwidgets.engine.data.write_enthalpy_bundle (benchmarks/finetune.py --write-bundle)",
           "compounds": [{**{k: v for k, v in p.items() if k not in per_compound}, "structure": _compact(s),
                          "formation_enthalpy": float(h), "uncertainty": float(u)}
                         for p, s, h, u in zip(ds.provenance, ds.structures, ds.labels["formation_enthalpy"], ds.labels["uncertainty"])]}
    with gzip.open(path, "wt") as fh:
        json.dump(doc, fh, separators=(",", ":"))
    return path


def _bundled_enthalpies(model, rows: list[dict], max_atoms: int | None = None, path: str | None = None) -> Dataset | None:
    """The shipped structures when they were relaxed with this very model (same weights), with
    the same prototype size limit (unless ``max_atoms`` is None) and cover every requested
    compound; None otherwise (then they are computed)."""
    import gzip
    import json

    from pymatgen.core import Composition

    path = path or _data_path(BUNDLE_FILE)
    if not os.path.exists(path):
        return None
    with gzip.open(path, "rt") as fh:
        doc = json.load(fh)
    if doc["model_id"] != model.model_id or (max_atoms is not None and doc.get("max_atoms") != max_atoms):
        return None
    have = {Composition(c["formula"]).reduced_formula: c for c in doc["compounds"]}
    want = [Composition(r["formula"]).reduced_formula for r in rows]
    skipped = {Composition(f).reduced_formula: why for f, why in doc.get("skipped", [])}
    if any(f not in have and f not in skipped for f in want):
        return None
    comps = [have[f] for f in want if f in have]
    ds = Dataset([_from_compact(c["structure"]) for c in comps], formation_enthalpy=[c["formation_enthalpy"] for c in comps],
                 uncertainty=[c["uncertainty"] for c in comps])
    shared = {k: doc[k] for k in ("model_id", "max_atoms", "reference") if doc.get(k) is not None}
    ds.provenance = [shared | {k: v for k, v in c.items() if k not in ("structure", "formation_enthalpy", "uncertainty")}
                     | {"cached": "bundled"} for c in comps]
    ds.skipped = [(f, skipped[f]) for f in want if f not in have]
    ds.references = {el: doc["references"][el] for el in ds.elements() if el in doc["references"]}
    return ds


MATPES_FILE = "MatPES-r2SCAN-Element-Refs.json.gz"


def matpes_r2scan(elements: Sequence[str] | None = None) -> Dataset:
    """MatPES r2SCAN elemental reference structures (89 elements) with energy (eV per structure),
    forces (eV/Å) and stress, vendored from matcalc 0.7.0 (BSD-3-Clause, matwidgets/data/
    LICENSE-matcalc; file ``matcalc/elemental_refs/MatPES-r2SCAN-Element-Refs.json.gz``).

    Stress: the file holds VASP's stress in kBar (Al: -33.7, plausible only as kBar); it is
    converted to GPa with ASE's sign (-0.1 x), read as Voigt (xx, yy, zz, yz, xz, xy) -- the
    order of the off-diagonal terms is not documented in the file (they are ~0 for most).
    ``dataset.provenance[i]``: element, matpes_id, original mp id.
    """
    import gzip
    import json

    from pymatgen.core import Structure

    with gzip.open(_data_path(MATPES_FILE), "rt") as fh:
        rows = json.load(fh)
    keys = sorted(rows) if elements is None else list(elements)
    unknown = [k for k in keys if k not in rows]
    if unknown:
        raise ValueError(f"no MatPES r2SCAN reference for {unknown}; available: {sorted(rows)}")
    structures, energy, forces, stress, prov = [], [], [], [], []
    for el in keys:
        r = rows[el]
        structures.append(Structure.from_dict(r["structure"]))
        energy.append(r["energy"])
        forces.append(np.asarray(r["forces"], float).reshape(-1, 3))
        stress.append(-0.1 * np.asarray(r["stress"], float))
        prov.append({"element": el, "matpes_id": r.get("matpes_id"), "functional": r.get("functional"),
                     "original_mp_id": (r.get("provenance") or {}).get("original_mp_id")})
    ds = Dataset(structures, energy=energy, forces=forces, stress=np.array(stress))
    ds.provenance = prov
    return ds


class datasets:  # noqa: N801  (a namespace: mw.datasets.matpes_r2scan())
    """Real datasets that load offline: ``experimental_formation_enthalpies`` and ``matpes_r2scan``."""

    experimental_formation_enthalpies = staticmethod(experimental_formation_enthalpies)
    experimental_compounds = staticmethod(experimental_compounds)
    matpes_r2scan = staticmethod(matpes_r2scan)
