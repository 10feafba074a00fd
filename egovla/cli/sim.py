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
HUMAN = ("Run Meta-World's scripted experts and write what a person's headset would record, in EgoDex's format "
         "(<task>/<i>.hdf5 + <i>.mp4): a head camera that sways and drifts around the robot camera's pose, the arm "
         "hidden and the end effector drawn as a skin-coloured hand in another light, and the hand's wrist pose and "
         "two fingertips (the pads) in world coordinates, with confidences; nothing from the robot's action space. "
         "Convert it like real EgoDex: egovla convert egodex OUT data/human --source-fps 80. recording.json holds "
         "the settings and the layouts.")
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
    h = command_parser(csub, "metaworld-human", "Meta-World recorded as a person would be, in EgoDex's format", HUMAN)
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
    from egovla.sim.human_proxy import HumanProxyConfig

    add_flags(h, HumanProxyConfig, prefix="cfg.")
    add_flags(h, Output, prefix="out.")
    add_set(h, {"human": "HumanProxyConfig"}, "--set human.sway_cm=1")
    c.set_defaults(run=run_collect)
    h.set_defaults(run=run_human)
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


def run_human(args) -> int:
    from egovla.config.flags import build
    from egovla.sim.human_proxy import HumanProxyConfig, record_human_proxy

    cfg = apply_sets(args.overrides, {"human": build(HumanProxyConfig, args, prefix="cfg.")})["human"]
    out = build(Output, args, prefix="out.")
    s = record_human_proxy(cfg, out.out, overwrite=out.overwrite, progress=out.progress)
    print(f"{'task':<28} {'kept':>6} {'tried':>6}")
    for task in cfg.tasks:
        print(f"{task:<28} {s['episodes_kept'][task]:>6} {s['episodes_tried'][task]:>6}")
    print(f"{len(s['episodes'])} EgoDex-format episodes in {s['seconds']:.0f} s -> {out.out}\n"
          f"convert them: egovla convert egodex {out.out} {out.out}-converted --source-fps 80 --size 64")
    return 0
