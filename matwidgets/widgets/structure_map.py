"""StructureMap: many structures as points of a WebGL scatter (property against property, or a
PCA of model features), linked to a StructureView, in the style of chemiscope.

The scatter is MapPlot (js/src/structure_map.js); StructureMap puts it beside a StructureView
and keeps the selection: a click shows that structure, a lasso selects many.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as t

from matwidgets.engine import features as F
from matwidgets.widgets import adapters
from matwidgets.widgets.feedback import guarded
from matwidgets.widgets.structure_view import StructureView
from matwidgets.widgets.validate import check_traits

STATIC = Path(__file__).resolve().parent.parent / "static"
MODEL_PROPERTIES = ("energy_per_atom", "pca1", "pca2")  # computed with the model, on first use
LABELS = {"energy_per_atom": "energy per atom (eV/atom)", "volume_per_atom": "volume per atom (Å³/atom)",
          "density": "density (g/cm³)", "n_atoms": "atoms in the cell", "formation_energy": "formation energy (eV/atom)",
          "e_above_hull": "energy above hull (eV/atom)", "max_force": "max force (eV/Å)", "pressure": "pressure (GPa)",
          "pca1": "PCA 1 of model features", "pca2": "PCA 2 of model features"}


def _bytes_from_json(value: Any, _widget: Any) -> bytes:
    """A binary trait written by the browser arrives as a memoryview; traitlets' Bytes wants bytes."""
    return b"" if value is None else bytes(value)


class MapPlot(anywidget.AnyWidget):
    """The scatter alone: one point per structure, hover, click and lasso (see StructureMap)."""

    _esm = STATIC / "structure_map.js"

    x = t.Bytes(b"").tag(sync=True)  # float32 [n]; NaN points are not drawn
    y = t.Bytes(b"").tag(sync=True)  # float32 [n]
    c = t.Bytes(b"").tag(sync=True)  # float32 [n] colour values, or empty
    s = t.Bytes(b"").tag(sync=True)  # float32 [n] size values, or empty
    formula_index = t.Bytes(b"").tag(sync=True)  # int32 [n] into `formulas`
    formulas = t.List(t.Unicode()).tag(sync=True)  # the distinct reduced formulas
    labels = t.Dict().tag(sync=True)  # {"x", "y", "color", "size"}: axis and tooltip names
    colorbar = t.Dict().tag(sync=True)  # {} or {cmap, vmin, vmax, center, stops}
    height = t.Int(440).tag(sync=True)
    # interaction, written by the browser
    selection = t.Bytes(b"").tag(sync=True, from_json=_bytes_from_json)  # int32 [k] selected points
    active = t.Int(-1).tag(sync=True)  # the clicked point (-1: none)


class StructureMap(W.HBox):
    """A linked map of many structures: scatter on the left, the clicked structure on the right.

    >>> m = StructureMap(structures, "volume_per_atom", "energy_per_atom", color="density")
    >>> m = StructureMap(structures, "pca1", "pca2")          # PCA of the model's features
    >>> m.selected                                            # indices lassoed or clicked (observable)
    >>> m.show(color="n_atoms")                               # change what is plotted

    ``x``, ``y``, ``color``, ``size``: arrays of one number per structure, or property names:
    volume_per_atom (Å³), density (g/cm³), n_atoms, energy_per_atom (eV/atom), pca1, pca2 (the
    last three computed with ``model``, default chgnet, in batches), or a key of
    ``properties={"name": array}``. ``formula`` is shown on hover but is not numeric.
    Click a point to show its structure; drag with shift (or with the lasso button on) to select.
    The menus above the map re-plot any numeric property computed so far.
    """

    selected = t.List(t.Int())  # indices of the selected structures
    active = t.Int(-1)  # the structure shown in the view (-1: none)

    def __init__(self, structures: Sequence[Any], x: Any, y: Any, color: Any = None, size: Any = None,
                 properties: dict[str, Any] | None = None, model: Any = None, height: int = 440, **kwargs: Any):
        check_traits(type(self), kwargs)
        self.structures = list(structures)
        if not self.structures:
            raise ValueError("StructureMap needs at least one structure")
        self.model = model
        self.features: np.ndarray | None = None  # [N, F] model features, once pca1/pca2/energy_per_atom are asked for
        n = len(self.structures)
        self.properties: dict[str, np.ndarray] = F.structure_properties(self.structures)
        for name, values in (properties or {}).items():
            self.properties[name] = _check_length(values, n, f"properties[{name!r}]", numeric=False)
        self.plot = MapPlot(height=height)
        self.view = StructureView(height=height)
        self.title = W.HTML()
        self.message, self.errors = W.HTML(), W.Output()
        self.controls = {k: W.Dropdown(description=k, layout=W.Layout(width="190px"), style={"description_width": "36px"})
                         for k in ("x", "y", "color")}
        for k, box in self.controls.items():
            box.observe(guarded(self.message, self.errors, f"cannot plot {k}", lambda k=k: self._on_control(k)), "value")
        left = W.VBox([W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap")), self.plot, self.message, self.errors],
                      layout=W.Layout(flex="1 1 60%", min_width="320px"))
        side = W.VBox([self.title, self.view], layout=W.Layout(flex="0 0 38%", min_width="240px"))
        super().__init__([left, side], **kwargs)
        formulas = self.properties["formula"]
        names, index = np.unique(formulas.astype(str), return_inverse=True)
        with self.plot.hold_sync():
            self.plot.formulas, self.plot.formula_index = [str(f) for f in names], adapters.i32(index)
        self.plot.observe(self._from_browser, ["selection", "active"])
        self.show(x, y, color, size)
        self.active = 0

    @property
    def n_structures(self) -> int:
        return len(self.structures)

    # ---- what is plotted -------------------------------------------------------------
    def values(self, spec: Any, what: str = "values") -> tuple[np.ndarray, str]:
        """One float per structure for ``spec`` (a property name or an array) and its label."""
        if isinstance(spec, str):
            if spec not in self.properties and spec in MODEL_PROPERTIES:
                self._compute_model_properties()
            if spec not in self.properties:
                raise ValueError(f"unknown property {spec!r} for {what}; known: {', '.join(self.property_names)}")
            values = self.properties[spec]
            if values.dtype == object:
                raise ValueError(f"property {spec!r} is not numeric and cannot be used for {what}")
            return values, LABELS.get(spec, spec)
        return _check_length(spec, self.n_structures, what), what

    @property
    def property_names(self) -> list[str]:
        """Names usable for x, y, color and size (model properties included, computed on use)."""
        numeric = [k for k, v in self.properties.items() if v.dtype != object]
        return numeric + [k for k in MODEL_PROPERTIES if k not in self.properties]

    def show(self, x: Any = None, y: Any = None, color: Any = None, size: Any = None) -> None:
        """Plot other properties; arguments left as None keep what is shown (``color=False`` removes colour).

        An array given here is kept as a property named after its role ("x", "y", "color", "size"),
        so the menus above the map can offer it again.
        """
        specs = getattr(self, "_specs", {"color": None, "size": None})
        specs = {**specs, **{k: v for k, v in dict(x=x, y=y, color=color, size=size).items() if v is not None}}
        resolved = {k: (None if v is None or v is False else self.values(v, k)) for k, v in specs.items()}
        for k, v in specs.items():
            if not (v is None or v is False or isinstance(v, str)):
                self.properties[k], specs[k] = resolved[k][0], k
        labels = {k: ("" if r is None else r[1]) for k, r in resolved.items()}
        bar = {}
        if resolved["color"] is not None:
            _, bar = adapters.colormap(resolved["color"][0])
        self._specs = specs
        with self.plot.hold_sync():
            self.plot.x, self.plot.y = adapters.f32(resolved["x"][0]), adapters.f32(resolved["y"][0])
            self.plot.c = b"" if resolved["color"] is None else adapters.f32(resolved["color"][0])
            self.plot.s = b"" if resolved["size"] is None else adapters.f32(resolved["size"][0])
            self.plot.labels, self.plot.colorbar = labels, bar
        self._sync_controls()

    def _sync_controls(self) -> None:
        """The menus offer every numeric property computed so far and show what is plotted."""
        names = [k for k, v in self.properties.items() if v.dtype != object]
        self._syncing = True
        try:
            for k, box in self.controls.items():
                box.options = (["(none)"] if k == "color" else []) + names
                value = self._specs[k]
                box.value = value if isinstance(value, str) else ("(none)" if k == "color" else None)
        finally:
            self._syncing = False

    def _on_control(self, role: str) -> None:
        value = self.controls[role].value
        if getattr(self, "_syncing", False) or value is None:
            return
        self.message.value = ""
        self.show(**{role: False if value == "(none)" else value})

    def _compute_model_properties(self) -> None:
        feats, energy = F.model_features(self.structures, self.model)
        xy = F.pca(feats)
        self.features = feats  # kept for users who want another projection
        self.properties.setdefault("energy_per_atom", energy)
        self.properties["pca1"], self.properties["pca2"] = xy[:, 0], xy[:, 1]

    # ---- selection: Python <-> browser -------------------------------------------------
    @t.validate("selected")
    def _check_selected(self, proposal):
        bad = [i for i in proposal["value"] if not 0 <= i < self.n_structures]
        if bad:
            raise t.TraitError(f"selected structures {bad[:5]} are out of range (the map has {self.n_structures})")
        return [int(i) for i in proposal["value"]]

    @t.validate("active")
    def _check_active(self, proposal):
        if not -1 <= proposal["value"] < self.n_structures:
            raise t.TraitError(f"active structure {proposal['value']} is out of range (the map has {self.n_structures})")
        return proposal["value"]

    @t.observe("selected")
    def _selected_changed(self, change) -> None:
        data = adapters.i32(change["new"])
        if self.plot.selection != data:  # loop guard: the browser's own change comes back here
            self.plot.selection = data

    @t.observe("active")
    def _active_changed(self, change) -> None:
        k = change["new"]
        if self.plot.active != k:
            self.plot.active = k
        if k >= 0:
            self.view.structure = self.structures[k]
            self.view.reset_view()
            p = self.properties
            vals = f"{p['volume_per_atom'][k]:.2f} Å³/atom, {p['density'][k]:.2f} g/cm³"
            self.title.value = f"<b>#{k} {self.properties['formula'][k]}</b> <small>{vals}</small>"

    def _from_browser(self, change) -> None:
        if change["name"] == "active":
            self.active = change["new"]
        else:
            new = np.frombuffer(change["new"], dtype="<i4").tolist()
            if new != self.selected:
                self.selected = new

    # ---- other sources -----------------------------------------------------------------
    @classmethod
    def from_hull(cls, result_or_explorer: Any, x: Any = "volume_per_atom", y: Any = "formation_energy",
                  color: Any = "e_above_hull", **kw: Any) -> StructureMap:
        """A map of a HullResult's (or a HullExplorer's) entries, with formation_energy,
        e_above_hull and energy_per_atom (eV/atom) from the hull."""
        result = getattr(result_or_explorer, "result", result_or_explorer)
        if result is None or not hasattr(result, "phase_diagram"):
            raise ValueError("from_hull needs a HullResult or a HullExplorer whose hull is computed")
        entries = [e for e in result.entries if getattr(e, "structure", None) is not None]
        if not entries:
            raise ValueError("the hull's entries carry no structures")
        props = {"formation_energy": [result.formation_energy(e) for e in entries],
                 "e_above_hull": [result.e_above_hull(e) for e in entries],
                 "energy_per_atom": [e.energy_per_atom for e in entries], **kw.pop("properties", {})}
        return cls([e.structure for e in entries], x, y, color=color, properties=props, **kw)

    @classmethod
    def from_screen(cls, structures: Sequence[Any], results: Sequence[Any], x: Any = "volume_per_atom",
                    y: Any = "energy_per_atom", color: Any = "max_force", **kw: Any) -> StructureMap:
        """A map of screening results (``screen(structures, ...)``: Predictions or RelaxResults, in
        input order). Relaxed structures are shown where there are some; a failed result is NaN."""
        structures, results = list(structures), list(results)
        if len(results) != len(structures):
            raise ValueError(f"results has {len(results)} entries for {len(structures)} structures")
        shown, energy, fmax, pressure = [], [], [], []
        for s, r in zip(structures, results):
            relaxed = getattr(r, "structure", None)
            shown.append(relaxed if relaxed is not None else s)
            failed = getattr(r, "error", None) is not None
            if hasattr(r, "energy_per_atom"):  # Prediction
                energy.append(r.energy_per_atom)
            else:  # RelaxResult: energy of the relaxed structure
                energy.append(np.nan if failed else r.energy / len(shown[-1]))
            fmax.append(np.nan if failed else r.max_force)
            pressure.append(getattr(r, "pressure", None) if getattr(r, "pressure", None) is not None else np.nan)
        props = {"energy_per_atom": energy, "max_force": fmax, **kw.pop("properties", {})}
        if not np.isnan(pressure).all():
            props["pressure"] = pressure
        return cls(shown, x, y, color=color, properties=props, **kw)


def _check_length(values: Any, n: int, name: str, numeric: bool = True) -> np.ndarray:
    """An array of one entry per structure, or ValueError naming the array."""
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name} has shape {arr.shape}: expected one value per structure ({n})")
    if arr.dtype.kind in "biuf":
        return arr.astype(float)
    if numeric:
        raise ValueError(f"{name} is not numeric (dtype {arr.dtype})")
    return arr.astype(object)
