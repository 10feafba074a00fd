"""A robot in real time: Meta-World stepped on a wall clock, its policy on a server across a network.

Every control tick (1/hz seconds of wall time) the robot pushes its camera frames, executes one
action and steps the simulator; the world does not wait for the network. Two ways to get chunks:

- `sync`: when `threshold` steps are left, the robot asks for the next chunk and blocks until it
  arrives. The ticks that pass meanwhile are still stepped (the arm holds its last target) but
  have no fresh action; the new chunk then runs from its first target.
- `async`: at the same point the robot sends the request and keeps executing what it has; the
  reply is aligned with the time of its observation and merged into the queue
  (`egovla.serve.scheduler.ActionScheduler`). Steps with nothing queued hold (or extrapolate).

`fed` counts the ticks whose action came from a chunk; `fed / steps` is the share of control steps
that had a fresh action. An episode ends at the first success or after `max_steps` ticks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from egovla.serve.history import FrameHistory
from egovla.serve.scheduler import ActionScheduler
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


async def control_episode(env: MetaWorldEnv, client, layout: int, cfg: ControlConfig) -> dict:
    """One episode driven by an `AsyncPolicyClient` in real time; returns success and tick counts."""
    obs = env.reset(layout)
    history = FrameHistory.from_metadata(client.metadata, fps=env.fps)
    scheduler = ActionScheduler(cfg.threshold, merge=cfg.merge, ensemble_w=cfg.ensemble_w, late=cfg.late)
    T_world_cam = env.camera_pose(env.config.cameras[0])
    still = obs["state"].astype(np.float64)  # before the first chunk: stay where the arm is
    loop = asyncio.get_running_loop()
    dt, start = 1.0 / cfg.hz, loop.time()
    pending, waits, t, success, fed = None, [], 0, False, 0
    prev_hand = obs["hand"]

    def step(target) -> None:
        nonlocal obs, success, t, prev_hand
        action = env.embodiment.action(still if target is None else target, T_world_cam, obs["hand"], obs["grip"],
                                       obs["hand"] - prev_hand)
        prev_hand = obs["hand"]
        obs, success = env.step(action)
        t += 1

    def request():
        return client.infer(history.observation(env.instruction, obs["state"], obs["state_mask"]))

    while t < cfg.max_steps and not success:
        history.push(obs["images"])
        if cfg.mode == "sync" and scheduler.wants_chunk(t):
            asked = loop.time()
            reply = await request()
            waits.append(loop.time() - asked)
            for _ in range(int((loop.time() - asked) / dt)):  # ticks that passed while blocked
                if t >= cfg.max_steps or success:
                    break
                step(scheduler.action(t)[0])
                history.push(obs["images"])
            start = loop.time() - t * dt  # the clock goes on from here
            scheduler.add(t, reply["actions"])
        elif cfg.mode == "async":
            if pending is None and scheduler.wants_chunk(t):
                pending = (t, loop.time(), asyncio.ensure_future(request()))
            if pending is not None and pending[2].done():
                t0, asked, task = pending
                scheduler.add(t0, task.result()["actions"])
                waits.append(loop.time() - asked)
                pending = None
        if t >= cfg.max_steps or success:
            break
        target, fresh = scheduler.action(t)
        fed += fresh
        step(target)
        await asyncio.sleep(max(0.0, start + t * dt - loop.time()))
    if pending is not None:
        await asyncio.wait([pending[2]], timeout=10)
    return {"success": bool(success), "steps": t, "fed": fed, "requests": len(waits),
            "mean_wait_ms": 1000 * float(np.mean(waits)) if waits else 0.0}


async def _run(url: str, tasks, episodes: int, seed: int, cfg: ControlConfig, env_config, link, token) -> list[dict]:
    from egovla.serve.client import AsyncPolicyClient
    from egovla.sim.collect import episode_groups

    client = await AsyncPolicyClient.connect(url, token=token, link=link)
    out = []
    try:
        for task, s, eps in episode_groups(tasks, episodes, seed):
            with MetaWorldEnv(task, s, env_config) as env:
                for e, layout in eps:
                    tic = time.perf_counter()
                    r = await control_episode(env, client, layout, cfg)
                    r.update(task=task, episode=e, seconds=time.perf_counter() - tic)
                    out.append(r)
    finally:
        await client.close()
    return out


def run_control(url: str, tasks, episodes: int, cfg: ControlConfig, env_config, link=None, seed: int = 1000,
                token: str | None = None) -> list[dict]:
    """Episodes of each task against a running server, one after another, in real time."""
    return asyncio.run(_run(url, tasks, episodes, seed, cfg, env_config, link, token))
