"""`egovla train`: flags from TrainJob (data, model), TrainConfig (optimisation) and RunOptions."""

from __future__ import annotations

import dataclasses
import json

from egovla.cli.common import add_set, apply_sets, command_parser

DESCRIPTION = "Train a policy; writes a run folder (policy/, run.json, checkpoints/, summary.json, loss.png, tb/)."
ROOTS = {"job": "TrainJob (data, model)", "train": "TrainConfig (optimisation)",
         "policy": "PolicyConfig (the default root: head.width=256 means policy.head.width=256)"}


def register(sub, full: bool) -> None:
    p = command_parser(sub, "train", "train a policy", DESCRIPTION)
    if not full:
        return
    from egovla.config.flags import add_flags
    from egovla.jobs.train import RunOptions, TrainJob
    from egovla.train.config import TrainConfig

    add_flags(p, TrainJob, prefix="job.")
    add_flags(p, TrainConfig, prefix="train.")
    add_flags(p, RunOptions, prefix="run.")
    add_set(p, ROOTS, "--set head.width=256 --set n_queries=16 --set train.weight_decay=0")
    p.set_defaults(run=run)


def configs(args):
    """(TrainJob, TrainConfig, RunOptions) from the parsed flags and --set overrides."""
    from egovla.config.flags import build
    from egovla.jobs.train import RunOptions, TrainJob
    from egovla.train.config import TrainConfig

    cfgs = apply_sets(args.overrides, {"job": build(TrainJob, args, prefix="job."),
                                       "train": build(TrainConfig, args, prefix="train."), "policy": []},
                      fallback="policy")
    job = cfgs["job"]
    job = dataclasses.replace(job, policy_overrides=(*job.policy_overrides, *cfgs["policy"]))
    return job, cfgs["train"], build(RunOptions, args, prefix="run.")


def run(args) -> int:
    import torch

    from egovla.jobs.train import run_training
    from egovla.train import launch
    from egovla.train.distributed import close_process_group

    job, train_cfg, opts = configs(args)
    torch.set_num_threads(opts.threads or launch.threads_per_process())
    summary = run_training(job, train_cfg, opts.out, resume=opts.resume, progress=opts.progress)
    if launch.is_main():
        print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, (list, dict))} |
                         {"eval": summary.get("eval")}, indent=2))
        print(f"policy saved to {opts.out / 'policy'}")
    close_process_group()  # every rank waits for the main one's record and held-out metrics, then all end
    return 0
