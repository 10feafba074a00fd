"""The parallel-gripper embodiment: unified state from poses, and the position controller that turns a
unified target back into a Meta-World action. Pure numpy: poses are built by hand."""

from __future__ import annotations

import numpy as np
import pytest

from egovla import geometry, spaces
from egovla.sim.embodiment import GRIPPER_MASK, GripperEmbodiment, grip_distance

WRIST_POS = spaces.slot("right", "wrist_pos")
WRIST_ROT = spaces.slot("right", "wrist_rot")
THUMB = spaces.fingertip_slot("right", "thumb")
INDEX = spaces.fingertip_slot("right", "index")

#: A camera 1.2 m from the hand, looking at it from the side and above (any proper rotation works).
T_CAM = geometry.make_pose(geometry.matrix_from_axis_angle(np.array([1.9, -0.4, 0.7])), np.array([-1.1, -0.4, 0.6]))
T_HAND = geometry.make_pose(geometry.matrix_from_axis_angle(np.array([0.0, np.pi, 0.1])), np.array([0.05, 0.6, 0.2]))
#: The pads 4.7 cm either side of the hand origin along its y axis, 5 cm below it (hand frame).
PADS_HAND = np.array([[0.0, -0.047, 0.05], [0.0, 0.047, 0.05]])
PADS_WORLD = geometry.transform_points(T_HAND, PADS_HAND)
EMB = GripperEmbodiment()


def _state(opening: float | None = None, hand: np.ndarray = T_HAND) -> np.ndarray:
    pads = PADS_HAND if opening is None else np.array([[0, -opening / 2, 0.05], [0, opening / 2, 0.05]])
    return EMB.state(T_CAM, hand, geometry.transform_points(hand, pads))


def _moved(dx_world: np.ndarray, opening: float | None = None) -> np.ndarray:
    """A target: the hand moved by dx_world (metres, world frame), with the given pad opening."""
    T = T_HAND.copy()
    T[:3, 3] += dx_world
    return _state(opening, T)


def test_gripper_mask_is_the_right_wrist_and_two_tips():
    names = [n for n, keep in zip(spaces.names(), GRIPPER_MASK) if keep]
    assert len(names) == 15 and EMB.mask is GRIPPER_MASK
    assert names[:3] == ["right.wrist_pos.x", "right.wrist_pos.y", "right.wrist_pos.z"]
    assert all(n.startswith("right.wrist_rot.") for n in names[3:9])
    assert names[9:] == [f"right.fingertips.{f}.{a}" for f in ("thumb", "index") for a in "xyz"]


def test_state_fills_only_the_gripper_dims():
    s = _state()
    assert s.shape == (48,) and s.dtype == np.float32
    assert not s[~GRIPPER_MASK].any()
    assert np.count_nonzero(s[GRIPPER_MASK]) >= 12


def test_state_values_are_the_hand_in_the_camera_frame_and_pads_in_the_hand_frame():
    s = _state()
    T_cam_hand = np.linalg.inv(T_CAM) @ T_HAND
    np.testing.assert_allclose(s[WRIST_POS], T_cam_hand[:3, 3], atol=1e-6)
    np.testing.assert_allclose(s[WRIST_ROT], np.concatenate([T_cam_hand[:3, 0], T_cam_hand[:3, 1]]), atol=1e-6)
    np.testing.assert_allclose(s[THUMB], PADS_HAND[0], atol=1e-6)
    np.testing.assert_allclose(s[INDEX], PADS_HAND[1], atol=1e-6)
    assert grip_distance(s) == pytest.approx(np.linalg.norm(PADS_WORLD[0] - PADS_WORLD[1]), abs=1e-6)
    assert grip_distance(np.stack([s, s])).shape == (2,)


def test_target_world_round_trips_the_hand_position():
    s = _state()
    np.testing.assert_allclose(EMB.target_world(s, T_CAM), T_HAND[:3, 3], atol=1e-6)
    chunk = np.stack([_moved(np.array([0.01 * k, 0.0, -0.02 * k])) for k in range(4)])
    expected = T_HAND[:3, 3] + np.array([[0.01 * k, 0.0, -0.02 * k] for k in range(4)])
    np.testing.assert_allclose(EMB.target_world(chunk, T_CAM), expected, atol=1e-6)


def test_action_moves_toward_the_target_proportionally():
    """A 4 mm step asks for 0.4 of Meta-World's 1 cm per unit action, along the world direction."""
    step = np.array([0.004, -0.002, 0.001])
    a = EMB.action(_moved(step), T_CAM, T_HAND[:3, 3], grip_now=0.094)
    assert a.shape == (4,) and a.dtype == np.float32
    np.testing.assert_allclose(a[:3], step / 0.01, atol=1e-4)
    half_gain = GripperEmbodiment(gain=0.5).action(_moved(step), T_CAM, T_HAND[:3, 3], grip_now=0.094)
    np.testing.assert_allclose(half_gain[:3], 0.5 * step / 0.01, atol=1e-4)


def test_action_is_clipped_to_the_unit_box_and_keeps_the_direction():
    far = np.array([0.3, -0.05, 0.0])  # 30 cm: way beyond one step
    a = EMB.action(_moved(far), T_CAM, T_HAND[:3, 3], grip_now=0.094)
    assert np.all(np.abs(a) <= 1.0)
    np.testing.assert_allclose(a[:3], [1.0, -1.0, 0.0], atol=1e-4)
    here = EMB.action(_state(), T_CAM, T_HAND[:3, 3], grip_now=0.094)
    np.testing.assert_allclose(here[:3], 0.0, atol=1e-4)


@pytest.mark.parametrize("target_opening, grip_now, grip", [
    (0.02, 0.02, 1.0),     # closed and staying closed: keep squeezing
    (0.094, 0.094, -1.0),  # open and staying open
    (0.02, 0.094, 1.0),    # closing
    (0.094, 0.02, -1.0),   # opening
    (0.070, 0.050, -1.0),  # opening clearly, although both are below close_below: the move wins
    (0.090, 0.094, 1.0),   # closing clearly, although both are above close_below
    (0.0835, 0.0825, 1.0),  # within the deadband: the target's level decides (below 0.085: closed)
    (0.0865, 0.0875, -1.0),  # within the deadband, above 0.085: open
])
def test_grip_follows_the_target_opening(target_opening, grip_now, grip):
    a = EMB.action(_moved(np.zeros(3), opening=target_opening), T_CAM, T_HAND[:3, 3], grip_now=grip_now)
    assert a[3] == grip


@pytest.mark.parametrize("bad", ["nan_pos", "inf_tip", "short", "chunk"])
def test_bad_targets_raise(bad):
    target = _state().astype(np.float64)
    if bad == "nan_pos":
        target[WRIST_POS.start] = np.nan
    elif bad == "inf_tip":
        target[INDEX.start + 1] = np.inf
    elif bad == "short":
        target = target[GRIPPER_MASK]
    else:
        target = np.stack([target, target])
    with pytest.raises(ValueError, match="target: expected a finite unified vector"):
        EMB.action(target, T_CAM, T_HAND[:3, 3], grip_now=0.05)


def test_dims_the_gripper_lacks_are_ignored():
    """A policy's output in masked dims (left hand, other fingers) does not matter, even NaN."""
    target = _moved(np.array([0.002, 0.0, 0.0])).astype(np.float64)
    noisy = target.copy()
    noisy[~GRIPPER_MASK] = np.nan
    np.testing.assert_array_equal(EMB.action(noisy, T_CAM, T_HAND[:3, 3], 0.09),
                                  EMB.action(target, T_CAM, T_HAND[:3, 3], 0.09))


def test_damping_steers_the_hand_plus_its_velocity():
    """With damping d the controller steers p + d * v (v: the hand's last step) toward the target."""
    step, v = np.array([0.004, -0.002, 0.001]), np.array([0.001, 0.0005, -0.002])
    damped = GripperEmbodiment(damping=2.0)
    a = damped.action(_moved(step), T_CAM, T_HAND[:3, 3], grip_now=0.094, hand_velocity=v)
    np.testing.assert_allclose(a[:3], (step - 2.0 * v) / 0.01, atol=1e-4)
    at_rest = damped.action(_moved(step), T_CAM, T_HAND[:3, 3], grip_now=0.094, hand_velocity=np.zeros(3))
    np.testing.assert_array_equal(at_rest, EMB.action(_moved(step), T_CAM, T_HAND[:3, 3], grip_now=0.094))


def test_without_damping_the_velocity_is_ignored():
    """damping 0 (the default) is the plain position controller, whatever velocity is passed."""
    assert EMB.damping == 0.0
    target = _moved(np.array([0.004, -0.002, 0.001]))
    np.testing.assert_array_equal(EMB.action(target, T_CAM, T_HAND[:3, 3], 0.094, hand_velocity=np.ones(3)),
                                  EMB.action(target, T_CAM, T_HAND[:3, 3], 0.094))


def test_damping_needs_a_velocity_and_a_valid_value():
    with pytest.raises(ValueError, match="hand_velocity: required"):
        GripperEmbodiment(damping=1.0).action(_state(), T_CAM, T_HAND[:3, 3], grip_now=0.094)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="damping"):
            GripperEmbodiment(damping=bad)
