"""``progress=True`` on long engine calls: a tqdm bar, in a notebook or a terminal.

tqdm.auto picks the notebook bar in Jupyter and the text bar (on stderr) elsewhere; we
only decide whether there is a bar at all, so every long call shows progress the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class _NoBar:
    n = 0

    def update(self, n: float = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


@contextlib.contextmanager
def progress_bar(enabled: bool, total: float | None, desc: str, unit: str = "it") -> Iterator:
    """A tqdm bar (closed on exit) when ``enabled``, else an object that ignores updates."""
    if not enabled:
        yield _NoBar()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, leave=True)
    try:
        yield bar
    finally:
        bar.close()
