"""``%load_ext matwidgets``: structures, trajectories and phase diagrams display as widgets.

Once on, the last expression of a cell shows as one of our widgets instead of text:

* a pymatgen ``Structure`` / ``IStructure`` / ``Molecule`` / ``IMolecule`` or an ASE
  ``Atoms``: a StructureView;
* a list or tuple of such structures (same atoms in each), or an ASE trajectory: a
  StructureView with a frame slider (frames are sent on demand);
* a pymatgen ``PhaseDiagram``: a HullExplorer over its entries (their energies are used
  as they are; nothing is recomputed).

We register IPython *mimebundle* formatters rather than monkey-patching ``_repr_*``
methods: they are IPython's documented extension point, they come off cleanly, and
outside a Jupyter kernel (plain Python, terminal IPython) nothing changes and text stays
the fallback. A formatter the user registered for one of these types is never replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# type -> the formatter we registered for it (so unloading removes ours and only ours)
_REGISTERED: dict[type, Callable] = {}


def _ipython():
    """The running IPython shell when it is a Jupyter kernel (it can show widgets), else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return ip if ip is not None and getattr(ip, "kernel", None) is not None else None


def _is_structure(obj: Any) -> bool:
    from ase import Atoms
    from pymatgen.core import IMolecule, IStructure

    return isinstance(obj, (IStructure, IMolecule, Atoms))


def _bundle(widget: Any, include=None, exclude=None) -> dict:
    return widget._repr_mimebundle_(include=include, exclude=exclude)


def _show_structure(obj: Any, include=None, exclude=None) -> dict:
    from matwidgets.widgets.structure_view import StructureView

    return _bundle(StructureView(obj), include, exclude)


def _show_frames(obj: Any, include=None, exclude=None) -> dict | None:
    """A list/tuple/trajectory of structures with the same atoms; None (plain text) otherwise."""
    frames = list(obj)
    if not frames or not all(_is_structure(f) for f in frames) or len({len(f) for f in frames}) != 1:
        return None  # some other list: IPython's own formatters take it
    from matwidgets.widgets.structure_view import StructureView

    view = StructureView(frames[0])
    view.show_frames(frames, index=0)
    return _bundle(view, include, exclude)


def _show_phase_diagram(pd: Any, include=None, exclude=None) -> dict:
    from pymatgen.entries.computed_entries import ComputedEntry

    from matwidgets.widgets.hull_explorer import HullExplorer

    entries = [e if isinstance(e, ComputedEntry) else ComputedEntry(e.composition, e.energy, entry_id=getattr(e, "name", None))
               for e in pd.all_entries]
    return _bundle(HullExplorer(entries), include, exclude)


def _targets() -> dict[type, Callable]:
    from ase import Atoms
    from ase.io.trajectory import TrajectoryReader
    from pymatgen.analysis.phase_diagram import PhaseDiagram
    from pymatgen.core import IMolecule, IStructure, Molecule, Structure

    return {Structure: _show_structure, IStructure: _show_structure, Molecule: _show_structure, IMolecule: _show_structure,
            Atoms: _show_structure, list: _show_frames, tuple: _show_frames, TrajectoryReader: _show_frames,
            PhaseDiagram: _show_phase_diagram}


def _user_formatter(ip: Any, cls: type) -> bool:
    """Whether the user registered a formatter of their own for ``cls`` or a base class of it
    (any mime type). IPython's own defaults (its pretty-printers for list and tuple) do not count."""
    from IPython.lib.pretty import _type_pprinters

    formatters = {**ip.display_formatter.formatters, "mimebundle": ip.display_formatter.mimebundle_formatter}
    for base in cls.__mro__[:-1]:  # not object
        for mime, formatter in formatters.items():
            printer = formatter.type_printers.get(base)
            default = _type_pprinters.get(base) if mime == "text/plain" else None
            if printer is not None and printer is not _REGISTERED.get(base) and printer is not default:
                return True
    return False


def _unless_user_formats(fn: Callable) -> Callable:
    """Our formatter steps aside (None: IPython's usual display) where the user has their own."""

    def formatter(obj: Any, include=None, exclude=None):
        ip = _ipython()
        if ip is not None and _user_formatter(ip, type(obj)):
            return None
        return fn(obj, include, exclude)

    return formatter


def notebook_mode(on: bool = True) -> bool:
    """Turn automatic display of structures, trajectories and phase diagrams on or off.

    Same as ``%load_ext matwidgets`` / ``%unload_ext matwidgets``. Returns whether it is
    on; outside a Jupyter kernel it does nothing and returns False (text stays the fallback).
    """
    ip = _ipython()
    if ip is None:
        return False
    mimebundle = ip.display_formatter.mimebundle_formatter
    if on:
        for cls, fn in _targets().items():
            if cls in _REGISTERED or cls in mimebundle.type_printers:  # never replace one that is there
                continue
            _REGISTERED[cls] = _unless_user_formats(fn)
            mimebundle.for_type(cls, _REGISTERED[cls])
        return True
    for cls, fn in list(_REGISTERED.items()):
        if mimebundle.type_printers.get(cls) is fn:
            mimebundle.type_printers.pop(cls)
        del _REGISTERED[cls]
    return False
