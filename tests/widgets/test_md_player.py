"""MDPlayer, Python side: a run streams frames, stop keeps them, temperature changes live."""

from __future__ import annotations

import ase.io
import numpy as np
from pymatgen.core import Lattice, Structure

import matwidgets as mw


def argon():
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])
    s.perturb(0.05)
    return s


def test_run_fills_traces_and_view(tmp_path, monkeypatch):
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    player = mw.MDPlayer(argon(), model=lj, ensemble="nve", temperature=50, timestep=5, steps=200, seed=1)
    sent = []
    monkeypatch.setattr(player.view, "send", lambda content, buffers=None: sent.append(content))
    shown = []
    monkeypatch.setattr(player.view, "show_frames", lambda frames, index=0: shown.append((list(frames), index)) or mw.StructureView.show_frames(player.view, frames, index))
    job = player.start()
    assert job.wait(60) and job.status == "done"
    assert len(player.frames) == 41  # step 0 and every 5 steps
    e_tot = player.trace("E_tot")
    assert len(e_tot) == 41 and np.ptp(e_tot) < 1.0  # meV/atom: NVE conserves energy
    assert any(c["type"] == "frame" for c in sent) and sent[-1]["type"] == "trajectory"
    assert sent[-1]["n_frames"] == 41 and sent[-1]["index"] == 40  # after the run: its last frame, not frame 1
    assert "done: 200 steps in" in player.status.value
    assert not player.start_button.disabled and not player.save_button.disabled
    frames, index = shown[-1]
    assert frames[index] is player.frames[-1] and frames[index].step == 200
    path = player.save(tmp_path / "t.extxyz")
    assert len(ase.io.read(path, index=":")) == 41


def test_plots_energy_changes_target_and_no_empty_axes():
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    player = mw.MDPlayer(argon(), model=lj, ensemble="nvt", temperature=30, timestep=5, steps=60, every=5, seed=4)
    assert player.plots.layout.display == "none"  # no empty axes before Start
    job = player.start()
    assert job.wait(60) and job.status == "done"
    assert player.plots.layout.display != "none"
    frames, n = player.frames, len(argon())
    for name, attr in [("E_pot", "energy"), ("E_kin", "kinetic_energy"), ("E_tot", "total_energy")]:
        expected = [1000 * (getattr(f, attr) - getattr(frames[0], attr)) / n for f in frames]  # meV/atom from frame 0
        np.testing.assert_allclose(player.trace(name), expected, atol=1e-3)
    assert player.trace("E_kin")[-1] != 0  # the thermostat heats: the lines are not flat
    assert player.plot.styles["T target"] == {"dash": True, "color": "#888"} and "T target" not in player.plot.hidden
    np.testing.assert_allclose(player.trace("T target"), 30)
    assert "meV/atom" in player.plot.panels[0]["title"] and player.plot.panels[0]["traces"] == ["E_pot", "E_kin", "E_tot"]
    assert player.plot.x_label == "time (fs)"
    nve = mw.MDPlayer(argon(), model=lj, ensemble="nve", steps=5)
    assert nve.plot.hidden == ["T target"]  # no thermostat, no target line
    nve.start().wait(60)
    assert nve.plot.hidden == ["T target"]


def test_stop_keeps_frames_and_live_temperature():
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    player = mw.MDPlayer(argon(), model=lj, ensemble="nvt", temperature=20, timestep=5, steps=10**6, seed=2)
    job = player.start()
    while len(player.frames) < 5:
        job.loop.run_until_complete(__import__("asyncio").sleep(0.02))
    player.temperature.value = 80
    assert player.control.temperature == 80
    n_before = len(player.frames)
    while len(player.frames) < n_before + 3:
        job.loop.run_until_complete(__import__("asyncio").sleep(0.02))
    player.stop()
    job.wait(30)
    assert player.trace("T target")[0] == 20 and player.trace("T target")[-1] == 80  # the target follows the slider
    assert job.status == "cancelled" and len(player.frames) >= 5
    assert "cancelled" in player.status.value


def test_exploding_run_reports_error_and_keeps_frames():
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    player = mw.MDPlayer(argon(), model=lj, ensemble="nve", temperature=3000, timestep=10, steps=500, every=1, seed=0)
    player.timestep.max = 1000
    player.timestep.value = 200  # far too long a step: atoms collide
    job = player.start()
    job.wait(60)
    assert job.status == "error" and "exploded at step" in player.status.value
    assert len(player.frames) >= 1


def test_long_run_keeps_history_and_updates_bounded(monkeypatch):
    lj = mw.load_model("lj", epsilon=0.0104, sigma=3.4, cutoff=8.0)
    steps, max_frames = 3000, 64
    player = mw.MDPlayer(argon(), model=lj, ensemble="nvt", temperature=40, timestep=5, steps=steps, every=1, seed=3,
                         max_frames=max_frames, max_points=40)
    player.plot_rate = 1e9  # an update at every delivery: the worst case
    view_bytes, plot_rows, plot_bytes, kept = [], [], [], []
    monkeypatch.setattr(player.view, "send", lambda content, buffers=None: view_bytes.append(sum(len(b) for b in buffers or [])))

    def record_plot(content, buffers=None):
        if content["type"] == "extend":
            plot_rows.append(content["n"])
            plot_bytes.append(sum(len(b) for b in buffers))

    monkeypatch.setattr(player.plot, "send", record_plot)
    on_frames = player._on_frames

    def counting(job, frames):
        on_frames(job, frames)
        kept.append(len(player.frames))

    monkeypatch.setattr(player, "_on_frames", counting)
    job = player.start()
    assert job.wait(600) and job.status == "done"
    assert len(kept) >= 10 and max(kept) <= max_frames  # never more than max_frames, at any time
    got = [f.step for f in player.frames]
    assert got[0] == 0 and got[-1] == steps and len(got) >= max_frames // 2  # spans the run
    gaps = np.diff(got[:-1])
    assert gaps.min() == gaps.max()  # evenly thinned
    assert len(player.trace("E_tot")) <= player.max_points
    # every update costs the same, however long the run: one frame to the view, bounded traces
    frame_bytes = 4 * 3 * 4 + 9 * 4
    assert max(view_bytes) <= frame_bytes
    # the plots get each point once, when it is new: O(n) over the run, not O(n^2)
    row = (1 + len(mw.widgets.md_player.TRACES)) * 4
    assert len(plot_rows) >= 10 and sum(plot_rows) == steps + 1 and sum(plot_bytes) == (steps + 1) * row
    assert max(plot_rows) < 0.1 * steps
    # and keep a bounded, evenly thinned set spanning the run
    t = player.plot.values("x")
    assert t[0] == 0 and t[-1] == steps * 5 and len(t) <= 40
    assert np.ptp(np.diff(t[:-1])) == 0
    # the saved trajectory holds the kept frames
    assert len(player.frames) <= max_frames


def test_readouts_steps_per_second_and_time_left():
    from matwidgets.engine.dynamics import MDFrame

    s = argon()
    player = mw.MDPlayer(s, model=mw.LennardJones(0.0104, 3.4, 8.0), steps=1000)
    now = [100.0]
    player._clock = lambda: now[0]
    player.job = job = object()  # deliveries as from a running job

    def frame(step):
        return MDFrame(step, step * 1.0, s.cart_coords, s.lattice.matrix, -0.3, 0.01, 50.0, 0.1)

    player._on_frames(job, [frame(0)])
    assert "measuring" in player.status.value
    now[0] += 2.0
    player._on_frames(job, [frame(100), frame(200)])  # 200 steps in 2 s
    assert "100 steps/s" in player.status.value and "8 s left" in player.status.value
    now[0] += 8.0  # slower now: 40 steps in 8 s; the 5 s window forgets the fast start
    player._on_frames(job, [frame(240)])
    assert " 5 steps/s" in player.status.value  # (240 - 200) steps / (110 - 102) s
    assert "2:32 left" in player.status.value  # 760 steps at 5 steps/s = 152 s


def test_save_errors_are_shown(tmp_path):
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    player = mw.MDPlayer(argon(), model=lj, ensemble="nve", temperature=20, timestep=5, steps=10, seed=1)
    player.save_button.click()  # nothing to save yet
    assert "save failed: no frames to save" in player.status.value
    assert "ValueError" in "".join(o.get("text", "") for o in player.errors.outputs)
    assert player.start().wait(60)
    player.save_path.value = str(tmp_path / "no" / "such" / "dir" / "t.extxyz")
    player.save_button.click()
    assert "save failed" in player.status.value and "such" in player.status.value
    player.save_path.value = str(tmp_path / "t.extxyz")
    player.save_button.click()
    assert "saved 3 frames" in player.status.value
