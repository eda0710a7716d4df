"""Smoke test of a plain `pip install .` (no extras): every feature must be there.

CI runs it with a separate virtual environment's python, from outside the checkout,
so that the installed package is imported rather than the source tree:

    /tmp/mw-plain-venv/bin/python tools/smoke_plain_install.py

Exits non-zero (with the failing check on stderr) when something is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    import numpy as np
    from pymatgen.core import Lattice, Structure

    import matwidgets as mw

    source_tree = Path(__file__).resolve().parents[1]
    if source_tree in Path(mw.__file__).resolve().parents:
        print(f"imported matwidgets from the source tree ({mw.__file__}), not the installed package", file=sys.stderr)
        return 1

    # kernel SHAP needs shap; a small LJ crystal keeps it to seconds. With all 2^p coalitions
    # sampled, kernel SHAP is exact, so it must agree with our own exact Shapley values.
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    s.perturb(0.15, min_distance=0.05)
    kernel = mw.explain(s, model="lj", method="kernel")
    exact = mw.explain(s, model="lj", method="exact")
    assert abs(kernel.residual) < 1e-6, f"kernel SHAP breaks the sum rule: residual {kernel.residual}"
    assert np.allclose(kernel.values, exact.values, atol=1e-6), (kernel.values, exact.values)

    # nglview export (nglview 3.1.4, which needs pkg_resources from setuptools < 81)
    view = mw.StructureView(s).to_nglview()
    assert type(view).__name__ == "NGLWidget", type(view)

    # colour maps and the torch-geometric models' dependency
    import matplotlib  # noqa: F401
    import torch_geometric  # noqa: F401

    mw.StructureView(s).color_by(exact.per_atom(), label="SHAP (eV/atom)")

    # the JupyterLab file viewer and its server extension arrive as the wheel's data files
    prefix = Path(sys.prefix)
    lab = prefix / "share/jupyter/labextensions/matwidgets-lab"
    assert (lab / "package.json").is_file() and any((lab / "static").glob("remoteEntry.*.js")), f"no lab extension in {lab}"
    assert (prefix / "etc/jupyter/jupyter_server_config.d/matwidgets.json").is_file(), "server extension not enabled"
    import matwidgets.server  # noqa: F401  (jupyter_server imports it at start)
    # `jupyter nbconvert --to html --template matwidgets`: the template and its preprocessor
    assert (prefix / "share/jupyter/nbconvert/templates/matwidgets/conf.json").is_file(), "no nbconvert template"
    from nbconvert import HTMLExporter

    HTMLExporter(template_name="matwidgets")  # finds the template and its preprocessor
    import matwidgets.nbconvert  # noqa: F401

    # screening on a dask cluster needs distributed; SevenNet needs sevenn (weights in its wheel)
    import distributed  # noqa: F401
    import sevenn  # noqa: F401
    print(f"plain install OK: matwidgets {mw.__version__} from {Path(mw.__file__).parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
