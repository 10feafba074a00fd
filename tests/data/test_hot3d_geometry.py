"""FISHEYE624 projection and its inverse, the pinhole view, and UmeTrack forward kinematics
against hand-computed cases."""

import numpy as np
import pytest
from helpers.hot3d_files import ARIA_PARAMS, QUEST_PARAMS, fisheye_project, fk_tips, hand_profile, make_pose

from egovla.data.hot3d.fisheye import CalibrationError, Fisheye624, PinholeView, remap_bilinear
from egovla.data.hot3d.umetrack import HandProfile, ProfileError, fingertips, joint_frames, landmarks


def test_projection_matches_the_format_description_and_round_trips():
    rng = np.random.default_rng(0)
    for params in (ARIA_PARAMS, QUEST_PARAMS):
        cam = Fisheye624.from_params(params, 704, 704)
        pts = np.stack([rng.uniform(-0.5, 0.5, 200), rng.uniform(-0.5, 0.5, 200), rng.uniform(0.2, 1.0, 200)], -1)
        px = cam.project(pts)
        want = np.array([fisheye_project(params, p) for p in pts])
        np.testing.assert_allclose(px, want, atol=1e-9)
        rays = cam.unproject(px)
        np.testing.assert_allclose(rays, pts / np.linalg.norm(pts, axis=-1, keepdims=True), atol=1e-8)
    aria = Fisheye624.from_params(ARIA_PARAMS, 704, 704)
    assert aria.fx == aria.fy == 305.0 and aria.cx == 351.2 and aria.k[0] == 0.35 and aria.s == (1e-4, 0.0, -1e-4, 0.0)
    quest = Fisheye624.from_params(QUEST_PARAMS, 160, 128)
    assert (quest.fx, quest.fy, quest.cx, quest.cy) == (60.0, 60.5, 79.4, 63.8)


def test_projection_without_distortion_is_the_equidistant_model():
    cam = Fisheye624.from_params([100.0, 50.0, 40.0] + [0.0] * 12, 101, 81)
    # a ray 60 degrees off the axis, in the x-z plane: r = f * theta
    p = np.array([np.sin(np.pi / 3), 0.0, np.cos(np.pi / 3)])
    np.testing.assert_allclose(cam.project(p), [50.0 + 100.0 * np.pi / 3, 40.0], atol=1e-12)
    np.testing.assert_allclose(cam.project([0.0, 0.0, 2.0]), [50.0, 40.0])
    # a point behind the camera side (theta > 90 deg) still maps, beyond f * pi / 2
    assert cam.project([1.0, 0.0, -0.1])[0] > 50 + 100 * np.pi / 2
    with pytest.raises(CalibrationError, match="15 .* or 16"):
        Fisheye624.from_params([1.0] * 14, 10, 10)
    with pytest.raises(CalibrationError, match="FISHEYE624"):
        Fisheye624.from_calibration({"projection_model_type": "CameraModelType.LINEAR", "projection_params": []})


def test_scaled_camera_keeps_pixel_centres():
    cam = Fisheye624.from_params(ARIA_PARAMS, 704, 704)
    half = cam.scaled(0.5)
    p = np.array([0.1, -0.05, 0.4])
    np.testing.assert_allclose(half.project(p), (cam.project(p) + 0.5) * 0.5 - 0.5, atol=1e-9)


def test_pinhole_view_rotation_is_np_rot90_and_sampling_hits_the_projection():
    cam = Fisheye624.from_params(ARIA_PARAMS, 704, 704)
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (704, 704, 3)).astype(np.uint8)
    img = np.repeat(np.repeat(img[::8, ::8], 8, 0), 8, 1)  # 8x8 blocks so bilinear sampling is near-exact
    views = {k: PinholeView(64, 64, 40.0, k) for k in range(4)}
    out = {k: remap_bilinear(img, *v.source_pixels(cam)) for k, v in views.items()}
    for k in range(1, 4):
        assert np.mean(np.abs(np.rot90(out[0], k).astype(int) - out[k])) < 2.0
    v = views[3]
    p_view = np.array([0.05, -0.03, 0.4])  # a point in the view's frame
    p_cam = v.R_camera_view @ p_view
    uv_view = v.K @ p_view / p_view[2]
    px, ok = v.source_pixels(cam)
    i, j = int(round(uv_view[1])), int(round(uv_view[0]))
    np.testing.assert_allclose(px[i, j], cam.project(v.R_camera_view @ np.linalg.inv(v.K) @ [j, i, 1.0]), atol=1e-9)
    assert ok[i, j] and np.linalg.norm(cam.project(p_cam) - px[i, j]) < 10


def test_umetrack_fk_hand_computed():
    doc = hand_profile()
    prof = HandProfile.from_json(doc)
    W = make_pose([0.1, -0.2, 0.3], [0.4, 0.1, 0.5])
    zero = np.zeros((1, 22))
    tips = fingertips(prof, zero, W[None], "left")[0]
    rest = np.array(doc["landmark_rest_positions"][:5]) * 0.001
    np.testing.assert_allclose(tips, rest @ W[:3, :3].T + W[:3, 3], atol=1e-12)  # zero angles: the rest pose
    # bend only the index finger's second joint (joint 5) by 90 degrees about its axis (wrist y)
    a = zero.copy()
    a[0, 5] = np.pi / 2
    tip = fingertips(prof, a, np.eye(4)[None], "left")[0, 1]
    pivot = np.array(doc["joint_rest_positions"][5]) * 0.001
    d = np.array(doc["landmark_rest_positions"][1]) * 0.001 - pivot
    Ry = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    np.testing.assert_allclose(tip, pivot + Ry @ d, atol=1e-12)
    # the right hand mirrors the model's x axis in the wrist frame
    right = fingertips(prof, zero, np.eye(4)[None], "right")[0]
    np.testing.assert_allclose(right, rest * [-1, 1, 1], atol=1e-12)
    # random poses against the independent implementation in the test helper
    rng = np.random.default_rng(5)
    for side in ("left", "right"):
        ang = rng.uniform(-0.3, 1.2, (4, 22))
        Ws = np.stack([make_pose(rng.normal(0, 1, 3), rng.normal(0, 0.3, 3)) for _ in range(4)])
        got = fingertips(prof, ang, Ws, side)
        want = np.stack([fk_tips(doc, ang[i], Ws[i], side) for i in range(4)])
        np.testing.assert_allclose(got, want, atol=1e-12)
    assert joint_frames(prof, ang, Ws, "left").shape == (4, 17, 4, 4)
    assert landmarks(prof, ang, Ws, "left").shape == (4, 21, 3)


def test_profile_errors_name_the_problem():
    doc = hand_profile()
    with pytest.raises(ProfileError, match="missing"):
        HandProfile.from_json({k: v for k, v in doc.items() if k != "landmark_rest_positions"})
    with pytest.raises(ProfileError, match="frame numbers"):
        HandProfile.from_json({**doc, "landmark_rest_bone_indices": [[17, 0, 0]] * 21})
