"""Typed errors raised on bad input. Both are ValueErrors, so generic handlers still work."""


class InvalidStructureError(ValueError):
    """A structure (or a file meant to hold one) cannot be used: the message says why."""


class InvalidChemsysError(ValueError):
    """A chemical system such as "Li-Xx-O" names an unknown element or nothing at all."""
