"""The `egovla` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DESCRIPTION = """\
egovla trains Vision-Language-Action policies the EgoVLA way: a VLM reads camera frames and an
instruction, learned action query tokens appended after them are filled in by the VLM, and an
action head turns them into a chunk of future wrist and hand poses in the camera frame.

commands:
  train   train a policy (tiny built-in VLM or a local Hugging Face VLM) on a dataset
  demo    the end-to-end job on built-in data: train, then evaluate on held-out samples
"""


def _add_train_args(p: argparse.ArgumentParser, steps: int, batch_size: int) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", action="append", metavar="NAME[:WEIGHT]",
                   help="dataset to train on (repeatable); 'synthetic' is the built-in learnable dataset")
    g.add_argument("--samples", type=int, default=20_000, help="synthetic: number of training samples")
    g.add_argument("--image-size", type=int, default=64, help="synthetic: square image side in pixels")
    g.add_argument("--objects", type=int, default=1,
                   help="synthetic: blocks per image (more than 1 means finding the named colour among distractors)")
    g.add_argument("--chunk-len", type=int, default=16, help="future steps H per predicted chunk")
    g.add_argument("--eval-samples", type=int, default=256, help="held-out samples measured after training (0: skip)")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="tiny",
                   help="'tiny' (built-in toy Idefics3, random init) or a local folder of a Hugging Face VLM "
                        "(Idefics3/SmolVLM, Qwen2.5-VL, PaliGemma)")
    g.add_argument("--head", choices=("regression", "flow"), default="regression", help="action head")
    g.add_argument("--freeze-vision", action="store_true", help="do not train the vision tower")
    g.add_argument("--lora-rank", type=int, default=0, help="train the language model with LoRA of this rank")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any PolicyConfig field, e.g. --set head.width=256 --set n_queries=16")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=steps, help="optimizer steps in total")
    g.add_argument("--batch-size", type=int, default=batch_size, help="samples per micro-batch, per process")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    g.add_argument("--warmup", type=int, default=30, help="linear warm-up steps before the cosine decay")
    g.add_argument("--precision", choices=("auto", "no", "bf16"), default="auto",
                   help="'auto' uses bf16 where the device supports it (CUDA), else float32")
    g.add_argument("--seed", type=int, default=0, help="seeds initial weights, data order and the synthetic data")
    g.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    g.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads per process (0: the CPU's cores divided by the number of processes; "
                        "more threads than free cores makes CPU training several times slower)")
    g = p.add_argument_group("run folder")
    g.add_argument("--out", type=Path, required=True, help="run folder: checkpoints/, policy/, tb/, loss.png, ...")
    g.add_argument("--resume", action="store_true", help="continue bit-exactly from the latest checkpoint in --out")
    g.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: only the final policy)")
    g.add_argument("--keep-last", type=int, default=2, help="checkpoints to keep")
    g.add_argument("--log-every", type=int, default=10, help="log scalars (TensorBoard, metrics.jsonl) every N steps")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="egovla", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser("train", help="train a policy", description="Train a policy; writes a run folder.")
    _add_train_args(train, steps=1000, batch_size=32)
    demo = sub.add_parser("demo", help="end-to-end job on built-in data",
                          description="Train the tiny policy on the synthetic dataset and evaluate it on held-out "
                                      "samples. (Closed-loop evaluation in simulation is not part of this version.)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (replaced if it exists)")
    demo.add_argument("--quick", action="store_true", help="a ~1-minute smoke run instead of the full demo")
    demo.add_argument("--head", choices=("regression", "flow"), default="regression")
    return parser


def _jobs(args: argparse.Namespace):
    from egovla.data.synthetic import SyntheticConfig
    from egovla.pipeline import DatasetSpec, TrainJob
    from egovla.train.config import TrainConfig

    overrides = list(args.overrides)
    if args.freeze_vision:
        overrides.append("backbone.freeze_vision=true")
    if args.lora_rank:
        overrides.append(f"backbone.lora_rank={args.lora_rank}")
    job = TrainJob(
        datasets=[DatasetSpec.parse(d) for d in (args.dataset or ["synthetic"])],
        model=args.model, head=args.head, policy_overrides=overrides, eval_samples=args.eval_samples,
        synthetic=SyntheticConfig(size=args.samples, seed=args.seed, image_size=args.image_size, chunk_len=args.chunk_len,
                                  n_objects=args.objects),
    )
    train_cfg = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        warmup_steps=args.warmup, log_every=args.log_every,
        precision=args.precision, seed=args.seed, save_every=args.save_every, keep_last=args.keep_last,
        num_workers=args.workers,
    )
    return job, train_cfg


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from egovla.pipeline import run_training

    world = int(os.environ.get("WORLD_SIZE", "1"))
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))

    job, train_cfg = _jobs(args)
    summary = run_training(job, train_cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, (list, dict))} |
                         {"eval": summary.get("eval")}, indent=2))
        print(f"policy saved to {args.out / 'policy'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from egovla.data.contract import ContractError
    from egovla.model.tokenizer import ContextTooLongError
    from egovla.train.errors import TrainingError

    try:
        if args.command == "train":
            return cmd_train(args)
        from egovla.demo import run_demo

        return run_demo(out=args.out, quick=args.quick, head=args.head)
    except (ContractError, ContextTooLongError, TrainingError, ValueError, FileNotFoundError) as e:
        print(f"egovla {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
