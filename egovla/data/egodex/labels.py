"""EgoDex poses -> unified 48-slot labels in the camera frame of each frame, with masks.

For an output frame t (a source frame, every `stride`-th) and a future step k = 1..H, the action
holds each hand's wrist pose at source frame t + k*stride **expressed in the camera frame of
frame t**, and its five fingertips in that step's own wrist frame (see `egovla.spaces`). The state
is the same slots at t itself. So the camera may move while the hand does: a hand held still in
the world still moves in the labels when the head turns, exactly as the policy sees it.

What is supervised (mask True), per hand and step s (a source frame):
- the camera pose at t and at s is a finite rigid transform (`camera_ok`);
- the wrist pose at s is a finite rigid transform with confidence >= `min_confidence` (a tracking
  gap is a non-finite or non-rigid matrix, or a low confidence);
- the wrist at s projects into the image of frame s (it was in view when it was measured): in
  front of the camera by `min_depth` and inside the (cropped, resized) image;
- a fingertip additionally needs a finite position with confidence >= `min_confidence`;
- steps past the end of the episode are masked.
A step is *valid* when at least one hand's wrist is supervised. EgoVLA keeps a frame for training
only when more than 90% of its future steps are valid: `keep = valid_fraction > min_valid`
(`min_valid = 0` keeps every frame). Masked values are written as 0, never NaN.

Camera axes: DESIGN.md's camera frame is OpenCV's (x right, y down, z forward). EgoDex's own tools
project `inv(T_world_camera) @ p` with the intrinsic matrix directly, i.e. the stored camera
rotation already has OpenCV axes (`camera_axes="opencv"`, the default). `camera_axes="arkit"`
converts a camera stored with ARKit's axes (x right, y up, z backward) by T @ diag(1, -1, -1, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egovla import geometry, spaces
from egovla.data.egodex.format import SIDES, EgoDexEpisode, tip_joints, wrist_joint

CAMERA_AXES = ("opencv", "arkit")
ARKIT_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class LabelConfig:
    horizon: int = 30            # future steps H per chunk (1 s at 30 Hz)
    stride: int = 1              # source frames per output frame and per chunk step
    min_confidence: float = 0.5  # joints tracked with lower confidence are masked
    min_valid: float = 0.9       # keep a frame only when MORE than this fraction of its steps is valid (0: all)
    min_depth: float = 0.05      # metres in front of the camera for a wrist to count as in view
    camera_axes: str = "opencv"

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.stride < 1:
            raise ValueError(f"horizon and stride must be >= 1, got {self.horizon}, {self.stride}")
        if not 0 <= self.min_valid < 1:
            raise ValueError(f"min_valid must be a fraction in [0, 1), got {self.min_valid}")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.camera_axes not in CAMERA_AXES:
            raise ValueError(f"camera_axes must be one of {CAMERA_AXES}, got {self.camera_axes!r}")


@dataclass
class Labels:
    frames: np.ndarray          # (N,) source frame index of each output frame
    state: np.ndarray           # (N, 48) float32
    state_mask: np.ndarray      # (N, 48) bool
    action: np.ndarray          # (N, H, 48) float32, steps k = 1..H
    action_mask: np.ndarray     # (N, H, 48) bool
    valid_fraction: np.ndarray  # (N,) share of the H steps with at least one supervised wrist
    keep: np.ndarray            # (N,) bool


def rigid(T: np.ndarray, tol: float = 1e-2) -> np.ndarray:
    """(T, 4, 4) -> (T,) bool: finite, bottom row [0, 0, 0, 1], rotation orthonormal with det +1."""
    T = np.asarray(T, dtype=np.float64)
    ok = np.all(np.isfinite(T), axis=(-2, -1))
    Ts = np.where(ok[:, None, None], T, np.eye(4))
    R = Ts[:, :3, :3]
    ok &= np.all(np.abs(Ts[:, 3] - [0, 0, 0, 1]) < tol, axis=-1)
    ok &= np.all(np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)) < tol, axis=(-2, -1))
    ok &= np.linalg.det(R) > 0
    return ok


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixel coordinates (u right, v down); z must be > 0."""
    p = np.asarray(points_cam, dtype=np.float64)
    z = np.where(np.abs(p[..., 2]) < 1e-9, 1e-9, p[..., 2])
    return np.stack([K[0, 0] * p[..., 0] / z + K[0, 2], K[1, 1] * p[..., 1] / z + K[1, 2]], axis=-1)


def in_view(points_cam: np.ndarray, K: np.ndarray, image_hw: tuple[int, int], min_depth: float = 0.05) -> np.ndarray:
    """(..., 3) -> (...,) bool: in front of the camera by min_depth and inside the image."""
    p = np.asarray(points_cam, dtype=np.float64)
    uv = project(p, K)
    h, w = image_hw
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
    return np.isfinite(p).all(-1) & (p[..., 2] > min_depth) & inside


def opencv_camera(camera: np.ndarray, camera_axes: str) -> np.ndarray:
    """The stored camera poses with OpenCV axes."""
    if camera_axes not in CAMERA_AXES:
        raise ValueError(f"camera_axes must be one of {CAMERA_AXES}, got {camera_axes!r}")
    return camera @ ARKIT_TO_OPENCV if camera_axes == "arkit" else camera


def _confident(ep: EgoDexEpisode, joint: str, threshold: float) -> np.ndarray:
    c = ep.confidences.get(joint)
    if c is None:
        return np.ones(ep.frames, dtype=bool)
    return np.isfinite(c) & (c >= threshold)


def _safe_inverse(T: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return geometry.invert_pose(np.where(ok[:, None, None], T, np.eye(4)))


def episode_labels(ep: EgoDexEpisode, intrinsic: np.ndarray, image_hw: tuple[int, int],
                   cfg: LabelConfig = LabelConfig()) -> Labels:
    """Labels of every `cfg.stride`-th frame. `intrinsic` and `image_hw` describe the image the
    policy sees (after any crop and resize), which decides what is in view."""
    T, H, stride = ep.frames, cfg.horizon, cfg.stride
    camera = opencv_camera(ep.camera, cfg.camera_axes)
    cam_ok = rigid(camera)
    cam_inv = _safe_inverse(camera, cam_ok)
    out = np.arange(0, T, stride)
    steps = out[:, None] + stride * np.arange(0, H + 1)[None, :]  # (N, H+1): k = 0 (the state) .. H
    in_range = steps < T
    s = np.minimum(steps, T - 1)

    values = np.zeros((len(out), H + 1, spaces.ACTION_DIM), dtype=np.float32)
    mask = np.zeros(values.shape, dtype=bool)
    for side in SIDES:
        W = ep.joints[wrist_joint(side)]
        w_ok = rigid(W) & _confident(ep, wrist_joint(side), cfg.min_confidence)
        W = np.where(w_ok[:, None, None], W, np.eye(4))
        wrist_own = (cam_inv @ W)[:, :3, 3]  # each wrist in the camera of the frame it was measured in
        hand_ok = cam_ok & w_ok & in_view(wrist_own, intrinsic, image_hw, cfg.min_depth)  # (T,)

        tips = np.stack([ep.joints[j][:, :3, 3] for j in tip_joints(side)], axis=1)  # (T, 5, 3) world
        tip_ok = np.stack([np.isfinite(ep.joints[j]).all((-2, -1)) & _confident(ep, j, cfg.min_confidence)
                           for j in tip_joints(side)], axis=1)  # (T, 5)
        tips = np.where(tip_ok[..., None], tips, 0.0)
        tips_wrist = geometry.transform_points(geometry.invert_pose(W)[:, None], tips)  # (T, 5, 3)

        rel = cam_inv[out][:, None] @ W[s]  # (N, H+1, 4, 4): wrist at step s in the camera of frame t
        block = spaces.pack_hand(rel[..., :3, 3], rel[..., :3, :3], tips_wrist[s])
        hand_mask = hand_ok[s] & in_range & cam_ok[out][:, None]  # (N, H+1)
        dims = np.zeros(hand_mask.shape + (spaces.HAND_DIM,), dtype=bool)
        dims[..., :9] = hand_mask[..., None]
        dims[..., 9:] = np.repeat(hand_mask[..., None] & tip_ok[s], 3, axis=-1)
        lo = spaces.HANDS.index(side) * spaces.HAND_DIM
        values[..., lo:lo + spaces.HAND_DIM] = np.where(dims, block, 0.0)
        mask[..., lo:lo + spaces.HAND_DIM] = dims

    wrist_dims = spaces.mask_for(parts=("wrist_pos",))
    valid = mask[:, 1:, wrist_dims].any(-1)  # (N, H)
    fraction = valid.mean(-1)
    keep = fraction > cfg.min_valid if cfg.min_valid > 0 else np.ones(len(out), dtype=bool)
    return Labels(frames=out, state=values[:, 0], state_mask=mask[:, 0], action=values[:, 1:],
                  action_mask=mask[:, 1:], valid_fraction=fraction.astype(np.float32), keep=keep)
