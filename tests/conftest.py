"""Shared fixtures: tiny crystals in float64, random cells, the default model."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

# tests (and the notebook kernels they start) never read or write the user's cache
os.environ.setdefault("MATWIDGETS_CACHE", tempfile.mkdtemp(prefix="mw-test-cache-"))


@pytest.fixture
def si() -> Structure:
    """Diamond silicon, conventional 8-atom cell."""
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])


@pytest.fixture
def nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture
def argon_fcc() -> Structure:
    """fcc argon near the LJ minimum (sigma = 3.4 Å), rattled."""
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    s.perturb(0.1, min_distance=0.02)
    return s


def random_cell(rng: np.random.Generator, n_atoms: int, skew: bool = True, volume_per_atom: float = 12.0) -> Structure:
    """A random cell (triclinic when skew) with atoms no closer than 0.8 Å."""
    v = volume_per_atom * n_atoms
    while True:
        if skew:
            angles = rng.uniform(55, 125, 3)
            lengths = rng.uniform(0.6, 1.6, 3)
        else:
            angles, lengths = np.full(3, 90.0), rng.uniform(0.8, 1.25, 3)
        try:
            lat = Lattice.from_parameters(*lengths, *angles)
        except ValueError:
            continue
        if lat.volume < 0.1:
            continue
        lat = Lattice(lat.matrix * (v / lat.volume) ** (1 / 3))
        frac = rng.random((n_atoms, 3))
        s = Structure(lat, ["Si"] * n_atoms, frac)
        if n_atoms == 1 or s.distance_matrix[np.triu_indices(n_atoms, 1)].min() > 0.8:
            return s


@pytest.fixture(scope="session")
def chgnet64():
    """The pretrained CHGNet in float64, for finite-difference checks."""
    from matwidgets.engine.models.chgnet import CHGNetPotential

    return CHGNetPotential(device="cpu").double()
