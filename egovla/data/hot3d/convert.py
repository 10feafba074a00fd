"""`egovla convert hot3d`: HOT3D-Clips tars -> a LeRobot v3 dataset in the unified action space.

    convert_hot3d("hot3d/train_aria", "data/hot3d", Hot3DConfig(size=224, workers=4))

Machinery as `egovla convert egodex`: clips are converted in parallel, each staged as
`<OUT>.parts/<clip>.mp4 + .npz` (the .npz renamed into place last; a re-run with the same settings
reuses it), a clip that cannot be used is reported with the reason and left out, and the staged
clips are assembled atomically by `LeRobotWriter`. Per clip: the RGB stream `214-1` (or `stream`) is
undistorted from FISHEYE624 into a pinhole view (`fisheye.py`; JPEGs are decoded at a reduced DCT
scale when the view needs fewer pixels), labels come from `labels.py`. Quest 3 clips have no RGB
stream: they are skipped with the reason unless `mono_stream` names a mono stream to use instead.

Features are EgoDex's (`observation.images.ego`, `observation.state` (48 named) + `_mask`, `action`
(H, 48) + `action_mask`, `action_keep`). `meta/hot3d.json` has the same keys `egovla viz` reads from
`meta/egodex.json` (`camera`, `intrinsic` of the stored images, `image_hw`, `episodes`) plus the
settings, the view's focal/rotation, and skipped/failed clips.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egovla.data.egodex.convert import features as egodex_features
from egovla.data.hot3d.clip import Clip, Hot3DError
from egovla.data.hot3d.fisheye import CalibrationError, Fisheye624, PinholeView, Remap
from egovla.data.hot3d.labels import clip_labels, clip_poses
from egovla.data.hot3d.umetrack import ProfileError

CAMERA = "observation.images.ego"
META = "meta/hot3d.json"
SOURCE_FPS = 30
DEFAULT_INSTRUCTION = "manipulate the objects on the table"


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class Hot3DConfig:
    stream: str = _f("214-1", "image stream to convert: Aria's RGB '214-1' (1408x1408 fisheye)")
    mono_stream: str = _f("", "stream to use for clips without `stream` (Quest 3: '1201-1' or '1201-2', grey); "
                          "'' skips those clips")
    size: int = _f(224, "side of the square pinhole image written, in pixels")
    focal_scale: float = _f(1.0, "pinhole focal length as a multiple of the fisheye's focal length (scaled to `size`); "
                            ">1 zooms in (crops the field of view), <1 widens it")
    rot90: int = _f(3, "quarter turns counter-clockwise applied to the view (np.rot90 sense); 3 shows Aria images "
                    "upright as HOT3D's own viewer does, 0 keeps the sensor orientation; labels turn with the image")
    fps: int = _f(30, "output frame rate; must divide the clips' 30 fps")
    horizon: int = _f(30, "future steps H per action chunk")
    min_valid: float = _f(0.9, "train on a frame only when MORE than this fraction of its chunk's steps has a "
                          "supervised wrist (EgoVLA's rule; 0 keeps every frame)")
    min_depth: float = _f(0.05, "metres in front of the camera for a wrist to count as in view")
    instruction: str = _f(DEFAULT_INSTRUCTION, "instruction of every clip (clips carry no language); placeholders "
                          "{clip}, {device}, {participant}, {sequence}")
    workers: int = _f(1, "processes converting clips in parallel")
    max_clips: int = _f(0, "convert at most this many clips, in name order (0: all)")

    def __post_init__(self) -> None:
        if self.fps <= 0 or SOURCE_FPS % self.fps:
            raise ValueError(f"fps {self.fps} must divide the clips' {SOURCE_FPS} fps (30, 15, 10, 6, 5, ...)")
        if self.size < 2 or self.size % 2:
            raise ValueError(f"size must be an even number of pixels >= 2, got {self.size}")
        if not self.focal_scale > 0:
            raise ValueError(f"focal_scale must be positive, got {self.focal_scale}")
        if self.horizon < 1 or not 0 <= self.min_valid < 1 or self.workers < 1 or self.max_clips < 0:
            raise ValueError("horizon >= 1, 0 <= min_valid < 1, workers >= 1 and max_clips >= 0 are required")
        try:
            self.instruction.format(clip="", device="", participant="", sequence="")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"instruction template {self.instruction!r}: unknown placeholder {e}; "
                             "use {clip}, {device}, {participant}, {sequence}") from None

    @property
    def stride(self) -> int:
        return SOURCE_FPS // self.fps

    def fingerprint(self) -> str:
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("workers", "max_clips")}
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def view_for(fisheye: Fisheye624, cfg: Hot3DConfig) -> PinholeView:
    focal = fisheye.fx * cfg.focal_scale * cfg.size / fisheye.width
    return PinholeView(cfg.size, cfg.size, focal, cfg.rot90)


def decode(data: bytes, fisheye: Fisheye624, view: PinholeView, cache: dict, where: str) -> np.ndarray:
    """One fisheye JPEG -> the pinhole view (h, w, 3) uint8, decoding at a reduced scale when enough."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        need = max(1, int(np.ceil(fisheye.width * view.focal / fisheye.fx)))
        im.draft(im.mode, (need, need))
        arr = np.asarray(im.convert("RGB"))
    except Exception as e:  # PIL raises many types for broken JPEGs
        raise Hot3DError(f"{where}: not a decodable JPEG ({e})") from None
    h, w = arr.shape[:2]
    if (h, w) not in cache:
        cam = fisheye.scaled(w / fisheye.width, h / fisheye.height)
        cache[(h, w)] = Remap(*view.source_pixels(cam), (h, w))
    return cache[(h, w)](arr)


def find_clips(src: str | Path) -> list[Path]:
    src = Path(src)
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such HOT3D-Clips folder or tar")
    clips = sorted(src.rglob("clip-*.tar")) or sorted(src.rglob("*.tar"))
    if not clips:
        raise FileNotFoundError(f"{src}: no clip-XXXXXX.tar files found")
    return clips


class Skip(Exception):
    """A clip left out on purpose (e.g. Quest 3 without a mono stream chosen)."""


def stage_clip(tar: Path, part: Path, cfg: Hot3DConfig) -> dict:
    from egovla.data.mp4 import Mp4Writer
    from egovla.data.staging import staged_meta

    npz = part.with_suffix(".npz")
    meta = staged_meta(npz, cfg.fingerprint()) if part.with_suffix(".mp4").is_file() else None
    if meta is not None:
        return {**meta, "skipped": True}
    with Clip(tar) as clip:
        info = clip.info(0)
        streams = clip.streams()
        stream = cfg.stream if cfg.stream in streams else cfg.mono_stream
        if stream not in streams:
            raise Skip(f"{tar}: {info.get('device', '?')} clip without stream {cfg.stream!r} (has {streams}); "
                       + ("set mono_stream (e.g. '1201-1') to convert it" if not cfg.mono_stream else
                          f"mono_stream {cfg.mono_stream!r} is not there either"))
        if not clip.has(clip.name(0, "hands.json")):
            raise Skip(f"{tar}: no hand annotations ({clip.name(0, 'hands.json')} is missing: a test-split clip?)")
        calib, _ = clip.camera(0, stream)
        fisheye = Fisheye624.from_calibration(calib, f"{tar}: {clip.name(0, 'cameras.json')}: {stream}")
        view = view_for(fisheye, cfg)
        poses = clip_poses(clip, stream, view)
        text = cfg.instruction.format(clip=clip.clip_id, device=info.get("device", ""),
                                      participant=info.get("participant_id", ""), sequence=info.get("sequence_id", ""))
        lab = clip_labels(tar, poses, view, cfg.horizon, cfg.stride, cfg.min_valid, cfg.min_depth, text)
        cache: dict = {}
        frames = np.stack([decode(clip.image(int(f), stream), fisheye, view, cache, f"{tar}: frame {int(f)} {stream}")
                           for f in lab.frames])
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.with_name(part.name + ".tmp.mp4")
    enc = Mp4Writer(tmp, cfg.fps, view.height, view.width, crf=18)
    enc.write(frames)
    enc.close()
    os.replace(tmp, part.with_suffix(".mp4"))
    meta = {"fingerprint": cfg.fingerprint(), "source": str(tar), "clip": clip.clip_id, "stream": stream,
            "device": info.get("device"), "participant": info.get("participant_id"),
            "sequence": info.get("sequence_id"), "instruction": text, "source_frames": clip.n_frames,
            "frames": int(len(lab.frames)), "kept": int(lab.keep.sum()), "intrinsic": view.K.tolist(),
            "image_hw": [view.height, view.width], "focal": view.focal, "rot90": view.rot90,
            "fisheye": dataclasses.asdict(fisheye), "T_device_from_camera": calib.get("T_device_from_camera"),
            "mean_valid_fraction": float(lab.valid_fraction.mean()) if len(lab.frames) else 0.0}
    tmp_npz = part.with_name(part.name + ".tmp.npz")
    with open(tmp_npz, "wb") as f:
        np.savez_compressed(f, state=lab.state, state_mask=lab.state_mask, action=lab.action,
                            action_mask=lab.action_mask, keep=lab.keep, meta=json.dumps(meta))
    os.replace(tmp_npz, npz)
    return {**meta, "skipped": False}


def _stage(args):
    tar, part, cfg = args
    try:
        return str(tar), stage_clip(Path(tar), Path(part), cfg), None, None
    except Skip as e:
        return str(tar), None, None, str(e)
    except (Hot3DError, CalibrationError, ProfileError, OSError, ValueError) as e:
        return str(tar), None, str(e), None


def assemble(staged: list[Path], out: Path, cfg: Hot3DConfig, src: Path, failed: dict, skipped: dict,
             progress: bool = False) -> dict:
    from tqdm import tqdm

    from egovla.data.egodex.frames import View, read_frames
    from egovla.data.lerobot.writer import LeRobotWriter

    metas = []
    for part in staged:
        with np.load(part.with_suffix(".npz")) as z:
            metas.append(json.loads(str(z["meta"])))
    hw = tuple(metas[0]["image_hw"])
    episodes = []
    with LeRobotWriter(out, fps=cfg.fps, features=egodex_features(cfg, hw), robot_type="human_hot3d", overwrite=True) as w:
        for part, meta in tqdm(list(zip(staged, metas)), desc="assemble", unit="clip", disable=not progress):
            with np.load(part.with_suffix(".npz")) as z:
                arrays = {"observation.state": z["state"], "observation.state_mask": z["state_mask"].astype(np.uint8),
                          "action": z["action"], "action_mask": z["action_mask"].astype(np.uint8),
                          "action_keep": z["keep"].astype(np.uint8)[:, None]}
            arrays[CAMERA] = read_frames(part.with_suffix(".mp4"), np.arange(meta["frames"]), View(hw, hw[0], "none"))
            index = w.add_episode(arrays, task=meta["instruction"])
            episodes.append({"episode_index": index, **{k: meta[k] for k in (
                "source", "clip", "stream", "device", "participant", "sequence", "instruction", "source_frames",
                "frames", "kept", "mean_valid_fraction", "intrinsic")}})
        info = {"settings": dataclasses.asdict(cfg), "camera": CAMERA, "image_hw": list(hw),
                "intrinsic": metas[0]["intrinsic"], "focal": metas[0]["focal"], "rot90": metas[0]["rot90"],
                "fisheye": metas[0]["fisheye"], "source_root": str(src), "episodes": episodes,
                "failed": failed, "skipped": skipped}
        Path(w.tmp, META).parent.mkdir(parents=True, exist_ok=True)
        Path(w.tmp, META).write_text(json.dumps(info, indent=1))
    return info


def convert_hot3d(src: str | Path, out: str | Path, cfg: Hot3DConfig = Hot3DConfig(), *, overwrite: bool = False,
                  progress: bool = True, say=print) -> dict:
    """Convert; returns a summary (episodes, frames, kept, converted/reused/failed/skipped, seconds, ...)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    src, out = Path(src), Path(out)
    if out.exists() and not (out / META).is_file() and not overwrite:
        raise FileExistsError(f"{out} exists and is not a HOT3D conversion; pass --overwrite to replace it")
    clips = find_clips(src)[:cfg.max_clips or None]
    parts = out.parent / f"{out.name}.parts"
    jobs = [(c, parts / c.stem, cfg) for c in clips]
    results, failed, skipped = {}, {}, {}
    bar = tqdm(total=len(jobs), desc="clips", unit="clip", disable=not progress)

    def record(tar, res, err, skip):
        if err:
            failed[tar] = err
            say(f"failed: {err}")
        elif skip:
            skipped[tar] = skip
            say(f"skipped: {skip}")
        else:
            results[tar] = res
        bar.update(1)

    if cfg.workers <= 1 or len(jobs) == 1:
        for j in jobs:
            record(*_stage(j))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_stage, j) for j in jobs]):
                record(*fut.result())
    bar.close()
    staged = [part for c, part, _ in jobs if str(c) in results]
    if not staged:
        raise Hot3DError(f"{src}: no clip could be converted; first reason: "
                         f"{next(iter({**failed, **skipped}.values()), '?')}")
    say(f"assembling {len(staged)} clips into {out}")
    info = assemble(staged, out, cfg, src, failed, skipped, progress)
    reused = sum(1 for r in results.values() if r.get("skipped"))
    return {"out": str(out), "episodes": len(staged), "frames": sum(e["frames"] for e in info["episodes"]),
            "kept": sum(e["kept"] for e in info["episodes"]), "converted": len(staged) - reused, "reused": reused,
            "failed": failed, "n_failed": len(failed), "skipped": skipped, "n_skipped": len(skipped),
            "parts": str(parts), "seconds": time.perf_counter() - t0}
