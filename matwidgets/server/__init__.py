"""Jupyter server extension: structure files parsed for the JupyterLab file viewer.

``GET /matwidgets/structure?path=<file relative to the server root>`` answers with the
same state a StructureView would sync (binary arrays base64-encoded), parsed with our
readers (pymatgen, then ASE). The lab extension (js/lab/) draws it with the widget's own
three.js renderer. A file that does not parse answers 422 with the parser's message; a
structure above ``MAX_ATOMS`` answers 413 unless the viewer asks with ``force=1``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

MAX_ATOMS = 200_000
MAX_FRAMES = 1000


def structure_state(path: Path, force: bool = False) -> dict:
    """{"state", "binary", "frames", "n_atoms"} for the first structure of a file (and its frames)."""
    from ase.io import read

    from matwidgets.engine.atoms import read_structure
    from matwidgets.widgets.save_html import view_state
    from matwidgets.widgets.structure_view import StructureView

    try:
        frames = read(str(path), index=f":{MAX_FRAMES}") if path.suffix.lower() in (".traj", ".xyz", ".extxyz") else []
    except Exception:  # noqa: BLE001 - a file ASE cannot read as frames is read as one structure below
        frames = []
    structure = frames[0] if frames else read_structure(path)
    n = len(structure)
    if n > MAX_ATOMS and not force:
        raise TooLarge(n)
    view = StructureView(structure)
    if len(frames) > 1 and len({len(f) for f in frames}) == 1:
        view._traj = frames
    state, binary = view_state(view)
    out_frames = []
    for k in range(len(view._traj)):
        parts, buffers = view._traj_parts(k)
        out_frames.append({"parts": parts, "buffers": [base64.b64encode(bytes(b)).decode() for b in buffers]})
    if out_frames:
        state["traj_frames"], state["traj_index"] = len(out_frames), 0
    view.close()
    return {"state": state, "binary": binary, "frames": out_frames, "n_atoms": n}


class TooLarge(Exception):
    def __init__(self, n: int):
        super().__init__(f"{n:,} atoms is more than {MAX_ATOMS:,}: rendering it may make the browser slow")
        self.n = n


class StructureHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        rel = self.get_query_argument("path")
        root = Path(self.settings["server_root_dir"]).expanduser().resolve()
        path = (root / rel).resolve()
        if root not in path.parents and path != root:
            raise web.HTTPError(403, "outside the server's root directory")
        if not path.is_file():
            raise web.HTTPError(404, f"{rel}: no such file")
        try:
            body = structure_state(path, force=self.get_query_argument("force", "0") == "1")
        except TooLarge as err:
            self.set_status(413)
            self.finish(json.dumps({"error": str(err), "n_atoms": err.n, "too_large": True}))
            return
        except Exception as err:  # noqa: BLE001 - the parser's own message goes to the tab; the server stays up
            self.set_status(422)
            self.finish(json.dumps({"error": f"{type(err).__name__}: {err}"}))
            return
        self.finish(json.dumps(body))


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], "matwidgets", "structure")
    web_app.add_handlers(".*$", [(route, StructureHandler)])
    serverapp.log.info("matwidgets: structure file viewer at %s", route)




def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "matwidgets.server"}]
