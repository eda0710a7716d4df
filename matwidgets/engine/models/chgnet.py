"""The pretrained default: CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031), offline.

The weights ship inside the ``chgnet`` wheel ("0.3.0", "0.2.0", "r2scan"). We run
CHGNet's own modules with its weights, in the order of ``CHGNet._compute``, and
change only what costs time without changing the numbers:

* the graphs (atom graph, undirected-edge bookkeeping, bond/angle graph) are
  built for the whole batch at once in torch ops on the batch's device
  (matwidgets/engine/graphs.py) instead of one chgnet ``Graph`` per structure
  on the CPU;
* forces and stress come from ONE backward pass, without ``create_graph``
  unless training. CHGNet's ``_compute`` always keeps the double-backward graph
  and runs two passes; that is most of its time at inference.
* AtomConv's gated MLP takes its first Linear block by block (``atom_conv``):
  once per atom and once per undirected bond, gathered per edge, instead of on
  the concatenated [centre | bond | neighbour] row of every directed edge.

Extras over chgnet's own interface: ``training=True`` keeps the graph so a force
loss back-propagates into the weights; ``species_weights`` mixes the atom
embeddings and atom reference energies linearly (soft species, for composition
design).
"""

from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from collections.abc import Callable

import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.graphs import CHGNetGraph, chgnet_graph
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA, Potential, weights_hash
from matwidgets.engine.neighbors import Edges, neighbor_list
from matwidgets.errors import InvalidStructureError


_CUTOFF_PAD = 1e-4  # Å


def atom_conv(layer: torch.nn.Module, atom_feas: torch.Tensor, bond_feas: torch.Tensor, bond_weights: torch.Tensor,
              atom_graph: torch.Tensor, directed2undirected: torch.Tensor) -> torch.Tensor:
    """chgnet's ``AtomConv.forward``, with its own modules and weights, in fewer multiply-adds.

    AtomConv sends each directed edge's row [x_centre | b_bond | x_neighbour] (3 x 64 wide)
    through the first Linear of both halves of a gated MLP. That Linear is a sum over the
    three blocks, W [x_c; b; x_n] = W_c x_c + W_b b + W_n x_n, so here each block's product
    is taken once per atom or once per undirected bond and gathered per edge: a directed
    edge then costs no 192-wide matrix row. Everything after that Linear is chgnet's own
    modules, in chgnet's order; the numbers equal chgnet's to rounding (tests/engine/test_chgnet_v2.py).
    Why by hand: the atom graph has ~45 directed edges per atom and these products were
    the largest single cost of a CHGNet step on the CPU (issue 12's MD goals).
    """
    g = layer.twoBody_atom
    first = (g.mlp_core.layers[0], g.mlp_gate.layers[0])
    if not all(isinstance(lin, torch.nn.Linear) for lin in first):  # an MLP without a hidden layer: chgnet's way
        return layer(atom_feas=atom_feas, bond_feas=bond_feas, bond_weights=bond_weights, atom_graph=atom_graph,
                     directed2undirected=directed2undirected)
    f, h = atom_feas.shape[1], first[0].out_features
    w = torch.cat([lin.weight for lin in first])  # [2h, 2f + bond_fea_dim]: core rows, then gate rows
    centre, nbr = atom_graph[:, 0], atom_graph[:, 1]
    x = (atom_feas @ w[:, :f].T).index_select(0, centre) + (atom_feas @ w[:, -f:].T).index_select(0, nbr)
    per_bond = bond_feas @ w[:, f:-f].T
    if first[0].bias is not None:
        per_bond = per_bond + torch.cat([lin.bias for lin in first])
    x = x + per_bond.index_select(0, directed2undirected)  # [n_directed, 2h]
    core, gate = g.mlp_core.layers[1:](x[:, :h]), g.mlp_gate.layers[1:](x[:, h:])
    if g.norm is not None:
        core, gate = g.bn1(core), g.bn2(gate)
    messages = g.activation(core) * g.sigmoid(gate) * bond_weights.index_select(0, directed2undirected)
    new = torch.zeros_like(atom_feas).index_add(0, centre, messages)  # chgnet's aggregate(average=False)
    if layer.use_mlp_out:
        new = layer.mlp_out(new)
    if layer.resnet:
        new = new + atom_feas
    return new if layer.atom_norm is None else layer.atom_norm(new)


class CHGNetPotential(Potential):
    """CHGNet behind the Potential contract; also returns magnetic moments (mu_B).

    Args:
        model_name: a checkpoint in the chgnet wheel: "0.3.0", "0.2.0" or "r2scan".
        device: where the weights live (default: CPU).
        dtype: torch.float32 (default) or torch.float64; graphs are built in this dtype.
    """

    name = "chgnet"
    family = "chgnet"
    has_magmoms = True

    def __init__(self, model_name: str = "0.3.0", device: str | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        from chgnet.model import CHGNet

        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints a banner
            self.model = CHGNet.load(model_name=model_name, use_device="cpu", verbose=False)
        if not self.model.mlp_first:  # every shipped checkpoint reads out per atom
            raise ValueError(f"CHGNet {model_name}: only per-atom readout (mlp_first) checkpoints are supported")
        self.model.eval()
        self.version = model_name
        self.cutoff = float(self.model.graph_converter.atom_graph_cutoff)
        self.bond_cutoff = float(self.model.graph_converter.bond_graph_cutoff)
        self.max_z = int(self.model.atom_embedding.embedding.num_embeddings)
        self.to(dtype=dtype or torch.float32)
        if device is not None:
            self.to(device)

    @property
    def model_id(self) -> str:
        return f"chgnet-{self.version}-{weights_hash(self.model)}"  # fine-tuned weights get their own id

    # ---- save / load contract -------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor kwargs that rebuild this architecture (weights are saved separately)."""
        return {"model_name": self.version}

    @classmethod
    def from_config(cls, config: dict) -> CHGNetPotential:
        return cls(**config)

    def parameter_groups(self) -> OrderedDict[str, list[torch.nn.Parameter]]:
        """Named parameter groups, each parameter exactly once, in message-passing order.

        embedding: atom/bond/angle embeddings, the bond weight maps and the (learnable)
        radial and Fourier basis expansions; interaction.k: the k-th (atom_conv,
        bond_conv, angle_layer) block (the last block has only an atom_conv);
        readout: site_wise (magmoms), readout norm and MLP; atom_refs: the AtomRef.
        """
        m = self.model

        def params(*modules) -> list[torch.nn.Parameter]:
            return [p for mod in modules if isinstance(mod, torch.nn.Module) for p in mod.parameters()]

        groups = OrderedDict(embedding=params(m.atom_embedding, m.bond_basis_expansion, m.bond_embedding, m.bond_weights_ag,
                                               m.bond_weights_bg, m.angle_basis_expansion, m.angle_embedding))
        for k, atom_layer in enumerate(m.atom_conv_layers):
            extra = (m.bond_conv_layers[k], m.angle_layers[k]) if k < m.n_conv - 1 else ()
            groups[f"interaction.{k}"] = params(atom_layer, *extra)
        groups["readout"] = params(m.site_wise, m.readout_norm, m.pooling, m.mlp)
        groups["atom_refs"] = params(m.composition_model)
        return groups

    # ---- forward ----------------------------------------------------------------------------
    def graph(self, batch: AtomsBatch, neighbors: Callable[[AtomsBatch, float], Edges] | None = None,
              allow_isolated: bool = False) -> CHGNetGraph:
        """CHGNet's batched graphs of ``batch`` (already on the model's device and dtype)."""
        # ask for a hair more than the cutoff: neighbour lists keep r < cutoff, chgnet keeps
        # r <= cutoff (pymatgen), which matters only for whether an atom counts as isolated
        edges = (neighbors or neighbor_list)(batch, self.cutoff + _CUTOFF_PAD)
        g = chgnet_graph(batch, edges, self.cutoff, self.bond_cutoff)
        # isolated atoms are looked for (a host sync, for a clear error) on every call, or with
        # a Verlet list once per build of the list: not at every MD or FIRE step (issue 12,
        # item 9). Between builds an atom moves less than skin/2, so only one whose nearest
        # neighbour sat within a skin of the cutoff at the build could drift out unnoticed.
        # The list remembers who checked it (committee members share one list), and only a
        # passed check: a call after the error checks again.
        checked = getattr(neighbors, "checked", None)
        if not allow_isolated and (checked is None or self not in checked):
            if bool(g.isolated.any()):
                atom = int(torch.nonzero(g.isolated)[0])
                raise InvalidStructureError(f"atom {atom} has no neighbour within {self.cutoff} Å; CHGNet cannot treat isolated atoms")
            if checked is not None:
                checked.add(self)
        return g

    def _atom_features(self, batch: AtomsBatch, species_weights) -> tuple[torch.Tensor, torch.Tensor]:
        """Atom embeddings [n_atoms, atom_fea_dim] and AtomRef energies [n_atoms] in eV.

        With soft species both are mixed linearly: weights [n_atoms, n_allowed] times the
        rows of the allowed elements (one-hot weights select the rows exactly).
        """
        m = self.model
        ref = m.composition_model.fc.weight[0] if m.composition_model is not None else None  # [94] eV
        if species_weights is None:
            z = batch.numbers.long() - 1  # chgnet: "let H be the first embedding column"
            feas = m.atom_embedding(z)
            shift = ref[z] if ref is not None else torch.zeros_like(feas[:, 0])
            return feas, shift
        allowed_z, weights = species_weights
        allowed = torch.as_tensor(allowed_z, device=self.device).long() - 1
        weights = weights.to(device=self.device, dtype=self.dtype)
        feas = weights @ m.atom_embedding.embedding.weight[allowed]  # [n_atoms, atom_fea_dim]
        shift = weights @ ref[allowed] if ref is not None else torch.zeros_like(feas[:, 0])
        return feas, shift

    def _site_energies(self, atom_feas: torch.Tensor, bond_vectors: torch.Tensor, g: CHGNetGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """CHGNet's message passing and readout (the body of ``CHGNet._compute``), batch-wide.

        Args:
            atom_feas: [n_atoms, atom_fea_dim] initial atom features.
            bond_vectors: [n_directed, 3] centre - neighbour in Å (chgnet's sign), with grad.
        Returns: site energies [n_atoms] eV (without AtomRef) and magmoms [n_atoms] mu_B.
        """
        m = self.model
        zeros = bond_vectors.new_zeros(3)
        # chgnet's BondEncoder adds image @ lattice to the neighbour; our vectors already
        # include the periodic offset, so it gets zero images (adding zeros is exact)
        bond_bases_ag, bond_bases_bg, unit_vectors = m.bond_basis_expansion(
            center=bond_vectors, neighbor=zeros.expand_as(bond_vectors), undirected2directed=g.undirected2directed,
            image=zeros.expand_as(bond_vectors), lattice=zeros.new_zeros(3, 3))
        bond_feas = m.bond_embedding(bond_bases_ag)
        bond_weights_ag = m.bond_weights_ag(bond_bases_ag)
        bond_weights_bg = m.bond_weights_bg(bond_bases_bg)
        bond_graph = g.bond_graph[:, [0, 1, 3]]  # chgnet's batched_bond_graph: centre, left and right undirected bonds
        has_angles = g.bond_graph.shape[0] != 0
        if has_angles:
            angle_feas = m.angle_embedding(m.angle_basis_expansion(unit_vectors[g.bond_graph[:, 2]], unit_vectors[g.bond_graph[:, 4]]))
        magmom = None
        for idx, (atom_layer, bond_layer, angle_layer) in enumerate(
                zip(m.atom_conv_layers[:-1], m.bond_conv_layers, m.angle_layers, strict=False)):
            atom_feas = atom_conv(atom_layer, atom_feas, bond_feas, bond_weights_ag, g.atom_graph, g.directed2undirected)
            if has_angles and bond_layer is not None:
                bond_feas = bond_layer(atom_feas=atom_feas, bond_feas=bond_feas, bond_weights=bond_weights_bg,
                                       angle_feas=angle_feas, bond_graph=bond_graph)
                if angle_layer is not None:
                    angle_feas = angle_layer(atom_feas=atom_feas, bond_feas=bond_feas, angle_feas=angle_feas, bond_graph=bond_graph)
            if idx == m.n_conv - 2:
                magmom = torch.abs(m.site_wise(atom_feas)).view(-1)
        atom_feas = atom_conv(m.atom_conv_layers[-1], atom_feas, bond_feas, bond_weights_ag, g.atom_graph, g.directed2undirected)
        if m.readout_norm is not None:
            atom_feas = m.readout_norm(atom_feas)
        return m.mlp(atom_feas).view(-1), magmom

    def compute(self, batch: AtomsBatch, forces: bool = True, stress: bool = True, training: bool = False,
                allow_isolated: bool = False, neighbors: Callable[[AtomsBatch, float], Edges] | None = None,
                species_weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Energies [n_systems] eV, atom_energies [n_atoms] eV, forces [n_atoms, 3] eV/Å,
        stress [n_systems, 3, 3] GPa (ASE sign) and magmoms [n_atoms] mu_B, in float64.

        ``species_weights = (allowed_z [n_allowed], weights [n_atoms, n_allowed])`` replaces
        the hard atomic numbers by a mixture (rows summing to 1); the energy is
        differentiable in ``weights``. See Potential.compute for the other arguments.
        """
        self.check_numbers(batch)
        if species_weights is not None and int(torch.as_tensor(species_weights[0]).max()) > self.max_z:
            raise InvalidStructureError(f"allowed element Z={int(torch.as_tensor(species_weights[0]).max())} is not supported "
                                        f"by model {self.name} (Z <= {self.max_z})")
        batch = batch.to(self.device, self.dtype)
        g = self.graph(batch, neighbors, allow_isolated)
        # keep the graph when training, or when soft-species weights want a gradient
        differentiable = training or (species_weights is not None and torch.is_tensor(species_weights[1])
                                      and species_weights[1].requires_grad and torch.is_grad_enabled())
        keep = (lambda t: t) if differentiable else (lambda t: t.detach())
        with torch.set_grad_enabled(forces or stress or differentiable):
            pos = batch.positions.detach().requires_grad_(forces)
            strain = torch.zeros_like(batch.cell).requires_grad_(stress)  # [n_systems, 3, 3]
            deform = torch.eye(3, dtype=batch.dtype, device=batch.device) + strain
            pos_s = torch.einsum("ax,axy->ay", pos, deform[batch.system_idx])  # homogeneous strain of the cell
            cell_s = batch.cell @ deform
            e = g.edges
            offsets = torch.einsum("ek,ekx->ex", e.shifts, cell_s[batch.system_idx[e.i]])
            bond_vectors = pos_s[e.i] - (pos_s[e.j] + offsets)  # chgnet's center - neighbor
            atom_feas, ref_shift = self._atom_features(batch, species_weights)
            site, magmom = self._site_energies(atom_feas, bond_vectors, g)
            site = site + ref_shift  # AtomRef: a fixed energy per element, no position dependence
            energy = torch.zeros(batch.n_systems, dtype=site.dtype, device=site.device).index_add(0, batch.system_idx, site)
            out = {"energy": keep(energy), "atom_energies": keep(site), "magmoms": keep(magmom)}
            wrt = [t for t, want in ((pos, forces), (strain, stress)) if want]
            if wrt:
                grads = torch.autograd.grad(energy.sum(), wrt, create_graph=training, retain_graph=differentiable,
                                            allow_unused=True)
                grads = [torch.zeros_like(t) if gr is None else gr for gr, t in zip(grads, wrt)]
                if forces:
                    out["forces"] = keep(-grads[0])
                if stress:
                    volume = torch.linalg.det(batch.cell).abs()[:, None, None]
                    out["stress"] = keep(grads[-1] / volume * EV_PER_A3_TO_GPA)
        return {k: v.to(torch.float64) for k, v in out.items()}
