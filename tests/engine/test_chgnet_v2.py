"""CHGNet v2 (batched torch graphs) against chgnet itself: its graph converter and predict_structure.

The float64 reference is chgnet's own ``predict_structure`` (pymatgen neighbour list,
chgnet's C graph builder, ``BatchedGraph``, ``_compute`` with its double backward) on
the model moved to float64. chgnet hard-codes float32 in three places; the fixture
``chgnet_ref64`` switches them to float64: the module constants ``TORCH_DTYPE`` of
chgnet.graph.converter and chgnet.model.model, and the AtomRef composition vector
(chgnet casts it with ``.float()``; ours is the same bincount / n_atoms in float64).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.graphs import chgnet_graph
from matwidgets.engine.models.chgnet import CHGNetPotential
from matwidgets.engine.neighbors import neighbor_list
from matwidgets.errors import InvalidStructureError


def _chgnet(model_name="0.3.0"):
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):
        return CHGNet.load(model_name=model_name, verbose=False, use_device="cpu")


def _fcc_primitive(a: float) -> Lattice:
    return Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])


def _rattle(s: Structure, amplitude: float, rng: np.random.Generator) -> Structure:
    """Seeded random displacements (Å) (pymatgen's perturb draws from the global RNG)."""
    return Structure(s.lattice, s.species, s.cart_coords + rng.uniform(-amplitude, amplitude, (len(s), 3)), coords_are_cartesian=True)


def structures() -> list[Structure]:
    """24 small cells: tiny triclinic and 1-atom cells, cells without any bond under 3 Å,
    an atom without a bond under 3 Å next to bonded ones, mixed-element oxides, a 2D slab
    and a 2D sheet. Coordinates are written out: pymatgen's from_spacegroup costs ~1.5 s each."""
    rng = np.random.default_rng(7)
    fcc = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    q = 0.25
    u, w = 0.305, 0.382
    out = [
        Structure(Lattice.cubic(5.43), ["Si"] * 8, fcc + [[x + q, y + q, z + q] for x, y, z in fcc]),
        Structure(_fcc_primitive(3.61), ["Cu"], [[0, 0, 0]]),  # 1 atom
        Structure(Lattice.from_parameters(2.6, 2.6, 2.6, 70, 80, 100), ["Al"], [[0, 0, 0]]),  # 1-atom triclinic
        Structure(Lattice.cubic(7.0), ["Na", "Na"], [[0, 0, 0], [0.5, 0, 0]]),  # no bond < 3 Å at all
        Structure(Lattice.cubic(3.5), ["K"], [[0, 0, 0]]),  # 1 atom, self-images only, no angles
        # pymatgen (chgnet) keeps pairs at exactly 6 Å, so this atom is not isolated
        Structure(Lattice.cubic(6.0), ["Cu"], [[0, 0, 0]]),
        Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]]),  # bonds of exactly 3 Å: chgnet's <= and < both matter
        # water and an argon atom with no bond under 3 Å (but neighbours within 6 Å)
        Structure(Lattice.cubic(9.0), ["O", "H", "H", "Ar"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0], [4.0, 3.0, 0]],
                  coords_are_cartesian=True),
        # a Cu(100) slab: 3 layers, 2x2 in plane, ~11 Å of vacuum
        Structure(Lattice.from_parameters(5.1, 5.1, 14.6, 90, 90, 90), ["Cu"] * 12,
                  [[x / 2 + (z % 2) / 4, y / 2 + (z % 2) / 4, z * 1.8 / 14.6] for z in range(3) for x in range(2) for y in range(2)]),
        Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4, fcc + [[x + 0.5, y, z] for x, y, z in fcc]),
        Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]),
        Structure(Lattice.hexagonal(2.95, 4.68), ["Ti", "Ti"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]),
        Structure(_fcc_primitive(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        # LiFePO4-like: random positions in a triclinic cell
        Structure(Lattice.from_parameters(5.2, 5.6, 6.1, 80, 95, 110), ["Li", "Fe", "P", "O", "O", "O", "O"], rng.random((7, 3))),
        Structure(Lattice.hexagonal(3.25, 5.2), ["Zn", "Zn", "O", "O"], [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, w], [2 / 3, 1 / 3, 0.5 + w]]),
        Structure(Lattice.tetragonal(4.59, 2.96), ["Ti", "Ti", "O", "O", "O", "O"],
                  [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [1 - u, 1 - u, 0], [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]),
        Structure(Lattice.cubic(4.1), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(_fcc_primitive(3.57), ["C", "C"], [[0, 0, 0], [q, q, q]]),
        Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(_fcc_primitive(5.65), ["Ga", "As"], [[0, 0, 0], [q, q, q]]),
        Structure(Lattice.hexagonal(2.5, 15.0), ["B", "N"], [[1 / 3, 2 / 3, 0.5], [2 / 3, 1 / 3, 0.5]]),  # 2D h-BN
        Structure(Lattice.from_parameters(3.1, 3.3, 3.6, 65, 110, 78), ["Si", "Si"], [[0, 0, 0], [0.45, 0.55, 0.4]]),
        Structure(_fcc_primitive(4.62), ["O", "Li", "Li"], [[0, 0, 0], [q, q, q], [0.75, 0.75, 0.75]]),
        # a strained perovskite (triclinic)
        Structure(Lattice.from_parameters(3.95, 3.85, 4.05, 88, 93, 91), ["Ba", "Ti", "O", "O", "O"],
                  [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]),
    ]
    for k in (9, 10, 15, 18, 23):
        out[k] = _rattle(out[k], 0.08, rng)
    return out


@pytest.fixture(scope="module")
def cells():
    return structures()


@pytest.fixture(scope="module")
def ours64():
    return CHGNetPotential(dtype=torch.float64)


@pytest.fixture(scope="module")
def ours32():
    return CHGNetPotential()


@pytest.fixture
def chgnet_ref64(monkeypatch):
    """chgnet's own model and predict_structure, in float64 (see the module docstring)."""
    import chgnet.graph.converter as converter
    import chgnet.model.model as chgnet_model

    ref = _chgnet().to(torch.float64)
    monkeypatch.setattr(converter, "TORCH_DTYPE", torch.float64)
    monkeypatch.setattr(chgnet_model, "TORCH_DTYPE", torch.float64)
    comp = ref.composition_model

    def composition(graphs):
        counts = [torch.bincount(g.atomic_number.long() - 1, minlength=comp.max_num_elements).double() / len(g.atomic_number) for g in graphs]
        return torch.stack(counts).to(torch.float64)

    comp._assemble_graphs = composition
    return ref


def _per_system(out, batch):
    n = batch.counts.tolist()
    f = torch.split(out["forces"], n)
    m = torch.split(out["magmoms"], n)
    return [(float(out["energy"][k]) / n[k], f[k].numpy(), out["stress"][k].numpy(), m[k].numpy()) for k in range(len(n))]


def _compare(ours, refs, tol_e, tol_f, tol_s, tol_m):
    worst = np.zeros(4)
    for k, ((e, f, s, m), r) in enumerate(zip(ours, refs)):
        errs = [abs(e - float(r["e"])), np.abs(f - r["f"]).max(), np.abs(s - r["s"]).max(), np.abs(m - r["m"]).max()]
        worst = np.maximum(worst, errs)
        assert errs[0] <= tol_e, (k, "energy eV/atom", errs[0])
        assert errs[1] <= tol_f, (k, "forces eV/Å", errs[1])
        assert errs[2] <= tol_s, (k, "stress GPa", errs[2])
        assert errs[3] <= tol_m, (k, "magmoms mu_B", errs[3])
    return worst


def test_float64_equals_chgnet_predict_structure(cells, ours64, chgnet_ref64):
    batch = AtomsBatch.from_structures(cells)
    refs = chgnet_ref64.predict_structure(cells, task="efsm", batch_size=8)
    assert refs[0]["e"].dtype == np.float64  # the reference really ran in float64
    worst = _compare(_per_system(ours64.compute(batch), batch), refs, 1e-6, 1e-5, 1e-4, 1e-6)
    print("float64 worst |dE| eV/atom, |dF| eV/Å, |dS| GPa, |dm| mu_B:", worst)


def test_float32_equals_chgnet_predict_structure(cells, ours32):
    ref = _chgnet()
    batch = AtomsBatch.from_structures(cells)
    out = ours32.compute(batch)
    refs = ref.predict_structure(cells, task="efsm", batch_size=8)
    worst = _compare(_per_system(out, batch), refs, 1e-5, 1e-3, 1e-2, 1e-4)
    print("float32 worst |dE| eV/atom, |dF| eV/Å, |dS| GPa, |dm| mu_B:", worst)


def _angle_set(n_atoms, atom_graph, images, bond_graph):
    """Angles as sets of (centre, left neighbour, left image, right neighbour, right image): index-free."""
    key = [(int(j), tuple(round(x) for x in img)) for j, img in zip(atom_graph[:, 1].tolist(), images.tolist())]
    return sorted((int(r[0]), *key[int(r[2])], *key[int(r[4])]) for r in bond_graph)


def test_graphs_equal_chgnet_converter(cells):
    """Edge and angle sets and the undirected bookkeeping equal chgnet's own converter (which
    uses pymatgen's neighbour list and chgnet's C graph code)."""
    converter = _chgnet().graph_converter
    for s in cells[:8] + cells[13:14] + cells[21:22]:
        cg = converter(s)
        batch = AtomsBatch.from_structures(s)
        g = chgnet_graph(batch, neighbor_list(batch, 6.0 + 1e-4))  # vesin keeps r < cutoff, chgnet r <= 6
        assert g.atom_graph.shape == cg.atom_graph.shape
        assert g.n_undirected == len(cg.undirected2directed) == len(g.atom_graph) // 2
        assert len(g.bond_graph) == len(cg.bond_graph)
        ours = _angle_set(len(s), g.atom_graph, g.edges.shifts, g.bond_graph)
        theirs = _angle_set(len(s), cg.atom_graph, cg.neighbor_image, cg.bond_graph)
        assert ours == theirs
        # each undirected edge: two directed edges, reverses of each other (j->i with -S)
        d2u, u2d = g.directed2undirected, g.undirected2directed
        assert torch.equal(torch.bincount(d2u, minlength=g.n_undirected), torch.full((g.n_undirected,), 2))
        assert torch.equal(d2u[u2d], torch.arange(g.n_undirected))
        partner = torch.empty_like(d2u)
        order = torch.argsort(d2u, stable=True)
        partner[order[0::2]], partner[order[1::2]] = order[1::2], order[0::2]
        assert torch.equal(g.atom_graph[partner], g.atom_graph.flip(1))
        assert torch.equal(g.edges.shifts[partner], -g.edges.shifts)
        # bond-graph columns 1/3 are the undirected edges of the directed columns 2/4
        assert torch.equal(g.bond_graph[:, 1], d2u[g.bond_graph[:, 2]]) and torch.equal(g.bond_graph[:, 3], d2u[g.bond_graph[:, 4]])


def test_batch_equals_one_by_one(cells, ours64):
    batch = AtomsBatch.from_structures(cells[:20])
    together = _per_system(ours64.compute(batch), batch)
    for s, (e, f, st, m) in zip(cells[:20], together):
        b = AtomsBatch.from_structures(s)
        (e1, f1, s1, m1), = _per_system(ours64.compute(b), b)
        assert abs(e - e1) < 1e-12
        np.testing.assert_allclose(f, f1, atol=1e-12)
        np.testing.assert_allclose(st, s1, atol=1e-10)
        np.testing.assert_allclose(m, m1, atol=1e-12)


def test_verlet_list_with_skin_gives_the_same_numbers(cells, ours64):
    """A neighbour list with pairs up to 7 Å (a Verlet skin) must give the 6 Å results."""
    batch = AtomsBatch.from_structures(cells[:8])
    plain = ours64.compute(batch)
    skin = ours64.compute(batch, neighbors=lambda b, cutoff: neighbor_list(b, cutoff + 1.0))
    for key in ("energy", "forces", "stress", "magmoms"):
        torch.testing.assert_close(skin[key], plain[key], atol=1e-12, rtol=0)


def test_isolated_atom_is_named_unless_allowed(ours64):
    s = Structure(Lattice.cubic(14.0), ["Cu", "Cu", "O"], [[0, 0, 0], [0.15, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InvalidStructureError, match="atom 2 has no neighbour"):
        ours64.compute(AtomsBatch.from_structures(s))
    # with a Verlet list (MD, FIRE) the check runs when the list is built for the call
    from matwidgets.engine.neighbors import VerletList

    vl = VerletList()
    with pytest.raises(InvalidStructureError, match="atom 2 has no neighbour"):
        ours64.compute(AtomsBatch.from_structures(s), neighbors=vl)
    assert vl.fresh
    with pytest.raises(InvalidStructureError, match="atom 2 has no neighbour"):
        ours64.compute(AtomsBatch.from_structures(s), neighbors=vl)  # retried: the list is not rebuilt, the check runs again
    assert not vl.fresh
    # a list another committee member built for this step is still checked by this model
    vl = VerletList()
    vl(AtomsBatch.from_structures(s), ours64.cutoff + 0.1)
    with pytest.raises(InvalidStructureError, match="atom 2 has no neighbour"):
        ours64.compute(AtomsBatch.from_structures(s), neighbors=vl)
    ok = Structure(Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]])
    vl = VerletList()
    ours64.compute(AtomsBatch.from_structures(ok), neighbors=vl)
    assert ours64 in vl.checked  # a passed check is not repeated until the list is built again
    ours64.compute(AtomsBatch.from_structures(s), neighbors=vl, allow_isolated=True)
    assert vl.fresh and ours64 not in vl.checked
    out = ours64.compute(AtomsBatch.from_structures(s), allow_isolated=True)
    assert torch.isfinite(out["energy"]).all() and torch.equal(out["forces"][2], torch.zeros(3, dtype=torch.float64))


def test_element_outside_range_names_model_and_element(ours32):
    s = Structure(Lattice.cubic(3.0), ["Cm"], [[0, 0, 0]])  # Z = 96 > 94
    with pytest.raises(InvalidStructureError, match=r"Cm.*chgnet"):
        ours32.compute(AtomsBatch.from_structures(s))
    # the check reads max(Z) once per numbers tensor; an in-place change is seen again
    b = AtomsBatch.from_structures(Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]]))
    ours32.compute(b)
    b.numbers[0] = 96
    with pytest.raises(InvalidStructureError, match=r"Cm.*chgnet"):
        ours32.compute(b)
    # inference tensors have no version counter: checked each time, and no error from the cache
    with torch.inference_mode():
        b = AtomsBatch.from_structures(Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]]))
        assert torch.isfinite(ours32.compute(b, forces=False, stress=False)["energy"]).all()
        b.numbers[0] = 96
        with pytest.raises(InvalidStructureError, match=r"Cm.*chgnet"):
            ours32.compute(b, forces=False, stress=False)


def test_dtype_and_config(cells, ours32, ours64):
    assert ours32.dtype == torch.float32 and ours64.dtype == torch.float64
    assert CHGNetPotential.family == "chgnet" and ours32.get_config() == {"model_name": "0.3.0"}
    rebuilt = CHGNetPotential.from_config(ours64.get_config()).double()
    b = AtomsBatch.from_structures(cells[13])
    assert torch.equal(rebuilt.compute(b)["energy"], ours64.compute(b)["energy"])


def test_parameter_groups_cover_every_parameter_once(ours32):
    groups = ours32.parameter_groups()
    n_conv = ours32.model.n_conv
    assert list(groups) == ["embedding", *[f"interaction.{k}" for k in range(n_conv)], "readout", "atom_refs"]
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in ours32.parameters()}
    assert all(len(ps) for ps in groups.values())
    assert any(p is ours32.model.atom_conv_layers[0].twoBody_atom.mlp_core.layers[0].weight for p in groups["interaction.0"])


def _rattled():
    """A rattled 4-atom MgO cell."""
    s = Structure(_fcc_primitive(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    return _rattle(s, 0.15, np.random.default_rng(1))


def test_training_force_loss_double_backward_matches_finite_difference(ours64):
    """d(force loss)/d(parameters) by double backward, against a central difference along one
    random direction in the first atom-conv layer's parameters (float64)."""
    model = ours64
    b = AtomsBatch.from_structures(_rattled())
    target = torch.linspace(-0.3, 0.3, b.n_atoms * 3, dtype=torch.float64).reshape(-1, 3)
    params = list(model.model.atom_conv_layers[0].parameters())

    def loss():
        out = model.compute(b, forces=True, stress=True, training=True)
        return ((out["forces"] - target) ** 2).sum() + 1e-3 * (out["stress"] ** 2).sum()

    grads = torch.autograd.grad(loss(), params)
    flat = torch.cat([g.reshape(-1) for g in grads])
    assert torch.isfinite(flat).all() and flat.abs().max() > 0
    gen = torch.Generator().manual_seed(0)
    direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction))
    h = 1e-5
    values = []
    with torch.no_grad():
        for sign in (1, -1):
            for p, d in zip(params, direction):
                p.add_(sign * h * d)
            values.append(float(loss().detach()))
            for p, d in zip(params, direction):
                p.sub_(sign * h * d)
    fd = (values[0] - values[1]) / (2 * h)
    assert abs(fd - analytic) <= 1e-6 * max(1.0, abs(analytic)), (fd, analytic)


def test_inference_outputs_are_detached(ours32):
    out = ours32.compute(AtomsBatch.from_structures(_rattled()))
    assert not any(v.requires_grad for v in out.values())


def test_soft_species_one_hot_is_exact_and_gradient_matches_fd(ours64):
    s = _rattled()
    b = AtomsBatch.from_structures(s)
    allowed = torch.tensor([8, 12, 20])  # O, Mg, Ca
    onehot = (b.numbers[:, None] == allowed[None, :]).to(torch.float64)
    hard = ours64.compute(b)
    soft = ours64.compute(b, species_weights=(allowed, onehot))
    for key in ("energy", "atom_energies", "forces", "stress", "magmoms"):
        assert torch.equal(soft[key], hard[key]), key
    # a mixture: Mg sites part Ca; dE/dw by autograd against a central difference
    w = onehot.clone()
    w[b.numbers == 12] = torch.tensor([0.0, 0.7, 0.3], dtype=torch.float64)
    w.requires_grad_(True)
    out = ours64.compute(b, forces=False, stress=False, species_weights=(allowed, w))
    assert out["magmoms"].shape == (b.n_atoms,)
    (grad,) = torch.autograd.grad(out["energy"].sum(), w)
    atom, h = int(torch.nonzero(b.numbers == 12)[0]), 1e-5
    es = []
    for sign in (1, -1):
        wp = w.detach().clone()
        wp[atom, 1] -= sign * h  # move weight from Mg to Ca, rows still sum to 1
        wp[atom, 2] += sign * h
        es.append(float(ours64.compute(b, forces=False, stress=False, species_weights=(allowed, wp))["energy"][0]))
    fd = (es[0] - es[1]) / (2 * h)
    analytic = float(grad[atom, 2] - grad[atom, 1])
    assert abs(fd - analytic) < 1e-6 * max(1.0, abs(analytic)), (fd, analytic)
    assert abs(analytic) > 1e-3  # Mg -> Ca changes the energy


def test_atom_conv_equals_chgnets_layer_with_gradients(ours64):
    """atom_conv (the first Linear taken block by block) against chgnet's own AtomConv.forward:
    outputs, input gradients, weight gradients and a double backward, for every layer."""
    from matwidgets.engine.models.chgnet import atom_conv

    gen = torch.Generator().manual_seed(0)
    n_atoms, n_undirected = 7, 20
    d2u = torch.cat([torch.arange(n_undirected), torch.randperm(n_undirected, generator=gen)])
    atom_graph = torch.randint(0, n_atoms, (2 * n_undirected, 2), generator=gen)
    for layer in ours64.model.atom_conv_layers:
        x = torch.randn(n_atoms, 64, dtype=torch.float64, generator=gen).requires_grad_()
        b = torch.randn(n_undirected, 64, dtype=torch.float64, generator=gen).requires_grad_()
        w = torch.rand(n_undirected, 64, dtype=torch.float64, generator=gen)
        outs = []
        for f in (lambda: layer(atom_feas=x, bond_feas=b, bond_weights=w, atom_graph=atom_graph, directed2undirected=d2u),
                  lambda: atom_conv(layer, x, b, w, atom_graph, d2u)):
            y = f()
            params = [x, b, *layer.parameters()]
            grads = torch.autograd.grad((y**2).sum(), params, create_graph=True)
            gg = torch.autograd.grad(sum((g**2).sum() for g in grads[:2]), x)[0]  # a force-loss-like double backward
            outs.append([y, *grads, gg])
        for ref, ours in zip(*outs, strict=True):
            assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-10)
