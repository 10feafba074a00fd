"""UmeTrack hand forward kinematics: joint angles + wrist pose + a hand profile -> the 21 landmarks.

Facts (facebookresearch/hand_tracking_toolkit `hand_models/umetrack_hand_model.py` and
`umetrack_skinning.py`; landmark order from hot3d `data_loaders/hand_common.py`):

- The profile (`__hand_shapes.json__["umetrack"]`) has `joint_rotation_axes` [J, 3],
  `joint_rest_positions` [J, 3] (mm), `landmark_rest_positions` [21, 3] (mm),
  `landmark_rest_bone_weights` / `landmark_rest_bone_indices` [21, K], plus fields FK does not use
  (joint_frame_index, joint_parent, joint_first_child, joint_next_sibling, hand_scale, mesh_*,
  dense_bone_weights, joint_limits). Lengths are scaled by 0.001 to metres. J is 22; FK uses 20.
- The model is a LEFT hand: for a right hand, column 0 of the wrist pose W is negated (a mirror).
- Joint j's local transform rotates about its rest position: L_j = [R(axis_j * theta_j) | p_j - R p_j].
  Finger f = 0..4 (thumb, index, middle, ring, pinky) owns joints 4f..4f+3 and contributes the frames
  W L0 L1, W L0 L1 L2, W L0 L1 L2 L3 (its first joint's frame alone is not used). The 17 frames are
  [W (root), W (wrist), thumb x3, index x3, middle x3, ring x3, pinky x3].
- Landmark l = sum_k w_lk * frames[idx_lk] @ [rest_l; 1] (linear blend skinning of rest positions).
  Order: 0-4 fingertips thumb, index, middle, ring, pinky; 5 wrist; 6-19 finger joints; 20 palm.
The toolkit's angle-axis helper divides by the angle, so a zero angle gives NaN there; here angle
zero is the identity rotation (`geometry.matrix_from_axis_angle`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egovla import geometry

MM = 0.001
N_FRAMES = 17
N_JOINTS_USED = 20
TIPS = slice(0, 5)  # thumb, index, middle, ring, pinky: egovla.spaces.FINGERS order (little = pinky)
REQUIRED = ("joint_rotation_axes", "joint_rest_positions", "landmark_rest_positions",
            "landmark_rest_bone_weights", "landmark_rest_bone_indices")


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class HandProfile:
    axes: np.ndarray          # (J, 3)
    joints: np.ndarray        # (J, 3) metres
    landmarks: np.ndarray     # (L, 3) metres
    weights: np.ndarray       # (L, K)
    indices: np.ndarray       # (L, K) int, frame indices 0..16

    @classmethod
    def from_json(cls, doc: dict, where: str = "umetrack profile") -> "HandProfile":
        if not isinstance(doc, dict):
            raise ProfileError(f"{where}: expected an object, got {type(doc).__name__}")
        missing = [k for k in REQUIRED if k not in doc]
        if missing:
            raise ProfileError(f"{where}: missing {missing}")
        try:
            axes = np.asarray(doc["joint_rotation_axes"], dtype=np.float64)
            joints = np.asarray(doc["joint_rest_positions"], dtype=np.float64) * MM
            lms = np.asarray(doc["landmark_rest_positions"], dtype=np.float64) * MM
            w = np.asarray(doc["landmark_rest_bone_weights"], dtype=np.float64)
            idx = np.asarray(doc["landmark_rest_bone_indices"], dtype=np.int64)
        except (TypeError, ValueError) as e:
            raise ProfileError(f"{where}: a field is not a numeric array ({e})") from None
        if axes.ndim != 2 or axes.shape[1] != 3 or joints.shape != axes.shape or len(axes) < N_JOINTS_USED:
            raise ProfileError(f"{where}: joint_rotation_axes / joint_rest_positions must be [J>=20, 3], got "
                               f"{list(axes.shape)} and {list(joints.shape)}")
        if lms.ndim != 2 or lms.shape[1] != 3 or len(lms) < 5 or w.shape != idx.shape or w.ndim != 2 or len(w) != len(lms):
            raise ProfileError(f"{where}: landmark_rest_positions [L, 3] and bone weights/indices [L, K] disagree: "
                               f"{list(lms.shape)}, {list(w.shape)}, {list(idx.shape)}")
        if idx.min() < 0 or idx.max() >= N_FRAMES:
            raise ProfileError(f"{where}: landmark_rest_bone_indices must be frame numbers 0..16")
        return cls(axes, joints, lms, w, idx)


def joint_frames(profile: HandProfile, angles: np.ndarray, T_world_wrist: np.ndarray, side: str) -> np.ndarray:
    """(N, >=20) joint angles, (N, 4, 4) wrist poses -> (N, 17, 4, 4) skinning frames."""
    angles = np.asarray(angles, dtype=np.float64)
    W = np.array(T_world_wrist, dtype=np.float64)
    if angles.ndim != 2 or angles.shape[1] < N_JOINTS_USED:
        raise ProfileError(f"joint angles must be (N, >=20), got {list(angles.shape)}")
    if side == "right":
        W[..., :, 0] *= -1
    a = angles[:, :N_JOINTS_USED]
    R = geometry.matrix_from_axis_angle(profile.axes[None, :N_JOINTS_USED] * a[..., None])  # (N, 20, 3, 3)
    p = profile.joints[:N_JOINTS_USED]
    L = np.zeros(R.shape[:-2] + (4, 4))
    L[..., :3, :3] = R
    L[..., :3, 3] = p - (R @ p[..., None])[..., 0]
    L[..., 3, 3] = 1.0
    frames = [W, W]
    for f in range(5):
        acc = W @ L[:, 4 * f] @ L[:, 4 * f + 1]
        frames.append(acc)
        acc = acc @ L[:, 4 * f + 2]
        frames.append(acc)
        frames.append(acc @ L[:, 4 * f + 3])
    return np.stack(frames, 1)


def landmarks(profile: HandProfile, angles: np.ndarray, T_world_wrist: np.ndarray, side: str) -> np.ndarray:
    """(N, L, 3) landmark positions in the frame of T_world_wrist's target (the world)."""
    F = joint_frames(profile, angles, T_world_wrist, side)  # (N, 17, 4, 4)
    sel = F[:, profile.indices]  # (N, L, K, 4, 4)
    pts = (sel[..., :3, :3] @ profile.landmarks[None, :, None, :, None])[..., 0] + sel[..., :3, 3]
    return (profile.weights[None, :, :, None] * pts).sum(2)


def fingertips(profile: HandProfile, angles: np.ndarray, T_world_wrist: np.ndarray, side: str) -> np.ndarray:
    """(N, 5, 3) fingertips thumb..pinky (landmarks 0-4)."""
    return landmarks(profile, angles, T_world_wrist, side)[:, TIPS]
