"""Decoded frames kept in memory: each episode's camera decoded once, at the training size, and reused.

A training window reads a handful of frames of one episode; over an epoch every frame of a small
dataset is read many times, and decoding is most of what loading costs. `FrameCache(budget_mb)`
keeps whole episodes (per camera, already resized) and evicts the least recently used past the
budget; an episode larger than the budget is decoded window by window as without a cache. Each
DataLoader worker has its own cache (a pickled cache arrives empty).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class FrameCache:
    def __init__(self, budget_mb: float):
        self.budget = int(budget_mb * 2**20)
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0

    def __getstate__(self):
        return {"budget": self.budget, "_items": OrderedDict(), "bytes": 0, "hits": 0, "misses": 0}

    def frames(self, key: tuple, length: int, frame_bytes: int, idx: np.ndarray,
               decode: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Frames `idx` of the episode `key` (`length` frames of `frame_bytes` each); `decode(indices)`
        decodes and resizes frames."""
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key][idx]
        self.misses += 1
        size = length * frame_bytes
        if size > self.budget:
            return decode(idx)
        episode = decode(np.arange(length))
        while self._items and self.bytes + size > self.budget:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.nbytes
        self._items[key] = episode
        self.bytes += episode.nbytes
        return episode[idx]
