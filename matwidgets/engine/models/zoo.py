"""The offline model zoo: one card per model name that ``load_model`` knows.

Pretrained weights come only from wheels installed here (chgnet, sevenn); nothing is
downloaded at run time. Names whose weights ship in no wheel are listed too, with
``offline=False``, so ``load_model`` can say so instead of "unknown model".

Sources of the published numbers (do not edit them without a source):

* F1 is Matbench Discovery's headline metric, the "unique_prototypes" F1 of the discovery
  task (Riebesell et al., Nat. Mach. Intell. 7, 836 (2025)), read from the leaderboard's
  model files in github.com/janosh/matbench-discovery:
  models/chgnet/chgnet-0.3.0.yml: 0.613; models/sevennet/sevennet-0.yml: 0.724;
  models/sevennet/sevennet-l3i5.yml: 0.760. No published F1 was found for chgnet-0.2.0,
  chgnet-r2scan or sevennet-mf-0 (not submitted as such): None.
* n_params: counted here, ``sum(p.numel() for p in model.parameters())``
  (the leaderboard lists 842,440 for sevennet-0 and 1,171,144 for l3i5: it leaves out the
  per-species shift/scale and edge-basis coefficients that sevenn stores as parameters).
* Licences: the installed wheels' METADATA (chgnet 0.4.2: Modified BSD; sevenn 0.13.0: MIT).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelCard:
    """What ``list_models()`` says about one model.

    Attributes:
        name: what ``load_model`` accepts.
        family: the Potential family ("chgnet", "sevennet", "schnet", "lj", "morse", ...).
        n_params: number of parameters (0 for analytic potentials; None when unknown here).
        trained_on: training data, in words.
        license: licence of the weights (and code) as shipped.
        f1: published Matbench Discovery F1 (unique prototypes), None where none is published.
        us_per_atom: forward+backward (energy, forces, stress) µs per atom on this machine's
            CPU, measured by benchmarks/zoo_speed.py (None: not measured).
        offline: whether the weights are installed here (False: load_model raises ModelUnavailableError).
    """

    name: str
    family: str
    n_params: int | None
    trained_on: str
    license: str
    f1: float | None
    us_per_atom: float | None
    offline: bool


# Forward + backward (energy, forces, stress) per atom on this 2-core CPU, float32, 2 threads, 20
# random 8-32-atom cells (402 atoms) in one batch, median of 2 after a warm-up, measured on an idle
# machine with `OMP_NUM_THREADS=2 python benchmarks/engine.py --only zoo` on 2026-11-25 (17:10 UTC).
# (Earlier runs while other jobs shared the cores differed up to 8x: only idle-machine numbers here.)
US_PER_ATOM: dict[str, float | None] = {
    "chgnet": 1969.0,
    "chgnet-0.2.0": 1434.0,
    "chgnet-r2scan": 1992.0,
    "sevennet-0": 8413.0,
    "sevennet-l3i5": 22118.0,
    "sevennet-mf-0": 8252.0,
    "schnet": 148.0,
    "lj": 14.0,
    "morse": 20.0,
}
US_PER_ATOM_MEASURED = "2026-11-25, 2-core CPU, 2 threads, float32: python benchmarks/engine.py --only zoo"

MPTRJ = "MPtrj (1.58M MP GGA/GGA+U relaxation frames)"

# name -> (family, n_params, trained_on, license, f1); all installed here
_OFFLINE = {
    "chgnet": ("chgnet", 412_525, MPTRJ + "; CHGNet 0.3.0", "BSD-3-Clause", 0.613),
    "chgnet-0.2.0": ("chgnet", 400_438, MPTRJ + "; CHGNet 0.2.0 (the Nat. Mach. Intell. paper's weights)", "BSD-3-Clause", None),
    "chgnet-r2scan": ("chgnet", 412_525, MPTRJ + ", then transfer-learned on MP r2SCAN", "BSD-3-Clause", None),
    "sevennet-0": ("sevennet", 842_623, MPTRJ + "; SevenNet-0 (11Jul2024)", "MIT", 0.724),
    "sevennet-l3i5": ("sevennet", 1_171_327, MPTRJ + "; l_max=3", "MIT", 0.760),
    "sevennet-mf-0": ("sevennet", 846_168, "multi-fidelity: MPtrj (modal 'PBE', default) + MP r2SCAN (modal 'R2SCAN')", "MIT", None),
    "schnet": ("schnet", 64_743, "untrained: train or fine-tune it yourself (default architecture)", "MIT (matwidgets)", None),
    "lj": ("lj", 0, "analytic Lennard-Jones (epsilon, sigma, cutoff)", "MIT (matwidgets)", None),
    "morse": ("morse", 0, "analytic Morse (epsilon, r0, rho0)", "MIT (matwidgets)", None),
}

# Known universal potentials whose weights ship in no wheel installed here. No F1 is given:
# they are not in this zoo, and numbers we cannot check here are not repeated.
UNAVAILABLE = {
    "mace-mp-0": ("mace", "MPtrj", "MIT", "pip package mace-torch; weights are downloaded on first use"),
    "mace-mpa-0": ("mace", "MPtrj + sAlex", "MIT", "pip package mace-torch; weights are downloaded on first use"),
    "mattersim": ("mattersim", "MatterSim data", "MIT", "pip package mattersim; weights are downloaded on first use"),
    "orb-v3": ("orb", "OMat24 (+ MPtrj, sAlex)", "Apache-2.0", "pip package orb-models; weights are downloaded on first use"),
    "uma": ("uma", "OMat24, OMol25, OC20, ODAC23, OMC25", "FAIR Chemistry licence (gated)", "fairchem-core; gated weights on Hugging Face"),
    "eqv2": ("equiformer", "OMat24 + MPtrj + sAlex", "Meta licence", "fairchem-core; weights on Hugging Face"),
    "grace-2l-oam": ("grace", "OMat24 + sAlex + MPtrj", "Academic Software Licence", "pip package tensorpotential; downloaded on first use"),
    "sevennet-omni": ("sevennet", "multi-fidelity, 15 datasets", "MIT", "sevenn downloads it on first use (not in the wheel)"),
    "sevennet-mf-ompa": ("sevennet", "MPtrj + sAlex + OMat24", "MIT", "sevenn downloads it on first use (not in the wheel)"),
    "sevennet-omat": ("sevennet", "OMat24", "MIT", "sevenn downloads it on first use (not in the wheel)"),
}

ALIASES = {"chgnet-0.3.0": "chgnet", "lennard-jones": "lj", "7net-0": "sevennet-0", "7net-l3i5": "sevennet-l3i5", "7net-mf-0": "sevennet-mf-0"}


def canonical_name(name: str) -> str:
    key = name.lower()
    return ALIASES.get(key, key)


def list_models() -> list[ModelCard]:
    """One card per model: every offline model first (in load_model's order), then the unavailable ones."""
    cards = [
        ModelCard(name, family, n, data, lic, f1, US_PER_ATOM.get(name), True)
        for name, (family, n, data, lic, f1) in _OFFLINE.items()
    ]
    cards += [ModelCard(name, family, None, data, lic, None, None, False) for name, (family, data, lic, _) in UNAVAILABLE.items()]
    return cards


def unavailable_message(name: str) -> str:
    family, _, _, how = UNAVAILABLE[canonical_name(name)]
    sevenn_hint = (
        " A sevenn checkpoint file you already have loads with "
        "matwidgets.engine.models.sevennet.SevenNetPotential(checkpoint='/path/to/checkpoint.pth', modal=...)."
        if family == "sevennet" else
        f" Checkpoints of other packages ({family}) cannot be loaded by matwidgets."
    )
    offline = ", ".join(n for n in _OFFLINE)
    return (
        f"model {name!r} is not available offline: its weights ship in no wheel installed here ({how}), "
        f"and matwidgets never downloads weights at run time. A matwidgets checkpoint file you already have "
        f"(written by Potential.save) loads with load_model('/path/to/model.pt').{sevenn_hint} "
        f"Models available offline: {offline}."
    )
