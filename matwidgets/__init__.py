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
from matwidgets.errors import InvalidChemsysError, InvalidStructureError, ModelUnavailableError
from matwidgets.widgets.hull_explorer import HullExplorer
from matwidgets.widgets.md_player import MDPlayer
from matwidgets.widgets.periodic_table import PeriodicTable
from matwidgets.widgets.property_panel import PropertyPanel
from matwidgets.widgets.shap_view import ShapView
from matwidgets.widgets.structure_builder import StructureBuilder
from matwidgets.widgets.structure_view import StructureView

__version__ = "0.1.0"

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
    "list_models",
    "load_model",
    "predict",
    "read_structure",
    "relax",
    "run_md",
]
