"""Closed-loop evaluation speed: every view rendered at every step (before) vs only the frames that chunk requests
read (now), in one run, same policy, same episodes.

    python benchmarks/eval_speed.py --policy RUN_DIR [--tasks demo] [--episodes 5] [--repeats 2]

One process with one torch thread (as each evaluation worker has), the demo's closed-loop settings (64 px corner
view, 2 steps executed per chunk, ensembling 0.1, damped controller). The rows alternate `--repeats` times and each
reports its median; the per-episode results of both rows must be the same (rendering never changes the simulation),
which the script checks. Prints steps/s per row, the speed-up, and where a step's time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")


def run(policy: str, tasks: tuple[str, ...], episodes: int, every_step: bool, out: Path) -> dict:
    import egovla.sim.evaluate as evaluate_mod
    from egovla.sim.evaluate import EvalConfig, evaluate
    from egovla.sim.metaworld_env import EnvConfig

    kept = evaluate_mod.frame_needed
    if every_step:
        evaluate_mod.frame_needed = lambda *a: True
    try:
        cfg = EvalConfig(tasks=tasks, policy=policy, episodes=episodes, env=EnvConfig(cameras=("corner",), size=64),
                         workers=1, max_steps=200, execute=2, ensemble_w=0.1, damping=2.0, lookahead=2, videos=0)
        t0 = time.perf_counter()
        s = evaluate(cfg, out, progress=False)
        wall = time.perf_counter() - t0
    finally:
        evaluate_mod.frame_needed = kept
    return {"steps": s["steps"], "wall_s": wall, "steps_per_s": s["steps"] / wall,
            "agent_s_per_step": s["agent_seconds_per_step"],
            "episodes": [(e["task"], e["episode"], e["success"], e["steps"]) for e in s["per_episode"]]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", required=True, help="a run or policy folder from `egovla train` (Meta-World data)")
    p.add_argument("--tasks", default="demo", help="task set or names (default: the demo's four)")
    p.add_argument("--episodes", type=int, default=5, help="episodes per task per row")
    p.add_argument("--repeats", type=int, default=2, help="times each row runs (median reported)")
    args = p.parse_args()
    import torch

    from egovla.sim.tasks import parse_tasks

    torch.set_num_threads(1)
    tasks = parse_tasks(args.tasks)
    rows: dict[str, list[dict]] = {"every step rendered": [], "frames read only": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for name in rows:
                r = run(args.policy, tasks, args.episodes, name.startswith("every"), Path(tmp) / f"{rep}-{len(name)}")
                rows[name].append(r)
                print(f"[{rep + 1}/{args.repeats}] {name:<20} {r['steps_per_s']:6.1f} steps/s ({r['wall_s']:.0f} s)",
                      flush=True)
    results = [r for rs in rows.values() for r in rs]
    if any(r["episodes"] != results[0]["episodes"] for r in results):
        raise SystemExit("the rows' episodes differ: skipping renders changed what the policy saw")
    print(f"\n{len(tasks)} tasks x {args.episodes} episodes, {results[0]['steps']} control steps per row; "
          "identical episodes in every row")
    base = None
    for name, rs in rows.items():
        rate = statistics.median(r["steps_per_s"] for r in rs)
        base = base or rate
        agent = statistics.median(r["agent_s_per_step"] for r in rs)
        print(f"{name:<20} {rate:6.1f} steps/s  {rate / base:.2f}x   policy {1e3 * agent:.1f} ms of "
              f"{1e3 / rate:.1f} ms per step")


if __name__ == "__main__":
    main()
