"""`egovla demo`: the main job on its built-in default (flags from DemoConfig; `--set loop.x=v` sizes it)."""

from __future__ import annotations

from egovla.cli.common import add_set, apply_sets, command_parser

DESCRIPTION = ("The main job on its default: record Meta-World's scripted experts on the demo task set (tasks whose "
               "object only the image locates), train the tiny VLA on them, and evaluate it closed-loop on unseen "
               "object layouts. About 10 minutes on 2 CPU cores; prints the success table and where the dataset, "
               "policy, plot and videos are.")


def register(sub, full: bool) -> None:
    p = command_parser(sub, "demo", "end-to-end job: collect -> train -> closed-loop eval on Meta-World", DESCRIPTION)
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
