"""Where a policy's failed episodes end: is the miss along the camera's ray (depth, which one view cannot show)
or across it (what the image shows)?

    python benchmarks/goal_misses.py --policy RUN [--task reach-v3] [--episodes 20] [--seed 1000]
                                     [--cameras corner] [--out FILE.json]

Runs closed-loop episodes with the loop's evaluation settings (`egovla demo`'s: 2 steps per chunk, ensembling,
the damped controller aimed 2 steps ahead) on unseen layouts, and at each episode's end splits the miss
between what Meta-World measures (the fingertips for reach, the object for push and pick-place) and the goal
into its component along the first camera's ray through the goal, its size across that ray, and the gap in
the image in pixels. Prints one line per episode and the failures' medians; --out writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", required=True, help="a run or policy folder from `egovla train` (or a loop's run/)")
    p.add_argument("--task", default="reach-v3")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=1000, help="first environment seed (1000: unseen by collection)")
    p.add_argument("--cameras", default="corner", help="the policy's views, comma-separated (the first is measured)")
    p.add_argument("--size", type=int, default=64, help="rendered image size")
    p.add_argument("--out", type=Path, default=None, help="also write the episodes as JSON")
    args = p.parse_args()

    from egovla.geometry import ray_miss
    from egovla.jobs.demo import FULL
    from egovla.sim.agents import PolicyAgent
    from egovla.sim.evaluate import episode_embodiment, run_episode
    from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv
    from egovla.sim.report import provenance

    cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
    env_cfg = EnvConfig(cameras=cameras, size=args.size)
    cfg = replace(FULL, eval_episodes=args.episodes).eval_config((args.task,), args.policy, env_cfg, 1,
                                                                 seed=args.seed, videos=0)
    measured = "tcp_position" if args.task.startswith("reach") else "object_position"
    rows = []
    with MetaWorldEnv(args.task, args.seed, env_cfg, episode_embodiment(cfg)) as env:
        agent = PolicyAgent(args.policy, env.fps)
        for layout in range(args.episodes):
            r = run_episode(env, agent, layout, cfg)
            goal, point = env.goal_position(), getattr(env, measured)()
            along, across, pixels = ray_miss(env.camera_pose(cameras[0]), env.intrinsics(cameras[0]), goal, point)
            rows.append({"layout": layout, "success": r["success"], "distance_m": r["goal_distance_m"],
                         "along_ray_m": along, "across_ray_m": across, "image_px": pixels})
            print(f"layout {layout:3d}  {'success' if r['success'] else 'failure'}  {100 * r['goal_distance_m']:5.1f} cm:"
                  f" {100 * along:+5.1f} cm along the ray, {100 * across:4.1f} cm across it ({pixels:4.1f} px)",
                  flush=True)
    failed = [r for r in rows if not r["success"]]
    summary = {"task": args.task, "policy": args.policy, "episodes": len(rows), "failures": len(failed)}
    if failed:
        summary.update({k: float(np.median([abs(r[k]) for r in failed]))
                        for k in ("distance_m", "along_ray_m", "across_ray_m", "image_px")})
        print(f"\n{len(failed)}/{len(rows)} failed; medians: {100 * summary['distance_m']:.1f} cm from the goal, "
              f"|{100 * summary['along_ray_m']:.1f}| cm along the ray, {100 * summary['across_ray_m']:.1f} cm across "
              f"it, {summary['image_px']:.1f} px in the {args.size} px image of {cameras[0]}")
    else:
        print(f"\nno failures in {len(rows)} episodes")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**summary, "rows": rows, **provenance()}, indent=2))


if __name__ == "__main__":
    main()
