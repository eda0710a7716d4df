"""save_html(widget, path): a self-contained, offline HTML page of any of our widgets.

ipywidgets' own ``embed_minimal_html`` loads its widget manager from a CDN, so its pages
stay blank offline. Our views are anywidget ES modules and plotly figures, which can run
without a widget manager: the page inlines each ESM (js/src/save_html.js gives it a
stand-in model over the saved state) and plotly.js from the plotly package, and draws
the ipywidgets controls around them as plain, disabled HTML. Nothing is fetched from the
network; a trajectory shown with ``show_frames`` keeps up to ``max_frames`` frames.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as W

STATIC = Path(__file__).resolve().parent.parent / "static"


def save_html(widget: Any, path: str | os.PathLike, title: str = "matwidgets", max_frames: int = 1000) -> Path:
    """Write ``widget`` (and everything inside it) to ``path`` as one offline HTML file.

    Interactive parts stay interactive where they need no kernel: rotate and zoom a
    structure, play a saved trajectory, hover and zoom plots. Controls that would ask
    the kernel for work are shown as they are, disabled. Returns the path written
    (atomically: a reader never sees half a file).
    """
    if not isinstance(widget, W.Widget):
        raise TypeError(f"save_html needs a widget (StructureView, HullExplorer, ...), not {type(widget).__name__}")
    page = _Page(max_frames)
    body = page.render(widget)
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{CSS}</style>"
    doc = "<!doctype html>\n<html><head>" + head + "</head><body>" + page.assets() + body + "</body></html>\n"
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(doc)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


CSS = """body{font-family:system-ui,sans-serif;font-size:13px;margin:12px}
.mw-box{display:flex;gap:6px;flex-wrap:wrap;align-items:flex-start}.mw-vbox{display:flex;flex-direction:column;gap:6px}
.mw-control{display:inline-flex;gap:6px;align-items:center}.mw-tab h4{margin:8px 0 4px}pre{margin:0}"""


def view_state(w: anywidget.AnyWidget) -> tuple[dict, list[str]]:
    """An anywidget's synced state as JSON: binary traits base64-encoded (their names listed)."""
    state, binary = {}, []
    for name in w.keys:
        if name.startswith("_") or name in ("layout", "comm", "tabbable", "tooltip", "keys", "log"):
            continue
        value = getattr(w, name)
        if isinstance(value, (bytes, bytearray, memoryview)):
            state[name] = base64.b64encode(bytes(value)).decode()
            binary.append(name)
        elif not isinstance(value, W.Widget):
            state[name] = value
    return state, binary


def _script_text(source: str) -> str:
    """Source safe inside a <script> element (it must not close the element early)."""
    return source.replace("</script", "<\\/script")


def _json(obj: Any) -> str:
    return _script_text(json.dumps(obj, separators=(",", ":")))


class _Page:
    def __init__(self, max_frames: int):
        self.max_frames = max_frames
        self.esm: dict[str, str] = {}  # element id -> ES module source, once per module
        self.plotly = False
        self.n = 0

    def assets(self) -> str:
        """plotly.js (if a plot was drawn), each ES module once, and the script that mounts
        the views: put it once in the page, before or after the rendered bodies."""
        parts = []
        if self.plotly:
            from plotly.offline import get_plotlyjs

            parts.append(f"<script>{get_plotlyjs()}</script>")
        parts += [f"<script type='text/plain' id='{k}'>{_script_text(src)}</script>" for k, src in self.esm.items()]
        parts.append(f"<script type='module'>{_script_text((STATIC / 'save_html.js').read_text())}</script>")
        return "".join(parts)

    def new_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def render(self, w: Any) -> str:
        import plotly.graph_objects as go

        if isinstance(w, go.FigureWidget):  # its `layout` is plotly's, not an ipywidgets Layout
            return self.plot(w)
        layout = getattr(w, "layout", None)
        if isinstance(layout, W.Layout) and (layout.display == "none" or layout.visibility == "hidden"):
            return ""
        if isinstance(w, anywidget.AnyWidget):
            return self.view(w)
        if isinstance(w, (W.Tab, W.Accordion, W.Stack)):
            titles = list(getattr(w, "titles", ()) or ())
            parts = [f"<div class='mw-tab'><h4>{html.escape(str(titles[k]) if k < len(titles) and titles[k] else f'tab {k + 1}')}</h4>"
                     f"{self.render(c)}</div>" for k, c in enumerate(w.children)]
            return f"<div class='mw-vbox'>{''.join(parts)}</div>"
        if isinstance(w, W.Box):
            cls = "mw-vbox" if isinstance(w, W.VBox) else "mw-box"
            return f"<div class='{cls}'>{''.join(self.render(c) for c in w.children)}</div>"
        return _control(w)

    def view(self, w: anywidget.AnyWidget) -> str:
        esm = w._esm
        source = Path(esm).read_text() if isinstance(esm, Path) or (isinstance(esm, str) and os.path.exists(esm)) else str(esm)
        state, binary = view_state(w)
        traj = getattr(w, "_traj", None) or []
        frames = []
        for k in range(min(len(traj), self.max_frames)):
            parts, buffers = w._traj_parts(k)
            frames.append({"parts": parts, "buffers": [base64.b64encode(bytes(b)).decode() for b in buffers]})
        return self.view_spec(source, type(w).__name__, state, binary, frames)

    def view_spec(self, source: str, name: str, state: dict, binary: list[str], frames: list) -> str:
        """A view of an ES module (``source``, one copy per ``name``) over ``state``, whose
        ``binary`` traits are base64 strings; ``frames`` are saved trajectory frames."""
        key = f"mw-esm-{name}"
        self.esm.setdefault(key, source)
        state = dict(state)
        if frames:
            state["traj_frames"] = len(frames)
            state["traj_index"] = min(state.get("traj_index", 0), len(frames) - 1)
        el = self.new_id("mw-view")
        spec = {"el": el, "esm": key, "state": state, "binary": binary, "frames": frames}
        return f"<div id='{el}'></div><script type='application/x-matwidgets-view'>{_json(spec)}</script>"

    def plot(self, fig: Any) -> str:
        import plotly.io as pio

        return self.plot_figure(json.loads(pio.to_json(fig, validate=False)))

    def plot_figure(self, figure: dict) -> str:
        """A plotly figure ({"data": [...], "layout": {...}}, JSON-able) drawn by the inlined plotly.js."""
        self.plotly = True
        el = self.new_id("mw-plot")
        height = (figure.get("layout") or {}).get("height") or 450
        return (f"<div id='{el}' style='width:100%;height:{int(height)}px'></div>"
                f"<script type='application/x-matwidgets-plot'>{_json({'el': el, 'figure': figure})}</script>")


def _control(w: Any) -> str:
    """An ipywidgets control or text widget as plain HTML (controls disabled: there is no kernel)."""
    esc = html.escape
    if isinstance(w, (W.HTML, W.HTMLMath)):
        return f"<div>{w.value}</div>"
    if isinstance(w, W.Label):
        return f"<span>{esc(str(w.value))}</span>"
    if isinstance(w, W.Output):
        return "".join(_output(o) for o in w.outputs)
    if isinstance(w, W.Image):
        data = base64.b64encode(bytes(w.value)).decode()
        return f"<img src='data:image/{esc(w.format)};base64,{data}'>"
    if isinstance(w, W.Button):
        return f"<button disabled>{esc(w.description)}</button>"
    label = f"<span>{esc(w.description)}</span>" if getattr(w, "description", "") else ""
    if isinstance(w, (W.IntProgress, W.FloatProgress)):
        return f"<span class='mw-control'>{label}<progress value='{w.value}' max='{w.max}'></progress></span>"
    if isinstance(w, W.Checkbox):
        return f"<label class='mw-control'><input type='checkbox' disabled{' checked' if w.value else ''}>{label}</label>"
    if hasattr(w, "value"):
        value = getattr(w, "label", None) if isinstance(w, (W.Dropdown, W.Select, W.RadioButtons, W.ToggleButtons)) else w.value
        return f"<span class='mw-control'>{label}<input disabled value='{esc(str(value))}'></span>"
    return ""  # layout-only widgets and anything with nothing to show


def _output(o: dict) -> str:
    esc = html.escape
    if o.get("output_type") == "stream":
        return f"<pre>{esc(o.get('text', ''))}</pre>"
    if o.get("output_type") == "error":
        return f"<pre>{esc(o.get('ename', ''))}: {esc(o.get('evalue', ''))}</pre>"
    data = o.get("data", {})
    if "text/html" in data:
        return f"<div>{data['text/html']}</div>"
    if "image/png" in data:
        return f"<img src='data:image/png;base64,{data['image/png']}'>"
    return f"<pre>{esc(data.get('text/plain', ''))}</pre>"
