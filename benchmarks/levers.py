"""Latency of every inference lever, alone and together, beside the baseline, in one run.

    python benchmarks/levers.py [--runs 30] [--threads N] [--policy runs/demo/run]
                                [--arch smolvlm2-500m --arch-runs 3]

Measures `egovla demo`'s tiny model (random weights; regression head, then flow head, where prefix
caching matters) with `egovla.bench` (each lever set in a fresh process), and optionally a trained
run folder and the real-size SmolVLM2-500M-shaped architecture with a ~100M head (random weights,
no download; slow on a CPU, so fewer runs and fewer sets).
"""

from __future__ import annotations

import argparse
import platform

import torch

from egovla.jobs.bench import CPU_SETS, BenchConfig, format_table, run_bench

ARCH_SETS = ("cache", "prune=0.5", "int8", "bf16", "cache,prune=0.5,int8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--policy", default=None, help="also measure this trained run folder")
    ap.add_argument("--arch", default=None, choices=("smolvlm2-500m",), help="also measure this real-size model")
    ap.add_argument("--arch-runs", type=int, default=3)
    ap.add_argument("--arch-sets", default=";".join(ARCH_SETS))
    args = ap.parse_args()
    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads or torch.get_num_threads()} threads, batch {args.batch}; no GPU measured")
    jobs = [("tiny, regression head (egovla demo)", dict(model="tiny", head="regression")),
            ("tiny, flow head (10 steps)", dict(model="tiny", head="flow"))]
    if args.policy:
        jobs.append((f"trained {args.policy}", dict(policy=args.policy)))
    for title, kw in jobs:
        cfg = BenchConfig(**kw, batch=args.batch, runs=args.runs, threads=args.threads,
                          sets=[s.split(",") for s in CPU_SETS])
        print(f"\n## {title}")
        print(format_table(run_bench(cfg, progress=False)), flush=True)
    if args.arch:
        for head in ("regression", "flow"):
            cfg = BenchConfig(model=args.arch, head=head, batch=args.batch, runs=args.arch_runs, warmup=1,
                              threads=args.threads, sets=[s.split(",") for s in args.arch_sets.split(";")])
            rows = run_bench(cfg, progress=False)
            params = rows[0].get("params", 0) / 1e6
            print(f"\n## {args.arch} ({params:.0f}M parameters), {head} head, random weights")
            print(format_table(rows), flush=True)


if __name__ == "__main__":
    main()
