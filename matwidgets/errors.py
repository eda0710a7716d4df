"""Typed errors raised on bad input. All are ValueErrors, so generic handlers still work."""


class InvalidStructureError(ValueError):
    """A structure (or a file meant to hold one) cannot be used: the message says why."""


class InvalidChemsysError(ValueError):
    """A chemical system such as "Li-Xx-O" names an unknown element or nothing at all."""


class ModelUnavailableError(ValueError):
    """A model name is known but its weights cannot be had offline (they ship in no installed wheel)."""
