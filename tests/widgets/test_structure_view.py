"""StructureView, Python side: traits, binary buffers, bonds, colours, frame coalescing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import traitlets

from matwidgets.widgets.structure_view import StructureView

JS_SRC = Path(__file__).resolve().parents[2] / "js" / "src"
# the entry, the viewer it loads once per page, and the viewer's parts
JS = [JS_SRC / "structure_view.js", JS_SRC / "lib" / "viewer3d.js"] + [JS_SRC / "lib" / f"{m}.js" for m in ("drawing", "sites", "vectors", "labels", "polyhedra", "export", "impostors")]


def bond_vectors(view):
    pos = np.frombuffer(view.positions, "<f4").reshape(-1, 3)
    cell = np.frombuffer(view.cell, "<f4").reshape(3, 3)
    i, j = np.frombuffer(view.bond_i, "<i4"), np.frombuffer(view.bond_j, "<i4")
    shift = np.frombuffer(view.bond_shift, "<f4").reshape(-1, 3)
    return i, pos[j] - pos[i] + shift @ cell


def test_traits_synced_equal_keys_read_by_js():
    src = "".join(p.read_text() for p in JS)
    read = set(re.findall(r'\b(?:model|m)\.get\("(\w+)"\)', src)) | set(re.findall(r'change:(\w+)', src))
    synced = {name for name in StructureView.class_trait_names(sync=True) if not name.startswith("_")}
    synced -= set(traitlets.HasTraits.class_trait_names()) | {"layout", "tabbable", "tooltip", "keys", "log"}
    assert read == synced


def test_periodic_bonds_diamond(si):
    view = StructureView(si)
    i, vec = bond_vectors(view)
    d = np.linalg.norm(vec, axis=1)
    # every Si has exactly 4 bonds of 2.35 Å, many of them through cell faces
    np.testing.assert_allclose(d, 5.43 * np.sqrt(3) / 4, atol=1e-4)
    assert np.bincount(i, minlength=8).tolist() == [4] * 8
    assert (np.abs(np.frombuffer(view.bond_shift, "<f4")) > 0).any()


def test_binary_buffers_and_species(nacl):
    view = StructureView(nacl)
    assert isinstance(view.positions, bytes) and len(view.positions) == 8 * 3 * 4
    np.testing.assert_allclose(np.frombuffer(view.positions, "<f4").reshape(-1, 3), nacl.cart_coords, atol=1e-5)
    assert view.species == {"11": "Na", "17": "Cl"}
    assert view.structure == nacl


def test_color_by_diverging_and_errors(nacl):
    view = StructureView(nacl)
    view.color_by(np.linspace(-0.5, 2.0, 8), label="SHAP")
    assert view.colorbar["vmin"] == -2.0 and view.colorbar["vmax"] == 2.0 and view.colorbar["center"] == 0.0
    colors = np.frombuffer(view.colors, "<f4").reshape(-1, 3)
    assert colors[-1, 0] > colors[-1, 2]  # most positive is red
    view.color_by(np.arange(8.0))
    assert view.colorbar["cmap"] == "viridis" and view.colorbar["vmin"] == 0.0
    with pytest.raises(ValueError, match="one value per atom"):
        view.color_by([1.0, 2.0])
    view.color_by(None)
    assert view.colorbar == {} and view.values == b""


def test_element_colours_stay_under_color_by(nacl):
    """The legend and the rings keep each atom's element visible while colours show values."""
    from matwidgets.widgets import adapters

    view = StructureView(nacl)
    jmol = adapters.jmol_colors(np.frombuffer(view.numbers, "<i4"))
    view.color_by(np.linspace(-1, 1, 8), label="SHAP")
    np.testing.assert_allclose(np.frombuffer(view.element_colors, "<f4").reshape(-1, 3), jmol, atol=1e-6)
    assert not np.allclose(np.frombuffer(view.colors, "<f4").reshape(-1, 3), jmol)


def test_viewer_source_bonds_closed_and_three_loaded_once():
    entry, viewer = (p.read_text() for p in JS[:2])
    impostors = (JS_SRC / "lib" / "impostors.js").read_text()
    # bond impostors are closed where an end shows (the pixels: tests/browser/test_structure_view_bonds.py)
    assert "flat cap" in impostors and "vCap" in impostors
    # the entry imports three.js only through the page-wide, lazily imported viewer module
    assert "from \"three\"" not in entry and 'import("./lib/viewer3d.js")' in entry and "globalThis[VIEWER] ??=" in entry
    bundle = (Path(__file__).resolve().parents[2] / "matwidgets" / "static" / "structure_view.js").read_text()
    assert "Symbol.for(\"matwidgets.structure_view.viewer3d\")" in bundle


def test_repeat_and_selection_validation(nacl):
    view = StructureView(nacl)
    view.repeat = [2, 3, 4]
    with pytest.raises(traitlets.TraitError, match="1-4"):
        view.repeat = [0, 1, 1]
    view.selected = [1, 7]
    with pytest.raises(traitlets.TraitError, match="out of range"):
        view.selected = [8]


def test_push_frame_coalesces_latest_wins(nacl, monkeypatch):
    view = StructureView(nacl)
    sent = []
    monkeypatch.setattr(view, "send", lambda content, buffers=None: sent.append((content, buffers)))
    pos = nacl.cart_coords
    for k in range(200):
        view.push_frame(pos + 0.001 * k)
    # no event loop runs during this loop: the first frame went out, the rest coalesced
    assert len(sent) == 1
    view.flush()
    assert len(sent) == 2 and sent[-1][0]["seq"] == 200
    last = np.frombuffer(sent[-1][1][0], "<f4").reshape(-1, 3)
    np.testing.assert_allclose(last, pos + 0.199, atol=1e-5)
    with pytest.raises(ValueError, match="positions for 8 atoms"):
        view.push_frame(np.zeros((3, 3)))


def test_push_frame_with_cell_and_values(nacl, monkeypatch):
    view = StructureView(nacl)
    view.color_by(np.arange(8.0))
    sent = []
    monkeypatch.setattr(view, "send", lambda content, buffers=None: sent.append((content, buffers)))
    view.push_frame(nacl.cart_coords, cell=nacl.lattice.matrix * 1.01, values=np.arange(8.0)[::-1])
    assert sent[0][0]["parts"] == ["positions", "cell", "colors", "values"]


def test_show_frames_checks_shapes(nacl, monkeypatch):
    view = StructureView(nacl)
    sent = []
    monkeypatch.setattr(view, "send", lambda content, buffers=None: sent.append((content, buffers)))
    frames = [nacl.copy() for _ in range(5)]
    view.show_frames(frames)
    assert sent[0][0] == {"type": "trajectory", "n_frames": 5, "index": 0, "parts": ["positions", "cell"], "topo": view.topology_id}
    assert [len(b) for b in sent[0][1]] == [8 * 3 * 4, 9 * 4]  # one frame, not the trajectory
    with pytest.raises(ValueError, match="expected \\(8, 3\\)"):
        view.show_frames([np.zeros((2, 3))])


def test_playback_sends_frames_on_request(nacl, monkeypatch):
    view = StructureView(nacl)
    sent = []
    monkeypatch.setattr(view, "send", lambda content, buffers=None: sent.append((content, buffers)))
    traj = nacl.cart_coords[None] + 0.01 * np.arange(200)[:, None, None]  # [200, 8, 3]
    view.show_frames(traj, index=-1)
    assert sent[-1][0]["index"] == 199 and view.n_frames == 200
    np.testing.assert_allclose(np.frombuffer(sent[-1][1][0], "<f4").reshape(8, 3), traj[199], atol=1e-5)
    # the browser asks for frame 42 (a slider move); the reply carries that frame only
    view._on_msg(view, {"type": "get_frame", "id": 7, "index": 42}, [])
    content, buffers = sent[-1]
    assert content == {"type": "reply", "id": 7, "result": {"index": 42, "parts": ["positions"], "topo": view.topology_id}}
    np.testing.assert_allclose(np.frombuffer(buffers[0], "<f4").reshape(8, 3), traj[42], atol=1e-5)
    assert sum(len(b) for _, bufs in sent for b in bufs or []) == 2 * 8 * 3 * 4  # two frames sent in all
    # a bad request is answered with an error, never left waiting
    view._on_msg(view, {"type": "get_frame", "id": 8, "index": 200}, [])
    assert sent[-1][0]["id"] == 8 and "out of range" in sent[-1][0]["error"]
    view.clear_frames()
    assert sent[-1][0]["n_frames"] == 0 and view.n_frames == 0


def test_to_nglview_same_structure_cell_and_colours(nacl):
    view = StructureView(nacl)
    view.color_by(np.arange(8.0))
    ngl = view.to_nglview()
    msgs = [(m.get("methodName"), m.get("args"), m.get("kwargs")) for m in ngl._ngl_msg_archive]
    assert len(ngl._ngl_component_ids) == 1
    pdb = msgs[0][1][0]["data"]
    assert pdb.startswith("CRYST1    5.640    5.640    5.640") and pdb.count("ATOM") + pdb.count("HETATM") == 8
    colors = np.frombuffer(view.colors, "<f4").reshape(-1, 3)
    reps = {kw["sele"]: kw["color"] for name, args, kw in msgs if name == "addRepresentation" and args == ["ball+stick"]}
    for atom in range(8):
        hexcolor = next(c for sele, c in reps.items() if str(atom) in sele[1:].split(","))
        np.testing.assert_allclose([int(hexcolor[k : k + 2], 16) / 255 for k in (1, 3, 5)], colors[atom], atol=0.003)
    assert any(args == ["unitcell"] for name, args, kw in msgs if name == "addRepresentation")
