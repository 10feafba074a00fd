"""MT10 closed loop: collect expert demonstrations of the 10 MT10 tasks, train one policy, evaluate all 10.

    python benchmarks/metaworld_mt10.py [--reduced] [--out runs/mt10] [--episodes 50] [--steps 10000]
                                        [--eval-episodes 50] [--seed 0] [--workers N]
                                        [--head regression|flow]

The full setting (for a GPU machine): 50 demonstrations per task, 10000 steps of batch 64 (bf16 on CUDA, 4 loader
processes) of the two-layer tiny VLA with auxiliary object and goal targets, 50 evaluation episodes per task on unseen
layouts (seeds from 1000), chunks of 16 used whole. `--reduced` is the CPU version (about 43 minutes on a 2-core
AMD EPYC with native bf16): 50 demonstrations per task (100 of reach, push, pick-place and peg-insert-side), 35000
steps of batch 32 of the demo's lean model (in bf16 where the CPU computes it natively) with auxiliary object and
goal targets, one zoomed corner view rendered at 128 px and cut into 16 px patches (64 image tokens, as 64 px frames
in 8 px patches), chunks of 48 steps of which the first 32 are used, 20 evaluation episodes per task. Both use the
demo's controller (2 steps executed per chunk) and blend overlapping chunks with weight 0.6 (the demo: 0.1); the
full setting keeps the demo's 64 px view.
Prints the per-task table (expert success, policy success) with the commit, the machine and the
wall time split.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from egovla.jobs.demo import PRESETS, collect_train_eval
from egovla.sim.tasks import MT10


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}"


def table(ev: dict, expert: dict) -> list[str]:
    """The per-task markdown table of an evaluation's results and the collection's expert success rates."""
    lines = ["| task | expert success (collection) | policy success | 95% CI |", "|---|---:|---:|---:|"]
    for task in MT10:
        t = ev["tasks"][task]
        lo, hi = t["wilson95"]
        lines.append(f"| {task} | {100 * expert[task]:.0f}% | {100 * t['success_rate']:.0f}% "
                     f"({t['successes']}/{t['episodes']}) | {100 * lo:.0f}–{100 * hi:.0f} |")
    lo, hi = ev["pooled"]["wilson95"]
    lines.append(f"| **mean** | | **{100 * ev['mean_success_rate']:.1f}%** | "
                 f"{100 * lo:.0f}–{100 * hi:.0f} (pooled) |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reduced", action="store_true", help="the CPU-sized version")
    p.add_argument("--out", type=Path, default=Path("runs/mt10"))
    p.add_argument("--episodes", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--eval-episodes", type=int, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--head", choices=("regression", "flow"), default="regression")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: the preset's, 0); collection and "
                   "evaluation layouts do not depend on it")
    args = p.parse_args()
    base = PRESETS["mt10-reduced" if args.reduced else "mt10"]
    given = {"episodes": args.episodes, "steps": args.steps, "batch_size": args.batch_size,
             "eval_episodes": args.eval_episodes, "seed": args.seed}
    size = replace(base, **{k: v for k, v in given.items() if v is not None})
    t0 = time.perf_counter()
    r = collect_train_eval(args.out, MT10, size, args.head, args.workers)
    ev, col, wall = r["eval"], r["collect"], r["wall"]
    own = f" ({', '.join(size.task_episodes)})" if size.task_episodes else ""
    print(f"\nMT10, commit {_commit()}, {_machine()}; {size.episodes} demos/task{own}, {size.steps} steps x "
          f"batch {size.batch_size}, training seed {size.seed}, {size.eval_episodes} eval episodes/task\n")
    print("\n".join(table(ev, col["success_rate"])))
    print(f"\nwall: collect {wall['collect']:.0f} s, train {wall['train']:.0f} s "
          f"({r['train']['samples_per_s']:.0f} samples/s), eval {wall['eval']:.0f} s ({ev['steps_per_s']:.0f} steps/s); "
          f"total {time.perf_counter() - t0:.0f} s. Results: {args.out / 'eval' / 'results.json'}")


if __name__ == "__main__":
    main()
