"""Batched FIRE relaxation of positions and, optionally, the cell.

FIRE (Bitzek et al., PRL 97, 170201) with ASE's parameters. The cell enters as in
ASE's UnitCellFilter: a deformation D of the starting cell (cell = cell0 @ D, atoms
r = r_ref @ D) whose generalised force is -V D^-T (stress + p I), scaled by
``cell_factor`` (the number of atoms) so cell and atom degrees of freedom move
at comparable rates. Each system converges, and stops moving, on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.dynamics import MAX_FORCE, SimulationError
from matwidgets.engine.models import Potential, load_model
from matwidgets.engine.models.base import EV_PER_A3_TO_GPA
from matwidgets.engine.neighbors import DEFAULT_SKIN, verlet_list_for
from matwidgets.engine.progress import progress_bar
from matwidgets.engine.threads import threads_for


@dataclass
class RelaxResult:
    structure: object  # pymatgen Structure
    energy: float  # eV
    converged: bool
    steps: int
    trajectory: list = field(default_factory=list)  # pymatgen Structures every `every` steps
    max_force: float = float("nan")  # eV/Å at the end
    error: str | None = None
    note: str | None = None  # e.g. why the cell was kept fixed


@dataclass
class RelaxStep:
    """Progress of a batched relaxation (what ``iter_relax`` yields)."""

    step: int
    energy: np.ndarray  # [n_systems] eV
    max_force: np.ndarray  # [n_systems] eV/Å (generalised, cell included)
    converged: np.ndarray  # [n_systems] bool
    batch: AtomsBatch
    converged_step: np.ndarray | None = None  # [n_systems] first step below fmax, -1 if none yet


def iter_relax(batch: AtomsBatch, model: Potential, fmax: float = 0.05, steps: int = 500, relax_cell: bool = True,
               pressure: float = 0.0, maxstep: float = 0.2, dt: float = 0.1, dtmax: float = 1.0,
               report_every: int = 1, skin: float | None = DEFAULT_SKIN) -> Iterator[RelaxStep]:
    """FIRE on all systems of ``batch`` at once; yields a RelaxStep every ``report_every``
    steps, at the last step and when every system has converged.

    ``dt``/``dtmax`` are in ASE's time unit (as in ase.optimize.FIRE); ``pressure`` in GPa.
    The cell of a system that is not periodic in all three directions stays fixed (its
    box is vacuum, with no stress to relax). ``skin`` (Å): the Verlet skin of the
    neighbour list reused between steps; None builds a new one at every step.

    Between reports a step reads nothing back from the device (the Verlet list's rebuild
    decision aside): convergence, the step each system converged at and explosions are
    tracked on the device and read at reports. Converged systems stop moving at once; they
    leave the evaluated batch at the next report (and the run stops at the first report
    where all have converged).
    """
    if report_every < 1:
        raise ValueError("report_every must be >= 1")
    n_sys, sys_idx = batch.n_systems, batch.system_idx
    dtype, dev = batch.dtype, batch.device
    cell_free = batch.pbc.all(dim=1) & relax_cell  # [n_sys]
    relax_cell = bool(cell_free.any())
    counts = batch.counts.to(dtype)
    cell0 = batch.cell.clone()
    deform = torch.eye(3, dtype=dtype, device=dev).repeat(n_sys, 1, 1)  # [n_sys, 3, 3]
    r_ref = batch.positions.clone()
    v_atoms = torch.zeros_like(r_ref)
    v_cell = torch.zeros_like(deform)
    dts = torch.full((n_sys,), dt, dtype=dtype, device=dev)
    alpha = torch.full((n_sys,), 0.1, dtype=dtype, device=dev)
    n_pos = torch.zeros(n_sys, dtype=torch.long, device=dev)
    done = torch.zeros(n_sys, dtype=torch.bool, device=dev)
    conv_step = torch.full((n_sys,), -1, dtype=torch.long, device=dev)
    first_bad = torch.full((n_sys,), -1, dtype=torch.long, device=dev)
    p_ext = pressure / EV_PER_A3_TO_GPA
    vlist = verlet_list_for(model, skin)  # one per relaxation; None for models that build their own graphs
    nb = {"neighbors": vlist} if vlist is not None else {}
    last: dict[str, torch.Tensor] = {}
    subset = None  # (systems, atoms, sub-batch template) evaluated; None: all systems
    on_cpu = dev.type == "cpu"

    def select(active: list[int]):
        """The systems still relaxing, as index tensors and a template batch whose numbers,
        pbc and system_idx stay the same objects from step to step (the Verlet list then
        sees an unchanged layout without comparing them)."""
        sub = batch.select(active)
        systems = torch.as_tensor(active, dtype=torch.long, device=dev)
        atoms = torch.nonzero(torch.isin(sys_idx, systems)).flatten()  # sorted, like select()'s order
        return systems, atoms, sub

    def forces_at(deform):
        cur = batch.with_positions(torch.einsum("ax,axy->ay", r_ref, deform[sys_idx]), cell0 @ deform)
        if subset is None:
            out = model.compute(cur, stress=relax_cell, **nb)
        else:
            # converged systems no longer move: evaluate only the others, keep their last results
            systems, atoms, sub = subset
            sub = sub.with_positions(cur.positions[atoms], cur.cell[systems])
            res = model.compute(sub, stress=relax_cell, **nb)
            out = {k: v.clone() for k, v in last.items()}
            for key, value in res.items():
                rows = systems if key in ("energy", "stress") else atoms
                out[key][rows] = value.to(out[key].dtype)
        last.update(out)
        f_atoms = torch.einsum("ax,ayx->ay", out["forces"], deform[sys_idx])  # F D^T
        if relax_cell:
            vol = cur.volumes
            sigma = out["stress"] / EV_PER_A3_TO_GPA + p_ext * torch.eye(3, dtype=dtype, device=dev)
            f_cell = -vol[:, None, None] * torch.linalg.solve_ex(deform.transpose(1, 2), sigma)[0] / counts[:, None, None]
            f_cell = torch.where(cell_free[:, None, None], f_cell, torch.zeros_like(f_cell))
        else:
            f_cell = torch.zeros_like(deform)
        return cur, out, f_atoms, f_cell

    with threads_for(batch.n_atoms) as share:
        for step in range(steps + 1):
            share.refresh()
            cur, out, f_atoms, f_cell = forces_at(deform)
            fnorm_atoms = torch.zeros(n_sys, dtype=dtype, device=dev).scatter_reduce(0, sys_idx, out["forces"].norm(dim=1), "amax", include_self=False)
            fnorm = torch.maximum(fnorm_atoms, f_cell.abs().amax(dim=(1, 2)) * np.sqrt(3))
            bad = ~torch.isfinite(out["energy"]) | ~torch.isfinite(fnorm) | (fnorm > MAX_FORCE)
            first_bad = torch.where(bad & (first_bad < 0), step, first_bad)
            new_done = done | (fnorm < fmax)
            conv_step = torch.where(new_done & ~done, step, conv_step)
            done = new_done
            report = step % report_every == 0 or step == steps
            if report or on_cpu:  # on the CPU reading the flags costs nothing: stop at the bad step
                if bool((first_bad >= 0).any()):
                    k = int(torch.argmax((first_bad >= 0).long()))
                    raise SimulationError(f"relaxation of system {k} exploded at step {int(first_bad[k])}: "
                                          f"energy or forces not finite or > {MAX_FORCE:g} eV/Å")
                all_done = bool(done.all())
                report = report or all_done
            if report:
                yield RelaxStep(step, out["energy"].cpu().numpy(), fnorm.cpu().numpy(), done.cpu().numpy().copy(), cur,
                                conv_step.cpu().numpy())
                if all_done or step == steps:
                    return
                if bool(done.any()):
                    subset = select(torch.nonzero(~done).flatten().tolist())
            # FIRE, per system, over the concatenated (atoms, cell) degrees of freedom
            power = torch.zeros(n_sys, dtype=dtype, device=dev).index_add(0, sys_idx, (f_atoms * v_atoms).sum(1)) + (f_cell * v_cell).sum((1, 2))
            f2 = _sys_sq(sys_idx, n_sys, f_atoms) + (f_cell**2).sum((1, 2))
            v2 = _sys_sq(sys_idx, n_sys, v_atoms) + (v_cell**2).sum((1, 2))
            mix = alpha * torch.sqrt(v2 / f2.clamp_min(1e-30))
            up = power > 0
            v_atoms = torch.where(up[sys_idx, None], (1 - alpha[sys_idx, None]) * v_atoms + mix[sys_idx, None] * f_atoms, 0.0)
            v_cell = torch.where(up[:, None, None], (1 - alpha[:, None, None]) * v_cell + mix[:, None, None] * f_cell, 0.0)
            grow = up & (n_pos > 5)
            dts = torch.where(grow, (dts * 1.1).clamp_max(dtmax), torch.where(up, dts, dts * 0.5))
            alpha = torch.where(grow, alpha * 0.99, torch.where(up, alpha, torch.full_like(alpha, 0.1)))
            n_pos = torch.where(up, n_pos + 1, 0)
            v_atoms = v_atoms + dts[sys_idx, None] * f_atoms
            v_cell = v_cell + dts[:, None, None] * f_cell
            dr_atoms, dr_cell = dts[sys_idx, None] * v_atoms, dts[:, None, None] * v_cell
            norm = torch.sqrt(_sys_sq(sys_idx, n_sys, dr_atoms) + (dr_cell**2).sum((1, 2)))
            scale = torch.where(norm > maxstep, maxstep / norm.clamp_min(1e-30), torch.ones_like(norm))
            scale = torch.where(done, torch.zeros_like(scale), scale)  # converged systems stay put
            r_ref = r_ref + scale[sys_idx, None] * dr_atoms
            if relax_cell:
                deform = deform + scale[:, None, None] * dr_cell / counts[:, None, None]


def _sys_sq(sys_idx: torch.Tensor, n_sys: int, x: torch.Tensor) -> torch.Tensor:
    return torch.zeros(n_sys, dtype=x.dtype, device=x.device).index_add(0, sys_idx, (x**2).sum(1))


def relax(structures, model: Potential | str | None = None, fmax: float = 0.05, steps: int = 500, relax_cell: bool = True,
          pressure: float = 0.0, every: int = 10, skin: float | None = DEFAULT_SKIN,
          progress: bool = False) -> RelaxResult | list[RelaxResult]:
    """Relax one structure (returns a RelaxResult) or many at once (returns a list).

    Converged when the largest atomic force and the generalised cell force (as in
    ASE's UnitCellFilter) are below ``fmax`` (eV/Å). A system whose relaxation
    explodes raises SimulationError naming it. ``skin``: as in ``iter_relax``.
    ``progress=True`` shows a bar of converged structures with the step and the
    largest remaining force (tqdm: notebook or terminal).
    """
    model = load_model() if model is None else load_model(model) if isinstance(model, str) else model
    single = not isinstance(structures, (list, tuple))
    batch = AtomsBatch.from_structures(structures, device=model.device)
    periodic = batch.pbc.all(dim=1).tolist()
    trajs: list[list] = [[] for _ in range(batch.n_systems)]
    last = None
    with progress_bar(progress, batch.n_systems, "relaxed", unit="struct") as bar:
        for st in iter_relax(batch, model, fmax=fmax, steps=steps, relax_cell=relax_cell, pressure=pressure,
                             report_every=every, skin=skin):
            # systems still relaxing before this step (those converging at it included)
            running = (st.converged_step < 0) | (st.converged_step == st.step)
            if st.step % every == 0 and running.any():
                structs = st.batch.to_structures()
                for k in np.nonzero(running)[0]:
                    trajs[k].append(structs[k])
            bar.update(int(st.converged.sum()) - bar.n)
            bar.set_postfix_str(f"step {st.step}, max force {float(np.max(st.max_force)):.3f} eV/Å")
            last = st
    n_steps = last.converged_step
    final = last.batch.to_structures()
    results = []
    for k, s in enumerate(final):
        if not trajs[k] or trajs[k][-1] != s:
            trajs[k].append(s)
        k_steps = int(n_steps[k]) if n_steps[k] >= 0 else last.step
        note = None if periodic[k] or not relax_cell else "positions only: the structure is not periodic in all three directions, so its cell was kept"
        results.append(RelaxResult(s, float(last.energy[k]), bool(last.converged[k]), k_steps, trajs[k], float(last.max_force[k]), note=note))
    return results[0] if single else results


def scale_to_pressure(structure, model: Potential | str | None = None, pressure: float = 0.0, tol: float = 0.5,
                      max_evaluations: int = 8):
    """The structure uniformly scaled (fractional coordinates kept) until the model's pressure is
    within ``tol`` GPa of ``pressure``: a few evaluations, for cells whose size is unknown
    (a prototype with new elements). Secant steps on ln V, from a 100 GPa bulk-modulus guess.
    Returns (structure, pressure in GPa). Atoms are not relaxed: use ``relax`` for that.
    """
    from matwidgets.engine.predict import predict

    model = load_model() if model is None else load_model(model) if isinstance(model, str) else model
    s = structure.copy()
    log_v, p = np.log(s.volume), predict(s, model)[0].pressure
    if p is None:
        raise ValueError("scale_to_pressure needs a cell periodic in all three directions")
    slope = -100.0  # dP/dlnV = -B, in GPa
    for _ in range(max_evaluations - 1):
        if abs(p - pressure) <= tol:
            break
        step = float(np.clip((pressure - p) / slope, -0.5, 0.5))  # at most a factor e^0.5 in volume per step
        s.scale_lattice(float(np.exp(log_v + step)))
        p_new = predict(s, model)[0].pressure
        if p_new != p:
            slope = min((p_new - p) / step, -1.0)  # a stable crystal's pressure falls as it expands
        log_v, p = log_v + step, p_new
    return s, float(p)
