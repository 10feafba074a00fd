"""Phase 1 of `convert_rlds`, one shard per task: records -> staged episodes in OUT.parts/.

Per record (= episode): check the framing and CRCs (`tfrecord.py`), parse the Example
(`example.py`), decode the chosen keys (`features.py`), check that every image decodes, compute the
unified vectors when asked (`unified.py`), and write `<parts>/<split>/<shard>/<record:06d>.npz`
(vectors, the images' encoded bytes concatenated with their offsets -- no pickled objects -- and a
JSON `meta`), renamed into place last so a staged episode is complete or absent. When the shard is
done, `shard.json` records its episodes and failures with the shard's size and mtime: a re-run with
the same settings reuses the shard without reading it; a shard interrupted half-way skips (seeks
past) the records already staged. A bad record fails only its episode; a broken frame ends the shard.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from egovla import geometry
from egovla.data.rlds import unified
from egovla.data.rlds.config import Settings
from egovla.data.rlds.example import ExampleError, parse_example
from egovla.data.rlds.features import Episode, Leaf, RLDSFormatError, decode_episode
from egovla.data.rlds.tfrecord import iter_records
from egovla.data.staging import staged_meta


def part_path(shard_dir: Path, record: int) -> Path:
    return shard_dir / f"{record:06d}.npz"


def _stamp(shard: Path) -> dict:
    st = shard.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _vector(ep: Episode, keys: list[str]) -> np.ndarray:
    cols = [np.asarray(ep.values[k], dtype=np.float64).reshape(ep.length, -1) for k in keys]
    return np.concatenate(cols, axis=1) if cols else np.zeros((ep.length, 0))


def _instructions(ep: Episode, s: Settings) -> list[str]:
    if s.cfg["instruction"]:
        return [s.cfg["instruction"]] * ep.length
    text = ep.values.get(s.language_key) if s.language_key else None
    if text is None:
        return [s.cfg["default_instruction"]] * ep.length
    if isinstance(text, str):
        text = [text] * ep.length
    text = [str(t) for t in np.asarray(text, dtype=object).reshape(-1)]
    if len(text) != ep.length:
        text = (text + [""] * ep.length)[:ep.length]
    return [t.strip() or s.cfg["default_instruction"] for t in text]


def _check_images(frames: list[bytes], key: str, where: str) -> tuple[int, int]:
    from PIL import Image

    hw = None
    for i, b in enumerate(frames):
        try:
            with Image.open(io.BytesIO(b)) as im:
                im.load()
                size = (im.height, im.width)
        except Exception as e:  # PIL raises many types for broken data
            raise RLDSFormatError(f"{where}: key {key!r} step {i}: not a decodable image ({e})") from None
        hw = hw or size
    return hw


def _ee_poses(vec: np.ndarray, s: Settings, pos, rot, grip) -> tuple[np.ndarray, np.ndarray]:
    e = s.ee
    R = unified.rotation(vec[:, rot], e["rotation_format"], e["euler_order"])
    T = geometry.make_pose(R, vec[:, pos])
    g = vec[:, grip] if grip >= 0 else np.full(len(vec), e["gripper_open"])
    return T, unified.opening(g, e["gripper_open"], e["gripper_closed"], e["gripper_width"])


def unified_arrays(ep: Episode, state: np.ndarray, action: np.ndarray, s: Settings) -> dict[str, np.ndarray]:
    """The 15 unified gripper dims of state and action (and the action's mask) for one episode."""
    e = s.ee
    if s.extrinsics_key:
        T_base_cam = unified.check_rigid(unified.pose_from_xyz_euler(np.asarray(ep.values[s.extrinsics_key]).reshape(-1)[:6],
                                                                    e["euler_order"]), s.extrinsics_key)
    else:
        T_base_cam = np.array(s.T_base_camera)
    T_cam_base = np.linalg.inv(T_base_cam)
    ee = state if s.ee_keys == s.state_keys else _vector(ep, s.ee_keys)
    T_ee, width = _ee_poses(ee, s, e["position"], e["rotation"], e["gripper"])
    st = unified.gripper_vectors(T_cam_base, T_ee, width, e["pad_depth"])
    n = ep.length
    mask = np.ones((n, len(unified.NAMES)), dtype=np.uint8)
    if e["action"] == "next_state":
        act = np.concatenate([st[1:], st[-1:]])
        mask[-1] = 0  # no pose after the last step
    else:
        if e["action"] == "absolute":
            T_a, w_a = _ee_poses(action, s, e["action_position"], e["action_rotation"], e["action_gripper"])
        else:
            R_d = unified.rotation(action[:, e["action_rotation"]], "rpy", e["euler_order"])
            T_a = T_ee.copy()
            T_a[:, :3, :3] = R_d @ T_ee[:, :3, :3]
            T_a[:, :3, 3] = T_ee[:, :3, 3] + action[:, e["action_position"]]
            g = e["action_gripper"]
            w_a = (unified.opening(action[:, g], e["gripper_open"], e["gripper_closed"], e["gripper_width"])
                   if g >= 0 else width)
        act = unified.gripper_vectors(T_cam_base, T_a, w_a, e["pad_depth"])
    last = ep.values.get("steps/is_last")
    if last is not None:
        mask[np.asarray(last, dtype=bool)] = 0  # RLDS: the action of an is_last step is not valid
    return {"unified_state": st, "unified_action": act, "unified_action_mask": mask}


def stage_episode(data: bytes, leaves: dict[str, Leaf], s: Settings, npz: Path, where: str, meta: dict) -> dict:
    ex = parse_example(data)
    keys = list(dict.fromkeys(s.cameras + s.state_keys + s.action_keys + s.extra_keys + (s.ee_keys if s.unified else [])
                              + [k for k in (s.language_key, s.extrinsics_key) if k]
                              + (["steps/is_last"] if "steps/is_last" in leaves else [])))
    ep = decode_episode(ex, leaves, keys, where)
    state, action = _vector(ep, s.state_keys), _vector(ep, s.action_keys)
    for name, arr in (("state", state), ("action", action)):
        if not np.all(np.isfinite(arr)):
            t = int(np.argwhere(~np.isfinite(arr))[0][0])
            raise RLDSFormatError(f"{where}: the {name} has NaN/inf at step {t}")
    arrays = {"state": state.astype(np.float32), "action": action.astype(np.float32)}
    for k in s.extra_keys:
        arrays["extra:" + k] = np.asarray(ep.values[k]).reshape(ep.length, -1)
    hw = {}
    for cam in s.cameras:
        frames = ep.values[cam]
        hw[cam] = _check_images(frames, cam, where)
        arrays["img:" + cam] = np.frombuffer(b"".join(frames), dtype=np.uint8)
        arrays["off:" + cam] = np.cumsum([0] + [len(b) for b in frames]).astype(np.int64)
    if s.unified:
        arrays.update(unified_arrays(ep, state, action, s))
    meta = {**meta, "steps": ep.length, "image_hw": hw, "instructions": _instructions(ep, s)}
    tmp = npz.with_name(npz.stem + ".tmp.npz")
    with open(tmp, "wb") as f:
        np.savez(f, meta=json.dumps(meta), **arrays)
    os.replace(tmp, npz)
    return meta


def stage_shard(args) -> dict:
    """Worker: one shard -> staged episodes; returns {"shard", "episodes": [meta], "failed": [...], "reused"}."""
    shard, shard_dir, leaves, s, limit = args
    shard, shard_dir = Path(shard), Path(shard_dir)
    fp = s.fingerprint()
    done = shard_dir / "shard.json"
    if not shard.is_file():
        return {"shard": str(shard), "episodes": [], "reused": 0,
                "failed": [{"file": str(shard), "record": None, "error": f"{shard}: shard file is missing"}]}
    stamp = _stamp(shard)
    if done.is_file():
        try:
            prev = json.loads(done.read_text())
        except json.JSONDecodeError:
            prev = {}
        if prev.get("fingerprint") == fp and prev.get("stamp") == stamp and prev.get("limit") == limit and all(
                part_path(shard_dir, e["record"]).is_file() for e in prev["episodes"]):
            return {**prev, "reused": len(prev["episodes"])}
    shard_dir.mkdir(parents=True, exist_ok=True)
    episodes, failed, reused = [], [], 0
    staged = {}

    def want(i: int) -> bool:
        if limit is not None and i >= limit:
            return False
        staged[i] = staged_meta(part_path(shard_dir, i), fp)
        return staged[i] is None

    for rec in iter_records(shard, verify=s.cfg["verify_crc"], want=want):
        if limit is not None and rec.index >= limit:
            break
        if rec.error:
            failed.append({"file": str(shard), "record": rec.index, "error": rec.error})
            if rec.last:
                break
            continue
        if rec.data is None:
            episodes.append(staged[rec.index])
            reused += 1
            continue
        where = f"{shard}: record {rec.index}"
        try:
            meta = {"fingerprint": fp, "file": str(shard), "record": rec.index}
            episodes.append(stage_episode(rec.data, leaves, s, part_path(shard_dir, rec.index), where, meta))
        except (ExampleError, RLDSFormatError, ValueError) as e:
            msg = str(e) if str(e).startswith(str(shard)) else f"{where}: {e}"
            failed.append({"file": str(shard), "record": rec.index, "error": msg})
    out = {"shard": str(shard), "fingerprint": fp, "stamp": stamp, "limit": limit,
           "episodes": [{k: e[k] for k in ("file", "record", "steps")} for e in episodes], "failed": failed}
    tmp = done.with_name("shard.tmp.json")
    tmp.write_text(json.dumps(out))
    os.replace(tmp, done)
    return {**out, "reused": reused}
