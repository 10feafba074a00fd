"""`egovla convert rlds`: an RLDS / Open X-Embodiment TFDS builder folder -> a LeRobot v3 dataset.

    convert_rlds("gs-copy/bridge_dataset/1.0.0", "data/bridge", RLDSConfig(preset="bridge", workers=4))

No TensorFlow: shards are framed and CRC-checked by `tfrecord.py`, Examples decoded by `example.py`
against `features.json` (`features.py`), so any RLDS dataset converts, not only the presets.
Two phases, like `egovla convert egodex`:

1. **Shards, in parallel** (`stage.py`, one process per worker): every record (one episode) is
   staged in `<OUT>.parts/<split>/<shard>/`; a corrupt or truncated record is reported by file and
   record number and left out, the rest of the dataset goes on. Re-running reuses staged work.
2. **Assembly**: staged episodes in shard/record order -> `<OUT>` through `LeRobotWriter` (atomic).

Features written, per step: `observation.images.<camera>` (the key's last part, e.g. `image_0`),
`observation.state` / `action` (the policy's vectors), `observation.state.original` /
`action.original` (always the dataset's own vectors: the float32 concatenation of `state_keys` /
`action_keys`, named), and `rlds.<key>` for each extra key. With the unified space (see
`unified.py`) `observation.state` / `action` are the 15 named right-hand gripper slots in the frame
of `extrinsics_camera` (action at t = the pose at t+1 by default) and `action_mask` masks the
last/`is_last` steps; without it they equal the originals. So a dataset converted with extrinsics
mixes with human video (EgoDex, HOT3D) in one training run; one converted natively cannot (its
vectors are not in the 48-D space) -- convert it again with `T_base_camera` to mix it.
The instruction (language key per step) is each frame's task. `meta/rlds.json` records source,
preset, resolved settings, the space written (and why not unified), per-episode file/record, failures.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from egovla.data.rlds import unified
from egovla.data.rlds.config import RLDSConfig, Settings, resolve
from egovla.data.rlds.features import RLDSFormatError, open_builder
from egovla.data.rlds.stage import part_path, stage_shard

META = "meta/rlds.json"


def parts_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f"{out.name}.parts"


def camera_feature(key: str) -> str:
    return "observation.images." + key.rsplit("/", 1)[-1]


def extra_feature(key: str) -> str:
    return "rlds." + (key[6:] if key.startswith("steps/") else key).replace("/", ".")


def _out_hw(src_hw: tuple[int, int], cfg: dict):
    from egovla.data.egodex.frames import View

    h, w = src_hw
    if cfg["image_size"]:
        return View((h, w), cfg["image_size"], cfg["crop"])
    if h % 2 or w % 2:
        return View((h, w), h - h % 2, "none")  # yuv420p video needs even sizes
    return None


def _frames(z, cam: str, view, hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    buf, off = z["img:" + cam], z["off:" + cam]
    out = []
    for a, b in zip(off[:-1], off[1:]):
        with Image.open(io.BytesIO(buf[a:b].tobytes())) as im:
            img = np.asarray(im.convert("RGB"))
        img = view.apply(img) if view is not None else img
        if img.shape[:2] != hw:
            img = np.asarray(Image.fromarray(img).resize((hw[1], hw[0]), Image.BILINEAR))
        out.append(img)
    return np.stack(out)


def features(s: Settings, hws: dict[str, tuple[int, int]], extra_dims: dict[str, tuple[int, str]]) -> dict:
    from egovla.data.lerobot.format import vector_feature, video_feature

    ft = {camera_feature(c): video_feature(*hws[c]) for c in s.cameras}
    native_s = vector_feature(len(s.state_names), s.state_names)
    native_a = vector_feature(len(s.action_names), s.action_names)
    if s.unified:
        n = len(unified.NAMES)
        ft["observation.state"] = vector_feature(n, unified.NAMES)
        ft["action"] = vector_feature(n, unified.NAMES)
        ft["action_mask"] = vector_feature(n, unified.NAMES, dtype="uint8")
    else:
        ft["observation.state"], ft["action"] = native_s, native_a
    ft["observation.state.original"], ft["action.original"] = native_s, native_a
    for k, (dim, dtype) in extra_dims.items():
        ft[extra_feature(k)] = vector_feature(dim, dtype=dtype)
    return ft


def _extra_dtype(a: np.ndarray) -> str:
    return "float32" if a.dtype.kind == "f" else ("uint8" if a.dtype == np.bool_ else "int64")


def assemble(staged: list[Path], out: Path, s: Settings, info: dict, progress: bool) -> list[dict]:
    from tqdm import tqdm

    from egovla.data.lerobot.writer import LeRobotWriter

    with np.load(staged[0]) as z:
        meta0 = json.loads(str(z["meta"]))
        extra_dims = {k: (int(z["extra:" + k].shape[1]), _extra_dtype(z["extra:" + k])) for k in s.extra_keys}
    views = {c: _out_hw(tuple(meta0["image_hw"][c]), s.cfg) for c in s.cameras}
    hws = {c: (views[c].out_hw if views[c] else tuple(meta0["image_hw"][c])) for c in s.cameras}
    episodes = []
    robot = info.get("dataset") or "rlds"
    with LeRobotWriter(out, fps=s.fps, features=features(s, hws, extra_dims), robot_type=robot, overwrite=True) as w:
        for npz in tqdm(staged, desc="assemble", unit="ep", disable=not progress):
            with np.load(npz) as z:
                meta = json.loads(str(z["meta"]))
                data = {camera_feature(c): _frames(z, c, views[c], hws[c]) for c in s.cameras}
                data["observation.state.original"], data["action.original"] = z["state"], z["action"]
                if s.unified:
                    data["observation.state"], data["action"] = z["unified_state"], z["unified_action"]
                    data["action_mask"] = z["unified_action_mask"]
                else:
                    data["observation.state"], data["action"] = z["state"], z["action"]
                for k in s.extra_keys:
                    data[extra_feature(k)] = z["extra:" + k].astype(extra_dims[k][1])
            index = w.add_episode(data, task=meta["instructions"])
            episodes.append({"episode_index": index, "file": meta["file"], "record": meta["record"],
                             "steps": meta["steps"], "instruction": meta["instructions"][0]})
        info["episodes"] = episodes
        info["image_hw"] = {camera_feature(c): list(hws[c]) for c in s.cameras}
        Path(w.tmp, META).parent.mkdir(parents=True, exist_ok=True)
        Path(w.tmp, META).write_text(json.dumps(info, indent=1))
    return episodes


def _limits(lengths: list[int], n_shards: int, max_episodes: int) -> list[int | None]:
    if not max_episodes:
        return [None] * n_shards
    if not lengths:
        return [max_episodes] * n_shards  # unknown lengths: cut at assembly
    out, left = [], max_episodes
    for n in lengths:
        out.append(min(n, left))
        left -= out[-1]
    return out


def convert_rlds(src: str | Path, out: str | Path, cfg: RLDSConfig = RLDSConfig(), *, overwrite: bool = False,
                 progress: bool = True, say=print) -> dict:
    """Convert; returns a summary (episodes, frames, converted/reused/failed, seconds, space, ...)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not (out / META).is_file() and not overwrite:
        raise FileExistsError(f"{out} exists and is not an RLDS conversion; pass --overwrite to replace it")
    builder = open_builder(src)
    s = resolve(cfg, builder)
    if not s.unified:
        say(f"note: writing the dataset's native vectors only, not the unified action space: {s.unified_reason}")
    shards = builder.shards(cfg.split)
    if not shards:
        raise RLDSFormatError(f"{builder.root}: no shard files for split {cfg.split!r}")
    lengths = builder.splits[cfg.split]["shard_lengths"]
    limits = _limits(lengths, len(shards), cfg.max_episodes)
    parts = parts_dir(out) / cfg.split
    jobs = [(str(sh), str(parts / sh.name), builder.leaves, s, lim)
            for sh, lim in zip(shards, limits) if lim is None or lim > 0]
    results, failed = {}, []
    bar = tqdm(total=sum(lengths[:len(jobs)]) if lengths and not cfg.max_episodes else None, desc="episodes",
               unit="ep", disable=not progress)

    def record(res: dict) -> None:
        results[res["shard"]] = res
        for f in res["failed"]:
            failed.append(f)
            say(f"failed: {f['error']}")
        bar.update(len(res["episodes"]) + len(res["failed"]))

    if cfg.workers <= 1 or len(jobs) == 1:
        for j in jobs:
            record(stage_shard(j))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(stage_shard, j) for j in jobs]):
                record(fut.result())
    bar.close()
    staged = [part_path(Path(j[1]), e["record"]) for j in jobs for e in results[j[0]]["episodes"]]
    if cfg.max_episodes:
        staged = staged[:cfg.max_episodes]
    if not staged:
        raise RLDSFormatError(f"{builder.root}: no episode could be converted; first error: "
                              f"{failed[0]['error'] if failed else '(no records)'}")
    info = {"source": str(builder.root), "dataset": builder.name, "version": builder.version, "split": cfg.split,
            "preset": cfg.preset, "settings": dataclasses.asdict(s),
            "space": "unified" if s.unified else "native", "unified": {
                "written": s.unified, "reason": s.unified_reason,
                "camera": camera_feature(s.extrinsics_camera) if s.unified else None,
                "T_base_camera": s.T_base_camera, "extrinsics_key": s.extrinsics_key or None,
                "names": unified.NAMES if s.unified else None,
                "conventions": "see egovla/data/rlds/unified.py: euler order %s (lowercase extrinsic), camera OpenCV "
                               "axes, jaws on the end-effector y axis" % s.ee["euler_order"]},
            "failed": failed}
    say(f"assembling {len(staged)} episodes into {out}")
    episodes = assemble(staged, out, s, info, progress)
    reused = sum(r.get("reused", 0) for r in results.values())
    return {"out": str(out), "episodes": len(episodes), "frames": sum(e["steps"] for e in episodes),
            "converted": len(episodes) - min(reused, len(episodes)), "reused": min(reused, len(episodes)),
            "failed": failed, "n_failed": len(failed), "space": info["space"], "unified": s.unified,
            "unified_reason": s.unified_reason, "parts": str(parts_dir(out)),
            "seconds": time.perf_counter() - t0}
