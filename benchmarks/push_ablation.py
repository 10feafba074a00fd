"""Why the precise Meta-World tasks fail, measured on push alone: one lever per row against the demo's recipe.

    python benchmarks/push_ablation.py [--rows base,shift,conv,128px,50demos,4400steps,...]
                                       [--task push-v3] [--eval-episodes 40] [--out runs/bench/push_ablation]
                                       [--recipe full|demo] [--steps N] [--seeds 0,1,2]

Every row collects its expert demonstrations, trains one tiny-VLA policy on that task alone and evaluates it on
unseen layouts (seeds from 1000), with the demo's settings (25 lossless demonstrations at 64 px, one zoomed corner
view, chunk 16, 2200 steps of batch 32, lr 1e-3, 2 steps executed per chunk, ensembling 0.1, damped controller
aimed 2 steps ahead) except for the row's lever. `--recipe full` (the default) trains the two-layer model in
float32 as these rows were first measured; `--recipe demo` trains as the four-task demo does (DEMO_EASY, `egovla
demo --preset demo-easy`: the lean model, loaded in-process, bf16 where the CPU computes it natively). `--seeds`
repeats every row with each training seed (the collected data and evaluation layouts stay the same) and pools the
episodes, since one training run of a precise task is itself a draw (reach alone has scored 2% and 42% on two seeds
of one recipe).

    base        the demo's recipe
    shift       random-shift augmentation, +-4 px (DrQ / Diffusion Policy; policy.shift_px=4)
    conv        a conv stem in place of the ViT's patch embedding (backbone.vision_stem=conv)
    128px       128 px frames with 16 px patches (the same 64 tokens, four times the pixels per token)
    50demos     50 demonstrations instead of 25, the same steps
    4400steps   twice the optimizer steps on the 25 demonstrations
    50demos-4400steps  both
    2views      a second camera (topview) beside the corner view, both collected and fed to the policy
    2views-corner2  the second camera is corner2, which looks at the table from the other side (the zoomed
                topview loses reach-v3's goal at the top edge of its frame)
    16px-patches  16 px patches without pixel shuffle: 16 vision-tower tokens instead of 64 (the same 16 reach
                the language model)
    fast        16px-patches and the lean model's cuts (the smallest model tried)
    lean        one language-model layer and one head layer instead of two each (egovla.jobs.demo.LEAN,
                the model `make demo` trains)
    lean-50demos-4400steps  the lean model with twice the demonstrations and steps
    ema         the saved policy is the weights' moving average, decay 0.995 (TrainConfig.ema_decay)
    relative    the head predicts the chunk relative to the current state (policy.relative_action)
    relative-lean  the same with the lean model
    flow        the flow-matching head instead of regression (10 integration steps per chunk)
    history     two frames: now and 0.5 s before (LoopConfig.history), e.g. for a goal the hand hides on arrival
    bf16        trained under bf16 autocast (LoopConfig.precision; fast where the CPU has native bf16)
    lean-bf16   the lean model trained under bf16 autocast
    aux         an auxiliary loss: the query tokens also tell where the object and the goal are (LoopConfig.aux_weight)
    shift-turned  random shift +-4 px with the state and action labels turned by the camera turn the shift
                amounts to, so they stay true to the image (LoopConfig.shift_px)
    chunk48     chunks of 48 steps (0.6 s) instead of 16 (LoopConfig.chunk_len); still 2 executed per chunk, so up
                to 24 overlapping chunks are blended and a plan made while the goal was in view keeps a say
    chunk96     chunks of 96 steps (1.2 s)
    aux-chunk48 the auxiliary targets and chunks of 48 steps
    aux-chunk96 the auxiliary targets and chunks of 96 steps
    aux-fp32    the auxiliary targets, trained in float32 (with --recipe demo: without its native bf16)
    aux-chunk48-fp32  aux-chunk48 trained in float32
    mt10-settings  the reduced MT10 preset's settings on this one task: the auxiliary targets, chunks of 48 of
                which the first 32 are used, blending weight 0.6, 50 demonstrations, 4400 steps (these rows set
                their own steps; --steps does not change them)
    mt10-settings-pov  the same with the gripper camera (gripperPOV) beside the corner view
    mt10-settings-128px  the same with 128 px frames and 16 px patches

About 9 minutes per row on 2 CPU cores (18 for 50demos-4400steps, 12 for 2views, 5 for lean and fast, 11 for
lean-50demos-4400steps; with --recipe demo about 3 minutes per row and seed). Prints one line per run as it
finishes, then the table with Wilson 95% intervals; writes results.json under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from egovla.jobs.demo import LEAN, MT10_REDUCED, PX128

PATCH16 = ("backbone.patch_size=16", "backbone.scale_factor=1")
#: What the reduced MT10 preset trains and evaluates with (its auxiliary targets, chunks, horizon and blending
#: weight), on one task with 50 demonstrations and 4400 steps (with --recipe demo).
MT10_SETTINGS = {**{k: getattr(MT10_REDUCED, k) for k in ("aux_weight", "chunk_len", "horizon", "ensemble_w")},
                 "episodes": 50, "steps": 4400}
ROWS = {
    "base": ({}, ()),
    "shift": ({}, ("shift_px=4",)),
    "conv": ({}, ("backbone.vision_stem=conv",)),
    "128px": ({"image_size": 128}, PX128),
    "50demos": ({"episodes": 50}, ()),
    "4400steps": ({"steps": 4400}, ()),
    "50demos-4400steps": ({"episodes": 50, "steps": 4400}, ()),
    "2views": ({"cameras": ("corner", "topview")}, ()),
    "2views-corner2": ({"cameras": ("corner", "corner2")}, ()),
    "16px-patches": ({}, PATCH16),
    "fast": ({}, PATCH16 + LEAN),
    "lean": ({}, LEAN),
    "lean-50demos-4400steps": ({"episodes": 50, "steps": 4400}, LEAN),
    "ema": ({"ema_decay": 0.995}, ()),
    "relative": ({}, ("relative_action=true",)),
    "relative-lean": ({}, ("relative_action=true",) + LEAN),
    "history": ({"history": (-0.5, 0.0)}, ()),
    "flow": ({}, ("head.kind=flow",)),
    "bf16": ({"precision": "bf16"}, ()),
    "lean-bf16": ({"precision": "bf16"}, LEAN),
    "aux": ({"aux_weight": 1.0}, ()),
    "shift-turned": ({"shift_px": 4}, ()),
    "chunk48": ({"chunk_len": 48}, ()),
    "chunk96": ({"chunk_len": 96}, ()),
    "aux-chunk48": ({"aux_weight": 1.0, "chunk_len": 48}, ()),
    "aux-chunk96": ({"aux_weight": 1.0, "chunk_len": 96}, ()),
    "aux-fp32": ({"aux_weight": 1.0, "precision": "no"}, ()),
    "aux-chunk48-fp32": ({"aux_weight": 1.0, "chunk_len": 48, "precision": "no"}, ()),
    "mt10-settings": (MT10_SETTINGS, ()),
    "mt10-settings-pov": ({**MT10_SETTINGS, "cameras": ("corner", "gripperPOV")}, ()),
    "mt10-settings-128px": ({**MT10_SETTINGS, "image_size": 128}, PX128),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="base,shift,conv,128px,50demos,4400steps",
                   help=f"comma-separated rows, of: {', '.join(ROWS)}")
    p.add_argument("--task", default="push-v3", help="the Meta-World task (default push-v3)")
    p.add_argument("--eval-episodes", type=int, default=40, help="unseen layouts per row")
    p.add_argument("--workers", type=int, default=None, help="processes for collection and evaluation")
    p.add_argument("--out", type=Path, default=Path("runs/bench/push_ablation"))
    p.add_argument("--recipe", choices=("full", "demo"), default="full",
                   help="what the rows change: the two-layer model in float32 (full) or the four-task demo's training "
                        "(demo: DEMO_EASY)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per row (default: the recipe's, 2200)")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds; each row runs once per seed")
    args = p.parse_args()
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        p.error(f"unknown row(s) {unknown}; choose from {', '.join(ROWS)}")
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if not seeds:
        p.error("--seeds: give at least one training seed")

    from egovla.jobs.demo import DEMO_EASY, FULL, collect_train_eval
    from egovla.sim.report import provenance

    recipe = {"full": FULL, "demo": DEMO_EASY}[args.recipe]
    if args.steps is not None:
        recipe = replace(recipe, steps=args.steps)
    results, prov = [], provenance()  # the code as the rows start
    for name in rows:
        loop_changes, overrides = ROWS[name]
        runs = []
        for seed in seeds:
            loop = replace(recipe, tasks=(args.task,), eval_episodes=args.eval_episodes, holdout_samples=0, seed=seed,
                           **loop_changes)
            t0 = time.perf_counter()
            out = args.out / name if len(seeds) == 1 else args.out / name / f"seed-{seed}"
            r = collect_train_eval(out, (args.task,), loop, workers=args.workers, progress=False,
                                   say=lambda m: None, policy_overrides=overrides)
            task = r["eval"]["tasks"][args.task]
            runs.append({"seed": seed, "successes": task["successes"], "episodes": task["episodes"],
                         "final_loss": r["train"]["final_loss"], "samples_per_s": r["train"]["samples_per_s"],
                         "wall_s": time.perf_counter() - t0})
            print(f"{name:<18} seed {seed}: {task['successes']}/{task['episodes']}  final loss "
                  f"{r['train']['final_loss']:.4f}  {runs[-1]['wall_s']:.0f} s", flush=True)
        results.append(pool(name, overrides, loop_changes, runs))
    print(f"\n| row ({args.task}, {args.recipe} recipe, seeds {args.seeds}) | success | 95% CI | per seed | final "
          f"training loss |\n|---|---:|---:|---|---:|")
    for row in results:
        low, high = row["wilson95"]
        per_seed = " / ".join(f"{100 * r['successes'] / r['episodes']:.0f}" for r in row["runs"])
        print(f"| {row['row']} | {100 * row['success_rate']:.1f}% ({row['successes']}/{row['episodes']}) | "
              f"{100 * low:.0f}–{100 * high:.0f} | {per_seed} | {row['final_loss']:.4f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"task": args.task, "recipe": args.recipe, "steps": recipe.steps,
                                                       "seeds": seeds, "rows": results, **prov}, indent=2))


def pool(name: str, overrides: tuple, loop_changes: dict, runs: list[dict]) -> dict:
    """One row's result: its runs (one per training seed) and their episodes pooled."""
    from egovla.sim.report import rate_with_interval

    pooled = rate_with_interval(sum(r["successes"] for r in runs), sum(r["episodes"] for r in runs))
    return {"row": name, "overrides": list(overrides), "loop": loop_changes, **pooled,
            "final_loss": sum(r["final_loss"] for r in runs) / len(runs), "runs": runs}


if __name__ == "__main__":
    main()
