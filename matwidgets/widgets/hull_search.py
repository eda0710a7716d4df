"""HullExplorer's random search and per-source counts (a mixin: the widget is HullExplorer).

Kept apart so hull_explorer.py stays near its size budget; it uses the explorer's
entries, failed list, status line and rebuild, and runs the engine's iter_hull in a Job.
"""

from __future__ import annotations

import html
from typing import Any

from pymatgen.core import Composition

from matwidgets.engine.hull import iter_hull
from matwidgets.engine.hull_stages import merge_progress
from matwidgets.errors import InvalidChemsysError
from matwidgets.jobs import Job
from matwidgets.widgets.feedback import show_error
from matwidgets.widgets.hull_plot import sources_html


class HullSearch:
    """search() and source_counts for HullExplorer."""

    @property
    def source_counts(self) -> dict[str, int]:
        """Candidates per source (prototype, oxidation, subvalent, derivative, search, ...) over every run."""
        total: dict[str, int] = {}
        for part in self._sources.values():
            for k, n in part.items():
                total[k] = total.get(k, 0) + n
        return total

    def _count_sources(self, job: Job, step: Any) -> None:
        if step.sources is not None and self._sources.get(job.id) != step.sources:
            self._sources[job.id] = dict(step.sources)
            self.sources.value = sources_html(self.source_counts)

    def search(self, formula: str, n: int = 30, seed: int | None = None) -> Job:
        """Random structure search (PyXtal) for one composition, in the background: ``n``
        seeded trials whose structures join the hull as they relax. ``seed`` None: the
        number of searches so far (0 first), so each search brings new structures and
        a notebook re-run brings the same ones. Returns the Job; a bad formula or budget
        raises ValueError at once."""
        from matwidgets.engine.search import check_search

        (formula, n), = check_search({formula: n}).items()
        if self._elements is not None and not {el.symbol for el in Composition(formula).elements} <= set(self._elements):
            raise InvalidChemsysError(f"{formula} is not in the chemical system {'-'.join(self._elements)}")
        if self.search_job is not None and not self.search_job.finished:
            raise RuntimeError("a random search is still running: wait for it or stop it (explorer.search_job.cancel())")
        seed = len(self.searches) if seed is None else int(seed)
        self.searches.append({"formula": formula, "n": n, "seed": seed})
        kw = {k: v for k, v in self._hull_kw.items() if k not in ("candidates", "search", "seed", "derivatives")}
        model, elements = self._model, [el.symbol for el in Composition(formula).elements]

        def got(job: Job, steps: list) -> None:
            new = False
            for st in steps:
                new = merge_progress(self._found, self.failed, self._recorrected(st)) or new
                self._count_sources(job, st)
                self._search_line = f"search {html.escape(formula)} (seed {seed}): {st.done} / {st.total} final"
            if new:
                self._rebuild()
            if self._rebuild_error is None:
                self.status.value = self._search_line

        def done(job: Job) -> None:
            self._set_running(self.job is not None and not self.job.finished)
            if job.status == "error":
                show_error(self.status, self.errors, f"random search of {formula} failed", job.error, job.error_traceback)
            elif self._rebuild_error is None:
                found = sum(1 for e in self.entries if e.data.get("source") == "search" and e.data.get("seed") == seed
                            and e.composition.reduced_formula == formula)
                self.status.value = f"search {html.escape(formula)} (seed {seed}) {job.status}: {found} of {n} trials on the plot"

        self._search_line = f"searching {html.escape(formula)}…"
        self.status.value = self._search_line
        self.search_job = Job(lambda: iter_hull(elements, model, candidates=[], search={formula: n}, seed=seed, **kw), got, done,
                              rate=4).start()
        self._set_running(True)  # Stop reaches the search too
        return self.search_job
