"""predict_chunk throughput of the default tiny policy, regression head beside flow head.

    python benchmarks/predict_speed.py [--threads N] [--seconds S]

Prints parameters, chunks/s at batch 1 (the robot-control case) and samples/s at batch 32, for
each head, measured in one run on the same inputs.
"""

from __future__ import annotations

import argparse
import time

import torch

from egovla.data.sample import collate
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticConfig, SyntheticDataset
from egovla.jobs.train import TrainJob, build_policy_config, count_parameters
from egovla.model.policy import Policy


def rate(fn, seconds: float) -> float:
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = SyntheticDataset(SyntheticConfig(size=64))
    stats = compute_stats(data)
    one = {k: data[0][k] for k in ("images", "instruction", "state")}
    batch = collate([data[i] for i in range(32)])
    batch = {k: batch[k] for k in ("images", "instruction", "state")}
    print(f"threads={args.threads}  image 64x64, 1 view, 1 frame, chunk 16 x 48")
    print(f"{'head':<12} {'params':>10} {'chunks/s (batch 1)':>20} {'samples/s (batch 32)':>22}")
    for head in ("regression", "flow"):
        torch.manual_seed(0)
        cfg = build_policy_config(TrainJob(head=head))
        policy = Policy(cfg, stats).eval()
        single = rate(lambda: policy.predict_chunk(one), args.seconds)
        batched = rate(lambda: policy.predict_chunk(batch), args.seconds) * 32
        label = head if head == "regression" else f"flow ({cfg.head.flow_steps} st)"
        print(f"{label:<12} {count_parameters(policy):>10,} {single:>20.1f} {batched:>22.1f}")


if __name__ == "__main__":
    main()
