"""Scripted demonstrations: Meta-World's expert policies (`egovla.sim.experts`), recorded as a LeRobot
v3 dataset.

Each episode is one (seed, layout) pair: episode e of a task runs on seed `seed + e // LAYOUTS`,
layout `e % LAYOUTS`, so a dataset is reproducible and evaluation can pick disjoint seeds. An
episode is recorded until the expert succeeds plus `settle_steps` more steps (or Meta-World's
500-step limit); failed episodes are dropped and counted.

Features written: `observation.images.<camera>` (video), `observation.state` and `action` (the 15
unified gripper dims, named; `action` at t is the state at t+1, so a window's chunk is the next H
poses), `action.raw` (Meta-World's 4-D action) and `observation.environment_state` (its 39-D
observation). `meta/metaworld.json` records the environment settings, camera poses and intrinsics,
each episode's seed/layout, and the expert's success rate per task.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from egovla import spaces
from egovla.sim.embodiment import GRIPPER_MASK
from egovla.sim.experts import EXPERTS, scripted_expert
from egovla.sim.metaworld_env import LAYOUTS, MAX_STEPS, EnvConfig, MetaWorldEnv
from egovla.sim.tasks import parse_tasks

STATE_NAMES = [n for n, keep in zip(spaces.names(), GRIPPER_MASK) if keep]
RAW_ACTION_NAMES = ["dx", "dy", "dz", "grip"]
SIDECAR = "meta/metaworld.json"
#: Meta-World's own 39-D observation per frame (object and goal positions: the auxiliary targets' source).
ENVIRONMENT_STATE = "observation.environment_state"


def episode_seed(base_seed: int, episode: int) -> tuple[int, int]:
    """Episode number -> (environment seed, layout)."""
    return base_seed + episode // LAYOUTS, episode % LAYOUTS


def default_workers() -> int:
    """One process per CPU core."""
    return max(1, os.cpu_count() or 1)


TASKS_HELP = ("mt10, mt50, demo (the demo's default set), articulated (its four articulated tasks) or comma-separated "
              "task names (push-v3,reach-v3)")


@dataclass
class CollectConfig:
    tasks: tuple[str, ...] = field(metadata={"help": TASKS_HELP, "parse": parse_tasks, "required": True,
                                             "metavar": "TASKS"})
    episodes: int = field(default=25, metadata={"help": "episodes tried per task; failures are dropped and reported",
                                                "metavar": "N"})
    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = field(default=0, metadata={"help": "first environment seed"})
    workers: int = field(default_factory=default_workers, metadata={"help": "processes running episodes (default: "
                                                                            "one per CPU core)", "metavar": "N"})
    task_episodes: tuple[str, ...] = field(default=(), metadata={
        "help": "episodes tried for some tasks instead of --episodes, TASK=N,... (e.g. reach-v3=100)",
        "metavar": "TASK=N"})
    settle_steps: int = field(default=10, metadata={"help": "steps recorded after the first success"})
    expert: str = field(default="tcp", metadata={
        "help": "scripted expert: 'tcp' (Meta-World's policies, reach aimed so the fingertip centre it scores lands "
                "on the goal), 'metaworld' (as shipped: reach stalls 4.5 cm off the goal)", "choices": EXPERTS})
    codec: str = field(default="h264", metadata={"help": "video codec", "choices": ("h264", "av1")})
    crf: int | None = field(default=0, metadata={
        "help": "video quality (0 with yuv444p: lossless; 'none': the codec's default, 23 for h264). Lossy video "
                "smears the few-pixel puck and goal marker at 64 px while evaluation sees crisp renders"})
    pix_fmt: str = field(default="yuv444p", metadata={"help": "yuv444p: full-resolution colour; yuv420p: halved",
                                                      "choices": ("yuv444p", "yuv420p")})

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes: expected >= 1, got {self.episodes}")
        if self.workers < 1:
            raise ValueError(f"workers: expected >= 1, got {self.workers}")
        self.episodes_per_task()  # raises for a malformed or foreign task_episodes entry

    def episodes_per_task(self) -> dict[str, int]:
        """Episodes tried per task: `episodes`, or the task's own count from `task_episodes`."""
        out = dict.fromkeys(self.tasks, self.episodes)
        for text in self.task_episodes:
            task, _, n = text.rpartition("=")
            if task not in out or not n.isdigit() or int(n) < 1:
                raise ValueError(f"task_episodes {text!r}: expected TASK=N with N >= 1 and TASK one of {list(out)}")
            out[task] = int(n)
        return out


def run_expert(env: MetaWorldEnv, layout: int, settle_steps: int, expert: str = "tcp") -> dict:
    """One episode of the `expert` (`egovla.sim.experts`); returns per-step arrays (T frames) and whether it
    succeeded."""
    obs = env.reset(layout)
    expert = scripted_expert(env, expert)
    frames = {c: [] for c in env.config.cameras}
    states, raws, actions = [], [], []
    success_at = None
    while env.steps < MAX_STEPS:
        for c in frames:
            frames[c].append(obs["images"][c])
        states.append(obs["state"][GRIPPER_MASK])
        raws.append(obs["raw"])
        action = np.clip(expert.get_action(obs["raw"]), -1, 1).astype(np.float32)
        actions.append(action)
        obs, success = env.step(action)
        if success and success_at is None:
            success_at = env.steps
        if success_at is not None and env.steps >= success_at + settle_steps:
            break
    states.append(obs["state"][GRIPPER_MASK])  # the pose after the last action: the last label
    states = np.stack(states).astype(np.float32)
    return {
        "frames": {c: np.stack(f) for c, f in frames.items()},
        "state": states[:-1], "action": states[1:], "raw_action": np.stack(actions),
        "raw_obs": np.stack(raws).astype(np.float32),
        "success": success_at is not None, "success_step": success_at,
    }


def _work(unit: tuple) -> list[dict]:
    """Worker: a run of episodes of one task on one seed (the environment is built once)."""
    task, seed, layouts, env_cfg, settle, expert = unit
    import torch

    torch.set_num_threads(1)
    out = []
    with MetaWorldEnv(task, seed, env_cfg) as env:
        camera = {c: {"T_world_camera": env.camera_pose(c).tolist(), "K": env.intrinsics(c).tolist()}
                  for c in env_cfg.cameras}
        for layout in layouts:
            t0 = time.perf_counter()
            ep = run_expert(env, layout, settle, expert)
            ep.update(task=task, seed=seed, layout=layout, instruction=env.instruction, camera=camera,
                      fps=env.fps, seconds=time.perf_counter() - t0)
            out.append(ep)
    return out


def episode_groups(tasks, episodes: int | dict[str, int], base_seed: int, per_group: int = 5) -> list[tuple]:
    """Work units (task, seed, [(episode, layout), ...]): runs of episodes sharing one environment; `episodes` is
    the count per task, the same for all or by task name."""
    groups = []
    for task in tasks:
        by_seed: dict[int, list] = {}
        for e in range(episodes[task] if isinstance(episodes, dict) else episodes):
            s, layout = episode_seed(base_seed, e)
            by_seed.setdefault(s, []).append((e, layout))
        for s, eps in by_seed.items():
            groups += [(task, s, eps[i:i + per_group]) for i in range(0, len(eps), per_group)]
    return groups


def _units(cfg: CollectConfig) -> list[tuple]:
    return [(task, s, [layout for _, layout in eps], cfg.env, cfg.settle_steps, cfg.expert)
            for task, s, eps in episode_groups(cfg.tasks, cfg.episodes_per_task(), cfg.seed)]


def map_units(fn, units: list, workers: int):
    """fn over units in order, in `workers` spawned processes (1: in this process)."""
    if workers == 1:
        yield from map(fn, units)
        return
    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(fn, units)


def collect(cfg: CollectConfig, out: str | Path, overwrite: bool = False, progress: bool = True) -> dict:
    """Run the experts and write the dataset at `out`; returns the collection summary."""
    from egovla.data.lerobot.format import vector_feature, video_feature
    from egovla.data.lerobot.writer import LeRobotWriter

    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; choose another --out or pass --overwrite")
    size = cfg.env.size
    features = {f"observation.images.{c}": video_feature(size, size) for c in cfg.env.cameras}
    features.update({
        "observation.state": vector_feature(len(STATE_NAMES), STATE_NAMES),
        "action": vector_feature(len(STATE_NAMES), STATE_NAMES),
        "action.raw": vector_feature(4, RAW_ACTION_NAMES),
        ENVIRONMENT_STATE: vector_feature(39),
    })
    fps = None
    episodes, attempts, camera = [], {t: 0 for t in cfg.tasks}, None
    kept = {t: 0 for t in cfg.tasks}
    steps = 0
    t0 = time.perf_counter()
    units = _units(cfg)
    bar = tqdm(total=sum(cfg.episodes_per_task().values()), desc="collect", unit="ep", disable=not progress)
    writer = None
    try:
        for result in map_units(_work, units, min(cfg.workers, len(units))):
            for ep in result:
                if writer is None:
                    fps = ep["fps"]
                    writer = LeRobotWriter(out, fps=round(fps), features=features, robot_type="sawyer",
                                           codec=cfg.codec, overwrite=overwrite, crf=cfg.crf, pix_fmt=cfg.pix_fmt)
                    camera = ep["camera"]
                attempts[ep["task"]] += 1
                steps += len(ep["state"])
                bar.update(1)
                if not ep["success"]:
                    continue
                data = {f"observation.images.{c}": f for c, f in ep["frames"].items()}
                data.update({"observation.state": ep["state"], "action": ep["action"],
                             "action.raw": ep["raw_action"], ENVIRONMENT_STATE: ep["raw_obs"]})
                index = writer.add_episode(data, task=ep["instruction"])
                kept[ep["task"]] += 1
                episodes.append({"index": index, "task": ep["task"], "seed": ep["seed"], "layout": ep["layout"],
                                 "length": len(ep["state"]), "success_step": ep["success_step"]})
            bar.set_postfix(kept=sum(kept.values()))
        if writer is None or not episodes:
            raise RuntimeError("collect: the experts succeeded in no episode; nothing to write")
        writer.finalize()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    summary = {
        "env": {**asdict(cfg.env), "cameras": list(cfg.env.cameras), "fps": fps},
        "camera": camera, "seed": cfg.seed, "settle_steps": cfg.settle_steps, "expert": cfg.expert,
        "success_rate": {t: kept[t] / attempts[t] for t in cfg.tasks},
        "episodes_kept": kept, "episodes_tried": attempts,
        "steps": steps, "seconds": wall, "steps_per_s": steps / wall, "episodes": episodes,
    }
    (out / SIDECAR).write_text(json.dumps(summary, indent=1))
    return summary


def load_sidecar(root: str | Path) -> dict:
    path = Path(root) / SIDECAR
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a Meta-World dataset written by `egovla collect metaworld`")
    return json.loads(path.read_text())
