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
from matwidgets.widgets.feedback import guarded
from matwidgets.widgets.structure_view import StructureView
from matwidgets.widgets.validate import check_engine_kwargs

N_BARS = 15


class ShapView(W.VBox):
    """Explain a prediction: SHAP values per atom, symmetry orbit or motif.

    Changing group, masker or target recomputes in the background (progress bar);
    hovering or clicking a bar highlights that player's atoms in the structure.
    ``shap_view.attribution`` holds the latest result.
    """

    attribution = t.Instance(Attribution, allow_none=True)

    def __init__(self, structure: Any, model: Any = None, target: str = "energy_per_atom", group: str = "atom",
                 masker: str = "remove", method: str | None = None, autostart: bool = True, **explain_kw: Any):
        check_engine_kwargs("ShapView", iter_explain, explain_kw, taken=("structure", "model", "target", "group", "masker", "method"))
        self._structure = structure
        self._model = model
        self._kw = explain_kw
        self.job: Job | None = None
        self.view = StructureView(structure, height=380)
        self.group = W.Dropdown(options=["atom", "orbit", "motif"], value=group, description="players", layout=W.Layout(width="200px"))
        self.masker = W.Dropdown(options=["remove", "substitute", "model"], value=masker, description="masker", layout=W.Layout(width="220px"))
        self.target = W.Dropdown(options=["energy_per_atom", "energy", "magmom", "pressure"], value=target, description="target",
                                 layout=W.Layout(width="240px"))
        self.method = method
        self.progress = W.FloatProgress(value=0, min=0, max=1, description="computing", layout=W.Layout(width="300px"))
        self.summary = W.HTML()
        self.errors = W.Output()
        self.bars = go.FigureWidget(go.Bar(x=[], y=[], orientation="h", marker=dict(color=[])))
        self.bars.update_layout(height=380, width=420, margin=dict(l=140, r=10, t=30, b=40), xaxis_title="SHAP value",
                                yaxis=dict(autorange="reversed"), title="largest contributions")
        self.bars.data[0].on_hover(self._on_bar)
        self.bars.data[0].on_click(self._on_bar)
        for w in (self.group, self.masker, self.target):
            w.observe(guarded(self.summary, self.errors, "explaining failed", self.compute), "value")
        super().__init__([W.HBox([self.group, self.masker, self.target, self.progress]), self.summary,
                          W.HBox([self.view, self.bars]), self.errors])
        if autostart:
            self.compute()

    def compute(self) -> Job:
        """(Re)compute in the background; a newer request replaces a running one."""
        if self.job is not None and self.job.running:
            self.job.cancel()
        kw = dict(model=self._model, target=self.target.value, group=self.group.value, masker=self.masker.value, **self._kw)
        if self.method is not None:
            kw["method"] = self.method
        structure = self._structure
        self.progress.value = 0
        self.progress.bar_style = ""
        self.job = Job(lambda: iter_explain(structure, **kw), self._on_items, self._on_done, rate=10).start()
        return self.job

    def _on_items(self, job: Job, items: list) -> None:
        if job is not self.job:
            return
        for item in items:
            if isinstance(item, Attribution):
                self._show(item)
            else:
                self.progress.value = float(item)

    def _on_done(self, job: Job) -> None:
        if job is not self.job:
            return
        if job.status == "error":
            self.progress.bar_style = "danger"
            self.summary.value = f"<b style='color:#b00'>{html.escape(str(job.error))}</b>"
            self.errors.append_stderr(job.error_traceback)

    def _show(self, a: Attribution) -> None:
        self.attribution = a
        self.progress.value = 1
        self.progress.bar_style = "success"
        self.view.color_by(a.per_atom(), center=0.0, label=f"SHAP ({a.target}, eV)")
        order = np.argsort(-np.abs(a.values))[:N_BARS]
        self._bar_players = [a.players[i] for i in order]
        with self.bars.batch_update():
            bar = self.bars.data[0]
            bar.x = a.values[order]
            bar.y = [a.names[i] for i in order]
            bar.marker.color = ["#b2182b" if a.values[i] > 0 else "#2166ac" for i in order]
        self.summary.value = (f"{a.method} Shapley values of <b>{a.target}</b> over {len(a.players)} {a.group} players "
                              f"({a.n_evaluations} evaluations): f(full) = {a.full_value:.4f}, baseline = {a.base_value:.4f}, "
                              f"sum-rule residual = {a.residual:.1e}")

    def _on_bar(self, trace, points, state) -> None:
        if points.point_inds:
            self.view.selected = list(self._bar_players[points.point_inds[0]])
