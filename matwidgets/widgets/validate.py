"""Keyword checks shared by the widgets: an unknown keyword is a TypeError naming it.

traitlets only warns about (or silently sets) keywords that are not traits, and
``**kw`` forwarded to an engine function would fail late, inside a job; these
checks refuse a typo at construction instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import traitlets as t


def check_traits(cls: type[t.HasTraits], kwargs: dict[str, Any]) -> None:
    """Refuse keywords that are not traits of ``cls`` (layout, height, ... are)."""
    traits = cls.class_trait_names()
    unknown = [k for k in kwargs if k not in traits]
    if unknown:
        public = sorted(n for n in traits if not n.startswith("_"))
        raise TypeError(f"{cls.__name__}() got unexpected keyword argument(s) {_names(unknown)}; traits are: {', '.join(public)}")


def check_engine_kwargs(owner: str, func: Callable, kwargs: dict[str, Any], taken: Iterable[str] = ()) -> None:
    """Refuse keywords that ``func`` (an engine function the widget forwards to) does not take.

    ``taken``: parameters the widget sets itself, so they cannot be forwarded.
    """
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # the engine takes any keyword: it checks them itself
    allowed = [n for n, p in params.items() if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
               and n not in set(taken)]
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise TypeError(f"{owner}() got unexpected keyword argument(s) {_names(unknown)}; "
                        f"it passes these on to {func.__name__}(): {', '.join(allowed)}")


def _names(keys: list[str]) -> str:
    return ", ".join(repr(k) for k in keys)
