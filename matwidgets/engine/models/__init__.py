"""Model registry: ``load_model(name | path | [names])`` returns a Potential; ``list_models()`` the zoo."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence

import torch

from matwidgets.engine.models.base import Potential, read_checkpoint
from matwidgets.engine.models.pair import LennardJones, Morse
from matwidgets.engine.models.schnet import SchNet
from matwidgets.engine.models.zoo import UNAVAILABLE, ModelCard, canonical_name, list_models, unavailable_message

__all__ = [
    "Potential", "LennardJones", "Morse", "SchNet", "ModelCard", "load_model", "load_checkpoint", "list_models",
    "default_device", "register_model", "family_class",
]

_REGISTRY: dict[str, Callable[..., Potential]] = {}
_CACHE: dict[tuple, Potential] = {}

# pretrained names -> (family, constructor kwargs); weights from the chgnet and sevenn wheels
PRETRAINED: dict[str, tuple[str, dict]] = {
    "chgnet": ("chgnet", {"model_name": "0.3.0"}),
    "chgnet-0.2.0": ("chgnet", {"model_name": "0.2.0"}),
    "chgnet-r2scan": ("chgnet", {"model_name": "r2scan"}),
    "sevennet-0": ("sevennet", {"model_name": "sevennet-0"}),
    "sevennet-l3i5": ("sevennet", {"model_name": "sevennet-l3i5"}),
    "sevennet-mf-0": ("sevennet", {"model_name": "sevennet-mf-0"}),
}


def register_model(name: str, factory: Callable[..., Potential]) -> None:
    """Make ``load_model(name, **kw)`` build a model with ``factory(**kw)``."""
    _REGISTRY[name.lower()] = factory


register_model("lj", LennardJones)
register_model("morse", Morse)
register_model("schnet", SchNet)


def family_class(family: str) -> type[Potential]:
    """The Potential class of a family name, as saved in checkpoints (heavy packages imported lazily)."""
    if family == "schnet":
        return SchNet
    if family == "lj":
        return LennardJones
    if family == "morse":
        return Morse
    if family == "chgnet":
        from matwidgets.engine.models.chgnet import CHGNetPotential

        return CHGNetPotential
    if family == "sevennet":
        from matwidgets.engine.models.sevennet import SevenNetPotential

        return SevenNetPotential
    if family == "committee":
        from matwidgets.engine.models.committee import Committee

        return Committee
    if family == "property":  # a fine-tuned head on a potential's features (engine/finetune.py)
        from matwidgets.engine.finetune import PropertyModel

        return PropertyModel
    raise ValueError(f"unknown model family {family!r}")


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _build_pretrained(name: str, dtype: torch.dtype, **kw) -> Potential:
    family, base_kw = PRETRAINED[name]
    cls = family_class(family)
    kw = {**base_kw, **kw}
    if "dtype" in inspect.signature(cls.__init__).parameters:
        kw["dtype"] = dtype
    model = cls(**kw)
    model.name = name
    return model.to(dtype=dtype)


def load_checkpoint(path: str | os.PathLike, device: str | None = None, dtype: torch.dtype | None = None) -> Potential:
    """A model saved by ``Potential.save`` (any family, and old SchNet checkpoints).

    The architecture is rebuilt offline from the saved config and the weights loaded with
    strict=True; the saved precision is kept unless ``dtype`` is given. Anything else
    (corrupt, truncated, foreign) raises ValueError naming the path.
    """
    path = os.fspath(path)
    state = read_checkpoint(path)
    try:
        cls = family_class(state["family"])
        model = cls.from_config(state["config"])
        saved = next((t.dtype for t in state["state_dict"].values() if isinstance(t, torch.Tensor) and t.is_floating_point()), None)
        if saved is not None:
            model = model.to(dtype=saved)
        model.load_state_dict(state["state_dict"], strict=True)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: a {state['family']!r} checkpoint that cannot be rebuilt ({type(err).__name__}: {err})") from None
    model.tag = state.get("tag") or os.path.basename(path)
    return model.to(device=device or "cpu", dtype=dtype)


def load_model(name: str | os.PathLike | Sequence[str] = "chgnet", device: str | None = None, dtype: torch.dtype | None = None,
               **kw) -> Potential:
    """A Potential by zoo name, checkpoint path, or a list of names (a Committee).

    Names (``list_models()`` has a card for each):
        "chgnet" (= "chgnet-0.3.0"), "chgnet-0.2.0", "chgnet-r2scan": the chgnet wheel's weights;
        "sevennet-0", "sevennet-l3i5", "sevennet-mf-0" (``modal="PBE"`` default, or "R2SCAN"):
            the sevenn wheel's weights, run on our batched graphs;
        "schnet": a native trainable SchNet (kwargs: cutoff, n_features, ...);
        "lj" / "morse": analytic LennardJones(epsilon, sigma, cutoff) / Morse(epsilon, r0, rho0, ...).
    Names whose weights ship in no wheel (mace-mp-0, mattersim, orb-v3, uma, ...) raise
    ModelUnavailableError (a ValueError); unknown names raise ValueError listing the known ones.

    A path: a checkpoint written by ``Potential.save`` (any family); a corrupt or foreign
    file raises ValueError naming it. Its saved precision is kept unless ``dtype`` is given.

    A list of names: a Committee of those models (mean energy, forces and stress, plus
    "energy_std" in eV/atom and "forces_std" in eV/Å), its members the shared cached instances.

    device: "cuda" when available, else "cpu". dtype: torch.float32 by default for the
    neural models (torch.float64 on request); the analytic lj/morse stay float64 unless given.
    Pretrained models are loaded once per (name, device, dtype, kwargs) and shared: they are
    read-only at inference. Fine-tune a copy (``copy.deepcopy``), never the shared instance.
    """
    device = device or default_device()
    if isinstance(name, (list, tuple)):
        from matwidgets.engine.models.committee import Committee

        if kw:
            raise TypeError(f"load_model(list) takes no model kwargs, got {sorted(kw)}")
        return Committee([load_model(n, device=device, dtype=dtype) for n in name])
    if isinstance(name, os.PathLike) or (isinstance(name, str) and os.path.isfile(name)):
        return load_checkpoint(name, device=device, dtype=dtype)
    if not isinstance(name, str):
        raise TypeError(f"load_model takes a name, a path or a list of names, not {type(name).__name__}")
    key = canonical_name(name)
    if key in UNAVAILABLE:
        from matwidgets.errors import ModelUnavailableError

        raise ModelUnavailableError(unavailable_message(name))
    if key in PRETRAINED:
        dtype = dtype or torch.float32
        cache_key = (key, str(torch.device(device)), dtype, tuple(sorted(kw.items())))
        cached = _CACHE.get(cache_key)
        if cached is None:
            cached = _CACHE[cache_key] = _build_pretrained(key, dtype, **kw).to(device)
        return cached
    if key in _REGISTRY:
        model = _REGISTRY[key](**kw)
        return model.to(device=device, dtype=dtype)
    known = ", ".join([*PRETRAINED, *sorted(_REGISTRY)])
    if os.sep in name or name.endswith((".pt", ".pth", ".ckpt", ".tar")):
        raise ValueError(f"no checkpoint file at {name!r} (and it is no model name: use one of {known})")
    raise ValueError(f"unknown model {name!r}: use one of {known}, the path of a checkpoint saved by Potential.save, or a list of names")
