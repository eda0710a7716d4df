"""matwidgets: reactive Jupyter widgets for machine-learned materials science."""

from matwidgets.engine.atoms import AtomsBatch, read_structure
from matwidgets.engine.explain import Attribution, explain
from matwidgets.engine.hull import HullResult, hull_for
from matwidgets.engine.dynamics import MDControl, MDFrame, SimulationError, run_md
from matwidgets.engine.models import ModelCard, Potential, list_models, load_model
from matwidgets.engine.models.pair import LennardJones, Morse
from matwidgets.engine.models.schnet import SchNet
from matwidgets.engine.optimize import RelaxResult, relax
from matwidgets.engine.predict import Prediction, predict
from matwidgets.engine.screen import iter_screen, screen
from matwidgets.engine.data import Dataset, datasets
from matwidgets.engine.finetune import FineTuneResult, FineTuneStep, PropertyModel, finetune, iter_finetune
from matwidgets.widgets.fine_tuner import FineTuner
from matwidgets.errors import InvalidChemsysError, InvalidStructureError, ModelUnavailableError
from matwidgets.notebook import notebook_mode
from matwidgets.widgets.hull_explorer import HullExplorer
from matwidgets.widgets.md_player import MDPlayer
from matwidgets.widgets.periodic_table import PeriodicTable
from matwidgets.widgets.property_panel import PropertyPanel
from matwidgets.widgets.save_html import save_html
from matwidgets.widgets.shap_view import ShapView
from matwidgets.widgets.structure_builder import StructureBuilder
from matwidgets.widgets.structure_view import StructureView

__version__ = "0.1.0"


def load_ipython_extension(ip) -> None:
    """``%load_ext matwidgets``: structures, trajectories and phase diagrams display as widgets."""
    notebook_mode(True)


def unload_ipython_extension(ip) -> None:
    """``%unload_ext matwidgets``: back to IPython's own display."""
    notebook_mode(False)


__all__ = [
    "Attribution",
    "AtomsBatch",
    "HullExplorer",
    "HullResult",
    "InvalidChemsysError",
    "InvalidStructureError",
    "LennardJones",
    "MDControl",
    "MDFrame",
    "MDPlayer",
    "ModelCard",
    "ModelUnavailableError",
    "Morse",
    "Potential",
    "PeriodicTable",
    "Prediction",
    "PropertyPanel",
    "RelaxResult",
    "SchNet",
    "ShapView",
    "SimulationError",
    "StructureBuilder",
    "StructureView",
    "explain",
    "hull_for",
    "iter_screen",
    "list_models",
    "load_model",
    "notebook_mode",
    "predict",
    "read_structure",
    "relax",
    "run_md",
    "save_html",
    "screen",
    "Dataset",
    "FineTuneResult",
    "FineTuneStep",
    "FineTuner",
    "PropertyModel",
    "datasets",
    "finetune",
    "iter_finetune",
]
