"""TracePlot: live line plots of a running simulation, extended with new points only.

plotly's FigureWidget can only replace a trace's data, so a live plot re-sends every
point it shows at each update. Here the kernel sends only the rows that arrived since
the last update (one float32 buffer); the browser appends them and thins its copy with
the same rule as the kernel's ``History``, so both hold the same bounded set of points
and an update costs the same at step 10 and at step 10^6. The drawing is uPlot
(js/src/trace_plot.js), a small canvas library made for streaming time series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from matwidgets.widgets.history import History

STATIC = Path(__file__).resolve().parent.parent / "static"


class TracePlot(anywidget.AnyWidget):
    """Side-by-side panels of lines against one x (e.g. time), fed row by row.

    >>> plot = TracePlot(["E", "T"], panels=[{"title": "E (eV)", "traces": ["E"]},
    ...                                      {"title": "T (K)", "traces": ["T"]}])
    >>> plot.extend([(0.0, -3.1, 300.0), (5.0, -3.0, 310.0)])   # rows: x, then one value per trace
    >>> plot.flush()                                           # send what is new
    >>> plot.values("T")

    At most ``max_points`` rows are kept, evenly thinned over the run, always with the
    latest. NaN is a gap. ``styles={"T target": {"dash": True, "color": "#888"}}``.
    """

    _esm = STATIC / "trace_plot.js"

    names = t.List(t.Unicode()).tag(sync=True)  # one per value column
    panels = t.List(t.Dict()).tag(sync=True)  # [{"title": str, "traces": [names]}]
    styles = t.Dict().tag(sync=True)  # {name: {"dash": bool, "color": css}}
    hidden = t.List(t.Unicode()).tag(sync=True)  # traces not drawn
    x_label = t.Unicode("time (fs)").tag(sync=True)
    height = t.Int(260).tag(sync=True)
    max_points = t.Int(500).tag(sync=True)
    # the kept rows as float32 [k, 1 + len(names)] and the thinning state, for views
    # rendered later and for saved pages; set by ``sync_state``, not at every update
    rows = t.Bytes(b"").tag(sync=True)
    stride = t.Int(1).tag(sync=True)
    n_offered = t.Int(0).tag(sync=True)

    def __init__(self, names: Sequence[str], panels: Sequence[dict], max_points: int = 500, **kwargs: Any):
        unknown = {n for p in panels for n in p["traces"]} - set(names)
        if unknown:
            raise ValueError(f"panels name traces that are not columns: {sorted(unknown)}")
        super().__init__(names=list(names), panels=[dict(p) for p in panels], max_points=max_points, **kwargs)
        self._history = History(max_points)
        self._pending: list[tuple] = []
        self.on_msg(self._on_msg)

    # ---- data -----------------------------------------------------------------------------
    def extend(self, rows: Iterable[Sequence[float]]) -> None:
        """Append rows (x, then one value per trace); nothing is sent until ``flush``."""
        rows = [tuple(map(float, r)) for r in rows]
        width = 1 + len(self.names)
        if any(len(r) != width for r in rows):
            raise ValueError(f"a row is x and {len(self.names)} values ({width} numbers)")
        self._history.extend(rows)
        self._pending.extend(rows)

    def flush(self) -> int:
        """Send the rows added since the last flush to every view; returns how many."""
        rows, self._pending = self._pending, []
        if rows:
            self.send({"type": "extend", "n": len(rows)}, [_as_f32(rows, len(self.names)).tobytes()])
        return len(rows)

    def sync_state(self) -> None:
        """Write the kept rows into the synced state (at the end of a run): a view rendered
        later, a saved page or a converted notebook then shows the whole run."""
        self.flush()
        h = self._history
        with self.hold_sync():
            self.rows = _as_f32(h.items, len(self.names)).tobytes()
            self.stride, self.n_offered = h.stride, h.n_offered

    def clear(self) -> None:
        self._history = History(self.max_points)
        self._pending = []
        with self.hold_sync():
            self.rows, self.stride, self.n_offered = b"", 1, 0
        self.send({"type": "clear"})

    def values(self, name: str) -> np.ndarray:
        """The kept values of one trace (the x column is ``values("x")``)."""
        col = 0 if name == "x" else 1 + self.names.index(name)
        return _as_f32(self._history.items, len(self.names))[:, col].astype(float)

    def __len__(self) -> int:
        return len(self._history)

    # ---- a view rendered mid-run asks for the rows it missed --------------------------------
    def _on_msg(self, _widget: Any, content: Any, _buffers: list) -> None:
        if isinstance(content, dict) and content.get("type") == "hello":
            self.flush()
            h = self._history
            # the kept rows, then the latest offered row when it was not kept (History.items)
            kept = _as_f32(h._kept, len(self.names))
            latest = [] if h._latest is None or (h._kept and h._kept[-1] is h._latest) else [h._latest]
            self.send({"type": "reset", "stride": h.stride, "n_offered": h.n_offered, "n_kept": len(kept)},
                      [np.concatenate([kept, _as_f32(latest, len(self.names))]).tobytes()])


def _as_f32(rows: Sequence[Sequence[float]], n: int) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(-1, 1 + n)
