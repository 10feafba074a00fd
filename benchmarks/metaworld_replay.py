"""The replay check per task: the expert's success against its own labels replayed through the embodiment.

    python benchmarks/metaworld_replay.py [--tasks mt10|demo|T1,T2] [--episodes 10] [--size 32] [--workers 2]
                                          [--lookahead 2] [--damping 2.0]

For each task and episode (seed 0, layouts 0..N-1), Meta-World's scripted expert runs and is
recorded as `egovla collect metaworld` records it; then the recorded unified labels (future
end-effector poses in the camera frame + fingertip opening) are executed through the gripper
embodiment from the same start. Prints one markdown table (expert and replay success per task,
steps) and the wall time. No learning is involved: a gap here is a gap in the action space or the
controller. `--lookahead` and `--damping` set the replay controller (defaults: `REPLAY_LOOKAHEAD`,
`REPLAY_DAMPING` of `egovla.sim.replay`); `--lookahead 0 --damping 0` is the plain position controller.
"""

from __future__ import annotations

import argparse
import time

from egovla.sim.collect import map_units
from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv
from egovla.sim.replay import REPLAY_DAMPING, REPLAY_LOOKAHEAD, expert_then_replay
from egovla.sim.tasks import parse_tasks


def _work(unit):
    task, episodes, size, lookahead, damping = unit
    import torch

    torch.set_num_threads(1)
    with MetaWorldEnv(task, 0, EnvConfig(size=size)) as env:
        return task, [expert_then_replay(env, layout, lookahead=lookahead, damping=damping)
                      for layout in range(episodes)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="mt10")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--lookahead", type=int, default=REPLAY_LOOKAHEAD, help="labels ahead that replay aims at")
    p.add_argument("--damping", type=float, default=REPLAY_DAMPING, help="controller velocity damping (steps)")
    args = p.parse_args()
    t0 = time.perf_counter()
    units = [(t, args.episodes, args.size, args.lookahead, args.damping) for t in parse_tasks(args.tasks)]
    print(f"replay controller: lookahead {args.lookahead}, damping {args.damping}\n")
    print("| task | expert | replay | expert steps | replay steps |\n|---|---:|---:|---:|---:|")
    tot_e = tot_r = 0
    for task, rs in map_units(_work, units, min(args.workers, len(units))):
        e = sum(r["expert"] for r in rs)
        r_ = sum(r["replay"] for r in rs)
        tot_e, tot_r = tot_e + e, tot_r + r_
        es = sum(r["expert_steps"] for r in rs) / len(rs)
        ok = [r["replay_steps"] for r in rs if r["replay"]]
        print(f"| {task} | {e}/{len(rs)} | {r_}/{len(rs)} | {es:.0f} | {sum(ok) / max(len(ok), 1):.0f} |", flush=True)
    n = len(units) * args.episodes
    print(f"| **all** | {tot_e}/{n} | {tot_r}/{n} | | |")
    print(f"\nwall time {time.perf_counter() - t0:.0f} s ({args.episodes} episodes per task, {args.size} px)")


if __name__ == "__main__":
    main()
