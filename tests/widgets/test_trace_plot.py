"""TracePlot, Python side: only new rows are sent, the kept set is History's, late views get it all."""

from __future__ import annotations

import numpy as np
import pytest

from matwidgets.widgets.history import History
from matwidgets.widgets.trace_plot import TracePlot


def recorded(plot):
    sent = []
    plot.send = lambda content, buffers=None: sent.append((content, [np.frombuffer(b, dtype="f4") for b in buffers or []]))
    return sent


def test_flush_sends_new_rows_once_and_keeps_history():
    plot = TracePlot(["a", "b"], [{"title": "a and b", "traces": ["a", "b"]}], max_points=8)
    sent = recorded(plot)
    rows = [(t, t * 2.0, np.nan if t % 3 else -t) for t in range(50)]
    for k in range(0, 50, 7):
        plot.extend(rows[k : k + 7])
        plot.flush()
    assert plot.flush() == 0  # nothing new: nothing sent
    got = np.concatenate([b[0] for c, b in sent if c["type"] == "extend"]).reshape(-1, 3)
    np.testing.assert_array_equal(got, np.asarray(rows, dtype="f4"))  # every row, once, in order
    expected = History(8)
    expected.extend(rows)
    np.testing.assert_array_equal(plot.values("x"), [r[0] for r in expected.items])
    np.testing.assert_array_equal(plot.values("a"), [r[1] for r in expected.items])
    assert len(plot) == len(expected.items) <= 8 and plot.values("x")[-1] == 49


def test_hello_resets_late_views_and_sync_state():
    plot = TracePlot(["a"], [{"title": "a", "traces": ["a"]}], max_points=6)
    sent = recorded(plot)
    plot.extend((t, -t) for t in range(13))
    plot._on_msg(plot, {"type": "hello"}, [])
    extend, reset = sent[-2], sent[-1]
    assert extend[0] == {"type": "extend", "n": 13}  # pending rows go out first
    h = plot._history
    assert reset[0] == {"type": "reset", "stride": h.stride, "n_offered": 13, "n_kept": len(h._kept)}
    np.testing.assert_array_equal(reset[1][0].reshape(-1, 2)[:, 0], plot.values("x"))  # kept + the latest
    plot.sync_state()
    np.testing.assert_array_equal(np.frombuffer(plot.rows, dtype="f4").reshape(-1, 2)[:, 0], plot.values("x"))
    assert (plot.stride, plot.n_offered) == (h.stride, 13)
    plot.clear()
    assert len(plot) == 0 and plot.rows == b"" and sent[-1][0] == {"type": "clear"}


def test_bad_rows_and_panels_are_named():
    with pytest.raises(ValueError, match="not columns: \\['c'\\]"):
        TracePlot(["a"], [{"title": "x", "traces": ["a", "c"]}])
    plot = TracePlot(["a", "b"], [{"title": "x", "traces": ["a"]}])
    with pytest.raises(ValueError, match="x and 2 values"):
        plot.extend([(0.0, 1.0)])
