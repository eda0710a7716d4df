"""PropertyPanel: live predicted properties of a structure that is being edited."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import traitlets as t
from pymatgen.core import Structure

from matwidgets.engine.models import load_model
from matwidgets.engine.optimize import relax
from matwidgets.engine.properties import bulk_modulus, iter_properties
from matwidgets.jobs import Job, kernel_loop
from matwidgets.widgets.adapters import as_batch

ROWS = [
    ("energy_per_atom", "energy", "{:.4f} eV/atom"),
    ("e_form", "formation energy", "{:.4f} eV/atom"),
    ("e_above_hull", "E above hull", "{:.4f} eV/atom"),
    ("max_force", "max force", "{:.3f} eV/Å"),
    ("pressure", "pressure", "{:.2f} GPa"),
    # CHGNet predicts moment magnitudes |m| per atom: a "total" would be a sum of |m|, not
    # a net moment, so per-atom magnitudes are shown (the engine's total_magmom is not)
    ("max_magmom", "largest |m| on an atom", "{:.3f} μB"),
    ("mean_abs_magmom", "mean |m| per atom", "{:.3f} μB"),
    ("volume_per_atom", "volume", "{:.2f} Å³/atom"),
    ("density", "density", "{:.3f} g/cm³"),
    ("spacegroup", "space group", "{}"),
    ("bulk_modulus", "bulk modulus (BM fit)", "{:.1f} GPa"),
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
        self.n_updates = 0
        self.table = W.HTML()
        self.status = W.HTML()
        eos = W.Button(description="Bulk modulus", icon="compress")
        relax_button = W.Button(description="Relax", icon="arrow-down")
        eos.on_click(lambda _: self.compute_bulk_modulus())
        relax_button.on_click(lambda _: self.relax())
        super().__init__([self.table, W.HBox([eos, relax_button]), self.status], layout=W.Layout(min_width="320px"))
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
        self._pending = loop.call_later(self.debounce, self.refresh)

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
        keep = {k: v for k, v in self.properties.items() if k == "bulk_modulus" and self.properties.get("formula") == items[-1]["formula"]}
        self.properties = {**items[-1], **keep}
        self.n_updates += 1
        self._render()

    def _on_done(self, job: Job) -> None:
        if job is not self.job:
            return
        if job.status == "error":
            self.status.value = f"<b style='color:#b00'>{html.escape(str(job.error))}</b>"
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
            self.properties = {**self.properties, "bulk_modulus": items[-1]["B_GPa"]}
            self._render()

        self.status.value = "fitting E(V)…"
        return Job(run, got, lambda j: setattr(self.status, "value", f"<b style='color:#b00'>{html.escape(str(j.error))}</b>" if j.error else ""), rate=5).start()

    def relax(self) -> Job:
        """Relax positions and cell; a builder source takes the result as an edit (undoable)."""
        structure, model = self.structure, self.model

        def run():
            yield relax(structure, model, fmax=0.05, steps=300)

        def got(job, items):
            res = items[-1]
            if hasattr(self.source, "apply"):
                self.source.apply(lambda _: res.structure)
            elif hasattr(self.source, "push_frame"):
                self.source.structure = res.structure
            self.status.value = f"relaxed in {res.steps} steps (converged: {res.converged})"

        self.status.value = "relaxing…"
        return Job(run, got, rate=5).start()
