"""FitWidth: an invisible helper that makes plotly figures beside it fit their column (js/src/fit_width.js).

plotly's FigureWidget sizes itself when it is first drawn, often before it is on the
page (so at plotly's default 700 px), and afterwards only on a window resize. Put a
FitWidth in the same column as the figure: when the column's width changes (the
widget appears, the window or a side panel resizes) it asks the figures to fit again.
"""

from __future__ import annotations

import anywidget

from matwidgets.widgets.structure_view import STATIC


class FitWidth(anywidget.AnyWidget):
    """Zero-height widget; no traits of its own."""

    _esm = STATIC / "fit_width.js"
