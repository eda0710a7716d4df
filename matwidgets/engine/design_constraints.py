"""Constraints of ``gradient_design``: parsing, contradiction checks and projections.

Everything works on numpy arrays of one structure:
    positions [n_atoms, 3] Å (Cartesian), cell [3, 3] Å (rows), symbols [n_atoms].
A projection returns the repaired arrays, or raises ``Unrepairable`` when it cannot
make them valid (the design loop then stops and keeps the last valid structure).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KNOWN = ("min_distance", "volume", "charge_neutral", "keep_symmetry", "fixed")
COVALENT_FRACTION = 0.7  # "covalent": pairs closer than this fraction of the covalent-radius sum are refused


class Unrepairable(RuntimeError):
    """A step that no projection can make valid."""


@dataclass
class Constraints:
    min_distance: float | tuple[str, float] | None = None  # Å, or ("covalent", fraction)
    volume: tuple[float, float] | None = None  # Å^3
    charge_neutral: bool = False
    keep_symmetry: bool = False
    fixed: list[int] = field(default_factory=list)
    symmetry: Symmetry | None = None  # filled from the start structure when keep_symmetry

    def min_distances(self, symbols) -> np.ndarray:
        """[n_atoms, n_atoms] smallest allowed distance of each pair, Å (0: no bound)."""
        n = len(symbols)
        if self.min_distance is None:
            return np.zeros((n, n))
        if isinstance(self.min_distance, tuple):
            from ase.data import atomic_numbers, covalent_radii

            r = np.array([covalent_radii[atomic_numbers[s]] for s in symbols])
            return self.min_distance[1] * (r[:, None] + r[None, :])
        return np.full((n, n), float(self.min_distance))


def parse_constraints(constraints: dict | None, structure) -> Constraints:
    """A Constraints from the user's dict; ValueError naming any unknown key or bad value."""
    constraints = dict(constraints or {})
    unknown = sorted(set(constraints) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown constraint(s) {unknown}; known: {list(KNOWN)}")
    c = Constraints()
    md = constraints.get("min_distance")
    if md is not None:
        if md == "covalent":
            c.min_distance = ("covalent", COVALENT_FRACTION)
        elif isinstance(md, (tuple, list)) and len(md) == 2 and md[0] == "covalent":
            c.min_distance = ("covalent", float(md[1]))
        elif isinstance(md, (int, float)) and md > 0:
            c.min_distance = float(md)
        else:
            raise ValueError(f"min_distance must be a positive number of Å, 'covalent' or ('covalent', fraction), got {md!r}")
    vol = constraints.get("volume")
    if vol is not None:
        lo, hi = (float(v) for v in vol)
        if not 0 < lo <= hi:
            raise ValueError(f"contradictory constraints: volume range ({lo}, {hi}) is empty or not positive")
        c.volume = (lo, hi)
    c.charge_neutral = bool(constraints.get("charge_neutral", False))
    c.keep_symmetry = bool(constraints.get("keep_symmetry", False))
    fixed = [int(i) for i in constraints.get("fixed", [])]
    bad = [i for i in fixed if not 0 <= i < len(structure)]
    if bad:
        raise ValueError(f"fixed atoms {bad} are not in the structure (it has {len(structure)} atoms)")
    c.fixed = sorted(set(fixed))
    if c.keep_symmetry:
        c.symmetry = Symmetry.of(structure)
    return c


def check_contradictions(c: Constraints, structure, variables, masks_allow_change: bool) -> None:
    """Clear errors, before any step, for constraints that can never hold together."""
    n = len(structure)
    if c.fixed and len(c.fixed) == n and "positions" in variables and len(variables) == 1:
        raise ValueError("contradictory settings: every atom is fixed and positions are the only variable")
    if c.volume is not None and "cell" not in variables and not c.volume[0] <= structure.volume <= c.volume[1]:
        raise ValueError(f"contradictory constraints: the cell is not a variable, and its volume {structure.volume:.2f} Å^3 "
                         f"is outside the volume range {c.volume}")
    if c.charge_neutral and not (("species" in variables) and masks_allow_change) and not is_charge_neutral(
            [str(s.specie) for s in structure]):
        raise ValueError(f"contradictory constraints: charge_neutral, but {structure.composition.reduced_formula} cannot be "
                         "charge balanced and its species are not design variables")
    if c.min_distance is not None and c.volume is not None:
        # the densest packing of spheres of diameter d_min: 0.7405 of the volume; n atoms need at least this much
        dmin = float(np.max(c.min_distances([str(s.specie) for s in structure])))
        need = n * (np.pi / 6) * dmin**3 / 0.7405
        if need > c.volume[1]:
            raise ValueError(f"contradictory constraints: {n} atoms {dmin:.2f} Å apart need at least {need:.1f} Å^3, "
                             f"more than the volume bound {c.volume[1]}")
    if c.keep_symmetry and c.fixed:
        orbit_ok = all(set(c.symmetry.orbit(i)) <= set(c.fixed) for i in c.fixed)
        if not orbit_ok:
            raise ValueError("contradictory constraints: keep_symmetry with a fixed atom whose symmetry-equivalent atoms "
                             "are free (fix whole orbits)")


def is_charge_neutral(symbols) -> bool:
    """Whether pymatgen finds oxidation states that balance the composition (elements alone are neutral)."""
    from pymatgen.core import Composition

    comp = Composition("".join(symbols))
    if len(comp.elements) == 1:
        return True
    return bool(comp.oxi_state_guesses(max_sites=-1))


class Symmetry:
    """The space-group operations of a structure (spglib), as Cartesian rotations and atom permutations."""

    def __init__(self, rotations: np.ndarray, perms: np.ndarray, number: int):
        self.rotations = rotations  # [n_ops, 3, 3] Cartesian, acting on row vectors: v' = v @ R.T
        self.perms = perms  # [n_ops, n_atoms]: op g maps atom i onto atom perms[g, i]
        self.number = number

    @classmethod
    def of(cls, structure, symprec: float = 1e-3) -> Symmetry:
        import spglib

        lat = structure.lattice.matrix
        frac = structure.frac_coords
        nums = np.array([s.specie.Z for s in structure])
        ds = spglib.get_symmetry_dataset((lat, frac, nums), symprec=symprec)
        if ds is None:
            raise ValueError("keep_symmetry: spglib cannot find the structure's symmetry")
        rots, trans = np.asarray(ds.rotations), np.asarray(ds.translations)
        perms, cart = [], []
        for r, t in zip(rots, trans):
            image = frac @ r.T + t  # fractional coordinates of the images of every atom
            diff = image[:, None, :] - frac[None, :, :]
            diff -= np.round(diff)
            d = np.linalg.norm(diff @ lat, axis=-1)  # [n_atoms, n_atoms]
            perms.append(np.argmin(d, axis=1))
            cart.append(lat.T @ r @ np.linalg.inv(lat.T))  # Cartesian rotation for column vectors
        return cls(np.array(cart), np.array(perms), int(ds.number))

    def orbit(self, i: int) -> list[int]:
        return sorted(set(self.perms[:, i].tolist()))

    def positions(self, delta: np.ndarray) -> np.ndarray:
        """[n_atoms, 3] displacements (or gradients) averaged over the group: a symmetric field."""
        out = np.zeros_like(delta)
        for rot, perm in zip(self.rotations, self.perms):
            out[perm] += delta @ rot.T
        return out / len(self.perms)

    def strain(self, eps: np.ndarray) -> np.ndarray:
        """[3, 3] strain averaged over the point group."""
        return sum(rot @ eps @ rot.T for rot in self.rotations) / len(self.rotations)

    def sites(self, w: np.ndarray) -> np.ndarray:
        """[n_atoms, k] per-site quantities averaged over symmetry-equivalent sites."""
        out = np.zeros_like(w)
        for perm in self.perms:
            out[perm] += w
        return out / len(self.perms)


def project_distances(positions: np.ndarray, cell: np.ndarray, dmin: np.ndarray, fixed: list[int],
                      iterations: int = 300) -> np.ndarray:
    """Push apart pairs closer than ``dmin`` (minimum image), both ends half each (a fixed end does not move).

    Raises Unrepairable if pairs are still too close after ``iterations`` sweeps.
    """
    if not dmin.any():
        return positions
    pos = positions.copy()
    inv = np.linalg.inv(cell)
    free = np.ones(len(pos))
    free[fixed] = 0.0
    for _ in range(iterations):
        frac = pos @ inv
        diff = frac[None, :, :] - frac[:, None, :]  # j - i
        diff -= np.round(diff)
        vec = diff @ cell  # [n, n, 3]
        d = np.linalg.norm(vec, axis=-1)
        np.fill_diagonal(d, np.inf)
        short = d < dmin - 1e-9
        if not short.any():
            return pos
        i, j = np.nonzero(np.triu(short))
        gap = dmin[i, j] * 1.002 - d[i, j]  # a hair beyond the bound, so sweeps settle
        unit = vec[i, j] / np.maximum(d[i, j], 1e-12)[:, None]
        share = free[i] + free[j]
        if not share.all():
            raise Unrepairable("two fixed atoms are closer than the minimum distance")
        move = np.zeros_like(pos)
        np.add.at(move, i, -(gap * free[i] / share)[:, None] * unit)
        np.add.at(move, j, (gap * free[j] / share)[:, None] * unit)
        pos = pos + move
    raise Unrepairable(f"atoms still closer than the minimum distance after {iterations} projection sweeps")


def violations(positions: np.ndarray, cell: np.ndarray, symbols, c: Constraints, ref_positions: np.ndarray,
               start_positions: np.ndarray, sym_number: int | None = None) -> list[str]:
    """What the structure breaks, in words (empty when valid).

    ``ref_positions`` / ``start_positions``: [n_atoms, 3] Å in the starting cell's frame (atoms
    carried by cell strain count as fixed), now and at the start.
    """
    out = []
    dmin = c.min_distances(symbols)
    if dmin.any():
        frac = positions @ np.linalg.inv(cell)
        diff = frac[None] - frac[:, None]
        diff -= np.round(diff)
        d = np.linalg.norm(diff @ cell, axis=-1)
        np.fill_diagonal(d, np.inf)
        bad = d < dmin - 1e-6
        if bad.any():
            i, j = np.argwhere(bad)[0]
            out.append(f"min_distance: atoms {i} and {j} are {d[i, j]:.3f} Å apart (< {dmin[i, j]:.3f})")
    if c.volume is not None:
        v = abs(np.linalg.det(cell))
        if not c.volume[0] - 1e-6 <= v <= c.volume[1] + 1e-6:
            out.append(f"volume: {v:.3f} Å^3 outside {c.volume}")
    if c.charge_neutral and not is_charge_neutral(symbols):
        out.append("charge_neutral: no oxidation states balance " + "".join(symbols))
    if c.fixed:
        moved = np.abs(ref_positions[c.fixed] - start_positions[c.fixed]).max()
        if moved > 1e-6:
            out.append(f"fixed: a fixed atom moved {moved:.2e} Å")
    if c.keep_symmetry and sym_number is not None and c.symmetry is not None and sym_number != c.symmetry.number:
        out.append(f"keep_symmetry: space group {sym_number} instead of {c.symmetry.number}")
    return out
