"""StructureBuilder and PropertyPanel, Python side."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import matwidgets as mw
from pymatgen.core import Lattice, Structure


def test_builder_edits_undo_redo_and_refusal(tmp_path):
    b = mw.StructureBuilder()
    start = b.structure
    b.make_supercell([2, 1, 1])
    b.substitute([0], "K")
    edited = b.structure
    assert edited.composition["K"] == 1 and len(edited) == 16
    assert b.view.n_atoms == 16
    with pytest.raises(mw.InvalidStructureError):
        b.add_atom("Na", [0.001, 0.0, 0.0])  # on top of atom 0
    assert b.structure == edited  # nothing lost
    b.undo()
    b.undo()
    assert b.structure == start
    b.redo()
    assert len(b.structure) == 16 and b.structure.composition["K"] == 0
    # the UI path shows the refusal as a message
    b.view.selected = [0]
    b.table.selected = "Na"
    b.set_lattice(a=11.28)
    b._ui(lambda: b.set_lattice(a=0.2))()
    assert "refused" in b.message.value and b.structure.lattice.a == pytest.approx(11.28)
    assert "data_" in b.to_cif() and "direct" in b.to_poscar().lower()
    path = b.export(tmp_path / "x.cif")
    assert mw.read_structure(path).composition == b.structure.composition


def test_builder_prototype_lattice_and_file(tmp_path):
    b = mw.StructureBuilder()
    b.query.value = "perovskite"
    assert b.matches.options
    b.load_lattice("perovskite", ["Ba", "Ti", "O"], 4.0)
    assert b.structure.composition.reduced_formula == "BaTiO3"
    assert [w.disabled for w in b.params.values()] == [False, True, True, True, True, True]
    b.structure.to(filename=str(tmp_path / "s.cif"))
    b.load_file(tmp_path / "s.cif")
    assert len(b.structure) == 5
    assert b.table.highlight == ["Ba", "O", "Ti"]


def run_loop_until(loop, cond, timeout=60):
    async def wait():
        for _ in range(int(timeout / 0.02)):
            if cond():
                return True
            await asyncio.sleep(0.02)
        return False

    return loop.run_until_complete(wait())


def test_panel_follows_builder_edits_and_cancels_stale():
    lj = mw.LennardJones(0.01, 2.5, 6.0)
    b = mw.StructureBuilder()
    panel = mw.PropertyPanel(b, model=lj, references={"Na": -0.01, "Cl": -0.02, "K": -0.01})
    loop = panel.job.loop
    assert run_loop_until(loop, lambda: "e_form" in panel.properties)
    first = panel.properties["energy_per_atom"]
    assert panel.properties["spacegroup"].startswith("Fm-3m")
    b.strain(3.0)
    b.strain(3.0)  # two quick edits: one computation for the last one
    assert run_loop_until(loop, lambda: panel.properties.get("volume_per_atom", 0) > b.structure.volume / len(b.structure) - 1e-6 and panel.job.finished)
    assert panel.properties["energy_per_atom"] != first
    ref = mw.predict(b.structure, lj)[0]
    assert panel.properties["energy_per_atom"] == pytest.approx(ref.energy_per_atom)
    assert panel.properties["pressure"] == pytest.approx(ref.pressure)
    relax_job = panel.relax()
    assert run_loop_until(loop, lambda: relax_job.finished)
    relaxed = b.structure
    assert mw.predict(relaxed, lj)[0].max_force < 0.06
    job = panel.compute_bulk_modulus()
    assert run_loop_until(loop, lambda: job.finished)
    # against B = V d2E/dV2 by central differences at the fitted equilibrium volume
    from matwidgets.engine.properties import bulk_modulus

    v0 = bulk_modulus(relaxed, lj)["V0"]
    h = 0.005 * v0
    e = []
    for dv in (-h, 0.0, h):
        x = relaxed.copy()
        x.scale_lattice(v0 + dv)  # atoms scale with the cell, as in the fit
        e.append(mw.predict(x, lj)[0].energy)
    b_fd = v0 * (e[0] - 2 * e[1] + e[2]) / h**2 * 160.21766208
    assert panel.properties["bulk_modulus"] == pytest.approx(b_fd, rel=0.1)
    b.undo()  # relaxation is an undoable edit
    assert b.structure != relaxed


def test_panel_with_hull_and_view():
    from tests.widgets.test_hull_explorer import entries_li_o

    res = mw.hull_for(entries_li_o())
    li2o = next(e for e in res.entries if e.composition.reduced_formula == "Li2O")
    view = mw.StructureView(li2o.structure)
    panel = mw.PropertyPanel(view, model=mw.LennardJones(0.01, 2.0, 6.0), hull=res)
    assert run_loop_until(panel.job.loop, lambda: "e_above_hull" in panel.properties)
    assert np.isfinite(panel.properties["e_above_hull"])


def test_panel_shows_per_atom_moment_magnitudes_not_a_fake_total(monkeypatch, nacl):
    from matwidgets.widgets import property_panel

    def fake_properties(structure, model, hull=None, references=None):
        # as CHGNet gives them: magnitudes, so "total" is a sum of |m| (0.10 for NaCl)
        yield {"formula": "NaCl", "n_atoms": 8, "energy_per_atom": -3.4, "total_magmom": 0.10, "max_magmom": 0.0311}

    monkeypatch.setattr(property_panel, "iter_properties", fake_properties)
    panel = mw.PropertyPanel(nacl, model=mw.LennardJones(0.01, 2.5, 6.0))
    assert run_loop_until(panel.job.loop, lambda: panel.job.finished)
    text = panel.table.value
    assert "total" not in text and "0.10" not in text
    assert "|m|" in text and "0.031 μB" in text
    assert "mean |m|" not in text  # not computed from the total: it is shown only when the engine gives it
    monkeypatch.setattr(property_panel, "iter_properties", lambda *a, **k: iter([{"formula": "NaCl", "max_magmom": 0.03, "mean_abs_magmom": 0.0125}]))
    panel.refresh()
    assert run_loop_until(panel.job.loop, lambda: panel.job.finished)
    assert "mean |m| per atom" in panel.table.value and "0.013 μB" in panel.table.value


def test_stale_bulk_modulus_cleared_and_relax_applies_only_to_its_structure(nacl):
    from matwidgets.widgets.property_panel import same_structure

    lj = mw.LennardJones(0.01, 2.5, 6.0)
    nacl.scale_lattice(5.4**3)  # near this model's E(V) minimum, so the fit works
    b = mw.StructureBuilder(nacl)
    panel = mw.PropertyPanel(b, model=lj, references={"Na": -0.01, "Cl": -0.02})
    loop = panel.job.loop
    job = panel.compute_bulk_modulus()
    assert run_loop_until(loop, lambda: job.finished and "bulk_modulus" in panel.properties)
    assert "bulk modulus" in panel.table.value
    b.strain(0.5)  # the volume changes: the fitted B no longer holds
    assert "bulk_modulus" not in panel.properties and "bulk modulus" not in panel.table.value
    assert run_loop_until(loop, lambda: panel.job.finished)
    assert "bulk_modulus" not in panel.properties
    # a fit that finishes after an edit is not shown for the edited structure
    job = panel.compute_bulk_modulus()
    b.strain(-0.5)
    assert run_loop_until(loop, lambda: job.finished and panel.job.finished)
    assert "bulk_modulus" not in panel.properties and "changed while" in panel.message.value
    # a relax result is applied only to the structure it was computed for
    relax_job = panel.relax()
    b.substitute([0], "K")  # edited while relaxing
    edited = b.structure
    assert run_loop_until(loop, lambda: relax_job.finished)
    assert b.structure == edited and "not applied" in panel.message.value
    b.rattle(0.1, seed=0)
    rattled = b.structure
    relax_job = panel.relax()  # untouched meanwhile: applied
    assert run_loop_until(loop, lambda: relax_job.finished)
    assert not same_structure(b.structure, rattled) and "relaxed" in panel.message.value
    assert mw.predict(b.structure, lj)[0].max_force < mw.predict(rattled, lj)[0].max_force


def test_panel_reports_every_failure(monkeypatch, nacl):
    from matwidgets.engine.optimize import RelaxResult
    from matwidgets.widgets import property_panel

    lj = mw.LennardJones(0.01, 2.5, 6.0)
    b = mw.StructureBuilder(nacl)
    panel = mw.PropertyPanel(b, model=lj, references={"Na": -0.01, "Cl": -0.02})
    loop = panel.job.loop
    assert run_loop_until(loop, lambda: panel.job.finished)

    def errors():
        return "".join(o.get("text", "") for o in panel.errors.outputs)

    def broken_relax(*a, **k):
        raise RuntimeError("optimizer blew up")

    monkeypatch.setattr(property_panel, "relax", broken_relax)
    panel.children[1].children[1].click()  # the Relax button
    assert run_loop_until(loop, lambda: "relaxing" not in panel.message.value)
    assert "relax failed: optimizer blew up" in panel.message.value and "broken_relax" in errors()
    # a result the builder refuses (overlapping atoms) is reported too, from the job's handler
    bad = nacl.copy()
    bad.translate_sites([1], [0.01, 0, 0], frac_coords=False)
    bad.replace(1, "Na", coords=bad[0].coords + 0.01, coords_are_cartesian=True)
    monkeypatch.setattr(property_panel, "relax", lambda *a, **k: RelaxResult(bad, -1.0, True, 3, []))
    job = panel.relax()
    assert run_loop_until(loop, lambda: job.finished)
    assert job.status == "error" and "relax failed" in panel.message.value and b.structure == nacl
    # the bulk modulus fit fails far from the E(V) minimum: said, not lost
    panel.children[1].children[0].click()
    assert run_loop_until(loop, lambda: "fitting" not in panel.message.value)
    assert "bulk modulus failed" in panel.message.value and "EOS" in errors()
    # the live prediction failing
    monkeypatch.setattr(property_panel, "iter_properties", lambda *a, **k: (_ for _ in ()).throw(ValueError("no prediction")))
    b.strain(1.0)
    assert run_loop_until(loop, lambda: "no prediction" in panel.status.value)
    assert "prediction failed" in panel.status.value


def test_prototype_search_selects_the_first_match_and_loads():
    b = mw.StructureBuilder()
    b.query.value = "perovskite"
    labels = [label for _, label in b.matches.options]
    assert len(labels) == 2 and b.matches.value == labels[0]  # selected, not blank
    assert b.match_count.value == "2 matches"
    assert all("None" not in text for text, _ in b.matches.options)
    b.matches.value = "AB3C_cP5_221_a_c_b"
    b.proto_elements.value = "Ti O Sr"
    b.load_proto_button.click()  # the UI path
    loaded = b.structure
    assert {el.symbol for el in loaded.composition.elements} == {"Sr", "Ti", "O"} and len(loaded) == 5
    assert "refused" not in b.message.value
    b.query.value = "cP5"  # the choice stays while it still matches
    assert b.matches.value == "AB3C_cP5_221_a_c_b"
    b.query.value = "no such prototype"
    assert b.matches.value is None and b.match_count.value == "no match"
    b.load_proto_button.click()
    assert "no prototype chosen" in b.message.value and "None" not in b.message.value
    assert b.structure == loaded


def boxes(widget):
    """Every Box inside a widget tree (tabs included)."""
    import ipywidgets as W

    if isinstance(widget, W.Box):
        yield widget
        for child in widget.children:
            yield from boxes(child)


def test_builder_layout_wraps_units_and_picked_atoms():
    import ipywidgets as W

    b = mw.StructureBuilder()
    rows = [x for x in boxes(b) if isinstance(x, W.HBox)]
    view_row = next(r for r in rows if b.view in r.children)
    assert len(rows) >= 8
    assert all("wrap" in (r.layout.flex_flow or "") for r in rows)  # nothing runs off the edge
    assert view_row.layout.flex_flow == "row wrap"
    assert b.view.layout.flex
    assert [w.description for w in b.params.values()] == ["a (Å)", "b (Å)", "c (Å)", "α (°)", "β (°)", "γ (°)"]
    buttons = [w for x in boxes(b) for w in x.children if isinstance(w, W.Button)]
    assert any(w.description == "Add atom at fractional" for w in buttons)
    assert "no atoms picked" in b.picked.value
    b.view.selected = [0, 5]
    assert b.picked.value == "picked (2): Na #0, Cl #5"
    b.view.selected = list(range(8))
    b.make_supercell([2, 2, 1])
    assert "no atoms picked" in b.picked.value  # an edit clears the pick
    b.view.selected = list(range(20))
    assert b.picked.value.startswith("picked (20): Na #0") and b.picked.value.endswith("and 8 more")


def test_prototype_with_new_elements_is_scaled_and_panel_warns_on_high_pressure():
    from matwidgets.engine.properties import iter_properties

    model = mw.load_model("chgnet", device="cpu")
    builder = mw.StructureBuilder(model=model)
    s = builder.load_prototype("AB3C_cP5_221_a_c_b", ["Ba", "Ti", "O"])  # BaTiO3 in the CaTiO3 cell: ~120 GPa unscaled
    assert s.composition.reduced_formula == "BaTiO3"
    assert abs(mw.predict(s, model)[0].pressure) < 1.0
    squeezed = s.copy()
    squeezed.scale_lattice(s.volume * 0.85)
    first = next(iter_properties(squeezed, model, references={"Ba": -1.9, "Ti": -7.8, "O": -4.9}))
    assert "high pressure" in first["warning"]
    assert "warning" not in next(iter_properties(s, model, references={"Ba": -1.9, "Ti": -7.8, "O": -4.9}))


def test_panel_says_which_references_it_prepares(tmp_path, monkeypatch):
    from matwidgets.engine.properties import iter_properties

    lj = mw.LennardJones(0.05, 2.3, 6.0)
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    steps = list(iter_properties(s, lj))
    assert "Na, Cl" in steps[1]["e_form_pending"] and "e_form" not in steps[1]
    assert "e_form" in steps[-1]


def test_references_missing_an_element_name_it(nacl):
    from matwidgets.engine.properties import iter_properties

    lj = mw.LennardJones(0.01, 2.5, 6.0)
    steps = iter_properties(nacl, lj, references={"Na": -1.3})
    next(steps)  # the predicted properties come first
    with pytest.raises(ValueError, match="no energy for Cl"):
        next(steps)
    done = list(iter_properties(nacl, lj, references={"Na": -1.0, "Cl": -2.0}))
    p = mw.predict(nacl, lj)[0]
    assert done[-1]["e_form"] == pytest.approx(p.energy_per_atom + 1.5)
