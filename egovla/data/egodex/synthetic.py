"""A synthetic stand-in for Apple's EgoDex dataset: HDF5 + MP4 pairs in the real layout.

The scene. A person stands at a table, seen through a head camera about 1.5 m above the floor
that looks forward and 45 degrees down at the table top (0.95 m high, about 0.5 m ahead). The
head sways smoothly (a yaw drift of 6-10 degrees over the episode plus waves of a few degrees in
yaw, pitch and roll, and a few cm of translation; sinusoids with per-episode random phases), so
the first and last camera poses always differ by several degrees and cm. Two articulated hands
hover in front of the camera: wrists about 0.28-0.43 m deep (fingertips up to ~0.57 m), the left
hand on the left of the image, the right on the right, moving and turning smoothly. A wrist's
axes: x toward the fingers, y out of the back of the hand (the palm faces -y), z = x cross y.
Each finger is a kinematic chain (a metacarpal and three phalanges of 2-6.5 cm; the thumb three
segments) whose joints curl about their z axis as the hand opens and closes; each joint's
rotation is that of the segment leaving it. Forearm, arm (elbow) and shoulder points lie behind
the wrist toward the body; hip, spine and neck joints sit at fixed heights under the head.

Poses are built in a body frame (x right, y up, the person looking along -z; ARKit-like, gravity
along -y) and moved into a per-episode world frame by a random yaw about y and a random
translation. Every pose is an SE(3) matrix (T, 4, 4) float32; the rotation columns are the joint's
axes in the world. The camera's columns are the OpenCV camera axes (x right, y down, z forward)
or, with camera_axes="arkit", ARKit's (x right, y up, z backward = OpenCV @ diag(1, -1, -1)).

Frames are drawn with PIL from the same poses through the true (OpenCV) camera: a table-coloured
background, a world-fixed grid on the table plane, and per hand "bones" between connected joints
plus discs at the joints (radius ~ 1/depth; the wrist disc larger and drawn last, so the projected
wrist lands on a disc of its hand's colour: LEFT_COLOUR / RIGHT_COLOUR).

Every joint but `camera` has a confidence in [0.9, 1.0], except for one contiguous span of
max(1, round(low_confidence * frames)) frames per episode where all joints of one random side
(hand and arm) drop to [0.05, 0.15]. With `leave_view`, episode 1 of each task swings the left arm
out to the side from mid-episode; from frame (2 * frames) // 3 on the left wrist projects outside
the image (its confidences stay high). Output is a deterministic function of the config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from egovla.data.egodex.write import write_pair

SIDES = ("left", "right")
FINGERS = ("Index", "Middle", "Ring", "Little")
THUMB_PARTS = ("ThumbKnuckle", "ThumbIntermediateBase", "ThumbIntermediateTip", "ThumbTip")
FINGER_PARTS = ("Metacarpal", "Knuckle", "IntermediateBase", "IntermediateTip", "Tip")
WRIST_JOINT = {s: f"{s}Hand" for s in SIDES}
FINGERTIP_JOINTS = {s: (f"{s}ThumbTip",) + tuple(f"{s}{f}FingerTip" for f in FINGERS) for s in SIDES}
HAND_JOINTS = {s: (f"{s}Hand",) + tuple(s + p for p in THUMB_PARTS)
               + tuple(f"{s}{f}Finger{p}" for f in FINGERS for p in FINGER_PARTS) for s in SIDES}
ARM_JOINTS = {s: (f"{s}Forearm", f"{s}Arm", f"{s}Shoulder") for s in SIDES}
BODY_JOINTS = ("hip",) + tuple(f"spine{i}" for i in range(1, 8)) + tuple(f"neck{i}" for i in range(1, 5))
CONFIDENCE_JOINTS = HAND_JOINTS["left"] + ARM_JOINTS["left"] + HAND_JOINTS["right"] + ARM_JOINTS["right"] + BODY_JOINTS
ALL_JOINTS = ("camera",) + CONFIDENCE_JOINTS

EGODEX_SIZE = (1920, 1080)
EGODEX_FOCAL = 736.6339  # pixels at 1920x1080; principal point at the image centre
BACKGROUND = (182, 160, 128)
GRID_COLOUR = (128, 108, 84)
LEFT_COLOUR = (40, 90, 230)
RIGHT_COLOUR = (240, 130, 30)
HAND_COLOURS = {"left": LEFT_COLOUR, "right": RIGHT_COLOUR}
HEAD_HEIGHT, TABLE_HEIGHT, HEAD_PITCH = 1.5, 0.95, np.radians(-45.0)
# task -> (llm_type, description, reversed description, environment, object)
TASKS = {
    "open_drawer": ("reversible", "open the drawer", "close the drawer", "kitchen", "drawer"),
    "stack_cups": ("static", "stack the cups on top of each other", "", "table", "cups"),
    "open_jar": ("reversible", "unscrew the lid of the jar", "screw the lid onto the jar", "kitchen", "jar"),
}
# fingers: lateral offset of the metacarpal base (x side sign), spread angle (deg, x side sign),
# segment lengths (metacarpal, proximal, intermediate, distal) in metres
_FINGER_GEOMETRY = {
    "Index": (-0.022, 6.0, (0.065, 0.040, 0.024, 0.020)),
    "Middle": (-0.006, 1.0, (0.063, 0.044, 0.028, 0.021)),
    "Ring": (0.009, -4.0, (0.058, 0.041, 0.027, 0.020)),
    "Little": (0.022, -9.0, (0.053, 0.032, 0.019, 0.018)),
}
_OPENCV_BASE = np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])  # a level OpenCV camera looking along -z


@dataclass
class SyntheticEgoDexConfig:
    tasks: tuple[str, ...] = field(default=("open_drawer", "stack_cups"), metadata={
        "help": "task folder names", "metavar": "T1,T2"})
    episodes: int = field(default=2, metadata={"help": "episodes per task", "metavar": "N"})
    frames: int = field(default=60, metadata={"help": "frames per episode", "metavar": "T"})
    width: int = field(default=320, metadata={"help": "video width"})
    height: int = field(default=180, metadata={"help": "video height"})
    fps: int = field(default=30, metadata={"help": "frame rate"})
    seed: int = field(default=0, metadata={"help": "seed of the trajectories"})
    confidences: bool = field(default=True, metadata={"help": "write joint confidences"})
    camera_axes: str = field(default="opencv", metadata={"help": "axes of the stored camera pose",
                                                         "choices": ("opencv", "arkit")})
    low_confidence: float = field(default=0.0, metadata={
        "help": "fraction of each episode where one hand's confidence drops to ~0.1", "metavar": "F"})
    leave_view: bool = field(default=False, metadata={
        "help": "in episode 1 of each task the left hand leaves the view for the last third"})

    def __post_init__(self):
        self.tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        if not self.tasks or not all(isinstance(t, str) and t and "/" not in t for t in self.tasks):
            raise ValueError(f"tasks must be non-empty names without '/', got {self.tasks!r}")
        for name in ("episodes", "frames", "width", "height", "fps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("width", "height"):
            if getattr(self, name) % 2:
                raise ValueError(f"{name} must be even for yuv420p video, got {getattr(self, name)}")
        if self.camera_axes not in ("opencv", "arkit"):
            raise ValueError(f"camera_axes must be 'opencv' or 'arkit', got {self.camera_axes!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not 0.0 <= self.low_confidence <= 1.0:
            raise ValueError(f"low_confidence must be in [0, 1], got {self.low_confidence!r}")


def intrinsic_matrix(width: int, height: int) -> np.ndarray:
    """EgoDex's 1920x1080 intrinsics scaled to width x height, (3, 3) float32."""
    sx, sy = width / EGODEX_SIZE[0], height / EGODEX_SIZE[1]
    return np.array([[EGODEX_FOCAL * sx, 0, 960 * sx], [0, EGODEX_FOCAL * sy, 540 * sy], [0, 0, 1]], np.float32)


def _axis_rotation(axis: int, angle) -> np.ndarray:
    """Rotations by `angle` (radians, any shape) about coordinate axis 0/1/2, shape (..., 3, 3)."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i], R[..., i, j], R[..., j, i], R[..., j, j] = c, -s, s, c
    return R


def _rodrigues(w: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) to matrices (..., 3, 3)."""
    theta = np.linalg.norm(w, axis=-1)[..., None, None]
    k = w / np.maximum(theta[..., 0], 1e-12)
    K = np.zeros(w.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K = K - np.swapaxes(K, -1, -2)
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


def _frame_from_x(x: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Rotations whose x column is along x (..., 3) and whose y column leans toward `up`."""
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.asarray(up) - (x @ np.asarray(up))[..., None] * x
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _waves(rng, u: np.ndarray, cycles: float, amp, dims: int) -> np.ndarray:
    """Smooth random signals (T, dims): two sinusoids per dimension with random phases."""
    out = np.zeros((len(u), dims))
    for harmonic, weight in ((1.0, 1.0), (2.0, 0.35)):
        phase = rng.uniform(0, 2 * np.pi, dims)
        out += weight * np.sin(2 * np.pi * harmonic * cycles * u[:, None] + phase)
    return out * np.asarray(amp) / 1.35


def _head(rng, u, cycles):
    """Camera (OpenCV axes) rotations (T, 3, 3) and positions (T, 3) in the body frame."""
    drift = rng.choice([-1, 1]) * np.radians(rng.uniform(6, 10))
    yaw = drift * (u - 0.5) + _waves(rng, u, cycles, np.radians(4.0), 1)[:, 0]
    pitch = HEAD_PITCH + _waves(rng, u, cycles, np.radians(4.0), 1)[:, 0]
    roll = _waves(rng, u, cycles, np.radians(2.0), 1)[:, 0]
    R = _axis_rotation(1, yaw) @ _axis_rotation(0, pitch) @ _OPENCV_BASE @ _axis_rotation(2, roll)
    direction = rng.normal(size=3) * (1, 0.3, 1)
    step = rng.uniform(0.03, 0.05) * direction / np.linalg.norm(direction)
    p = np.array([0.0, HEAD_HEIGHT, 0.0]) + step * (u[:, None] - 0.5) + _waves(rng, u, cycles, 0.015, 3)
    return R, p


def _chain(poses, R_base, p_start, names, lengths, bends):
    """Walk a finger: joint k sits at the end of segment k-1 and turns by bends[k] about its z."""
    R, p = R_base, p_start
    for k, name in enumerate(names):
        if k > 0:
            p = p + R @ np.array([lengths[k - 1], 0.0, 0.0])
        if k < len(bends):
            R = R @ _axis_rotation(2, -bends[k])
        poses[name] = (R, p)


def _side(poses, rng, side, t, u, head_p, leave):
    """Poses of one side's wrist, fingers, forearm, elbow and shoulder (body frame)."""
    s = 1.0 if side == "right" else -1.0
    nominal_R = _axis_rotation(0, HEAD_PITCH) @ _OPENCV_BASE
    in_camera = np.array([0.12 * s, 0.03, 0.36]) + _waves(rng, t, rng.uniform(0.25, 0.5), (0.035, 0.025, 0.045), 3)
    wrist = np.array([0.0, HEAD_HEIGHT, 0.0]) + in_camera @ nominal_R.T
    if leave:  # the arm drops out to the side, far outside the field of view
        x = np.clip((u - 0.5) * 6, 0, 1)[:, None]  # 0 at half the episode, 1 from two thirds on
        w = x * x * (3 - 2 * x)
        wrist = (1 - w) * wrist + w * np.array([0.9 * s, 1.25, 0.0])
    fingers_dir = _axis_rotation(1, np.radians(5) * s) @ np.array([0.0, -0.1, -1.0])  # forward, a bit inward
    R_wrist = _frame_from_x(fingers_dir) @ _rodrigues(_waves(rng, t, rng.uniform(0.2, 0.4), 0.25, 3))
    poses[f"{side}Hand"] = (R_wrist, wrist)
    curl = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(0.3, 0.6) * t + rng.uniform(0, 2 * np.pi))
    for finger, (lateral, spread, lengths) in _FINGER_GEOMETRY.items():
        R0 = R_wrist @ _axis_rotation(1, np.radians(spread * s))
        start = wrist + R_wrist @ np.array([0.01, 0.0, lateral * s])
        bends = [np.radians(a) * (0.1 + 0.9 * curl) for a in (0.0, 70.0, 85.0, 55.0)]
        _chain(poses, R0, start, [f"{side}{finger}Finger{p}" for p in FINGER_PARTS], lengths, bends)
    R0 = R_wrist @ _axis_rotation(1, np.radians(45 * s)) @ _axis_rotation(0, np.radians(-30 * s))
    start = wrist + R_wrist @ np.array([0.025, -0.01, -0.02 * s])
    bends = [np.radians(a) * (0.2 + 0.8 * curl) for a in (20.0, 35.0, 40.0)]
    _chain(poses, R0, start, [side + p for p in THUMB_PARTS], (0.04, 0.032, 0.027), bends)
    shoulder = np.array([0.18 * s, HEAD_HEIGHT - 0.25, 0.08]) + 0.5 * (head_p - head_p.mean(0))
    elbow = 0.5 * (shoulder + wrist) + np.array([0.10 * s, -0.15, 0.0])
    forearm = 0.5 * (elbow + wrist)
    poses[f"{side}Forearm"] = (_frame_from_x(wrist - elbow), forearm)
    poses[f"{side}Arm"] = (_frame_from_x(wrist - elbow), elbow)
    poses[f"{side}Shoulder"] = (_frame_from_x(elbow - shoulder), shoulder)


def _episode_poses(rng, cfg: SyntheticEgoDexConfig, leave: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All transforms (T, 4, 4) float64 in the episode's world frame (camera with OpenCV axes), and
    the world-from-body transform (4, 4)."""
    T = cfg.frames
    t, u = np.arange(T) / cfg.fps, np.arange(T) / max(T - 1, 1)
    cycles = max(1, round(0.4 * T / cfg.fps))  # whole cycles: the sway ends where it began
    head_R, head_p = _head(rng, u, cycles)
    poses = {"camera": (head_R, head_p)}
    for side in SIDES:
        _side(poses, rng, side, t, u, head_p, leave and side == "left")
    heights = np.concatenate([[0.95], np.linspace(1.0, 1.30, 7), np.linspace(1.35, 1.46, 4)])
    for name, height in zip(BODY_JOINTS, heights):
        p = head_p * (1, 0, 1) + np.array([0.0, height, 0.06])
        poses[name] = (np.broadcast_to(np.eye(3), (T, 3, 3)), p)
    world = np.eye(4)
    world[:3, :3] = _axis_rotation(1, rng.uniform(0, 2 * np.pi))
    world[:3, 3] = rng.uniform(-2, 2, 3) * (1, 0.25, 1)
    out = {}
    for name in ALL_JOINTS:
        R, p = poses[name]
        M = np.zeros((T, 4, 4))
        M[:, :3, :3], M[:, :3, 3], M[:, 3, 3] = np.broadcast_to(R, (T, 3, 3)), np.broadcast_to(p, (T, 3)), 1.0
        out[name] = world @ M
    return out, world


def _confidences(rng, cfg: SyntheticEgoDexConfig) -> dict[str, np.ndarray]:
    T = cfg.frames
    conf = {name: rng.uniform(0.9, 1.0, T).astype(np.float32) for name in CONFIDENCE_JOINTS}
    span = max(1, int(round(cfg.low_confidence * T))) if cfg.low_confidence > 0 else 0
    if span:
        side, start = str(rng.choice(SIDES)), int(rng.integers(0, T - span + 1))
        for name in HAND_JOINTS[side] + ARM_JOINTS[side]:
            conf[name][start:start + span] = rng.uniform(0.05, 0.15, span)
    return conf


def _bones(side: str) -> list[tuple[str, str]]:
    pairs = [(f"{side}Arm", f"{side}Forearm"), (f"{side}Forearm", f"{side}Hand")]
    thumb = [f"{side}Hand"] + [side + p for p in THUMB_PARTS]
    pairs += list(zip(thumb[:-1], thumb[1:]))
    for f in FINGERS:
        chain = [f"{side}Hand"] + [f"{side}{f}Finger{p}" for p in FINGER_PARTS]
        pairs += list(zip(chain[:-1], chain[1:]))
    return pairs


def _project(M_cam: np.ndarray, K: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> pixels (N, 2) and depths (N,) through an OpenCV camera pose (4, 4)."""
    cam = (points - M_cam[:3, 3]) @ M_cam[:3, :3]
    z = cam[:, 2]
    uv = cam[:, :2] / np.where(np.abs(z) < 1e-9, 1e-9, z)[:, None] * K[[0, 1], [0, 1]] + K[:2, 2]
    return uv, z


def _render(poses, K, cfg: SyntheticEgoDexConfig, table_world: np.ndarray) -> np.ndarray:
    frames = np.empty((cfg.frames, cfg.height, cfg.width, 3), np.uint8)
    near, f = 0.05, float(K[0, 0])
    names = [n for n in ALL_JOINTS if n != "camera" and n not in BODY_JOINTS]
    index = {n: i for i, n in enumerate(names)}
    rows, cols = table_world.shape[:2]
    for i in range(cfg.frames):
        img = Image.new("RGB", (cfg.width, cfg.height), BACKGROUND)
        draw = ImageDraw.Draw(img)
        uv, z = _project(poses["camera"][i], K, table_world.reshape(-1, 3))
        uv, z = uv.reshape(rows, cols, 2), z.reshape(rows, cols)
        for a, b in [((r, c), (r, c + 1)) for r in range(rows) for c in range(cols - 1)] + \
                    [((r, c), (r + 1, c)) for r in range(rows - 1) for c in range(cols)]:
            if z[a] > near and z[b] > near:
                draw.line([tuple(uv[a]), tuple(uv[b])], fill=GRID_COLOUR, width=1)
        joints = np.stack([poses[n][i, :3, 3] for n in names])
        juv, jz = _project(poses["camera"][i], K, joints)
        wrist_depth = {s: jz[index[WRIST_JOINT[s]]] for s in SIDES}
        for side in sorted(SIDES, key=lambda s: -wrist_depth[s]):  # the farther hand first
            colour = HAND_COLOURS[side]
            for a, b in _bones(side):
                ia, ib = index[a], index[b]
                if jz[ia] > near and jz[ib] > near:
                    draw.line([tuple(juv[ia]), tuple(juv[ib])], fill=colour, width=max(1, round(0.006 * f / jz[ib])))
            for name in HAND_JOINTS[side][::-1]:  # the wrist last, on top
                k = index[name]
                if jz[k] > near:
                    r = max(1.0, (0.02 if name == WRIST_JOINT[side] else 0.007) * f / jz[k])
                    draw.ellipse([juv[k, 0] - r, juv[k, 1] - r, juv[k, 0] + r, juv[k, 1] + r], fill=colour)
        frames[i] = np.asarray(img)
    return frames


def _attributes(task: str, episode: int, seed: int) -> dict[str, str]:
    default = ("static", task.replace("_", " "), "", "table", "object")
    llm_type, first, second, environment, obj = TASKS.get(task, default)
    which = "2" if llm_type == "reversible" and episode % 2 else "1"
    return {"llm_description": first, "llm_description2": second, "which_llm_description": which,
            "llm_type": llm_type, "task": task, "environment": environment, "object": obj,
            "session_name": f"synthetic_s{seed}_{task}_{episode:03d}"}


def write_synthetic_egodex(root: str | Path, cfg: SyntheticEgoDexConfig | None = None, **overrides) -> list[Path]:
    """Write `<root>/<task>/<i>.hdf5` and `<i>.mp4` for every task and episode; return the hdf5 paths in order."""
    cfg = dataclasses.replace(cfg or SyntheticEgoDexConfig(), **overrides)
    K = intrinsic_matrix(cfg.width, cfg.height)
    gx, gz = np.meshgrid(np.linspace(-0.7, 0.7, 15), np.linspace(-1.2, -0.1, 12))
    table = np.stack([gx, np.full_like(gx, TABLE_HEIGHT), gz, np.ones_like(gx)], -1)  # body frame, homogeneous
    paths = []
    for ti, task in enumerate(cfg.tasks):
        folder = Path(root) / task
        folder.mkdir(parents=True, exist_ok=True)
        for ep in range(cfg.episodes):
            rng = np.random.default_rng([cfg.seed, ti, ep])
            poses, world = _episode_poses(rng, cfg, leave=cfg.leave_view and ep == 1)
            conf = _confidences(rng, cfg) if cfg.confidences else None
            frames = _render(poses, K, cfg, (table @ world.T)[..., :3])
            write_pair(folder / f"{ep}.hdf5", frames, cfg.fps, K, poses, conf, _attributes(task, ep, cfg.seed),
                       cfg.camera_axes)
            paths.append(folder / f"{ep}.hdf5")
    return paths
