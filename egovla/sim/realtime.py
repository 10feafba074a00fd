"""A robot in real time: Meta-World stepped on a clock, its policy on a server across a network.

Every control tick (1/hz seconds of the clock) the robot pushes its camera frames, executes one
action and steps the simulator; the world does not wait for the network. Two ways to get chunks:

- `sync`: when `threshold` steps are left, the robot asks for the next chunk and blocks until it
  arrives. The ticks that pass meanwhile are still stepped (the arm holds its last target) but
  have no fresh action; the new chunk then runs from its first target.
- `async`: at the same point the robot sends the request and keeps executing what it has; the
  reply is aligned with the time of its observation and merged into the queue
  (`egovla.client.scheduler.ActionScheduler`). Steps with nothing queued hold (or extrapolate).

The clock (`egovla.client.clock`) is the wall clock by default (benchmarks: real waiting, real
network delays) or a `VirtualClock`, on which the link's delays and a modelled inference time
advance simulated seconds: ticks, fed shares and actions are then exact and repeatable, whatever
else the machine is doing (tests).

`fed` counts the ticks whose action came from a chunk; `fed / steps` is the share of control steps
that had a fresh action. An episode ends at the first success or after `max_steps` ticks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from egovla.client.clock import WallClock
from egovla.client.history import FrameHistory
from egovla.client.scheduler import ActionScheduler
from egovla.sim.metaworld_env import MetaWorldEnv

MODES = ("sync", "async")


@dataclass(frozen=True)
class ControlConfig:
    mode: str = "async"
    hz: float = 30.0
    threshold: int = 8          # ask for the next chunk when this many steps are left
    merge: str = "ensemble"
    ensemble_w: float = 0.1
    late: str = "hold"
    max_steps: int = 200

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {self.mode!r}")
        if not 0 < self.hz <= 1000 or self.max_steps < 1:
            raise ValueError("hz must be in (0, 1000] and max_steps >= 1")


async def control_episode(env: MetaWorldEnv, client, layout: int, cfg: ControlConfig, clock=None) -> dict:
    """One episode driven by an `AsyncPolicyClient` on `clock` (default: the wall clock); returns
    success and tick counts."""
    clock = clock or WallClock()
    obs = env.reset(layout)
    history = FrameHistory.from_metadata(client.metadata, fps=env.fps)
    scheduler = ActionScheduler(cfg.threshold, merge=cfg.merge, ensemble_w=cfg.ensemble_w, late=cfg.late)
    still = obs["state"].astype(np.float64)  # before the first chunk: stay where the arm is
    dt, start = 1.0 / cfg.hz, clock.now()
    pending, waits, t, success, fed = None, [], 0, False, 0
    prev_hand = obs["hand"]

    def step(target) -> None:
        nonlocal obs, success, t, prev_hand
        action = env.embodiment.command(still if target is None else target, env, obs, prev_hand)
        prev_hand = obs["hand"]
        obs, success = env.step(action)
        t += 1

    def request():
        return clock.send(client, history.observation(env.instruction, obs["state"], obs["state_mask"]))

    while t < cfg.max_steps and not success:
        history.push(obs["images"])
        if cfg.mode == "sync" and scheduler.wants_chunk(t):
            asked = clock.now()
            reply = await (await request()).result()
            waited = clock.now() - asked
            waits.append(waited)
            for _ in range(int(waited / dt + 1e-9)):  # ticks that passed while blocked
                if t >= cfg.max_steps or success:
                    break
                step(scheduler.action(t)[0])
                history.push(obs["images"])
            start = clock.now() - t * dt  # the clock goes on from here
            scheduler.add(t, reply["actions"])
        elif cfg.mode == "async":
            if pending is None and scheduler.wants_chunk(t):
                pending = (t, clock.now(), await request())
            if pending is not None and pending[2].done(clock.now()):
                t0, asked, reply = pending
                scheduler.add(t0, (await reply.result())["actions"])
                waits.append(clock.now() - asked)
                pending = None
        if t >= cfg.max_steps or success:
            break
        target, fresh = scheduler.action(t)
        fed += fresh
        step(target)
        await clock.sleep_until(start + t * dt)
    if pending is not None:
        await asyncio.wait_for(pending[2].result(), 10)
    return {"success": bool(success), "steps": t, "fed": fed, "requests": len(waits),
            "mean_wait_ms": 1000 * float(np.mean(waits)) if waits else 0.0}


async def _run(url: str, tasks, episodes: int, seed: int, cfg: ControlConfig, env_config, clock,
               token) -> list[dict]:
    from egovla.client.client import AsyncPolicyClient
    from egovla.sim.collect import episode_groups

    client = await AsyncPolicyClient.connect(url, token=token, link=clock.client_link())
    out = []
    try:
        for task, s, eps in episode_groups(tasks, episodes, seed):
            with MetaWorldEnv(task, s, env_config) as env:
                for e, layout in eps:
                    tic = time.perf_counter()
                    r = await control_episode(env, client, layout, cfg, clock)
                    r.update(task=task, episode=e, seconds=time.perf_counter() - tic)
                    out.append(r)
    finally:
        await client.close()
    return out


def run_control(url: str, tasks, episodes: int, cfg: ControlConfig, env_config, link=None, seed: int = 1000,
                token: str | None = None, clock=None) -> list[dict]:
    """Episodes of each task against a running server, one after another.

    On the wall clock (default), with `link` delaying every request for real; or on `clock`, e.g.
    `VirtualClock(Link(rtt_ms=100), infer_ms=10)`, in simulated time (then `link` must be None:
    the clock holds the link)."""
    if clock is not None and link is not None:
        raise ValueError("give the link to the clock (VirtualClock(link, ...)), not to run_control as well")
    clock = clock or WallClock(link)
    return asyncio.run(_run(url, tasks, episodes, seed, cfg, env_config, clock, token))
