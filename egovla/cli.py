"""The `egovla` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from egovla.cli_bench import add_parsers as add_bench_parsers
from egovla.cli_human import add_parsers as add_human_parsers
from egovla.cli_serve import add_parsers as add_serve_parsers
from egovla.cli_sim import add_parsers as add_sim_parsers

DESCRIPTION = """\
egovla trains Vision-Language-Action policies the EgoVLA way: a VLM reads camera frames and an
instruction, learned action query tokens appended after them are filled in by the VLM, and an
action head turns them into a chunk of future wrist and hand poses in the camera frame.

commands:
  train   train a policy (tiny built-in VLM or a local Hugging Face VLM) on a dataset
  demo    the end-to-end job: Meta-World demonstrations -> train -> closed-loop evaluation
  collect record scripted demonstrations in simulation (collect metaworld)
  eval    evaluate a policy closed-loop in simulation (eval metaworld), locally or through a server
  serve   serve a policy to robots over a websocket (msgpack, batching, token, openpi-compatible)
  bench   predict_chunk latency per inference lever (cache, prune, int8, bf16, compile, onnx)
  convert turn human video into a LeRobot dataset in the unified action space (convert egodex)
  synth   write synthetic human video in a real format, for trying the tools (synth egodex)
  inspect describe a LeRobot dataset: features, tasks, episodes and stats (--json for programs)
  viz     render one episode as an MP4: camera views with state/action curves, or for human video
          (a converted dataset or an EgoDex .hdf5) the projected future hand trajectories + a PNG sheet
"""


def _add_train_args(p: argparse.ArgumentParser, steps: int, batch_size: int) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", action="append", metavar="PATH[:WEIGHT]",
                   help="a LeRobot dataset folder (v3.0 or v2.1) or 'synthetic' (the built-in learnable data); "
                        "repeat for a weighted mixture, e.g. --dataset robot:3 --dataset human:1")
    g.add_argument("--history", default="0",
                   help="LeRobot: history frames as seconds before now, oldest first, e.g. '-0.4,-0.2,0'; "
                        "'egovla' means EgoVLA's 6 frames 0.2 s apart")
    g.add_argument("--cameras", default=None, help="LeRobot: comma-separated camera features (default: all)")
    g.add_argument("--holdout", type=float, default=0.1,
                   help="LeRobot: fraction of each dataset's episodes (the last ones) held out for evaluation")
    g.add_argument("--samples", type=int, default=20_000, help="synthetic: number of training samples")
    g.add_argument("--image-size", type=int, default=None,
                   help="square image side in pixels (synthetic: default 64; LeRobot: default the stored size)")
    g.add_argument("--objects", type=int, default=1,
                   help="synthetic: blocks per image (more than 1 means finding the named colour among distractors)")
    g.add_argument("--chunk-len", type=int, default=None,
                   help="future steps H per predicted chunk (default: 16 on synthetic data, 30 on LeRobot data)")
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
    demo = sub.add_parser(
        "demo", help="end-to-end job: collect -> train -> closed-loop eval on Meta-World",
        description="The main job on its default: record Meta-World's scripted experts on the demo task set "
                    "(tasks whose object only the image locates), train the tiny VLA on them, and evaluate it "
                    "closed-loop on unseen object layouts. About 10 minutes on 2 CPU cores; prints the success "
                    "table and where the dataset, policy, plot and videos are.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (replaced if it exists)")
    demo.add_argument("--quick", action="store_true", help="a ~2-minute smoke run (2 easy tasks, few steps)")
    demo.add_argument("--head", choices=("regression", "flow"), default="regression")
    demo.add_argument("--tasks", default=None, metavar="TASKS",
                      help="task set instead of the default (mt10, demo, or names like push-v3,reach-v3)")
    demo.add_argument("--workers", type=int, default=None, metavar="N",
                      help="processes for collection and evaluation (default: one per CPU core)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_sim_parsers(sub)
    add_bench_parsers(sub)
    add_serve_parsers(sub)
    add_human_parsers(sub)
    inspect = sub.add_parser(
        "inspect", help="describe a LeRobot dataset",
        description="Print what a LeRobotDataset (v3.0, or v2.1) holds: path, format version, robot type, "
                    "episodes, frames, fps and duration; its features (dtype, shape, dim names, camera codecs); "
                    "its tasks and how many episodes use each; the episodes; and the stats in meta/stats.json "
                    "(per dim mean/std/min/max of vectors, per channel mean/std of cameras).")
    inspect.add_argument("dataset", type=Path, metavar="DATASET", help="the dataset folder (with meta/info.json)")
    inspect.add_argument("--json", action="store_true", help="print the same content as JSON, for programs")
    viz = sub.add_parser(
        "viz", help="render one episode as an MP4",
        description="Write one episode as an H.264 MP4. For a robot dataset, each frame shows every camera view "
                    "side by side (small cameras enlarged) above plots of the episode's observation.state and "
                    "action over time, with a cursor at the current frame (at most 8 dims: those that vary most). "
                    "For human video (a dataset written by 'egovla convert egodex', or an EgoDex .hdf5 file "
                    "directly) it draws the labels over the video instead: per hand (left cyan, right magenta) the "
                    "wrist and fingertips now and the chunk of future wrist positions, projected with the camera "
                    "intrinsics; they must sit on the hands and follow them. Also writes a PNG contact sheet.")
    viz.add_argument("dataset", type=Path, metavar="DATASET", help="a dataset folder (with meta/info.json) or an EgoDex .hdf5")
    viz.add_argument("--episode", type=int, default=0, metavar="N", help="the episode's episode_index (default 0)")
    viz.add_argument("--out", type=Path, required=True, metavar="FILE.mp4", help="the video to write")
    viz.add_argument("--sheet", type=Path, default=None, metavar="FILE.png",
                     help="human video: the contact sheet to write (default: --out with .png)")
    viz.add_argument("--fps", type=int, default=None, metavar="F",
                     help="frame rate of the video (default: the dataset's; lower plays slower)")
    viz.add_argument("--width", type=int, default=None, metavar="PX",
                     help="width of the video in pixels (default: the camera views' width, at least 400)")
    return parser


def _jobs(args: argparse.Namespace):
    from egovla.data.synthetic import SyntheticConfig
    from egovla.data.windows import EGOVLA_HISTORY, WindowConfig
    from egovla.pipeline import DatasetSpec, TrainJob
    from egovla.train.config import TrainConfig

    overrides = list(args.overrides)
    if args.freeze_vision:
        overrides.append("backbone.freeze_vision=true")
    if args.lora_rank:
        overrides.append(f"backbone.lora_rank={args.lora_rank}")
    datasets = [DatasetSpec.parse(d) for d in (args.dataset or ["synthetic"])]
    try:
        history = EGOVLA_HISTORY if args.history.strip() == "egovla" else tuple(float(x) for x in args.history.split(","))
    except ValueError:
        raise ValueError(f"--history {args.history!r}: give seconds like '-0.4,-0.2,0' or 'egovla'") from None
    size = args.image_size
    window = WindowConfig(history=history, chunk_len=args.chunk_len or 30,
                          cameras=tuple(args.cameras.split(",")) if args.cameras else None,
                          image_size=(size, size) if size else None)
    job = TrainJob(
        datasets=datasets, model=args.model, head=args.head, policy_overrides=overrides,
        eval_samples=args.eval_samples, window=window, holdout=args.holdout,
        synthetic=SyntheticConfig(size=args.samples, seed=args.seed, image_size=size or 64,
                                  chunk_len=args.chunk_len or 16, n_objects=args.objects),
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


def cmd_inspect(args: argparse.Namespace) -> int:
    from egovla.data.inspect import describe, describe_json
    from egovla.data.lerobot.reader import LeRobotReader

    reader = LeRobotReader(args.dataset)
    if args.json:
        print(json.dumps(describe_json(reader), indent=2))
    else:
        print(describe(reader), end="")
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    if args.dataset.suffix == ".hdf5" or (args.dataset / "meta" / "egodex.json").is_file():
        from egovla.data.egodex.viz import render_converted, render_pair

        out = (render_pair(args.dataset, args.out, args.sheet) if args.dataset.suffix == ".hdf5" else
               render_converted(args.dataset, args.episode, args.out, args.sheet, fps=args.fps))
        print(f"wrote {out['frames']} frames with projected hand trajectories to {out['video']} "
              f"and a contact sheet to {out['sheet']}")
        return 0
    from egovla.data.lerobot.reader import LeRobotReader
    from egovla.data.viz import render_episode

    out = render_episode(LeRobotReader(args.dataset), args.episode, args.out, fps=args.fps, width=args.width)
    print(f"wrote {out['frames']} frames ({out['width']}x{out['height']}, {out['fps']} fps) of episode "
          f"{out['episode']} to {out['path']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command in ("inspect", "viz"):  # dataset tools: answer without importing torch
        from egovla.data.lerobot.format import DatasetFormatError

        try:
            return cmd_inspect(args) if args.command == "inspect" else cmd_viz(args)
        except (DatasetFormatError, ValueError, OSError) as e:
            print(f"egovla {args.command}: error: {e}", file=sys.stderr)
            return 2
    from egovla.observation import ObservationError
    from egovla.model.tokenizer import ContextTooLongError
    from egovla.train.errors import TrainingError

    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command in ("convert", "synth"):
            from egovla.cli_human import cmd_convert, cmd_synth

            return cmd_convert(args) if args.command == "convert" else cmd_synth(args)
        if args.command == "serve":
            from egovla.cli_serve import cmd_serve

            return cmd_serve(args)
        if args.command == "bench":
            from egovla.cli_bench import cmd_bench

            return cmd_bench(args)
        if args.command in ("collect", "eval"):
            from egovla.cli_sim import cmd_collect, cmd_eval

            return cmd_collect(args) if args.command == "collect" else cmd_eval(args)
        from egovla.demo import run_demo

        from egovla.sim.tasks import parse_tasks

        return run_demo(out=args.out, quick=args.quick, head=args.head,
                        tasks=parse_tasks(args.tasks) if args.tasks else None, workers=args.workers,
                        progress=not args.no_progress)
    except (ObservationError, ContextTooLongError, TrainingError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"egovla {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
