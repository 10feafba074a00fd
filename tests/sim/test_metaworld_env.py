"""The Meta-World wrapper: observations, reproducible layouts, input checks, and the camera-frame
maths checked against MuJoCo's own camera pose and its segmentation rendering."""

from __future__ import annotations

import numpy as np
import pytest

from egovla import geometry, spaces
from egovla.sim.metaworld_env import MAX_STEPS, EnvConfig, MetaWorldEnv

SIZE = 64
CAMERAS = ("corner", "topview")  # an upside-down corner camera and an upright one
#: The unified dims of a parallel gripper, spelled out by name rather than through the package.
GRIPPER_DIMS = [i for i, n in enumerate(spaces.names())
                if n.startswith(("right.wrist_pos.", "right.wrist_rot.", "right.fingertips.thumb.",
                                 "right.fingertips.index."))]
WRIST_POS = spaces.slot("right", "wrist_pos")
WRIST_ROT = spaces.slot("right", "wrist_rot")
THUMB = spaces.fingertip_slot("right", "thumb")
INDEX = spaces.fingertip_slot("right", "index")


@pytest.fixture(scope="module")
def env():
    """button-press-topdown: the button box is placed per layout and seen by both cameras."""
    with MetaWorldEnv("button-press-topdown-v3", 0, EnvConfig(cameras=CAMERAS, size=SIZE)) as e:
        yield e


def _subtree(model, body: int) -> set[int]:
    """`body` and every body below it in the kinematic tree."""
    out = {body}
    for b in range(model.nbody):
        p = b
        while p > 0:
            if p == body:
                out.add(b)
                break
            p = model.body_parentid[p]
    return out


def _pixel(T_world_camera: np.ndarray, K: np.ndarray, point_world: np.ndarray) -> tuple[int, int, float]:
    """(column, row, depth) of a world point, pixel centres at +0.5 (so the pixel is the floor)."""
    p = geometry.transform_points(geometry.invert_pose(T_world_camera), point_world)
    uv = (K @ p)[:2] / p[2]
    return int(np.floor(uv[0])), int(np.floor(uv[1])), float(p[2])


def _seen_at(env: MetaWorldEnv, seg: np.ndarray, pixel: tuple[int, int, float], body: str) -> bool:
    """Whether the segmentation shows a geom of `body` (or of a body attached below it) at the pixel."""
    u, v, depth = pixel
    if depth <= 0 or not (0 <= u < seg.shape[1] and 0 <= v < seg.shape[0]):
        return False
    model = env._sim.model
    geom = int(seg[v, u])
    return geom >= 0 and int(model.geom_bodyid[geom]) in _subtree(model, model.body(body).id)


# ---- observations ------------------------------------------------------------------------------

def test_observation_shapes_and_dtypes(env):
    obs = env.reset(0)
    assert set(obs["images"]) == set(CAMERAS)
    for image in obs["images"].values():
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert image.std() > 10  # a rendered scene, not a blank buffer
    assert obs["state"].shape == (48,) and obs["state"].dtype == np.float32
    assert obs["state_mask"].shape == (48,) and obs["state_mask"].dtype == bool
    assert obs["raw"].shape == (39,) and obs["raw"].dtype == np.float32
    assert obs["hand"].shape == (3,)
    assert 0.08 < obs["grip"] < 0.11  # the gripper starts open (~0.094 m between the pads)


def test_state_mask_is_exactly_the_fifteen_gripper_dims(env):
    obs = env.reset(0)
    assert np.flatnonzero(obs["state_mask"]).tolist() == GRIPPER_DIMS
    assert len(GRIPPER_DIMS) == 15
    assert not obs["state"][~obs["state_mask"]].any()
    assert np.all(np.isfinite(obs["state"])) and np.abs(obs["state"][GRIPPER_DIMS]).max() > 0


def test_step_moves_the_hand_and_counts_steps(env):
    obs0 = env.reset(0)
    obs, success = obs0, None
    for _ in range(5):
        obs, success = env.step(np.array([1.0, 0.0, 0.0, -1.0]))
    assert env.steps == 5 and success is False
    assert obs["hand"][0] - obs0["hand"][0] > 0.01  # +x action moves the end-effector along world +x
    np.testing.assert_allclose(obs["raw"][:3], obs["hand"], atol=1e-6)  # Meta-World reports the same hand
    assert env.fps == pytest.approx(80.0)


@pytest.mark.parametrize("task, measured", [("reach-v3", "tcp_position"), ("push-v3", "object_position")])
def test_goal_distance_is_what_meta_world_measures_between_the_goal_and_the_hand_or_object(task, measured):
    with MetaWorldEnv(task, 0, EnvConfig(cameras=("corner",), size=32)) as e:
        e.reset(3)
        assert np.isnan(e.goal_distance)  # nothing measured before the first step
        for _ in range(3):
            e.step(np.array([0.5, 0.3, -0.2, 0.0]))
        goal, point = e.goal_position(), getattr(e, measured)()
        assert e.goal_distance == pytest.approx(float(np.linalg.norm(point - goal)), abs=1e-6)
        e.reset(4)
        assert np.isnan(e.goal_distance) and not np.allclose(e.goal_position(), goal)  # each layout has its goal


def test_reset_is_reproducible_per_layout(env):
    first = env.reset(3)
    env.step(np.array([0.5, -0.5, 0.5, 1.0]))
    env.reset(4)
    other = env.reset(4)
    again = env.reset(3)
    assert env.steps == 0
    np.testing.assert_array_equal(first["raw"], again["raw"])
    np.testing.assert_array_equal(first["state"], again["state"])
    np.testing.assert_array_equal(first["images"]["corner"], again["images"]["corner"])
    assert np.abs(first["raw"] - other["raw"]).max() > 1e-3  # another layout puts the object elsewhere


# ---- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", [-1, 50])
def test_bad_layout_raises(env, layout):
    with pytest.raises(ValueError, match=rf"layout: expected 0\.\.49, got {layout}"):
        env.reset(layout)


@pytest.mark.parametrize("action", [np.zeros(3), np.zeros(5), np.array([0.0, np.nan, 0.0, 1.0]),
                                    np.array([np.inf, 0.0, 0.0, 1.0])], ids=["3", "5", "nan", "inf"])
def test_bad_action_raises(env, action):
    env.reset(0)
    with pytest.raises(ValueError, match="action: expected 4 finite numbers"):
        env.step(action)
    assert env.steps == 0  # nothing was executed


def test_unknown_task_raises():
    with pytest.raises(ValueError, match="unknown Meta-World task 'reach-v9'"):
        MetaWorldEnv("reach-v9", 0)


def test_unknown_camera_raises_and_lists_the_cameras():
    with pytest.raises(ValueError, match=r"unknown camera\(s\) \['fisheye'\].*corner"):
        MetaWorldEnv("reach-v3", 0, EnvConfig(cameras=("corner", "fisheye"), size=16))


@pytest.mark.parametrize("kwargs, message", [({"cameras": ()}, "at least one camera"),
                                             ({"size": 4}, "size and width: expected >= 8")])
def test_env_config_is_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EnvConfig(**kwargs)


def test_step_before_reset_and_past_the_step_limit_raise():
    with MetaWorldEnv("reach-v3", 0, EnvConfig(size=8)) as e:
        with pytest.raises(RuntimeError, match="before reset"):
            e.step(np.zeros(4))
        e.reset(0)
        for _ in range(MAX_STEPS):
            e.step(np.zeros(4))
        with pytest.raises(RuntimeError, match="end after 500 steps"):
            e.step(np.zeros(4))
        assert e.steps == MAX_STEPS == 500


# ---- camera frames -----------------------------------------------------------------------------

@pytest.mark.parametrize("camera, turned", [("corner", True), ("topview", False)])
def test_camera_pose_is_mujocos_camera_in_opencv_axes(env, camera, turned):
    """MuJoCo cameras look down -z with y up; OpenCV's look down +z with y down. An upright camera
    therefore negates y and z; the corner cameras' images are turned 180 degrees, so x and z."""
    env.reset(1)
    i = env._sim.model.camera(camera).id
    R_mj = env._sim.data.cam_xmat[i].reshape(3, 3)
    flip = np.diag([-1.0, 1.0, -1.0]) if turned else np.diag([1.0, -1.0, -1.0])
    T = env.camera_pose(camera)
    np.testing.assert_allclose(T[:3, :3], R_mj @ flip, atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], env._sim.data.cam_xpos[i], atol=1e-12)
    np.testing.assert_allclose(T[3], [0, 0, 0, 1])
    np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-9)
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
    # The hand is in front of both cameras.
    assert geometry.transform_points(geometry.invert_pose(T), env.hand_pose()[:3, 3])[2] > 0.3


def test_intrinsics_follow_the_field_of_view(env):
    K = env.intrinsics("topview")
    f = 0.5 * SIZE / np.tan(np.deg2rad(32.0) / 2)
    np.testing.assert_allclose(K, [[f, 0, SIZE / 2], [0, f, SIZE / 2], [0, 0, 1]])


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("camera, bodies", [("corner", ("rightpad", "leftpad", "buttonbox")),
                                            ("topview", ("buttonbox",))])
def test_projected_bodies_land_on_their_own_pixels(env, layout, camera, bodies):
    """Project a body's world position with camera_pose + intrinsics: the segmentation (geom ids,
    aligned with the rendered image) shows that body there."""
    env.reset(layout)
    T, K, seg = env.camera_pose(camera), env.intrinsics(camera), env.segmentation(camera)
    assert seg.shape == (SIZE, SIZE)
    data = env._sim.data
    for body in bodies:
        point = data.xpos[env._sim.model.body(body).id]
        assert _seen_at(env, seg, _pixel(T, K, point), body), (camera, body, _pixel(T, K, point))


def test_the_upright_convention_would_miss_on_the_turned_corner_camera(env):
    """The 180-degree turn matters: with the upright axes the pads project onto the wrong pixels."""
    env.reset(0)
    i = env._sim.model.camera("corner").id
    wrong = env.camera_pose("corner")
    wrong[:3, :3] = env._sim.data.cam_xmat[i].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    seg, K = env.segmentation("corner"), env.intrinsics("corner")
    for body in ("rightpad", "leftpad"):
        point = env._sim.data.xpos[env._sim.model.body(body).id]
        assert _seen_at(env, seg, _pixel(env.camera_pose("corner"), K, point), body)
        assert not _seen_at(env, seg, _pixel(wrong, K, point), body)


def test_segmentation_and_image_are_aligned(env):
    """Background (-1) pixels of the segmentation are where the rendered image shows no object:
    the same turn is applied to both."""
    env.reset(0)
    for camera in CAMERAS:
        seg, image = env.segmentation(camera), env.render(camera)
        table = env._sim.model.body("tablelink").id
        on_table = np.isin(seg, np.flatnonzero(env._sim.model.geom_bodyid == table))
        assert on_table.any() and (~on_table).any()
        # Table and non-table pixels have clearly different mean colours in the image itself.
        assert np.abs(image[on_table].mean(0) - image[~on_table].mean(0)).max() > 5


@pytest.mark.parametrize("steps", [0, 15])
def test_state_is_the_hand_in_the_first_cameras_frame(env, steps):
    obs = env.reset(2)
    for _ in range(steps):  # move and close the gripper so that the opening changes
        obs, _ = env.step(np.array([0.3, -0.5, 0.4, 1.0]))
    T_cam = env.camera_pose("corner")  # cameras[0]
    T_hand = env.hand_pose()
    expected = geometry.invert_pose(T_cam) @ T_hand
    np.testing.assert_allclose(obs["state"][WRIST_POS], expected[:3, 3], atol=1e-5)
    np.testing.assert_allclose(obs["state"][WRIST_ROT], geometry.rot6d_from_matrix(expected[:3, :3]), atol=1e-5)
    pads = env.pads()
    opening = np.linalg.norm(obs["state"][THUMB] - obs["state"][INDEX])
    assert opening == pytest.approx(np.linalg.norm(pads[0] - pads[1]), abs=1e-5)
    assert obs["grip"] == pytest.approx(np.linalg.norm(pads[0] - pads[1]))
    if steps:
        assert obs["grip"] < 0.06  # the close command shut the pads
    # The tips are in the hand frame: mapping them back gives the pads in the world.
    tips_world = geometry.transform_points(T_hand, np.stack([obs["state"][THUMB], obs["state"][INDEX]]))
    np.testing.assert_allclose(tips_world, pads, atol=1e-5)
