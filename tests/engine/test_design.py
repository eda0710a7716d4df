"""gradient_design against independent references: analytic LJ lattice sums, ASE's LJ
calculator, spglib, brute-force compositions, constraint checks with pymatgen."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from matwidgets.engine.design import DesignStep, gradient_design
from matwidgets.engine.models.base import Potential
from matwidgets.engine.models.committee import Committee
from matwidgets.engine.models.pair import LennardJones, Morse

RC = 2.5


def fcc(a=1.55, n=2, rattle=0.0, seed=0, element="Ar"):
    s = Structure(Lattice.cubic(a), [element] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    s.make_supercell(n)
    if rattle:
        rng = np.random.default_rng(seed)
        s = Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, rattle, (len(s), 3)), coords_are_cartesian=True)
    return s


def lj_fcc_energy(a):
    """Energy per atom of an ideal LJ fcc crystal (sigma = epsilon = 1, shifted at RC): a direct lattice sum."""
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    g = np.arange(-4, 5)
    pts = (np.array(np.meshgrid(g, g, g)).reshape(3, -1).T[:, None, :] + basis[None]).reshape(-1, 3) * a
    r = np.linalg.norm(pts, axis=1)
    r = r[(r > 1e-9) & (r < RC)]
    phi = lambda x: 4 * (x**-12 - x**-6)  # noqa: E731
    return 0.5 * (phi(r) - phi(RC)).sum()


def run(*args, **kw):
    return list(gradient_design(*args, **kw))


def test_descent_from_rattled_fcc_recovers_the_ideal_crystal():
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(lj_fcc_energy, bounds=(1.4, 1.7), method="bounded", options={"xatol": 1e-10})
    start = fcc(rattle=0.05)
    steps = run(start, LennardJones(cutoff=RC), "min_energy", steps=300, step_size=0.02, method="adam", seed=0)
    last = steps[-1]
    assert isinstance(last, DesignStep) and last.valid and last.step == 300
    assert last.objective == pytest.approx(best.fun, abs=1e-7)
    assert last.structure.volume / len(start) == pytest.approx(best.x**3 / 4, rel=1e-4)
    # atoms back on an ideal fcc lattice: every nearest-neighbour distance equals a/sqrt(2)
    d = last.structure.distance_matrix + np.eye(len(start)) * 10
    assert np.allclose(d.min(axis=1), best.x / np.sqrt(2), atol=1e-3)
    assert steps[0].objective > last.objective + 0.1


def test_one_fgsm_ascent_step_raises_energy_by_eps_times_gradient_l1():
    from ase.calculators.lj import LennardJones as AseLJ
    from pymatgen.io.ase import AseAtomsAdaptor

    start = fcc(rattle=0.05, seed=1)
    eps = 1e-5
    steps = run(start, LennardJones(cutoff=RC), "max_energy", steps=1, step_size=eps, method="fgsm", variables=("positions",))

    def ase_energy_forces(s):
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = AseLJ(sigma=1.0, epsilon=1.0, rc=RC, smooth=False)
        return atoms.get_potential_energy(), atoms.get_forces()

    e0, f0 = ase_energy_forces(start)
    e1, _ = ase_energy_forces(steps[1].structure)
    expected = eps * np.abs(f0).sum()
    assert e1 - e0 == pytest.approx(expected, rel=5e-4)  # the second-order rest is ~eps^2
    assert np.abs(steps[1].structure.cart_coords - start.cart_coords).max() == pytest.approx(eps, rel=1e-6)


def test_no_constraint_broken_in_100_ascent_steps():
    start = fcc(rattle=0.02, seed=2)
    vol = (0.97 * start.volume, 1.03 * start.volume)
    cons = {"min_distance": 0.95, "volume": vol, "fixed": [0, 5]}
    steps = run(start, LennardJones(cutoff=RC), "max_energy", steps=100, step_size=0.02, method="pgd", constraints=cons,
                epsilon=0.4, strain_bound=0.2)
    assert len(steps) == 101 and "stopped" not in steps[-1].extras
    frac0 = start.frac_coords[[0, 5]]
    for st in steps:
        s = st.structure
        assert st.valid and not st.violations
        d = s.distance_matrix + np.eye(len(s)) * 10
        assert d.min() >= 0.95 - 1e-6
        assert vol[0] - 1e-6 <= s.volume <= vol[1] + 1e-6
        # fixed atoms keep their coordinates in the (strained) cell
        assert np.allclose(s.frac_coords[[0, 5]], frac0, atol=1e-9)
    assert steps[-1].extras["energy"] > steps[0].extras["energy"] + 0.5  # the attack did raise the energy


def test_symmetrised_gradient_keeps_the_space_group():
    import spglib

    def sg(s):
        return spglib.get_symmetry_dataset((s.lattice.matrix, s.frac_coords, [1] * len(s)), symprec=1e-3).number

    # hcp with c/a off its ideal value (P6_3/mmc, 194), jittered by 1e-5 Å (well below symprec)
    hcp = Structure(Lattice.hexagonal(1.12, 1.9), ["Ar"] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
    hcp.make_supercell([2, 2, 1])
    rng = np.random.default_rng(3)
    start = Structure(hcp.lattice, hcp.species, hcp.cart_coords + rng.normal(0, 1e-5, (len(hcp), 3)), coords_are_cartesian=True)
    assert sg(start) == 194
    kw = dict(steps=15, step_size=0.01, method="fgsm", variables=("positions", "cell"))
    kept = run(start, LennardJones(cutoff=RC), "max_energy", constraints={"keep_symmetry": True}, **kw)
    assert all(sg(st.structure) == 194 for st in kept) and all(st.valid for st in kept)
    assert abs(kept[-1].structure.volume - start.volume) > 1e-3  # it did move
    free = run(start, LennardJones(cutoff=RC), "max_energy", **kw)  # without: sign steps of the noise break it
    assert sg(free[-1].structure) != 194


class RegularSolution(Potential):
    """E = sum_i (mu_A w_iA + mu_B w_iB) + (omega / N) (sum_i w_iA)(sum_j w_jB); no position dependence.

    Per atom, with x the fraction of A: e(x) = mu_A x + mu_B (1 - x) + omega x (1 - x)."""

    name = family = "regular-solution"

    def __init__(self, za=29, zb=79, mu_a=0.0, mu_b=-0.2, omega=1.0):
        super().__init__()
        self.za, self.zb, self.mu, self.omega = za, zb, torch.tensor([mu_a, mu_b], dtype=torch.float64), omega
        self.register_buffer("_anchor", torch.zeros((), dtype=torch.float64))

    def compute(self, batch, forces=True, stress=True, training=False, allow_isolated=False, neighbors=None,
                species_weights=None):
        if species_weights is None:
            w = torch.stack([(batch.numbers == self.za), (batch.numbers == self.zb)], 1).to(torch.float64)
        else:
            z, w = species_weights
            order = [list(z.tolist()).index(self.za), list(z.tolist()).index(self.zb)]
            w = w[:, order]
        n = w.shape[0]
        e = (w @ self.mu).sum() + self.omega / n * w[:, 0].sum() * w[:, 1].sum()
        out = {"energy": e.reshape(1), "forces": torch.zeros(n, 3, dtype=torch.float64),
               "stress": torch.zeros(1, 3, 3, dtype=torch.float64)}
        return out


def test_soft_species_design_finds_the_optimal_composition_of_an_analytic_binary():
    model = RegularSolution(mu_a=0.0, mu_b=-0.2, omega=-1.0)  # e(x) = -0.2 - 0.8 x + x^2: minimum at x = 0.4
    start = fcc(a=4.0, element="Cu")  # 32 sites, all A
    n = len(start)
    brute = min(range(n + 1), key=lambda k: k / n * 0.0 + (1 - k / n) * -0.2 - 1.0 * k / n * (1 - k / n))
    steps = run(start, model, "min_energy", steps=60, method="adam", variables=("species",), species=["Cu", "Au"],
                species_step=0.3, seed=0)
    last = steps[-1].structure
    assert last.composition["Cu"] == brute  # x* = 0.4 -> 12.8 -> 13 of 32
    e_brute = (1 - brute / n) * -0.2 - brute / n * (1 - brute / n)
    assert steps[-1].objective == pytest.approx(e_brute, abs=1e-9)  # the last step is evaluated one-hot


def lj_committee():
    return Committee([LennardJones(cutoff=RC), LennardJones(epsilon=1.1, sigma=1.04, cutoff=RC)])


def test_uncertainty_attack_raises_committee_std():
    start = fcc(a=1.6, rattle=0.03, seed=4)
    steps = run(start, lj_committee(), "max_uncertainty", steps=40, step_size=0.01, method="pgd", kT=1.0,
                constraints={"min_distance": 0.8})
    assert steps[-1].extras["energy_std"] > 1.5 * steps[0].extras["energy_std"]
    # the committee's std reported equals the spread of the two members computed independently
    s = steps[-1].structure
    from matwidgets.engine.predict import predict

    e = [predict(s, m)[0].energy / len(s) for m in (LennardJones(cutoff=RC), LennardJones(epsilon=1.1, sigma=1.04, cutoff=RC))]
    assert steps[-1].extras["energy_std"] == pytest.approx(abs(e[0] - e[1]) / 2, rel=1e-8)


def test_callable_objective_and_target_volume():
    start = fcc()
    target = 1.05 * start.volume
    steps = run(start, Morse(r0=1.1), "target_volume", steps=80, step_size=0.01, method="adam", target=target)
    assert steps[-1].structure.volume == pytest.approx(target, rel=1e-3)
    same = run(start, Morse(r0=1.1), lambda out: (out["volume"] / target - 1) ** 2, steps=80, step_size=0.01, method="adam")
    assert same[-1].structure.volume == pytest.approx(steps[-1].structure.volume, rel=1e-9)


@pytest.mark.parametrize("kw, match", [
    (dict(objective="target_magmom", target=1.0, variables=("species",)), "magnetic moments"),
    (dict(objective="max_uncertainty"), "Committee"),
    (dict(variables=("species",)), "soft species"),
    (dict(constraints={"volume": (10.0, 5.0)}), "contradictory"),
    (dict(constraints={"min_distance": 1.0, "volume": (1.0, 2.0)}), "contradictory"),
    (dict(variables=("positions",), constraints={"volume": (1.0, 2.0)}), "contradictory"),
    (dict(constraints={"charge_neutral": True}, variables=("positions",)), None),  # Ar alone is neutral: fine
    (dict(objective="nope"), "unknown objective"),
    (dict(method="sgd"), "unknown method"),
    (dict(constraints={"colour": 1}), "unknown constraint"),
    (dict(objective="e_above_hull"), "hull="),
])
def test_bad_input_raises_before_any_step(kw, match):
    gen = gradient_design(fcc(), LennardJones(cutoff=RC), **{"steps": 2, **kw})
    if match is None:
        assert next(gen).valid
        return
    with pytest.raises(ValueError, match=match):
        next(gen)


def test_charge_neutral_against_fixed_species_is_contradictory():
    s = Structure(Lattice.cubic(4.2), ["Na", "Cl", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.5], [0.5, 0, 0]])
    with pytest.raises(ValueError, match="charge"):
        next(gradient_design(s, LennardJones(cutoff=RC), constraints={"charge_neutral": True}, variables=("positions",)))


def test_a_step_that_cannot_be_made_valid_stops_with_the_last_valid_structure():
    start = fcc()
    # shrinking the cell brings two fixed neighbours closer than the minimum distance: no projection can fix it
    d = start.distance_matrix + 10 * np.eye(len(start))
    j = int(np.argmin(d[0]))
    d0 = d[0, j]
    steps = run(start, LennardJones(cutoff=RC), "target_volume", target=0.7 * start.volume, steps=50, step_size=0.02,
                method="fgsm", constraints={"min_distance": d0 - 0.05, "fixed": [0, j]}, variables=("cell",))
    last = steps[-1]
    assert "stopped" in last.extras and 2 < len(steps) < 51
    assert last.valid and last.structure.get_distance(0, j) >= d0 - 0.05 - 1e-9
    assert last.structure == steps[-2].structure


def test_target_pressure_reaches_the_pressure_measured_by_ase():
    from ase.calculators.lj import LennardJones as AseLJ
    from ase.units import GPa
    from pymatgen.io.ase import AseAtomsAdaptor

    steps = run(fcc(rattle=0.02), LennardJones(cutoff=RC), "target_pressure", target=20.0, steps=300, step_size=0.02,
                method="adam")
    atoms = AseAtomsAdaptor.get_atoms(steps[-1].structure)
    atoms.calc = AseLJ(sigma=1.0, epsilon=1.0, rc=RC, smooth=False)
    pressure = -atoms.get_stress(voigt=False).trace() / 3 / GPa
    assert pressure == pytest.approx(20.0, abs=0.2)
    assert abs(steps[0].extras["pressure"] - 20.0) > 50  # it started far from the target


def test_formation_and_hull_objectives_against_the_analytic_binary():
    from matwidgets.engine.hull import HullResult
    from pymatgen.entries.computed_entries import ComputedEntry

    model = RegularSolution(mu_a=0.0, mu_b=-0.2, omega=-1.0)
    start = fcc(a=4.0, n=1, element="Cu")  # 4 sites: x in {0, 1/4, 1/2, 3/4, 1}
    n = len(start)
    # formation energy relative to the pure elements (e(0), e(1)) is omega x (1 - x): minimum at x = 1/2
    refs = {"Cu": 0.0, "Au": -0.2}
    steps = run(start, model, "min_formation_energy", references=refs, steps=60, method="adam", variables=("species",),
                species=["Cu", "Au"], seed=0)
    assert steps[-1].structure.composition["Cu"] == n / 2
    assert steps[-1].objective == pytest.approx(-0.25, abs=1e-9)
    # e_above_hull on a hull of the two elements alone is the same number
    hull = HullResult([ComputedEntry("Cu", 0.0), ComputedEntry("Au", -0.2)])
    steps = run(start, model, "e_above_hull", hull=hull, steps=60, method="adam", variables=("species",),
                species=["Cu", "Au"], seed=0)
    assert steps[-1].structure.composition["Cu"] == n / 2
    assert steps[-1].objective == pytest.approx(-0.25, abs=1e-9)


class SiteEnergies(Potential):
    """E = sum_i sum_z w_iz mu_z: each element a fixed energy per atom, no position dependence."""

    name = family = "site-energies"

    def __init__(self, mu: dict[int, float]):
        super().__init__()
        self.mu = mu
        self.register_buffer("_anchor", torch.zeros((), dtype=torch.float64))

    def compute(self, batch, forces=True, stress=True, training=False, allow_isolated=False, neighbors=None,
                species_weights=None):
        n = batch.n_atoms
        if species_weights is None:
            e = torch.tensor([self.mu[int(z)] for z in batch.numbers], dtype=torch.float64).sum()
        else:
            z, w = species_weights
            e = (w @ torch.tensor([self.mu[int(k)] for k in z], dtype=torch.float64)).sum()
        return {"energy": e.reshape(1), "forces": torch.zeros(n, 3, dtype=torch.float64),
                "stress": torch.zeros(1, 3, 3, dtype=torch.float64)}


def test_charge_neutral_species_design_stays_balanced():
    from pymatgen.core import Composition

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    model = SiteEnergies({11: 0.0, 12: -1.0, 19: -0.5, 17: 0.0})  # Mg is cheapest, then K
    kw = dict(steps=30, method="adam", variables=("species",), species={"Na": ["Na", "Mg", "K"]}, seed=0)
    free = run(nacl, model, "min_energy", **kw)
    assert free[-1].structure.composition["Mg"] == 4  # unconstrained: every Na site takes Mg (MgCl, not balanced)
    held = run(nacl, model, "min_energy", constraints={"charge_neutral": True}, **kw)
    for st in held:  # every step balanced, by pymatgen's own oxidation-state guesses
        assert Composition(st.structure.composition).oxi_state_guesses(max_sites=-1)
        assert st.valid
    assert held[-1].structure.composition["K"] == 4  # the cheapest balanced choice: K+ on every Na+ site
