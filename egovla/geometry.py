"""Geometry for the unified space: 6D rotations, axis-angle, quaternions and SE(3) poses.

Conventions: rotation matrices act on column vectors (p_a = R @ p_b + t); poses are (..., 4, 4)
homogeneous matrices where `T_a_b` maps points in frame b to frame a; quaternions are (w, x, y, z).
The 6D rotation and its matrix conversion accept numpy arrays or torch tensors and return the same
kind (torch is used only when it is given: this module imports without it); everything else is numpy.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


# ----------------------------------------------------------------------------------------------
# Shape checks and numpy/torch dispatch
# ----------------------------------------------------------------------------------------------


def _shape_str(tail: tuple[int, ...]) -> str:
    return "(..., " + ", ".join(str(d) for d in tail) + ")"


def _check(x: Any, name: str, tail: tuple[int, ...]) -> None:
    shape = tuple(x.shape)
    if len(shape) < len(tail) or shape[len(shape) - len(tail) :] != tail:
        raise ValueError(f"{name}: expected shape {_shape_str(tail)}, got {shape}")


def as_array(x: Any, name: str, tail: tuple[int, ...]) -> Any:
    """Torch tensors pass through; anything else becomes a float numpy array. Checks the shape."""
    if not _is_torch(x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
    _check(x, name, tail)
    return x


def as_numpy(x: Any, name: str, tail: tuple[int, ...]) -> np.ndarray:
    if _is_torch(x):
        x = x.detach().cpu().numpy()
    return as_array(x, name, tail)


def concat(xs: list, axis: int = -1) -> Any:
    return sys.modules["torch"].cat(xs, dim=axis) if _is_torch(xs[0]) else np.concatenate(xs, axis)


def stack(xs: list, axis: int = -1) -> Any:
    return sys.modules["torch"].stack(xs, dim=axis) if _is_torch(xs[0]) else np.stack(xs, axis)


def _normalize(v: Any, eps: float = 1e-12) -> Any:
    if _is_torch(v):
        return v / sys.modules["torch"].linalg.norm(v, dim=-1, keepdim=True).clamp_min(eps)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def _cross(a: Any, b: Any) -> Any:
    return sys.modules["torch"].linalg.cross(a, b, dim=-1) if _is_torch(a) else np.cross(a, b)


# ----------------------------------------------------------------------------------------------
# 6D rotation (Zhou et al., "On the Continuity of Rotation Representations", CVPR 2019)
# ----------------------------------------------------------------------------------------------


def rot6d_from_matrix(R: Any) -> Any:
    """(..., 3, 3) rotation -> (..., 6): its first two columns, [col0, col1]. numpy or torch."""
    R = as_array(R, "R", (3, 3))
    return concat([R[..., :, 0], R[..., :, 1]])


def matrix_from_rot6d(rot6d: Any) -> Any:
    """(..., 6) -> (..., 3, 3) rotation by Gram–Schmidt; third column = col0 x col1. numpy or torch.

    Any 6-vector whose two halves are non-zero and not parallel maps to a proper rotation.
    """
    rot6d = as_array(rot6d, "rot6d", (6,))
    a1, a2 = rot6d[..., :3], rot6d[..., 3:]
    b1 = _normalize(a1)
    b2 = _normalize(a2 - (b1 * a2).sum(-1)[..., None] * b1)
    return stack([b1, b2, _cross(b1, b2)], axis=-1)


# ----------------------------------------------------------------------------------------------
# Axis-angle and quaternions (numpy)
# ----------------------------------------------------------------------------------------------


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = np.zeros_like(x)
    return np.stack([np.stack([o, -z, y], -1), np.stack([z, o, -x], -1), np.stack([-y, x, o], -1)], -2)


def matrix_from_axis_angle(axis_angle: Any) -> np.ndarray:
    """(..., 3) rotation vector (unit axis * angle in radians) -> (..., 3, 3), by Rodrigues."""
    v = as_numpy(axis_angle, "axis_angle", (3,))
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
    q = as_numpy(quat, "quat", (4,))
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
    R = as_numpy(R, "R", (3, 3))
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
    R, t = as_numpy(R, "R", (3, 3)), as_numpy(t, "t", (3,))
    lead = np.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    T = np.zeros((*lead, 4, 4), dtype=np.result_type(R, t))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_pose(T: Any) -> np.ndarray:
    """Inverse of a rigid (..., 4, 4) pose: [R^T, -R^T t]."""
    T = as_numpy(T, "T", (4, 4))
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    return make_pose(Rt, -(Rt @ T[..., :3, 3:])[..., 0])


def compose(A: Any, B: Any) -> np.ndarray:
    """A @ B for (..., 4, 4) poses: apply B first, then A (T_a_c = compose(T_a_b, T_b_c))."""
    return as_numpy(A, "A", (4, 4)) @ as_numpy(B, "B", (4, 4))


def transform_points(T: Any, points: Any) -> np.ndarray:
    """Apply (..., 4, 4) poses to (..., 3) points: R p + t; leading dims broadcast."""
    T, p = as_numpy(T, "T", (4, 4)), as_numpy(points, "points", (3,))
    return (T[..., :3, :3] @ p[..., None])[..., 0] + T[..., :3, 3]


def to_camera_frame(T_world_camera: Any, T_world_poses: Any) -> np.ndarray:
    """World poses (..., 4, 4) expressed in the camera frame: inv(T_world_camera) @ T_world_pose."""
    T_world_camera = as_numpy(T_world_camera, "T_world_camera", (4, 4))
    return compose(invert_pose(T_world_camera), as_numpy(T_world_poses, "T_world_poses", (4, 4)))


def ray_miss(T_world_camera: Any, K: Any, target: Any, point: Any) -> tuple[float, float, float]:
    """How `point` misses `target` (world positions) as a pinhole camera sees it: (along, across, pixels), the
    miss's component along the camera's ray through the target (metres, + beyond it), its size across that ray
    (metres), and the distance between the two in the image (pixels). A camera cannot tell `along` from the
    image of a small target; `across` it sees."""
    T_camera_world = invert_pose(as_numpy(T_world_camera, "T_world_camera", (4, 4)))
    t, p = transform_points(T_camera_world, target), transform_points(T_camera_world, point)
    if t[2] <= 0 or p[2] <= 0:
        raise ValueError(f"ray_miss: target and point must lie in front of the camera (depths {t[2]:.3f}, {p[2]:.3f})")
    ray = t / np.linalg.norm(t)
    miss = p - t
    along = float(miss @ ray)
    K = as_numpy(K, "K", (3,))
    pixels = float(np.linalg.norm((K @ p)[:2] / p[2] - (K @ t)[:2] / t[2]))
    return along, float(np.linalg.norm(miss - along * ray)), pixels
