"""A robot's end-effector pose -> the unified space's right-hand gripper slots, in a camera frame.

A parallel gripper takes 15 of the 48 unified slots (as `egovla.sim.embodiment` does for
Meta-World): the right wrist position (3) and 6D rotation (6) of the end effector in the CAMERA
frame (OpenCV axes: x right, y down, z forward; metres), and the thumb and index tips (3 + 3) in
the end-effector frame: the two jaws at (0, +w/2, d) and (0, -w/2, d), so the thumb-index distance
is the opening w. They are written as vectors of 15 values named with `spaces.names()` names, so
`WindowDataset` puts them in their slots and masks the other 33.

Conventions (documented choices; RLDS datasets do not state them in their files):
- Euler angles: `order` uses scipy's notation -- lowercase is extrinsic (rotations about the fixed
  base axes, applied in the order given), uppercase intrinsic. "xyz" (the default, ROS/`tf` roll-pitch-
  yaw and scipy `from_euler("xyz")`) is R = Rz(yaw) @ Ry(pitch) @ Rx(roll), angles in radians.
- Quaternions: "quat_wxyz" or "quat_xyzw" (normalised before use).
- `T_base_camera` maps camera coordinates to robot-base coordinates (p_base = R p_cam + t) and the
  camera must have OpenCV axes; the unified pose is inv(T_base_camera) @ T_base_ee.
- Delta actions ("delta"): p' = p + dp and R' = R(d_angles) @ R, both in the base frame (the
  rotation delta is applied on the left, about the base axes).
- Gripper opening w = width * clip((g - closed) / (open - closed), 0, 1) for a gripper value g.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from egovla import geometry, spaces

GRIPPER_MASK = spaces.mask_for(("right",), spaces.PARTS, ("thumb", "index"))
NAMES = [n for n, keep in zip(spaces.names(), GRIPPER_MASK) if keep]  # 15, in slot order
ROTATION_FORMATS = ("rpy", "quat_wxyz", "quat_xyzw")


def _axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(angle), np.ones_like(angle)
    rows = {"x": [[i, o, o], [o, c, -s], [o, s, c]],
            "y": [[c, o, s], [o, i, o], [-s, o, c]],
            "z": [[c, -s, o], [s, c, o], [o, o, i]]}[axis]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def euler_matrix(angles, order: str = "xyz") -> np.ndarray:
    """(..., 3) angles (radians) -> (..., 3, 3); see the module docstring for `order`."""
    angles = np.asarray(angles, dtype=np.float64)
    if len(order) != 3 or not (order.islower() or order.isupper()) or set(order.lower()) - set("xyz"):
        raise ValueError(f"euler order must be 3 of x/y/z, all lowercase (extrinsic) or uppercase (intrinsic), got {order!r}")
    mats = [_axis_rotation(a.lower(), angles[..., k]) for k, a in enumerate(order)]
    if order.islower():  # extrinsic: the first rotation is applied first, about the fixed axes
        return mats[2] @ mats[1] @ mats[0]
    return mats[0] @ mats[1] @ mats[2]


def rotation(values, fmt: str, order: str = "xyz") -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if fmt == "rpy":
        return euler_matrix(values, order)
    if fmt == "quat_wxyz":
        return geometry.matrix_from_quat(values)
    if fmt == "quat_xyzw":
        return geometry.matrix_from_quat(values[..., [3, 0, 1, 2]])
    raise ValueError(f"rotation format must be one of {ROTATION_FORMATS}, got {fmt!r}")


def pose_from_xyz_euler(v, order: str = "xyz") -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return geometry.make_pose(euler_matrix(v[..., 3:6], order), v[..., :3])


def check_rigid(T: np.ndarray, what: str) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ValueError(f"{what}: expected a finite 4x4 matrix, got shape {T.shape}")
    R = T[:3, :3]
    if np.abs(R.T @ R - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0 or np.abs(T[3] - [0, 0, 0, 1]).max() > 1e-6:
        raise ValueError(f"{what}: not a rigid transform (rotation not orthonormal with det +1, or last row not 0 0 0 1)")
    return T


def parse_extrinsics(numbers: tuple[float, ...] = (), path: str = "", camera: str = "") -> np.ndarray | None:
    """T_base_camera from 16 numbers (row-major) or a JSON file, or None when neither is given.

    The JSON file may hold 16 numbers, a 4x4 nested list, {"T_base_camera": ...}, or
    {camera name: ...} for several cameras (`camera` picks one)."""
    if numbers and path:
        raise ValueError("give the camera extrinsics either as 16 numbers or as a JSON file, not both")
    if numbers:
        if len(numbers) != 16:
            raise ValueError(f"T_base_camera: expected 16 numbers (a row-major 4x4), got {len(numbers)}")
        return check_rigid(np.array(numbers, dtype=np.float64).reshape(4, 4), "T_base_camera")
    if not path:
        return None
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the camera extrinsics ({e})") from None
    if isinstance(doc, dict):
        if "T_base_camera" in doc:
            doc = doc["T_base_camera"]
        elif camera in doc:
            doc = doc[camera]
        elif camera.rsplit("/", 1)[-1] in doc:
            doc = doc[camera.rsplit("/", 1)[-1]]
        else:
            raise ValueError(f"{path}: no 'T_base_camera' and no entry for camera {camera!r}; keys: {sorted(doc)}")
        if isinstance(doc, dict) and "T_base_camera" in doc:
            doc = doc["T_base_camera"]
    arr = np.array(doc, dtype=np.float64).reshape(-1)
    if arr.size != 16:
        raise ValueError(f"{path}: expected 16 numbers (a 4x4 T_base_camera), got {arr.size}")
    return check_rigid(arr.reshape(4, 4), f"{path}: T_base_camera")


def opening(g, open_value: float, closed_value: float, width: float) -> np.ndarray:
    if open_value == closed_value:
        raise ValueError("gripper_open and gripper_closed must differ")
    frac = (np.asarray(g, dtype=np.float64) - closed_value) / (open_value - closed_value)
    return width * np.clip(frac, 0.0, 1.0)


def gripper_vectors(T_camera_base: np.ndarray, T_base_ee: np.ndarray, width: np.ndarray,
                    pad_depth: float = 0.0) -> np.ndarray:
    """(T, 4, 4) end-effector poses in the base frame, (T,) openings -> (T, 15) float32 named `NAMES`."""
    T_cam_ee = T_camera_base @ T_base_ee
    n = len(T_base_ee)
    tips = np.zeros((n, 5, 3))
    tips[:, 0] = np.stack([np.zeros(n), width / 2, np.full(n, pad_depth)], -1)   # thumb
    tips[:, 1] = np.stack([np.zeros(n), -width / 2, np.full(n, pad_depth)], -1)  # index
    full = np.zeros((n, spaces.ACTION_DIM))
    lo = spaces.HANDS.index("right") * spaces.HAND_DIM
    full[:, lo:lo + spaces.HAND_DIM] = spaces.pack_hand(T_cam_ee[:, :3, 3], T_cam_ee[:, :3, :3], tips)
    return full[:, GRIPPER_MASK].astype(np.float32)
