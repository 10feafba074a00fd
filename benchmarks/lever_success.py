"""Success retention of the inference levers: Meta-World success of one trained policy, same seeds,
each lever set beside the baseline, with the policy's time per chunk inside the episodes.

    python benchmarks/lever_success.py [--policy runs/demo/run] [--episodes 10]
        [--sets "none;cache;prune=0.5;int8;bf16;compile;onnx;cache,prune=0.5,int8"]

Runs `egovla eval metaworld` (egovla.sim.evaluate) once per lever set with the settings the demo
policy was evaluated with (tasks 'demo', 64 px, 200 steps, execute 2, ensembling 0.1), and prints
one table; --json writes every run's summary. Takes minutes per set on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

DEFAULT_SETS = "none;cache;prune=0.5;int8;bf16;compile;onnx;cache,prune=0.5,int8"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default="runs/demo/run")
    ap.add_argument("--tasks", default="demo")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--sets", default=DEFAULT_SETS, help="lever sets separated by ';' ('none' is the baseline)")
    ap.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    ap.add_argument("--out", type=Path, default=Path("/tmp/egovla-lever-success"))
    ap.add_argument("--json", type=Path, default=None, help="write all summaries here")
    args = ap.parse_args()

    from egovla.model.levers import parse_levers
    from egovla.sim.evaluate import EvalConfig, evaluate
    from egovla.sim.metaworld_env import EnvConfig
    from egovla.sim.tasks import parse_tasks

    tasks = parse_tasks(args.tasks)
    rows = []
    for text in args.sets.split(";"):
        levers = tuple(parse_levers(text))
        name = ",".join(levers) or "baseline"
        cfg = EvalConfig(tasks=tasks, policy=args.policy, episodes=args.episodes,
                         env=EnvConfig(cameras=("corner",), size=64, fovy=32.0), seed=1000, workers=args.workers,
                         max_steps=200, execute=2, ensemble_w=0.1, videos=0, levers=levers)
        t0 = time.perf_counter()
        s = evaluate(cfg, args.out / name.replace(",", "+").replace("=", ""), progress=False)
        chunks_ms = 1000 * s["agent_seconds_per_step"] * cfg.execute  # one chunk every `execute` steps
        rows.append({"levers": name, "success": s["mean_success_rate"], "tasks": {t: r["success_rate"] for t, r in
                     s["tasks"].items()}, "ms_per_chunk_in_episode": chunks_ms, "seconds": time.perf_counter() - t0,
                     "per_episode": s["per_episode"]})
        print(f"{name:<28} success {100 * s['mean_success_rate']:5.1f}%   ~{chunks_ms:6.2f} ms/chunk in the loop   "
              f"({rows[-1]['seconds']:.0f} s)", flush=True)
    base = {(e["task"], e["episode"]): e["success"] for e in rows[0]["per_episode"]}
    print(f"\n{'levers':<28} {'success':>8} {'same outcome as baseline':>25} {'ms/chunk (episodes)':>20}")
    for r in rows:
        same = sum(base.get((e["task"], e["episode"])) == e["success"] for e in r["per_episode"])
        print(f"{r['levers']:<28} {100 * r['success']:>7.1f}% {same:>17}/{len(r['per_episode']):<7} "
              f"{r['ms_per_chunk_in_episode']:>20.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
