"""ShapView: atoms coloured by SHAP values, with a bar chart of the largest players."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import traitlets as t

from matwidgets.engine.explain import Attribution, iter_explain
from matwidgets.jobs import Job
from matwidgets.widgets import adapters
from matwidgets.widgets.feedback import guarded
from matwidgets.widgets.structure_view import StructureView
from matwidgets.widgets.validate import check_engine_kwargs

N_BARS = 15
UNITS = {"energy": "eV", "energy_per_atom": "eV/atom", "formation_energy": "eV/atom", "e_above_hull": "eV/atom",
         "pressure": "GPa", "magmom": "μB"}
TARGETS = [("formation energy per atom", "formation_energy"), ("energy per atom", "energy_per_atom"), ("total energy", "energy"),
           ("pressure", "pressure"), ("magnetic moment", "magmom")]
MASKERS = {
    "remove": "an absent atom is deleted from the cell (the lattice stays)",
    "substitute": "an absent atom is replaced by a reference species ({reference}) in the same place",
    "model": "an absent atom keeps its place, but its contribution is switched off inside the network",
}


class ShapView(W.VBox):
    """Explain a prediction: SHAP values per atom, symmetry orbit or motif.

    The default target is the formation energy per atom, against elemental references
    relaxed with the same model (``elemental_references``, computed in the job; pass
    ``references={el: eV/atom}`` to use your own). Changing group, masker or target
    recomputes in the background (progress bar); hovering a bar highlights that
    player's atoms while the pointer is on it, clicking keeps them selected.
    ``shap_view.attribution`` holds the latest result.
    """

    attribution = t.Instance(Attribution, allow_none=True)

    def __init__(self, structure: Any, model: Any = None, target: str = "formation_energy", group: str = "atom",
                 masker: str = "remove", method: str | None = None, autostart: bool = True, **explain_kw: Any):
        check_engine_kwargs("ShapView", iter_explain, explain_kw, taken=("structure", "model", "target", "group", "masker", "method"))
        self._structure = structure
        self._model = model
        self._kw = explain_kw
        self._references = explain_kw.pop("references", None)  # {element: eV/atom}; computed in the first job that needs them
        self.job: Job | None = None
        self._bar_players: list = []
        self._clicked: list[int] = []  # the atoms of the clicked bar (kept when the pointer leaves)
        self.view = StructureView(structure, height=380)
        self.group = W.Dropdown(options=["atom", "orbit", "motif"], value=group, description="players", layout=W.Layout(width="200px"))
        self.masker = W.Dropdown(options=list(MASKERS), value=masker, description="masker", layout=W.Layout(width="220px"))
        options = TARGETS if target in dict(TARGETS).values() else TARGETS + [(target, target)]
        self.target = W.Dropdown(options=options, value=target, description="target", layout=W.Layout(width="300px"))
        self.method = method
        self.progress = W.FloatProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="300px"),
                                        style={"description_width": "initial"})
        self.masker_help = W.HTML()
        self.summary = W.HTML()
        self.errors = W.Output()
        self.bars = go.FigureWidget(go.Bar(x=[], y=[], orientation="h", marker=dict(color=[])))
        self.bars.update_layout(height=380, width=440, margin=dict(l=140, r=10, t=40, b=50), yaxis=dict(autorange="reversed"))
        self.bars.data[0].on_hover(self._on_bar_hover)
        self.bars.data[0].on_unhover(self._on_bar_unhover)
        self.bars.data[0].on_click(self._on_bar_click)
        for w in (self.group, self.masker, self.target):
            w.observe(guarded(self.summary, self.errors, "explaining failed", self.compute), "value")
        super().__init__([W.HBox([self.group, self.masker, self.target, self.progress]), self.masker_help, self.summary,
                          W.HBox([self.view, self.bars]), self.errors])
        if autostart:
            self.compute()

    @property
    def unit(self) -> str:
        return UNITS.get(self.target.value, "")

    def compute(self) -> Job:
        """(Re)compute in the background; a newer request replaces a running one."""
        if self.job is not None and self.job.running:
            self.job.cancel()
        target = self.target.value
        kw = dict(model=self._model, target=target, group=self.group.value, masker=self.masker.value, **self._kw)
        if self.method is not None:
            kw["method"] = self.method
        structure, model, refs = self._structure, self._model, self._references

        def run():
            nonlocal refs
            if target == "formation_energy" and refs is None:
                from matwidgets.engine.hull import elemental_references

                elements = sorted({site.specie.symbol for site in adapters.as_batch(structure).to_structures()[0]})
                refs = elemental_references(elements, model)
                yield ("references", refs)
            if target == "formation_energy":
                kw["references"] = refs
            yield from iter_explain(structure, cancel=lambda: job.cancelled, **kw)  # Stop acts inside kernel SHAP too

        self._clear()
        self.masker_help.value = f"<small><b>{html.escape(self.masker.value)}</b>: " \
            f"{html.escape(MASKERS[self.masker.value].format(reference=self._kw.get('reference', 'He')))}</small>"
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.progress.description = "references…" if target == "formation_energy" and refs is None else "computing…"
        job = Job(run, self._on_items, self._on_done, rate=10)
        self.job = job.start()
        return self.job

    def _clear(self) -> None:
        """Nothing of the previous target stays on show (colours, tooltip values, bars, highlight)."""
        self.attribution = None
        self.view.color_by(None)
        self.view.selected = []
        self._clicked, self._bar_players = [], []
        with self.bars.batch_update():
            self.bars.data[0].x, self.bars.data[0].y, self.bars.data[0].marker.color = [], [], []
        self.summary.value = ""

    def _on_items(self, job: Job, items: list) -> None:
        if job is not self.job:
            return
        for item in items:
            if isinstance(item, Attribution):
                self._show(item)
            elif isinstance(item, tuple) and item[0] == "references":
                self._references = item[1]
                self.progress.description = "computing…"
            else:
                self.progress.value = float(item)

    def _on_done(self, job: Job) -> None:
        if job is not self.job:
            return
        if job.status == "error":
            self.progress.bar_style = "danger"
            self.progress.description = "failed"
            self.summary.value = f"<b style='color:#b00'>{html.escape(str(job.error))}</b>"
            self.errors.append_stderr(job.error_traceback)
        elif job.status == "cancelled":
            self.progress.bar_style, self.progress.description = "warning", "stopped"
        else:
            self.progress.value, self.progress.bar_style, self.progress.description = 1, "success", "done"

    def _show(self, a: Attribution) -> None:
        self.attribution = a
        unit = self.unit
        per = "" if a.group == "atom" else f"; each {a.group}'s total shared equally by its atoms"
        self.view.color_by(a.per_atom(), center=0.0, label=f"SHAP per atom, {unit}{per}")
        order = np.argsort(-np.abs(a.values))[:N_BARS]
        self._bar_players = [a.players[i] for i in order]
        with self.bars.batch_update():
            bar = self.bars.data[0]
            bar.x = a.values[order]
            bar.y = [a.names[i] for i in order]
            bar.marker.color = ["#b2182b" if a.values[i] > 0 else "#2166ac" for i in order]
            what = "atoms" if a.group == "atom" else f"{a.group} totals (all its atoms together)"
            self.bars.layout.title = f"largest contributions: {what}"
            self.bars.layout.xaxis.title = f"SHAP value of {a.target} ({unit})"
        self.summary.value = (f"{a.method} Shapley values of <b>{a.target}</b> over {len(a.players)} {a.group} players "
                              f"({a.n_evaluations} evaluations): f(full) = {a.full_value:.4f} {unit}, "
                              f"baseline = {a.base_value:.4f} {unit}, sum-rule residual = {a.residual:.1e} {unit}")

    def _players_at(self, points) -> list[int] | None:
        if points.point_inds and points.point_inds[0] < len(self._bar_players):
            return list(self._bar_players[points.point_inds[0]])
        return None

    def _on_bar_hover(self, trace, points, state) -> None:
        atoms = self._players_at(points)
        if atoms is not None:
            self.view.selected = atoms

    def _on_bar_unhover(self, trace, points, state) -> None:
        self.view.selected = list(self._clicked)  # the hover highlight goes; a clicked bar's stays

    def _on_bar_click(self, trace, points, state) -> None:
        atoms = self._players_at(points)
        if atoms is not None:
            self._clicked = atoms
            self.view.selected = atoms
