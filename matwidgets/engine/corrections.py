"""Energy corrections for hull entries, applied on top of the raw model energies.

The cache (store.py) keeps raw model energies; a correction only adds pymatgen
``energy_adjustments`` to the entries built from them, so switching costs no
recomputation and ``entry.uncorrected_energy`` is always the model's own number.
Elemental entries never get a correction (pymatgen's schemes give them none, and the
fitted shifts below are defined on compounds only), so the references stay the model's.

``correction=`` in ``iter_hull`` / ``hull_for`` / ``HullExplorer``:

None (the default): the model's energies as they are. Right for the default model:
  CHGNet 0.3.0 (and 0.2.0) was trained on MPtrj energies with MP2020 corrections already
  applied (chgnet README, "Notes for Training": "The pretrained dataset of CHGNet comes
  from GGA+U DFT with MaterialsProject2020Compatibility corrections applied"), and
  Matbench Discovery evaluates it without correcting again (matbench-discovery
  models/chgnet/chgnet-0.3.0.yml: "CHGNet targets include MP2020 corrections. Hence no
  need to correct again."; its models/chgnet/join_chgnet_preds.py took formation
  energies of the raw predictions). Its hull is on the MP2020 scale already.
"mp2020": pymatgen's MaterialsProject2020Compatibility (GGA/GGA+U mixing and anion
  corrections) on every entry, with the parameters an MP calculation of it would have
  had (run_type GGA+U and MP's U values for oxides and fluorides of Co, Cr, Fe, Mn, Mo,
  Ni, V, W, else GGA; check_potcar=False). Right for models trained on *uncorrected*
  MPtrj energies (SevenNet-0: matbench-discovery models/sevennet/join_7net_preds.py,
  "As SevenNet-0 (11July2024) is trained on 'uncorrected energy' of MPtrj, MP formation
  energy corrections need to be applied"; MACE-MP likewise). For CHGNet it counts the
  corrections twice (a UserWarning says so): measured on the bundled 293 compounds, the
  MAE against experiment goes from 0.146 to 0.434 eV/atom (oxides 0.155 -> 0.611).
"fitted": fitted elemental-phase reference energies (FERE; Stevanovic et al., Phys. Rev.
  B 85, 115104 (2012)): one shift per element, fitted by ridge least squares to the
  experimental formation enthalpies of the bundled compounds
  (matwidgets/data/exp_enthalpy_structures.json.gz, relaxed with the bundle's model,
  data.py), so only for that model. An empirical correction of the model's residual
  errors (molecule-in-a-box halogen references, cations in unusual oxidation states):
  benchmarks/hull_vs_experiment.py evaluates it leave-one-system-out: MAE 0.110 -> 0.097
  eV/atom on 97 compounds of 39 binaries (halides 0.181 -> 0.120). Not the default: it is
  empirical, exists for one model, and moves the hull off the MP2020 scale MP data share.
a dict {element: shift, eV/atom}: the same, with shifts the caller chose (or fitted
  with ``fit_element_shifts``).
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import CompositionEnergyAdjustment

NAMES = (None, "mp2020", "fitted")
# Models whose training targets already include the MP2020 corrections (see above)
MP2020_IN_TARGETS = ("chgnet", "chgnet-0.2.0")
# Models not on the GGA/GGA+U scale that MP2020 was fitted for
NOT_GGA = ("chgnet-r2scan",)
RIDGE = 1.0  # shrinks the shifts of elements with few compounds towards 0 (see fit_element_shifts)
FERE = "fitted elemental reference shift"  # name of the pymatgen adjustment


def check_correction(correction) -> None:
    """ValueError naming the problem unless ``correction`` is None, "mp2020", "fitted" or {element: eV/atom}."""
    if correction is None or correction in ("mp2020", "fitted"):
        return
    if isinstance(correction, Mapping):
        from pymatgen.core import Element

        for el, v in correction.items():
            if not isinstance(el, str) or not Element.is_valid_symbol(el):
                raise ValueError(f"correction: unknown element {el!r} (give {{element: shift in eV/atom}})")
            if not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ValueError(f"correction: the shift of {el} must be a finite number of eV/atom, got {v!r}")
        return
    raise ValueError(f"unknown correction {correction!r}: use None, 'mp2020', 'fitted' or a dict {{element: eV/atom}}")


def correction_label(correction) -> str:
    """A short description for hover texts and tables."""
    if correction is None:
        return "none (raw model energies)"
    if correction == "mp2020":
        return "MP2020 (pymatgen MaterialsProject2020Compatibility)"
    if correction == "fitted":
        return "fitted elemental references (FERE, bundled experimental enthalpies)"
    if len(correction) > 6:  # a fitted set of many elements: the hover gives each entry's own amount
        # with a digest of the values: entries are matched to their scheme by this label
        digest = hashlib.sha1(repr(sorted((el, float(v)) for el, v in correction.items())).encode()).hexdigest()[:6]
        return f"elemental reference shifts ({len(correction)} elements, #{digest})"
    return "elemental reference shifts " + ", ".join(f"{el} {v:+.3f}" for el, v in sorted(correction.items()))


class Corrector:
    """Applies one correction to entries in place (their raw energy untouched); made once per run."""

    def __init__(self, correction, model=None):
        check_correction(correction)
        self.correction = correction
        self.label = correction_label(correction)
        self.shifts: dict[str, float] = {}
        name = getattr(model, "name", None)
        if correction == "mp2020":
            from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

            if name in MP2020_IN_TARGETS:
                warnings.warn(f"correction='mp2020' with {name}: its training energies include the MP2020 corrections "
                              "already, so they are counted twice (use correction=None)", UserWarning, stacklevel=3)
            elif name in NOT_GGA:
                warnings.warn(f"correction='mp2020' with {name}: MP2020 was fitted for GGA/GGA+U energies, not r2SCAN",
                              UserWarning, stacklevel=3)
            self.compat = MaterialsProject2020Compatibility(check_potcar=False)
        elif correction == "fitted":
            self.shifts = bundled_shifts(model)
        elif isinstance(correction, Mapping):
            self.shifts = {el: float(v) for el, v in correction.items()}

    def apply(self, entries: Iterable) -> tuple[list, list]:
        """(corrected copies, the entries the scheme rejects). Each copy's ``data["correction"]``
        names the scheme and its ``energy_adjustments`` are the scheme's alone. Copies: the
        originals may still serve elsewhere as raw energies (iter_hull screens on those)."""
        ok, rejected = [], []
        for e in map(_copy, entries):
            e.data["correction"] = self.label
            if self.correction is None:
                ok.append(e)
            elif self.correction == "mp2020":
                done = self._mp2020(e)
                if done is None:
                    rejected.append(e)
                else:
                    ok.append(done)
            else:
                e.energy_adjustments = shift_adjustments(e.composition, self.shifts)
                ok.append(e)
        return ok, rejected

    def _mp2020(self, entry):
        entry.parameters.update(mp_parameters(entry.composition, self.compat))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Failed to guess oxidation states" for intermetallics: no anion correction, as meant
            return self.compat.process_entry(entry, clean=True)


def _copy(entry):
    """A copy sharing the structure (never modified here) but not the mutable parts a scheme writes."""
    out = copy.copy(entry)
    out.data, out.parameters, out.energy_adjustments = dict(entry.data), dict(entry.parameters), []
    return out


def mp_parameters(composition: Composition, compat) -> dict:
    """run_type and hubbards as MP would have run this composition: GGA+U with MP's U values
    when it is an oxide or fluoride of a U element (compat.u_settings), else GGA. (The model
    gives no run type; MP2020's mixing correction needs the one its training data had.)"""
    symbols = {el.symbol for el in composition.elements}
    anion = next((a for a in ("O", "F") if a in symbols and len(symbols) > 1), None)  # O before F, as pymatgen's MP sets
    hubbards = {el: u for el, u in compat.u_settings.get(anion, {}).items() if el in symbols} if anion else {}
    return {"run_type": "GGA+U" if hubbards else "GGA", "hubbards": hubbards}


def shift_adjustments(composition: Composition, shifts: Mapping[str, float]) -> list:
    """pymatgen adjustments moving each element's reference up by ``shifts[el]`` eV/atom: a
    compound's energy gets -n_el * shift for each element; an element gets none (so its own
    entries, the references, keep the model's energy)."""
    if len(composition.elements) < 2:
        return []
    out = []
    for el in composition.elements:
        shift = shifts.get(el.symbol, 0.0)
        if shift:
            out.append(CompositionEnergyAdjustment(-shift, composition[el], name=f"{FERE} ({el.symbol})",
                                                   description=f"{el.symbol} reference shifted by {shift:+.4f} eV/atom"))
    return out


def fit_element_shifts(compositions: Sequence, model_formation: Sequence[float], experimental: Sequence[float],
                       ridge: float = RIDGE) -> dict[str, float]:
    """Per-element reference shifts (eV/atom) minimising
    sum_i (E_f,model,i - sum_el x_el,i * shift_el - E_f,exp,i)^2 + ridge * sum_el shift_el^2,
    with x the atomic fractions (formation energies per atom). The ridge term keeps an element
    seen in few compounds near 0 rather than fitting their scatter."""
    comps = [Composition(c) for c in compositions]
    elements = sorted({el.symbol for c in comps for el in c.elements})
    if not elements:
        return {}
    col = {el: k for k, el in enumerate(elements)}
    x = np.zeros((len(comps), len(elements)))  # [n_compounds, n_elements] atomic fractions
    for i, c in enumerate(comps):
        for el in c.elements:
            x[i, col[el.symbol]] = c.get_atomic_fraction(el)
    resid = np.asarray(model_formation, float) - np.asarray(experimental, float)  # [n_compounds]
    shifts = np.linalg.solve(x.T @ x + ridge * np.eye(len(elements)), x.T @ resid)
    return dict(zip(elements, shifts.tolist()))


def bundle_rows(model=None) -> list[dict]:
    """The bundled compounds as {formula, chemsys, e_form (model, against the bundle's
    references), exp} (eV/atom); ValueError when they were not relaxed with ``model``."""
    import gzip
    import json

    from matwidgets.engine.data import BUNDLE_FILE, _data_path

    with gzip.open(_data_path(BUNDLE_FILE), "rt") as fh:
        doc = json.load(fh)
    model_id = getattr(model, "model_id", None)
    if model_id is not None and model_id != doc["model_id"]:
        raise ValueError(f"correction='fitted' is fitted for {doc['model_id']} (the bundled structures), not {model_id}: "
                         "pass correction={element: shift} (fit_element_shifts) or another correction")
    return _rows(json.dumps(doc["references"]), tuple((c["formula"], c["energy_per_atom"], c["formation_enthalpy"])
                                                       for c in doc["compounds"]))


@lru_cache(maxsize=1)
def _rows(references: str, compounds: tuple) -> list[dict]:
    import json

    refs = json.loads(references)
    out = []
    for formula, e, exp in compounds:
        comp = Composition(formula)
        ef = e - sum(comp.get_atomic_fraction(el) * refs[el.symbol] for el in comp.elements)
        out.append({"formula": formula, "chemsys": comp.chemical_system, "e_form": ef, "exp": exp})
    return out


def bundled_shifts(model=None, exclude_chemsys: Iterable[str] = ()) -> dict[str, float]:
    """``fit_element_shifts`` on the bundled compounds, leaving out those of ``exclude_chemsys``
    (e.g. "Cl-Zr": for a leave-one-system-out test)."""
    skip = {"-".join(sorted(s.split("-"))) for s in exclude_chemsys}
    rows = [r for r in bundle_rows(model) if r["chemsys"] not in skip]
    return fit_element_shifts([r["formula"] for r in rows], [r["e_form"] for r in rows], [r["exp"] for r in rows])
