"""The matwidgets command line, in process and through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

import matwidgets as mw
from matwidgets import cli
from matwidgets.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SI = str(EXAMPLES / "Si.cif")
# the entry point pip installed next to this interpreter (not python -m matwidgets.cli)
SCRIPT = Path(sys.executable).parent / ("matwidgets.exe" if os.name == "nt" else "matwidgets")
# a CUDA device this machine lacks: any on a CPU machine, one past the last GPU otherwise
NO_SUCH_CUDA = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def run_script(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the console script on this checkout's code: an editable install may point
    at another checkout, so this tree goes first on PYTHONPATH."""
    assert SCRIPT.exists(), f"no console script at {SCRIPT}: install the package (pip install -e .)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    env.pop("MATWIDGETS_DEBUG", None)
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


# name: (arguments, words the one error line must contain); {tmp} is a folder of bad files.
# Each runs in process; those in SCRIPT_CASES also through the console script (every
# process pays the ~5 s package import, so the variants of one check stay in process).
BAD_INPUT = {
    "no-command": ([], "required"),
    "unknown-model": (["predict", "--model", "nosuch", SI], "unknown model 'nosuch'"),
    "not-a-checkpoint": (["predict", "--model", "{tmp}/weights.txt", SI], "not a matwidgets checkpoint"),
    "device-unavailable": (["predict", "--model", "lj", "--device", NO_SUCH_CUDA, SI], "not available"),
    "device-unknown": (["predict", "--model", "lj", "--device", "foo", SI], "unknown device 'foo'"),
    "empty-file": (["predict", "--model", "lj", "{tmp}/empty.cif"], "is empty"),
    "missing-file": (["predict", "--model", "lj", "{tmp}/missing.cif"], "file not found"),
    "unparsable-cif": (["predict", "--model", "lj", "{tmp}/bad.cif"], "cannot parse"),  # pymatgen warns first
    "out-dir-missing": (["hull", "Li-O", "--model", "lj", "--out", "{tmp}/no/such/dir/hull.html"], "does not exist"),
    "hull-unreadable-structures": (["hull", "Na-Cl", "--model", "lj", "--max-atoms", "2", "--structures", "{tmp}/bad.cif"],
                                   "cannot read"),
    "hull-fitted-for-another-model": (["hull", "Na-Cl", "--model", "lj", "--max-atoms", "2", "--correction", "fitted"],
                                      "is fitted for chgnet"),
    "negative-steps": (["hull", "Li-O", "--model", "lj", "--steps", "-3"], "--steps: must be a non-negative integer, got -3"),
    "negative-max-atoms": (["hull", "Li-O", "--model", "lj", "--max-atoms", "-1"], "--max-atoms: must be a positive integer, got -1"),
    "unsupported-element": (["hull", "Og-Li", "--model", "chgnet", "--device", "cpu"], "model chgnet does not support element Og"),
    "trailing-dash": (["hull", "Li-O-", "--model", "lj"], "'Li-O-' has an empty element"),
    "leading-dash": (["hull", "-Li", "--model", "lj"], "'-Li' has an empty element"),
    "double-dash": (["hull", "Li--O", "--model", "lj"], "'Li--O' has an empty element"),
    "unknown-element": (["hull", "Li-Xx", "--model", "lj"], "unknown element 'Xx'"),
}
SCRIPT_CASES = ["unknown-model", "not-a-checkpoint", "device-unavailable", "empty-file", "unparsable-cif", "out-dir-missing",
                "negative-steps", "unsupported-element", "trailing-dash"]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "weights.txt").write_text("not a checkpoint\n")
    (tmp / "empty.cif").write_text("")
    (tmp / "bad.cif").write_text("data_x\n_cell_length_a 5\n_cell_length_b x\n")
    return tmp


def _args(case: str, tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in BAD_INPUT[case][0]]


def _assert_one_error_line(returncode, stdout: str, stderr: str, expected: str) -> None:
    err = stderr.strip()
    assert returncode == 2, (returncode, stderr)
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert expected in err, err
    assert "Traceback" not in stderr and "warning" not in stderr.lower(), stderr
    assert stdout == ""


@pytest.fixture(scope="module")
def script_runs(bad_files) -> dict[str, subprocess.CompletedProcess]:
    """The SCRIPT_CASES through the console script, as many at a time as there are cores."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {case: pool.submit(run_script, *_args(case, bad_files)) for case in SCRIPT_CASES}
        return {case: f.result() for case, f in futures.items()}


@pytest.mark.parametrize("case", SCRIPT_CASES)
def test_console_script_bad_input(script_runs, case):
    out = script_runs[case]
    _assert_one_error_line(out.returncode, out.stdout, out.stderr, BAD_INPUT[case][1])


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_in_process(bad_files, capsys, case):
    try:
        code = main(_args(case, bad_files))
    except SystemExit as exit_:  # argparse's own checks
        code = exit_.code
    cap = capsys.readouterr()
    _assert_one_error_line(code, cap.out, cap.err, BAD_INPUT[case][1])


def test_console_script_help():
    out = run_script("--help")
    assert out.returncode == 0 and out.stderr == ""
    assert "predict" in out.stdout and "hull" in out.stdout


def test_hull_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["hull", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert all(opt in text for opt in ("--out", "--max-atoms", "--steps", "--model", "--device"))


def test_console_script_predict_json_is_clean():
    """stdout is exactly the JSON (no banners or warnings mixed in)."""
    out = run_script("predict", SI, str(EXAMPLES / "POSCAR_MgO"), "--model", "lj", "--device", "cpu", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    ref = mw.predict([SI, str(EXAMPLES / "POSCAR_MgO")], mw.load_model("lj", device="cpu"))
    assert [r["formula"] for r in rows] == ["Si", "MgO"]
    for r, p in zip(rows, ref):
        assert r["energy_eV"] == pytest.approx(p.energy, abs=1e-6)


def test_predict_json_matches_api(capsys):
    files = [SI, str(EXAMPLES / "POSCAR_MgO")]
    assert main(["predict", *files, "--json", "--device", "cpu"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ref = mw.predict(files, mw.load_model("chgnet", device="cpu"))
    assert [r["formula"] for r in rows] == ["Si", "MgO"]
    for r, p in zip(rows, ref):
        assert abs(r["energy_eV"] - p.energy) < 1e-6


def test_predict_table(capsys):
    assert main(["predict", str(EXAMPLES / "NaCl.cif"), "--model", "lj", "--device", "cpu"]) == 0
    assert "NaCl" in capsys.readouterr().out


def test_hull_writes_html(capsys, tmp_path):
    out = tmp_path / "hull.html"
    assert main(["hull", "Ar-Ne", "--model", "lj", "--device", "cpu", "--max-atoms", "2", "--steps", "3", "--out", str(out)]) == 0
    assert "Ar" in capsys.readouterr().out
    assert out.stat().st_size > 0 and "plotly" in out.read_text()[:200_000].lower()


def test_hull_takes_user_structures_and_names_the_correction(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MATWIDGETS_CACHE", str(tmp_path / "cache"))
    assert main(["hull", "Na-Cl", "--model", "lj", "--device", "cpu", "--max-atoms", "2", "--steps", "3", "--threshold", "100",
                 "--structures", str(EXAMPLES / "NaCl.cif")]) == 0
    cap = capsys.readouterr()
    assert "user" in cap.out and "energy correction: none" in cap.err


def test_warnings_are_held_back_on_error(monkeypatch, capsys):
    def noisy(args):
        warnings.warn("pymatgen says something", UserWarning)
        raise mw.InvalidStructureError("bad structure")

    monkeypatch.setattr(cli, "_predict", noisy)
    assert main(["predict", SI]) == 2
    assert capsys.readouterr().err == "error: bad structure\n"


def test_bugs_keep_their_traceback(monkeypatch):
    """Only the error types bad input raises become "error:" lines; a plain ValueError is a bug."""

    def buggy(args):
        raise ValueError("matmul: shapes do not match")

    monkeypatch.setattr(cli, "_predict", buggy)
    with pytest.raises(ValueError, match="matmul"):
        main(["predict", SI])
