"""PeriodicTable: a clickable periodic table (js/src/periodic_table.js)."""

from __future__ import annotations

import anywidget
import traitlets as t
from pymatgen.core.periodic_table import Element

from matwidgets.widgets.structure_view import STATIC
from matwidgets.widgets.validate import check_traits


def _layout() -> list[list]:
    """[symbol, Z, grid row, grid column]; lanthanides and actinides in rows 9 and 10."""
    out = []
    for z in range(1, 119):
        el = Element.from_Z(z)
        row, col = el.row, el.group
        if 57 <= z <= 71:
            row, col = 9, z - 57 + 3
        elif 89 <= z <= 103:
            row, col = 10, z - 89 + 3
        out.append([el.symbol, z, row, col])
    return out


class PeriodicTable(anywidget.AnyWidget):
    """Pick an element: ``table.selected`` is its symbol; ``highlight`` marks some in yellow."""

    _esm = STATIC / "periodic_table.js"
    elements = t.List(default_value=_layout()).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    highlight = t.List(t.Unicode()).tag(sync=True)

    def __init__(self, **kwargs):
        check_traits(type(self), kwargs)
        super().__init__(**kwargs)

    @t.validate("selected")
    def _check(self, proposal):
        value = proposal["value"]
        if value and not Element.is_valid_symbol(value):
            raise t.TraitError(f"unknown element {value!r}")
        return value
