"""A simulated edge-server network link: round-trip latency and jitter for tests and benchmarks.

`Link(rtt_ms=100, jitter_ms=20)` delays each direction by rtt/2 plus a uniform +-jitter/2 (seeded),
so a round trip lasts rtt +- jitter on top of the real transport and inference. The clients in
`egovla.client.client` wait `uplink()` before sending and `downlink()` after receiving (the
blocking client through `link.sleep`, the asyncio client with `asyncio.sleep`); a virtual clock
(`egovla.client.clock.VirtualClock`) adds the same delays to simulated time instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Link:
    rtt_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)  # blocking waits
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.rtt_ms) and self.rtt_ms >= 0 and np.isfinite(self.jitter_ms) and self.jitter_ms >= 0):
            raise ValueError(f"link: rtt_ms and jitter_ms must be finite and >= 0, got {self.rtt_ms}, {self.jitter_ms}")
        self._rng = np.random.default_rng(self.seed)

    def _one_way(self) -> float:
        jitter = self._rng.uniform(-0.5, 0.5) * self.jitter_ms if self.jitter_ms else 0.0
        return max(0.0, self.rtt_ms / 2 + jitter) / 1000

    def uplink(self) -> float:
        """Seconds to wait before a request leaves the robot."""
        return self._one_way()

    def downlink(self) -> float:
        """Seconds to wait after a reply arrived, before the robot may use it."""
        return self._one_way()
