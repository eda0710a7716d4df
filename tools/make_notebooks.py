"""Write the tutorial notebooks from the cell lists below (outputs are never committed).

Run: python tools/make_notebooks.py [DIRECTORY]   (default: notebooks/)

Cell ids are derived from the notebook name and the cell's position, so running it
again writes byte-identical files (tests/notebooks/test_make_notebooks.py checks the
committed notebooks are what this writes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1] / "notebooks"

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "00_index.ipynb": [
        ("md", "# matwidgets tutorials\n\n"
               "Interactive machine-learned materials science in Jupyter: a pretrained graph neural network (CHGNet by default) "
               "predicts energies, forces and stresses of crystals, and widgets let you build, relax, simulate, explain and screen them. "
               "Everything runs offline in this kernel, on the GPU when there is one. Each notebook takes a few minutes on a laptop CPU; "
               "run them in order the first time.\n\n"
               "| notebook | you will see | you will learn |\n"
               "|---|---|---|\n"
               "| [01 Quickstart](01_quickstart.ipynb) | a 3D crystal, its predicted energy, forces and stress | `predict`, `StructureView`, `%load_ext matwidgets`, `save_html` |\n"
               "| [02 Convex hull](02_convex_hull.ipynb) | the Li-O hull filling in as candidates relax | formation energies, stability, `HullExplorer`, decomposition reactions |\n"
               "| [03 Molecular dynamics](03_molecular_dynamics.ipynb) | a crystal vibrating live, energy and temperature traces | `run_md`, thermostats, conservation of energy, `MDPlayer` |\n"
               "| [04 Explain with SHAP](04_explain_with_shap.ipynb) | atoms coloured by their contribution to a prediction | Shapley values, maskers and baselines, `ShapView` |\n"
               "| [05 Build and predict](05_build_and_predict.ipynb) | a structure builder with live properties | prototypes, substitutions, strain, `StructureBuilder`, `PropertyPanel` |\n"
               "| [06 Inverse design](06_inverse_design.ipynb) | a structure following the model's gradients | gradient design with chemical constraints, `InverseDesigner` |\n"
               "| [07 Transfer learning](07_transfer_learning.ipynb) | a pretrained model fine-tuned on a small dataset | `finetune`, frozen layers, forgetting, `FineTuner` |\n"
               "| [08 Screening at scale](08_screening_at_scale.ipynb) | many candidates screened in process and on a Dask cluster | `screen`, `iter_screen`, `client=`, resumable stores |\n\n"
               "Outside the notebooks: `%load_ext matwidgets` makes pymatgen and ASE objects display as widgets, "
               "double-clicking a `.cif` or `POSCAR` in JupyterLab opens a 3D viewer, and "
               "`jupyter nbconvert --to html --template matwidgets` turns an executed notebook into an offline page."),
        ("md", "Check your setup: the version, where the models run, and the models that ship offline "
               "(parameters, training data and the microseconds per atom measured on a 2-core CPU)."),
        ("code", "import pandas as pd\nimport matwidgets as mw\nfrom matwidgets.engine.models import default_device\n\n"
                 "print(\"matwidgets\", mw.__version__, \"on\", default_device())\n"
                 "pd.DataFrame([vars(card) for card in mw.list_models()])"),
        ("md", "Next: open [01 Quickstart](01_quickstart.ipynb)."),
    ],
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
        ("md", "Without writing widget code: `%load_ext matwidgets` makes structures, lists of structures (a trajectory) "
               "and pymatgen phase diagrams display as widgets. `%unload_ext matwidgets` turns it off."),
        ("code", "%load_ext matwidgets\nnacl"),
        ("md", "Keep a view as a self-contained web page that opens offline (rotate, zoom and play it without Python):"),
        ("code", "mw.save_html(view, \"nacl.html\")"),
    ],
    "02_convex_hull.ipynb": [
        ("md", "# Convex hulls from a pretrained model\n\n"
               "`HullExplorer` builds candidates from pymatgen's AFLOW prototype library by element substitution "
               "(charge-balanced when the system holds an anion; O2, N2, ... as molecules), relaxes each with the model "
               "in batches, and places them on pymatgen's `PhaseDiagram`. Points appear as candidates finish; results are "
               "cached on disk, so the second time is instant.\n\n"
               "Here a small Li-O run (cells of at most 8 atoms) keeps the tutorial fast on a laptop CPU. "
               "`mw.HullExplorer(\"Li-Fe-O\")` is the full thing (minutes on a CPU the first time)."),
        ("code", "import matwidgets as mw\n\nexplorer = mw.HullExplorer(\"Li-O\", max_atoms=8, steps=60)\nexplorer"),
        ("code", "await explorer.job.wait_async()  # the kernel stays free while it computes; this just waits here\n"
                 "explorer.to_dataframe().head(8)"),
        ("md", "Click a point: its structure, space group, formation energy, energy above the hull and decomposition reaction "
               "appear beside the plot, and the entry is in `explorer.selected`. The slider hides unstable points without recomputing."),
        ("code", "li2o = next(e for e in explorer.result.stable_entries if e.composition.reduced_formula == \"Li2O\")\n"
                 "explorer.select(li2o)\nprint(explorer.result.formation_energy(li2o), \"eV/atom (experiment: -2.07)\")"),
        ("md", "Add your own candidate: it is relaxed with the same model and placed on the hull live."),
        ("code", "from pymatgen.core import Lattice, Structure\n\n"
                 "peroxide = Structure.from_spacegroup(\"P6_3/mmc\", Lattice.hexagonal(3.14, 7.65), [\"Li\", \"Li\", \"O\"],\n"
                 "                                     [[0, 0, 0.25], [1/3, 2/3, 0.25], [1/3, 2/3, 0.85]])\n"
                 "job = explorer.add(peroxide, name=\"Li2O2 (peroxide)\")\n"
                 "await job.wait_async()  # relaxes in the background; the kernel stays free\n"
                 "out = explorer.added[-1]\n"
                 "print(f\"E_hull = {1000 * out['e_above_hull']:.0f} meV/atom;\", out[\"reaction\"])"),
        ("md", "The same without a widget (cached now, so instant), and a standalone HTML export:"),
        ("code", "result = mw.hull_for(\"Li-O\", max_atoms=8, steps=60)\n"
                 "[(e.composition.reduced_formula, round(result.formation_energy(e), 3)) for e in result.stable_entries]"),
        ("code", "explorer.to_html(\"li_o_hull.html\")"),
    ],
    "03_molecular_dynamics.ipynb": [
        ("md", "# Relax and run molecular dynamics live\n\n"
               "The engine integrates many systems at once (velocity Verlet, Langevin or Nose-Hoover NVT, NPT with a "
               "stochastic cell-rescaling barostat) and relaxes with FIRE. `MDPlayer` runs it in the background and streams "
               "frames to the viewer and the traces."),
        ("code", "import matwidgets as mw\nfrom pymatgen.core import Lattice, Structure\n\n"
                 "si = Structure.from_spacegroup(\"Fd-3m\", Lattice.cubic(5.6), [\"Si\"], [[0, 0, 0]])  # a little too large\n"
                 "res = mw.relax(si)\nprint(f\"a = {res.structure.lattice.a:.3f} Å after {res.steps} FIRE steps, converged={res.converged}\")"),
        ("code", "player = mw.MDPlayer(res.structure, ensemble=\"nvt\", temperature=600, timestep=2.0, steps=150, every=5, seed=0)\n"
                 "player"),
        ("md", "Press **Start** (or call `player.start()`). The temperature slider acts on the running simulation; "
               "**Stop** keeps the frames; afterwards the viewer plays the trajectory back with a slider."),
        ("code", "job = player.start()\nawait job.wait_async()\nprint(job.status, len(player.frames), \"frames\")"),
        ("code", "player.save(\"si_600K.extxyz\")"),
        ("md", "Without a widget: `run_md` is a generator of frames. In NVE the total energy is conserved:"),
        ("code", "import numpy as np\n\n"
                 "frames = list(mw.run_md(res.structure, ensemble=\"nve\", temperature=300, timestep=1.0, steps=100, every=10, seed=1))\n"
                 "e = np.array([f.total_energy for f in frames]) / len(res.structure)\n"
                 "print(f\"total energy drift over 100 fs: {np.ptp(e) * 1000:.2f} meV/atom\")"),
    ],
    "04_explain_with_shap.ipynb": [
        ("md", "# Which atoms make a prediction? SHAP attributions\n\n"
               "Shapley values split a prediction among *players* (atoms, symmetry orbits or coordination motifs) by averaging "
               "each player's marginal contribution over all coalitions. A *masker* says what an absent atom means: "
               "`remove` deletes it from the cell, `substitute` replaces it by a reference element, `model` (native SchNet) "
               "masks it inside the network. The values always add up to f(full) - f(baseline)."),
        ("code", "import matwidgets as mw\nfrom pymatgen.core import Lattice, Structure\n\n"
                 "sto = Structure.from_spacegroup(\"Pm-3m\", Lattice.cubic(3.905), [\"Sr\", \"Ti\", \"O\"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])\n"
                 "sto.make_supercell([2, 1, 1])\nsto.replace(0, \"Ba\")  # one Ba on an Sr site\n"
                 "a = mw.explain(sto, target=\"energy_per_atom\")\n"
                 "print(f\"{a.n_evaluations} coalitions, sum-rule residual {a.residual:.1e}\")\na.top(5)"),
        ("md", "The widget colours atoms by their value (zero-centred, red = raises the energy, blue = lowers it) "
               "and lists the largest contributions; hover a bar to highlight its atoms. Change the players, masker or target "
               "and it recomputes in the background."),
        ("code", "shap_view = mw.ShapView(sto)\nshap_view"),
        ("code", "await shap_view.job.wait_async()\nshap_view.attribution.top(3)"),
        ("md", "Compare with the model's own per-atom energies (CHGNet has a per-site energy readout); "
               "the two agree in sign but need not be equal: SHAP averages over all environments an atom could be missing from."),
        ("code", "import numpy as np\n\nnp.c_[a.per_atom() * len(sto), a.model_atom_energies].round(3)"),
        ("md", "Symmetry-equivalent atoms as one player (exact Shapley values over orbits):"),
        ("code", "orbits = mw.explain(sto, group=\"orbit\")\nlist(zip(orbits.names, orbits.values.round(4)))"),
    ],
    "05_build_and_predict.ipynb": [
        ("md", "# Build a crystal and watch its predicted properties\n\n"
               "`StructureBuilder` starts from pymatgen's AFLOW prototypes (search by mineral, Pearson symbol, Strukturbericht "
               "designation or AFLOW label), from common lattices, from an uploaded file or from a structure you pass in. "
               "Edits keep the crystal system's constraints, invalid edits are refused, and everything can be undone. "
               "`PropertyPanel` follows the builder and recomputes after each edit."),
        ("code", "import matwidgets as mw\nimport ipywidgets as W\n\n"
                 "builder = mw.StructureBuilder()\nbuilder.load_lattice(\"perovskite\", [\"Sr\", \"Ti\", \"O\"], 3.905)\n"
                 "panel = mw.PropertyPanel(builder)\nW.HBox([builder, panel])"),
        ("md", "Pick atoms in the view and an element in the periodic table, then **Substitute picked** "
               "(tick *whole orbit* to replace all symmetry-equivalent atoms). The same from Python:"),
        ("code", "builder.make_supercell([2, 1, 1])\nbuilder.substitute([0], \"Ba\")\n"
                 "await panel.job.wait_async() if panel.job else None\nbuilder.structure.composition.reduced_formula"),
        ("code", "import asyncio\n\nawait asyncio.sleep(0.2)  # the panel refreshes after a short debounce\nawait panel.job.wait_async()\n"
                 "{k: v for k, v in panel.properties.items() if k in (\"energy_per_atom\", \"e_form\", \"pressure\", \"spacegroup\")}"),
        ("md", "An invalid edit is refused and nothing is lost:"),
        ("code", "try:\n    builder.add_atom(\"O\", [0.0, 0.0, 0.01])  # on top of atom 0\nexcept mw.InvalidStructureError as err:\n"
                 "    print(\"refused:\", err)\nbuilder.undo()\nbuilder.structure.composition.reduced_formula"),
        ("code", "job = panel.compute_bulk_modulus()\nawait job.wait_async()\nprint(f\"B = {panel.properties['bulk_modulus']:.0f} GPa\")"),
    ],
    "08_screening_at_scale.ipynb": [
        ("md", "# Screening at scale: many structures, one call, any number of machines\n\n"
               "`mw.screen` predicts (or relaxes) a list of structures and returns the results in input order. "
               "Without a cluster it runs here, packing structures into batched forward passes. With a "
               "[dask.distributed](https://distributed.dask.org) `Client` the same call spreads shards of the list over "
               "the cluster's workers: a `LocalCluster` on this machine, a SLURM cluster through dask-jobqueue, or any "
               "scheduler address (see docs/screening.md)."),
        ("code", "import matwidgets as mw\nfrom pymatgen.core import Lattice, Structure\n\n"
                 "# 24 cells: three alkali halides as rocksalt and as CsCl, each at four volumes around experiment's\n"
                 "structures = []\nfor a, b, a0 in [(\"Na\", \"Cl\", 5.64), (\"K\", \"Br\", 6.60), (\"Li\", \"F\", 4.03)]:\n"
                 "    for scale in (0.97, 1.0, 1.03, 1.06):\n"
                 "        structures.append(Structure.from_spacegroup(\"Fm-3m\", Lattice.cubic(a0 * scale), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]]))\n"
                 "        # CsCl at the same volume per atom: a^3/8 = b^3/2\n"
                 "        structures.append(Structure.from_spacegroup(\"Pm-3m\", Lattice.cubic(a0 * scale / 4 ** (1 / 3)), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]]))\n"
                 "results = mw.screen(structures, \"chgnet\", progress=True)\n"
                 "len(results), results[0].energy_per_atom"),
        ("md", "Each result is a `Prediction` (energy, forces, stress, ...). Which structure type does each salt prefer at these "
               "lattice constants? (Experiment: all three are rocksalt at ambient pressure.)"),
        ("code", "import pandas as pd\n\n"
                 "df = pd.DataFrame([{\"formula\": s.composition.reduced_formula, \"type\": \"rocksalt\" if len(s) == 8 else \"CsCl\",\n"
                 "                    \"V/atom (Å³)\": s.volume / len(s), \"E/atom (eV)\": r.energy_per_atom, \"P (GPa)\": r.pressure}\n"
                 "                   for s, r in zip(structures, results)])\n"
                 "df.loc[df.groupby([\"formula\", \"type\"])[\"E/atom (eV)\"].idxmin()]"),
        ("md", "## The same on a cluster\n\n"
               "A `LocalCluster` starts worker processes on this machine. Use one thread per worker: matwidgets gives each "
               "worker's torch its share of the cores, because two processes that both use every core run several times "
               "slower than one. Each worker loads the model once; results stream back as shards finish."),
        ("code", "from distributed import Client, LocalCluster\n\n"
                 "cluster = LocalCluster(n_workers=2, threads_per_worker=1, host=\"127.0.0.1\", dashboard_address=None)\n"
                 "client = Client(cluster)\n"
                 "on_cluster = mw.screen(structures, \"chgnet\", client=client)\n"
                 "max(abs(a.energy_per_atom - b.energy_per_atom) for a, b in zip(results, on_cluster))  # the same numbers"),
        ("md", "`iter_screen` hands results over as they complete, in whatever order the workers finish; `relax=True` relaxes "
               "instead (each result is then a `RelaxResult`). A worker that dies mid-run has its shard resubmitted: nothing "
               "is lost and nothing comes back twice."),
        ("code", "for index, relaxed in mw.iter_screen(structures[:4], \"chgnet\", relax=True, fmax=0.1, client=client):\n"
                 "    print(index, relaxed.structure.composition.reduced_formula, f\"{relaxed.energy / len(relaxed.structure):.3f} eV/atom\",\n"
                 "          \"converged\" if relaxed.converged else \"not converged\")"),
        ("md", "Try next: pass `store=\"screen.db\"` so a stopped run resumes where it was; `mw.hull_for(\"Li-O\", client=client)` "
               "relaxes hull candidates on the cluster; on a GPU cluster start one worker per GPU."),
        ("code", "client.close()\ncluster.close()"),
    ],
    "06_inverse_design.ipynb": [
        ("md", "# Inverse design by gradients\n\n"
               "The fast gradient sign method (FGSM) of adversarial machine learning, turned around: the gradient of a "
               "model's prediction tells how to move atoms, strain the cell or change species. Downhill in energy leads to "
               "more stable structures; uphill is an attack on a structure's stability; uphill in the disagreement of a "
               "committee of models finds where a potential is weak (Schwalbe-Koda, Tan and Gómez-Bombarelli, "
               "Nat. Commun. 2021). `mw.gradient_design` yields one `DesignStep` per step; every step is projected back "
               "onto the constraints."),
        ("code", "import numpy as np\nimport matwidgets as mw\nfrom pymatgen.core import Lattice, Structure\n\n"
                 "# a Lennard-Jones fcc crystal (epsilon = sigma = 1), rattled\n"
                 "fcc = Structure(Lattice.cubic(1.55), [\"Ar\"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])\n"
                 "fcc.make_supercell(2)\nrng = np.random.default_rng(0)\n"
                 "rattled = Structure(fcc.lattice, fcc.species, fcc.cart_coords + rng.normal(0, 0.05, (32, 3)), coords_are_cartesian=True)\n"
                 "lj = mw.LennardJones(cutoff=2.5)\n\n"
                 "steps = list(mw.gradient_design(rattled, lj, \"min_energy\", steps=200, method=\"adam\", variables=(\"positions\", \"cell\")))\n"
                 "print(f\"E: {steps[0].objective:.4f} -> {steps[-1].objective:.4f} eV/atom, |grad| {steps[-1].grad_norm:.1e}\")"),
        ("md", "## An attack on stability\n\n"
               "FGSM ascent: each step moves every coordinate by `step_size` Å along the sign of the energy gradient, so "
               "to first order the energy rises by step_size × ‖∇E‖₁. PGD keeps the atoms inside a ball of `epsilon` Å "
               "around the start; the constraints keep atoms apart, fix atoms and bound the volume."),
        ("code", "attack = list(mw.gradient_design(fcc, lj, \"max_energy\", steps=30, step_size=0.01, method=\"pgd\", epsilon=0.1,\n"
                 "                                 constraints={\"min_distance\": 0.95, \"fixed\": [0]}, variables=(\"positions\",)))\n"
                 "print(f\"E: {attack[0].extras['energy']:.3f} -> {attack[-1].extras['energy']:.3f} eV/atom; \"\n"
                 "      f\"all valid: {all(st.valid for st in attack)}\")"),
        ("md", "## The widget\n\n"
               "`InverseDesigner` picks the objective, variables, constraints and method; **Start** runs the design in the "
               "background, the view follows it and the trace plots the objective; the slider scrubs through the steps. "
               "**Relax result** relaxes the step shown, **Export CIF** writes it, **Add to hull** puts it on a "
               "`HullExplorer` given as `hull=`."),
        ("code", "designer = mw.InverseDesigner(rattled, model=lj, objective=\"min_energy\", method=\"adam\", steps=100)\ndesigner"),
        ("code", "job = designer.start()\nawait job.wait_async()\ndesigner.rows()"),
        ("md", "## Soft species with CHGNet\n\n"
               "With `\"species\"` among the variables each site holds soft weights over its allowed elements, annealed to "
               "one-hot. Which alkali halide has the lowest formation energy? Start from NaCl, allow K on the Na sites and "
               "Br on the Cl sites, keep charge neutrality, and follow the formation energy downhill (the references are "
               "CHGNet's relaxed elements, as on its convex hull)."),
        ("code", "from matwidgets.engine.hull import elemental_references\n\n"
                 "nacl = Structure.from_spacegroup(\"Fm-3m\", Lattice.cubic(5.69), [\"Na\", \"Cl\"], [[0, 0, 0], [0.5, 0.5, 0.5]])\n"
                 "refs = elemental_references([\"Na\", \"K\", \"Cl\", \"Br\"], \"chgnet\")\n"
                 "run = list(mw.gradient_design(nacl, \"chgnet\", \"min_formation_energy\", steps=40, method=\"adam\", references=refs,\n"
                 "                              variables=(\"species\", \"positions\", \"cell\"), species={\"Na\": [\"Na\", \"K\"], \"Cl\": [\"Cl\", \"Br\"]},\n"
                 "                              constraints={\"charge_neutral\": True, \"min_distance\": \"covalent\"}, seed=0))\n"
                 "for st in run[::10]:\n"
                 "    print(st.step, st.structure.composition.reduced_formula, f\"E_form = {st.objective:.3f} eV/atom\")"),
        ("md", "It ends at KCl, whose experimental formation enthalpy (−2.26 eV/atom) is indeed lower than NaCl's "
               "(−2.13 eV/atom).\n\n"
               "Try next: `objective=\"max_uncertainty\"` with a committee, `mw.load_model([\"chgnet\", \"chgnet-0.2.0\"])`, "
               "finds configurations the two versions disagree on; `constraints={\"keep_symmetry\": True}` keeps the "
               "space group."),
    ],
    "07_transfer_learning.ipynb": [
        ("md", "# Transfer learning: fine-tune a pretrained potential on experimental data\n\n"
               "CHGNet was trained on DFT (PBE) energies. Experimental formation enthalpies are fewer and differ systematically "
               "from PBE. Here we fine-tune a copy of CHGNet on a few of pymatgen's 2,135 experimental formation enthalpies, "
               "keeping its message-passing layers fixed so that it keeps the physics it learned (everything runs offline)."),
        ("code", "import matwidgets as mw\n\n"
                 "model = mw.load_model(\"chgnet\", device=\"cpu\")\n"
                 "formulas = [\"Ag2O\", \"AgO\", \"Ag2S\", \"AgCl\", \"AlCl3\", \"AgF\", \"AlF3\", \"BaF2\", \"AlN\", \"BN\"]\n"
                 "# each compound gets the lowest-energy prototype of its composition, relaxed with the model; these ten\n"
                 "# ship with matwidgets (relaxed with this very CHGNet), other formulas are relaxed on demand and cached\n"
                 "data = mw.datasets.experimental_formation_enthalpies(model, formulas=formulas, max_atoms=5)\n"
                 "data, data.summary()[\"families\"]"),
        ("code", "import pandas as pd\n\n"
                 "pd.DataFrame([{**p, \"ΔH_f exp (eV/atom)\": h} for p, h in zip(data.provenance, data.labels[\"formation_enthalpy\"])])"
                 "[[\"formula\", \"prototype\", \"energy_per_atom\", \"ΔH_f exp (eV/atom)\"]]"),
        ("md", "The raw model's formation energy is its energy minus its own relaxed elemental references. "
               "`groupby(\"anion\")` splits the data by chemical family; we hold out the chlorides."),
        ("code", "import numpy as np\n\n"
                 "mu = data.references  # eV/atom, relaxed with the model (matwidgets.engine.hull.elemental_references)\n\n"
                 "def formation(m, ds):\n"
                 "    e = np.array([p.energy for p in mw.predict(ds.structures, m)])\n"
                 "    return (e - np.array([sum(n * mu[el.symbol] for el, n in s.composition.items()) for s in ds.structures])) / ds.natoms\n\n"
                 "groups = data.groupby(\"anion\")\n"
                 "test = groups[\"chloride\"]\n"
                 "train = mw.Dataset([s for k, g in groups.items() if k != \"chloride\" for s in g.structures],\n"
                 "                   formation_enthalpy=np.concatenate([g.labels[\"formation_enthalpy\"] for k, g in groups.items() if k != \"chloride\"]))\n"
                 "raw_mae = np.mean(np.abs(formation(model, test) - test.labels[\"formation_enthalpy\"]))\n"
                 "print(f\"raw CHGNet on held-out chlorides: MAE {raw_mae:.3f} eV/atom\")"),
        ("md", "`finetune` trains a deep copy (the model given is never modified). `freeze=\"backbone\"` trains only the readout; "
               "per-element reference energies are first refitted by least squares. `replay=\"base\"` also fits the base "
               "model's own predictions on elemental reference structures, and `forgetting` reports how far the copy "
               "drifted from them."),
        ("code", "result = mw.finetune(model, train, target=\"formation_energy\", freeze=\"backbone\", epochs=15, lr=1e-3,\n"
                 "                     batch_size=4, val=None, replay=\"base\", seed=0, references=mu)\n"
                 "tuned_mae = np.mean(np.abs(formation(result.model, test) - test.labels[\"formation_enthalpy\"]))\n"
                 "print(f\"fine-tuned: MAE {tuned_mae:.3f} eV/atom on the held-out chlorides (raw {raw_mae:.3f});\",\n"
                 "      f\"forgetting {result.history[-1].forgetting:.3f} eV/atom, {result.metrics['n_trainable']:,} parameters trained\")"),
        ("md", "The FineTuner widget does the same in a background job: choose what to freeze (it counts the trainable "
               "parameters), press Start, watch the curves, Stop keeps the best model, Save writes it."),
        ("code", "tuner = mw.FineTuner(data, model, target=\"formation_energy\", references=mu, epochs=10, batch_size=4, val=0.3, seed=0)\n"
                 "tuner"),
        ("code", "job = tuner.start()\nawait job.wait_async()\ntuner.status.value"),
        ("md", "A fine-tuned model is a model like any other: save it, load it, and pass it as `model=` to every widget and engine function."),
        ("code", "result.model.save(\"chgnet-finetuned.pt\")\n"
                 "again = mw.load_model(\"chgnet-finetuned.pt\", device=\"cpu\")\n"
                 "mw.predict(test.structures[0], again)[0].energy_per_atom, again.tag"),
        ("md", "Also offline: the MatPES r2SCAN elemental references (89 elements, energies, forces and stress) for a PBE → r2SCAN "
               "transfer, with `chgnet-r2scan` as the anchor (see benchmarks/finetune.py)."),
        ("code", "r2scan = mw.datasets.matpes_r2scan()\nr2scan, r2scan.provenance[0]"),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbf.NotebookNode:
    """One notebook; cell ids are "<notebook stem>-<index>" (nbformat draws random ones)."""
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    stem = Path(name).stem
    nb.cells = [
        (nbf.v4.new_markdown_cell if kind == "md" else nbf.v4.new_code_cell)(src, id=f"{stem}-{i}")
        for i, (kind, src) in enumerate(cells)
    ]
    nbf.validate(nb)
    return nb


def write_all(directory: str | Path = ROOT) -> list[Path]:
    """Write every notebook in NOTEBOOKS into ``directory``; the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, cells in NOTEBOOKS.items():
        nbf.write(build(name, cells), directory / name)
        paths.append(directory / name)
    return paths


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    for path in write_all(argv[0] if argv else ROOT):
        print("wrote", path)


if __name__ == "__main__":
    main()
