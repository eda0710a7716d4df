"""InverseDesigner, Python side: settings reach the engine, the run streams steps into the
view, trace, slider and table, Stop keeps steps, Relax / Export CIF / Add to hull work."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.design import gradient_design
from matwidgets.engine.models.committee import Committee

RC = 2.5


def fcc(rattle=0.03, seed=0):
    s = Structure(Lattice.cubic(1.55), ["Ar"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    s.make_supercell(2)
    rng = np.random.default_rng(seed)
    return Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, rattle, (len(s), 3)), coords_are_cartesian=True)


def test_run_streams_steps_equal_to_the_engine():
    lj = mw.LennardJones(cutoff=RC)
    d = mw.InverseDesigner(fcc(), model=lj, objective="min_energy", method="adam", steps=30, step_size=0.02, seed=1)
    job = d.start()
    assert job.wait(60) and job.status == "done"
    ref = list(gradient_design(fcc(), lj, "min_energy", steps=30, step_size=0.02, method="adam", seed=1))
    assert [st.step for st in d.history] == list(range(31))
    np.testing.assert_allclose([st.objective for st in d.history], [st.objective for st in ref], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(d.figure.data[0].y, float), [st.objective for st in ref], rtol=1e-6)
    assert d.slider.max == 30 and d.slider.value == 30 and not d.slider.disabled
    assert "done: 30 steps" in d.status.value
    assert not d.relax_button.disabled and not d.cif_button.disabled and d.hull_button.disabled  # no explorer
    rows = d.rows()
    assert rows["energy (eV/atom)"] == (ref[0].extras["energy"], ref[-1].extras["energy"])
    assert "start" in d.table.value and "step 30" in d.table.value
    d.slider.value = 0  # scrubbing shows that step
    np.testing.assert_allclose(d.view.structure.cart_coords, d.history[0].structure.cart_coords, atol=1e-6)
    assert "step 0" in d.table.value


def test_pickers_build_the_constraints_dict():
    d = mw.InverseDesigner(fcc(), model=mw.LennardJones(cutoff=RC), constraints={"min_distance": 0.9, "fixed": [0, 2]})
    assert d.constraints() == {"min_distance": 0.9, "fixed": [0, 2]}
    d.covalent.value = True
    d.keep_symmetry.value = True
    d.volume_lo.value, d.volume_hi.value = 20.0, 40.0
    assert d.constraints() == {"min_distance": "covalent", "volume": (20.0, 40.0), "keep_symmetry": True, "fixed": [0, 2]}
    d.fixed.value = "1, x"
    with pytest.raises(ValueError, match="comma-separated"):
        d.constraints()


def test_bad_settings_fail_on_start_before_any_step_and_show_in_status():
    d = mw.InverseDesigner(fcc(), model=mw.LennardJones(cutoff=RC), objective="max_uncertainty")
    with pytest.raises(ValueError, match="Committee"):
        d.start()
    d.start_button.click()  # through the button: shown, not raised
    assert "Committee" in d.status.value and d.job is None and not d.history
    with pytest.raises(TypeError, match="epsilonn"):
        mw.InverseDesigner(fcc(), model=mw.LennardJones(cutoff=RC), epsilonn=0.1)
    with pytest.raises(ValueError, match="unknown objective"):
        mw.InverseDesigner(fcc(), objective="cheap")


def test_stop_keeps_the_steps():
    d = mw.InverseDesigner(fcc(), model=mw.LennardJones(cutoff=RC), objective="max_energy", steps=100_000, step_size=0.001)
    job = d.start()
    d.stop()
    assert job.wait(60) and job.status == "cancelled"
    assert 1 <= len(d.history) < 100_001 and d.slider.max == len(d.history) - 1
    assert not d.start_button.disabled and d.stop_button.disabled


def test_relax_export_and_committee_table(tmp_path):
    committee = Committee([mw.LennardJones(cutoff=RC), mw.LennardJones(epsilon=1.1, sigma=1.04, cutoff=RC)])
    d = mw.InverseDesigner(fcc(), model=committee, objective="max_uncertainty", steps=5, step_size=0.01, kT=1.0)
    assert d.start().wait(60)
    rows = d.rows()
    assert rows["committee std (eV/atom)"][1] > rows["committee std (eV/atom)"][0]
    job = d.relax_result()
    assert job.wait(60) and job.status == "done"
    assert d.relaxed is not None and "relaxed in" in d.status.value
    path = d.export_cif(tmp_path / "x.cif")
    back = Structure.from_file(path)
    assert len(back) == len(fcc()) and back.volume == pytest.approx(d.relaxed.structure.volume, rel=1e-4)
    with pytest.raises(ValueError, match="HullExplorer"):
        d.add_to_hull()


def test_hull_rows_use_the_given_hull():
    from matwidgets.engine.hull import HullResult
    from pymatgen.entries.computed_entries import ComputedEntry

    lj = mw.LennardJones(cutoff=RC)
    d0 = list(gradient_design(fcc(), lj, "min_energy", steps=0))[0]
    ref = -7.0  # eV/atom of the Ar reference on this toy hull
    hull = HullResult([ComputedEntry("Ar", ref)])
    d = mw.InverseDesigner(fcc(), model=lj, steps=3, hull=hull)
    assert d.start().wait(60)
    e_form = d.rows()["E_form (eV/atom)"]
    assert e_form[0] == pytest.approx(d0.extras["energy"] - ref, abs=1e-9)
    assert d.rows()["E_hull (eV/atom)"][0] == pytest.approx(d0.extras["energy"] - ref, abs=1e-9)


def test_add_to_a_hull_explorer():
    lj = mw.LennardJones(cutoff=RC)
    ideal = fcc(rattle=0.0)
    ex = mw.HullExplorer([(ideal, -7.0 * len(ideal))], model=lj)
    assert ex.job.wait(30) and ex.result is not None
    d = mw.InverseDesigner(fcc(), model=lj, objective="max_energy", steps=3, step_size=0.01, hull=ex)
    assert d.hull is ex.result
    assert d.start().wait(60)
    assert not d.hull_button.disabled
    job = d.add_to_hull()
    assert job.wait(60) and job.status == "done"
    added = ex.added[-1]["entry"]
    assert added in ex.result.entries and len(added.structure) == len(ideal)


def test_a_run_that_cannot_stay_valid_says_so_and_keeps_the_last_valid_step():
    start = fcc(rattle=0.0)
    d = start.distance_matrix + 10 * np.eye(len(start))
    j = int(np.argmin(d[0]))
    w = mw.InverseDesigner(start, model=mw.LennardJones(cutoff=RC), objective="target_volume", target=0.7 * start.volume,
                           method="fgsm", variables=("cell",), constraints={"min_distance": d[0, j] - 0.05, "fixed": [0, j]})
    assert w.start().wait(60)
    assert "could not be made valid" in w.status.value and "last valid structure kept" in w.status.value
    assert w.history[-1].valid and w.history[-1].structure.get_distance(0, j) >= d[0, j] - 0.05 - 1e-9
