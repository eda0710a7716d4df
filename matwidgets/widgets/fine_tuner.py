"""FineTuner: fine-tune a model on a Dataset in a background job, with live curves and a parity plot."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from matwidgets.engine.data import Dataset, anion_family, to_batch
from matwidgets.engine.finetune import (FREEZE_PRESETS, FineTuneResult, FineTuneStep, count_trainable, iter_finetune,
                                        result_from_steps)
from matwidgets.engine.models import load_model
from matwidgets.jobs import Job
from matwidgets.widgets.feedback import guarded

CURVES = ["train loss", "val MAE", "forgetting"]


class FineTuner(W.VBox):
    """Dataset summary, freeze choice (with the trainable parameter count), live learning
    curves (train loss, validation MAE, forgetting), a parity plot of the best model on the
    validation set (hover: formula and item), and Stop / Save / Use this model.
    ``model``: a Potential or a name (default: "chgnet").

    >>> tuner = FineTuner(dataset, model=mw.load_model("chgnet"), target="energy", epochs=20)
    >>> tuner.start().wait()          # or press Start
    >>> tuner.result.model            # the best model so far, also after Stop
    >>> tuner.on_use(lambda m: setattr(player, "model", m))   # "Use this model"

    Keyword arguments besides these go to ``iter_finetune`` (force_weight, replay_weight, ...).
    """

    def __init__(self, dataset: Dataset, model: Any = None, target: str = "energy", freeze: str = "backbone", epochs: int = 50,
                 lr: float = 1e-3, batch_size: int = 16, val: float = 0.1, replay: str | None = None, seed: int | None = 0,
                 **kw):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"FineTuner needs a matwidgets Dataset, not {type(dataset).__name__}")
        allowed = {"energy_weight", "force_weight", "stress_weight", "replay_weight", "references", "refit_refs"}
        unknown = sorted(set(kw) - allowed)
        if unknown:
            raise TypeError(f"FineTuner() got unexpected keyword argument(s) {unknown}; it passes on to iter_finetune: {sorted(allowed)}")
        if target not in (*dataset.labels, "formation_energy") or target in ("forces", "stress"):
            raise ValueError(f"target {target!r} is not a label of this dataset (it has {list(dataset.labels)})")
        self.model = load_model(model or "chgnet") if model is None or isinstance(model, str) else model
        self.dataset, self.target, self._kw = dataset, target, kw
        self.val, self.replay, self.seed = val, replay, seed
        self.job: Job | None = None
        self.history: list[FineTuneStep] = []
        self.result: FineTuneResult | None = None
        self._use_callbacks: list[Callable] = []
        self._last_step: FineTuneStep | None = None

        groups = list(self.model.parameter_groups())
        options = [*FREEZE_PRESETS[:2], "last-2", *FREEZE_PRESETS[2:]]
        self.freeze = W.Dropdown(options=options, value=freeze if freeze in options else "backbone", description="freeze")
        self.groups = W.HTML(f"groups: {', '.join(groups)}")
        self.trainable = W.HTML()
        self.epochs = W.BoundedIntText(value=epochs, min=1, max=100_000, description="epochs", layout=W.Layout(width="170px"))
        self.lr = W.BoundedFloatText(value=lr, min=1e-7, max=1.0, step=1e-4, description="lr", layout=W.Layout(width="170px"))
        self.batch_size = W.BoundedIntText(value=batch_size, min=1, max=4096, description="batch", layout=W.Layout(width="150px"))
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.save_path = W.Text(value="finetuned.pt", description="file", layout=W.Layout(width="240px"))
        self.save_button = W.Button(description="Save", icon="save", disabled=True)
        self.use_button = W.Button(description="Use this model", icon="check", disabled=True)
        self.status = W.HTML("ready")
        self.errors = W.Output()
        self.summary = W.HTML(self._summary_html())

        self.histogram = go.FigureWidget(go.Histogram(x=self._label_values(), nbinsx=30, name=target))
        self.histogram.update_layout(height=220, width=320, margin=dict(l=40, r=10, t=30, b=40), title=f"{target} labels")
        self.curves = go.FigureWidget()
        for name in CURVES:
            self.curves.add_scatter(x=[], y=[], mode="lines+markers", name=name)
        self.curves.update_layout(height=280, margin=dict(l=50, r=10, t=30, b=40), xaxis_title="epoch",
                                  yaxis_type="log", title="learning curves")
        self.parity = go.FigureWidget()
        self.parity.add_scatter(x=[], y=[], mode="markers", name="validation", hovertemplate="%{text}<extra></extra>", text=[])
        self.parity.add_scatter(x=[], y=[], mode="lines", name="y = x", line=dict(dash="dash", color="#888"))
        unit = "eV/atom" if target in ("energy", "formation_energy") else ""
        self.parity.update_layout(height=280, width=320, margin=dict(l=50, r=10, t=30, b=40), title="parity (best model)",
                                  xaxis_title=f"label {unit}", yaxis_title=f"predicted {unit}")

        self.freeze.observe(lambda change: self._update_trainable(), "value")
        self._update_trainable()

        def ui(what, action):
            return guarded(self.status, self.errors, what, action)

        self.start_button.on_click(ui("start failed", self.start))
        self.stop_button.on_click(ui("stop failed", self.stop))
        self.save_button.on_click(ui("save failed", lambda: self.save(self.save_path.value)))
        self.use_button.on_click(ui("use failed", self.use))
        controls = W.HBox([self.freeze, self.trainable, self.epochs, self.lr, self.batch_size])
        buttons = W.HBox([self.start_button, self.stop_button, self.save_path, self.save_button, self.use_button])
        top = W.HBox([self.summary, self.histogram])
        super().__init__([top, controls, self.groups, buttons, self.status, W.HBox([self.curves, self.parity]), self.errors])

    # ---- summary -----------------------------------------------------------------------------
    def _label_values(self) -> np.ndarray:
        ds = self.dataset
        if self.target == "energy":
            return ds.labels["energy"] / ds.natoms
        if self.target == "formation_energy":
            return ds.labels.get("formation_energy", ds.labels.get("formation_enthalpy"))
        return ds.labels[self.target]

    def _summary_html(self) -> str:
        s = self.dataset.summary()
        fams = ", ".join(f"{k}: {v}" for k, v in sorted(s["families"].items(), key=lambda kv: -kv[1]))
        els = ", ".join(s["elements"][:30]) + (" …" if len(s["elements"]) > 30 else "")
        return (f"<b>{s['n_structures']}</b> structures, {s['n_atoms']} atoms<br>labels: {', '.join(s['labels'])}<br>"
                f"families: {html.escape(fams)}<br>elements: {html.escape(els)}")

    def _update_trainable(self) -> None:
        n = count_trainable(self.model, self.freeze.value)
        total = sum(p.numel() for p in self.model.parameters())
        head = "" if self.target in ("energy", "formation_energy") else " + a linear head"
        self.trainable.value = f"trainable: <b>{n:,}</b> of {total:,} parameters{head}"

    # ---- actions -------------------------------------------------------------------------------
    def start(self) -> Job:
        """Start a run (a fresh copy of the model each time)."""
        if self.job is not None and self.job.running:
            return self.job
        self.history, self.result, self._last_step = [], None, None
        for trace in self.curves.data:
            trace.x, trace.y = [], []
        args = dict(model=self.model, dataset=self.dataset, target=self.target, freeze=self.freeze.value,
                    epochs=self.epochs.value, lr=self.lr.value, batch_size=self.batch_size.value, val=self.val,
                    replay=self.replay, seed=self.seed, **self._kw)
        self._run = args
        self.job = Job(lambda: iter_finetune(**args), self._on_steps, self._on_done).start()
        self.status.value = "training…"
        self._sync_buttons()
        return self.job

    def stop(self) -> None:
        """Stop after the current epoch: the best model so far is kept."""
        if self.job is not None:
            self.job.cancel()

    def save(self, path: str | os.PathLike) -> str:
        """Write the best model (``load_model(path)`` reads it)."""
        if self.result is None:
            raise ValueError("nothing to save: train first")
        self.result.model.save(path)
        self.status.value = f"saved the best model (epoch {self.result.metrics['best_epoch']}) to {html.escape(os.fspath(path))}"
        return os.fspath(path)

    def on_use(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(model)`` when "Use this model" is pressed (e.g. set another widget's model)."""
        self._use_callbacks.append(callback)

    def use(self) -> Any:
        """Hand the best model to every ``on_use`` callback; returns it."""
        if self.result is None:
            raise ValueError("no model yet: train first")
        for cb in self._use_callbacks:
            cb(self.result.model)
        self.status.value = f"using the fine-tuned model ({len(self._use_callbacks)} widget(s) updated)"
        return self.result.model

    # ---- job callbacks ---------------------------------------------------------------------------
    def _on_steps(self, job: Job, steps: list[FineTuneStep]) -> None:
        if job is not self.job:
            return
        self.history.extend(steps)
        self._last_step = steps[-1]
        epochs = [s.epoch for s in self.history]
        values = [[s.train_loss for s in self.history], [s.val_mae for s in self.history], [s.forgetting for s in self.history]]
        with self.curves.batch_update():
            for trace, ys in zip(self.curves.data, values):
                trace.x, trace.y = epochs, [np.nan if y is None else y for y in ys]
        last = steps[-1]
        val = f", val MAE {last.val_mae:.4g}" if last.val_mae is not None else ""
        self.status.value = f"epoch {last.epoch}/{self._run['epochs']}: train loss {last.train_loss:.4g}{val} (best: epoch {last.best_epoch})"

    def _on_done(self, job: Job) -> None:
        if job is not self.job:
            return
        if job.status == "error":
            self.status.value = f"<b style='color:#b00'>training failed: {html.escape(str(job.error))}</b>"
            self.errors.append_stderr(job.error_traceback)
        elif self.history:
            self.result = result_from_steps(self.model, list(self.history), self._run["epochs"], self.target, self._run["freeze"])
            m = self.result.metrics
            val = f", val MAE {m['val_mae']:.4g} (base {m['val_mae_base']:.4g})" if m.get("val_mae") is not None and m.get("val_mae_base") is not None else ""
            self.status.value = f"{job.status} after {len(self.history)} epochs: best epoch {m['best_epoch']}{val}"
            self._draw_parity()
        else:
            self.status.value = f"{job.status} before the first epoch ended: nothing to keep"
        self._sync_buttons()

    def _draw_parity(self) -> None:
        """Best model against labels on the validation split (the whole dataset without one, or
        when seed=None left the loop's split unknown)."""
        ds = self.dataset
        if self.val and len(ds) >= 2 and not isinstance(self.val, Dataset) and self.seed is not None:
            ds = ds.split(self.val, seed=self.seed)[1]  # the loop's own split: same seed, same items
        elif isinstance(self.val, Dataset):
            ds = self.val
        model = self.result.model
        pred = []
        for data in ds.loader(32):
            batch = to_batch(data, model.dtype, model.device)
            out = model.compute(batch, forces=False, stress=False)
            pred.append(out[self.target if self.target not in ("energy", "formation_energy") else "energy"].cpu().numpy())
        pred = np.concatenate(pred)
        labels = _labels_for(ds, self.target, self.result.metrics.get("references"))
        if self.target in ("energy", "formation_energy"):
            pred, labels = pred / ds.natoms, labels / ds.natoms
            if self.target == "formation_energy":
                shift = _shift(ds, self.result.metrics["references"]) / ds.natoms
                pred, labels = pred - shift, labels - shift
        text = [f"{s.composition.reduced_formula} ({anion_family(s)}), {len(s)} atoms" for s in ds.structures]
        lo, hi = float(min(labels.min(), pred.min())), float(max(labels.max(), pred.max()))
        with self.parity.batch_update():
            self.parity.data[0].x, self.parity.data[0].y, self.parity.data[0].text = labels, pred, text
            self.parity.data[1].x, self.parity.data[1].y = [lo, hi], [lo, hi]

    def _sync_buttons(self) -> None:
        running = self.job is not None and self.job.running
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        self.save_button.disabled = self.use_button.disabled = running or self.result is None
        self.freeze.disabled = self.epochs.disabled = self.lr.disabled = self.batch_size.disabled = running


def _shift(ds: Dataset, mu: dict[str, float]) -> np.ndarray:
    return np.array([sum(n * mu[el.symbol] for el, n in s.composition.items()) for s in ds.structures])


def _labels_for(ds: Dataset, target: str, mu: dict[str, float] | None) -> np.ndarray:
    from matwidgets.engine.finetune import _labels

    return _labels(ds, target, mu)
