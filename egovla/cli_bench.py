"""`egovla bench`: latency of predict_chunk per inference lever, side by side with the baseline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LEVERS_HELP = ("lever sets to measure beside the baseline, ';' between sets, ',' within one: e.g. "
               "'cache;prune=0.5;int8;cache,prune=0.5,int8'. Levers: cache, prune=R (fraction of visual tokens "
               "kept), int8 (CPU), bf16, fp16, compile, onnx (CPU). Default: each lever alone, then the CPU "
               "(cache,prune=0.5,int8) or CUDA (cache,prune=0.5,bf16,compile) combination")


def add_parsers(sub) -> None:
    b = sub.add_parser(
        "bench", help="latency of predict_chunk per inference lever",
        description="Measure one predict_chunk call (p50/p90 latency over --runs calls after warm-up, chunks/s, "
                    "actions/s, peak memory) for the baseline and each lever set, each in a fresh process, and "
                    "print one table. 'max dev' is the chunk's largest difference from the baseline's, in "
                    "normalized action units; 'setup s' includes compilation or ONNX export. --model runs an "
                    "architecture with random weights: 'tiny' (egovla demo's model), 'smolvlm2-500m' (a "
                    "SmolVLM2-500M-shaped backbone with a ~100M-parameter head, built without downloading), "
                    "or a PolicyConfig JSON file.")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--policy", metavar="RUN_DIR", help="a run folder from `egovla train`, or its policy/ folder")
    src.add_argument("--model", metavar="NAME|CONFIG", help="tiny, smolvlm2-500m, or a PolicyConfig JSON file")
    b.add_argument("--head", choices=("regression", "flow"), default=None, help="the head of --model")
    b.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    b.add_argument("--batch", type=int, default=1, metavar="B", help="observations per call (default 1)")
    b.add_argument("--levers", default=None, metavar="SETS", help=LEVERS_HELP)
    b.add_argument("--runs", type=int, default=30, metavar="N", help="timed calls per set (default 30)")
    b.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed calls before (default 3)")
    b.add_argument("--threads", type=int, default=0, metavar="N", help="torch threads (default: torch's)")
    b.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the rows as JSON")


def cmd_bench(args: argparse.Namespace) -> int:
    from egovla.bench import HEADER, BenchConfig, parse_sets, run_bench

    cfg = BenchConfig(policy=args.policy, model=args.model, head=args.head, device=args.device, batch=args.batch,
                      sets=parse_sets(args.levers, args.device), runs=args.runs, warmup=args.warmup,
                      threads=args.threads)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available here")
    print(f"egovla bench: {args.policy or args.model}, device {args.device}, batch {args.batch}, "
          f"{args.runs} timed calls after {args.warmup} warm-up")
    print(HEADER, flush=True)
    rows = run_bench(cfg)
    if rows and "model" in rows[0]:
        print(f"model: {rows[0]['model']}, {rows[0]['params'] / 1e6:.1f}M parameters, {rows[0]['threads']} threads")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
        print(f"rows: {args.json}")
    return 1 if any("error" in r for r in rows) else 0
