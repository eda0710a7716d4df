"""InverseDesigner: watch a gradient-guided design run (engine.design.gradient_design) live."""

from __future__ import annotations

import html
import os
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from matwidgets.engine.design import METHODS, OBJECTIVES, VARIABLES, DesignStep, gradient_design
from matwidgets.jobs import Job
from matwidgets.widgets.feedback import guarded, show_error
from matwidgets.widgets.structure_view import StructureView
from matwidgets.widgets.validate import check_engine_kwargs

TAKEN = ("structure", "model", "objective", "steps", "step_size", "method", "variables", "constraints", "seed", "target", "hull")


class InverseDesigner(W.VBox):
    """Pick objective, variables, constraints and method; Start runs ``gradient_design`` in a Job.

    >>> d = InverseDesigner(structure, model=mw.LennardJones(), objective="max_energy")
    >>> job = d.start(); job.wait()   # or press Start; `await job.wait_async()` in a notebook
    >>> d.history[-1].structure       # DesignSteps so far (kept when stopped)

    The view follows the run (atoms move; a species change recolours them); the slider
    scrubs through the steps; the table compares the start with the step shown (energy,
    E_form and E_hull when a hull is given, pressure, committee std). ``hull``: a HullResult,
    or a HullExplorer whose hull is used and which "Add to hull" adds the design to.
    Other keywords go to ``gradient_design`` (epsilon, strain_bound, kT, species, ...).
    """

    def __init__(self, structure: Any, model: Any = None, objective: str = "min_energy", method: str = "pgd",
                 variables=("positions", "cell"), constraints: dict | None = None, steps: int = 50, step_size: float = 0.02,
                 target: float | None = None, hull: Any = None, seed: int | None = None, **design_kw):
        from pymatgen.core import Structure

        from matwidgets.widgets.adapters import as_batch

        check_engine_kwargs("InverseDesigner", gradient_design, design_kw, taken=TAKEN)
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose from {OBJECTIVES}")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        if not set(variables) <= set(VARIABLES):
            raise ValueError(f"unknown variables {variables}; choose from {VARIABLES}")
        self.structure0 = structure if isinstance(structure, Structure) else as_batch(structure).to_structures()[0]
        self.model, self.seed, self.design_kw = model, seed, design_kw
        self.explorer = hull if hull is not None and hasattr(hull, "add") else None
        self._hull = None if self.explorer is not None else hull
        self.history: list[DesignStep] = []
        self.relaxed = None  # RelaxResult of "Relax result"
        self.job: Job | None = None
        cons = dict(constraints or {})

        self.objective = W.Dropdown(options=list(OBJECTIVES), value=objective, description="objective")
        self.method = W.Dropdown(options=list(METHODS), value=method, description="method", layout=W.Layout(width="200px"))
        self.variables = W.SelectMultiple(options=list(VARIABLES), value=variables, description="variables", rows=3)
        self.target = W.FloatText(value=np.nan if target is None else target, description="target")
        self.steps = W.BoundedIntText(value=steps, min=0, max=100_000, description="steps", layout=W.Layout(width="180px"))
        self.step_size = W.BoundedFloatText(value=step_size, min=1e-6, max=1.0, step=0.005, description="step (Å)",
                                            layout=W.Layout(width="180px"))
        md = cons.get("min_distance")
        self.min_distance = W.FloatText(value=float(md) if isinstance(md, (int, float)) else 0.0, description="d_min (Å)",
                                        layout=W.Layout(width="180px"))
        self.covalent = W.Checkbox(value=isinstance(md, str) and md == "covalent", description="d_min: covalent")
        lo, hi = cons.get("volume", (0.0, 0.0))
        self.volume_lo = W.FloatText(value=lo, description="V min", layout=W.Layout(width="160px"))
        self.volume_hi = W.FloatText(value=hi, description="V max", layout=W.Layout(width="160px"))
        self.charge_neutral = W.Checkbox(value=bool(cons.get("charge_neutral")), description="charge neutral")
        self.keep_symmetry = W.Checkbox(value=bool(cons.get("keep_symmetry")), description="keep symmetry")
        self.fixed = W.Text(value=",".join(str(i) for i in cons.get("fixed", [])), description="fixed atoms",
                            placeholder="0, 3, 5")
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.relax_button = W.Button(description="Relax result", icon="compress", disabled=True)
        self.cif_path = W.Text(value="designed.cif", description="file", layout=W.Layout(width="240px"))
        self.cif_button = W.Button(description="Export CIF", icon="save", disabled=True)
        self.hull_button = W.Button(description="Add to hull", icon="plus", disabled=True)
        self.slider = W.IntSlider(value=0, min=0, max=0, description="step", continuous_update=False, disabled=True)
        self.status = W.HTML("ready")
        self.table = W.HTML("")
        self.errors = W.Output()
        self.view = StructureView(self.structure0)
        self.figure = go.FigureWidget()
        self.figure.add_scatter(x=[], y=[], mode="lines+markers", name="objective")
        self.figure.update_layout(height=260, margin=dict(l=55, r=10, t=30, b=40), xaxis_title="step", yaxis_title="objective",
                                  title=dict(text=objective, x=0.5))

        def ui(what, action):
            return guarded(self.status, self.errors, what, action)

        self.start_button.on_click(ui("start failed", self.start))
        self.stop_button.on_click(ui("stop failed", self.stop))
        self.relax_button.on_click(ui("relax failed", self.relax_result))
        self.cif_button.on_click(ui("export failed", lambda: self.export_cif(self.cif_path.value)))
        self.hull_button.on_click(ui("add to hull failed", self.add_to_hull))
        self.slider.observe(ui("show step failed", lambda: self.show_step(self.slider.value)), "value")
        settings = W.VBox([W.HBox([self.objective, self.method, self.target]), W.HBox([self.variables, W.VBox([self.steps, self.step_size])]),
                           W.HBox([self.min_distance, self.covalent, self.volume_lo, self.volume_hi]),
                           W.HBox([self.charge_neutral, self.keep_symmetry, self.fixed])])
        buttons = W.HBox([self.start_button, self.stop_button, self.relax_button, self.cif_path, self.cif_button, self.hull_button])
        super().__init__([settings, buttons, self.status, W.HBox([self.view, W.VBox([self.figure, self.table])]), self.slider, self.errors])

    # ---- settings -> engine keywords ---------------------------------------------------------
    @property
    def hull(self):
        """The HullResult the table and e_above_hull use (the explorer's, when one was given)."""
        return self.explorer.result if self.explorer is not None else self._hull

    def constraints(self) -> dict:
        """The constraints dict the pickers describe (what ``gradient_design`` receives)."""
        cons: dict[str, Any] = {}
        if self.covalent.value:
            cons["min_distance"] = "covalent"
        elif self.min_distance.value > 0:
            cons["min_distance"] = float(self.min_distance.value)
        if self.volume_hi.value > 0:
            cons["volume"] = (float(self.volume_lo.value), float(self.volume_hi.value))
        if self.charge_neutral.value:
            cons["charge_neutral"] = True
        if self.keep_symmetry.value:
            cons["keep_symmetry"] = True
        text = self.fixed.value.replace(" ", "")
        if text:
            try:
                cons["fixed"] = [int(i) for i in text.split(",") if i]
            except ValueError:
                raise ValueError(f"fixed atoms must be comma-separated indices, got {self.fixed.value!r}") from None
        return cons

    def design_kwargs(self) -> dict:
        target = None if np.isnan(self.target.value) else float(self.target.value)
        return dict(model=self.model, objective=self.objective.value, steps=self.steps.value, step_size=self.step_size.value,
                    method=self.method.value, variables=tuple(self.variables.value), constraints=self.constraints(),
                    seed=self.seed, target=target, hull=self.hull, **self.design_kw)

    # ---- actions ------------------------------------------------------------------------------
    def start(self) -> Job:
        """Start a run from the initial structure. Bad settings raise here, before any step."""
        if self.job is not None and self.job.running:
            return self.job
        kwargs = self.design_kwargs()
        gen = gradient_design(self.structure0, **kwargs)
        self.history, self.relaxed = [], None
        if not (kwargs["objective"] == "min_formation_energy" and kwargs.get("references") is None):
            # run the checks (and step 0) now, so bad settings fail on the button, not in the job; but
            # relaxing the elemental references (tens of seconds) stays off the kernel thread
            self._on_steps(None, [next(gen)])

        def steps():
            yield from gen

        self.job = Job(steps, self._on_steps, self._on_done).start()
        self.status.value = "running"
        self._sync()
        return self.job

    def stop(self) -> None:
        """Stop the run; the steps so far are kept."""
        if self.job is not None:
            self.job.cancel()

    def show_step(self, k: int) -> None:
        if not self.history:
            return
        st = self.history[k]
        self.view.structure = st.structure
        self._table(st)

    def relax_result(self) -> Job:
        """Relax the step shown with ``relax`` (FIRE, positions and cell) in a Job; ``self.relaxed`` holds it."""
        from matwidgets.engine.optimize import relax

        s = self.current.structure
        model = self.model

        def run():
            yield relax(s, model)

        def got(job, items):
            self.relaxed = items[-1]
            self.view.structure = self.relaxed.structure
            self.status.value = (f"relaxed in {self.relaxed.steps} steps: E = {self.relaxed.energy / len(s):.4f} eV/atom"
                                 + ("" if self.relaxed.converged else " (not converged)"))

        def done(job):
            if job.status == "error":
                show_error(self.status, self.errors, "relax failed", job.error, job.error_traceback)
            self._sync()

        self.relax_button.disabled = True
        self.status.value = "relaxing…"
        self._relax_job = Job(run, got, done).start()
        return self._relax_job

    def export_cif(self, path: str | os.PathLike) -> str:
        """Write the step shown (or the relaxed result, when there is one) as a CIF."""
        from pymatgen.io.cif import CifWriter

        s = self.relaxed.structure if self.relaxed is not None else self.current.structure
        CifWriter(s).write_file(os.fspath(path))
        self.status.value = f"wrote {html.escape(os.fspath(path))}"
        return os.fspath(path)

    def add_to_hull(self) -> Job:
        """Relax the design and add it to the HullExplorer given as ``hull`` (its Job)."""
        if self.explorer is None:
            raise ValueError("no HullExplorer: pass hull=HullExplorer(...) to add designs to it")
        s = self.relaxed.structure if self.relaxed is not None else self.current.structure
        return self.explorer.add(s, name=f"designed ({self.objective.value})")

    @property
    def current(self) -> DesignStep:
        if not self.history:
            raise ValueError("no design steps yet: press Start first")
        return self.history[self.slider.value]

    # ---- job callbacks (kernel thread) --------------------------------------------------------
    def _on_steps(self, job: Job | None, items: list[DesignStep]) -> None:
        if job is not None and job is not self.job:
            return
        self.history.extend(items)
        last = self.history[-1]
        prev = self.history[-2] if len(self.history) > 1 else None
        if prev is not None and [str(x.specie) for x in prev.structure] == [str(x.specie) for x in last.structure]:
            self.view.push_frame(last.structure.cart_coords, last.structure.lattice.matrix)
        else:
            self.view.structure = last.structure  # species changed: recolour
        with self.figure.batch_update():
            self.figure.data[0].x = np.array([st.step for st in self.history], dtype=np.float32)
            self.figure.data[0].y = np.array([st.objective for st in self.history], dtype=np.float32)
        with self.slider.hold_trait_notifications():
            self.slider.max = len(self.history) - 1
        self._table(last)
        self.status.value = f"step {last.step}/{self.steps.value} &nbsp; objective {last.objective:.5g} &nbsp; |grad| {last.grad_norm:.3g}"

    def _on_done(self, job: Job) -> None:
        if job is not self.job:
            return
        self.view.flush()
        if job.status == "error":
            show_error(self.status, self.errors, "design failed", job.error, job.error_traceback)
            self._sync()
            return
        if not self.history:  # stopped before the first step came back
            self.status.value = job.status
            self._sync()
            return
        last = self.history[-1]
        if "stopped" in last.extras:
            self.status.value = f"<b style='color:#b60'>{html.escape(last.extras['stopped'])}</b> (last valid structure kept)"
        else:
            self.status.value = f"{job.status}: {last.step} steps, objective {self.history[0].objective:.5g} → {last.objective:.5g}"
        self.slider.value = len(self.history) - 1
        self._sync()

    def _sync(self) -> None:
        running = self.job is not None and self.job.running
        have = bool(self.history) and not running
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        self.relax_button.disabled = self.cif_button.disabled = not have
        self.hull_button.disabled = not have or self.explorer is None or self.explorer.result is None
        self.slider.disabled = not have

    def rows(self, st: DesignStep | None = None) -> dict[str, tuple[float | None, float | None]]:
        """{quantity: (start, step)}: energy (eV/atom), E_form and E_hull (eV/atom, with a hull),
        pressure (GPa), committee std (eV/atom, with a Committee)."""
        st = st or self.history[-1]
        first = self.history[0]
        out = {"energy (eV/atom)": (first.extras.get("energy"), st.extras.get("energy")),
               "pressure (GPa)": (first.extras.get("pressure"), st.extras.get("pressure"))}
        hull = self.hull
        if hull is not None:
            out["E_form (eV/atom)"] = tuple(_hull_value(hull, s, "form") for s in (first, st))
            out["E_hull (eV/atom)"] = tuple(_hull_value(hull, s, "hull") for s in (first, st))
        if "energy_std" in st.extras:
            out["committee std (eV/atom)"] = (first.extras["energy_std"], st.extras["energy_std"])
        return out

    def _table(self, st: DesignStep) -> None:
        def fmt(v):
            return "–" if v is None else f"{v:.4f}"

        body = "".join(f"<tr><td>{k}</td><td>{fmt(a)}</td><td>{fmt(b)}</td></tr>" for k, (a, b) in self.rows(st).items())
        self.table.value = (f"<table><tr><th></th><th>start</th><th>step {st.step}</th></tr>{body}</table>"
                            f"<div>{html.escape(st.structure.composition.reduced_formula)}"
                            + ("" if st.valid else f" – <b>violations</b>: {html.escape('; '.join(st.violations))}") + "</div>")


def _hull_value(hull, st: DesignStep, what: str) -> float | None:
    from pymatgen.entries.computed_entries import ComputedEntry

    e = st.extras.get("energy")
    if e is None:
        return None
    comp = st.structure.composition
    if not {el.symbol for el in comp.elements} <= {el.symbol for el in hull.phase_diagram.elements}:
        return None
    entry = ComputedEntry(comp, e * comp.num_atoms)
    pd = hull.phase_diagram
    if what == "form":
        return float(pd.get_form_energy_per_atom(entry))
    return float(pd.get_e_above_hull(entry, allow_negative=True))
