"""Does human video help a robot? EgoVLA's experiment on Meta-World with human-proxy video, and its ablations.

    python benchmarks/human_transfer.py [--quick] [--out runs/human_transfer] [--ablations | --ablations-only]

Runs `egovla human-transfer` (egovla/jobs/human_transfer.py): robot only vs human pretrained (then
fine-tuned) vs co-trained vs zero-shot, for N robot demos per task, 2 seeds, the same optimizer
steps per condition (batch 16), 20 closed-loop episodes per task on unseen layouts (quick: N = 2
only, one seed, half the human episodes, 10 episodes per task). Prints the markdown table with
pooled Wilson 95% intervals and writes
runs/human_transfer/results.json.

`--ablations` then measures, at the smallest N, what the gain comes from: the human-pretrained
policy again with (a) a still head camera, (b) labels in a fixed (world) frame instead of the
moving camera's, (c) a fifth of the human episodes; each beside robot only from the main table.
`--ablations-only` runs just those, against the main table already in OUT/results.json (same --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from dataclasses import replace
from pathlib import Path

from egovla.jobs.human_transfer import PRESETS, format_table, run_transfer


def saved_results(out: Path, cfg) -> dict:
    """The main table of an earlier run in `out`, checked to be this preset's (the ablations compare with it)."""
    path = out / "results.json"
    if not path.is_file():
        raise SystemExit(f"--ablations-only: no {path}; run the main table first (without --ablations-only)")
    results = json.loads(path.read_text())
    saved = results.get("config", {})
    want = {**asdict(cfg), "loop": asdict(cfg.loop)}
    differ = sorted(k for k in want if k in saved and json.dumps(saved[k], default=str) != json.dumps(want[k], default=str))
    if differ:
        raise SystemExit(f"--ablations-only: {path} was run with other settings ({', '.join(differ)}); "
                         "give the same --quick or rerun the main table")
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="the ~12-minute version (N = 2, one seed; the full table takes ~67 min on 2 cores)")
    p.add_argument("--out", type=Path, default=Path("runs/human_transfer"))
    p.add_argument("--ablations", action="store_true", help="also the three ablations at the smallest N")
    p.add_argument("--ablations-only", action="store_true",
                   help="only the ablations, against the main table already in OUT/results.json")
    args = p.parse_args()
    cfg = PRESETS["quick" if args.quick else "full"]
    if args.ablations_only:
        results = saved_results(args.out, cfg)
    else:
        results = run_transfer(cfg, args.out, say=lambda m: print(m, flush=True))
        print(f"\n{', '.join(cfg.tasks)}; seeds {list(cfg.seeds)}; {cfg.eval_episodes} episodes per task per policy; "
              f"{cfg.pretrain + cfg.finetune} steps per condition; wall {results['wall_seconds']:.0f} s\n")
    print(format_table(results))
    if not (args.ablations or args.ablations_only):
        return 0
    n = min(cfg.robot_demos)
    robot_only = next(r for r in results["rows"] if r["robot_demos"] == n)["robot_only"]
    variants = {"moving camera, camera-frame labels (the recipe)": {},
                "still head camera": {"moving_camera": False},
                "labels in a fixed world frame": {"label_frame": "world"},
                f"{cfg.human_episodes // 5} human episodes per task": {"human_episodes": cfg.human_episodes // 5}}
    rows = []
    for name, change in variants.items():
        if not change:
            r = next(r for r in results["rows"] if r["robot_demos"] == n)
            rows.append((name, r["human_pretrained"], r["human_pretrained_wilson95"]))
            continue
        sub = replace(cfg, robot_demos=(n,), conditions=("human_pretrained",), **change)
        res = run_transfer(sub, args.out / "ablations" / "-".join(f"{k}={v}" for k, v in change.items()),
                           say=lambda m: print(m, flush=True))
        rows.append((name, res["rows"][0]["human_pretrained"], res["rows"][0]["human_pretrained_wilson95"]))
    print(f"\nAblations at N = {n} (robot only: {100 * robot_only:.0f}%)\n")
    print("| human data | human pretrained | gain over robot only |\n|---|---:|---:|")
    for name, sr, (low, high) in rows:
        print(f"| {name} | {100 * sr:.0f}% [{100 * low:.0f}, {100 * high:.0f}] | {100 * (sr - robot_only):+.0f} |")
    (args.out / "ablations.json").write_text(json.dumps([{"variant": a, "human_pretrained": b, "wilson95": c}
                                                          for a, b, c in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
