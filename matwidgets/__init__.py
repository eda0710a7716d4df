"""matwidgets: reactive Jupyter widgets for machine-learned materials science.

Names are imported on first use (PEP 562): ``import matwidgets`` stays cheap, so the
Jupyter server extension (matwidgets.server) and ``%load_ext matwidgets`` do not pay for
torch, the models and the widget libraries until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "AtomsBatch": "matwidgets.engine.atoms",
    "read_structure": "matwidgets.engine.atoms",
    "Attribution": "matwidgets.engine.explain",
    "explain": "matwidgets.engine.explain",
    "HullResult": "matwidgets.engine.hull",
    "hull_for": "matwidgets.engine.hull",
    "MDControl": "matwidgets.engine.dynamics",
    "MDFrame": "matwidgets.engine.dynamics",
    "SimulationError": "matwidgets.engine.dynamics",
    "run_md": "matwidgets.engine.dynamics",
    "Potential": "matwidgets.engine.models",
    "load_model": "matwidgets.engine.models",
    "list_models": "matwidgets.engine.models",
    "ModelCard": "matwidgets.engine.models",
    "LennardJones": "matwidgets.engine.models.pair",
    "Morse": "matwidgets.engine.models.pair",
    "SchNet": "matwidgets.engine.models.schnet",
    "RelaxResult": "matwidgets.engine.optimize",
    "relax": "matwidgets.engine.optimize",
    "Prediction": "matwidgets.engine.predict",
    "predict": "matwidgets.engine.predict",
    "iter_screen": "matwidgets.engine.screen",
    "DesignStep": "matwidgets.engine.design",
    "Dataset": "matwidgets.engine.data",
    "datasets": "matwidgets.engine.data",
    "FineTuneResult": "matwidgets.engine.finetune",
    "FineTuneStep": "matwidgets.engine.finetune",
    "PropertyModel": "matwidgets.engine.finetune",
    "finetune": "matwidgets.engine.finetune",
    "iter_finetune": "matwidgets.engine.finetune",
    "meta_train": "matwidgets.engine.meta",
    "adapt": "matwidgets.engine.meta",
    "distill": "matwidgets.engine.distill",
    "DistillResult": "matwidgets.engine.distill",
    "FineTuner": "matwidgets.widgets.fine_tuner",
    "gradient_design": "matwidgets.engine.design",
    "InverseDesigner": "matwidgets.widgets.inverse_designer",
    "screen": "matwidgets.engine.screen",
    "set_threads": "matwidgets.engine.threads",
    "InvalidChemsysError": "matwidgets.errors",
    "InvalidStructureError": "matwidgets.errors",
    "ModelUnavailableError": "matwidgets.errors",
    "notebook_mode": "matwidgets.notebook",
    "HullExplorer": "matwidgets.widgets.hull_explorer",
    "MDPlayer": "matwidgets.widgets.md_player",
    "PeriodicTable": "matwidgets.widgets.periodic_table",
    "PropertyPanel": "matwidgets.widgets.property_panel",
    "save_html": "matwidgets.widgets.save_html",
    "ShapView": "matwidgets.widgets.shap_view",
    "StructureBuilder": "matwidgets.widgets.structure_builder",
    "StructureView": "matwidgets.widgets.structure_view",
    "StructureMap": "matwidgets.widgets.structure_map",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'matwidgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


def load_ipython_extension(ip) -> None:
    """``%load_ext matwidgets``: structures, trajectories and phase diagrams display as widgets."""
    from matwidgets.notebook import notebook_mode

    notebook_mode(True)


def unload_ipython_extension(ip) -> None:
    """``%unload_ext matwidgets``: back to IPython's own display."""
    from matwidgets.notebook import notebook_mode

    notebook_mode(False)


def _jupyter_labextension_paths() -> list[dict]:
    """The prebuilt JupyterLab extension (wheel installs get it as data files; an editable
    install links it with `jupyter labextension develop --overwrite .`)."""
    return [{"src": "labextension", "dest": "matwidgets-lab"}]


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "matwidgets.server"}]


if TYPE_CHECKING:  # for editors and type checkers: the same names, imported eagerly
    from matwidgets.engine.atoms import AtomsBatch, read_structure  # noqa: F401
    from matwidgets.engine.data import Dataset, datasets  # noqa: F401
    from matwidgets.engine.design import DesignStep, gradient_design  # noqa: F401
    from matwidgets.engine.dynamics import MDControl, MDFrame, SimulationError, run_md  # noqa: F401
    from matwidgets.engine.finetune import FineTuneResult, FineTuneStep, PropertyModel, finetune, iter_finetune  # noqa: F401
    from matwidgets.engine.meta import adapt, meta_train  # noqa: F401
    from matwidgets.engine.distill import DistillResult, distill  # noqa: F401
    from matwidgets.engine.explain import Attribution, explain  # noqa: F401
    from matwidgets.engine.hull import HullResult, hull_for  # noqa: F401
    from matwidgets.engine.models import ModelCard, Potential, list_models, load_model  # noqa: F401
    from matwidgets.engine.models.pair import LennardJones, Morse  # noqa: F401
    from matwidgets.engine.models.schnet import SchNet  # noqa: F401
    from matwidgets.engine.optimize import RelaxResult, relax  # noqa: F401
    from matwidgets.engine.predict import Prediction, predict  # noqa: F401
    from matwidgets.engine.screen import iter_screen, screen  # noqa: F401
    from matwidgets.engine.threads import set_threads  # noqa: F401
    from matwidgets.errors import InvalidChemsysError, InvalidStructureError, ModelUnavailableError  # noqa: F401
    from matwidgets.notebook import notebook_mode  # noqa: F401
    from matwidgets.widgets.fine_tuner import FineTuner  # noqa: F401
    from matwidgets.widgets.hull_explorer import HullExplorer  # noqa: F401
    from matwidgets.widgets.inverse_designer import InverseDesigner  # noqa: F401
    from matwidgets.widgets.md_player import MDPlayer  # noqa: F401
    from matwidgets.widgets.periodic_table import PeriodicTable  # noqa: F401
    from matwidgets.widgets.property_panel import PropertyPanel  # noqa: F401
    from matwidgets.widgets.save_html import save_html  # noqa: F401
    from matwidgets.widgets.shap_view import ShapView  # noqa: F401
    from matwidgets.widgets.structure_builder import StructureBuilder  # noqa: F401
    from matwidgets.widgets.structure_map import StructureMap  # noqa: F401
    from matwidgets.widgets.structure_view import StructureView  # noqa: F401
