"""`egovla convert egodex`: EgoDex recordings -> a LeRobot v3 dataset in the unified action space.

    convert_egodex("EgoDex/part1", "data/egodex-p1", ConvertConfig(size=224, workers=2))

Two phases, so that a long conversion can be interrupted and resumed:

1. **Episodes, in parallel** (one process per worker): read the HDF5, compute labels
   (`labels.py`), decode and crop/resize the frames the labels keep (`frames.py`), and stage them
   as `<OUT>.parts/<task>/<i>.mp4` + `<i>.npz`. The `.npz` is renamed into place last, so a staged
   episode is complete or absent; re-running skips every episode already staged with the same
   settings. An episode that cannot be read is reported (file and reason) and left out; the others go on.
2. **Assembly**: the staged episodes, in order, become one LeRobot v3 dataset at `<OUT>`, written
   atomically (`LeRobotWriter`). `<OUT>.parts` is kept for resuming and adding episodes; delete it when done.

The dataset holds, per frame: `observation.images.ego` (the cropped head-camera view),
`observation.state` (48 named unified slots) and `observation.state_mask`, `action` (H, 48) (the
chunk of future poses in this frame's camera, see `labels.py`) and `action_mask`, and `action_keep`
(1 when more than `min_valid` of the chunk's steps are valid; training skips the other frames).
`meta/egodex.json` records the settings, the intrinsic matrix of the stored images, and per
episode its source file, kept frames and instruction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egovla import spaces
from egovla.data.egodex.format import EgoDexEpisode, EgoDexError, find_episodes, read_episode
from egovla.data.egodex.frames import View, read_frames, video_fps, video_size
from egovla.data.egodex.labels import LabelConfig, Labels, episode_labels
from egovla.data.staging import staged_meta

CAMERA = "observation.images.ego"
SOURCE_FPS = 30
META = "meta/egodex.json"


@dataclass(frozen=True)
class ConvertConfig:
    size: int = field(default=224, metadata={"help": "stored image height in pixels", "metavar": "PX"})
    crop: str = field(default="center", metadata={
        "help": "'center': the centred square of the 16:9 frame; 'none': whole frame, aspect kept",
        "choices": ("center", "none")})
    fps: int | None = field(default=None, metadata={
        "help": "output frame rate, dividing the recordings' (default: theirs, --source-fps)"})
    horizon: int = field(default=30, metadata={"help": "future steps per chunk (30: 1 s)", "metavar": "H"})
    min_confidence: float = field(default=0.5, metadata={
        "help": "joints tracked with lower confidence are masked", "metavar": "C"})
    min_valid: float = field(default=0.9, metadata={
        "help": "EgoVLA's rule: train on a frame only when more than this fraction of its steps is valid (0: all)",
        "metavar": "F"})
    camera_axes: str = field(default="opencv", metadata={
        "help": "axes of the stored camera pose: 'opencv' (x right, y down, z forward; how EgoDex's own tools "
                "project) or 'arkit' (y up, z backward; converted explicitly)", "choices": ("opencv", "arkit")})
    crf: int = field(default=18, metadata={"help": "quality of the written video (0 with --pix-fmt yuv444p: "
                                                   "lossless, for small images of small objects)"})
    pix_fmt: str = field(default="yuv420p", metadata={"help": "yuv420p (halved colour) or yuv444p (full)",
                                                      "choices": ("yuv420p", "yuv444p")})
    source_fps: int = field(default=SOURCE_FPS, metadata={
        "help": "frame rate of the recordings (EgoDex: 30; a human-proxy recording of Meta-World: 80); each video "
                "is checked against it"})

    def __post_init__(self) -> None:
        if self.source_fps <= 0 or self.out_fps <= 0 or self.source_fps % self.out_fps:
            raise ValueError(f"fps {self.out_fps} must divide the source frame rate {self.source_fps} (e.g. 30, 15, 10)")
        View((2, 2), self.size, self.crop)  # validates size and crop
        self.labels()  # validates the label settings

    @property
    def out_fps(self) -> int:
        """The dataset's frame rate: `fps`, or the recordings' own."""
        return self.fps or self.source_fps

    def labels(self) -> LabelConfig:
        return LabelConfig(horizon=self.horizon, stride=self.source_fps // self.out_fps, min_confidence=self.min_confidence,
                           min_valid=self.min_valid, camera_axes=self.camera_axes)

    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def parts_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f"{out.name}.parts"


def _part(parts: Path, src: Path, hdf5: Path) -> Path:
    return parts / hdf5.relative_to(src).with_suffix("")


def _staged(part: Path, fingerprint: str) -> dict | None:
    if not part.with_suffix(".mp4").is_file():
        return None
    return staged_meta(part.with_suffix(".npz"), fingerprint)


@dataclass
class LabelledEpisode:
    episode: EgoDexEpisode
    intrinsic: np.ndarray  # (3, 3) for the output images
    image_hw: tuple[int, int]
    labels: Labels
    frames: np.ndarray     # (N, h, w, 3) uint8, one per labelled frame


def load_labelled(hdf5: str | Path, cfg: ConvertConfig) -> LabelledEpisode:
    """Read one pair, compute its labels and decode the frames they keep, as the converter stores them."""
    ep = read_episode(hdf5)
    _, h, w = video_size(ep.video)
    rate = video_fps(ep.video)
    if rate is not None and abs(rate - cfg.source_fps) > 0.01 * cfg.source_fps:
        raise EgoDexError(f"{ep.video}: the video plays at {rate:g} fps, the conversion assumes {cfg.source_fps} "
                          f"(--source-fps); labels would be stretched in time")
    view = View((h, w), cfg.size, cfg.crop)
    K = view.intrinsic(ep.intrinsic)
    lab = episode_labels(ep, K, view.out_hw, cfg.labels())
    return LabelledEpisode(ep, K, view.out_hw, lab, read_frames(ep.video, lab.frames, view))


def stage_episode(hdf5: Path, part: Path, cfg: ConvertConfig) -> dict:
    """Phase 1 for one episode; returns its summary (also stored in the .npz)."""
    from egovla.data.mp4 import Mp4Writer

    done = _staged(part, cfg.fingerprint())
    if done is not None:
        return {**done, "skipped": True}
    le = load_labelled(hdf5, cfg)
    ep, K, lab = le.episode, le.intrinsic, le.labels
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp_mp4 = part.with_name(part.name + ".tmp.mp4")
    enc = Mp4Writer(tmp_mp4, cfg.out_fps, *le.image_hw, crf=cfg.crf, pix_fmt=cfg.pix_fmt)
    enc.write(le.frames)
    enc.close()
    os.replace(tmp_mp4, part.with_suffix(".mp4"))
    meta = {"fingerprint": cfg.fingerprint(), "source": str(hdf5), "task": ep.task, "instruction": ep.instruction,
            "source_frames": ep.frames, "frames": int(len(lab.frames)), "kept": int(lab.keep.sum()),
            "intrinsic": K.tolist(), "image_hw": list(le.image_hw),
            "mean_valid_fraction": float(lab.valid_fraction.mean()) if len(lab.frames) else 0.0}
    tmp_npz = part.with_name(part.name + ".tmp.npz")
    with open(tmp_npz, "wb") as f:
        np.savez_compressed(f, state=lab.state, state_mask=lab.state_mask, action=lab.action,
                            action_mask=lab.action_mask, keep=lab.keep, meta=json.dumps(meta))
    os.replace(tmp_npz, part.with_suffix(".npz"))
    return {**meta, "skipped": False}


def _stage(args) -> tuple[str, dict | None, str | None]:
    hdf5, part, cfg = args
    try:
        return str(hdf5), stage_episode(Path(hdf5), Path(part), cfg), None
    except (EgoDexError, OSError, ValueError) as e:
        return str(hdf5), None, str(e)


def features(cfg: ConvertConfig, image_hw: tuple[int, int]) -> dict:
    from egovla.data.lerobot.format import video_feature, vector_feature

    names = spaces.names()
    chunk = {"dtype": "float32", "shape": [cfg.horizon, spaces.ACTION_DIM], "names": names}
    return {
        CAMERA: video_feature(*image_hw),
        "observation.state": vector_feature(spaces.ACTION_DIM, names),
        "observation.state_mask": vector_feature(spaces.ACTION_DIM, names, dtype="uint8"),
        "action": chunk,
        "action_mask": {**chunk, "dtype": "uint8"},
        "action_keep": vector_feature(1, dtype="uint8"),
    }


def assemble(staged: list[Path], out: Path, cfg: ConvertConfig, src: Path, failed: dict[str, str]) -> dict:
    """Phase 2: staged episodes (paths without suffix, in order) -> the dataset at `out`."""
    from egovla.data.lerobot.writer import LeRobotWriter

    metas = []
    for part in staged:
        with np.load(part.with_suffix(".npz")) as z:
            metas.append(json.loads(str(z["meta"])))
    shapes = {tuple(m["image_hw"]) for m in metas}
    if len(shapes) != 1:
        raise EgoDexError(f"{src}: episodes give different image sizes {sorted(shapes)} (videos of different "
                          "aspect ratios); convert them separately or use --crop center")
    hw = shapes.pop()
    episodes = []
    with LeRobotWriter(out, fps=cfg.out_fps, features=features(cfg, hw), robot_type="human_egodex",
                       overwrite=True) as w:
        for part, meta in zip(staged, metas):
            with np.load(part.with_suffix(".npz")) as z:
                arrays = {"observation.state": z["state"], "observation.state_mask": z["state_mask"].astype(np.uint8),
                          "action": z["action"], "action_mask": z["action_mask"].astype(np.uint8),
                          "action_keep": z["keep"].astype(np.uint8)[:, None]}
            keep = np.arange(meta["frames"])
            arrays[CAMERA] = read_frames(part.with_suffix(".mp4"), keep, View(hw, hw[0], "none"))
            index = w.add_episode(arrays, task=meta["instruction"])
            episodes.append({"episode_index": index, **{k: meta[k] for k in (
                "source", "task", "instruction", "source_frames", "frames", "kept", "mean_valid_fraction")}})
        info = {"settings": dataclasses.asdict(cfg), "camera": CAMERA, "image_hw": list(hw),
                "intrinsic": metas[0]["intrinsic"] if metas else None, "source_root": str(src),
                "episodes": episodes, "failed": failed}
        Path(w.tmp, META).parent.mkdir(parents=True, exist_ok=True)
        Path(w.tmp, META).write_text(json.dumps(info, indent=1))
    return info


def convert_egodex(src: str | Path, out: str | Path, cfg: ConvertConfig = ConvertConfig(), *,
                   tasks: list[str] | None = None, max_episodes: int | None = None, workers: int = 1,
                   overwrite: bool = False, progress: bool = True, say=print) -> dict:
    """Convert; returns the summary written to meta/egodex.json (plus counts of staged/skipped/failed)."""
    src, out = Path(src), Path(out)
    if out.exists() and not (out / META).is_file() and not overwrite:
        raise FileExistsError(f"{out} exists and is not an EgoDex conversion; pass --overwrite to replace it")
    files = find_episodes(src, tasks, max_episodes)
    parts = parts_dir(out)
    jobs = [(f, _part(parts, src, f), cfg) for f in files]
    results: dict[str, dict] = {}
    failed: dict[str, str] = {}
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="episodes", unit="ep", disable=not progress)
    if workers <= 1:
        outcomes = (_stage(j) for j in jobs)
        for hdf5, res, err in outcomes:
            _record(hdf5, res, err, results, failed, bar, say)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_stage, j) for j in jobs]
            for fut in as_completed(futures):
                _record(*fut.result(), results, failed, bar, say)
    bar.close()
    staged = [part for f, part, _ in jobs if str(f) in results]
    if not staged:
        raise EgoDexError(f"{src}: no episode could be converted; first error: {next(iter(failed.values()), '?')}")
    say(f"assembling {len(staged)} episodes into {out}")
    info = assemble(staged, out, cfg, src, failed)
    skipped = sum(1 for r in results.values() if r.get("skipped"))
    return {**info, "converted": len(staged) - skipped, "reused": skipped, "n_failed": len(failed),
            "frames": sum(e["frames"] for e in info["episodes"]), "kept": sum(e["kept"] for e in info["episodes"]),
            "parts": str(parts)}


def _record(hdf5: str, res: dict | None, err: str | None, results: dict, failed: dict, bar, say) -> None:
    if err is not None:
        failed[hdf5] = err
        say(f"skipped {hdf5}: {err}")
    else:
        results[hdf5] = res
    bar.update(1)
