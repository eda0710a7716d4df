"""MDPlayer: run MD live in a cell, watch atoms move and energies, T and P evolve."""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

import ipywidgets as W
import numpy as np

from matwidgets.engine.dynamics import MDControl, MDFrame, run_md
from matwidgets.jobs import Job
from matwidgets.widgets.adapters import as_batch
from matwidgets.widgets.feedback import guarded
from matwidgets.widgets.history import History
from matwidgets.widgets.structure_view import StructureView
from matwidgets.widgets.trace_plot import TracePlot

RATE_WINDOW = 5.0  # s of recent progress that steps/s is measured over
TRACES = ["E_pot", "E_kin", "E_tot", "T", "P", "T target"]  # energies: change from the first frame, meV/atom


class MDPlayer(W.VBox):
    """Controls + StructureView + live traces. The simulation runs in a background job,
    so other cells keep executing while it runs.

    >>> player = MDPlayer(structure, model=mw.load_model("chgnet"))
    >>> player.start()          # or press Start
    >>> player.frames           # MDFrames so far (kept when stopped)

    A long run keeps at most ``max_frames`` frames, evenly thinned over the run (and
    always the latest); the plots (a TracePlot) keep at most ``max_points`` points per
    trace, evenly thinned too, and receive only the points that are new, at most
    ``plot_rate`` times a second, so an update costs the same at step 10 and at step 10^6.
    """

    plot_rate = 5.0  # plot updates per second at most

    def __init__(self, structure: Any, model: Any = None, ensemble: str = "nvt", temperature: float = 300.0,
                 timestep: float = 1.0, steps: int = 1000, every: int = 5, seed: int | None = None, max_frames: int = 2000,
                 max_points: int = 500):
        self._batch = as_batch(structure)
        self.model = model
        self._history = History(max_frames)
        self._plotted_at = 0.0
        self._e0: MDFrame | None = None
        self._clock = time.monotonic  # for steps/s and time left (tests replace it)
        self._progress: deque[tuple[float, int]] = deque()  # (clock, step) of recent deliveries
        self._n_steps = steps
        self._started_at = 0.0
        self.job: Job | None = None
        self.control = MDControl(temperature=temperature)
        self.view = StructureView(structure)
        self.seed = seed
        self.every = every

        self.ensemble = W.Dropdown(options=["nve", "nvt", "npt"], value=ensemble, description="ensemble", layout=W.Layout(width="180px"))
        self.temperature = W.FloatSlider(value=temperature, min=1, max=3000, step=1, description="T (K)", continuous_update=False)
        self.timestep = W.BoundedFloatText(value=timestep, min=0.01, max=10, step=0.1, description="dt (fs)", layout=W.Layout(width="160px"))
        self.steps = W.BoundedIntText(value=steps, min=1, max=10_000_000, description="steps", layout=W.Layout(width="180px"))
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.pause_button = W.Button(description="Pause", icon="pause", disabled=True)
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.reset_button = W.Button(description="Reset", icon="undo")
        self.save_path = W.Text(value="trajectory.extxyz", description="file", layout=W.Layout(width="260px"))
        self.save_button = W.Button(description="Save trajectory", icon="save", disabled=True)
        self.status = W.HTML("ready")
        self.errors = W.Output()

        # energies as changes from the first frame: absolute eV/atom values share one axis
        # and every line looks flat; meV/atom changes show drift and exchange
        panels = [{"title": "ΔE from start (meV/atom)", "traces": TRACES[:3]}, {"title": "T (K)", "traces": ["T", "T target"]},
                  {"title": "P (GPa)", "traces": ["P"]}]
        self.plot = TracePlot(TRACES, panels, max_points=max_points, x_label="time (fs)",
                              styles={"T target": {"dash": True, "color": "#888"}}, hidden=["T target"] if ensemble == "nve" else [])
        self.plots = W.Box([self.plot], layout=W.Layout(display="none", width="100%"))  # no empty axes before the first frame

        self.temperature.observe(self._on_temperature, "value")
        def ui(what, action):
            return guarded(self.status, self.errors, what, action)

        self.start_button.on_click(ui("start failed", self.start))
        self.pause_button.on_click(ui("pause failed", self.pause))
        self.stop_button.on_click(ui("stop failed", self.stop))
        self.reset_button.on_click(ui("reset failed", self.reset))
        self.save_button.on_click(ui("save failed", lambda: self.save(self.save_path.value)))
        controls = W.HBox([self.ensemble, self.temperature, self.timestep, self.steps])
        buttons = W.HBox([self.start_button, self.pause_button, self.stop_button, self.reset_button, self.save_path, self.save_button])
        super().__init__([controls, buttons, self.status, self.view, self.plots, self.errors])

    @property
    def frames(self) -> list[MDFrame]:
        """The frames kept so far (at most ``max_frames``, spanning the run)."""
        return self._history.items

    @property
    def max_frames(self) -> int:
        return self._history.max_len

    @property
    def max_points(self) -> int:
        return self.plot.max_points

    # ---- actions --------------------------------------------------------------------------
    def start(self) -> Job:
        """Start (or restart after Stop) a run from the initial structure."""
        if self.job is not None and self.job.running:
            self.job.resume()
            self._progress.clear()  # a pause is no part of the speed
            self._sync_buttons()
            return self.job
        self._clear()
        self.view.clear_frames()
        self._n_steps, self._started_at = self.steps.value, self._clock()
        self.control = MDControl(temperature=self.temperature.value)
        structure = self._batch
        kwargs = dict(model=self.model, ensemble=self.ensemble.value, temperature=self.temperature.value, timestep=self.timestep.value,
                      steps=self.steps.value, every=self.every, seed=self.seed, control=self.control)
        self.job = Job(lambda: run_md(structure, **kwargs), self._on_frames, self._on_done).start()
        self.status.value = "running"
        self._sync_buttons()
        return self.job

    def pause(self) -> None:
        if self.job is None:
            return
        if self.job.status == "paused":
            self.job.resume()
        else:
            self.job.pause()
        self._progress.clear()  # a pause is no part of the speed
        self._sync_buttons()

    def stop(self) -> None:
        """Stop the run; the frames so far are kept."""
        self.control.stop = True  # the integrator ends at its next step, whatever `every` is
        if self.job is not None:
            self.job.cancel()

    def reset(self) -> None:
        self.stop()
        self._clear()
        self.view.clear_frames()
        self.view.push_frame(self._batch.positions.numpy(), self._batch.cell[0].numpy())
        self.view.flush()
        self.status.value = "ready"

    def save(self, path: str | os.PathLike) -> str:
        """Write the kept frames (at most ``max_frames``, spanning the run) to an extxyz (or any ASE format) file."""
        import ase.io

        if not self.frames:
            raise ValueError("no frames to save: run the simulation first")
        base = self._batch.to_ase()[0]
        images = []
        for f in self.frames:
            atoms = base.copy()
            atoms.positions, atoms.cell = f.positions, f.cell
            atoms.info.update(step=f.step, time_fs=f.time, energy=f.energy, temperature_K=f.temperature)
            if f.pressure is not None:
                atoms.info["pressure_GPa"] = f.pressure
            images.append(atoms)
        ase.io.write(os.fspath(path), images)
        self.status.value = f"saved {len(images)} frames to {path}"
        return os.fspath(path)

    # ---- job callbacks (kernel thread) ----------------------------------------------------
    def _on_temperature(self, change) -> None:
        self.control.temperature = float(change["new"])  # read by the running integrator

    def _on_frames(self, job: Job, frames: list[MDFrame]) -> None:
        if job is not self.job:
            return  # a stale job
        if self._e0 is None:
            self._e0 = frames[0]
            self.plots.layout.display = None
        self._history.extend(frames)
        n, f0, target = len(frames[-1].positions), self._e0, self.control.temperature
        self.plot.extend((f.time, 1000 * (f.energy - f0.energy) / n, 1000 * (f.kinetic_energy - f0.kinetic_energy) / n,
                             1000 * (_conserved(f) - _conserved(f0)) / n, f.temperature, np.nan if f.pressure is None else f.pressure, target)
                            for f in frames)
        last = frames[-1]
        self.view.push_frame(last.positions, last.cell)
        if time.monotonic() - self._plotted_at >= 1.0 / self.plot_rate:
            self._plot()
        self.status.value = (f"step {last.step}/{self._n_steps} &nbsp; {self._speed(last.step)} &nbsp; "
                             f"T = {last.temperature:.0f} K &nbsp; E = {last.total_energy / n:.4f} eV/atom")

    def _speed(self, step: int) -> str:
        """Steps per second over the last few seconds, and the time left at that speed."""
        now = self._clock()
        window = self._progress
        window.append((now, step))
        while len(window) > 2 and now - window[0][0] > RATE_WINDOW:
            window.popleft()
        (t0, s0), (t1, s1) = window[0], window[-1]
        if t1 - t0 <= 0 or s1 <= s0:
            return "measuring speed…"
        rate = (s1 - s0) / (t1 - t0)
        return f"{rate:.3g} steps/s &nbsp; {_duration(max(self._n_steps - step, 0) / rate)} left"

    def _on_done(self, job: Job) -> None:
        if job is not self.job:
            return
        self.view.flush()
        self._plotted_at = time.monotonic()
        self.plot.sync_state()  # the whole run, for views rendered later and saved pages
        if job.status == "error":
            self.status.value = f"<b style='color:#b00'>stopped: {job.error}</b> ({len(self.frames)} frames kept)"
            self.errors.append_stderr(job.error_traceback)
        else:
            last = self.frames[-1].step if self.frames else 0
            took = self._clock() - self._started_at
            self.status.value = (f"{job.status}: {last} steps in {_duration(took)}"
                                 + (f" ({last / took:.3g} steps/s)" if took > 0 and last else "") + f", {len(self.frames)} frames kept")
        if self.frames:
            self.view.show_frames(self.frames, index=-1)  # where the run ended, not where it began
        self._sync_buttons()

    def _plot(self) -> None:
        """Send the points that are new since the last update."""
        self._plotted_at = time.monotonic()
        self.plot.flush()

    def _clear(self) -> None:
        self._progress.clear()
        self._e0: MDFrame | None = None  # the first frame: energies are plotted as changes from it
        self.plots.layout.display = "none"
        self.plot.hidden = ["T target"] if self.ensemble.value == "nve" else []  # no thermostat, no target
        self._history.clear()
        self.plot.clear()

    def _sync_buttons(self) -> None:
        running = self.job is not None and self.job.running
        self.start_button.disabled = running and self.job.status == "running"
        self.pause_button.disabled = not running
        self.pause_button.description = "Resume" if running and self.job.status == "paused" else "Pause"
        self.stop_button.disabled = not running
        self.save_button.disabled = running or not self.frames
        self.ensemble.disabled = self.timestep.disabled = self.steps.disabled = running

    def trace(self, name: str) -> np.ndarray:
        """The plotted values of one trace: "E_pot", "E_kin", "E_tot" (change from the first
        frame, meV/atom), "T" (K), "P" (GPa) or "T target" (K)."""
        return self.plot.values(name)


def _conserved(frame: MDFrame) -> float:
    """What the integrator conserves (Nose-Hoover: including the thermostat), else E_pot + E_kin."""
    return frame.conserved_energy if frame.conserved_energy is not None else frame.total_energy


def _duration(seconds: float) -> str:
    """1:05:09, 3:07 or 42 s."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
