"""Offline HTML from nbconvert: ``jupyter nbconvert --to html --template matwidgets nb.ipynb``.

nbconvert's own HTML loads require.js and the ipywidgets HTML manager from a CDN, and
that manager then fetches anywidget from another CDN, so a page with widgets stays blank
offline. This preprocessor (enabled by the ``matwidgets`` template, installed with the
package under share/jupyter/nbconvert/templates) reads the widget state the notebook
saved when it was executed (``application/vnd.jupyter.widget-state+json`` in its
metadata) and turns every widget output into the static HTML that ``save_html`` writes:
anywidget views get their ES module inlined with a stand-in model over the saved state,
plotly figures are drawn by an inlined plotly.js, ipywidgets controls are shown disabled.
The template drops the CDN scripts (and MathJax, which is also fetched from a CDN: math
in markdown cells shows as TeX).

Execute with the widget state stored, then convert::

    jupyter nbconvert --to notebook --execute --inplace nb.ipynb   # stores widget state
    jupyter nbconvert --to html --template matwidgets nb.ipynb

Trajectory frames served on demand by the kernel are not in the saved state: a saved
trajectory view shows its current frame.
"""

from __future__ import annotations

import base64
import html

import numpy as np
from nbconvert.preprocessors import Preprocessor

from matwidgets.widgets.save_html import _output, _Page

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
REF = "IPY_MODEL_"


class OfflineWidgets(Preprocessor):
    """Replace widget outputs by self-contained HTML built from the notebook's saved widget state."""

    def preprocess(self, nb, resources):
        models = (nb.metadata.get("widgets") or {}).get(STATE_MIME, {}).get("state", {})
        page, first = _Page(max_frames=0), None
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                view = out.get("data", {}).get(VIEW_MIME)
                if view is None:
                    continue
                model_id = view.get("model_id", "")
                body = StateRenderer(page, models).render(model_id) if model_id in models else (
                    "<div><em>widget not saved: run the notebook with its widget state stored</em></div>")
                out["data"] = {"text/html": body, "text/plain": out["data"].get("text/plain", "")}
                first = first or out
        if first is not None:  # plotly.js, each ES module and the mounting script, once per page
            first["data"]["text/html"] = page.assets() + first["data"]["text/html"]
        nb.metadata.pop("widgets", None)  # so the template adds no CDN widget manager
        return nb, resources


class StateRenderer:
    """Static HTML of one widget from ``models`` ({model_id: {"state", "buffers", ...}}), the
    format ipywidgets saves (``Widget.get_manager_state``), children included."""

    def __init__(self, page: _Page, models: dict):
        self.page, self.models = page, models

    def state(self, ref) -> dict:
        model = self.models.get(str(ref).removeprefix(REF), {})
        return model.get("state", {})

    def render(self, model_id: str) -> str:
        model = self.models.get(model_id)
        if model is None:
            return ""
        st, name = model.get("state", {}), model.get("state", {}).get("_model_name", "")
        layout = self.state(st.get("layout", ""))
        if layout.get("display") == "none" or layout.get("visibility") == "hidden":
            return ""
        if "_widget_data" in st and "_widget_layout" in st:  # a plotly FigureWidget
            return self.plot(model)
        if "_esm" in st:  # an anywidget view (StructureView, ShapView, ...)
            return self.view(model)
        children = [str(c).removeprefix(REF) for c in st.get("children", [])]
        if name in ("TabModel", "AccordionModel", "StackModel"):
            titles = list(st.get("titles") or [])
            parts = [f"<div class='mw-tab'><h4>{html.escape(str(titles[k]) if k < len(titles) and titles[k] else f'tab {k + 1}')}</h4>"
                     f"{self.render(c)}</div>" for k, c in enumerate(children)]
            return f"<div class='mw-vbox'>{''.join(parts)}</div>"
        if "children" in st:
            cls = "mw-vbox" if name == "VBoxModel" else "mw-box"
            return f"<div class='{cls}'>{''.join(self.render(c) for c in children)}</div>"
        return _control(name, st)

    def view(self, model: dict) -> str:
        st = dict(model["state"])
        binary = []
        for buf in model.get("buffers", []):
            if len(buf.get("path", [])) == 1:  # a Bytes trait: kept base64, as save_html sends it
                st[buf["path"][0]] = buf["data"]
                binary.append(buf["path"][0])
        source = st.pop("_esm")
        state = {k: v for k, v in st.items() if not k.startswith("_") and k not in ("layout", "tabbable", "tooltip", "keys", "log")
                 and not (isinstance(v, str) and v.startswith(REF))}
        if "traj_frames" in state:  # frames come from the kernel on demand: not in the saved state
            state["traj_frames"] = 0
        name = str(st.get("_anywidget_id", "view")).rsplit(".", 1)[-1]
        return self.page.view_spec(source, name, state, binary, frames=[])

    def plot(self, model: dict) -> str:
        from plotly.io.json import to_json_plotly

        st = model["state"]
        data, layout = st["_widget_data"], st["_widget_layout"]
        for buf in model.get("buffers", []):  # numpy arrays travel as {"dtype", "shape", "buffer"}
            *where, last = buf["path"]
            # only the figure's own data: the _py2js_* message traits are transient (a
            # restyle or update that was in flight when the state was saved)
            if last != "buffer" or where[0] not in ("_widget_data", "_widget_layout"):
                continue
            holder = {"_widget_data": data, "_widget_layout": layout}
            for key in where[:-1]:
                holder = holder[key]
            spec = holder[where[-1]]
            array = np.frombuffer(base64.b64decode(buf["data"]), dtype=spec["dtype"]).reshape(spec["shape"])
            holder[where[-1]] = array
        import json

        return self.page.plot_figure(json.loads(to_json_plotly({"data": data, "layout": layout})))


def _control(name: str, st: dict) -> str:
    """An ipywidgets control from its saved state, as plain disabled HTML (there is no kernel)."""
    esc = html.escape
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<div>{st.get('value', '')}</div>"
    if name == "LabelModel":
        return f"<span>{esc(str(st.get('value', '')))}</span>"
    if name == "OutputModel":
        return "".join(_output(o) for o in st.get("outputs", []))
    if name == "ButtonModel":
        return f"<button disabled>{esc(st.get('description', ''))}</button>"
    label = f"<span>{esc(st['description'])}</span>" if st.get("description") else ""
    if name in ("IntProgressModel", "FloatProgressModel"):
        return f"<span class='mw-control'>{label}<progress value='{st.get('value', 0)}' max='{st.get('max', 100)}'></progress></span>"
    if name == "CheckboxModel":
        return f"<label class='mw-control'><input type='checkbox' disabled{' checked' if st.get('value') else ''}>{label}</label>"
    if "_options_labels" in st:  # Dropdown, Select, RadioButtons, ToggleButtons
        labels, index = list(st["_options_labels"]), st.get("index")
        value = labels[index] if isinstance(index, int) and 0 <= index < len(labels) else ""
        return f"<span class='mw-control'>{label}<input disabled value='{esc(str(value))}'></span>"
    if "value" in st:
        return f"<span class='mw-control'>{label}<input disabled value='{esc(str(st['value']))}'></span>"
    return ""  # layout-only models and anything with nothing to show
