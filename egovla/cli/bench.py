"""`egovla bench`: latency of predict_chunk per inference lever, side by side with the baseline (BenchConfig)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from egovla.cli.common import command_parser

DESCRIPTION = ("Measure one predict_chunk call (p50/p90 latency over --runs calls after warm-up, chunks/s, actions/s, "
               "peak memory) for the baseline and each lever set, each in a fresh process, and print one table. 'max "
               "dev' is the chunk's largest difference from the baseline's, in normalized action units; 'setup s' "
               "includes compilation or ONNX export. --model runs an architecture with random weights: 'tiny' (egovla "
               "demo's model), 'smolvlm2-500m' (a SmolVLM2-500M-shaped backbone with a ~100M-parameter head), 'smolvla' / "
               "'smolvla-512' (SmolVLA's shape: SmolVLM2-500M cut to 16 language layers, 2 views at 256 / 512 px, a "
               "~100M flow head, chunk 50, 10 flow steps, state 8, action 7), all built without downloading, or a "
               "PolicyConfig JSON file.")


@dataclass(frozen=True)
class BenchOutput:
    json: Path | None = field(default=None, metadata={"help": "also write the rows as JSON", "metavar": "FILE"})


def register(sub, full: bool) -> None:
    p = command_parser(sub, "bench", "predict_chunk latency per inference lever (cache, prune, int8, bf16, compile, "
                       "onnx)", DESCRIPTION)
    if not full:
        return
    from egovla.config.flags import add_flags
    from egovla.jobs.bench import BenchConfig

    add_flags(p, BenchConfig, prefix="bench.")
    add_flags(p, BenchOutput, prefix="out.")
    p.set_defaults(run=run)


def run(args) -> int:
    from egovla.config.flags import build
    from egovla.jobs.bench import HEADER, BenchConfig, run_bench

    cfg, out = build(BenchConfig, args, prefix="bench."), build(BenchOutput, args, prefix="out.")
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available here")
    print(f"egovla bench: {cfg.policy or cfg.model}, device {cfg.device}, batch {cfg.batch}, "
          f"{cfg.runs} timed calls after {cfg.warmup} warm-up")
    print(HEADER, flush=True)
    rows = run_bench(cfg)
    if rows and "model" in rows[0]:
        print(f"model: {rows[0]['model']}, {rows[0]['params'] / 1e6:.1f}M parameters, {rows[0]['threads']} threads")
    if out.json:
        out.json.write_text(json.dumps(rows, indent=2))
        print(f"rows: {out.json}")
    return 1 if any("error" in r for r in rows) else 0
