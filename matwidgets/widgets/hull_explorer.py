"""HullExplorer: an interactive convex hull that fills in as candidates finish."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import traitlets as t

from matwidgets.engine.corrections import Corrector
from matwidgets.engine.hull import HullResult, is_chemsys, rejection_record, iter_hull, parse_chemsys
from matwidgets.engine.hull_stages import entry_key, merge_progress
from matwidgets.engine.models import load_model
from matwidgets.engine.optimize import relax
from matwidgets.errors import InvalidChemsysError
from matwidgets.jobs import Job
from matwidgets.widgets.feedback import guarded, show_error
from matwidgets.widgets.fit_width import FitWidth
from matwidgets.widgets.hull_plot import MISSING, POINT_TRACES, coordinates, entry_title, hull_figure, origin, polymorphs
from matwidgets.widgets.hull_search import HullSearch
from matwidgets.widgets.structure_view import StructureView
from matwidgets.widgets.validate import check_engine_kwargs


# the correction menu: label -> iter_hull's correction= (engine/corrections.py)
CORRECTIONS = [("none (model energies)", None), ("MP2020", "mp2020"), ("fitted (FERE)", "fitted")]


class HullExplorer(HullSearch, W.VBox):
    """Convex hull of a chemical system ("Li-Fe-O") or of given entries/structures.

    Points appear within seconds (a single point for every candidate) and move as the
    candidates refine: a short relaxation for all, then a full one for those within
    ``window`` of the hull (the hover names each point's stage; ``stage_counts``). Until every candidate is
    final the references are provisional (each element's lowest energy so far; the
    compounds of an element with no reference yet wait). Click a point (or pick a
    polymorph in the side panel) to see its structure, E_form, E_hull and decomposition;
    the chosen entry is ``explorer.selected`` (observable). ``threshold`` is in eV/atom;
    the slider shows meV/atom. More than 4 elements gets a table instead of a plot.
    ``search(formula, n)`` (or the search box) adds a seeded random search of one
    composition; the candidates per source are counted above the plot. The correction
    menu (or ``set_correction``) switches the energy correction of the model's entries
    (``correction=`` of iter_hull) without recomputing anything.
    """

    selected = t.Any(None)  # the clicked pymatgen entry

    def __init__(self, chemsys_or_entries: Any, model: Any = None, threshold: float = 0.1, autostart: bool = True, **hull_kw: Any):
        check_engine_kwargs("HullExplorer", iter_hull, hull_kw, taken=("chemsys_or_entries", "model"))
        self._source = chemsys_or_entries
        self._model = model
        self._hull_kw = hull_kw
        self._found: dict = {}  # {entry_key: entry}: a candidate's refined entry replaces its provisional one
        self.failed: list = []
        self.workers: dict[str, int] = {}  # on a dask cluster (client=): candidates finished per worker
        self.result: HullResult | None = None
        self.added: list[dict] = []  # what add() found, one dict per added candidate
        self.job: Job | None = None
        self.add_job: Job | None = None
        self.search_job: Job | None = None
        self.searches: list[dict] = []  # {"formula", "n", "seed"} of each search() so far
        self._sources: dict[int, dict[str, int]] = {}  # job id -> its candidates per source
        self._rebuild_error: BaseException | None = None  # the last rebuild's failure, if it failed
        self._waiting_for = ""  # why there is no hull yet (elemental references missing)
        self._missing: list[str] = []  # elements with no reference (yet): their compounds are not drawn
        self._elements = parse_chemsys(chemsys_or_entries) if is_chemsys(chemsys_or_entries) else None
        self._groups: dict[str, list] = {}
        self._polymorph_entries: list = []  # the entries behind the polymorph menu's options
        self._choosing = False  # loop guard: select() sets the polymorph menu, whose observer selects

        self.figure = go.FigureWidget(layout=dict(height=480, autosize=True))
        self.threshold = W.FloatSlider(value=1000 * threshold, min=0.0, max=1000.0, step=5.0, description="E_hull ≤",
                                       readout_format=".0f", continuous_update=False, layout=W.Layout(width="330px"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="candidates", layout=W.Layout(width="300px"))
        self.count = W.Label("")
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.status = W.HTML("")
        self.info = W.HTML("<i>click a point to see its structure</i>")
        self.polymorphs = W.Dropdown(options=[], description="polymorph", layout=W.Layout(width="100%", display="none"))
        self.polymorphs.add_class("mw-polymorphs")
        self.view = StructureView(height=320)
        self.table = W.HTML()
        self.errors = W.Output()
        self.sources = W.HTML("")
        self.missing = W.HTML(f"<small><i>{html.escape(MISSING)}</i></small>")
        self.search_formula = W.Text(placeholder="e.g. Li5FeO4", description="search", layout=W.Layout(width="220px"))
        self.search_n = W.BoundedIntText(value=30, min=1, max=1000, description="n", layout=W.Layout(width="130px"))
        self.search_button = W.Button(description="Random search", icon="search")
        given = hull_kw.get("correction")
        options = [*CORRECTIONS, *([("your shifts", given)] if isinstance(given, Mapping) else [])]
        self.correction = W.Dropdown(options=[label for label, _ in options], description="correction",
                                     value=next(label for label, v in options if v == given), layout=W.Layout(width="260px"),
                                     tooltip="energy correction of the model's entries (nothing is recomputed)")
        self._correction_options = dict(options)
        self.correction.observe(guarded(self.status, self.errors, "switching the correction failed", self._on_correction), "value")
        self.search_button.on_click(guarded(self.status, self.errors, "random search failed",
                                            lambda: self.search(self.search_formula.value, self.search_n.value)))
        self.threshold.observe(guarded(self.status, self.errors, "redrawing the hull failed", self._redraw), "value")
        self.stop_button.on_click(guarded(self.status, self.errors, "stop failed", self.stop))
        self.polymorphs.observe(guarded(self.status, self.errors, "showing the polymorph failed", self._on_polymorph), "value")
        side = W.VBox([self.view, self.polymorphs, self.info], layout=W.Layout(width="360px", flex="0 0 360px"))
        # a column the figure stretches across; FitWidth refits the figure when its width changes
        plot = W.VBox([self.figure, FitWidth()], layout=W.Layout(flex="1 1 auto", min_width="420px"))
        controls = W.HBox([self.threshold, W.Label("meV/atom"), self.correction, self.progress, self.count, self.stop_button],
                          layout=W.Layout(flex_flow="row wrap", align_items="center"))
        search_row = W.HBox([self.search_formula, self.search_n, self.search_button, self.sources],
                            layout=W.Layout(flex_flow="row wrap", align_items="center"))
        # the search row below the plot, beside the legend of what can be missing (above it, its late
        # render left the figure at its first width)
        super().__init__([controls, self.status, W.HBox([plot, side], layout=W.Layout(width="100%")), self.table,
                          search_row, self.missing, self.errors])
        self._set_running(False)
        if autostart:
            self.start()

    @property
    def entries(self) -> list:
        """Every entry so far, one per candidate (its latest stage), given and added ones included."""
        return list(self._found.values())

    @property
    def stage_counts(self) -> dict[str, int]:
        """Candidates per stage so far ({"relaxed": 40, "screened out": 200, ...}; failures as "failed")."""
        counts: dict[str, int] = {}
        for e in self._found.values():
            stage = e.data.get("stage", "given")
            counts[stage] = counts.get(stage, 0) + 1
        if self.failed:
            counts["failed"] = len(self.failed)
        return counts

    @property
    def threshold_ev(self) -> float:
        """The slider's E_hull limit in eV/atom."""
        return self.threshold.value / 1000

    @property
    def provisional(self) -> bool:
        """True while candidates (possibly lower elemental references) are still relaxing."""
        return self.job is not None and not self.job.finished

    # ---- running --------------------------------------------------------------------------
    def start(self) -> Job:
        """Compute (or load from the cache) the candidates in the background."""
        model = self._model
        source, kw = self._source, self._hull_kw
        self.job = Job(lambda: iter_hull(source, model, **kw), self._on_progress, self._on_done, rate=4).start()
        self._set_running(True)
        self.status.value = "relaxing candidates, smallest cells first…"
        return self.job

    def stop(self) -> None:
        """Stop computing (the main run, a random search and an add); finished candidates stay (and are cached)."""
        for job in (self.job, self.search_job, self.add_job):
            if job is not None:
                job.cancel()

    def _set_running(self, running: bool) -> None:
        self.stop_button.disabled = not running
        self.stop_button.button_style = "danger" if running else ""  # a disabled button is not red

    def _on_progress(self, job: Job, steps: list) -> None:
        new = False
        for st in steps:
            new = merge_progress(self._found, self.failed, self._recorrected(st)) or new
            self.progress.max, self.progress.value = max(st.total, 1), st.done if st.total else 1
            stage = f" · {st.stage} {st.stage_done} / {st.stage_total}" if st.stage_total and st.done < st.total else ""
            self.count.value = f"{st.done} / {st.total} final{stage}" if st.total else "given entries"
            if st.workers:  # on a dask cluster: candidates finished by each worker
                self.workers = dict(st.workers)
            self._count_sources(job, st)
        if self.selected is not None and "stage" in self.selected.data:  # follow the selected candidate as it refines
            self.selected = self._found.get(entry_key(self.selected), self.selected)
        if new or self.result is None:  # most steps are optimiser steps with nothing new to draw
            self._rebuild()
        if self._rebuild_error is None:
            self.status.value = self._state_line()

    # ---- the energy correction (engine/corrections.py) -------------------------------------
    def set_correction(self, correction: str | dict | None) -> None:
        """Switch the energy correction of the model's entries: None, "mp2020", "fitted" or
        {element: shift}, as ``correction=`` of iter_hull. Entries keep their raw energies, so
        nothing is recomputed: the hull is redrawn at once. Entries the new scheme rejects are
        listed as failed; those an earlier scheme rejected come back when the new one takes
        them. Given entries are left as they are. Runs started later use it too."""
        corrector = self._make_corrector(correction)  # a bad name or "fitted" for another model fails here
        # corrected copies first (apply copies, changes nothing): if it raises, nothing is lost
        rejections = [f for f in self.failed if "rejected_entry" in f]
        keys = [k for k, e in self._found.items() if "correction" in e.data]
        ok, bad = corrector.apply([f["rejected_entry"] for f in rejections] + [self._found[k] for k in keys])
        selected = self.selected
        self._corrector, self._hull_kw["correction"] = corrector, correction
        gone = {id(f) for f in rejections}
        self.failed[:] = [f for f in self.failed if id(f) not in gone]
        for key in keys:
            del self._found[key]
        for e in ok:
            self._found[entry_key(e)] = e
        self.failed.extend(rejection_record(e, corrector.label) for e in bad)
        label = next((k for k, v in self._correction_options.items() if v == correction), None)
        if label is None:  # shifts given here: one more menu entry
            self._correction_options["your shifts"] = correction
            self.correction.options = list(self._correction_options)
            label = "your shifts"
        self._setting_correction = True
        try:
            self.correction.value = label
        finally:
            self._setting_correction = False
        self._rebuild()
        if self._rebuild_error is None:
            self.status.value = self._state_line()
        if selected is not None and "correction" in selected.data:
            # its corrected copy shares its structure (given entries have no stable key)
            now = next((e for e in self._found.values() if e.structure is selected.structure), None)
            if now is not None and self.result is not None:
                self.select(now)  # the info panel shows the new formation energy and distance
            else:
                self.selected = None

    def _on_correction(self) -> None:
        if not getattr(self, "_setting_correction", False):
            try:
                self.set_correction(self._correction_options[self.correction.value])
            except Exception:
                self._setting_correction = True  # the menu goes back to the correction in use
                try:
                    self.correction.value = next(k for k, v in self._correction_options.items() if v == self._hull_kw.get("correction"))
                finally:
                    self._setting_correction = False
                raise

    def _make_corrector(self, correction) -> Corrector:
        model = self._model
        if correction in ("fitted", "mp2020") and (model is None or isinstance(model, str)):  # shifts and warnings are per model
            model = load_model() if model is None else load_model(model)  # cached: the run loaded it already
        return Corrector(correction, model)

    def _recorrected(self, step):
        """A progress step whose computed entries, and the entries its scheme rejected, carry
        the correction chosen in the menu (a run started before the switch still makes them
        with the old one)."""
        corrector = getattr(self, "_corrector", None)
        if corrector is None:
            return step
        stale = [e for e in step.new_entries if e.data.get("correction", corrector.label) != corrector.label]
        refused = [f for f in step.new_failures if "rejected_entry" in f
                   and f["rejected_entry"].data.get("correction") != corrector.label]
        if not stale and not refused:
            return step
        import copy

        step = copy.copy(step)
        ok, bad = corrector.apply(stale + [f["rejected_entry"] for f in refused])
        gone = {id(x) for x in (*stale, *refused)}
        step.new_entries = [e for e in step.new_entries if id(e) not in gone] + ok
        step.new_failures = ([f for f in step.new_failures if id(f) not in gone]
                             + [rejection_record(e, corrector.label) for e in bad])
        return step

    def _state_line(self) -> str:
        if self.result is None:
            return f"relaxing candidates, smallest cells first: {html.escape(self._waiting_for or 'nothing finished yet')}"
        stages = ", ".join(f"{n} {html.escape(k)}" for k, n in sorted(self.stage_counts.items()))
        parts = [f"{len(self.result.entries)} entries on the plot ({stages})"]
        parts.append(f"energy correction: {html.escape(self.result.correction)}")
        if self.workers:
            parts.append("workers: " + ", ".join(f"{html.escape(w)} {n}" for w, n in sorted(self.workers.items())))
        if self.provisional:
            parts.append("<b>provisional: references still relaxing</b> (each element's lowest energy so far)")
        if self._missing:
            parts.append(f"no reference for {', '.join(self._missing)} yet: its compounds wait")
        return "; ".join(parts)

    def _on_done(self, job: Job) -> None:
        self._set_running(self.search_job is not None and not self.search_job.finished)
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
        stages = ", ".join(f"{n} {html.escape(k)}" for k, n in sorted(self.stage_counts.items()) if k != "failed")
        line = f"{job.status}: {len(self._found)} entries ({stages})" + (f", {n_fail} failed (see to_dataframe())" if n_fail else "")
        if self._missing:
            line += f"; no reference for {', '.join(self._missing)}: its compounds are left out"
        line += f"; energy correction: {html.escape(self.result.correction)}"
        if self.workers:
            line += "; workers: " + ", ".join(f"{html.escape(w)} {n}" for w, n in sorted(self.workers.items()))
        self.status.value = line

    # ---- the plot -------------------------------------------------------------------------
    def _all_elements(self) -> list[str]:
        if self._elements is not None:
            return self._elements
        # the order PhaseDiagram uses (Element sorts by electronegativity)
        return [el.symbol for el in sorted({el for e in self.entries for el in e.composition.elements})]

    def _rebuild(self) -> None:
        """A HullResult from the entries so far (those whose elements all have a reference), and the plot.

        Failures are shown, not raised."""
        try:
            elements = self._all_elements()
            have = {e.composition.elements[0].symbol for e in self.entries if len(e.composition.elements) == 1}
            self._missing = [el for el in elements if el not in have]
            usable = [e for e in self.entries if all(el.symbol in have for el in e.composition.elements)]
            if not usable:
                self.result = None
                self._waiting_for = f"cannot build a hull: no elemental reference for {', '.join(self._missing) or 'any element'} yet"
                return
            try:
                self.result = HullResult(usable, self.failed, [el for el in elements if el in have])
            except InvalidChemsysError as err:
                self.result, self._waiting_for = None, str(err)
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
        elements = self._all_elements()
        if len(elements) > 4:
            self.table.value = self.to_dataframe().to_html(max_rows=200, float_format=lambda x: f"{x:.4f}")
            return
        fig, self._groups = hull_figure(self.result, self.threshold_ev, elements, provisional=self.provisional)
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.layout = fig.layout
            self.figure.add_traces(fig.data)
        for trace in self.figure.data:
            if trace.name in POINT_TRACES:
                trace.on_click(self._on_click)
        self._highlight()

    def _highlight(self) -> None:
        """The ring on the selected point (hidden when that point is not on the plot)."""
        ring = next((tr for tr in self.figure.data if tr.name == "selected"), None)
        if ring is None or self.result is None:
            return
        shown = [e for name in POINT_TRACES for e in self._groups.get(name, []) if e is self.selected]
        order = sorted(self.result.entries, key=lambda e: (self.result.formation_energy(e), e.entry_id or ""))
        ring.update(**coordinates(self.result, shown[:1], self._all_elements(), order))

    def _on_click(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        self.select(self._groups[trace.name][points.point_inds[0]])

    def _on_polymorph(self) -> None:
        k = self.polymorphs.value
        if not self._choosing and k is not None:
            self.select(self._polymorph_entries[k])

    def select(self, entry) -> None:
        """Show an entry (as if its point was clicked)."""
        self.selected = entry
        structure = getattr(entry, "structure", None)
        if structure is not None:
            self.view.structure = structure
            self.view.reset_view()
        r = self.result
        same = polymorphs(r, entry) if any(e is entry for e in r.entries) else [entry]
        self._choosing = True
        try:
            self._polymorph_entries = same
            self.polymorphs.options = [(f"{entry_title(e)}, {1000 * r.e_above_hull(e):.0f} meV/atom", k) for k, e in enumerate(same)]
            self.polymorphs.value = next((k for k, e in enumerate(same) if e is entry), None)
            self.polymorphs.layout.display = "flex" if len(same) > 1 else "none"
        finally:
            self._choosing = False
        conv = "" if entry.data.get("converged", True) else "<br><i>relaxation not converged (steps ran out)</i>"
        note = "<br><i>provisional: references still relaxing</i>" if self.provisional else ""
        self.info.value = (
            f"<b>{html.escape(entry_title(entry))}</b><br><small>{html.escape(origin(entry))}</small><br>"
            f"E_form = {r.formation_energy(entry):.3f} eV/atom<br>E_hull = {1000 * r.e_above_hull(entry):.1f} meV/atom<br>"
            f"{html.escape(r.reaction(entry))}{conv}{note}"
        )
        self._highlight()

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

        correction = self._hull_kw.get("correction")

        def run():
            m = load_model() if model is None else load_model(model) if isinstance(model, str) else model
            yield relax(structure, m, fmax=0.05, steps=300), Corrector(correction, m)

        def got(job, items):
            res, corrector = items[-1]
            entry = ComputedStructureEntry(res.structure, res.energy, entry_id=f"{name}-{len(self.entries)}",
                                           data={"source": "user", "label": name})
            ok, _ = corrector.apply([entry])  # the hull's correction, as its other entries have (a corrected copy)
            if not ok:
                raise ValueError(f"{name}: the correction {corrector.label} rejects this structure")
            entry = ok[0]
            before = self.result
            out = {"entry": entry, "e_above_hull": before.e_above_hull(entry), "e_form": before.formation_energy(entry),
                   "reaction": before.reaction(entry)}
            self._found[entry_key(entry)] = entry
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
        fig, _ = hull_figure(self.result, self.threshold_ev, self._all_elements())
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

