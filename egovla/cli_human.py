"""`egovla convert egodex` and `egovla synth egodex`: the human-video half of the command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parsers(sub) -> None:
    conv = sub.add_parser("convert", help="convert human video (EgoDex) into a LeRobot dataset",
                          description="Convert recordings of people into a LeRobot v3 dataset in egovla's unified "
                                      "action space.")
    csub = conv.add_subparsers(dest="source", metavar="SOURCE", required=True)
    c = csub.add_parser(
        "egodex", help="Apple's EgoDex (<task>/<i>.hdf5 + <i>.mp4 pairs)",
        description="Convert EgoDex episodes: per frame t, the action is a chunk of H future steps holding each "
                    "hand's wrist pose at t+k in the camera frame OF FRAME t and its five fingertips in that step's "
                    "wrist frame (48 slots, left then right); the state is the same slots at t. Masks: joints with "
                    "confidence below --min-confidence, tracking gaps (non-finite or non-rigid poses), wrists out "
                    "of view (behind the camera or outside the stored image) and steps past the episode end. "
                    "EgoVLA's rule: a frame is trained on only when MORE than --min-valid of its steps have a "
                    "supervised wrist (action_keep). The instruction is the episode's LLM description (for "
                    "'reversible' tasks the one which_llm_description names). Episodes are converted in parallel "
                    "and staged in OUT.parts/; re-running skips staged episodes (same settings), and an episode "
                    "that cannot be read is reported and left out. meta/egodex.json records settings, intrinsics "
                    "and per-episode sources.")
    c.add_argument("src", type=Path, metavar="SRC_DIR", help="an EgoDex folder (a part, or one task folder)")
    c.add_argument("out", type=Path, metavar="OUT_DATASET", help="the dataset folder to write")
    c.add_argument("--tasks", default=None, metavar="T1,T2", help="task folders to convert (default: all)")
    c.add_argument("--max-episodes", type=int, default=None, metavar="N", help="at most N episodes per task")
    c.add_argument("--size", type=int, default=224, metavar="PX", help="stored image height in pixels (default 224)")
    c.add_argument("--crop", choices=("center", "none"), default="center",
                   help="'center': the centred square of the 16:9 frame (default); 'none': whole frame, aspect kept")
    c.add_argument("--fps", type=int, default=30, help="output frame rate, dividing the source's 30 (default 30)")
    c.add_argument("--horizon", type=int, default=30, metavar="H", help="future steps per chunk (default 30: 1 s)")
    c.add_argument("--min-confidence", type=float, default=0.5, metavar="C",
                   help="joints tracked with lower confidence are masked (default 0.5)")
    c.add_argument("--min-valid", type=float, default=0.9, metavar="F",
                   help="train on a frame only when more than this fraction of its steps is valid (default 0.9; 0: all)")
    c.add_argument("--camera-axes", choices=("opencv", "arkit"), default="opencv",
                   help="axes of the stored camera pose: 'opencv' (x right, y down, z forward; how EgoDex's own tools "
                        "project, default) or 'arkit' (y up, z backward; converted explicitly)")
    c.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1), metavar="N",
                   help="processes converting episodes (default: one per CPU core)")
    c.add_argument("--overwrite", action="store_true", help="replace OUT_DATASET even if it is not an EgoDex conversion")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")

    syn = sub.add_parser("synth", help="write synthetic data in a real format (for tests and demos)",
                         description="Write synthetic recordings in a real on-disk format.")
    ssub = syn.add_subparsers(dest="source", metavar="SOURCE", required=True)
    s = ssub.add_parser(
        "egodex", help="EgoDex-format HDF5 + MP4 pairs",
        description="Write EgoDex-format pairs (<task>/<i>.hdf5 + <i>.mp4): a moving head camera and two articulated "
                    "hands on smooth trajectories, drawn as coloured joints, so images and poses agree. Use it to try "
                    "'egovla convert egodex' and 'egovla viz' without the real dataset.")
    s.add_argument("out", type=Path, metavar="OUT_DIR")
    s.add_argument("--tasks", default="open_drawer,stack_cups", metavar="T1,T2", help="task folder names")
    s.add_argument("--episodes", type=int, default=2, metavar="N", help="episodes per task (default 2)")
    s.add_argument("--frames", type=int, default=60, metavar="T", help="frames per episode (default 60)")
    s.add_argument("--width", type=int, default=320, help="video width (default 320)")
    s.add_argument("--height", type=int, default=180, help="video height (default 180)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--camera-axes", choices=("opencv", "arkit"), default="opencv")
    s.add_argument("--low-confidence", type=float, default=0.0, metavar="F",
                   help="fraction of each episode where one hand's confidence drops (default 0)")
    s.add_argument("--leave-view", action="store_true", help="in episode 1 of each task the left hand leaves the view")


def cmd_convert(args: argparse.Namespace) -> int:
    from egovla.data.egodex.convert import ConvertConfig, convert_egodex

    cfg = ConvertConfig(size=args.size, crop=args.crop, fps=args.fps, horizon=args.horizon,
                        min_confidence=args.min_confidence, min_valid=args.min_valid, camera_axes=args.camera_axes)
    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    res = convert_egodex(args.src, args.out, cfg, tasks=tasks, max_episodes=args.max_episodes, workers=args.workers,
                         overwrite=args.overwrite, progress=not args.no_progress)
    n = len(res["episodes"])
    print(f"wrote {args.out}: {n} episodes ({res['converted']} converted, {res['reused']} reused from "
          f"{res['parts']}), {res['frames']} frames, {res['kept']} ({res['kept'] / max(res['frames'], 1):.0%}) "
          f"with more than {cfg.min_valid:.0%} of their chunk valid")
    if res["n_failed"]:
        print(f"{res['n_failed']} episode(s) could not be converted (listed in meta/egodex.json under 'failed')")
    print(f"check the labels by eye: egovla viz {args.out} --episode 0 --out {args.out}-ep0.mp4")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from egovla.data.egodex.synthetic import SyntheticEgoDexConfig, write_synthetic_egodex

    cfg = SyntheticEgoDexConfig(tasks=tuple(t for t in args.tasks.split(",") if t), episodes=args.episodes,
                                frames=args.frames, width=args.width, height=args.height, seed=args.seed,
                                camera_axes=args.camera_axes, low_confidence=args.low_confidence,
                                leave_view=args.leave_view)
    files = write_synthetic_egodex(args.out, cfg)
    print(f"wrote {len(files)} EgoDex-format episodes under {args.out}")
    return 0
