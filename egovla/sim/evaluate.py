"""Closed-loop evaluation on Meta-World: success rates, a bar chart and rollout videos.

Episode e of a task runs on seed `seed + e // LAYOUTS`, layout `e % LAYOUTS` (as in collection), so
evaluating from seed 1000 while collecting from seed 0 keeps the layouts disjoint. Each chunk is
executed `execute` steps before the agent is asked again; with `ensemble_w` set, every prediction is
kept and overlapping chunks are averaged (see `egovla.client.ensemble`). An episode ends at its first
success or after `max_steps`.
"""

from __future__ import annotations

import json
import time
from dataclasses import MISSING, asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from egovla.sim import report
from egovla.sim.collect import TASKS_HELP, default_workers, episode_groups, map_units
from egovla.sim.embodiment import EMBODIMENTS
from egovla.client.ensemble import TemporalEnsemble
from egovla.data.mp4 import write_mp4
from egovla.sim.metaworld_env import MAX_STEPS, EnvConfig, MetaWorldEnv
from egovla.sim.tasks import parse_tasks

ORACLE = "oracle"
#: An object that rose this far (metres) above where it started was picked up (results: failed_with_object_lifted).
LIFTED_M = 0.02


def _f(default=MISSING, help: str = "", **meta):
    if default is MISSING:
        return field(metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


def _levers(text: str) -> tuple[str, ...]:
    from egovla.model.levers import parse_levers

    return tuple(parse_levers(text))


@dataclass
class EvalConfig:
    tasks: tuple[str, ...] = _f(help=TASKS_HELP, parse=parse_tasks, required=True, metavar="TASKS")
    policy: str = _f(ORACLE, "a run or policy folder from `egovla train`, or 'oracle' (the scripted expert as chunks)",
                     one_of="who", metavar="RUN_DIR")
    episodes: int = _f(20, "episodes per task", metavar="N")
    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = _f(1000, "first environment seed (collection starts at 0: disjoint layouts)")
    workers: int = field(default_factory=default_workers, metadata={
        "help": "processes running episodes (default: one per CPU core)", "metavar": "N"})
    max_steps: int = _f(MAX_STEPS, "step limit per episode", metavar="N")
    execute: int = _f(4, "steps of each chunk executed before asking again", metavar="K")
    ensemble_w: float | None = _f(None, "temporal ensembling of overlapping chunks with weights exp(-W*i) (default: "
                                  "off)", flag="--ensemble", metavar="W")
    horizon: int | None = _f(None, "use only the first N steps of each predicted chunk (default: all): it then "
                             "proposes targets for N steps, so with --ensemble a prediction keeps a say for N / K "
                             "requests", metavar="N")
    damping: float = _f(0.0, "controller velocity damping in control steps: steer p + d*v toward the target (the "
                        "replay check's PD controller; 0: steer the hand itself)", metavar="D")
    lookahead: int = _f(0, "aim at the chunk's target this many steps ahead, which cancels the damping's lag "
                        "(capped at the newest chunk's end)", metavar="K")
    videos: int = _f(1, "success and failure rollouts saved per task (0: none)", metavar="N")
    levers: tuple[str, ...] = _f((), "inference levers for a local --policy, e.g. cache,int8 (see `egovla bench "
                                 "--help`)", parse=_levers, metavar="L1,L2")
    server: str | None = _f(None, "evaluate the policy served by `egovla serve` at this ws://host:port instead",
                            one_of="who", metavar="URL")
    token: str | None = _f(None, "token for a --server started with --token (never written to results)",
                           env="EGOVLA_TOKEN", metavar="T")
    views: tuple[str, ...] | None = _f(None, "the environment cameras that feed the policy's views, in order (default: "
                                       "the cameras the run was trained on, by name; give them for data whose camera "
                                       "names are not Meta-World's, e.g. corner2 for LeRobot's observation.image)",
                                       metavar="C1,C2")
    embodiment: str = _f("gripper", "how chunks and states meet the simulator: 'gripper' (the unified space: wrist "
                         "and pad targets in the first camera's frame) or 'raw' (Meta-World's 4-D action and "
                         "observation[:4], as LeRobot's Meta-World data holds them)", choices=tuple(EMBODIMENTS))

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.workers < 1 or self.execute < 1:
            raise ValueError("episodes, workers and execute must be >= 1")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"horizon: expected >= 1 steps of each chunk, got {self.horizon}")
        if not 1 <= self.max_steps <= MAX_STEPS:
            raise ValueError(f"max_steps: expected 1..{MAX_STEPS}, got {self.max_steps}")
        if self.server and self.levers:
            raise ValueError("levers apply to a local policy; a served policy gets them from `egovla serve --levers`")
        if self.lookahead < 0 or not self.damping >= 0:
            raise ValueError(f"damping and lookahead must be >= 0, got {self.damping}, {self.lookahead}")
        if self.damping and self.embodiment != "gripper":
            raise ValueError("damping steers the gripper embodiment's position controller; the raw one has none")
        if self.embodiment not in EMBODIMENTS:
            raise ValueError(f"embodiment: expected one of {sorted(EMBODIMENTS)}, got {self.embodiment!r}")
        if self.embodiment == "raw" and self.policy == ORACLE and not self.server:
            raise ValueError("the oracle speaks the unified space; use --embodiment gripper with --policy oracle")


def frame_needed(step: int, next_request: int, cadence: int, frame_steps) -> bool:
    """Whether a chunk request at `next_request`, `next_request + cadence`, ... reads the frame of control step
    `step`, for an agent whose requests read the frames `frame_steps` steps before them (None: any frame)."""
    if frame_steps is None:
        return True
    return any(step + o >= next_request and (step + o - next_request) % cadence == 0 for o in frame_steps)


def run_episode(env: MetaWorldEnv, agent, layout: int, cfg: EvalConfig, record: bool = False) -> dict:
    """One closed-loop episode. Views are rendered only at the steps whose frames a chunk request will read
    (every step when `record`): with 2 steps executed per chunk and no history, every other step."""
    obs = env.reset(layout)
    agent.reset(env)
    ensemble = TemporalEnsemble(cfg.ensemble_w) if cfg.ensemble_w is not None else None
    frames, chunk, t0, success, infer_s = [], None, 0, False, 0.0
    frame_steps = None if record else getattr(agent, "frame_steps", None)
    prev_hand, closest = obs["hand"], float("inf")
    floor, rise = env.object_position()[2], 0.0  # how high the task's object got above where it started
    for t in range(cfg.max_steps):
        agent.observe(obs)
        if record:
            frames.append(np.concatenate([obs["images"][c] for c in env.config.cameras], axis=1))
        if chunk is None or t - t0 >= min(cfg.execute, len(chunk)):
            tic = time.perf_counter()
            chunk, t0 = agent.act(obs, env.instruction)[:cfg.horizon], t
            infer_s += time.perf_counter() - tic
            if ensemble is not None:
                ensemble.add(t, chunk)
        ahead = min(t + cfg.lookahead, t0 + len(chunk) - 1)  # the newest chunk covers up to t0 + H - 1
        target = ensemble.target(ahead) if ensemble is not None else chunk[ahead - t0]
        action = env.embodiment.command(target, env, obs, prev_hand)
        prev_hand = obs["hand"]
        cadence = min(cfg.execute, len(chunk))
        obs, success = env.step(action, render=frame_needed(t + 1, t0 + cadence, cadence, frame_steps))
        closest = min(closest, env.goal_distance)
        rise = max(rise, env.object_position()[2] - floor)
        if success:
            break
    if record:
        frames.append(np.concatenate([obs["images"][c] for c in env.config.cameras], axis=1))
    return {"success": bool(success), "steps": env.steps, "goal_distance_m": _metres(env.goal_distance),
            "closest_goal_distance_m": _metres(closest), "object_rise_m": _metres(rise), "infer_s": infer_s,
            "frames": frames if record else None}


def _metres(x: float) -> float | None:
    """A distance for results.json: 0.1 mm resolution, None where there is none (no step taken)."""
    return round(float(x), 4) if np.isfinite(x) else None


_AGENT = None


def _agent(cfg: EvalConfig, fps: float):
    """One agent per worker process, rebuilt when the policy (or its weights on disk) changed."""
    global _AGENT
    key = (cfg.policy, cfg.levers, cfg.server, cfg.views)
    if cfg.server is None and cfg.policy != ORACLE:
        weights = sorted(Path(cfg.policy).rglob("model.safetensors"))
        key += tuple((str(w), w.stat().st_mtime_ns) for w in weights)
    if _AGENT is None or _AGENT[0] != key:
        if _AGENT is not None and hasattr(_AGENT[1], "close"):
            _AGENT[1].close()
        if cfg.server is not None:
            from egovla.sim.agents import RemoteAgent

            _AGENT = (key, RemoteAgent(cfg.server, fps, token=cfg.token, views=cfg.views))
        elif cfg.policy == ORACLE:
            from egovla.sim.agents import ExpertOracle

            _AGENT = (key, ExpertOracle())
        else:
            from egovla.sim.agents import PolicyAgent

            _AGENT = (key, PolicyAgent(cfg.policy, fps, levers=cfg.levers, views=cfg.views))
    return _AGENT[1]


def episode_embodiment(cfg: EvalConfig):
    """The embodiment `cfg`'s episodes run with: its kind, with the controller's damping where set."""
    embodiment = EMBODIMENTS[cfg.embodiment]()
    return replace(embodiment, damping=cfg.damping) if cfg.damping else embodiment


def _work(unit: tuple) -> list[dict]:
    task, seed, episodes, cfg = unit
    import torch

    torch.set_num_threads(1)
    out, kept = [], {True: 0, False: 0}
    with MetaWorldEnv(task, seed, cfg.env, episode_embodiment(cfg)) as env:
        agent = _agent(cfg, env.fps)
        for e, layout in episodes:
            t0 = time.perf_counter()
            r = run_episode(env, agent, layout, cfg, record=cfg.videos > 0)
            if r["frames"] is not None and kept[r["success"]] < cfg.videos:
                kept[r["success"]] += 1
            else:
                r["frames"] = None
            r.update(task=task, episode=e, seed=seed, layout=layout, seconds=time.perf_counter() - t0)
            out.append(r)
    return out


def _units(cfg: EvalConfig) -> list[tuple]:
    return [(task, s, eps, cfg) for task, s, eps in episode_groups(cfg.tasks, cfg.episodes, cfg.seed)]


def evaluate(cfg: EvalConfig, out: str | Path, progress: bool = True) -> dict:
    """Run every episode, then write results.json, success.png and rollout videos under `out`."""
    out = Path(out)
    if cfg.server is None and cfg.policy != ORACLE and not Path(cfg.policy).exists():
        raise FileNotFoundError(f"--policy {cfg.policy}: no such run or policy folder")
    out.mkdir(parents=True, exist_ok=True)
    units = _units(cfg)
    prov = report.provenance()  # the code and machine as the run starts (the tree may move on while it runs)
    results, videos = [], []
    saved = {(t, s): 0 for t in cfg.tasks for s in (True, False)}
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.episodes * len(cfg.tasks), desc="eval", unit="ep", disable=not progress)
    for batch in map_units(_work, units, min(cfg.workers, len(units))):
        for r in batch:
            frames = r.pop("frames")
            if frames is not None and saved[(r["task"], r["success"])] < cfg.videos:
                saved[(r["task"], r["success"])] += 1
                name = f"{r['task']}_ep{r['episode']}_{'success' if r['success'] else 'failure'}.mp4"
                write_mp4(out / "videos" / name, frames, fps=20, min_height=256)
                videos.append(str(Path("videos") / name))
            results.append(r)
            bar.update(1)
        done = sum(r["success"] for r in results)
        bar.set_postfix(success=f"{done}/{len(results)}")
    bar.close()
    wall = time.perf_counter() - t0
    summary = summarize(results, cfg, wall, prov)
    summary["videos"] = sorted(videos)
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    plot_success(summary, out / "success.png")
    return summary


def summarize(results: list[dict], cfg: EvalConfig, wall: float, provenance: dict) -> dict:
    """results.json: per task success with its Wilson 95% interval, MT50 difficulty groups, the mean, every
    episode (task, episode, seed, layout, success, steps, the final and the closest goal distance, how high the
    task's object rose), the settings, and what produced them."""
    tasks = {}
    for task in cfg.tasks:
        rs = [r for r in results if r["task"] == task]
        ok = [r for r in rs if r["success"]]
        failed = [r["goal_distance_m"] for r in rs if not r["success"] and r["goal_distance_m"] is not None]
        tasks[task] = {**report.rate_with_interval(len(ok), len(rs)),
                       "mean_steps_to_success": float(np.mean([r["steps"] for r in ok])) if ok else None,
                       # how far the failures ended from their goal (Meta-World's obj_to_target, metres)
                       "failed_median_goal_distance_m": float(np.median(failed)) if failed else None,
                       # failures after a grasp: the object rose LIFTED_M or more (pick-place, peg-insert-side)
                       "failed_with_object_lifted": sum(not r["success"] and r["object_rise_m"] >= LIFTED_M
                                                        for r in rs)}
    steps = sum(r["steps"] for r in results)
    infer = sum(r["infer_s"] for r in results)
    config = {**asdict(cfg), "env": {**asdict(cfg.env), "cameras": list(cfg.env.cameras)}, "tasks": list(cfg.tasks),
              "levers": list(cfg.levers), "token": None}
    n_ok = sum(r["success"] for r in results)
    return {
        "mean_success_rate": float(np.mean([t["success_rate"] for t in tasks.values()])),
        "pooled": report.rate_with_interval(n_ok, len(results)),
        "tasks": tasks, "difficulty": report.by_difficulty(tasks), "episodes": len(results), "steps": steps,
        "seconds": wall, "steps_per_s": steps / wall, "agent_seconds_per_step": infer / max(steps, 1),
        "config": config, "provenance": provenance,
        "per_episode": [{k: r[k] for k in ("task", "episode", "seed", "layout", "success", "steps", "goal_distance_m",
                                           "closest_goal_distance_m", "object_rise_m")} for r in results],
    }


def format_success_table(summary: dict) -> str:
    """Per task (and MT50 difficulty group) success with its Wilson 95% interval, then the mean."""
    return report.format_table(summary)


def plot_success(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["tasks"])
    rates = [100 * summary["tasks"][t]["success_rate"] for t in names]
    lows = [100 * summary["tasks"][t]["wilson95"][0] for t in names]
    highs = [100 * summary["tasks"][t]["wilson95"][1] for t in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.6))
    ax.bar(range(len(names)), rates, color="tab:blue",
           yerr=np.maximum(0.0, [np.subtract(rates, lows), np.subtract(highs, rates)]), capsize=3, ecolor="0.3")
    ax.set_xticks(range(len(names)), [n.removesuffix("-v3") for n in names], rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("success %")
    ax.set_title(f"Meta-World closed loop: mean {100 * summary['mean_success_rate']:.0f}% "
                 f"({summary['tasks'][names[0]]['episodes']} episodes/task; bars: Wilson 95%)", fontsize=9)
    for i, r in enumerate(rates):
        ax.text(i, r + 1, f"{r:.0f}", ha="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
