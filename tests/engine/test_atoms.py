"""AtomsBatch converters and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from pymatgen.core import Lattice, Structure

from matwidgets import InvalidStructureError
from matwidgets.engine.atoms import AtomsBatch, read_structure


def test_roundtrip_pymatgen_and_ase(si, nacl):
    b = AtomsBatch.from_structures([si, nacl, bulk("Cu", "fcc", a=3.6)])
    assert b.n_systems == 3 and b.counts.tolist() == [8, 8, 1]
    s_back = b.to_structures()
    assert s_back[0] == si and s_back[1] == nacl
    atoms = b.to_ase()[2]
    assert atoms.get_chemical_symbols() == ["Cu"]
    np.testing.assert_allclose(atoms.cell.array, bulk("Cu", "fcc", a=3.6).cell.array)


def test_select_and_concatenate(si, nacl):
    b = AtomsBatch.from_structures([si, nacl, si])
    sub = b.select([2, 1])
    assert sub.counts.tolist() == [8, 8]
    assert sub.to_structures()[1] == nacl
    both = AtomsBatch.concatenate([sub, b])
    assert both.n_systems == 5 and both.system_idx.max() == 4


@pytest.mark.parametrize("fmt,name", [("cif", "x.cif"), ("poscar", "POSCAR"), ("extxyz", "x.extxyz")])
def test_files(tmp_path, nacl, fmt, name):
    path = tmp_path / name
    if fmt == "extxyz":
        import ase.io

        ase.io.write(path, AtomsBatch.from_structures(nacl).to_ase()[0], format="extxyz")
    else:
        nacl.to(filename=str(path), fmt=fmt)
    b = AtomsBatch.from_structures(str(path))
    assert sorted(b.numbers.tolist()) == sorted(AtomsBatch.from_structures(nacl).numbers.tolist())
    assert abs(float(b.volumes[0]) - nacl.volume) < 1e-4


def test_molecule_gets_a_box():
    b = AtomsBatch.from_structures(molecule("H2O"))
    assert not b.pbc.any() and float(b.volumes[0]) > 1000


def err(obj) -> str:
    with pytest.raises(InvalidStructureError) as info:
        AtomsBatch.from_structures(obj)
    return str(info.value)


def test_bad_inputs_get_clear_errors(tmp_path, si):
    assert "unknown element" in err(Atoms("X", positions=[[0, 0, 0]], cell=np.eye(3) * 3, pbc=True))
    nan = si.copy()
    nan.translate_sites([3], [np.nan, 0, 0], frac_coords=False, to_unit_cell=False)
    assert "site 3" in err(nan) and "NaN" in err(nan)
    close = Structure(Lattice.cubic(4), ["Si", "Si"], [[0, 0, 0], [0.05, 0, 0]])
    assert "overlap" in err(close) and "0.200" in err(close)
    singular = Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=[[3, 0, 0], [6, 0, 0], [0, 0, 3]], pbc=True)
    assert "singular cell" in err(singular)
    assert "empty" in err(Atoms(cell=np.eye(3) * 3, pbc=True))
    assert "no structures" in err([])
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 3\nloop_\n_atom_site_label\nthis is not a cif")
    assert "cannot parse" in err(str(bad))
    assert "file not found" in err(str(tmp_path / "missing.cif"))
    assert "cannot make a structure" in err(42)
    # the position of the bad structure in a list is named
    assert err([si, close]).startswith("structure 1:")


def test_own_periodic_image_too_close_is_overlap():
    tiny = Structure(Lattice.cubic(0.4), ["H"], [[0, 0, 0]])
    assert "overlap" in err(tiny)


def test_read_structure_multi_frame(tmp_path):
    import ase.io

    frames = [bulk("Cu", "fcc", a=a) for a in (3.5, 3.6)]
    ase.io.write(tmp_path / "t.extxyz", frames)
    out = read_structure(tmp_path / "t.extxyz", index=":")
    assert len(out) == 2
    assert AtomsBatch.from_structures(out).n_systems == 2
    assert torch.allclose(AtomsBatch.from_structures(out[1]).cell, torch.tensor(frames[1].cell.array)[None])


def test_atoms_from_pymatgen_adaptor_are_read_as_ase(nacl):
    """AseAtomsAdaptor returns MSONAtoms (an ase.Atoms subclass defined in a pymatgen module)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(nacl)
    assert type(atoms).__module__.startswith("pymatgen")
    b = AtomsBatch.from_structures([atoms])
    np.testing.assert_allclose(b.positions.numpy(), atoms.positions)
    assert b.numbers.tolist() == atoms.numbers.tolist()
