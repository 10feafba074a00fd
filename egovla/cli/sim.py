"""`egovla collect metaworld` and `egovla eval metaworld`: flags from CollectConfig / EvalConfig and EnvConfig."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from egovla.cli.common import add_set, apply_sets, command_parser

COLLECT = ("Run Meta-World's scripted expert on each task, keep the successful episodes and write them as a LeRobot "
           "v3 dataset: camera videos, observation.state and action in the unified space (the end-effector as the "
           "right wrist in the first camera's frame, the finger pads as thumb and index tips; action at t is the "
           "pose at t+1), Meta-World's raw 4-D action (action.raw) and 39-D observation. Episode e uses seed SEED + "
           "e // 50 and object layout e % 50. Prints the expert's success rate per task; meta/metaworld.json "
           "records it with the seeds and camera poses.")
EVAL = ("Run closed-loop episodes of a trained policy (a run folder from `egovla train`, or its policy/ folder), of a "
        "policy served by `egovla serve` (--server ws://host:port: the same numbers as the local run) or of the "
        "scripted oracle (`--policy oracle`: the expert's moves as chunks). Episodes start at --seed (default 1000, "
        "disjoint from collection's 0) and end at the first success or after --max-steps. Writes results.json "
        "(success rate per task and mean, steps/s), success.png and, per task, MP4s of a success and a failure "
        "under videos/.")


@dataclass(frozen=True)
class Output:
    out: Path = field(metadata={"help": "the folder to write", "required": True, "metavar": "DIR"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing dataset at --out"})
    progress: bool = field(default=True, metadata={"help": "progress bar"})


def _sub(sub, name: str, help: str, description: str):
    p = command_parser(sub, name, help, description)
    return p.add_subparsers(dest="sim", metavar="SIM", required=True)


def register(sub, full: bool) -> None:
    csub = _sub(sub, "collect", "record scripted demonstrations as a LeRobot dataset",
                "Record demonstrations in simulation as a LeRobot v3 dataset.")
    esub = _sub(sub, "eval", "evaluate a policy closed-loop in simulation", "Evaluate a policy closed-loop in simulation.")
    c = command_parser(csub, "metaworld", "Meta-World's scripted experts", COLLECT)
    e = command_parser(esub, "metaworld", "Meta-World tasks", EVAL)
    if not full:
        return
    from egovla.config.flags import add_flags
    from egovla.sim.collect import CollectConfig
    from egovla.sim.evaluate import EvalConfig
    from egovla.sim.metaworld_env import EnvConfig

    for p, cls in ((c, CollectConfig), (e, EvalConfig)):
        add_flags(p, cls, prefix="cfg.")
        add_flags(p, EnvConfig, prefix="env.")
        add_flags(p, Output, prefix="out.", exclude=() if cls is CollectConfig else ("overwrite",))
        root = "collect" if cls is CollectConfig else "eval"
        add_set(p, {root: f"{cls.__name__} (its EnvConfig as {root}.env)"},
                f"--set {root}.env.fovy=40 --set {root}.seed=7")
    c.set_defaults(run=run_collect)
    e.set_defaults(run=run_eval)


def configs(args, cls):
    from egovla.config.flags import build
    from egovla.sim.metaworld_env import EnvConfig

    from egovla.sim.collect import CollectConfig

    root = "collect" if cls is CollectConfig else "eval"
    cfg = build(cls, args, prefix="cfg.", env=build(EnvConfig, args, prefix="env."))
    return apply_sets(args.overrides, {root: cfg})[root], build(Output, args, prefix="out.")


def run_collect(args) -> int:
    from egovla.sim.collect import CollectConfig, collect

    cfg, out = configs(args, CollectConfig)
    s = collect(cfg, out.out, overwrite=out.overwrite, progress=out.progress)
    print(f"{'task':<28} {'expert success':>15} {'kept':>6}")
    for task, rate in s["success_rate"].items():
        print(f"{task:<28} {100 * rate:>14.0f}% {s['episodes_kept'][task]:>6}")
    print(f"{sum(s['episodes_kept'].values())} episodes, {s['steps']} steps in {s['seconds']:.0f} s "
          f"({s['steps_per_s']:.0f} steps/s) -> {out.out}")
    return 0


def run_eval(args) -> int:
    from egovla.sim.evaluate import EvalConfig, evaluate, format_success_table

    cfg, out = configs(args, EvalConfig)
    if cfg.server:
        cfg = replace(cfg, policy=cfg.server)
    s = evaluate(cfg, out.out, progress=out.progress)
    print(format_success_table(s))
    print(f"{s['steps']} steps in {s['seconds']:.0f} s ({s['steps_per_s']:.0f} steps/s)")
    print(f"results: {out.out / 'results.json'}\nplot:    {out.out / 'success.png'}\nvideos:  {out.out / 'videos'}")
    return 0
