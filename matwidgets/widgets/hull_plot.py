"""Plotly figures of a HullResult: binary, ternary (triangle) and quaternary (tetrahedron).

A pure function of the result, shared by the HullExplorer widget and the headless
``matwidgets hull --out hull.html``. Trace 0 holds the stable entries and trace 1 the
unstable ones shown under the threshold; ``points_of(fig)`` says which entry each
point is, so a click maps back to an entry.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

TETRA = np.array([[0, 0, 0], [1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0.5, np.sqrt(3) / 6, np.sqrt(2 / 3)]])


def _fractions(entry, elements) -> np.ndarray:
    comp = entry.composition.fractional_composition
    return np.array([comp.get_atomic_fraction(el) for el in elements])


def _hover(result, entries) -> tuple[list, list]:
    custom, text = [], []
    for e in entries:
        ef, eh = result.formation_energy(e), result.e_above_hull(e)
        label = e.data.get("mineral") or e.data.get("label", "")
        custom.append([ef, eh])
        text.append(f"<b>{e.composition.reduced_formula}</b><br>E_form = {ef:.3f} eV/atom<br>E_hull = {1000 * eh:.0f} meV/atom<br>"
                    f"{e.data.get('source', '')}: {label}")
    return custom, text


def split_entries(result, threshold: float) -> tuple[list, list]:
    """(stable, unstable below threshold) entries, deterministic order."""
    stable_set = set(result.phase_diagram.stable_entries)
    stable = sorted(stable_set, key=lambda e: (e.composition.reduced_formula, e.entry_id or ""))
    unstable = [e for e in result.entries if e not in stable_set and result.e_above_hull(e) <= threshold + 1e-12]
    unstable.sort(key=lambda e: (e.composition.reduced_formula, e.entry_id or ""))
    return stable, unstable


def hull_figure(result, threshold: float = 0.1, elements: list[str] | None = None, height: int = 480) -> tuple[go.Figure, list[list]]:
    """(figure, [stable entries, unstable entries]) for 2-4 elements."""
    elements = elements or [el.symbol for el in result.phase_diagram.elements]
    n = len(elements)
    stable, unstable = split_entries(result, threshold)
    fig = go.Figure()
    marker_stable = dict(color="black", size=11, symbol="diamond", line=dict(color="white", width=1))

    def marker_unstable(entries):
        return dict(size=8, color=[1000 * result.e_above_hull(e) for e in entries], colorscale="Reds", cmin=0,
                    cmax=max(1000 * threshold, 1.0), showscale=True, colorbar=dict(title="E_hull (meV/atom)", len=0.7))

    for entries, name, marker in [(stable, "stable", marker_stable), (unstable, "above hull", marker_unstable(unstable))]:
        custom, text = _hover(result, entries)
        common = dict(mode="markers", name=name, marker=marker, customdata=custom, hovertext=text, hoverinfo="text")
        if n == 2:
            x = [_fractions(e, elements)[1] for e in entries]
            y = [result.formation_energy(e) for e in entries]
            fig.add_trace(go.Scatter(x=x, y=y, **common))
        elif n == 3:
            f = np.array([_fractions(e, elements) for e in entries]).reshape(-1, 3)
            fig.add_trace(go.Scatterternary(a=f[:, 0], b=f[:, 1], c=f[:, 2], **common))
        else:
            p = np.array([_fractions(e, elements) @ TETRA for e in entries]).reshape(-1, 3)
            fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], **common))
    _add_hull_lines(fig, result, elements)
    title = "-".join(elements) + " convex hull"
    if n == 2:
        fig.update_layout(xaxis_title=f"x in {elements[0]}(1-x){elements[1]}(x)", yaxis_title="formation energy (eV/atom)")
    elif n == 3:
        fig.update_layout(ternary=dict(aaxis_title=elements[0], baxis_title=elements[1], caxis_title=elements[2]))
    else:
        fig.update_layout(scene=dict(xaxis_visible=False, yaxis_visible=False, zaxis_visible=False))
    fig.update_layout(title=title, height=height, margin=dict(l=50, r=20, t=50, b=50), legend=dict(x=0, y=1.08, orientation="h"),
                      clickmode="event")
    return fig, [stable, unstable]


def _add_hull_lines(fig: go.Figure, result, elements: list[str]) -> None:
    pd = result.phase_diagram
    n = len(elements)
    line = dict(color="rgba(60,60,60,0.6)", width=1.5)
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
