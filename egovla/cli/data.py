"""`egovla inspect` and `egovla viz`: dataset tools that answer without importing torch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from egovla.cli.common import command_parser

INSPECT = ("Print what a LeRobotDataset (v3.0, or v2.1) holds: path, format version, robot type, episodes, frames, "
           "fps and duration; its features (dtype, shape, dim names, camera codecs); its tasks and how many episodes "
           "use each; the episodes; and the stats in meta/stats.json (per dim mean/std/min/max of vectors, per "
           "channel mean/std of cameras).")
VIZ = ("Write one episode as an H.264 MP4. For a robot dataset, each frame shows every camera view side by side (small "
       "cameras enlarged) above plots of the episode's observation.state and action over time, with a cursor at the "
       "current frame (at most 8 dims: those that vary most). For human video (a dataset written by 'egovla convert "
       "egodex' or 'convert hot3d', or an EgoDex .hdf5 file directly) it draws the labels over the video instead: per "
       "hand (left cyan, right magenta) the wrist and fingertips now and the chunk of future wrist positions, "
       "projected with the camera intrinsics; they must sit on the hands and follow them. Also writes a PNG contact "
       "sheet.")


@dataclass(frozen=True)
class InspectOptions:
    dataset: Path = field(metadata={"help": "the dataset folder (with meta/info.json)", "positional": True,
                                    "metavar": "DATASET"})
    json: bool = field(default=False, metadata={"help": "print the same content as JSON, for programs"})


@dataclass(frozen=True)
class VizOptions:
    dataset: Path = field(metadata={"help": "a dataset folder (with meta/info.json) or an EgoDex .hdf5",
                                    "positional": True, "metavar": "DATASET"})
    out: Path = field(metadata={"help": "the video to write", "required": True, "metavar": "FILE.mp4"})
    episode: int = field(default=0, metadata={"help": "the episode's episode_index", "metavar": "N"})
    sheet: Path | None = field(default=None, metadata={
        "help": "human video: the contact sheet to write (default: --out with .png)", "metavar": "FILE.png"})
    fps: int | None = field(default=None, metadata={
        "help": "frame rate of the video (default: the dataset's; lower plays slower)", "metavar": "F"})
    width: int | None = field(default=None, metadata={
        "help": "width of the video in pixels (default: the camera views' width, at least 400)", "metavar": "PX"})


def register(sub, full: bool) -> None:
    from egovla.config.flags import add_flags

    i = command_parser(sub, "inspect", "describe a LeRobot dataset", INSPECT)
    v = command_parser(sub, "viz", "render one episode as an MP4", VIZ)
    if full:
        add_flags(i, InspectOptions, prefix="opts.")
        add_flags(v, VizOptions, prefix="opts.")
        i.set_defaults(run=run_inspect)
        v.set_defaults(run=run_viz)


def run_inspect(args) -> int:
    from egovla.config.flags import build
    from egovla.data.inspect import describe, describe_json
    from egovla.data.lerobot.reader import LeRobotReader

    opts = build(InspectOptions, args, prefix="opts.")
    reader = LeRobotReader(opts.dataset)
    print(json.dumps(describe_json(reader), indent=2) if opts.json else describe(reader), end="\n" if opts.json else "")
    return 0


def run_viz(args) -> int:
    from egovla.config.flags import build
    from egovla.data.egodex.viz import human_sidecar

    opts = build(VizOptions, args, prefix="opts.")
    if opts.dataset.suffix == ".hdf5" or human_sidecar(opts.dataset) is not None:
        from egovla.data.egodex.viz import render_converted, render_pair

        out = (render_pair(opts.dataset, opts.out, opts.sheet) if opts.dataset.suffix == ".hdf5" else
               render_converted(opts.dataset, opts.episode, opts.out, opts.sheet, fps=opts.fps))
        print(f"wrote {out['frames']} frames with projected hand trajectories to {out['video']} "
              f"and a contact sheet to {out['sheet']}")
        return 0
    from egovla.data.lerobot.reader import LeRobotReader
    from egovla.data.viz import render_episode

    out = render_episode(LeRobotReader(opts.dataset), opts.episode, opts.out, fps=opts.fps, width=opts.width)
    print(f"wrote {out['frames']} frames ({out['width']}x{out['height']}, {out['fps']} fps) of episode "
          f"{out['episode']} to {out['path']}")
    return 0
