"""`egovla demo`: the main job on its built-in default (flags from DemoConfig; `--set loop.x=v` sizes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from egovla.cli.common import add_set, apply_sets, command_parser

DESCRIPTION = ("The main job on its default: record Meta-World's scripted experts on the demo task set (four "
               "articulated tasks, push and pick-place: tasks whose object or goal only the image locates), train "
               "the tiny VLA on them, and evaluate it closed-loop on unseen object layouts. About 9 minutes on 2 CPU "
               "cores (--preset demo-easy: the four articulated tasks alone, about 4); prints the success table and "
               "where the dataset, policy, plot and videos are.")


TRANSFER = ("Does human video help a robot? Record Meta-World's experts as a person would (human-proxy video in "
            "EgoDex's format, converted like real EgoDex), then for each count N of robot demonstrations per task "
            "train and evaluate closed loop on unseen layouts: robot only, human pretrained then fine-tuned on the N "
            "demos, human + robot co-trained, and the human-only policy zero-shot; the same optimizer steps for "
            "each. Prints the table with Wilson 95% intervals; writes results.json and transfer.png.")


@dataclass(frozen=True)
class TransferOptions:
    out: Path = field(default=Path("runs/human_transfer"), metadata={"help": "output folder (its data is reused)"})
    preset: str = field(default="quick", metadata={"help": "the experiment's size: full (~67 min on 2 cores), quick "
                                                           "(~12 min, one seed), demo (`make demo-human`, ~9 min)",
                                                   "choices": ("full", "quick", "demo")})
    progress: bool = field(default=True, metadata={"help": "progress bars"})


def register(sub, full: bool) -> None:
    p = command_parser(sub, "demo", "end-to-end job: collect -> train -> closed-loop eval on Meta-World", DESCRIPTION)
    t = command_parser(sub, "human-transfer", "the human-video experiment: robot only vs human pretrained", TRANSFER)
    if full:
        from egovla.config.flags import add_flags

        add_flags(t, TransferOptions, prefix="opts.")
        add_set(t, {"transfer": "TransferConfig (robot_demos, seeds, pretrain, finetune, eval_episodes, ...)",
                    "loop": "the model and evaluation settings (LoopConfig)"},
                "--set transfer.seeds=0 --set transfer.robot_demos=2,5")
        t.set_defaults(run=run_transfer)
    if not full:
        return
    from egovla.config.flags import add_flags
    from egovla.jobs.demo import DemoConfig

    add_flags(p, DemoConfig)
    add_set(p, {"loop": "the preset's LoopConfig (episodes, steps, eval_episodes, image_size, ...)",
                "demo": "DemoConfig"}, "--set loop.steps=500 --set loop.eval_episodes=5")
    p.set_defaults(run=run)


def run(args) -> int:
    from egovla.config.flags import build
    from egovla.jobs.demo import DemoConfig, run_demo

    own = [x for x in args.overrides if x.startswith("demo.")]  # first: they may pick another preset
    cfg = apply_sets(own, {"demo": build(DemoConfig, args)})["demo"]
    loop = apply_sets([x for x in args.overrides if x not in own], {"loop": cfg.loop()})["loop"]
    return run_demo(cfg, loop)


def run_transfer(args) -> int:
    import dataclasses

    from egovla.config.flags import build
    from egovla.jobs.human_transfer import PRESETS, format_table
    from egovla.jobs.human_transfer import run_transfer as transfer

    opts = build(TransferOptions, args, prefix="opts.")
    base = PRESETS[opts.preset]
    cfgs = apply_sets(args.overrides, {"transfer": base, "loop": base.loop})
    cfg = dataclasses.replace(cfgs["transfer"], loop=cfgs["loop"])
    results = transfer(cfg, opts.out, progress=opts.progress, say=lambda m: print(m, flush=True))
    print(f"\n{len(cfg.tasks)} tasks ({', '.join(cfg.tasks)}), {len(cfg.seeds)} seed(s), {cfg.eval_episodes} episodes "
          f"per task per policy; {cfg.pretrain + cfg.finetune} optimizer steps per condition\n")
    print(format_table(results))
    print(f"\nresults: {opts.out / 'results.json'}\nplot:    {opts.out / 'transfer.png'}")
    return 0
