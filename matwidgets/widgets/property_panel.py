"""PropertyPanel: live predicted properties of a structure that is being edited."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets as t
from pymatgen.core import Structure

from matwidgets.engine.models import load_model
from matwidgets.engine.optimize import relax
from matwidgets.engine.properties import bulk_modulus, iter_properties
from matwidgets.jobs import Job, kernel_loop
from matwidgets.widgets.adapters import as_batch
from matwidgets.widgets.feedback import guarded, show_error

ROWS = [
    ("energy_per_atom", "energy", "{:.4f} eV/atom"),
    ("e_form", "formation energy", "{:.4f} eV/atom"),
    ("e_form_pending", "formation energy", "{}"),
    ("e_above_hull", "E above hull", "{:.4f} eV/atom"),
    ("max_force", "max force", "{:.3f} eV/Å"),
    ("pressure", "pressure", "{:.2f} GPa"),
    ("warning", "⚠", "<b style='color:#b35c00'>{}</b>"),
    # CHGNet predicts moment magnitudes |m| per atom: a "total" would be a sum of |m|, not
    # a net moment, so only per-atom magnitudes are shown
    ("max_magmom", "largest |m| on an atom", "{:.3f} μB"),
    ("mean_abs_magmom", "mean |m| per atom", "{:.3f} μB"),
    ("volume_per_atom", "volume", "{:.2f} Å³/atom"),
    ("density", "density", "{:.3f} g/cm³"),
    ("spacegroup", "space group", "{}"),
    ("bulk_modulus", "bulk modulus (BM fit)", "{:.1f} GPa"),
    ("note", "note", "{}"),
]


class PropertyPanel(W.VBox):
    """Predictions for ``source``: a StructureBuilder, a StructureView or a Structure.

    Recomputed after each edit (debounced by ``debounce`` s; an edit cancels the
    stale request). ``panel.properties`` holds the latest values; ``panel.hull``
    (a HullResult) adds E above hull.
    """

    properties = t.Dict()
    debounce = 0.05

    def __init__(self, source: Any, model: Any = None, hull: Any = None, references: dict | None = None):
        self.source = source
        self.model = load_model() if model is None else load_model(model) if isinstance(model, str) else model
        self.hull = hull
        self.references = references
        self.job: Job | None = None
        self._pending = None
        self._bulk_for: Structure | None = None  # the structure the bulk modulus was fitted for
        self.n_updates = 0
        self.table = W.HTML()
        self.status = W.HTML()  # the live computation
        self.message = W.HTML()  # what the buttons did (a result applied or not, and why)
        self.errors = W.Output()  # tracebacks of what failed
        eos = W.Button(description="Bulk modulus", icon="compress")
        relax_button = W.Button(description="Relax", icon="arrow-down")
        eos.on_click(guarded(self.message, self.errors, "bulk modulus failed", self.compute_bulk_modulus))
        relax_button.on_click(guarded(self.message, self.errors, "relax failed", self.relax))
        super().__init__([self.table, W.HBox([eos, relax_button]), self.status, self.message, self.errors],
                         layout=W.Layout(min_width="320px"))
        if hasattr(source, "structure") and isinstance(source, t.HasTraits) and source.has_trait("structure"):
            source.observe(lambda _: self.schedule(), "structure")
        elif hasattr(source, "positions") and isinstance(source, t.HasTraits):
            source.observe(lambda _: self.schedule(), ["positions", "numbers", "cell"])
        self.refresh()

    @property
    def structure(self) -> Structure:
        s = getattr(self.source, "structure", self.source)
        return as_batch(s).to_structures()[0]

    # ---- recompute ----------------------------------------------------------------------------
    def schedule(self) -> None:
        """Debounced refresh: a burst of edits gives one computation."""
        loop = kernel_loop()
        if self._pending is not None:
            self._pending.cancel()
        if self.job is not None and self.job.running:
            self.job.cancel()
        self._drop_stale_bulk_modulus()
        self._pending = loop.call_later(self.debounce, guarded(self.status, self.errors, "prediction failed", self.refresh))

    def refresh(self) -> Job:
        self._pending = None
        if self.job is not None and self.job.running:
            self.job.cancel()
        structure, model, hull, refs = self.structure, self.model, self.hull, self.references
        self.status.value = "computing…"
        self.job = Job(lambda: iter_properties(structure, model, hull, refs), self._on_items, self._on_done, rate=20).start()
        return self.job

    def _on_items(self, job: Job, items: list) -> None:
        if job is not self.job:
            return  # stale: the structure changed since
        keep = {"bulk_modulus": self.properties["bulk_modulus"]} if "bulk_modulus" in self.properties else {}
        self.properties = {**items[-1], **keep}
        self._drop_stale_bulk_modulus()
        self.n_updates += 1
        self._render()

    def _drop_stale_bulk_modulus(self) -> None:
        """A bulk modulus holds only for the structure it was fitted for (a strain makes it stale)."""
        if "bulk_modulus" in self.properties and not (self._bulk_for is not None and same_structure(self._bulk_for, self.structure)):
            self.properties = {k: v for k, v in self.properties.items() if k != "bulk_modulus"}
            self._bulk_for = None
            self._render()

    def _on_done(self, job: Job) -> None:
        if job is not self.job:
            return
        if job.status == "error":
            show_error(self.status, self.errors, "prediction failed", job.error, job.error_traceback)
        elif job.status == "done":
            self.status.value = ""

    def _render(self) -> None:
        p = self.properties
        rows = [f"<tr><td>{label}</td><td style='text-align:right'>{fmt.format(p[key])}</td></tr>"
                for key, label, fmt in ROWS if p.get(key) is not None]
        self.table.value = f"<b>{html.escape(str(p.get('formula', '')))}</b> ({p.get('n_atoms', '')} atoms)<table>{''.join(rows)}</table>"

    # ---- buttons ------------------------------------------------------------------------------
    def compute_bulk_modulus(self) -> Job:
        structure, model = self.structure, self.model

        def run():
            yield bulk_modulus(structure, model)

        def got(job, items):
            if not same_structure(structure, self.structure):
                self.message.value = "bulk modulus not shown: the structure changed while it was being fitted"
                return
            self._bulk_for = structure
            self.properties = {**self.properties, "bulk_modulus": items[-1]["B_GPa"]}
            self._render()
            self.message.value = ""

        def done(job):
            if job.status == "error":
                show_error(self.message, self.errors, "bulk modulus failed", job.error, job.error_traceback)

        self.message.value = "fitting E(V)…"
        return Job(run, got, done, rate=5).start()

    def relax(self) -> Job:
        """Relax positions and cell; a builder source takes the result as an edit (undoable)."""
        structure, model = self.structure, self.model

        def run():
            yield relax(structure, model, fmax=0.05, steps=300)

        def got(job, items):
            res = items[-1]
            if not same_structure(structure, self.structure):  # never overwrite an edit made meanwhile
                self.message.value = "relax result not applied: the structure changed while relaxing"
                return
            if hasattr(self.source, "apply"):
                self.source.apply(lambda _: res.structure)
            elif hasattr(self.source, "push_frame"):
                self.source.structure = res.structure
            self.message.value = f"relaxed in {res.steps} steps (converged: {res.converged})"

        def done(job):  # never "relaxing…" forever
            if job.status == "error":
                show_error(self.message, self.errors, "relax failed", job.error, job.error_traceback)
            elif job.status == "cancelled":
                self.message.value = "relax cancelled"

        self.message.value = "relaxing…"
        return Job(run, got, done, rate=5).start()


def same_structure(a: Structure, b: Structure, tol: float = 1e-6) -> bool:
    """Same species, cell and positions (no symmetry matching: an edit is a change)."""
    if len(a) != len(b) or [sp.symbol for sp in a.species] != [sp.symbol for sp in b.species]:
        return False
    if not np.allclose(a.lattice.matrix, b.lattice.matrix, atol=tol):
        return False
    d = a.frac_coords - b.frac_coords
    return bool(np.allclose(d - np.round(d), 0.0, atol=tol))
