"""Robot side: which action to execute at each control step, from chunks that arrive late and overlap.

A chunk predicted from the observation of step t0 proposes targets for steps t0, t0+1, ... t0+H-1.
The scheduler keeps every chunk that still covers the future:

- `wants_chunk(t)`: ask for the next chunk when fewer than `threshold` steps ahead are covered
  (asynchronous robots ask *before* running out, so the reply arrives while they keep moving).
- `add(t0, chunk)`: a reply that arrives at step t > t0 has its first t - t0 targets in the past;
  they are skipped, because the chunk stays aligned with the time of its observation.
- `action(t)`: the overlap of old and new chunks is merged. `merge="ensemble"`: the weighted mean
  of all proposals for step t with weights exp(-ensemble_w * i), i = 0 the oldest (ACT's temporal
  ensembling; ensemble_w = 0 is a plain mean). `merge="replace"`: the newest chunk wins.
- A control step is never left without an action. When no chunk covers t (a reply is late),
  `late="hold"` repeats the last target (a position-controlled arm stays where it was sent) and
  `late="extrapolate"` continues the last step's change for up to `max_extrapolate` steps, then
  holds. Such steps are reported as not fresh. Before the first chunk there is nothing to hold:
  `action` returns None and the caller keeps the robot still.
"""

from __future__ import annotations

import numpy as np

from egovla.client.ensemble import TemporalEnsemble

MERGES = ("ensemble", "replace")
LATE = ("hold", "extrapolate")


class ActionScheduler:
    def __init__(self, threshold: int, merge: str = "ensemble", ensemble_w: float = 0.1, late: str = "hold",
                 max_extrapolate: int = 5):
        if threshold < 0:
            raise ValueError(f"threshold: expected >= 0 steps, got {threshold}")
        if merge not in MERGES:
            raise ValueError(f"merge: expected one of {MERGES}, got {merge!r}")
        if late not in LATE:
            raise ValueError(f"late: expected one of {LATE}, got {late!r}")
        self.threshold, self.merge, self.late, self.max_extrapolate = threshold, merge, late, max_extrapolate
        self._ensemble = TemporalEnsemble(ensemble_w if merge == "ensemble" else 0.0)
        self.reset()

    def reset(self) -> None:
        self._ensemble.reset()
        self._end = 0              # first step no chunk covers
        self._last: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._late_steps = 0
        self.fresh_steps = self.late_steps = 0

    def remaining(self, t: int) -> int:
        """Steps from t on that some chunk covers."""
        return max(0, self._end - t)

    def wants_chunk(self, t: int) -> bool:
        return self.remaining(t) <= self.threshold

    def add(self, t0: int, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or not np.isfinite(chunk).all():
            raise ValueError(f"chunk: expected a finite (H, D) array, got shape {chunk.shape}")
        if self.merge == "replace":
            self._ensemble.reset()
        self._ensemble.add(t0, chunk)
        self._end = max(self._end, t0 + len(chunk)) if self.merge == "ensemble" else t0 + len(chunk)

    def action(self, t: int) -> tuple[np.ndarray | None, bool]:
        """(target for step t, fresh). fresh is False when the target was held or extrapolated."""
        try:
            target = self._ensemble.target(t)
        except ValueError:  # no chunk covers t
            target = None
        if target is not None:
            self._prev, self._last, self._late_steps = self._last, target, 0
            self.fresh_steps += 1
            return target, True
        if self._last is None:
            return None, False
        self.late_steps += 1
        self._late_steps += 1
        if self.late == "extrapolate" and self._prev is not None and self._late_steps <= self.max_extrapolate:
            step = self._last - self._prev
            self._prev, self._last = self._last, self._last + step
        return self._last, False
