"""`RLDSConfig` (every user-facing option, with its help text) and its resolution against a builder.

`resolve(cfg, builder)` fills what the config leaves open from the preset (or, without one, from
what the dataset has), checks every key against features.json, and decides the action space:
`space="auto"` writes the unified gripper space when the end-effector layout AND camera extrinsics
are known, else the native vectors only (and says why); "unified" insists; "native" never tries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from egovla.data.rlds import unified
from egovla.data.rlds.features import Builder, Leaf, RLDSFormatError
from egovla.data.rlds.presets import PRESET_NAMES, PRESETS, Preset

SPACES = ("auto", "native", "unified")
UNIFIED_ACTIONS = ("next_state", "delta", "absolute")
LANGUAGE_KEYS = ("language_instruction", "observation/natural_language_instruction")


def _f(default, help: str):
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: default, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class RLDSConfig:
    preset: str = _f("none", "dataset preset giving camera/state/action/language keys and fps: "
                     "'bridge' (BridgeData V2), 'fractal' (RT-1), 'droid', or 'none' (take them from the dataset)")
    split: str = _f("train", "TFDS split to convert (as listed in dataset_info.json)")
    cameras: tuple[str, ...] = _f((), "image keys to write as videos, without 'steps/' (e.g. observation/image_0); "
                                  "default: the preset's, or every image feature")
    state_keys: tuple[str, ...] = _f((), "step keys concatenated into the state (default: the preset's, or observation/state)")
    action_keys: tuple[str, ...] = _f((), "step keys concatenated into the action (default: the preset's, or action)")
    language_key: str = _f("", "step (or episode) text key of the instruction (default: the preset's, or "
                           "language_instruction / observation/natural_language_instruction when present)")
    extra_keys: tuple[str, ...] | None = _f(None, "more numeric keys kept as features 'rlds.<key with dots>' "
                                            "(default: the preset's; () for none)")
    instruction: str = _f("", "use this instruction for every episode instead of the dataset's")
    default_instruction: str = _f("perform the task", "instruction for steps whose language text is empty or absent")
    fps: int = _f(0, "control rate of the dataset in Hz (default: the preset's: bridge 5, fractal 3, droid 15)")
    image_size: int = _f(0, "stored image height in pixels (0: keep the dataset's size)")
    crop: str = _f("none", "with image_size: 'none' keeps the aspect ratio, 'center' cuts the centred square")
    space: str = _f("auto", "'native': state/action are the dataset's vectors; 'unified': also the right-hand gripper "
                    "slots of the unified space in the camera frame (needs an end-effector layout and extrinsics); "
                    "'auto': unified when possible, else native with a note")
    T_base_camera: tuple[float, ...] = _f((), "camera extrinsics: 16 numbers, row-major 4x4 mapping camera (OpenCV axes) "
                                          "to robot-base coordinates; enables the unified space")
    extrinsics_file: str = _f("", "JSON file with T_base_camera (16 numbers, a 4x4 list, {'T_base_camera': ...} or "
                              "{camera: ...})")
    extrinsics_key: str = _f("", "episode-level key holding [x, y, z, roll, pitch, yaw] of the camera in the base "
                             "frame (e.g. DROID's episode_metadata/extrinsics_exterior_cam_1), read per episode")
    extrinsics_camera: str = _f("", "camera whose frame the unified vectors are in (default: the first camera)")
    ee_keys: tuple[str, ...] = _f((), "step keys concatenated into the end-effector vector that ee_* index "
                                  "(default: the preset's, else the state keys)")
    ee_position: tuple[int, ...] = _f((), "indices of the end-effector x, y, z in the end-effector vector (default: preset's)")
    ee_rotation: tuple[int, ...] = _f((), "indices of its rotation in that vector: 3 euler angles or 4 quaternion values "
                                      "(default: preset's)")
    ee_rotation_format: str = _f("", "'rpy' (euler, see euler_order), 'quat_wxyz' or 'quat_xyzw' (default: preset's, or rpy)")
    euler_order: str = _f("xyz", "euler convention (scipy notation): lowercase extrinsic, uppercase intrinsic; "
                          "'xyz' = R = Rz(yaw) Ry(pitch) Rx(roll)")
    ee_gripper: int = _f(-1, "index of the gripper value in the end-effector vector (-1: the preset's; none without a preset)")
    gripper_open: float | None = _f(None, "gripper value meaning fully open (default: preset's, or 1)")
    gripper_closed: float | None = _f(None, "gripper value meaning closed (default: preset's, or 0)")
    gripper_width: float = _f(0.08, "jaw opening in metres when fully open (thumb-index distance in the unified space)")
    pad_depth: float = _f(0.0, "distance of the jaw pads along the end-effector z axis, metres")
    unified_action: str = _f("next_state", "unified action at step t: 'next_state' (the end-effector pose at t+1), "
                             "'delta' (state + the action's deltas, base frame) or 'absolute' (the action is a pose)")
    action_position: tuple[int, ...] = _f((0, 1, 2), "indices of the position (delta) in the action, for delta/absolute")
    action_rotation: tuple[int, ...] = _f((3, 4, 5), "indices of the rotation (delta) in the action, for delta/absolute")
    action_gripper: int = _f(6, "index of the gripper command in the action, for delta/absolute (-1: from the state)")
    max_episodes: int = _f(0, "convert at most this many episodes, in shard order (0: all)")
    workers: int = _f(1, "processes converting shards in parallel")
    verify_crc: bool = _f(True, "check both CRC32C values of every record (a mismatch fails that episode)")

    def __post_init__(self) -> None:
        if self.preset not in PRESET_NAMES:
            raise ValueError(f"preset must be one of {PRESET_NAMES}, got {self.preset!r}")
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        if self.unified_action not in UNIFIED_ACTIONS:
            raise ValueError(f"unified_action must be one of {UNIFIED_ACTIONS}, got {self.unified_action!r}")
        if self.crop not in ("none", "center"):
            raise ValueError(f"crop must be 'none' or 'center', got {self.crop!r}")
        if self.fps < 0 or self.image_size < 0 or self.max_episodes < 0 or self.workers < 1:
            raise ValueError("fps, image_size and max_episodes must be >= 0 and workers >= 1")
        if self.image_size and self.image_size < 2:
            raise ValueError(f"image_size must be at least 2 pixels, got {self.image_size}")
        for name in ("cameras", "state_keys", "action_keys", "ee_keys", "T_base_camera", "ee_position", "ee_rotation",
                     "action_position", "action_rotation"):
            setattr(self, name, tuple(getattr(self, name)))
        if self.extra_keys is not None:
            self.extra_keys = tuple(self.extra_keys)
        unified.euler_matrix(np.zeros(3), self.euler_order)  # validates the order


@dataclass
class Settings:
    """What a conversion does, fully resolved (stored in the sidecar; hashed to validate staged work)."""
    cameras: list[str]
    state_keys: list[str]
    action_keys: list[str]
    language_key: str
    extra_keys: list[str]
    ee_keys: list[str]
    fps: int
    state_names: list[str]
    action_names: list[str]
    unified: bool
    unified_reason: str
    T_base_camera: list | None
    extrinsics_key: str
    extrinsics_camera: str
    ee: dict
    cfg: dict

    def fingerprint(self) -> str:
        d = dataclasses.asdict(self)
        for k in ("workers", "max_episodes"):
            d["cfg"].pop(k, None)
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _check_keys(keys, builder: Builder, what: str, kinds: tuple[str, ...], step: bool = True) -> list[str]:
    out = []
    for k in keys:
        path = f"steps/{k}" if step and not k.startswith("steps/") else k
        leaf: Leaf | None = builder.leaves.get(path)
        if leaf is None or leaf.kind not in kinds:
            have = sorted(p[6:] if p.startswith("steps/") else p for p, lf in builder.leaves.items()
                          if lf.kind in kinds and (lf.step or not step))
            raise RLDSFormatError(f"{builder.root / 'features.json'}: {what} key {k!r} is not a "
                                  f"{'/'.join(kinds)} feature; those are: {have}")
        out.append(path)
    return out


def _names(builder: Builder, keys: list[str], preset: Preset | None) -> list[str]:
    names = []
    for path in keys:
        short = path[6:] if path.startswith("steps/") else path
        leaf = builder.leaves[path]
        given = (preset.names.get(short) if preset else None)
        if given and len(given) == leaf.size:
            names += [f"{short.rsplit('/', 1)[-1]}.{n}" if len(keys) > 1 else n for n in given]
        else:
            base = short.replace("/", ".")
            names += [base] if leaf.size == 1 else [f"{base}.{i}" for i in range(leaf.size)]
    return names


def resolve(cfg: RLDSConfig, builder: Builder) -> Settings:
    p = PRESETS.get(cfg.preset)
    steps = {k[6:] for k, lf in builder.leaves.items() if lf.step}
    images = [k[6:] for k, lf in builder.leaves.items() if lf.step and lf.kind == "image"]
    cameras = list(cfg.cameras or (p.cameras if p else images))
    state = list(cfg.state_keys or (p.state_keys if p else ["observation/state"]))
    action = list(cfg.action_keys or (p.action_keys if p else ["action"]))
    if not cameras:
        raise RLDSFormatError(f"{builder.root}: the dataset has no image feature; a policy needs at least one camera")
    language = cfg.language_key or (p.language_key if p else next((k for k in LANGUAGE_KEYS if k in steps), ""))
    extras = list(cfg.extra_keys if cfg.extra_keys is not None else (p.extra_keys if p else ()))
    fps = cfg.fps or (p.fps if p else 0)
    if not fps:
        raise ValueError(f"{builder.root}: the control rate is not stored in RLDS files; give fps (Hz)")
    cam_paths = _check_keys(cameras, builder, "camera", ("image",))
    state_paths = _check_keys(state, builder, "state", ("tensor",))
    action_paths = _check_keys(action, builder, "action", ("tensor",))
    extra_paths = _check_keys(extras, builder, "extra", ("tensor",))
    lang_path = ""
    if language:
        lang_path = (_check_keys([language], builder, "language", ("text", "tensor"))[0]
                     if f"steps/{language}" in builder.leaves else _check_keys([language], builder, "language", ("text", "tensor"), step=False)[0])
    state_names, action_names = _names(builder, state_paths, p), _names(builder, action_paths, p)

    ee_paths = _check_keys(cfg.ee_keys or (p.ee_keys if p and p.ee_keys else state), builder, "end-effector", ("tensor",))
    n_ee = sum(builder.leaves[k].size for k in ee_paths)
    ee = {"position": list(cfg.ee_position or (p.ee_position if p else ())),
          "rotation": list(cfg.ee_rotation or (p.ee_rotation if p else ())),
          "rotation_format": cfg.ee_rotation_format or (p.ee_rotation_format if p else "rpy"),
          "euler_order": cfg.euler_order,
          "gripper": cfg.ee_gripper if cfg.ee_gripper >= 0 else (p.ee_gripper if p else -1),
          "gripper_open": cfg.gripper_open if cfg.gripper_open is not None else (p.gripper_open if p else 1.0),
          "gripper_closed": cfg.gripper_closed if cfg.gripper_closed is not None else (p.gripper_closed if p else 0.0),
          "gripper_width": cfg.gripper_width, "pad_depth": cfg.pad_depth, "action": cfg.unified_action,
          "action_position": list(cfg.action_position), "action_rotation": list(cfg.action_rotation),
          "action_gripper": cfg.action_gripper}
    ext_cam = cfg.extrinsics_camera or cameras[0]
    if ext_cam not in cameras:
        raise ValueError(f"extrinsics_camera {ext_cam!r} is not one of the converted cameras {cameras}")
    T = unified.parse_extrinsics(cfg.T_base_camera, cfg.extrinsics_file, ext_cam)
    ext_key = ""
    if cfg.extrinsics_key:
        ext_key = _check_keys([cfg.extrinsics_key], builder, "extrinsics", ("tensor",), step=False)[0]
    reason = ""
    need = 3 if ee["rotation_format"] == "rpy" else 4
    if len(ee["position"]) != 3 or len(ee["rotation"]) != need:
        reason = (f"the end-effector layout is unknown (ee_position needs 3 and ee_rotation {need} state indices; "
                  f"preset {cfg.preset!r} gives none)" if not ee["position"] else
                  f"ee_position needs 3 indices and ee_rotation {need}, got {ee['position']} and {ee['rotation']}")
    elif max(ee["position"] + ee["rotation"] + [ee["gripper"]]) >= n_ee:
        reason = (f"end-effector indices {ee['position'] + ee['rotation']} (gripper {ee['gripper']}) exceed the "
                  f"{n_ee} dims of {[k[6:] for k in ee_paths]}")
    elif T is None and not ext_key:
        reason = ("no camera extrinsics: give T_base_camera (16 numbers), extrinsics_file, or extrinsics_key, so the "
                  "end-effector pose can be put in the camera frame")
    if not reason and cfg.unified_action != "next_state":
        idx = ee["action_position"] + ee["action_rotation"] + [ee["action_gripper"]]
        if len(ee["action_position"]) != 3 or len(ee["action_rotation"]) != need or max(idx) >= len(action_names):
            reason = f"action indices {idx} do not fit the action's {len(action_names)} dims for unified_action={cfg.unified_action!r}"
    if cfg.space == "unified" and reason:
        raise ValueError(f"space='unified' is not possible: {reason}")
    use_unified = cfg.space != "native" and not reason
    if cfg.space == "native":
        reason = "space='native' was asked for"
    return Settings(cameras=cam_paths, state_keys=state_paths, action_keys=action_paths, language_key=lang_path,
                    extra_keys=extra_paths, ee_keys=ee_paths, fps=int(fps), state_names=state_names, action_names=action_names,
                    unified=use_unified, unified_reason="" if use_unified else reason,
                    T_base_camera=None if T is None else T.tolist(), extrinsics_key=ext_key,
                    extrinsics_camera=f"steps/{ext_cam}" if not ext_cam.startswith("steps/") else ext_cam,
                    ee=ee, cfg=dataclasses.asdict(cfg))
