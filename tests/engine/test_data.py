"""Dataset: torch_geometric items and batches, files, split/groupby, label validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from pymatgen.core import Lattice, Structure

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.data import Dataset, anion_family, to_batch


def cells(n=6, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        s = Structure(Lattice.cubic(3.0 + 0.2 * rng.random()), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        if k % 2:
            s.make_supercell([k, 1, 1])
        s.perturb(0.05)
        out.append(s)
    return out


def test_items_and_loader_match_atomsbatch():
    structs = cells()
    forces = [np.random.default_rng(k).normal(size=(len(s), 3)) for k, s in enumerate(structs)]
    e = [-3.0 * len(s) for s in structs]
    ds = Dataset(structs, energy=e, forces=forces, band_gap=np.arange(6.0))
    assert len(ds) == 6 and ds.properties == ["band_gap"]
    d = ds[3]
    assert d.pos.shape == (len(structs[3]), 3) and d.cell.shape == (1, 3, 3) and float(d.energy) == e[3]
    batches = list(ds.loader(batch_size=4))
    assert [b.num_graphs for b in batches] == [4, 2]
    ref = AtomsBatch.from_structures(structs[:4])  # the engine's own converter is the reference
    got = to_batch(batches[0])
    for name in ("positions", "cell", "numbers", "system_idx", "pbc"):
        assert torch.equal(getattr(got, name), getattr(ref, name)), name
    assert np.allclose(batches[0].forces.numpy(), np.concatenate(forces[:4]))
    assert np.allclose(batches[1].band_gap.numpy(), [4.0, 5.0])


def test_extxyz_and_ase_db_roundtrip(tmp_path):
    images = []
    for k, a in enumerate((3.5, 3.6, 3.7)):
        atoms = bulk("Cu", "fcc", a=a) * (1, 1, k + 1)
        atoms.rattle(0.01, seed=k)
        stress = np.array([0.01, 0.02, 0.03, 0.0, 0.001, 0.0]) * (k + 1)  # eV/Å^3, Voigt
        atoms.calc = SinglePointCalculator(atoms, energy=-3.5 * len(atoms), forces=np.full((len(atoms), 3), 0.1 * k),
                                           stress=stress)
        atoms.info["band_gap"] = 0.5 * k
        images.append(atoms)
    for name in ("data.extxyz", "data.db"):
        path = tmp_path / name
        write(path, images)
        ds = Dataset.from_file(path)
        assert len(ds) == 3 and set(ds.labels) >= {"energy", "forces", "stress"}
        assert np.allclose(ds.labels["energy"], [-3.5 * len(a) for a in images])
        gpa = images[2].get_stress(voigt=False) / units.GPa  # ASE's own unit conversion is the reference
        assert np.allclose(ds.labels["stress"][2], gpa)
        assert np.allclose(ds.labels["forces"][1], 0.1)
        if name.endswith("extxyz"):
            assert np.allclose(ds.labels["band_gap"], [0.0, 0.5, 1.0])


def test_split_is_a_seeded_partition():
    ds = Dataset(cells(10), energy=np.linspace(-40, -4, 10))
    a, b = ds.split(0.2, seed=1)
    assert (len(a), len(b)) == (8, 2)
    keys = lambda d: sorted(round(float(x), 6) for x in d.labels["energy"])  # noqa: E731
    assert sorted(keys(a) + keys(b)) == keys(ds)
    assert keys(ds.split(0.2, seed=1)[1]) == keys(b)
    parts = ds.split([0.6, 0.2, 0.2], seed=0)
    assert [len(p) for p in parts] == [6, 2, 2]
    with pytest.raises(ValueError, match="non-empty"):
        Dataset(cells(1), energy=[-6.0]).split(0.5)


def test_groupby_anion_families():
    rock = lambda a, b: Structure(Lattice.cubic(3.0), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])  # noqa: E731
    structs = [rock("Mg", "O"), rock("Li", "F"), rock("Na", "Cl"), rock("Ni", "Al"), rock("Ca", "O"),
               Structure(Lattice.cubic(4.0), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])]
    ds = Dataset(structs, formation_enthalpy=[-3.0, -3.1, -2.1, -0.6, -3.3, 0.0])
    groups = ds.groupby("anion")
    assert {k: len(v) for k, v in groups.items()} == {"oxide": 2, "fluoride": 1, "chloride": 1, "intermetallic": 2}
    assert np.allclose(sorted(groups["oxide"].labels["formation_enthalpy"]), [-3.3, -3.0])
    assert anion_family(Structure(Lattice.cubic(4.0), ["Ti", "O", "N"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]])) == "oxide"


@pytest.mark.parametrize("kw, match", [
    (dict(energy=[-6.0] * 5), "5 values for 6 structures"),
    (dict(energy=[-6.0, np.nan, -6, -6, -6, -6]), "NaN or inf at item 1"),
    (dict(energy=[[-6.0]] * 6), "one scalar per structure"),
    (dict(band_gap=[0.0, 1.0, np.inf, 0, 0, 0]), "band_gap: NaN"),
    (dict(forces=[np.zeros((2, 3))] * 6), r"forces of structure 3: shape \(2, 3\), expected \(6, 3\)"),
    (dict(forces=[np.zeros((2, 3))] * 5), "5 entries for 6"),
    (dict(stress=np.zeros((6, 3))), "stress: shape"),
])
def test_bad_labels_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        Dataset(cells(), **kw)


def test_units_off_by_orders_of_magnitude():
    structs = cells()
    n = np.array([len(s) for s in structs])
    with pytest.raises(ValueError, match="meV"):
        Dataset(structs, energy=-3000.0 * n)  # meV
    with pytest.raises(ValueError, match="look like eV/atom"):
        Dataset(structs, energy=-3.0 - 0.01 * np.arange(6))  # per-atom values where totals are expected
    ok = Dataset(structs, energy=(-3.0 - 0.01 * np.arange(6)) * n)  # the same as totals pass
    assert len(ok) == 6
    with pytest.raises(ValueError, match="Hartree/Bohr"):
        Dataset(structs, forces=[np.full((len(s), 3), 80.0) for s in structs])
    with pytest.raises(ValueError, match="kBar"):
        Dataset(structs, stress=np.full((6, 3, 3), 5e3))
    assert len(Dataset(structs, energy=-3000.0 * n, check_units=False)) == 6


def test_empty_and_wrong_inputs():
    with pytest.raises(ValueError, match="empty dataset"):
        Dataset([], energy=[])
    with pytest.raises(TypeError, match="from_file"):
        Dataset("structures.extxyz")
    with pytest.raises(FileNotFoundError):
        Dataset.from_file("/nonexistent/file.extxyz")


def test_to_pyg_items_are_torch_geometric_data():
    from torch_geometric.data import Batch, Data

    ds = Dataset(cells(3), energy=[-6.0, -12.0, -6.0])
    items = ds.to_pyg()
    assert all(isinstance(d, Data) for d in items) and ds[-1].natoms.item() == 2
    assert torch.equal(to_batch(Batch.from_data_list(items)).numbers, AtomsBatch.from_structures(ds.structures).numbers)
    with pytest.raises(IndexError):
        ds[3]


def test_matpes_r2scan_reads_the_vendored_file():
    import gzip
    import json

    from matwidgets.engine.data import MATPES_FILE, _data_path, datasets

    ds = datasets.matpes_r2scan()
    assert len(ds) == 89 and set(ds.labels) == {"energy", "forces", "stress"}
    raw = json.load(gzip.open(_data_path(MATPES_FILE)))
    k = ds.elements().index("Al")
    assert ds.provenance[k]["element"] == "Al" and np.isclose(ds.labels["energy"][k], raw["Al"]["energy"])
    # kBar (VASP sign) -> GPa (ASE sign): 1 kBar = 0.1 GPa
    assert np.allclose(np.diag(ds.labels["stress"][k]), -0.1 * np.array(raw["Al"]["stress"][:3]))
    with pytest.raises(ValueError, match="no MatPES r2SCAN reference"):
        datasets.matpes_r2scan(["Xx"])


def test_experimental_enthalpies_per_atom_and_structures():
    import matwidgets as mw
    from matwidgets.engine.data import datasets

    rows = datasets.experimental_compounds()
    assert len(rows) == 2135
    nacl = datasets.experimental_compounds(["NaCl"])[0]
    lj = mw.load_model("lj", epsilon=0.05, sigma=2.2, cutoff=6.0, device="cpu")
    ds = datasets.experimental_formation_enthalpies(lj, formulas=["NaCl"], max_atoms=2)
    assert ds.structures[0].composition.reduced_formula == "NaCl"
    assert np.isclose(ds.labels["formation_enthalpy"][0], nacl["exp energy"] / 2)  # eV per formula unit of 2 atoms
    assert ds.provenance[0]["model_id"] == lj.model_id and ds.provenance[0]["mpid"] == nacl["mpid"]
    with pytest.raises(ValueError, match="no experimental formation enthalpy"):
        datasets.experimental_formation_enthalpies(lj, formulas=["Xe3Kr"])


def test_bundled_enthalpy_structures_are_used_for_their_model():
    import matwidgets as mw
    from matwidgets.engine.data import datasets

    chgnet = mw.load_model("chgnet", device="cpu")
    ds = datasets.experimental_formation_enthalpies(chgnet, formulas=["AlN", "AgCl"])
    # in the order of pymatgen's file
    assert [p["formula"] for p in ds.provenance] == ["AgCl", "AlN"] and all(p["cached"] == "bundled" for p in ds.provenance)
    assert [s.composition.reduced_formula for s in ds.structures] == ["AgCl", "AlN"]
    rows = {r["formula"]: r["exp energy"] for r in datasets.experimental_compounds(["AlN", "AgCl"])}
    assert np.allclose(ds.labels["formation_enthalpy"], [rows["AgCl"] / 2, rows["AlN"] / 2])
    assert set(ds.references) == {"Al", "N", "Ag", "Cl"}


def test_enthalpy_bundle_roundtrip_is_compact_and_keyed_by_max_atoms(tmp_path):
    import gzip
    import json

    import matwidgets as mw
    from matwidgets.engine.data import _bundled_enthalpies, datasets, write_enthalpy_bundle

    lj = mw.load_model("lj", epsilon=0.05, sigma=2.2, cutoff=6.0, device="cpu")
    ds = datasets.experimental_formation_enthalpies(lj, formulas=["NaCl", "KCl"], max_atoms=2)
    path = write_enthalpy_bundle(ds, {"Na": -1.0, "K": -1.5, "Cl": -2.0}, str(tmp_path / "b.json.gz"))
    with gzip.open(path, "rt") as fh:
        doc = json.load(fh)
    assert doc["max_atoms"] == 2 and "@class" not in json.dumps(doc)  # plain lattice/species/frac, not as_dict()
    rows = datasets.experimental_compounds(["NaCl", "KCl"])
    back = _bundled_enthalpies(lj, rows, 2, path)
    assert [p["cached"] for p in back.provenance] == ["bundled"] * 2 and back.provenance[0]["max_atoms"] == 2
    for a, b in zip(ds.structures, back.structures):
        assert [str(x) for x in a.species] == [str(x) for x in b.species]
        assert np.allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-5) and np.allclose(a.frac_coords, b.frac_coords, atol=1e-5)
    assert np.allclose(back.labels["formation_enthalpy"], ds.labels["formation_enthalpy"])
    assert back.references == {"Na": -1.0, "K": -1.5, "Cl": -2.0}
    assert _bundled_enthalpies(lj, rows, None, path) is not None  # no limit asked: the bundle's own
    assert _bundled_enthalpies(lj, rows, 4, path) is None  # searched with another limit: computed instead
    assert _bundled_enthalpies(mw.load_model("lj", epsilon=0.06, sigma=2.2, cutoff=6.0, device="cpu"), rows, 2, path) is None
