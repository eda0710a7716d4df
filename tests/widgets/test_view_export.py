"""StructureView export, Python side: requests, binary replies in chunks, files written atomically."""

from __future__ import annotations

import numpy as np
import pytest

from matwidgets.widgets.structure_view import StructureView


@pytest.fixture
def view(nacl, monkeypatch):
    v = StructureView(nacl)
    v.sent = []
    monkeypatch.setattr(v, "send", lambda content, buffers=None: v.sent.append((content, buffers)))
    return v


def reply(view, rid, chunks, viewer="a"):
    for k, c in enumerate(chunks):
        view._on_msg(view, {"type": "export_chunk", "id": rid, "view": viewer, "seq": k}, [memoryview(c)])
    view._on_msg(view, {"type": "export_done", "id": rid, "view": viewer, "n": len(chunks)}, [])


def test_save_png_asks_the_browser_and_writes_its_reply(view, tmp_path):
    path = tmp_path / "nacl.png"
    fut = view.save_png(path, width=640, height=360)
    req = view.sent[-1][0]
    assert {k: req[k] for k in ("type", "format", "width", "height")} == {"type": "export", "format": "png", "width": 640, "height": 360}
    assert not fut.done() and not path.exists()  # nothing until the browser answers
    # another view of the same widget (a second page) answering too is ignored
    reply(view, req["id"], [b"\x89PNG", b"rest"])
    view._on_msg(view, {"type": "export_chunk", "id": req["id"], "view": "b", "seq": 0}, [b"other"])
    assert fut.result(timeout=0) == path and path.read_bytes() == b"\x89PNGrest"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_snapshot_bytes_errors_and_any_order(view):
    fut = view.snapshot()
    rid = view.sent[-1][0]["id"]
    assert view.sent[-1][0]["width"] is None  # the canvas's own size
    reply(view, rid, [b"ab", b"cd", b"ef"])
    assert fut.result(timeout=0) == b"abcdef"
    # ipykernel 7 can handle "done" before the chunks, and chunks out of order (a comm message
    # that comes while a cell runs is handled at once): the bytes still join in seq order
    fut = view.snapshot(100, 100)
    rid = view.sent[-1][0]["id"]
    view._on_msg(view, {"type": "export_done", "id": rid, "view": "a", "n": 3}, [])
    for k in (2, 0):
        view._on_msg(view, {"type": "export_chunk", "id": rid, "view": "a", "seq": k}, [memoryview(b"xyz"[k:k + 1])])
    assert not fut.done()
    view._on_msg(view, {"type": "export_chunk", "id": rid, "view": "a", "seq": 1}, [b"y"])
    assert fut.result(timeout=0) == b"xyz"
    fut = view.snapshot(100, 100)
    rid = view.sent[-1][0]["id"]
    view._on_msg(view, {"type": "export_chunk", "id": rid, "view": "a", "seq": 7}, [b"x"])
    view._on_msg(view, {"type": "export_done", "id": rid, "view": "a", "n": 1}, [])
    with pytest.raises(RuntimeError, match=r"chunks \[7\] arrived, expected 0..0"):
        fut.result(timeout=0)
    fut = view.snapshot(100, 100)
    rid = view.sent[-1][0]["id"]
    for _ in range(2):
        view._on_msg(view, {"type": "export_chunk", "id": rid, "view": "a", "seq": 0}, [b"x"])
    with pytest.raises(RuntimeError, match="chunk 0 arrived twice"):
        fut.result(timeout=0)
    fut = view.snapshot(100, 100)
    view._on_msg(view, {"type": "export_error", "id": view.sent[-1][0]["id"], "view": "a", "error": "no WebGL"}, [])
    with pytest.raises(RuntimeError, match="no WebGL"):
        fut.result(timeout=0)


@pytest.mark.parametrize("size", [0, 15, 9000, 1.5, True, "640"])
def test_sizes_checked(view, tmp_path, size):
    with pytest.raises(ValueError, match="width must be an integer number of pixels"):
        view.save_png(tmp_path / "x.png", width=size)


def test_save_movie_needs_a_trajectory(view, nacl, tmp_path):
    with pytest.raises(ValueError, match="call show_frames"):
        view.save_movie(tmp_path / "m.webm")
    view.show_frames(nacl.cart_coords[None] + 0.05 * np.arange(6)[:, None, None])
    for fps in [0, -1, 61, "10"]:
        with pytest.raises(ValueError, match="fps must be"):
            view.save_movie(tmp_path / "m.webm", fps=fps)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        view.save_movie(tmp_path / "missing" / "m.webm")
    fut = view.save_movie(tmp_path / "m.webm", fps=12, width=320, height=240)
    req = view.sent[-1][0]
    assert (req["format"], req["fps"], req["n_frames"], req["width"], req["height"]) == ("webm", 12.0, 6, 320, 240)
    reply(view, req["id"], [b"\x1a\x45\xdf\xa3", b"cluster"])
    assert fut.result(timeout=0).read_bytes() == b"\x1a\x45\xdf\xa3cluster"
