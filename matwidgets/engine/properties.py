"""Properties of one structure for the PropertyPanel: predictions, symmetry, EOS."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pymatgen.core import Structure

from matwidgets.engine.hull import elemental_references
from matwidgets.engine.models import Potential
from matwidgets.engine.predict import predict


HIGH_PRESSURE = 5.0  # GPa; beyond this a structure is far from its equilibrium volume


def iter_properties(structure: Structure, model: Potential, hull=None, references: dict | None = None) -> Iterator[dict]:
    """Yield a dict of properties right away, then again with the formation energy
    (which may need elemental references computed first)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    p = predict(structure, model)[0]
    try:
        spg = SpacegroupAnalyzer(structure, symprec=0.01)
        spacegroup = f"{spg.get_space_group_symbol()} ({spg.get_space_group_number()})"
    except Exception:  # spglib fails on some distorted cells
        spacegroup = "P1 (1)?"
    props = {
        "formula": structure.composition.reduced_formula,
        "n_atoms": len(structure),
        "energy_per_atom": p.energy_per_atom,
        "max_force": p.max_force,
        "pressure": p.pressure,
        "note": p.extras.get("note"),
        "volume_per_atom": structure.volume / len(structure),
        "density": float(structure.density),
        "spacegroup": spacegroup,
        "max_magmom": None if p.magmoms is None else float(np.max(np.abs(p.magmoms))),
        "mean_abs_magmom": None if p.magmoms is None else float(np.mean(np.abs(p.magmoms))),
    }
    if p.pressure is not None and abs(p.pressure) > HIGH_PRESSURE:
        props["warning"] = f"high pressure ({p.pressure:.0f} GPa): the cell is far from equilibrium for this model; relax?"
    yield props
    from pymatgen.entries.computed_entries import ComputedEntry

    entry = ComputedEntry(structure.composition, p.energy)
    if hull is not None and {el.symbol for el in structure.composition.elements} <= {el.symbol for el in hull.phase_diagram.elements}:
        props = {**props, "e_form": hull.formation_energy(entry), "e_above_hull": hull.e_above_hull(entry)}
        yield props
        return
    if references is None:
        els = ", ".join(el.symbol for el in structure.composition.elements)
        yield {**props, "e_form_pending": f"relaxing the reference states of {els} (first time only; cached on disk)…"}
    comp = structure.composition
    missing = [el.symbol for el in comp.elements if references is not None and el.symbol not in references]
    if missing:
        raise ValueError(f"references= has no energy for {', '.join(missing)}: give eV/atom for every element "
                         "of the structure, or leave references out to relax the elements with the model")
    refs = references if references is not None else elemental_references([el.symbol for el in comp.elements], model)
    e_form = (p.energy - sum(refs[el.symbol] * n for el, n in comp.items())) / comp.num_atoms
    yield {**props, "e_form": e_form}


def bulk_modulus(structure: Structure, model: Potential, strain: float = 0.05, n: int = 7) -> dict:
    """Birch-Murnaghan fit of E(V) over +-strain in volume (atoms scale with the cell).

    Returns {"B_GPa", "V0", "E0", "volumes", "energies"}.
    """
    from pymatgen.analysis.eos import EOS

    scales = np.linspace(1 - strain, 1 + strain, n) ** (1 / 3)
    structures = []
    for s in scales:
        x = structure.copy()
        x.scale_lattice(structure.volume * s**3)
        structures.append(x)
    energies = [p.energy for p in predict(structures, model)]
    volumes = [x.volume for x in structures]
    fit = EOS("birch_murnaghan").fit(volumes, energies)
    return {"B_GPa": float(fit.b0_GPa), "V0": float(fit.v0), "E0": float(fit.e0), "volumes": volumes, "energies": energies}
