"""The matwidgets command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matwidgets as mw
from matwidgets.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_predict_json_matches_api(capsys):
    files = [str(EXAMPLES / "Si.cif"), str(EXAMPLES / "POSCAR_MgO")]
    assert main(["predict", *files, "--json", "--device", "cpu"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ref = mw.predict(files, mw.load_model("chgnet", device="cpu"))
    assert [r["formula"] for r in rows] == ["Si", "MgO"]
    for r, p in zip(rows, ref):
        assert abs(r["energy_eV"] - p.energy) < 1e-6


def test_predict_table_and_errors(capsys, tmp_path):
    assert main(["predict", str(EXAMPLES / "NaCl.cif"), "--device", "cpu"]) == 0
    assert "NaCl" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "missing.cif")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "matwidgets.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "predict" in out.stdout
