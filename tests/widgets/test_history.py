"""History: bounded, evenly thinned, spans the run, keeps the latest item."""

from __future__ import annotations

import numpy as np
import pytest

from matwidgets.widgets.history import History


@pytest.mark.parametrize("n", [1, 3, 10, 11, 99, 100, 1000, 12345])
def test_bounded_even_and_spanning(n):
    h = History(10)
    for k in range(n):
        h.extend([k])
        assert len(h) <= 10
    kept = h.items
    assert kept[0] == 0 and kept[-1] == n - 1  # the whole run, from its start to the latest
    if n > 10:
        assert len(kept) >= 5  # thinning halves, never empties
    gaps = np.diff(kept[:-1])
    assert len(set(gaps)) <= 1  # evenly spaced
    if len(gaps):
        assert gaps[0] == h.stride
    assert kept == sorted(set(kept))


def test_chunks_and_clear():
    h = History(8)
    h.extend(range(1000))
    one_by_one = History(8)
    for k in range(1000):
        one_by_one.extend([k])
    assert h.items == one_by_one.items
    h.clear()
    assert h.items == [] and h.stride == 1
    with pytest.raises(ValueError):
        History(2)
