"""StructureView's trajectories: streamed frames (push_frame) and kept ones (show_frames).

A mixin kept apart from structure_view.py. Positions travel as binary frame messages;
what a frame changes beyond positions (its bonds, or its atoms) is state and goes
through the traits, stamped with ``topology_id`` so each frame message is drawn with
the bonds and atoms it belongs to (the browser applies trait updates asynchronously,
custom messages at once: a frame that is ahead of its traits waits for them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import traitlets as t

from matwidgets.widgets import adapters
from matwidgets.widgets.bonding import FrameBonds


class FrameStream(t.HasTraits):
    """Traits and methods of StructureView that play trajectories."""

    _batch = None
    # bonds recomputed for every frame sent (kernel-side): bonds break and form during MD
    bonds_per_frame = t.Bool(True)
    # bumped whenever the bonds or the atoms change; frame messages carry the value they belong to
    topology_id = t.Int(0).tag(sync=True)
    # a trajectory kept in the kernel (show_frames): its length and first frame, for views rendered later
    traj_frames = t.Int(0).tag(sync=True)
    traj_index = t.Int(0).tag(sync=True)

    # the lowest resolution (a fraction of the screen's pixels each way) a stream is drawn at
    # while drawing cannot keep up with it at 30 frames/s (WebGL without a GPU pays for every
    # pixel); drawn sharp again once the stream pauses. 1: always full resolution
    stream_resolution = t.Float(0.5).tag(sync=True)

    max_fps = 60.0  # streamed frames per second at most; the rest coalesce (latest wins)

    @t.validate("stream_resolution")
    def _check_stream_resolution(self, proposal):
        value = float(proposal["value"])
        if not 0.25 <= value <= 1.0:
            raise t.TraitError(f"stream_resolution must be between 0.25 and 1 (a fraction of the screen's resolution), got {value}")
        return value

    def _init_frames(self) -> None:
        self._seq = 0
        self._pending: tuple | None = None
        self._last_sent = 0.0
        self._flush_handle = None
        self.last_frame: dict | None = None  # the latest pushed frame's arrays
        self._push_numbers: np.ndarray | None = None  # atoms of the latest pushed frame (None: the structure's)
        self._traj: list = []  # frames of show_frames, sent on request
        self._traj_numbers: np.ndarray | None = None
        self._frame_cell: np.ndarray | None = None  # the latest streamed cell (NPT)
        self._frame_bonds = FrameBonds()  # a Verlet list: frames re-measure it, not search again
        self._bonds_of: tuple | None = None  # the frame the bonds were last found for: ("push",) or ("traj", k)

    # ---- kept trajectories -------------------------------------------------------------
    def show_frames(self, frames: Any, index: int = 0) -> None:
        """Play back a trajectory with a slider, starting at frame ``index`` (-1: the last).

        ``frames``: a list of structures (pymatgen/ASE), of objects with ``positions``
        (and optionally ``cell`` and ``numbers``) such as MDFrame, or an array
        [n_frames, n_atoms, 3]. Structures may differ in atom count and species from
        frame to frame; frames without species have the current structure's atoms.
        Frames go to the browser on demand, one at a time as the slider asks for them,
        never the whole trajectory at once; the view keeps a reference to ``frames``.
        """
        frames = list(frames)
        if not frames:
            raise ValueError("show_frames needs at least one frame")
        for k, f in enumerate(frames):
            pos, _, numbers = frame_arrays(f)
            n = self.n_atoms if numbers is None else len(numbers)
            if pos.shape != (n, 3):
                raise ValueError(f"frame {k} has positions of shape {pos.shape}, expected ({n}, 3)")
        self._traj = frames
        self._traj_numbers = self._numbers()
        self._bonds_of = None
        index = range(len(frames))[index]  # -1 -> last; IndexError when out of range
        parts, buffers, topo = self._traj_frame(index)
        self.traj_frames, self.traj_index = len(frames), index
        self.send({"type": "trajectory", "n_frames": len(frames), "index": index, "parts": parts, "topo": topo}, buffers=buffers)

    def clear_frames(self) -> None:
        """Hide the trajectory slider (a new run is about to stream)."""
        self._traj = []
        self._bonds_of = None
        self.traj_frames = 0
        self.send({"type": "trajectory", "n_frames": 0, "index": 0, "parts": []})

    @property
    def n_frames(self) -> int:
        """Frames of the trajectory shown with ``show_frames`` (0: none)."""
        return len(self._traj)

    def _traj_parts(self, index: int) -> tuple[list[str], list[bytes]]:
        """Frame ``index`` as frame-message parts and buffers, changing nothing (saved pages)."""
        pos, cell, _ = frame_arrays(self._traj[index])
        if cell is None:
            return ["positions"], [adapters.f32(pos)]
        return ["positions", "cell"], [adapters.f32(pos), adapters.f32(cell)]

    def _traj_frame(self, index: int) -> tuple[list[str], list[bytes], int]:
        """Frame ``index`` for the browser: its bonds and atoms become the traits first."""
        pos, cell, numbers = frame_arrays(self._traj[index])
        numbers = self._traj_numbers if numbers is None else numbers
        # bonds keep their hysteresis from the frame before or after, not across a jump
        last, self._bonds_of = self._bonds_of, ("traj", index)
        follows = last is not None and last[0] == "traj" and abs(last[1] - index) == 1
        self._follow_topology(numbers, pos, self._batch.cell[0].numpy() if cell is None else cell, follows)
        return (*self._traj_parts(index), self.topology_id)

    def _on_get_frame(self, content: dict) -> None:
        """``{type: "get_frame", id, index}`` -> ``{type: "reply", id, result | error}``."""
        try:
            index = int(content["index"])
            if not 0 <= index < len(self._traj):
                raise IndexError(f"frame {index} is out of range (trajectory has {len(self._traj)} frames)")
            parts, out, topo = self._traj_frame(index)
        except Exception as err:  # answered, so the browser never waits forever
            self.send({"type": "reply", "id": content.get("id"), "error": str(err)})
            return
        self.send({"type": "reply", "id": content.get("id"), "result": {"index": index, "parts": parts, "topo": topo}}, buffers=out)

    # ---- streamed frames ---------------------------------------------------------------
    def push_frame(self, positions: Any, cell: Any = None, values: Any = None, vectors: Any = None, numbers: Any = None) -> None:
        """Stream one frame of a running simulation (cell may change: NPT).

        ``numbers`` [n]: this frame's atomic numbers, when atoms are added, removed or
        change species (later frames keep them). Bonds are recomputed for each frame
        sent (``bonds_per_frame``). ``vectors`` [n, 3]: this frame's arrows (forces,
        velocities), drawn at the ``vector_scale`` of ``show_vectors``. Frames faster
        than ``max_fps`` coalesce: the latest is sent, none queue up. Picked atoms'
        measurements follow the frames.
        """
        if numbers is not None:
            numbers = np.asarray(numbers, dtype=np.int64).ravel()
            from ase.data import chemical_symbols

            bad = numbers[(numbers < 1) | (numbers >= len(chemical_symbols))]
            if len(bad):
                raise ValueError(f"push_frame: {bad.tolist()} are not atomic numbers")
            self._push_numbers = numbers
        n = len(self._numbers(pushed=True))
        pos = np.asarray(positions, dtype=float).reshape(-1, 3)
        if pos.shape[0] != n:
            raise ValueError(f"push_frame got {pos.shape[0]} positions for {n} atoms")
        parts = {"positions": pos}
        if cell is not None:
            parts["cell"] = np.asarray(cell, dtype=float).reshape(3, 3)
        if values is not None:
            values = np.asarray(values, dtype=float).ravel()
            if len(values) != n:
                raise ValueError(f"push_frame got {len(values)} values for {n} atoms")
            args = self._color_args or {}
            parts["colors"], _ = adapters.colormap(values, **args)
            parts["values"] = values
        if vectors is not None:
            parts["vectors"] = np.asarray(vectors, dtype=float)
            if parts["vectors"].shape != (n, 3):
                raise ValueError(f"push_frame needs vectors of shape ({n}, 3), got shape {parts['vectors'].shape}")
        self._seq += 1
        self._pending = (self._seq, parts, self._numbers(pushed=True))
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
        seq, parts, numbers = self._pending
        self._pending = None
        self._last_sent = time.monotonic()
        if "cell" in parts:
            self._frame_cell = parts["cell"]
        cell = self._batch.cell[0].numpy() if self._frame_cell is None else self._frame_cell
        follows, self._bonds_of = self._bonds_of == ("push",), ("push",)
        self._follow_topology(numbers, parts["positions"], cell, follows)
        self.last_frame = parts
        msg = {"type": "frame", "seq": seq, "parts": list(parts), "topo": self.topology_id}
        self.send(msg, buffers=[adapters.f32(v) for v in parts.values()])
        if self.measurements:
            self._update_measurements()  # at the frames' pace, not at every push

    @property
    def frames_sent(self) -> int:
        return self._seq

    # ---- topology: the atoms and bonds a frame is drawn with ------------------------------
    def _numbers(self, pushed: bool = False) -> np.ndarray:
        if pushed and self._push_numbers is not None:
            return self._push_numbers
        return np.zeros(0, np.int64) if self._batch is None else self._batch.numbers.numpy()

    def _follow_topology(self, numbers: np.ndarray, pos: np.ndarray, cell: np.ndarray, follows: bool = False) -> None:
        """Before a frame is sent: new atoms -> a new structure; new bonds -> new bond traits.

        ``follows``: the frame comes right after the last one whose bonds were found
        (bonds then break with hysteresis, see FrameBonds)."""
        if abs(np.linalg.det(cell)) < 1e-9:  # an ASE frame without a cell: the structure's box
            cell = self._batch.cell[0].numpy()
        if not np.array_equal(numbers, self._numbers()):
            import torch

            from matwidgets.engine.atoms import AtomsBatch

            batch = AtomsBatch(positions=torch.tensor(np.array(pos, dtype=float)), cell=torch.tensor(np.array(cell, dtype=float))[None],
                               numbers=torch.as_tensor(numbers, dtype=torch.int64), pbc=self._batch.pbc.clone(),
                               system_idx=torch.zeros(len(numbers), dtype=torch.long))
            self._set_batch(batch, keep_stream=True)
            return
        if not self.bonds_per_frame:
            return
        bi, bj, bs = self._frame_bonds(numbers, pos, cell, self._batch.pbc[0].numpy(), follows)
        if (adapters.i32(bi) == self.bond_i and adapters.i32(bj) == self.bond_j and adapters.f32(bs) == self.bond_shift):
            return
        with self.hold_sync():
            # the frame's positions with its bonds: a view rendered later draws them together
            self.positions, self.cell = adapters.f32(pos), adapters.f32(cell)
            self.bond_i, self.bond_j, self.bond_shift = adapters.i32(bi), adapters.i32(bj), adapters.f32(bs)
            self._update_sites()  # outside neighbours follow the bonds (which atoms are in the box does not)
            self.topology_id += 1

    @property
    def bonds_now(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The bonds drawn now (those of the latest frame sent): i [e], j [e], cell shift of j [e, 3]."""
        return (np.frombuffer(self.bond_i, "<i4"), np.frombuffer(self.bond_j, "<i4"),
                np.frombuffer(self.bond_shift, "<f4").reshape(-1, 3))


def frame_arrays(frame: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(positions [n, 3], cell [3, 3] or None, atomic numbers [n] or None) of one frame."""
    if isinstance(frame, np.ndarray):
        return frame.reshape(-1, 3), None, None
    if hasattr(frame, "cart_coords"):  # pymatgen
        return np.asarray(frame.cart_coords), np.asarray(frame.lattice.matrix), np.asarray(frame.atomic_numbers, dtype=np.int64)
    if hasattr(frame, "get_positions"):  # ASE
        return frame.get_positions(), np.asarray(frame.cell.array), np.asarray(frame.numbers, dtype=np.int64)
    pos = np.asarray(frame.positions, dtype=float).reshape(-1, 3)
    cell = getattr(frame, "cell", None)
    numbers = getattr(frame, "numbers", None)
    return (pos, None if cell is None else np.asarray(cell, dtype=float).reshape(3, 3),
            None if numbers is None else np.asarray(numbers, dtype=np.int64).ravel())
