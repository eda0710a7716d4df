"""Kernel SHAP's accuracy: its values against exact Shapley values.

The sum-rule residual says nothing here: the kernel solver enforces
sum(values) = full - base by construction. These tests compare the values
themselves, per player, with exact enumeration (method="exact", 2^p coalitions)
and with two facts about the kernel estimator:

* with every coalition, kernel SHAP's weighted least squares has the Shapley
  values as its exact solution (Lundberg & Lee 2017, theorem 2);
* for a game with at most pairwise interactions (a pair potential with the
  remove masker: v(S) = sum of the pair energies inside S), any sample of
  coalitions closed under complement gives the Shapley values exactly: the
  residual of the Shapley fit is the same for S and for its complement (minus
  half the pair energies across the cut), so each pair adds the same amount to
  every player's normal equation. shap samples in complementary pairs, and for
  an odd number of players every subset size has a distinct partner size.

Tolerances are relative to the largest |exact value|; every case also checks
that the exact values are far from equal, so an estimate that gave every player
the mean would fail.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

import matwidgets as mw
from matwidgets.engine.explain import explain
from tests.conftest import random_cell



def game(kind: str, n_atoms: int, seed: int = 0):
    """(structure, model): a random triclinic cell whose atoms have widely different values;
    "argon": 12 atoms of rattled fcc argon, where every atom's value is also far from 0."""
    if kind == "argon":
        s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
        s.make_supercell([1, 1, n_atoms // 4])
        rng = np.random.default_rng(seed)
        s = Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, 0.35, (len(s), 3)), coords_are_cartesian=True)
        return s, mw.LennardJones(0.0104, 3.4, 8.0)
    s = random_cell(np.random.default_rng(seed), n_atoms, volume_per_atom={"lj": 20.0, "morse": 14.0, "schnet": 12.0}[kind])
    if kind == "lj":
        s.replace_species({"Si": "Ar"})
        return s, mw.LennardJones(epsilon=0.01, sigma=2.0, cutoff=5.0)
    if kind == "morse":
        s.replace_species({"Si": "Cu"})
        return s, mw.Morse(epsilon=0.5, r0=2.5, rho0=4.0)
    for k in range(len(s)):  # a many-body game: message passing over two layers
        s.replace(k, ["Si", "O", "Li"][k % 3])
    torch.manual_seed(0)
    return s, mw.SchNet(cutoff=4.0, n_features=16, n_interactions=2, n_rbf=8).double()


@functools.lru_cache(maxsize=None)
def exact_values(kind: str, n_atoms: int, seed: int = 0) -> np.ndarray:
    """Exact Shapley values of a game (2^n_atoms coalitions), computed once per session."""
    s, model = game(kind, n_atoms, seed)
    return explain(s, model, target="energy").values


def scale_of(values: np.ndarray) -> float:
    """max |value|, after checking the values are far from all equal (else any mean-preserving
    estimate, such as every player getting the mean, would pass)."""
    scale = np.abs(values).max()
    assert np.abs(values - values.mean()).max() > 0.3 * scale, values
    return scale


@pytest.mark.parametrize("kind,n_atoms", [
    ("lj", 10),
    ("morse", 10),
    ("schnet", 10),
    ("lj", 12)  # > 10 players: shap must not drop any (its default l1_reg keeps only 10),
])
def test_kernel_with_every_coalition_is_exact(kind, n_atoms):
    s, model = game(kind, n_atoms)
    exact = exact_values(kind, n_atoms)
    kernel = explain(s, model, target="energy", method="kernel", n_samples=2**n_atoms)
    np.testing.assert_allclose(kernel.values, exact, rtol=0, atol=1e-9 * scale_of(exact))


# shap enumerates the size-1 layer and its complements (2p subsets), then draws the rest in
# complementary pairs; these n_samples leave an even number to draw (82 and 278), so no drawn
# subset ends up without its complement (an odd budget would end on a lone one).
@pytest.mark.parametrize("n_atoms,n_samples", [
    (9, 100),  # 100 of 512 coalitions
    (11, 300),  # 300 of 2048
])
def test_kernel_on_a_pairwise_game_is_exact_from_paired_samples(n_atoms, n_samples):
    s, lj = game("lj", n_atoms)
    exact = exact_values("lj", n_atoms)
    kernel = explain(s, lj, target="energy", method="kernel", n_samples=n_samples, seed=3)
    assert kernel.n_evaluations < 2**n_atoms / 2
    np.testing.assert_allclose(kernel.values, exact, rtol=0, atol=1e-9 * scale_of(exact))


@pytest.mark.parametrize("kind,n_atoms,n_samples,tol", [
    # an even number of players: the middle subset size is sampled unpaired, so these are
    # true estimates; the errors seen over seeds are 1-4 % (LJ, Morse) and 0.1-0.4 % (SchNet)
    ("lj", 10, 600, 0.08),
    ("morse", 10, 600, 0.08),
    ("schnet", 10, 300, 0.02),
    # the default n_samples for 12 players (2*12 + 2048 of 4096); errors seen ~1 %
    ("argon", 12, 2072, 0.05),
])
def test_kernel_with_fewer_coalitions_is_accurate(kind, n_atoms, n_samples, tol):
    s, model = game(kind, n_atoms)
    exact = exact_values(kind, n_atoms)
    scale = scale_of(exact)
    if n_atoms > 10:  # so an estimate that dropped any one player (set it to 0) would fail
        assert np.abs(exact).min() > 2 * tol * scale
    for seed in (0, 1, 2):
        kernel = explain(s, model, target="energy", method="kernel", n_samples=n_samples, seed=seed)
        assert kernel.n_evaluations < 2**n_atoms
        err = np.abs(kernel.values - exact).max()
        assert err < tol * scale, (seed, err / scale, kernel.values, exact)
