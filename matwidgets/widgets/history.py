"""A bounded, evenly thinned history of a run (frames, plotted points)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class History:
    """Keeps at most ``max_len`` of the items offered, evenly spaced over the whole run.

    When full, every other kept item is dropped and new items are then kept at half
    the rate, so what stays spans the run from its first item with a uniform stride;
    the latest item is always kept too (the end of a run). Appending is amortised O(1).
    """

    def __init__(self, max_len: int):
        if max_len < 4:
            raise ValueError(f"a history keeps at least 4 items, got max_len={max_len}")
        self.max_len = max_len
        self.clear()

    def clear(self) -> None:
        self._kept: list = []  # items whose offer count is a multiple of stride
        self._latest: Any = None
        self.stride = 1
        self.n_offered = 0

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            if self.n_offered % self.stride == 0:
                self._kept.append(item)
                if len(self._kept) >= self.max_len:  # one place stays free for the latest item
                    self._kept = self._kept[::2]
                    self.stride *= 2
            self._latest = item
            self.n_offered += 1

    @property
    def items(self) -> list:
        """The kept items in order, ending with the latest one offered."""
        if self._latest is None or (self._kept and self._kept[-1] is self._latest):
            return list(self._kept)
        return [*self._kept, self._latest]

    def __len__(self) -> int:
        return len(self.items)
