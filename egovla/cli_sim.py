"""`egovla collect metaworld` and `egovla eval metaworld`: the simulation half of the command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

TASKS_HELP = "mt10, mt50, demo (the demo's default set) or comma-separated task names (push-v3,reach-v3)"


def _env_args(p: argparse.ArgumentParser, size: int) -> None:
    p.add_argument("--cameras", default="corner", metavar="C1,C2",
                   help="views to render (topview, corner, corner2, corner3, corner4, behindGripper, gripperPOV); "
                        "the first one is the camera frame of states and actions (default: corner)")
    p.add_argument("--size", type=int, default=size, metavar="PX", help=f"square image size (default {size})")
    p.add_argument("--fovy", type=float, default=32.0, metavar="DEG",
                   help="vertical field of view given to the chosen cameras; 0 keeps Meta-World's (default 32)")
    p.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1), metavar="N",
                   help="processes running episodes (default: one per CPU core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parsers(sub) -> None:
    collect = sub.add_parser("collect", help="record scripted demonstrations as a LeRobot dataset",
                             description="Record demonstrations in simulation as a LeRobot v3 dataset.")
    csub = collect.add_subparsers(dest="sim", metavar="SIM", required=True)
    c = csub.add_parser(
        "metaworld", help="Meta-World's scripted experts",
        description="Run Meta-World's scripted expert on each task, keep the successful episodes and write them as a "
                    "LeRobot v3 dataset: camera videos, observation.state and action in the unified space (the "
                    "end-effector as the right wrist in the first camera's frame, the finger pads as thumb and index "
                    "tips; action at t is the pose at t+1), Meta-World's raw 4-D action (action.raw) and 39-D "
                    "observation. Episode e uses seed SEED + e // 50 and object layout e % 50. Prints the expert's "
                    "success rate per task; meta/metaworld.json records it with the seeds and camera poses.")
    c.add_argument("--tasks", required=True, metavar="TASKS", help=TASKS_HELP)
    c.add_argument("--episodes", type=int, default=25, metavar="N", help="episodes tried per task (default 25)")
    c.add_argument("--out", type=Path, required=True, metavar="DATASET", help="the dataset folder to write")
    c.add_argument("--seed", type=int, default=0, help="first environment seed (default 0)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    _env_args(c, size=128)

    ev = sub.add_parser("eval", help="evaluate a policy closed-loop in simulation",
                        description="Evaluate a policy closed-loop in simulation.")
    esub = ev.add_subparsers(dest="sim", metavar="SIM", required=True)
    e = esub.add_parser(
        "metaworld", help="Meta-World tasks",
        description="Run closed-loop episodes of a trained policy (a run folder from `egovla train`, or its policy/ "
                    "folder), of a policy served by `egovla serve` (--server ws://host:port: the same numbers as "
                    "the local run) or of the scripted oracle (`--policy oracle`: the expert's moves as chunks). "
                    "Episodes start at --seed (default 1000, disjoint from collection's 0) and end at the first "
                    "success or after --max-steps. Writes results.json (success rate per task and mean, steps/s), "
                    "success.png and, per task, MP4s of a success and a failure under videos/.")
    who = e.add_mutually_exclusive_group(required=True)
    who.add_argument("--policy", metavar="RUN_DIR", help="run or policy folder, or 'oracle'")
    who.add_argument("--server", metavar="URL",
                     help="evaluate the policy served by `egovla serve` at this ws://host:port instead")
    e.add_argument("--token", default=os.environ.get("EGOVLA_TOKEN") or None, metavar="T",
                   help="token for a --server started with --token (default: $EGOVLA_TOKEN)")
    e.add_argument("--levers", default="", metavar="L1,L2",
                   help="inference levers for a local --policy, e.g. cache,int8 (see `egovla bench --help`)")
    e.add_argument("--tasks", required=True, metavar="TASKS", help=TASKS_HELP)
    e.add_argument("--episodes", type=int, default=20, metavar="N", help="episodes per task (default 20)")
    e.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for results, plot and videos")
    e.add_argument("--seed", type=int, default=1000, help="first environment seed (default 1000)")
    e.add_argument("--max-steps", type=int, default=500, metavar="N", help="step limit per episode (default 500)")
    e.add_argument("--execute", type=int, default=4, metavar="K", help="steps of each chunk executed (default 4)")
    e.add_argument("--ensemble", type=float, default=None, metavar="W",
                   help="temporal ensembling of overlapping chunks with weights exp(-W*i) (default: off)")
    e.add_argument("--videos", type=int, default=1, metavar="N",
                   help="success and failure rollouts saved per task (default 1 each; 0: none)")
    _env_args(e, size=128)


def _env_config(args: argparse.Namespace):
    from egovla.sim.metaworld_env import EnvConfig

    return EnvConfig(cameras=tuple(c.strip() for c in args.cameras.split(",") if c.strip()), size=args.size,
                     fovy=args.fovy or None)


def print_success_table(summary: dict) -> None:
    print(f"{'task':<28} {'success':>8} {'episodes':>9}")
    for task, r in summary["tasks"].items():
        print(f"{task:<28} {100 * r['success_rate']:>7.0f}% {r['episodes']:>9}")
    print(f"{'mean':<28} {100 * summary['mean_success_rate']:>7.0f}%")


def cmd_collect(args: argparse.Namespace) -> int:
    from egovla.sim.collect import CollectConfig, collect
    from egovla.sim.tasks import parse_tasks

    cfg = CollectConfig(tasks=parse_tasks(args.tasks), episodes=args.episodes, env=_env_config(args),
                        seed=args.seed, workers=args.workers)
    s = collect(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"{'task':<28} {'expert success':>15} {'kept':>6}")
    for task, rate in s["success_rate"].items():
        print(f"{task:<28} {100 * rate:>14.0f}% {s['episodes_kept'][task]:>6}")
    print(f"{sum(s['episodes_kept'].values())} episodes, {s['steps']} steps in {s['seconds']:.0f} s "
          f"({s['steps_per_s']:.0f} steps/s) -> {args.out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from egovla.sim.evaluate import EvalConfig, evaluate
    from egovla.sim.tasks import parse_tasks

    levers = ()
    if args.levers:
        from egovla.model.levers import parse_levers

        levers = tuple(parse_levers(args.levers))
    cfg = EvalConfig(tasks=parse_tasks(args.tasks), policy=str(args.policy or args.server), episodes=args.episodes,
                     env=_env_config(args), seed=args.seed, workers=args.workers, max_steps=args.max_steps,
                     execute=args.execute, ensemble_w=args.ensemble, videos=args.videos, levers=levers,
                     server=args.server, token=args.token)
    s = evaluate(cfg, args.out, progress=not args.no_progress)
    print_success_table(s)
    print(f"{s['steps']} steps in {s['seconds']:.0f} s ({s['steps_per_s']:.0f} steps/s)")
    print(f"results: {args.out / 'results.json'}\nplot:    {args.out / 'success.png'}\nvideos:  {args.out / 'videos'}")
    return 0
