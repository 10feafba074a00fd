"""HOT3D clip -> per-frame camera and hand poses -> unified 48-slot labels, by EgoDex's label code.

The clip is put in the shape `egovla.data.egodex.labels.episode_labels` takes (an `EgoDexEpisode`:
per-frame T_world_camera, and per joint a (T, 4, 4) pose), so HOT3D gets exactly EgoDex's labels,
masks and keep rule: for output frame t and step k, each hand's wrist pose at t+k in the camera frame
of frame t, its five fingertips in that step's wrist frame; masked when the hand is not annotated
(absent, null, non-rigid or non-finite pose), when the wrist is out of view (behind the camera by
`min_depth` or outside the pinhole image written, measured at the step's own frame), and past the
end; a frame is kept when more than `min_valid` of its steps have a supervised wrist.

The camera is the PINHOLE VIEW written (`fisheye.PinholeView`): T_world_view = T_world_camera @
T_camera_view (the view may be turned by quarter turns), with OpenCV axes, so labels projected with
the view's K land where the hand is in the stored video. The wrist frame is UmeTrack's
`T_world_from_wrist` as stored (for both hands; the right hand's FK mirror applies to the fingers
only). HOT3D has no tracking confidences: every annotated joint counts as confident.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egovla.data.egodex.format import SIDES, EgoDexEpisode, tip_joints, wrist_joint
from egovla.data.egodex.labels import LabelConfig, Labels, episode_labels
from egovla.data.hot3d.clip import Clip, Hot3DError
from egovla.data.hot3d.fisheye import Fisheye624, PinholeView
from egovla.data.hot3d.umetrack import HandProfile, ProfileError, fingertips


@dataclass
class ClipPoses:
    camera: np.ndarray               # (T, 4, 4) T_world_view
    wrist: dict[str, np.ndarray]     # side -> (T, 4, 4), NaN where not annotated
    tips: dict[str, np.ndarray]      # side -> (T, 5, 3) world, NaN where not annotated
    fisheye: Fisheye624
    calibration: dict
    info: dict


def clip_poses(clip: Clip, stream: str, view: PinholeView) -> ClipPoses:
    """Read every frame's camera (of `stream`, turned into the view) and hands; FK for the fingertips."""
    profile_doc = clip.hand_profile()
    if profile_doc is None:
        raise Hot3DError(f"{clip.path}: no {'__hand_shapes.json__'!r}: the UmeTrack hand profile is needed for fingertips")
    try:
        profile = HandProfile.from_json(profile_doc, f"{clip.path}: __hand_shapes.json__ umetrack")
    except ProfileError as e:
        raise Hot3DError(str(e)) from None
    if not clip.has(clip.name(0, "hands.json")):
        raise Hot3DError(f"{clip.path}: no hand annotations ({clip.name(0, 'hands.json')} is missing; a test clip?)")
    n = clip.n_frames
    calib0, _ = clip.camera(0, stream)
    fisheye = Fisheye624.from_calibration(calib0, f"{clip.path}: {clip.name(0, 'cameras.json')}: {stream}")
    camera = np.full((n, 4, 4), np.nan)
    wrist = {s: np.full((n, 4, 4), np.nan) for s in SIDES}
    angles = {s: np.zeros((n, 22)) for s in SIDES}
    for f in range(n):
        _, T = clip.camera(f, stream)
        camera[f] = T @ view.T_camera_view
        if not clip.has(clip.name(f, "hands.json")):
            continue
        for side, (W, a) in clip.hands(f).items():
            if len(a) < 20:
                raise Hot3DError(f"{clip.path}: member {clip.name(f, 'hands.json')!r}: {side} has {len(a)} joint angles, need 20")
            wrist[side][f] = W
            angles[side][f, :min(22, len(a))] = a[:22]
    tips = {}
    for side in SIDES:
        ok = np.isfinite(wrist[side]).all((-2, -1))
        t = np.full((n, 5, 3), np.nan)
        if ok.any():
            t[ok] = fingertips(profile, angles[side][ok], wrist[side][ok], side)
        tips[side] = t
    return ClipPoses(camera, wrist, tips, fisheye, calib0, clip.info(0))


def as_episode(path: Path, poses: ClipPoses, K: np.ndarray, instruction: str) -> EgoDexEpisode:
    joints = {}
    for side in SIDES:
        joints[wrist_joint(side)] = poses.wrist[side]
        for i, name in enumerate(tip_joints(side)):
            T = np.tile(np.eye(4), (len(poses.camera), 1, 1))
            T[:, :3, 3] = poses.tips[side][:, i]
            T[~np.isfinite(poses.tips[side][:, i]).all(-1)] = np.nan
            joints[name] = T
    return EgoDexEpisode(hdf5=path, video=path, task="hot3d", instruction=instruction, intrinsic=K,
                         camera=poses.camera, joints=joints)


def clip_labels(path: Path, poses: ClipPoses, view: PinholeView, horizon: int, stride: int, min_valid: float,
                min_depth: float, instruction: str) -> Labels:
    ep = as_episode(path, poses, view.K, instruction)
    cfg = LabelConfig(horizon=horizon, stride=stride, min_confidence=0.0, min_valid=min_valid, min_depth=min_depth)
    return episode_labels(ep, view.K, (view.height, view.width), cfg)
