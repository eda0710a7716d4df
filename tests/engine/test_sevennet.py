"""SevenNet on our batched graphs against sevenn's own ASE calculator, structure by structure.

The reference is ``sevenn.calculator.SevenNetCalculator`` (its own graph builder, its own
force/stress output module); none of these structures was used to write the wrapper.
"""

import copy
import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA
from matwidgets.engine.neighbors import neighbor_list
from matwidgets.errors import InvalidStructureError

warnings.filterwarnings("ignore", module="sevenn")


def held_out() -> list[Atoms]:
    si = bulk("Si", "diamond", 5.43)
    si.rattle(0.05, seed=1)
    nacl = bulk("NaCl", "rocksalt", 5.5)
    nacl.rattle(0.03, seed=2)
    tri = Atoms("Cu", cell=Atoms(cell=[2.6, 2.7, 2.8, 70, 80, 100]).cell, pbc=True)  # a 1-atom triclinic cell
    mgo = bulk("MgO", "rocksalt", 4.3) * (1, 1, 2)  # an oxide, strained along c
    mgo.rattle(0.04, seed=3)
    mgo.set_cell(mgo.cell * [1.0, 1.02, 0.97], scale_atoms=True)
    long_axis = Atoms("LiF", positions=[[0, 0, 0], [0.3, 0.2, 1.9]], cell=[3.1, 3.2, 11.0], pbc=True)  # 2 atoms, long c
    fe_o = Atoms("FeO2", scaled_positions=[[0, 0, 0], [0.3, 0.3, 0.05], [0.7, 0.7, 0.95]],
                 cell=Atoms(cell=[3.0, 4.4, 4.4, 90, 85, 95]).cell, pbc=True)  # triclinic, mixed d-metal oxide
    return [si, nacl, tri, mgo, long_axis, fe_o]


@pytest.fixture(scope="module")
def structures():
    return held_out()


@pytest.fixture(scope="module")
def sevennet0():
    return mw.load_model("sevennet-0", device="cpu")


def reference(calc, structures: list[Atoms]) -> list[tuple[float, np.ndarray, np.ndarray]]:
    out = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calc
        # ASE stress: eV/Å^3, ASE sign; ours: GPa, same sign
        out.append((atoms.get_potential_energy() / len(atoms), atoms.get_forces(), atoms.get_stress(voigt=False) * EV_PER_A3_TO_GPA))
    return out


def calculator(name: str, **kw):
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator(name, device="cpu", **kw)


def compare(model, structures, ref):
    batch = AtomsBatch.from_structures(structures)
    res = model.compute(batch)  # the whole batch at once
    forces = batch.split(res["forces"])
    for k, (e_ref, f_ref, s_ref) in enumerate(ref):
        n = len(structures[k])
        assert abs(float(res["energy"][k]) / n - e_ref) < 1e-4, k
        np.testing.assert_allclose(forces[k].double().numpy(), f_ref, atol=1e-3, err_msg=str(k))
        np.testing.assert_allclose(res["stress"][k].double().numpy(), s_ref, atol=1e-2, err_msg=str(k))


def test_sevennet0_equals_sevenn_calculator(sevennet0, structures):
    compare(sevennet0, structures, reference(calculator("7net-0"), structures))


def test_sevennet_mf0_equals_sevenn_calculator_both_modals(structures):
    pbe = mw.load_model("sevennet-mf-0", device="cpu")
    assert pbe.modal == "PBE"
    calc = calculator("7net-mf-0", modal="PBE")
    compare(pbe, structures, reference(calc, structures))
    r2scan = mw.load_model("sevennet-mf-0", device="cpu", modal="R2SCAN")
    calc.modal = "R2SCAN"  # the calculator reads it at every calculate()
    calc.reset()
    ref = reference(calc, structures[:2])
    compare(r2scan, structures[:2], ref)
    batch = AtomsBatch.from_structures(structures[:1])
    assert abs(float(r2scan.compute(batch)["energy"][0] - pbe.compute(batch)["energy"][0])) > 0.1  # the modal really switched


def test_float64_and_verlet_pairs_beyond_cutoff(sevennet0, structures):
    batch = AtomsBatch.from_structures(structures)
    m64 = mw.load_model("sevennet-0", device="cpu", dtype=torch.float64)
    assert m64 is not sevennet0 and m64.dtype == torch.float64
    a = m64.compute(batch)
    b = m64.compute(batch, neighbors=lambda bt, cutoff: neighbor_list(bt, cutoff + 1.5))  # a list with a 1.5 Å skin
    assert a["energy"].dtype == torch.float64
    torch.testing.assert_close(a["energy"], b["energy"], rtol=0, atol=1e-10)
    torch.testing.assert_close(a["forces"], b["forces"], rtol=0, atol=1e-10)
    f32 = sevennet0.compute(batch)
    assert torch.allclose(a["energy"] / batch.counts, f32["energy"].double() / batch.counts, atol=1e-4)


def test_unknown_element_names_model_and_element(sevennet0):
    po = Atoms("Po", cell=[3.4, 3.4, 3.4], pbc=True)  # Z=84 is not in SevenNet-0's type map (it has gaps)
    with pytest.raises(InvalidStructureError, match=r"Po.*sevennet-0"):
        sevennet0.compute(AtomsBatch.from_structures(po))


def test_parameter_groups_cover_every_parameter_once(sevennet0):
    groups = sevennet0.parameter_groups()
    assert list(groups) == ["embedding", *[f"interaction.{k}" for k in range(5)], "readout", "atom_refs"]
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in sevennet0.parameters()}
    assert all(groups[k] for k in groups)


def test_training_mode_double_backward(structures):
    model = copy.deepcopy(mw.load_model("sevennet-0", device="cpu", dtype=torch.float64))  # a private copy: it gets gradients
    batch = AtomsBatch.from_structures(structures[:2])
    res = model.compute(batch, training=True)
    loss = res["forces"].pow(2).sum() + res["stress"].pow(2).sum() * 1e-4
    weight = model.parameter_groups()["interaction.0"][0]
    (grad,) = torch.autograd.grad(loss, weight)
    assert torch.isfinite(grad).all() and grad.abs().max() > 0
    # the same derivative by a central finite difference along the gradient's direction
    direction = grad / grad.norm()
    h = 1e-4

    def loss_at(step):
        with torch.no_grad():
            weight.add_(step * direction)
        r = model.compute(batch)
        with torch.no_grad():
            weight.sub_(step * direction)
        return float(r["forces"].pow(2).sum() + r["stress"].pow(2).sum() * 1e-4)

    fd = (loss_at(h) - loss_at(-h)) / (2 * h)
    assert fd == pytest.approx(float(grad.norm()), rel=1e-4)


def test_soft_species_one_hot_is_exact_and_weights_differentiable(structures):
    model = mw.load_model("sevennet-0", device="cpu", dtype=torch.float64)
    batch = AtomsBatch.from_structures([structures[1], structures[3]])  # NaCl, MgO
    allowed = torch.tensor([8, 11, 12, 17])
    one_hot = (batch.numbers[:, None] == allowed[None, :]).double()  # [n_atoms, 4]
    hard = model.compute(batch)
    soft = model.compute(batch, species_weights=(allowed, one_hot))
    assert torch.equal(hard["energy"], soft["energy"])
    assert torch.allclose(hard["forces"], soft["forces"], atol=1e-12, rtol=0)
    # a half-and-half mixture: dE/dw is defined and matches a finite difference
    w = one_hot.clone()
    w[0] = torch.tensor([0.0, 0.5, 0.5, 0.0])
    w.requires_grad_(True)
    e = model.compute(batch, forces=False, stress=False, training=True, species_weights=(allowed, w))["energy"].sum()
    (g,) = torch.autograd.grad(e, w)
    d = torch.zeros_like(w)
    d[0] = torch.tensor([0.0, 1.0, -1.0, 0.0])  # stays on the simplex
    h = 1e-5

    def energy(step):
        return float(model.compute(batch, forces=False, stress=False, species_weights=(allowed, (w + step * d).detach()))["energy"].sum())

    fd = (energy(h) - energy(-h)) / (2 * h)
    assert fd == pytest.approx(float((g * d).sum()), rel=1e-5, abs=1e-7)
