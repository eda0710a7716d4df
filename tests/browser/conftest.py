from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser.harness import CHROMIUM, NotebookPage, lab_and_browser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def lab_browser():
    # module scope: playwright's sync API keeps an asyncio loop running in this thread
    # while it is open, which later (non-browser) tests must not inherit
    if os.environ.get("MATWIDGETS_SKIP_BROWSER") == "1":
        pytest.skip("MATWIDGETS_SKIP_BROWSER=1")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (tools/setup.sh does)")
    with lab_and_browser() as (lab, browser):
        for f in EXAMPLES.iterdir():
            shutil.copy(f, lab.root / f.name)
        yield lab, browser


@pytest.fixture
def open_notebook(lab_browser):
    lab, browser = lab_browser
    pages = []

    def _open(name: str, cells: list[str]) -> NotebookPage:
        lab.write_notebook(name, cells)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        console: list[tuple[str, str]] = []  # (type, text) of every console message, for tests to check
        page.on("console", lambda m: (console.append((m.type, m.text)), m.type == "error" and print("console:", m.text)))
        pages.append(page)
        nb = NotebookPage(lab, page, name)
        nb.console = console
        nb.run_all()
        return nb

    yield _open
    for p in pages:
        p.close()
