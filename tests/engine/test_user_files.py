"""User structures as hull candidates: files written by pymatgen and ASE, folders, ASE databases."""

from __future__ import annotations

import pytest
from ase.build import bulk
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

import matwidgets as mw
from matwidgets.engine.candidates import Candidate
from matwidgets.engine.hull import iter_hull
from matwidgets.engine.hull_stages import collect
from matwidgets.engine.store import ResultStore
from matwidgets.engine.user_files import read_structures, user_candidates


def rocksalt(a=5.6, species=("Na", "Cl")):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def same(a: Structure, b: Structure) -> bool:
    return a.composition == b.composition and a.lattice.abc == pytest.approx(b.lattice.abc, abs=1e-4)


@pytest.fixture
def folder(tmp_path):
    """A CIF, a POSCAR, an ASE database of two rows, one file outside Na-Cl and a README."""
    d = tmp_path / "mine"
    d.mkdir()
    CifWriter(rocksalt(5.6)).write_file(d / "nacl.cif")
    Poscar(rocksalt(5.8)).write_file(d / "POSCAR")
    from ase.db import connect

    with connect(d / "more.db") as db:
        db.write(AseAtomsAdaptor.get_atoms(rocksalt(6.0)))
        db.write(bulk("Na", "bcc", a=4.2))
    Poscar(rocksalt(4.2, ("Li", "F"))).write_file(d / "LiF.vasp")
    (d / "README.txt").write_text("not a structure")
    return d


def test_files_folder_and_database_are_read(folder):
    items = read_structures(folder)
    labels = [label for _, label in items]
    assert sorted(labels) == sorted(["LiF.vasp", "POSCAR", "more.db id=1", "more.db id=2", "nacl.cif"])
    got = dict((label, s) for s, label in items)
    assert same(got["nacl.cif"], rocksalt(5.6)) and same(got["POSCAR"], rocksalt(5.8))
    assert same(got["more.db id=1"], rocksalt(6.0)) and got["more.db id=2"].composition.reduced_formula == "Na"
    assert len(read_structures(folder / "nacl.cif")) == 1


def test_outside_the_system_is_skipped_with_a_warning_naming_it(folder):
    with pytest.warns(UserWarning, match=r"LiF\.vasp \(LiF\)"):
        cands = user_candidates([str(folder), bulk("Cl", "fcc", a=5.0)], ["Na", "Cl"])
    assert {c.source for c in cands} == {"user"} and len(cands) == 5
    assert "LiF.vasp" not in {c.label for c in cands}


def test_unreadable_files_raise_naming_the_file(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a nonsense\n")
    with pytest.raises(mw.InvalidStructureError, match="broken.cif"):
        read_structures(bad)
    with pytest.raises(mw.InvalidStructureError, match="no such file"):
        read_structures(tmp_path / "absent.cif")
    (tmp_path / "empty").mkdir()
    with pytest.raises(mw.InvalidStructureError, match="no structure files in folder"):
        read_structures(tmp_path / "empty")
    with pytest.raises(mw.InvalidStructureError, match="structures item 0 is a int"):
        user_candidates([3])
    disordered = rocksalt()
    disordered.replace(0, {"Na": 0.5, "K": 0.5})
    CifWriter(disordered).write_file(tmp_path / "dis.cif")
    with pytest.raises(mw.InvalidStructureError, match="dis.cif: the structure is disordered"):
        read_structures(tmp_path / "dis.cif")


def test_iter_hull_takes_structures_counts_them_and_relaxes_them_fully(folder, tmp_path):
    refs = [Candidate(Structure.from_spacegroup("Im-3m", Lattice.cubic(4.2), ["Na"], [[0, 0, 0]]), "prototype", "bcc"),
            Candidate(Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.6), ["Cl"], [[0, 0, 0]]), "prototype", "fcc")]
    model = mw.LennardJones(0.05, 2.3, 6.0)
    with pytest.warns(UserWarning, match="LiF.vasp"):
        steps = list(iter_hull("Na-Cl", model, candidates=refs, structures=folder, store=ResultStore(tmp_path / "r.db"),
                               steps=30, window=0.0, screen_steps=2))
    assert steps[-1].sources == {"prototype": 2, "user": 4}
    entries, failed = collect(steps)
    users = [e for e in entries if e.data["source"] == "user"]
    assert len(users) == 4 and not failed
    assert all(e.data["stage"] == "relaxed" for e in users)  # never screened out, even with window=0
    with pytest.raises(ValueError, match="cannot mix"):
        list(iter_hull("Na-Cl", model, source="mp", structures=folder))
