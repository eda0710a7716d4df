"""StructureView's image and movie export: drawn in the browser, written by the kernel.

The browser draws the picture at the size asked for (an offscreen render target, not
the canvas on the page) and sends it back as binary buffers: a PNG, or a WebM movie
of the trajectory recorded with MediaRecorder, in chunks. A kernel cannot wait for
a browser reply inside the cell that asked (the reply is only read once the cell
has finished), so each call returns a ``concurrent.futures.Future`` at once; the file
is written when the reply comes, and the future then holds the path (or the bytes).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import traitlets as t

MAX_SIZE = 8192  # px along each side (WebGL's usual render-target limit)
MAX_FPS = 60


def _size(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= MAX_SIZE:
        raise ValueError(f"{name} must be an integer number of pixels from 16 to {MAX_SIZE}, got {value!r}")
    return value


def _write_atomic(path: Path, chunks: list[bytes]) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class Export(t.HasTraits):
    """snapshot / save_png / save_movie of StructureView."""

    def _init_export(self) -> None:
        self._exports: dict[str, dict] = {}  # request id -> {future, kind, path, chunks}

    def snapshot(self, width: int | None = None, height: int | None = None) -> Future:
        """PNG bytes of the view drawn at ``width`` x ``height`` px (default: the canvas's size).

        Returns a Future: it is done once the browser has answered, which is after the
        cell that called this has finished (``fut.result()`` in a later cell, or
        ``await asyncio.wrap_future(fut)``). The picture is the view's camera at that
        size: atoms, bonds, cell, arrows and polyhedra, without the HTML overlays.
        """
        return self._request("png", None, width=_size("width", width), height=_size("height", height))

    def save_png(self, path: str | os.PathLike, width: int | None = None, height: int | None = None) -> Future:
        """Write the view as a PNG of ``width`` x ``height`` px to ``path``; see ``snapshot``.

        The Future's result is the path written (atomically).
        """
        return self._request("png", Path(path), width=_size("width", width), height=_size("height", height))

    def save_movie(self, path: str | os.PathLike, fps: float = 10, width: int | None = None, height: int | None = None) -> Future:
        """Record the trajectory of ``show_frames`` as a WebM movie at ``path``, one picture per frame.

        The browser steps through every frame, draws it at ``width`` x ``height`` px and
        records it with MediaRecorder at ``fps`` frames per second (real time: a trajectory
        of 100 frames at 10 fps takes 10 s to record); the movie comes back in chunks,
        written to ``path`` when complete. Returns a Future of the path, as ``snapshot``.
        """
        if not self.n_frames:
            raise ValueError("save_movie records the trajectory of show_frames: call show_frames(frames) first")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= MAX_FPS:
            raise ValueError(f"fps must be a number in (0, {MAX_FPS}], got {fps!r}")
        return self._request("webm", Path(path), width=_size("width", width), height=_size("height", height),
                             fps=float(fps), n_frames=self.n_frames)

    def _request(self, kind: str, path: Path | None, **args: Any) -> Future:
        if path is not None and not path.parent.is_dir():
            raise FileNotFoundError(f"folder {path.parent} does not exist")
        rid = secrets.token_hex(8)
        fut: Future = Future()
        self._exports[rid] = {"future": fut, "kind": kind, "path": path, "chunks": {}}  # chunks: seq -> bytes
        self.send({"type": "export", "id": rid, "format": kind, **args})
        return fut

    def _on_export_msg(self, content: dict, buffers: list) -> None:
        """``{type: "export_chunk", id, view, seq}`` + buffer, and ``{type: "export_done", id, n}``, or ``{type: "export_error", id, error}``."""
        job = self._exports.get(content.get("id"))
        if job is None:
            return
        # every view of the widget may answer (views in two pages): the first to answer is kept
        job.setdefault("view", content.get("view"))
        if content.get("view") != job["view"]:
            return
        kind = content.get("type")
        if kind == "export_chunk":
            seq = content.get("seq")
            if seq in job["chunks"]:  # never sent twice by our views: a count that could never add up
                del self._exports[content["id"]]
                job["future"].set_exception(RuntimeError(f"export: chunk {seq} arrived twice"))
                return
            job["chunks"][seq] = bytes(buffers[0]) if buffers else b""
        elif kind == "export_error":
            self._fail(content["id"], str(content.get("error")))
            return
        elif kind == "export_done":
            job["n"] = content.get("n")
        # ipykernel (7.4) handles a comm message that comes while a cell runs at once, and one
        # that came just before it after the cell: "done" can be handled before its last chunk.
        # So the file is written once "done" and all n chunks are in, in whichever order. There
        # is no timeout: chunks queued behind a long cell come when it ends (the websocket
        # loses none).
        n = job.get("n")
        if n is None or len(job["chunks"]) < n:
            return
        del self._exports[content["id"]]
        if sorted(job["chunks"]) != list(range(n)):
            job["future"].set_exception(RuntimeError(f"export: chunks {sorted(job['chunks'])} arrived, expected 0..{n - 1}"))
            return
        try:
            data = b"".join(job["chunks"][k] for k in range(n))
            job["future"].set_result(data if job["path"] is None else _write_atomic(job["path"], [data]))
        except Exception as err:  # a full disk or a removed folder: the future says so
            job["future"].set_exception(err)

    def _fail(self, rid: str, message: str) -> None:
        job = self._exports.pop(rid)
        job["future"].set_exception(RuntimeError(f"export failed in the browser: {message}"))
