"""Plotly figures of a HullResult: one element (polymorph strip), binary, ternary, quaternary.

A pure function of the result, shared by the HullExplorer widget and the headless
``matwidgets hull --out hull.html``. Traces are named: "above hull" (drawn first),
"stable" (drawn over it, so a click on a stable point that hides a polymorph of the
same composition selects the stable one), "hull" lines and "selected" (a ring on the
chosen point, empty until something is chosen). The second return value is
``{trace name: entries}`` so a click maps back to an entry.
"""

from __future__ import annotations

import html
import weakref

import numpy as np
import plotly.graph_objects as go

TETRA = np.array([[0, 0, 0], [1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0.5, np.sqrt(3) / 6, np.sqrt(2 / 3)]])
POINT_TRACES = ("above hull", "stable")
_spacegroups: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # entry -> relaxed space group symbol


def _fractions(entry, elements) -> np.ndarray:
    comp = entry.composition.fractional_composition
    return np.array([comp.get_atomic_fraction(el) for el in elements])


def relaxed_spacegroup(entry) -> str:
    """Space group symbol of the entry's relaxed structure ("" without a structure, "?" when spglib fails)."""
    if entry.data.get("spacegroup"):
        return str(entry.data["spacegroup"])
    try:
        return _spacegroups[entry]
    except (KeyError, TypeError):
        pass
    structure = getattr(entry, "structure", None)
    if structure is None:
        sg = ""
    else:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        try:
            sg = SpacegroupAnalyzer(structure, symprec=0.1).get_space_group_symbol()
        except Exception:  # spglib can fail on distorted cells; the rest still shows
            sg = "?"
    try:
        _spacegroups[entry] = sg
    except TypeError:  # not weak-referenceable: computed again next time
        pass
    return sg


def origin(entry) -> str:
    """Where the candidate started, in one style: 'from the graphite prototype (A_hP4_194_bc)'."""
    d = entry.data
    source, label, mineral = d.get("source", ""), d.get("label", ""), d.get("mineral", "")
    if source in ("prototype", "oxidation", "subvalent"):
        name = mineral or d.get("strukturbericht") or label
        why = {"oxidation": f", {d.get('oxidation', 'another oxidation-state assignment')}",
               "subvalent": ", sub-valent (metal-rich, no charge balance)"}.get(source, "")
        return f"from the {name} prototype" + (f" ({label})" if label and label != name else "") + why
    if source == "derivative":
        return f"an ordering of {d.get('parent', 'a parent lattice')} ({d.get('supercell', '')} cell)"
    if source == "search":
        return f"random search (PyXtal), trial {d.get('trial', '?')} of seed {d.get('seed', '?')}, space group {d.get('space_group', '?')}"
    if source == "molecule":
        return f"from the {label or 'molecule'}"
    if source == "user":
        return f"your structure {label}".rstrip()
    return f"{source}: {label}" if source or label else ""


def entry_title(entry) -> str:
    """'Li2O Fm-3m (relaxed)': the formula and the space group at the entry's stage."""
    sg = relaxed_spacegroup(entry)
    stage = entry.data.get("stage", "relaxed")
    return entry.composition.reduced_formula + (f" {sg} ({stage})" if sg else "")


STAGE_NOTES = {
    "single point": "single point at the pre-scaled cell: provisional",
    "short relax": "short relaxation: provisional, still refining",
    "screened out": "screened out after a short relaxation (far above the hull): its energy is an upper bound",
}


def stage_note(entry) -> str:
    """What the entry's energy is: provisional, screened out, or relaxed (converged or not)."""
    stage = entry.data.get("stage", "relaxed")
    if stage in STAGE_NOTES:
        return STAGE_NOTES[stage]
    return "" if entry.data.get("converged", True) else "relaxation not converged"


def _hover(result, entries) -> tuple[list, list]:
    custom, text = [], []
    for e in entries:
        ef, eh = result.formation_energy(e), result.e_above_hull(e)
        custom.append([ef, eh])
        note = stage_note(e)
        conv = f"<br><i>{html.escape(note)}</i>" if note else ""
        if "correction" in e.data:  # which scheme (corrections.py), and how much it moved this entry
            amount = f" ({e.correction_per_atom:+.3f} eV/atom)" if abs(e.correction_per_atom) > 5e-4 else ""
            conv += f"<br>correction: {html.escape(e.data['correction'])}{amount}"
        text.append(f"<b>{html.escape(entry_title(e))}</b><br>E_form = {ef:.3f} eV/atom<br>E_hull = {1000 * eh:.0f} meV/atom<br>"
                    f"{html.escape(origin(e))}{conv}")
    return custom, text


def split_entries(result, threshold: float) -> tuple[list, list]:
    """(stable, unstable below threshold [eV/atom]) entries, deterministic order."""
    stable_set = set(result.phase_diagram.stable_entries)
    stable = sorted(stable_set, key=lambda e: (e.composition.reduced_formula, e.entry_id or ""))
    unstable = [e for e in result.entries if e not in stable_set and result.e_above_hull(e) <= threshold + 1e-12]
    unstable.sort(key=lambda e: (e.composition.reduced_formula, e.entry_id or ""))
    return stable, unstable


def polymorphs(result, entry) -> list:
    """Entries of the same reduced composition as ``entry``, lowest E_hull first."""
    formula = entry.composition.reduced_formula
    same = [e for e in result.entries if e.composition.reduced_formula == formula]
    return sorted(same, key=lambda e: (result.e_above_hull(e), e.entry_id or ""))


def coordinates(result, entries, elements, order: list | None = None) -> dict:
    """Trace coordinates of ``entries`` for this plot type (x/y, a/b/c or x/y/z)."""
    n = len(elements)
    if n == 1:
        order = order if order is not None else _unary_order(result)
        return dict(x=[order.index(e) if e in order else 0 for e in entries], y=[result.formation_energy(e) for e in entries])
    if n == 2:
        return dict(x=[float(_fractions(e, elements)[1]) for e in entries], y=[result.formation_energy(e) for e in entries])
    f = np.array([_fractions(e, elements) for e in entries]).reshape(-1, n)
    if n == 3:
        return dict(a=f[:, 0], b=f[:, 1], c=f[:, 2])
    p = f @ TETRA
    return dict(x=p[:, 0], y=p[:, 1], z=p[:, 2])


def _unary_order(result) -> list:
    return sorted(result.entries, key=lambda e: (result.formation_energy(e), e.entry_id or ""))


def _trace(n: int, **kw):
    return (go.Scatter if n <= 2 else go.Scatterternary if n == 3 else go.Scatter3d)(**kw)


def hull_figure(result, threshold: float = 0.1, elements: list[str] | None = None, height: int = 480,
                provisional: bool = False) -> tuple[go.Figure, dict]:
    """(figure, {trace name: entries}) for 1-4 elements; ``threshold`` in eV/atom.

    ``elements`` may name more elements than the result holds (a hull still filling in
    draws its sub-system on the full system's axes). ``provisional`` says so in the title.
    """
    elements = elements or [el.symbol for el in result.phase_diagram.elements]
    n = len(elements)
    if not 1 <= n <= 4:
        raise ValueError(f"hull_figure draws 1 to 4 elements, got {n}: use HullResult.to_dataframe()")
    stable, unstable = split_entries(result, threshold)
    order = _unary_order(result) if n == 1 else None
    fig = go.Figure()
    size = 7 if n == 4 else 11
    marker_stable = dict(color="black", size=size, symbol="diamond", line=dict(color="white", width=1))
    marker_unstable = dict(size=size - 3, color=[1000 * result.e_above_hull(e) for e in unstable], colorscale="Reds", cmin=0,
                           cmax=max(1000 * threshold, 1.0), showscale=True,
                           colorbar=dict(title=dict(text="E_hull<br>(meV/atom)"), len=0.7, thickness=14))
    # unstable first: plotly draws later traces on top, and a click takes the top point
    for entries, name, marker in [(unstable, "above hull", marker_unstable), (stable, "stable", marker_stable)]:
        custom, text = _hover(result, entries)
        kw = dict(mode="markers", name=name, marker=marker, customdata=custom, hovertext=text, hoverinfo="text")
        if name == "stable":
            kw.update(mode="markers+text", text=[e.composition.reduced_formula for e in entries],
                      textposition="top center", textfont=dict(size=11))
        fig.add_trace(_trace(n, **kw, **coordinates(result, entries, elements, order)))
    _add_hull_lines(fig, result, elements, order)
    ring = dict(symbol="circle-open", size=size + 12, color="#ff7f0e", line=dict(width=3))
    fig.add_trace(_trace(n, mode="markers", name="selected", marker=ring, hoverinfo="skip", showlegend=False,
                         **coordinates(result, [], elements, order)))
    title = "-".join(elements) + (" polymorphs" if n == 1 else " convex hull")
    if provisional:
        title += "<br><sup>provisional: elemental references still relaxing</sup>"
    if n == 1:
        fig.update_layout(xaxis=dict(title="polymorph (relaxed space group)", tickvals=list(range(len(order))),
                                     ticktext=[relaxed_spacegroup(e) or str(k) for k, e in enumerate(order)]),
                          yaxis_title="energy above the ground state (eV/atom)")
    elif n == 2:
        fig.update_layout(xaxis_title=f"x in {elements[0]}(1-x){elements[1]}(x)", yaxis_title="formation energy (eV/atom)")
    elif n == 3:
        fig.update_layout(ternary=dict(aaxis_title=elements[0], baxis_title=elements[1], caxis_title=elements[2]))
    else:
        fig.update_layout(scene=dict(xaxis_visible=False, yaxis_visible=False, zaxis_visible=False))
    # the title on the left, the legend on the right above the plot: they never overlap
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left", y=0.98, yanchor="top"), height=height, autosize=True,
                      margin=dict(l=60, r=20, t=80, b=50), clickmode="event",
                      legend=dict(orientation="h", x=1.0, xanchor="right", y=1.0, yanchor="bottom"))
    return fig, {"above hull": unstable, "stable": stable}


def _add_hull_lines(fig: go.Figure, result, elements: list[str], order: list | None) -> None:
    pd = result.phase_diagram
    n = len(elements)
    line = dict(color="rgba(60,60,60,0.6)", width=1.5)
    if n == 1:
        fig.add_trace(go.Scatter(x=[-0.5, max(len(order) - 0.5, 0.5)], y=[0.0, 0.0], mode="lines", line=line, hoverinfo="skip", name="hull"))
        return
    if n == 2:
        pts = sorted((_fractions(e, elements)[1], result.formation_energy(e)) for e in pd.stable_entries)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines", line=line, hoverinfo="skip", name="hull"))
        return
    edges = set()
    for facet in pd.facets:
        for a, b in [(facet[i], facet[j]) for i in range(len(facet)) for j in range(i + 1, len(facet))]:
            edges.add((min(a, b), max(a, b)))
    qe = pd.qhull_entries
    seg = []
    for a, b in sorted(edges):
        fa, fb = _fractions(qe[a], elements), _fractions(qe[b], elements)
        seg += [fa, fb, np.full(n, np.nan)]
    seg = np.array(seg).reshape(-1, n)
    if n == 3:
        fig.add_trace(go.Scatterternary(a=seg[:, 0], b=seg[:, 1], c=seg[:, 2], mode="lines", line=line, hoverinfo="skip", name="hull"))
    else:
        p = np.where(np.isnan(seg[:, :1]), np.nan, np.nan_to_num(seg) @ TETRA)
        fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="lines", line=line, hoverinfo="skip", name="hull"))
        corners = TETRA
        for k, el in enumerate(elements):
            fig.add_trace(go.Scatter3d(x=[corners[k, 0]], y=[corners[k, 1]], z=[corners[k, 2]], mode="text", text=[el], showlegend=False, hoverinfo="skip"))


# what the candidate sources cannot produce (the explorer's legend)
MISSING = ("Candidates: AFLOW prototypes (every oxidation-state assignment, peroxides, mixed valence), sub-valent "
           "metal-rich compounds, orderings of rocksalt, antifluorite, spinel and perovskite in small supercells, "
           "and random search on request. Still missing can be: structures of no prototype, orderings in larger "
           "cells, and cells above max_atoms: search a composition to look for them.")


def sources_html(counts: dict[str, int]) -> str:
    """'prototype 110 · oxidation 11 · search 30' with the legend of what can be missing as a tooltip."""
    if not counts:
        return ""
    text = " · ".join(f"{html.escape(k)} {n}" for k, n in counts.items())
    return f"<span title='{html.escape(MISSING)}'>candidates: {text} ⓘ</span>"
