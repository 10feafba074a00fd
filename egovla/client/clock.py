"""Clocks for a robot's control loop: the wall clock, or simulated time for tests and analyses.

A control loop asks its clock for `now()`, sleeps with `sleep_until(t)`, and sends each chunk
request through `send(client, observation)`, which returns a `Pending` reply:

- `WallClock(link)`: asyncio's clock. The loop really waits for its ticks, the request really
  travels (the link's delays are real sleeps) and the reply is ready when it has arrived.
- `VirtualClock(link, infer_ms)`: simulated seconds that pass only when the loop sleeps to its next
  tick or waits for a reply. A request is answered at once (through the real client and server),
  and its reply *arrives* `uplink + infer_ms + downlink` simulated seconds after it was sent, with
  the link's seeded delays. How long the forward pass took on this machine plays no part, so a
  loop run on a virtual clock gives the same ticks, the same fed share and the same actions on an
  idle and on a busy machine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from egovla.client.link import Link


class Pending:
    """A reply on its way: `done(now)` says whether it has arrived; `await result()` waits for it."""

    def done(self, now: float) -> bool:
        raise NotImplementedError

    async def result(self) -> dict:
        raise NotImplementedError


class _Task(Pending):
    def __init__(self, task: asyncio.Future):
        self.task = task

    def done(self, now: float) -> bool:
        return self.task.done()

    async def result(self) -> dict:
        return await self.task


class _Scheduled(Pending):
    def __init__(self, clock: VirtualClock, reply: dict, arrives: float):
        self.clock, self.reply, self.arrives = clock, reply, arrives

    def done(self, now: float) -> bool:
        return now >= self.arrives

    async def result(self) -> dict:
        await self.clock.sleep_until(self.arrives)
        return self.reply


class WallClock:
    """Real time. The link (if any) is applied by the client it is given to."""

    def __init__(self, link: Link | None = None):
        self.link = link

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.now()))

    def client_link(self) -> Link | None:
        """The link a client talking on this clock should apply itself."""
        return self.link

    async def send(self, client: Any, observation: dict) -> Pending:
        return _Task(asyncio.ensure_future(client.infer(observation)))


class VirtualClock:
    """Simulated time, starting at 0. `infer_ms` is the modelled server time of one request."""

    def __init__(self, link: Link | None = None, infer_ms: float = 0.0):
        if not infer_ms >= 0:
            raise ValueError(f"infer_ms: expected >= 0, got {infer_ms}")
        self.link, self.infer_s, self.t = link, infer_ms / 1000, 0.0

    def now(self) -> float:
        return self.t

    async def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)
        await asyncio.sleep(0)

    def client_link(self) -> Link | None:
        return None  # the link's delays are simulated here, not slept by the client

    async def send(self, client: Any, observation: dict) -> Pending:
        sent = self.t
        reply = await client.infer(observation)
        delay = self.infer_s
        if self.link is not None:
            delay += self.link.uplink() + self.link.downlink()
        return _Scheduled(self, reply, sent + delay)
