"""Model registry: ``load_model(name_or_path)`` returns a Potential."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from matwidgets.engine.models.base import Potential
from matwidgets.engine.models.pair import LennardJones, Morse
from matwidgets.engine.models.schnet import SchNet

__all__ = ["Potential", "LennardJones", "Morse", "SchNet", "load_model", "default_device", "register_model"]

_REGISTRY: dict[str, Callable[..., Potential]] = {}
_CACHE: dict[tuple, Potential] = {}


def register_model(name: str, factory: Callable[..., Potential]) -> None:
    """Make ``load_model(name, **kw)`` build a model with ``factory(**kw)``."""
    _REGISTRY[name.lower()] = factory


def _chgnet(**kw) -> Potential:
    from matwidgets.engine.models.chgnet import CHGNetPotential

    return CHGNetPotential(**kw)


register_model("chgnet", _chgnet)
register_model("lj", LennardJones)
register_model("lennard-jones", LennardJones)
register_model("morse", Morse)
register_model("schnet", SchNet)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(name: str | os.PathLike = "chgnet", device: str | None = None, **kw) -> Potential:
    """A Potential by registry name ("chgnet", "lj", "morse", "schnet") or checkpoint path.

    device defaults to "cuda" when available, else "cpu". The pretrained chgnet
    model is loaded once per device and shared (it is read-only at inference).
    """
    device = device or default_device()
    key = os.fspath(name) if isinstance(name, os.PathLike) else name
    if isinstance(key, str) and key.lower() in _REGISTRY:
        if key.lower() == "chgnet" and not kw:
            cached = _CACHE.get(("chgnet", device))
            if cached is None:
                cached = _CACHE[("chgnet", device)] = _REGISTRY["chgnet"]().to(device)
            return cached
        return _REGISTRY[key.lower()](**kw).to(device)
    if isinstance(key, str) and os.path.exists(key):
        return SchNet.load(key, device=device)
    known = ", ".join(sorted(_REGISTRY))
    raise ValueError(f"unknown model {name!r}: use one of {known} or the path of a saved checkpoint")
