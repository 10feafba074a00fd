"""`egovla convert egodex|rlds|hot3d` and `egovla synth egodex`: other formats into egovla's LeRobot v3 format."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from egovla.cli.common import add_set, apply_sets, command_parser

EGODEX = ("Convert EgoDex episodes: per frame t, the action is a chunk of H future steps holding each hand's wrist pose "
          "at t+k in the camera frame OF FRAME t and its five fingertips in that step's wrist frame (48 slots, left "
          "then right); the state is the same slots at t. Masks: joints with confidence below --min-confidence, "
          "tracking gaps (non-finite or non-rigid poses), wrists out of view (behind the camera or outside the stored "
          "image) and steps past the episode end. EgoVLA's rule: a frame is trained on only when MORE than "
          "--min-valid of its steps have a supervised wrist (action_keep). The instruction is the episode's LLM "
          "description (for 'reversible' tasks the one which_llm_description names). Episodes are converted in "
          "parallel and staged in OUT.parts/; re-running skips staged episodes (same settings), and an episode that "
          "cannot be read is reported and left out. meta/egodex.json records settings, intrinsics and per-episode "
          "sources.")
RLDS = ("Convert an RLDS dataset (Open X-Embodiment, BridgeData V2, fractal/RT-1, DROID: a TensorFlow Datasets builder "
        "folder with features.json, dataset_info.json and TFRecord shards) without TensorFlow. Every record's CRCs "
        "are checked; a bad or truncated record is reported by file and record and the rest converts. Presets pick "
        "cameras, state/action keys and the control rate; every choice has a flag. With camera extrinsics "
        "(--T-base-camera, --extrinsics-file, --extrinsics-key) an end-effector state/action is also written in the "
        "unified action space, so the dataset mixes with human video; without them the native vectors only (and the "
        "command says so). Shards convert in parallel, staged in OUT.parts/ (resumable); meta/rlds.json records the "
        "source, settings and failures.")
HOT3D = ("Convert HOT3D-Clips (clip-XXXXXX.tar, 150 frames at 30 fps): the Aria RGB stream undistorted from FISHEYE624 "
         "to a square pinhole view, the headset camera pose per frame, and each hand's wrist pose and five "
         "fingertips (UmeTrack forward kinematics with the clip's hand profile; no MANO needed), in the same unified "
         "space, masks and keep rule as EgoDex. Clips carry no language: --instruction sets it. Clips convert in "
         "parallel, staged in OUT.parts/ (resumable); meta/hot3d.json records the pinhole intrinsics (for egovla "
         "viz), settings, skipped and failed clips.")
SYNTH = ("Write EgoDex-format pairs (<task>/<i>.hdf5 + <i>.mp4): a moving head camera and two articulated hands on smooth "
         "trajectories, drawn as coloured joints, so images and poses agree. Use it to try 'egovla convert egodex' and "
         "'egovla viz' without the real dataset.")


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


@dataclass(frozen=True)
class Paths:
    src: Path = field(metadata={"help": "the source folder (or file)", "positional": True, "metavar": "SRC"})
    out: Path = field(metadata={"help": "the dataset folder to write", "positional": True, "metavar": "OUT_DATASET"})
    overwrite: bool = field(default=False, metadata={"help": "replace OUT_DATASET even if it is not a conversion of "
                                                             "this kind"})
    progress: bool = field(default=True, metadata={"help": "progress bar"})


@dataclass(frozen=True)
class EgoDexSelection:
    tasks: tuple[str, ...] | None = field(default=None, metadata={"help": "task folders to convert (default: all)",
                                                                  "parse": _names, "metavar": "T1,T2"})
    max_episodes: int | None = field(default=None, metadata={"help": "at most N episodes per task", "metavar": "N"})
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1), metadata={
        "help": "processes converting episodes (default: one per CPU core)", "metavar": "N"})


@dataclass(frozen=True)
class SynthOut:
    out: Path = field(metadata={"help": "the folder to write", "positional": True, "metavar": "OUT_DIR"})


def register(sub, full: bool) -> None:
    conv = command_parser(sub, "convert", "turn other formats into a LeRobot dataset (egodex, rlds, hot3d)",
                          "Convert recordings of people and other robot datasets into a LeRobot v3 dataset in "
                          "egovla's format.")
    csub = conv.add_subparsers(dest="source", metavar="SOURCE", required=True)
    e = command_parser(csub, "egodex", "Apple's EgoDex (<task>/<i>.hdf5 + <i>.mp4 pairs)", EGODEX)
    r = command_parser(csub, "rlds", "RLDS / Open X-Embodiment TFDS builder folders (Bridge, RT-1, DROID, ...)", RLDS)
    h = command_parser(csub, "hot3d", "HOT3D-Clips tar files (Aria headset, tracked hands)", HOT3D)
    syn = command_parser(sub, "synth", "write synthetic data in a real format (for tests and demos)",
                         "Write synthetic recordings in a real on-disk format.")
    ssub = syn.add_subparsers(dest="source", metavar="SOURCE", required=True)
    s = command_parser(ssub, "egodex", "EgoDex-format HDF5 + MP4 pairs", SYNTH)
    if not full:
        return
    from egovla.config.flags import add_flags
    from egovla.data.egodex.convert import ConvertConfig
    from egovla.data.egodex.synthetic import SyntheticEgoDexConfig
    from egovla.data.hot3d.convert import Hot3DConfig
    from egovla.data.rlds.config import RLDSConfig

    for p, cls, extra in ((e, ConvertConfig, EgoDexSelection), (r, RLDSConfig, None), (h, Hot3DConfig, None)):
        add_flags(p, Paths, prefix="paths.")
        add_flags(p, cls, prefix="cfg.")
        if extra is not None:
            add_flags(p, extra, prefix="sel.")
        add_set(p, {"convert": cls.__name__}, "--set convert.horizon=16")
    add_flags(s, SynthOut, prefix="out.")
    add_flags(s, SyntheticEgoDexConfig, prefix="cfg.")
    e.set_defaults(run=run_egodex)
    r.set_defaults(run=run_rlds)
    h.set_defaults(run=run_hot3d)
    s.set_defaults(run=run_synth)


def _configs(args, cls):
    from egovla.config.flags import build

    cfg = apply_sets(args.overrides, {"convert": build(cls, args, prefix="cfg.")})["convert"]
    return cfg, build(Paths, args, prefix="paths.")


def run_egodex(args) -> int:
    from egovla.config.flags import build
    from egovla.data.egodex.convert import ConvertConfig, convert_egodex

    cfg, paths = _configs(args, ConvertConfig)
    sel = build(EgoDexSelection, args, prefix="sel.")
    res = convert_egodex(paths.src, paths.out, cfg, tasks=list(sel.tasks) if sel.tasks else None,
                         max_episodes=sel.max_episodes, workers=sel.workers, overwrite=paths.overwrite,
                         progress=paths.progress)
    n = len(res["episodes"])
    print(f"wrote {paths.out}: {n} episodes ({res['converted']} converted, {res['reused']} reused from "
          f"{res['parts']}), {res['frames']} frames, {res['kept']} ({res['kept'] / max(res['frames'], 1):.0%}) "
          f"with more than {cfg.min_valid:.0%} of their chunk valid")
    if res["n_failed"]:
        print(f"{res['n_failed']} episode(s) could not be converted (listed in meta/egodex.json under 'failed')")
    print(f"check the labels by eye: egovla viz {paths.out} --episode 0 --out {paths.out}-ep0.mp4")
    return 0


def run_rlds(args) -> int:
    from egovla.data.rlds.config import RLDSConfig
    from egovla.data.rlds.convert import convert_rlds

    cfg, paths = _configs(args, RLDSConfig)
    res = convert_rlds(paths.src, paths.out, cfg, overwrite=paths.overwrite, progress=paths.progress)
    print(f"wrote {paths.out}: {res['episodes']} episodes, {res['frames']} frames ({res['converted']} converted, "
          f"{res['reused']} reused) in {res['seconds']:.0f} s; space: {res['space']}"
          + ("" if res.get("unified") else f" (not unified: {res.get('unified_reason')})"))
    if res["n_failed"]:
        print(f"{res['n_failed']} episode(s) could not be converted (listed in meta/rlds.json under 'failed')")
    return 0


def run_hot3d(args) -> int:
    from egovla.data.hot3d.convert import Hot3DConfig, convert_hot3d

    cfg, paths = _configs(args, Hot3DConfig)
    res = convert_hot3d(paths.src, paths.out, cfg, overwrite=paths.overwrite, progress=paths.progress)
    print(f"wrote {paths.out}: {res['episodes']} clips, {res['frames']} frames, {res['kept']} kept by the keep rule, "
          f"in {res['seconds']:.0f} s")
    for what in ("failed", "skipped"):
        if res[f"n_{what}"]:
            print(f"{res[f'n_{what}']} clip(s) {what} (listed in meta/hot3d.json)")
    print(f"check the labels by eye: egovla viz {paths.out} --episode 0 --out {paths.out}-ep0.mp4")
    return 0


def run_synth(args) -> int:
    from egovla.config.flags import build
    from egovla.data.egodex.synthetic import SyntheticEgoDexConfig, write_synthetic_egodex

    out = build(SynthOut, args, prefix="out.")
    files = write_synthetic_egodex(out.out, build(SyntheticEgoDexConfig, args, prefix="cfg."))
    print(f"wrote {len(files)} EgoDex-format episodes under {out.out}")
    return 0
