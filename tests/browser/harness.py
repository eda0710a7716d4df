"""JupyterLab on 127.0.0.1 driven by Debian's chromium through playwright.

Shared by the browser tests and benchmarks/viewer.py. Notebooks are written to a
temporary folder, opened, run; the kernel is then queried through the page
(JupyterLab started with expose_app_in_browser) to read Python-side state.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat

CHROMIUM = os.environ.get("MATWIDGETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    # WebGL without a GPU: SwiftShader through ANGLE (no longer an automatic fallback)
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server in a temporary root folder."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(root / "jupyterlab.log", "w")
        # render every cell (no virtual windowing) and never ask about news
        settings = root / ".settings"
        for ext, name, value in [("@jupyterlab/notebook-extension", "tracker", {"windowingMode": "none"}),
                                 ("@jupyterlab/apputils-extension", "notification", {"fetchNews": "false"})]:
            (settings / ext).mkdir(parents=True, exist_ok=True)
            (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
        env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "PYTHONWARNINGS": "ignore::UserWarning:nglview"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
             "--ServerApp.open_browser=False", "--LabServerApp.workspaces_dir=" + str(root / ".ws")]
            + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            stdout=log, stderr=subprocess.STDOUT, cwd=root, env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")},
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("jupyterlab exited: " + (root / "jupyterlab.log").read_text()[-2000:])
                time.sleep(0.5)
        raise RuntimeError("jupyterlab did not start in 90 s")

    def write_notebook(self, name: str, cells: list[str]) -> str:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, self.root / name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class NotebookPage:
    """One open notebook in the browser."""

    def __init__(self, lab: Lab, page, name: str):
        self.lab, self.page = lab, page
        page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}&reset")
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget && window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
        page.wait_for_function(
            "(() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel; return k && k.status === 'idle'; })()",
            timeout=120_000,
        )

    def run_all(self, timeout_s: float = 180) -> None:
        self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self.page.wait_for_timeout(500)
        self.page.wait_for_function(
            "(() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel; return k.status === 'idle'; })()",
            timeout=timeout_s * 1000,
        )

    def kernel(self, code: str, timeout_s: float = 120) -> str:
        """Run code in the notebook's kernel; returns what it printed (raises on error)."""
        out = self.page.evaluate(
            """async (code) => {
                const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                const future = kernel.requestExecute({ code, store_history: false });
                let out = "", err = null;
                future.onIOPub = (msg) => {
                  if (msg.header.msg_type === "stream") out += msg.content.text;
                  if (msg.header.msg_type === "error") err = msg.content.ename + ": " + msg.content.evalue;
                };
                await future.done;
                return JSON.stringify({ out, err });
            }""",
            code,
        )
        res = json.loads(out)
        if res["err"]:
            raise AssertionError(f"kernel error: {res['err']}")
        return res["out"]

    def kernel_until(self, code: str, expected: str, timeout_s: float = 20) -> str:
        """Re-run ``code`` until it prints ``expected`` (browser -> kernel syncs take a moment)."""
        deadline = time.time() + timeout_s
        while True:
            out = self.kernel(code).strip()
            if out == expected or time.time() > deadline:
                return out
            self.page.wait_for_timeout(200)

    def cell_errors(self) -> list[str]:
        return self.page.evaluate(
            """() => Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-OutputArea-output .ansi-red-intense-fg, .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')).map(e => e.textContent)"""
        )


GALLERY = Path(__file__).resolve().parents[2] / "docs" / "gallery"


def gallery(target, name: str) -> None:
    """With MATWIDGETS_GALLERY=1, save a screenshot of ``target`` (a page or locator) as
    docs/gallery/<name>.png: the README's gallery is taken by the browser tests themselves."""
    if os.environ.get("MATWIDGETS_GALLERY") == "1":
        GALLERY.mkdir(parents=True, exist_ok=True)
        page = getattr(target, "page", target)
        size, box = page.viewport_size, getattr(target, "bounding_box", lambda: None)()
        if box and size and box["height"] > size["height"] - 100:  # the whole output, not the part in view
            page.set_viewport_size({"width": size["width"], "height": int(box["height"]) + 150})
            page.wait_for_timeout(500)
        target.screenshot(path=str(GALLERY / f"{name}.png"))
        if size and page.viewport_size != size:
            page.set_viewport_size(size)


def png_pixels(png: bytes):
    """[h, w, 3] uint8 array of a PNG."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@contextmanager
def lab_and_browser():
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="mw-lab-"))
    lab = Lab(root)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            try:
                yield lab, browser
            finally:
                browser.close()
    finally:
        lab.stop()
