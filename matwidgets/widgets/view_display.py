"""StructureView's display options: boundary images, styles, vectors, labels, measurements.

A mixin of traits and methods, kept apart from structure_view.py (the structure,
colours and trajectories) so each file stays small; the maths is in adapters.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from matwidgets.widgets import adapters

STYLES = ["ball-and-stick", "space-filling", "sticks", "wireframe"]
VECTOR_COLOR = "#e6007e"  # magenta: no element's Jmol colour is near it
VECTOR_LENGTH = 1.5  # Å: the longest arrow when show_vectors gets no scale


def _atomic_number(symbol: str) -> int:
    from pymatgen.core.periodic_table import Element

    return Element(symbol).Z


class DisplayOptions(t.HasTraits):
    """Traits and methods of StructureView that change how the structure is drawn."""

    _batch = None  # set by StructureView (observers may fire before its __init__ sets it)
    last_frame: dict | None = None
    n_atoms: int

    # boundary images and bonded neighbours outside the box ("auto": on up to SITES_MAX atoms x repeats);
    # kernel-side only: it decides which sites are sent
    boundary = t.Enum(["auto", "on", "off"], default_value="auto")
    # the sites drawn (empty: every atom once per repeated cell, bonds as half-bond stubs)
    site_atom = t.Bytes(b"").tag(sync=True)  # int32 [m] the atom each site is an image of
    site_shift = t.Bytes(b"").tag(sync=True)  # float32 [m, 3] integer cell shift from the atom's position
    site_kind = t.Bytes(b"").tag(sync=True)  # int32 [m] 0: in the box, 1: bonded neighbour outside it
    site_bonds = t.Bytes(b"").tag(sync=True)  # int32 [k, 2] bonded site pairs
    outside = t.Enum(["faded", "small", "hidden"], default_value="faded").tag(sync=True)
    # styles
    style = t.Enum(STYLES, default_value="ball-and-stick").tag(sync=True)
    atom_scale = t.Float(1.0).tag(sync=True)  # times the style's atom radius
    bond_scale = t.Float(1.0).tag(sync=True)  # times the style's bond radius
    hidden_elements = t.List(t.Unicode()).tag(sync=True)  # element symbols not drawn
    # vectors: one arrow per atom, from its centre
    vectors = t.Bytes(b"").tag(sync=True)  # float32 [n, 3] or empty
    vector_color = t.Unicode(VECTOR_COLOR).tag(sync=True)
    vector_scale = t.Float(1.0).tag(sync=True)  # Å of arrow per unit of the vectors
    # coordination polyhedra (show_polyhedra): vertices are atom images, so frames move them
    poly_atom = t.Bytes(b"").tag(sync=True)  # int32 [v]
    poly_shift = t.Bytes(b"").tag(sync=True)  # float32 [v, 3] integer cell shifts
    poly_faces = t.Bytes(b"").tag(sync=True)  # int32 [f, 3] triangles into the vertices
    poly_center = t.Bytes(b"").tag(sync=True)  # int32 [f] the centre atom of each face (its colour)
    polyhedra_opacity = t.Float(0.55).tag(sync=True)
    # labels next to atoms
    labels = t.Enum(["none", "element", "index", "value"], default_value="none").tag(sync=True)
    # what the picked atoms measure (set by the kernel from selected / selected_images)
    measurements = t.Dict().tag(sync=True)
    selected_images = t.List(t.List(t.Int(), minlen=3, maxlen=3)).tag(sync=True)  # written by the browser

    # ---- validation ---------------------------------------------------------------------
    @t.validate("atom_scale", "bond_scale")
    def _check_scale(self, proposal):
        value = proposal["value"]
        if not 0 < value <= 10:
            raise t.TraitError(f"{proposal['trait'].name} must be > 0 and <= 10, got {value}")
        return value

    @t.validate("hidden_elements")
    def _check_elements(self, proposal):
        from pymatgen.core.periodic_table import Element

        bad = [s for s in proposal["value"] if not Element.is_valid_symbol(s)]
        if bad:
            raise t.TraitError(f"hidden_elements: unknown element symbol(s) {bad}")
        return list(dict.fromkeys(proposal["value"]))

    @t.validate("vector_color")
    def _check_color(self, proposal):
        import matplotlib.colors

        try:
            return matplotlib.colors.to_hex(proposal["value"])
        except ValueError:
            raise t.TraitError(f"vector_color: {proposal['value']!r} is not a colour") from None

    # ---- boundary images ----------------------------------------------------------------
    @t.observe("boundary", "repeat")
    def _on_box(self, _change=None) -> None:
        self._update_sites()

    def _sites_on(self) -> bool:
        if self._batch is None or self.boundary == "off":
            return False
        return self.boundary == "on" or self.n_atoms * int(np.prod(self.repeat)) <= adapters.SITES_MAX

    def _update_sites(self) -> None:
        """Recompute the sites drawn (after the structure, repeat or boundary changed)."""
        if not self._sites_on():
            with self.hold_sync():
                self.site_atom = self.site_shift = self.site_kind = self.site_bonds = b""
                self._update_polyhedra()
            return
        bi, bj, bs = (np.frombuffer(b, dtype) for b, dtype in
                      [(self.bond_i, "<i4"), (self.bond_j, "<i4"), (self.bond_shift, "<f4")])
        sites = adapters.display_sites(self._batch, bi, bj, bs, tuple(self.repeat))
        with self.hold_sync():
            self.site_atom = adapters.i32(sites["atom"])
            self.site_shift = adapters.f32(sites["shift"])
            self.site_kind = adapters.i32(sites["kind"])
            self.site_bonds = adapters.i32(sites["bonds"])
            self._update_polyhedra()

    @property
    def sites(self) -> dict[str, np.ndarray]:
        """The sites drawn: ``atom`` [m], ``shift`` [m, 3], ``kind`` [m] (1: outside the box), ``bonds`` [k, 2]."""
        return {"atom": np.frombuffer(self.site_atom, "<i4"), "shift": np.frombuffer(self.site_shift, "<f4").reshape(-1, 3),
                "kind": np.frombuffer(self.site_kind, "<i4"), "bonds": np.frombuffer(self.site_bonds, "<i4").reshape(-1, 2)}

    # ---- vectors --------------------------------------------------------------------------
    def show_vectors(self, vectors: Any, color: str | None = None, scale: float | None = None, model: Any = None) -> None:
        """Draw one arrow per atom: forces, velocities, magnetic moments, displacements.

        ``vectors``: an array [n_atoms, 3], or ``"forces"`` for the model's predicted
        forces (``model``: a Potential or a name for ``load_model``; default CHGNet).
        ``scale``: Å of arrow per unit; by default the longest arrow is 1.5 Å.
        ``None`` hides the arrows.
        """
        if vectors is None:
            self.vectors = b""
            self.send({"type": "clear_vectors"})  # and the arrows streamed with push_frame
            return
        if isinstance(vectors, str):
            if vectors != "forces":
                raise ValueError(f"show_vectors takes an array [n_atoms, 3] or 'forces', got {vectors!r}")
            from matwidgets.engine.predict import predict

            vectors = predict(self.structure, model=model)[0].forces
        arr = np.asarray(vectors, dtype=float)
        if arr.shape != (self.n_atoms, 3):
            raise ValueError(f"show_vectors needs an array of shape ({self.n_atoms}, 3), got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("show_vectors: vectors contain NaN or infinite values")
        if scale is None:
            longest = float(np.linalg.norm(arr, axis=1).max(initial=0.0))
            scale = VECTOR_LENGTH / longest if longest > 0 else 1.0
        with self.hold_sync():
            self.vector_color = color or VECTOR_COLOR
            self.vector_scale = float(scale)
            self.vectors = adapters.f32(arr)

    def hide_vectors(self) -> None:
        self.show_vectors(None)

    # ---- polyhedra ------------------------------------------------------------------------
    def show_polyhedra(self, center_elements: Any, method: str | float = "bonds", opacity: float | None = None) -> None:
        """Draw the coordination polyhedra of atoms of ``center_elements`` ("Ti" or ["Ti", "Nb"]).

        ``method``: "bonds" (the bonds drawn), "crystalnn" (pymatgen's CrystalNN) or a
        cutoff in Å. Neighbours across periodic boundaries count; each centre drawn in
        the box gets its polyhedron (the convex hull of its neighbours). ``None`` or
        ``[]`` removes them.
        """
        from pymatgen.core.periodic_table import Element

        elements = [center_elements] if isinstance(center_elements, str) else list(center_elements or [])
        bad = [e for e in elements if not Element.is_valid_symbol(e)]
        if bad:
            raise ValueError(f"show_polyhedra: unknown element symbol(s) {bad}")
        self._poly_args = (elements, method) if elements else None
        if opacity is not None:
            if not 0 < opacity <= 1:
                raise ValueError(f"show_polyhedra: opacity must be in (0, 1], got {opacity}")
            self.polyhedra_opacity = float(opacity)
        self._update_polyhedra()

    def _update_polyhedra(self) -> None:
        args = getattr(self, "_poly_args", None)
        poly = None
        if args is not None and self._batch is not None:
            elements, method = args
            structure = self.structure
            numbers = self._batch.numbers.numpy()
            want = {_atomic_number(e) for e in elements}
            nbs = adapters.coordination(structure, self._batch, method)
            if self.site_atom:  # every centre drawn in the box
                s = self.sites
                centres = [(int(a), sh) for a, sh, k in zip(s["atom"], s["shift"], s["kind"]) if k == 0 and numbers[a] in want]
            else:
                centres = [(a, (0, 0, 0)) for a in range(len(numbers)) if numbers[a] in want]
            poly = adapters.polyhedra(self._batch.positions.numpy(), self._batch.cell[0].numpy(), centres, nbs)
        with self.hold_sync():
            if poly is None:
                self.poly_atom = self.poly_shift = self.poly_faces = self.poly_center = b""
            else:
                self.poly_atom, self.poly_shift = adapters.i32(poly["atom"]), adapters.f32(poly["shift"])
                self.poly_faces, self.poly_center = adapters.i32(poly["faces"]), adapters.i32(poly["center"])

    # ---- measurements -----------------------------------------------------------------------
    @t.observe("selected", "selected_images")
    def _on_pick(self, change) -> None:
        # a selection set in Python has no clicked images: the old ones belonged to other atoms
        lock = getattr(self, "_property_lock", {})
        if change["name"] == "selected" and "selected_images" not in lock and self.selected_images:
            self.selected_images = []  # observed again: measures then
            return
        self._update_measurements()

    def _update_measurements(self) -> None:
        if self._batch is None or not 2 <= len(self.selected) <= 4:
            self.measurements = {}
            return
        frame = self.last_frame or {}
        pos = frame.get("positions", self._batch.positions.numpy())
        cell = frame.get("cell", self._batch.cell[0].numpy())
        images = self.selected_images if len(self.selected_images) == len(self.selected) else None
        self.measurements = adapters.measure(pos, cell, list(self.selected), images)
