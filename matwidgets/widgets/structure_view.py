"""StructureView: a fast 3D crystal viewer (three.js; js/src/structure_view.js loads js/src/lib/viewer3d.js once per page)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from matwidgets.widgets import adapters
from matwidgets.widgets.validate import check_traits
from matwidgets.widgets.view_display import DisplayOptions

STATIC = Path(__file__).resolve().parent.parent / "static"


class StructureView(DisplayOptions, anywidget.AnyWidget):
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
    # a trajectory kept in the kernel (show_frames): its length and first frame, for views rendered later
    traj_frames = t.Int(0).tag(sync=True)
    traj_index = t.Int(0).tag(sync=True)

    max_fps = 60.0  # streamed frames per second at most; the rest coalesce (latest wins)

    def __init__(self, structure: Any = None, colors: Any = None, **kwargs: Any):
        check_traits(type(self), kwargs)  # height=, layout=, repeat=, ... but no typos
        super().__init__(**kwargs)
        self._batch = None
        self._color_args: dict | None = None
        self._seq = 0
        self._pending: tuple | None = None
        self._last_sent = 0.0
        self._flush_handle = None
        self.last_frame: dict | None = None  # the latest pushed frame's arrays
        self._traj: list = []  # frames of show_frames, sent on request
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
        batch = adapters.as_batch(structure)
        numbers = batch.numbers.numpy()
        bi, bj, bs = adapters.bonds(batch)
        self._batch = batch
        self._color_args = None
        # frames pushed for the previous structure belong to it: measurements and the next
        # flush must not read them
        self.last_frame, self._pending = None, None
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

    # ---- trajectories ------------------------------------------------------------------
    def show_frames(self, frames: Any, index: int = 0) -> None:
        """Play back a trajectory with a slider, starting at frame ``index`` (-1: the last).

        ``frames``: a list of structures (pymatgen/ASE), of objects with ``positions``
        (and optionally ``cell``) such as MDFrame, or an array [n_frames, n_atoms, 3].
        Frames go to the browser on demand, one at a time as the slider asks for them,
        never the whole trajectory at once; the view keeps a reference to ``frames``.
        """
        frames = list(frames)
        for k, f in enumerate(frames):
            pos, _ = _frame_arrays(f)
            if pos.shape != (self.n_atoms, 3):
                raise ValueError(f"frame {k} has positions of shape {pos.shape}, expected ({self.n_atoms}, 3)")
        if not frames:
            raise ValueError("show_frames needs at least one frame")
        self._traj = frames
        index = range(len(frames))[index]  # -1 -> last; IndexError when out of range
        parts, buffers = self._traj_frame(index)
        self.traj_frames, self.traj_index = len(frames), index
        self.send({"type": "trajectory", "n_frames": len(frames), "index": index, "parts": parts}, buffers=buffers)

    def clear_frames(self) -> None:
        """Hide the trajectory slider (a new run is about to stream)."""
        self._traj = []
        self.traj_frames = 0
        self.send({"type": "trajectory", "n_frames": 0, "index": 0, "parts": []})

    @property
    def n_frames(self) -> int:
        """Frames of the trajectory shown with ``show_frames`` (0: none)."""
        return len(self._traj)

    def _traj_frame(self, index: int) -> tuple[list[str], list[bytes]]:
        pos, cell = _frame_arrays(self._traj[index])
        if cell is None:
            return ["positions"], [adapters.f32(pos)]
        return ["positions", "cell"], [adapters.f32(pos), adapters.f32(cell)]

    def _on_msg(self, _widget: Any, content: Any, buffers: list) -> None:
        """Requests from the browser: ``{type: "get_frame", id, index}`` -> ``{type: "reply", id, result | error}``."""
        if not isinstance(content, dict) or content.get("type") != "get_frame":
            return
        try:
            index = int(content["index"])
            if not 0 <= index < len(self._traj):
                raise IndexError(f"frame {index} is out of range (trajectory has {len(self._traj)} frames)")
            parts, out = self._traj_frame(index)
        except Exception as err:  # answered, so the browser never waits forever
            self.send({"type": "reply", "id": content.get("id"), "error": str(err)})
            return
        self.send({"type": "reply", "id": content.get("id"), "result": {"index": index, "parts": parts}}, buffers=out)

    def push_frame(self, positions: Any, cell: Any = None, values: Any = None, vectors: Any = None) -> None:
        """Stream one frame of a running simulation (cell may change: NPT).

        ``vectors`` [n, 3]: this frame's arrows (forces, velocities), drawn at the
        ``vector_scale`` of ``show_vectors``. Frames faster than ``max_fps`` coalesce:
        the latest is sent, none queue up. Picked atoms' measurements follow the frames.
        """
        pos = np.asarray(positions, dtype=float).reshape(-1, 3)
        if pos.shape[0] != self.n_atoms:
            raise ValueError(f"push_frame got {pos.shape[0]} positions for {self.n_atoms} atoms")
        parts = {"positions": pos}
        if cell is not None:
            parts["cell"] = np.asarray(cell, dtype=float).reshape(3, 3)
        if values is not None:
            values = np.asarray(values, dtype=float).ravel()
            args = self._color_args or {}
            parts["colors"], _ = adapters.colormap(values, **args)
            parts["values"] = values
        if vectors is not None:
            parts["vectors"] = np.asarray(vectors, dtype=float)
            if parts["vectors"].shape != (self.n_atoms, 3):
                raise ValueError(f"push_frame needs vectors of shape ({self.n_atoms}, 3), got shape {parts['vectors'].shape}")
        self._seq += 1
        self._pending = (self._seq, parts)
        self.last_frame = parts
        wait = self._last_sent + 1.0 / self.max_fps - time.monotonic()
        if wait <= 0:
            self._flush()
        elif self._flush_handle is None:
            try:
                loop = asyncio.get_event_loop()
            except RuntimeError:
                self._flush()
                return
            self._flush_handle = loop.call_later(wait, self._flush)

    def flush(self) -> None:
        """Send the latest pending frame now (the end of a run)."""
        self._flush()

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pending is None:
            return
        seq, parts = self._pending
        self._pending = None
        self._last_sent = time.monotonic()
        self.send({"type": "frame", "seq": seq, "parts": list(parts)}, buffers=[adapters.f32(v) for v in parts.values()])
        if self.measurements:
            self._update_measurements()  # at the frames' pace, not at every push

    @property
    def frames_sent(self) -> int:
        return self._seq

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


def _frame_arrays(frame: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(frame, np.ndarray):
        return frame.reshape(-1, 3), None
    if hasattr(frame, "cart_coords"):  # pymatgen
        return np.asarray(frame.cart_coords), np.asarray(frame.lattice.matrix)
    if hasattr(frame, "get_positions"):  # ASE
        return frame.get_positions(), np.asarray(frame.cell.array)
    pos = np.asarray(frame.positions, dtype=float).reshape(-1, 3)
    cell = getattr(frame, "cell", None)
    return pos, None if cell is None else np.asarray(cell, dtype=float).reshape(3, 3)
