"""Write the tutorial notebooks from the cell lists below (outputs are never committed).

Run: python tools/make_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1] / "notebooks"

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        ("md", "# Quickstart: predict the properties of a crystal\n\n"
               "matwidgets wraps a pretrained graph neural network (CHGNet 0.3.0, shipped in the `chgnet` wheel, so this runs offline). "
               "We load a structure, predict its energy, forces and stress, and look at it."),
        ("code", "import matwidgets as mw\nfrom pymatgen.core import Lattice, Structure\n\n"
                 "si = Structure.from_spacegroup(\"Fd-3m\", Lattice.cubic(5.43), [\"Si\"], [[0, 0, 0]])\n"
                 "nacl = mw.read_structure(\"../examples/NaCl.cif\")\nsi"),
        ("md", "`predict` takes one structure or many (pymatgen, ASE or file paths) and packs them into batched forward passes."),
        ("code", "model = mw.load_model(\"chgnet\")  # on the GPU when there is one\n"
                 "preds = mw.predict([si, nacl], model)\n"
                 "p = preds[0]\nprint(f\"E = {p.energy_per_atom:.4f} eV/atom, P = {p.pressure:.2f} GPa, max |F| = {p.max_force:.2e} eV/Å\")"),
        ("code", "import pandas as pd\n\n"
                 "pd.DataFrame([{\"formula\": s.composition.reduced_formula, \"E/atom (eV)\": q.energy_per_atom,\n"
                 "               \"P (GPa)\": q.pressure, \"max |F| (eV/Å)\": q.max_force}\n"
                 "              for s, q in zip([si, nacl], preds)])"),
        ("md", "See it: drag to rotate, scroll to zoom, click an atom to select it (shift-click adds). "
               "The selection is synced to Python as `view.selected`."),
        ("code", "view = mw.StructureView(nacl)\nview"),
        ("code", "view.repeat = [2, 2, 2]  # display only; the structure is unchanged\n"
                 "view.color_by(preds[1].atom_energies, label=\"atom energy (eV)\")"),
        ("md", "Forces are exact derivatives of the energy. Rattle the atoms and the forces point back to the ideal sites:"),
        ("code", "rattled = si.copy()\nrattled.perturb(0.1)\nq = mw.predict(rattled, model)[0]\n"
                 "print(\"max |F| =\", round(q.max_force, 3), \"eV/Å; magnetic moments (mu_B):\", q.magmoms.round(3))"),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in cells]
        nbf.write(nb, ROOT / name)
        print("wrote", ROOT / name)


if __name__ == "__main__":
    main()
