"""EgoDex labels: known camera motion and hand poses give known camera-frame labels; the mask rules."""

from pathlib import Path

import numpy as np
import pytest

from egovla import geometry, spaces
from egovla.data.egodex.format import EgoDexEpisode, needed_joints, tip_joints, wrist_joint
from egovla.data.egodex.labels import ARKIT_TO_OPENCV, LabelConfig, episode_labels, in_view, project, rigid

K = np.array([[100.0, 0, 64], [0, 100.0, 64], [0, 0, 1]])
HW = (128, 128)
TIP_OFFSETS = np.array([[0.03, 0.0, 0.05], [0.01, 0.0, 0.08], [0.0, 0.0, 0.09], [-0.01, 0.0, 0.085], [-0.02, 0, 0.07]])


def rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def episode(cameras, right_wrists, left_wrists=None, confidences=None) -> EgoDexEpisode:
    """Poses as (T, 4, 4) stacks; fingertips at TIP_OFFSETS in each wrist frame."""
    cameras = np.asarray(cameras, dtype=np.float64)
    T = len(cameras)
    far = geometry.make_pose(np.eye(3), [0.0, 5.0, -5.0])  # a left hand behind the camera: never in view
    wrists = {"right": np.asarray(right_wrists, dtype=np.float64),
              "left": np.asarray(left_wrists, dtype=np.float64) if left_wrists is not None else np.repeat(far[None], T, 0)}
    joints = {}
    for side, W in wrists.items():
        joints[wrist_joint(side)] = W
        for j, off in zip(tip_joints(side), TIP_OFFSETS):
            joints[j] = geometry.make_pose(np.repeat(np.eye(3)[None], T, 0), geometry.transform_points(W, off))
    assert set(joints) == set(needed_joints())
    return EgoDexEpisode(hdf5=Path("x.hdf5"), video=Path("x.mp4"), task="t", instruction="do it", intrinsic=K,
                         camera=cameras, joints=joints, confidences=confidences or {})


def still_camera(T):
    return np.repeat(np.eye(4)[None], T, 0)


def test_static_camera_labels_are_future_wrist_poses_and_tips_in_the_wrist_frame():
    T = 6
    R = rot_y(20)
    wrists = geometry.make_pose(np.repeat(R[None], T, 0), np.stack([[0.01 * t, 0.0, 0.5] for t in range(T)]))
    lab = episode_labels(episode(still_camera(T), wrists), K, HW, LabelConfig(horizon=3, min_valid=0))
    pos, rot, tips = spaces.slot("right", "wrist_pos"), spaces.slot("right", "wrist_rot"), spaces.slot("right", "fingertips")
    np.testing.assert_allclose(lab.state[:, pos], [[0.01 * t, 0, 0.5] for t in range(T)], atol=1e-6)
    np.testing.assert_allclose(lab.action[0, :, pos], [[0.01, 0, 0.5], [0.02, 0, 0.5], [0.03, 0, 0.5]], atol=1e-6)
    np.testing.assert_allclose(lab.action[2, 0, rot], geometry.rot6d_from_matrix(R), atol=1e-6)
    np.testing.assert_allclose(lab.action[1, 1, tips], TIP_OFFSETS.reshape(-1), atol=1e-6)
    assert lab.state_mask[:, pos].all() and not lab.state_mask[:, spaces.slot("left", "wrist_pos")].any()


def test_future_poses_are_in_the_camera_frame_of_the_current_frame_not_their_own():
    # The head turns 90 degrees about its y axis between frame 0 and 1; the hand stays still in the world
    # at (0.5, 0, 0.4): in frame 0's camera it sits at (0.5, 0, 0.4); frame 1's camera looks at +x.
    cams = np.stack([np.eye(4), geometry.make_pose(rot_y(90), [0.0, 0, 0]), geometry.make_pose(rot_y(90), [0.0, 0, 0])])
    p = np.array([0.5, 0.0, 0.4])
    wrists = np.repeat(geometry.make_pose(np.eye(3), p)[None], 3, 0)
    lab = episode_labels(episode(cams, wrists), np.array([[50.0, 0, 64], [0, 50, 64], [0, 0, 1]]), HW,
                         LabelConfig(horizon=2, min_valid=0))
    pos, rot = spaces.slot("right", "wrist_pos"), spaces.slot("right", "wrist_rot")
    # frame 0, steps 1 and 2: still expressed in camera 0, where nothing moved
    np.testing.assert_allclose(lab.action[0, :, pos], [p, p], atol=1e-6)
    np.testing.assert_allclose(lab.action[0, 0, rot], geometry.rot6d_from_matrix(np.eye(3)), atol=1e-6)
    # frame 1: camera 1 sees the same point at x' = R^T p = (-0.4, 0, 0.5), rotated by R^T
    expected = rot_y(90).T @ p
    np.testing.assert_allclose(expected, [-0.4, 0, 0.5], atol=1e-9)
    np.testing.assert_allclose(lab.state[1, pos], expected, atol=1e-6)
    np.testing.assert_allclose(lab.action[1, 0, pos], expected, atol=1e-6)
    np.testing.assert_allclose(lab.action[1, 0, rot], geometry.rot6d_from_matrix(rot_y(90).T), atol=1e-6)


def test_arkit_camera_axes_are_converted_explicitly():
    T = 4
    cams = geometry.make_pose(np.stack([rot_y(5 * t) for t in range(T)]), np.stack([[0.02 * t, 0, 0] for t in range(T)]))
    wrists = geometry.make_pose(np.repeat(np.eye(3)[None], T, 0), np.stack([[0.0, 0.05, 0.45]] * T))
    ref = episode_labels(episode(cams, wrists), K, HW, LabelConfig(horizon=2, min_valid=0))
    arkit = episode_labels(episode(cams @ ARKIT_TO_OPENCV, wrists), K, HW,
                           LabelConfig(horizon=2, min_valid=0, camera_axes="arkit"))
    wrong = episode_labels(episode(cams @ ARKIT_TO_OPENCV, wrists), K, HW, LabelConfig(horizon=2, min_valid=0))
    np.testing.assert_allclose(arkit.action, ref.action, atol=1e-6)
    assert ref.state_mask.any() and not wrong.state_mask[:, spaces.slot("right", "wrist_pos")].any()  # behind


def test_stride_subsamples_frames_and_chunk_steps():
    T = 9
    wrists = geometry.make_pose(np.repeat(np.eye(3)[None], T, 0), np.stack([[0.01 * t, 0, 0.5] for t in range(T)]))
    lab = episode_labels(episode(still_camera(T), wrists), K, HW, LabelConfig(horizon=2, stride=3, min_valid=0))
    pos = spaces.slot("right", "wrist_pos")
    assert lab.frames.tolist() == [0, 3, 6]
    np.testing.assert_allclose(lab.action[0, :, pos][:, 0], [0.03, 0.06], atol=1e-6)
    assert lab.action_mask[2, :, pos].any(-1).tolist() == [False, False]  # 9 and 12 are past the end


def _valid_right(lab):
    return lab.action_mask[:, :, spaces.slot("right", "wrist_pos")].all(-1)


def test_masks_low_confidence_gaps_out_of_view_and_episode_end():
    T = 8
    wrists = geometry.make_pose(np.repeat(np.eye(3)[None], T, 0), np.stack([[0.0, 0.0, 0.5]] * T))
    wrists[2, 0, 0] = np.nan                 # a tracking gap: non-finite
    wrists[3, :3, :3] *= 2.0                 # not a rigid transform
    wrists[4, :3, 3] = [0.0, 0.0, -0.3]      # behind the camera
    wrists[5, :3, 3] = [0.5, 0.0, 0.5]       # projects to u = 164 > 128: outside the image
    conf = {wrist_joint("right"): np.ones(T), tip_joints("right")[1]: np.ones(T)}
    conf[wrist_joint("right")][6] = 0.2      # low confidence
    conf[tip_joints("right")[1]][0] = 0.1    # one low-confidence fingertip (index) at frame 0
    lab = episode_labels(episode(still_camera(T), wrists, confidences=conf), K, HW, LabelConfig(horizon=3, min_valid=0))
    state_ok = lab.state_mask[:, spaces.slot("right", "wrist_pos")].all(-1)
    assert state_ok.tolist() == [True, True, False, False, False, False, False, True]
    assert _valid_right(lab)[5].tolist() == [False, True, False]  # steps 6 (low conf), 7, 8 (past the end)
    index = spaces.fingertip_slot("right", "index")
    assert not lab.state_mask[0, index].any() and lab.state_mask[0, spaces.fingertip_slot("right", "thumb")].all()
    assert lab.state_mask[1, index].all()
    assert np.isfinite(lab.action).all() and (lab.action[~lab.action_mask] == 0).all()


def test_keep_rule_needs_more_than_min_valid_of_the_steps():
    T, H = 30, 10
    wrists = geometry.make_pose(np.repeat(np.eye(3)[None], T, 0), np.stack([[0.0, 0.0, 0.5]] * T))
    wrists[15, 0, 0] = np.nan  # one bad step
    lab = episode_labels(episode(still_camera(T), wrists), K, HW, LabelConfig(horizon=H, min_valid=0.9))
    # frames 5..14 see frame 15 among their 10 steps: 9/10 valid is not MORE than 90%
    np.testing.assert_allclose(lab.valid_fraction[5:15], 0.9)
    assert not lab.keep[5:15].any() and lab.keep[:5].all() and lab.keep[15:20].all()
    assert not lab.keep[T - 1]  # the last frames run out of future steps
    assert episode_labels(episode(still_camera(T), wrists), K, HW, LabelConfig(horizon=H, min_valid=0)).keep.all()


def test_either_hand_makes_a_step_valid():
    T = 4
    right = geometry.make_pose(np.repeat(np.eye(3)[None], T, 0), np.stack([[0.0, 0.0, -1.0]] * T))  # behind
    left = geometry.make_pose(np.repeat(np.eye(3)[None], T, 0), np.stack([[-0.1, 0.0, 0.5]] * T))
    lab = episode_labels(episode(still_camera(T), right, left), K, HW, LabelConfig(horizon=1, min_valid=0))
    assert lab.valid_fraction[:3].tolist() == [1.0, 1.0, 1.0]
    assert lab.action_mask[0, 0, spaces.slot("left", "wrist_pos")].all()
    assert not lab.action_mask[0, 0, spaces.slot("right", "wrist_pos")].any()


def test_geometry_helpers():
    assert rigid(np.stack([np.eye(4), np.full((4, 4), np.nan), np.diag([1, 1, -1, 1.0])])).tolist() == [True, False, False]
    np.testing.assert_allclose(project(np.array([0.1, -0.2, 0.5]), K), [84, 24])
    assert in_view(np.array([[0, 0, 0.5], [0, 0, 0.01], [1, 0, 0.5]]), K, HW).tolist() == [True, False, False]


def test_config_is_checked():
    with pytest.raises(ValueError, match="min_valid"):
        LabelConfig(min_valid=1.0)
    with pytest.raises(ValueError, match="camera_axes"):
        LabelConfig(camera_axes="unity")
