"""HullExplorer: an interactive convex hull that fills in as candidates finish."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import traitlets as t

from matwidgets.engine.hull import HullResult, is_chemsys, iter_hull, parse_chemsys
from matwidgets.engine.models import load_model
from matwidgets.engine.optimize import relax
from matwidgets.errors import InvalidChemsysError
from matwidgets.jobs import Job
from matwidgets.widgets.feedback import guarded, show_error
from matwidgets.widgets.hull_plot import hull_figure
from matwidgets.widgets.structure_view import StructureView
from matwidgets.widgets.validate import check_engine_kwargs


class HullExplorer(W.VBox):
    """Convex hull of a chemical system ("Li-Fe-O") or of given entries/structures.

    Click a point to see its structure, E_form, E_hull and decomposition; the
    clicked entry is ``explorer.selected`` (observable). More than 4 elements gets
    a table instead of a plot.
    """

    selected = t.Any(None)  # the clicked pymatgen entry

    def __init__(self, chemsys_or_entries: Any, model: Any = None, threshold: float = 0.1, autostart: bool = True, **hull_kw: Any):
        check_engine_kwargs("HullExplorer", iter_hull, hull_kw, taken=("chemsys_or_entries", "model"))
        self._source = chemsys_or_entries
        self._model = model
        self._hull_kw = hull_kw
        self.entries: list = []
        self.failed: list = []
        self.result: HullResult | None = None
        self.added: list[dict] = []  # what add() found, one dict per added candidate
        self.job: Job | None = None
        self.add_job: Job | None = None
        self._rebuild_error: BaseException | None = None  # the last rebuild's failure, if it failed
        self._waiting_for = ""  # why there is no hull yet (elemental references missing)
        self._elements = parse_chemsys(chemsys_or_entries) if is_chemsys(chemsys_or_entries) else None
        self._groups: list[list] = [[], []]

        self.figure = go.FigureWidget()
        self.threshold = W.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.005, description="E_hull ≤", readout_format=".3f",
                                       continuous_update=False, layout=W.Layout(width="380px"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="candidates", layout=W.Layout(width="380px"))
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.status = W.HTML("")
        self.info = W.HTML("<i>click a point to see its structure</i>", layout=W.Layout(width="360px"))
        self.view = StructureView(height=320)
        self.table = W.HTML()
        self.errors = W.Output()
        self.threshold.observe(guarded(self.status, self.errors, "redrawing the hull failed", self._redraw), "value")
        self.stop_button.on_click(guarded(self.status, self.errors, "stop failed", self.stop))
        side = W.VBox([self.view, self.info], layout=W.Layout(width="380px"))
        super().__init__([W.HBox([self.threshold, self.progress, self.stop_button]), self.status,
                          W.HBox([self.figure, side]), self.table, self.errors])
        if autostart:
            self.start()

    # ---- running --------------------------------------------------------------------------
    def start(self) -> Job:
        """Compute (or load from the cache) the candidates in the background."""
        model = self._model
        source, kw = self._source, self._hull_kw
        self.job = Job(lambda: iter_hull(source, model, **kw), self._on_progress, self._on_done, rate=4).start()
        self.stop_button.disabled = False
        self.status.value = "computing candidates…"
        return self.job

    def stop(self) -> None:
        """Stop computing; finished candidates stay (and are cached)."""
        if self.job is not None:
            self.job.cancel()

    def _on_progress(self, job: Job, steps: list) -> None:
        for st in steps:
            self.entries.extend(st.new_entries)
            self.failed.extend(st.new_failures)
            self.progress.max, self.progress.value = max(st.total, 1), st.done
        self._rebuild()

    def _on_done(self, job: Job) -> None:
        self.stop_button.disabled = True
        if job.status == "error":
            show_error(self.status, self.errors, "computing the hull failed", job.error, job.error_traceback)
            return
        self._rebuild()
        if self._rebuild_error is not None:
            return  # the failure stays on show
        if self.result is None:
            show_error(self.status, self.errors, "no hull", InvalidChemsysError(self._waiting_for or "no entries"))
            return
        n_fail = len(self.failed)
        self.status.value = f"{job.status}: {len(self.entries)} entries" + (f", {n_fail} failed (see to_dataframe())" if n_fail else "")

    # ---- the plot -------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """A new HullResult from the entries so far, and the plot; failures are shown, not raised."""
        try:
            try:
                self.result = HullResult(self.entries, self.failed, self._elements)
            except InvalidChemsysError as err:  # not all elemental references are in yet
                self._waiting_for = str(err)
                return
            self._redraw()
        except Exception as err:
            self._rebuild_error = err
            show_error(self.status, self.errors, "rebuilding the hull failed", err)
        else:
            self._rebuild_error = None

    def _redraw(self) -> None:
        if self.result is None:
            return
        elements = self._elements or [el.symbol for el in self.result.phase_diagram.elements]
        if len(elements) > 4 or len(elements) < 2:
            self.table.value = self.to_dataframe().to_html(max_rows=200, float_format=lambda x: f"{x:.4f}")
            return
        fig, self._groups = hull_figure(self.result, self.threshold.value, elements)
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.layout = fig.layout
            self.figure.add_traces(fig.data)
        for trace in self.figure.data[:2]:
            trace.on_click(self._on_click)

    def _on_click(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        group = 0 if trace.name == "stable" else 1
        self.select(self._groups[group][points.point_inds[0]])

    def select(self, entry) -> None:
        """Show an entry (as if its point was clicked)."""
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        self.selected = entry
        structure = getattr(entry, "structure", None)
        spg = ""
        if structure is not None:
            self.view.structure = structure
            self.view.reset_view()
            try:
                spg = SpacegroupAnalyzer(structure, symprec=0.1).get_space_group_symbol()
            except Exception:  # spglib can fail on distorted cells; the rest still shows
                spg = "?"
        r = self.result
        self.info.value = (
            f"<b>{entry.composition.reduced_formula}</b> &nbsp; {html.escape(spg)}<br>"
            f"E_form = {r.formation_energy(entry):.3f} eV/atom<br>E_hull = {1000 * r.e_above_hull(entry):.1f} meV/atom<br>"
            f"{html.escape(r.reaction(entry))}<br><small>{html.escape(str(entry.data.get('source', '')))}: "
            f"{html.escape(str(entry.data.get('label', '')))}</small>"
        )

    # ---- adding and exporting -------------------------------------------------------------
    def add(self, structure: Any, name: str = "added") -> Job:
        """Relax a new candidate with the model in the background and put it on the hull.

        Returns the Job (the kernel stays free: ``await job.wait_async()`` in a notebook,
        ``job.wait()`` in a script). When it is done, ``explorer.added[-1]`` holds
        {"entry", "e_above_hull", "e_form", "reaction"} against the hull as it was
        before the candidate joined, and the candidate is selected. Failures are shown
        in the widget and kept in ``job.error``.
        """
        from pymatgen.entries.computed_entries import ComputedStructureEntry

        if self.result is None:
            raise ValueError("the hull is not built yet: add candidates once its elemental references are in")
        model = self._model

        def run():
            yield relax(structure, load_model() if model is None else model, fmax=0.05, steps=300)

        def got(job, items):
            res = items[-1]
            entry = ComputedStructureEntry(res.structure, res.energy, entry_id=f"{name}-{len(self.entries)}",
                                           data={"source": "user", "label": name})
            before = self.result
            out = {"entry": entry, "e_above_hull": before.e_above_hull(entry), "e_form": before.formation_energy(entry),
                   "reaction": before.reaction(entry)}
            self.entries.append(entry)
            self._rebuild()
            if self._rebuild_error is not None:
                return
            self.added.append(out)
            self.select(entry)
            self.status.value = f"added {html.escape(name)}: E_hull = {1000 * out['e_above_hull']:.1f} meV/atom before it joined"

        def done(job):
            if job.status == "error":
                show_error(self.status, self.errors, f"adding {name} failed", job.error, job.error_traceback)

        self.status.value = f"relaxing {html.escape(name)}…"
        self.add_job = Job(run, got, done, rate=5).start()
        return self.add_job

    def to_dataframe(self):
        return self.result.to_dataframe()

    def to_html(self, path: str | os.PathLike) -> str:
        """A standalone HTML file of the plot (plotly.js inlined, works offline)."""
        fig, _ = hull_figure(self.result, self.threshold.value, self._elements)
        fig.write_html(os.fspath(path), include_plotlyjs=True, full_html=True)
        return os.fspath(path)

    def write_cifs(self, directory: str | os.PathLike) -> list[str]:
        """CIF files of the stable entries that have structures."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for k, e in enumerate(self.result.stable_entries):
            if getattr(e, "structure", None) is not None:
                p = out / f"{e.composition.reduced_formula}_{k}.cif"
                e.structure.to(filename=str(p))
                paths.append(str(p))
        return paths

