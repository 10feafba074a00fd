"""The unified action/state space and the geometry that produces it.

Every label lives in the camera frame of the *current* observation: OpenCV axes (x right, y down,
z forward), metres. Each hand takes 24 numbers, left hand in slots 0..23, right in 24..47:

| part         | size | meaning                                                                |
|--------------|------|------------------------------------------------------------------------|
| `wrist_pos`  | 3    | wrist / end-effector position in the current camera frame              |
| `wrist_rot`  | 6    | wrist rotation in the camera frame: first two columns, [col0, col1]    |
| `fingertips` | 15   | thumb, index, middle, ring, little tip xyz, in that hand's WRIST frame |

Conventions: rotation matrices act on column vectors (p_cam = R @ p_wrist + t); poses are (..., 4, 4)
homogeneous matrices where `T_a_b` maps points in frame b to frame a; quaternions are (w, x, y, z).
The 6D rotation and matrix conversions (and `pack_hand`/`unpack_hand`) accept numpy arrays or
torch tensors and return the same kind; everything else is numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------

HANDS = ("left", "right")
FINGERS = ("thumb", "index", "middle", "ring", "little")
PARTS = ("wrist_pos", "wrist_rot", "fingertips")
PART_DIMS = {"wrist_pos": 3, "wrist_rot": 6, "fingertips": 15}
HAND_DIM = 24
ACTION_DIM = 48

#: Default loss weight per group of `slice_groups()`.
DEFAULT_LOSS_WEIGHTS = {"translation": 20.0, "rotation": 5.0, "hand": 5.0}


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what}: expected one of {choices}, got {value!r}")


def slot(hand: str, part: str) -> slice:
    """The slice of the 48-vector holding `part` of `hand` (e.g. slot("right", "wrist_rot"))."""
    _check_choice(hand, HANDS, "hand")
    _check_choice(part, PARTS, "part")
    start = HANDS.index(hand) * HAND_DIM
    for p in PARTS[: PARTS.index(part)]:
        start += PART_DIMS[p]
    return slice(start, start + PART_DIMS[part])


def fingertip_slot(hand: str, finger: str) -> slice:
    """The 3-wide slice holding one fingertip's xyz (in the wrist frame)."""
    _check_choice(finger, FINGERS, "finger")
    start = slot(hand, "fingertips").start + 3 * FINGERS.index(finger)
    return slice(start, start + 3)


def names() -> list[str]:
    """48 names in slot order, e.g. "left.wrist_pos.x", "left.wrist_rot.r10", "right.fingertips.thumb.z".

    Rotation entries are named r{row}{col} of the rotation matrix: r00, r10, r20, r01, r11, r21.
    """
    out = []
    for hand in HANDS:
        out += [f"{hand}.wrist_pos.{a}" for a in "xyz"]
        out += [f"{hand}.wrist_rot.r{row}{col}" for col in range(2) for row in range(3)]
        out += [f"{hand}.fingertips.{f}.{a}" for f in FINGERS for a in "xyz"]
    return out


def mask_for(
    hands: Iterable[str] = HANDS,
    parts: Iterable[str] = PARTS,
    fingers: Iterable[str] = FINGERS,
) -> np.ndarray:
    """Boolean (48,) mask of the dims an embodiment has; `fingers` only restricts "fingertips".

    A parallel gripper on the right arm: mask_for(("right",), PARTS, ("thumb", "index")).
    """
    mask = np.zeros(ACTION_DIM, dtype=bool)
    fingers = tuple(fingers)
    for f in fingers:
        _check_choice(f, FINGERS, "finger")
    for hand in hands:
        for part in parts:
            if part == "fingertips":
                for f in fingers:
                    mask[fingertip_slot(hand, f)] = True
            else:
                mask[slot(hand, part)] = True
    return mask


def slice_groups() -> dict[str, np.ndarray]:
    """Boolean (48,) masks of the loss groups: "translation" (wrist positions), "rotation"
    (wrist rotations) and "hand" (fingertips), both hands each; together they cover every dim once."""
    return {
        "translation": mask_for(parts=("wrist_pos",)),
        "rotation": mask_for(parts=("wrist_rot",)),
        "hand": mask_for(parts=("fingertips",)),
    }


def group_weights(weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS) -> np.ndarray:
    """Per-dim float32 (48,) loss weights from a {group: weight} mapping over `slice_groups()`."""
    groups = slice_groups()
    if set(weights) != set(groups):
        raise ValueError(f"weights: expected keys {sorted(groups)}, got {sorted(weights)}")
    out = np.zeros(ACTION_DIM, dtype=np.float32)
    for name, mask in groups.items():
        out[mask] = weights[name]
    return out


# ----------------------------------------------------------------------------------------------
# Shape checks and numpy/torch dispatch
# ----------------------------------------------------------------------------------------------


def _shape_str(tail: tuple[int, ...]) -> str:
    return "(..., " + ", ".join(str(d) for d in tail) + ")"


def _check(x: Any, name: str, tail: tuple[int, ...]) -> None:
    shape = tuple(x.shape)
    if len(shape) < len(tail) or shape[len(shape) - len(tail) :] != tail:
        raise ValueError(f"{name}: expected shape {_shape_str(tail)}, got {shape}")


def _arr(x: Any, name: str, tail: tuple[int, ...]) -> Any:
    """Torch tensors pass through; anything else becomes a float numpy array. Checks the shape."""
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
    _check(x, name, tail)
    return x


def _np(x: Any, name: str, tail: tuple[int, ...]) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return _arr(x, name, tail)


def _cat(xs: list, axis: int = -1) -> Any:
    return torch.cat(xs, dim=axis) if isinstance(xs[0], torch.Tensor) else np.concatenate(xs, axis)


def _stack(xs: list, axis: int = -1) -> Any:
    return torch.stack(xs, dim=axis) if isinstance(xs[0], torch.Tensor) else np.stack(xs, axis)


def _normalize(v: Any, eps: float = 1e-12) -> Any:
    if isinstance(v, torch.Tensor):
        return v / torch.linalg.norm(v, dim=-1, keepdim=True).clamp_min(eps)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def _cross(a: Any, b: Any) -> Any:
    return torch.linalg.cross(a, b, dim=-1) if isinstance(a, torch.Tensor) else np.cross(a, b)


# ----------------------------------------------------------------------------------------------
# 6D rotation (Zhou et al., "On the Continuity of Rotation Representations", CVPR 2019)
# ----------------------------------------------------------------------------------------------


def rot6d_from_matrix(R: Any) -> Any:
    """(..., 3, 3) rotation -> (..., 6): its first two columns, [col0, col1]. numpy or torch."""
    R = _arr(R, "R", (3, 3))
    return _cat([R[..., :, 0], R[..., :, 1]])


def matrix_from_rot6d(rot6d: Any) -> Any:
    """(..., 6) -> (..., 3, 3) rotation by Gram–Schmidt; third column = col0 x col1. numpy or torch.

    Any 6-vector whose two halves are non-zero and not parallel maps to a proper rotation.
    """
    rot6d = _arr(rot6d, "rot6d", (6,))
    a1, a2 = rot6d[..., :3], rot6d[..., 3:]
    b1 = _normalize(a1)
    b2 = _normalize(a2 - (b1 * a2).sum(-1)[..., None] * b1)
    return _stack([b1, b2, _cross(b1, b2)], axis=-1)


# ----------------------------------------------------------------------------------------------
# Hand packing
# ----------------------------------------------------------------------------------------------


def pack_hand(wrist_pos: Any, wrist_rot: Any, fingertips: Any) -> Any:
    """(..., 3) position, (..., 3, 3) rotation, (..., 5, 3) tips -> (..., 24). numpy or torch."""
    wrist_pos = _arr(wrist_pos, "wrist_pos", (3,))
    wrist_rot = _arr(wrist_rot, "wrist_rot", (3, 3))
    fingertips = _arr(fingertips, "fingertips", (5, 3))
    tips = fingertips.reshape(*fingertips.shape[:-2], 15)
    return _cat([wrist_pos, rot6d_from_matrix(wrist_rot), tips])


def unpack_hand(vec: Any) -> tuple[Any, Any, Any]:
    """(..., 24) -> (wrist_pos (..., 3), wrist_rot (..., 3, 3), fingertips (..., 5, 3)).

    The rotation is orthonormalized from its 6D form with `matrix_from_rot6d`. numpy or torch.
    """
    vec = _arr(vec, "vec", (HAND_DIM,))
    tips = vec[..., 9:24]
    return vec[..., 0:3], matrix_from_rot6d(vec[..., 3:9]), tips.reshape(*tips.shape[:-1], 5, 3)


# ----------------------------------------------------------------------------------------------
# Axis-angle and quaternions (numpy)
# ----------------------------------------------------------------------------------------------


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = np.zeros_like(x)
    return np.stack([np.stack([o, -z, y], -1), np.stack([z, o, -x], -1), np.stack([-y, x, o], -1)], -2)


def matrix_from_axis_angle(axis_angle: Any) -> np.ndarray:
    """(..., 3) rotation vector (unit axis * angle in radians) -> (..., 3, 3), by Rodrigues."""
    v = _np(axis_angle, "axis_angle", (3,))
    theta = np.linalg.norm(v, axis=-1)[..., None, None]
    small = theta < 1e-4
    safe = np.where(small, 1.0, theta)
    # R = I + A K + B K^2 with K = skew(v); A, B by Taylor series near 0.
    a = np.where(small, 1.0 - theta**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    K = _skew(v)
    return np.eye(3, dtype=v.dtype) + a * K + b * (K @ K)


def axis_angle_from_matrix(R: Any) -> np.ndarray:
    """(..., 3, 3) rotation -> (..., 3) rotation vector with angle in [0, pi].

    Goes through the quaternion, so it is accurate near 0 and near pi (at exactly pi the sign of
    the axis is arbitrary: v and -v are the same rotation).
    """
    q = quat_from_matrix(R)
    w, xyz = q[..., :1], q[..., 1:]
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, w)
    small = s < 1e-8
    scale = np.where(small, 2.0 / np.where(small, w, 1.0), angle / np.where(small, 1.0, s))
    return xyz * scale


def matrix_from_quat(quat: Any) -> np.ndarray:
    """(..., 4) quaternion (w, x, y, z) -> (..., 3, 3). The input is normalized first."""
    q = _np(quat, "quat", (4,))
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < 1e-12):
        raise ValueError("quat: got a zero-norm quaternion")
    w, x, y, z = np.moveaxis(q / n, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def quat_from_matrix(R: Any) -> np.ndarray:
    """(..., 3, 3) rotation -> (..., 4) unit quaternion (w, x, y, z) with w >= 0.

    Shepperd's method: of four algebraically equal formulas, use the best-conditioned one.
    """
    R = _np(R, "R", (3, 3))
    m = {(i, j): R[..., i, j] for i in range(3) for j in range(3)}
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    # 4*q_k^2 for k = w, x, y, z; the largest picks the formula.
    sq = np.stack(
        [1 + tr, 1 + 2 * m[0, 0] - tr, 1 + 2 * m[1, 1] - tr, 1 + 2 * m[2, 2] - tr], -1
    )
    d21, d02, d10 = m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]
    s10, s02, s21 = m[1, 0] + m[0, 1], m[0, 2] + m[2, 0], m[2, 1] + m[1, 2]
    # Row k is 4*q_k * (w, x, y, z).
    cand = np.stack(
        [
            np.stack([sq[..., 0], d21, d02, d10], -1),
            np.stack([d21, sq[..., 1], s10, s02], -1),
            np.stack([d02, s10, sq[..., 2], s21], -1),
            np.stack([d10, s02, s21, sq[..., 3]], -1),
        ],
        -2,
    )
    best = np.argmax(sq, axis=-1)[..., None, None]
    q = np.take_along_axis(cand, np.broadcast_to(best, (*best.shape[:-1], 4)), -2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


# ----------------------------------------------------------------------------------------------
# SE(3) poses (numpy, (..., 4, 4) homogeneous matrices)
# ----------------------------------------------------------------------------------------------


def make_pose(R: Any, t: Any) -> np.ndarray:
    """(..., 3, 3) rotation and (..., 3) translation -> (..., 4, 4) pose; leading dims broadcast."""
    R, t = _np(R, "R", (3, 3)), _np(t, "t", (3,))
    lead = np.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    T = np.zeros((*lead, 4, 4), dtype=np.result_type(R, t))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_pose(T: Any) -> np.ndarray:
    """Inverse of a rigid (..., 4, 4) pose: [R^T, -R^T t]."""
    T = _np(T, "T", (4, 4))
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    return make_pose(Rt, -(Rt @ T[..., :3, 3:])[..., 0])


def compose(A: Any, B: Any) -> np.ndarray:
    """A @ B for (..., 4, 4) poses: apply B first, then A (T_a_c = compose(T_a_b, T_b_c))."""
    return _np(A, "A", (4, 4)) @ _np(B, "B", (4, 4))


def transform_points(T: Any, points: Any) -> np.ndarray:
    """Apply (..., 4, 4) poses to (..., 3) points: R p + t; leading dims broadcast."""
    T, p = _np(T, "T", (4, 4)), _np(points, "points", (3,))
    return (T[..., :3, :3] @ p[..., None])[..., 0] + T[..., :3, 3]


def to_camera_frame(T_world_camera: Any, T_world_poses: Any) -> np.ndarray:
    """World poses (..., 4, 4) expressed in the camera frame: inv(T_world_camera) @ T_world_pose."""
    T_world_camera = _np(T_world_camera, "T_world_camera", (4, 4))
    return compose(invert_pose(T_world_camera), _np(T_world_poses, "T_world_poses", (4, 4)))


def trajectory_in_camera(
    T_world_camera_t: Any, T_world_wrist: Any, fingertips_world: Any
) -> np.ndarray:
    """One hand's future trajectory as (H, 24) labels, all relative to the camera at time t.

    T_world_camera_t (4, 4): camera pose at the current step t. T_world_wrist (H, 4, 4): wrist poses
    of the H future steps. fingertips_world (H, 5, 3): tip positions, thumb..little. Wrist position
    and rotation land in the camera frame of time t; each step's fingertips in that step's wrist frame.
    """
    T_world_wrist = _np(T_world_wrist, "T_world_wrist", (4, 4))
    tips = _np(fingertips_world, "fingertips_world", (5, 3))
    if tips.shape[:-2] != T_world_wrist.shape[:-2]:
        raise ValueError(
            f"fingertips_world: expected shape {(*T_world_wrist.shape[:-2], 5, 3)} to match "
            f"T_world_wrist {T_world_wrist.shape}, got {tips.shape}"
        )
    T_cam_wrist = to_camera_frame(T_world_camera_t, T_world_wrist)
    tips_wrist = transform_points(invert_pose(T_world_wrist)[..., None, :, :], tips)
    return pack_hand(T_cam_wrist[..., :3, 3], T_cam_wrist[..., :3, :3], tips_wrist)
