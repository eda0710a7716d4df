"""StructureView: a fast 3D crystal viewer (three.js; js/src/structure_view.js loads js/src/lib/viewer3d.js once per page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from matwidgets.widgets import adapters
from matwidgets.widgets.validate import check_traits
from matwidgets.widgets.view_display import DisplayOptions
from matwidgets.widgets.view_export import Export
from matwidgets.widgets.view_frames import FrameStream

STATIC = Path(__file__).resolve().parent.parent / "static"


class StructureView(DisplayOptions, FrameStream, Export, anywidget.AnyWidget):
    """3D view of one structure: atoms, periodic bonds, unit cell, picking, trajectories.

    >>> view = StructureView(structure)          # pymatgen, ASE or a file path
    >>> view.color_by(values)                     # per-atom colours + colour bar
    >>> view.selected                             # atoms clicked in the browser (element, index and
    ...                                           # coordinates shown in the view)
    >>> view.push_frame(positions)                # stream a running simulation
    >>> view.show_frames(frames, index=-1)        # play back, frames sent on demand
    >>> view.style = "space-filling"              # or ball-and-stick, sticks, wireframe
    >>> view.show_vectors("forces", model="lj")  # arrows, from an array [n, 3] or the model
    >>> view.measurements                         # distance / angle / dihedral of 2-4 picked atoms

    Small cells show the atoms on the cell's boundaries on every face, edge and corner
    and their bonded neighbours outside the cell (``boundary``, ``outside``).
    """

    _esm = STATIC / "structure_view.js"

    # the structure, as binary buffers (float32 / int32), set through `structure`
    numbers = t.Bytes(b"").tag(sync=True)  # int32 [n]
    positions = t.Bytes(b"").tag(sync=True)  # float32 [n, 3] Å
    cell = t.Bytes(b"").tag(sync=True)  # float32 [3, 3] Å, rows are lattice vectors
    radii = t.Bytes(b"").tag(sync=True)  # float32 [n] covalent radii, Å
    colors = t.Bytes(b"").tag(sync=True)  # float32 [n, 3] RGB in 0..1
    element_colors = t.Bytes(b"").tag(sync=True)  # float32 [n, 3] each atom's element colour (legend, rings under color_by)
    values = t.Bytes(b"").tag(sync=True)  # float32 [n] shown in the tooltip, or empty
    bond_i = t.Bytes(b"").tag(sync=True)  # int32 [n_bonds]
    bond_j = t.Bytes(b"").tag(sync=True)  # int32 [n_bonds]
    bond_shift = t.Bytes(b"").tag(sync=True)  # float32 [n_bonds, 3] cell shift of j
    species = t.Dict().tag(sync=True)  # {"14": "Si"}
    colorbar = t.Dict().tag(sync=True)  # {} or {label, cmap, vmin, vmax, center, stops}
    # display options
    repeat = t.List(t.Int(), default_value=[1, 1, 1], minlen=3, maxlen=3).tag(sync=True)
    projection = t.Enum(["perspective", "orthographic"], default_value="perspective").tag(sync=True)
    show_bonds = t.Bool(True).tag(sync=True)
    show_cell = t.Bool(True).tag(sync=True)
    height = t.Int(420).tag(sync=True)
    # interaction: written by the browser
    selected = t.List(t.Int()).tag(sync=True)

    def __init__(self, structure: Any = None, colors: Any = None, **kwargs: Any):
        check_traits(type(self), kwargs)  # height=, layout=, repeat=, ... but no typos
        super().__init__(**kwargs)
        self._batch = None
        self._color_args: dict | None = None
        self._init_frames()
        self._init_export()
        self.on_msg(self._on_msg)
        if structure is not None:
            self.structure = structure
        if colors is not None:
            self.color_by(colors)

    # ---- the structure ----------------------------------------------------------------
    @property
    def structure(self):
        """The structure shown, as a pymatgen Structure."""
        return None if self._batch is None else self._batch.to_structures()[0]

    @structure.setter
    def structure(self, structure: Any) -> None:
        self._set_batch(adapters.as_batch(structure))

    def _set_batch(self, batch: Any, keep_stream: bool = False) -> None:
        """Show ``batch``: a new structure, or (``keep_stream``) a streamed frame whose atoms changed."""
        numbers = batch.numbers.numpy()
        bi, bj, bs = adapters.bonds(batch)
        self._batch = batch
        if not keep_stream:
            # frames pushed for the previous structure belong to it: measurements and the next
            # flush must not read them
            self._color_args = None
            self.last_frame, self._pending, self._push_numbers, self._frame_cell = None, None, None, None
            self._bonds_of = None  # a new structure's first frame does not follow the old one's
        with self.hold_sync():
            self.selected_images = []
            self.numbers = adapters.i32(numbers)
            self.positions = adapters.f32(batch.positions.numpy())
            self.cell = adapters.f32(batch.cell[0].numpy())
            self.radii = adapters.f32(adapters.covalent_radii(numbers))
            self.colors = adapters.f32(adapters.jmol_colors(numbers))
            self.element_colors = self.colors
            self.values = b""
            self.colorbar = {}
            self.bond_i, self.bond_j, self.bond_shift = adapters.i32(bi), adapters.i32(bj), adapters.f32(bs)
            self.species = adapters.species_table(numbers)
            if len(self.vectors) != 12 * len(numbers):
                self.vectors = b""
            self.selected = [i for i in self.selected if i < len(numbers)]
            self._update_sites()
            self._update_measurements()
            self.topology_id += 1

    @property
    def n_atoms(self) -> int:
        return 0 if self._batch is None else self._batch.n_atoms

    @t.validate("repeat")
    def _check_repeat(self, proposal):
        rep = proposal["value"]
        if any(not 1 <= r <= 4 for r in rep):
            raise t.TraitError(f"repeat must be 1-4 along each axis, got {rep}")
        return rep

    @t.validate("selected")
    def _check_selected(self, proposal):
        bad = [i for i in proposal["value"] if not 0 <= i < max(self.n_atoms, 1)]
        if bad and self._batch is not None:
            raise t.TraitError(f"selected atoms {bad} are out of range (structure has {self.n_atoms} atoms)")
        return proposal["value"]

    # ---- colours -----------------------------------------------------------------------
    def color_by(self, values: Any, cmap: str | None = None, center: float | None = None, label: str = "value", vmin: float | None = None, vmax: float | None = None) -> None:
        """Colour atoms by one value each, with a colour bar and the value in the tooltip.

        Signed values (or an explicit ``center``) get a zero-centred diverging scale.
        ``values=None`` restores element colours.
        """
        if values is None:
            self._color_args = None
            with self.hold_sync():
                self.colors = adapters.f32(adapters.jmol_colors(self._batch.numbers.numpy()))
                self.values, self.colorbar = b"", {}
            return
        values = np.asarray(values, dtype=float).ravel()
        if len(values) != self.n_atoms:
            raise ValueError(f"color_by needs one value per atom: got {len(values)} values for {self.n_atoms} atoms")
        colors, bar = adapters.colormap(values, cmap, center, vmin, vmax)
        self._color_args = dict(cmap=bar["cmap"], center=bar["center"], vmin=bar["vmin"], vmax=bar["vmax"])
        with self.hold_sync():
            self.colors = adapters.f32(colors)
            self.values = adapters.f32(values)
            self.colorbar = {**bar, "label": label}

    def _on_msg(self, _widget: Any, content: Any, buffers: list) -> None:
        """Requests and replies from the browser, ``{type, id, ...}``."""
        if not isinstance(content, dict):
            return
        if content.get("type") == "get_frame":
            self._on_get_frame(content)
        else:
            self._on_export_msg(content, buffers)

    def reset_view(self) -> None:
        """Fit the structure in the browser view again."""
        self.send({"type": "fit"})

    # ---- nglview -----------------------------------------------------------------------
    def to_nglview(self):
        """An nglview widget of the same structure, unit cell and per-atom colours."""
        import warnings

        with warnings.catch_warnings():  # nglview 3.1 imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import nglview

        atoms = self._batch.to_ase()[0]
        view = nglview.show_ase(atoms, default=False)
        colors = np.frombuffer(self.colors, dtype="<f4").reshape(-1, 3)
        hexes = ["#%02x%02x%02x" % tuple(int(round(255 * c)) for c in rgb) for rgb in colors]
        for hexcolor in sorted(set(hexes)):
            idx = [i for i, hx in enumerate(hexes) if hx == hexcolor]
            view.add_representation("ball+stick", selection="@" + ",".join(map(str, idx)), color=hexcolor, aspectRatio=2.5)
        view.add_unitcell()
        view.center()
        return view

