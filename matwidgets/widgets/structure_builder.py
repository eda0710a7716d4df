"""StructureBuilder: build a crystal from prototypes, lattices or files, and edit it."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import traitlets as t
from pymatgen.core import Structure

from matwidgets.engine import build
from matwidgets.engine.optimize import scale_to_pressure
from matwidgets.widgets.adapters import as_batch
from matwidgets.widgets.periodic_table import PeriodicTable
from matwidgets.widgets.structure_view import StructureView

PARAMS = ["a", "b", "c", "alpha", "beta", "gamma"]
PARAM_LABELS = {"a": "a (Å)", "b": "b (Å)", "c": "c (Å)", "alpha": "α (°)", "beta": "β (°)", "gamma": "γ (°)"}
MAX_LISTED = 12  # picked atoms listed by name; more are counted


def row(children: list, **layout) -> W.HBox:
    """A row of controls that wraps instead of running past the notebook's width."""
    return W.HBox(children, layout=W.Layout(**{"flex_flow": "row wrap", "align_items": "center", **layout}))


class StructureBuilder(W.VBox):
    """``builder.structure`` is always the current, valid pymatgen Structure.

    Every edit goes through ``apply``: an invalid result (overlapping atoms, singular
    cell, ...) is refused with a message and the last valid structure stays. Edits
    can be undone and redone; programmatic methods raise the same errors the UI shows.
    """

    structure = t.Instance(Structure)

    def __init__(self, structure: Any = None, model: Any = None):
        start = as_batch(structure).to_structures()[0] if structure is not None else build.common_lattice("rocksalt", ["Na", "Cl"], 5.64)
        self._undo: list[Structure] = []
        self._redo: list[Structure] = []
        self.model = model  # sizes prototypes loaded with new elements (default: the pretrained model)
        self.view = StructureView(start, height=400)
        self.table = PeriodicTable()
        self.message = W.HTML()
        # sources
        self.query = W.Text(placeholder="mineral, Pearson, Strukturbericht, AFLOW label", description="prototype", layout=W.Layout(width="360px"))
        self.matches = W.Dropdown(options=[], description="matches", layout=W.Layout(width="360px"))
        self.match_count = W.HTML()
        self.proto_elements = W.Text(placeholder="e.g. Ba Ti O", description="elements", layout=W.Layout(width="260px"))
        self.load_proto_button = load_proto = W.Button(description="Load prototype")
        self.lattice_name = W.Dropdown(options=list(build.LATTICES), value="rocksalt", description="lattice", layout=W.Layout(width="220px"))
        self.lattice_elements = W.Text(value="Na Cl", description="elements", layout=W.Layout(width="220px"))
        self.lattice_a = W.BoundedFloatText(value=5.64, min=0.5, max=100, step=0.01, description="a (Å)", layout=W.Layout(width="160px"))
        load_lattice = W.Button(description="Build lattice")
        self.upload = W.FileUpload(accept=".cif,.vasp,.xyz,.extxyz,POSCAR,CONTCAR", multiple=False, description="Upload file")
        # edits
        self.params = {p: W.BoundedFloatText(min=0.01, max=360, step=0.01, description=PARAM_LABELS[p], layout=W.Layout(width="160px"))
                       for p in PARAMS}
        apply_lattice = W.Button(description="Set lattice")
        self.whole_orbit = W.Checkbox(value=False, description="whole orbit")
        subst = W.Button(description="Substitute picked")
        remove = W.Button(description="Remove picked")
        self.add_frac = [W.FloatText(value=0.5, description=x, style={"description_width": "initial"}, layout=W.Layout(width="90px"))
                         for x in ("x", "y", "z")]
        add = W.Button(description="Add atom at fractional", layout=W.Layout(width="auto"))
        self.picked = W.HTML()
        self.sc = [W.BoundedIntText(value=1, min=1, max=10, layout=W.Layout(width="60px")) for _ in range(3)]
        make_sc = W.Button(description="Supercell")
        self.rattle_amp = W.BoundedFloatText(value=0.05, min=0, max=1, step=0.01, description="rattle (Å)", layout=W.Layout(width="170px"))
        do_rattle = W.Button(description="Rattle")
        self.strain_pct = W.FloatText(value=1.0, description="strain %", layout=W.Layout(width="160px"))
        self.strain_comp = W.Dropdown(options=["iso", "a", "b", "c"], layout=W.Layout(width="70px"))
        do_strain = W.Button(description="Strain")
        undo, redo = W.Button(description="Undo", icon="undo"), W.Button(description="Redo", icon="repeat")
        self.export_path = W.Text(value="structure.cif", description="file", layout=W.Layout(width="240px"))
        export = W.Button(description="Export", icon="save")

        ui = self._ui
        self.query.observe(lambda _: self._search(), "value")
        load_proto.on_click(ui(lambda: self.load_prototype(self.matches.value, self.proto_elements.value.split() or None)))
        load_lattice.on_click(ui(lambda: self.load_lattice(self.lattice_name.value, self.lattice_elements.value.split(), self.lattice_a.value)))
        self.upload.observe(ui(self._on_upload), "value")
        apply_lattice.on_click(ui(lambda: self.set_lattice(**{p: w.value for p, w in self.params.items() if not w.disabled})))
        subst.on_click(ui(lambda: self.substitute(self.view.selected, self.table.selected, self.whole_orbit.value)))
        remove.on_click(ui(lambda: self.remove_atoms(self.view.selected)))
        add.on_click(ui(lambda: self.add_atom(self.table.selected, [w.value for w in self.add_frac])))
        make_sc.on_click(ui(lambda: self.make_supercell([w.value for w in self.sc])))
        do_rattle.on_click(ui(lambda: self.rattle(self.rattle_amp.value)))
        do_strain.on_click(ui(lambda: self.strain(self.strain_pct.value, self.strain_comp.value)))
        undo.on_click(ui(self.undo))
        redo.on_click(ui(self.redo))
        export.on_click(ui(lambda: self.export(self.export_path.value)))

        tabs = W.Tab([
            W.VBox([self.query, row([self.matches, self.match_count]), row([self.proto_elements, load_proto]),
                    row([self.lattice_name, self.lattice_elements, self.lattice_a, load_lattice]), self.upload]),
            W.VBox([row(list(self.params.values())[:3]), row(list(self.params.values())[3:]), apply_lattice,
                    row([make_sc, *self.sc]), row([self.rattle_amp, do_rattle, self.strain_pct, self.strain_comp, do_strain])]),
            W.VBox([W.HTML("Pick atoms in the view (shift-click adds), an element in the table:"), self.picked, self.table,
                    row([subst, self.whole_orbit, remove]), row([add, *self.add_frac])]),
        ], layout=W.Layout(flex="1 1 460px", min_width="0"))
        for k, title in enumerate(["Start from", "Lattice & cell", "Atoms"]):
            tabs.set_title(k, title)
        self.view.layout = W.Layout(flex="1 1 420px", min_width="300px")
        # the view and the tabs side by side when there is room, stacked when not: no control
        # is cut off at the notebook's edge
        super().__init__([row([undo, redo, self.export_path, export]), self.message, row([self.view, tabs], align_items="flex-start")])
        self.view.observe(lambda _: self._list_picked(), "selected")
        self.structure = start
        self._search()
        self._list_picked()

    # ---- the one way a structure changes ----------------------------------------------------
    def apply(self, edit: Callable[[Structure], Structure], record: bool = True) -> Structure:
        """Apply an edit; on any error the current structure stays and the error propagates."""
        new = edit(self.structure)
        build.check(new)
        if record:
            self._undo.append(self.structure)
            self._redo.clear()
        self.structure = new
        return new

    @t.observe("structure")
    def _on_structure(self, change) -> None:
        s = change["new"]
        self.view.selected = []
        self.view.structure = s
        self.view.reset_view()
        self.table.highlight = sorted({el.symbol for el in s.composition.elements})
        free = build.free_parameters(s)
        for p, w in self.params.items():
            w.value = round(float(dict(zip(PARAMS, [*s.lattice.abc, *s.lattice.angles]))[p]), 5)
            w.disabled = p not in free
        self.message.value = f"{s.composition.reduced_formula}, {len(s)} atoms, {build.crystal_system(s)}"

    def _list_picked(self) -> None:
        sel = self.view.selected
        s = self.structure
        if not sel:
            self.picked.value = "<i>no atoms picked</i>"
            return
        names = [f"{s[i].specie.symbol} #{i}" for i in sel[:MAX_LISTED]]
        more = f" and {len(sel) - MAX_LISTED} more" if len(sel) > MAX_LISTED else ""
        self.picked.value = f"picked ({len(sel)}): {', '.join(names)}{more}"

    def _ui(self, action: Callable) -> Callable:
        """Wrap a UI action: errors become a message, never a lost traceback."""

        def run(*_):
            try:
                action()
            except Exception as err:  # the last valid structure stays
                self.message.value = f"<b style='color:#b00'>refused: {html.escape(str(err))}</b>"

        return run

    # ---- sources ----------------------------------------------------------------------------
    def _search(self) -> None:
        limit = 50
        found = build.search_prototypes(self.query.value, limit=limit)
        previous = self.matches.value
        self.matches.options = [(_match_label(label, tags), label) for label, tags in found]
        labels = [label for label, _ in found]
        # a dropdown that lists matches but selects none looks blank and loads nothing
        self.matches.value = previous if previous in labels else (labels[0] if labels else None)
        n = len(found)
        self.match_count.value = "no match" if not n else f"first {n} matches" if n >= limit else f"{n} match{'es' if n > 1 else ''}"

    def load_prototype(self, label: str | None, elements: list[str] | None = None) -> Structure:
        if not label:
            raise ValueError("no prototype chosen: search for one (mineral, Pearson symbol, ...) and pick a match")
        if not elements:
            return self.apply(lambda _: build.prototype(label))  # the prototype's own cell is its real one
        # new elements keep the old cell (BaTiO3 in CaTiO3's cell is at 47 GPa): scale it to the
        # model's zero pressure, a few evaluations (the panel offers a full relax)
        return self.apply(lambda _: scale_to_pressure(build.prototype(label, elements), self.model)[0])

    def load_lattice(self, name: str, elements: list[str], a: float, c: float | None = None) -> Structure:
        return self.apply(lambda _: build.common_lattice(name, elements, a, c))

    def load_file(self, path: str | os.PathLike) -> Structure:
        return self.apply(lambda _: as_batch(path).to_structures()[0])

    def _on_upload(self, change=None) -> None:
        files = self.upload.value
        if not files:
            return
        f = files[0]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, f["name"])
            with open(path, "wb") as fh:
                fh.write(bytes(f["content"]))
            self.load_file(path)

    # ---- edits ------------------------------------------------------------------------------
    def set_lattice(self, **params: float) -> Structure:
        return self.apply(lambda s: build.set_lattice(s, **params))

    def substitute(self, indices: list[int], element: str, whole_orbit: bool = False) -> Structure:
        return self.apply(lambda s: build.substitute(s, list(indices), element, whole_orbit))

    def remove_atoms(self, indices: list[int]) -> Structure:
        return self.apply(lambda s: build.remove_atoms(s, list(indices)))

    def add_atom(self, element: str, frac_coords: list[float]) -> Structure:
        return self.apply(lambda s: build.add_atom(s, element, frac_coords))

    def make_supercell(self, scaling: list[int]) -> Structure:
        return self.apply(lambda s: build.supercell(s, scaling))

    def rattle(self, amplitude: float = 0.05, seed: int | None = None) -> Structure:
        return self.apply(lambda s: build.rattle(s, amplitude, seed))

    def strain(self, percent: float, component: str = "iso") -> Structure:
        return self.apply(lambda s: build.strain(s, percent, component))

    def undo(self) -> Structure:
        if not self._undo:
            raise ValueError("nothing to undo")
        self._redo.append(self.structure)
        self.structure = self._undo.pop()
        return self.structure

    def redo(self) -> Structure:
        if not self._redo:
            raise ValueError("nothing to redo")
        self._undo.append(self.structure)
        self.structure = self._redo.pop()
        return self.structure

    # ---- export -----------------------------------------------------------------------------
    def to_cif(self) -> str:
        return self.structure.to(fmt="cif")

    def to_poscar(self) -> str:
        return self.structure.to(fmt="poscar")

    def export(self, path: str | os.PathLike) -> str:
        """Write CIF (.cif) or POSCAR (anything else)."""
        path = os.fspath(path)
        text = self.to_cif() if path.lower().endswith(".cif") else self.to_poscar()
        with open(path, "w") as fh:
            fh.write(text)
        self.message.value = f"wrote {html.escape(path)}"
        return path


def _match_label(label: str, tags: dict) -> str:
    """"(Cubic) Perovskite E2_1 cP5 AB3C_cP5_221_a_c_b": the tags that are set (the library writes "None")."""
    parts = [tags.get(k) for k in ("mineral", "strukturbericht", "pearson")] + [label]
    return " ".join(str(p) for p in parts if p and str(p) != "None")
