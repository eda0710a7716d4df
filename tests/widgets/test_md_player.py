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
    job = player.start()
    assert job.wait(60) and job.status == "done"
    assert len(player.frames) == 41  # step 0 and every 5 steps
    e_tot = player.trace("E_tot")
    assert len(e_tot) == 41 and np.ptp(e_tot) < 1e-3
    assert any(c["type"] == "frame" for c in sent) and sent[-1]["type"] == "frames"
    assert not player.start_button.disabled and not player.save_button.disabled
    path = player.save(tmp_path / "t.extxyz")
    assert len(ase.io.read(path, index=":")) == 41


def test_stop_keeps_frames_and_live_temperature():
    lj = mw.LennardJones(0.0104, 3.4, 8.0)
    player = mw.MDPlayer(argon(), model=lj, ensemble="nvt", temperature=20, timestep=5, steps=10**6, seed=2)
    job = player.start()
    while len(player.frames) < 5:
        job.loop.run_until_complete(__import__("asyncio").sleep(0.02))
    player.temperature.value = 80
    assert player.control.temperature == 80
    player.stop()
    job.wait(30)
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
