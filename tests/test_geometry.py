"""Specification of egovla.geometry: 6D rotations, axis-angle, quaternions and SE(3) poses."""

from __future__ import annotations

import math
import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from helpers.rotations import (
    ATOL,
    FAST,
    assert_rotation,
    poses,
    quats,
    rot6ds,
    rot_z,
    rotations,
    unit_axes,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from egovla import geometry as G

# ----------------------------------------------------------------------------------------------
# 6D rotation
# ----------------------------------------------------------------------------------------------


@FAST
@given(rotations)
def test_rot6d_round_trip_numpy(R):
    x = G.rot6d_from_matrix(R)
    np.testing.assert_array_equal(x, np.concatenate([R[:, 0], R[:, 1]]))
    np.testing.assert_allclose(G.matrix_from_rot6d(x), R, atol=ATOL)


@FAST
@given(rot6ds)
def test_rot6d_to_matrix_is_gram_schmidt(x):
    R = G.matrix_from_rot6d(x)
    assert_rotation(R)
    a1, a2 = x[:3], x[3:]
    np.testing.assert_allclose(R[:, 0], a1 / np.linalg.norm(a1), atol=ATOL)  # first column kept
    assert R[:, 1] @ a2 > 0  # second column on a2's side, in span(a1, a2)
    np.testing.assert_allclose(np.cross(a1, a2) @ R[:, 1], 0.0, atol=ATOL)
    np.testing.assert_allclose(G.matrix_from_rot6d(G.rot6d_from_matrix(R)), R, atol=ATOL)


@FAST
@given(st.lists(rot6ds, min_size=1, max_size=4))
def test_rot6d_torch_matches_numpy_batched(xs):
    x = np.stack(xs)
    Rn = G.matrix_from_rot6d(x)
    Rt = G.matrix_from_rot6d(torch.from_numpy(x))
    assert isinstance(Rt, torch.Tensor) and Rt.dtype == torch.float64 and Rt.shape == (len(xs), 3, 3)
    np.testing.assert_allclose(Rt.numpy(), Rn, atol=1e-12)
    assert_rotation(Rt.numpy())
    back = G.rot6d_from_matrix(Rt)
    assert isinstance(back, torch.Tensor)
    np.testing.assert_allclose(G.matrix_from_rot6d(back).numpy(), Rn, atol=ATOL)


def test_rot6d_torch_float32_gradients_flow():
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1), requires_grad=True)
    R = G.matrix_from_rot6d(x)
    assert R.dtype == torch.float32
    R[..., 2, 2].sum().backward()  # depends on both halves through the cross product
    assert torch.isfinite(x.grad).all() and (x.grad.abs().sum(-1) > 0).all()


# ----------------------------------------------------------------------------------------------
# Axis-angle and quaternions
# ----------------------------------------------------------------------------------------------



def test_axis_angle_known_example():
    R = G.matrix_from_axis_angle(np.array([0.0, 0.0, math.pi / 2]))
    np.testing.assert_allclose(R, rot_z(90), atol=1e-15)
    np.testing.assert_allclose(R @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)


@FAST
@given(unit_axes, st.floats(0.0, math.pi - 1e-6))
def test_axis_angle_matches_matrix_exponential(axis, angle):
    v = axis * angle
    K = torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]], dtype=torch.float64)
    np.testing.assert_allclose(G.matrix_from_axis_angle(v), torch.linalg.matrix_exp(K).numpy(), atol=1e-12)


@FAST
@given(
    unit_axes,
    st.one_of(
        st.floats(0.0, 1e-6), st.floats(1e-6, math.pi - 1e-3), st.floats(math.pi - 1e-3, math.pi - 1e-7)
    ),
)
def test_axis_angle_round_trip_including_near_0_and_pi(axis, angle):
    v = axis * angle
    R = G.matrix_from_axis_angle(v)
    assert_rotation(R)
    np.testing.assert_allclose(G.axis_angle_from_matrix(R), v, atol=1e-7)


@FAST
@given(unit_axes)
def test_axis_angle_at_exactly_pi_is_same_rotation_either_sign(axis):
    v = axis * math.pi
    R = G.matrix_from_axis_angle(v)
    back = G.axis_angle_from_matrix(R)
    np.testing.assert_allclose(np.linalg.norm(back), math.pi, atol=1e-9)
    assert np.allclose(back, v, atol=1e-7) or np.allclose(back, -v, atol=1e-7)
    np.testing.assert_allclose(G.matrix_from_axis_angle(back), R, atol=1e-9)


def test_axis_angle_identity_is_zero():
    np.testing.assert_array_equal(G.axis_angle_from_matrix(np.eye(3)), np.zeros(3))
    np.testing.assert_array_equal(G.matrix_from_axis_angle(np.zeros((2, 3))), np.broadcast_to(np.eye(3), (2, 3, 3)))


def test_quat_convention_is_wxyz():
    h = math.sqrt(0.5)
    np.testing.assert_allclose(G.matrix_from_quat([h, 0.0, 0.0, h]), rot_z(90), atol=1e-15)
    np.testing.assert_allclose(G.quat_from_matrix(rot_z(90)), [h, 0.0, 0.0, h], atol=1e-15)
    np.testing.assert_allclose(G.quat_from_matrix(np.eye(3)), [1.0, 0.0, 0.0, 0.0])


@FAST
@given(quats, st.floats(0.2, 5.0))
def test_quat_round_trip_normalized_with_nonnegative_w(q, scale):
    assume(abs(q[0]) / np.linalg.norm(q) > 1e-6)  # at w == 0 both signs are valid
    R = G.matrix_from_quat(q * scale)
    assert_rotation(R)
    np.testing.assert_allclose(G.matrix_from_quat(-q), R, atol=ATOL)  # q and -q: same rotation
    back = G.quat_from_matrix(R)
    assert back[0] >= 0
    expected = np.sign(q[0]) * q / np.linalg.norm(q)
    np.testing.assert_allclose(back, expected, atol=1e-9)


@FAST
@given(unit_axes, st.one_of(st.floats(0.0, 1e-6), st.floats(math.pi - 1e-6, math.pi)))
def test_quat_from_matrix_near_0_and_pi(axis, angle):
    R = G.matrix_from_axis_angle(axis * angle)
    q = G.quat_from_matrix(R)
    np.testing.assert_allclose(np.linalg.norm(q), 1.0, atol=1e-12)
    assert q[0] >= 0
    np.testing.assert_allclose(G.matrix_from_quat(q), R, atol=1e-9)
    np.testing.assert_allclose(q[0], math.cos(angle / 2), atol=1e-9)


def test_quat_batched_and_agrees_with_axis_angle():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 4, 3))
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    q = np.concatenate([np.cos(angle / 2), np.sin(angle / 2) * v / angle], -1)
    np.testing.assert_allclose(G.matrix_from_quat(q), G.matrix_from_axis_angle(v), atol=1e-12)
    assert G.quat_from_matrix(G.matrix_from_quat(q)).shape == (3, 4, 4)


def test_zero_quaternion_rejected():
    with pytest.raises(ValueError, match="quat"):
        G.matrix_from_quat(np.zeros(4))


# ----------------------------------------------------------------------------------------------
# SE(3)
# ----------------------------------------------------------------------------------------------


@FAST
@given(poses)
def test_invert_pose(T):
    I4 = np.eye(4)
    np.testing.assert_allclose(G.invert_pose(T) @ T, I4, atol=1e-9)
    np.testing.assert_allclose(T @ G.invert_pose(T), I4, atol=1e-9)
    np.testing.assert_allclose(G.invert_pose(T), np.linalg.inv(T), atol=1e-9)
    np.testing.assert_array_equal(G.invert_pose(T)[3], [0.0, 0.0, 0.0, 1.0])


@FAST
@given(poses, poses, poses)
def test_compose_is_associative_and_applies_right_first(A, B, C):
    np.testing.assert_allclose(G.compose(G.compose(A, B), C), G.compose(A, G.compose(B, C)), atol=1e-9)
    p = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(
        G.transform_points(G.compose(A, B), p), G.transform_points(A, G.transform_points(B, p)), atol=1e-9
    )


@FAST
@given(poses)
def test_to_camera_frame_of_own_pose_is_identity(T):
    np.testing.assert_allclose(G.to_camera_frame(T, T), np.eye(4), atol=1e-9)
    stacked = np.stack([T, T, T])
    np.testing.assert_allclose(G.to_camera_frame(T, stacked), np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-9)


@FAST
@given(poses, hnp.arrays(np.float64, (6, 3), elements=st.floats(-3.0, 3.0)))
def test_transform_points_agrees_with_homogeneous_matmul(T, pts):
    homo = np.concatenate([pts, np.ones((6, 1))], -1)
    np.testing.assert_allclose(G.transform_points(T, pts), (homo @ T.T)[:, :3], atol=1e-9)


def test_make_pose_layout_and_broadcast():
    T = G.make_pose(rot_z(90), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert T.shape == (2, 4, 4)
    np.testing.assert_array_equal(T[1, :3, 3], [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(T[0, :3, :3], rot_z(90))
    np.testing.assert_array_equal(T[:, 3], [[0.0, 0.0, 0.0, 1.0]] * 2)



@FAST
@given(poses, st.floats(0.5, 3.0), st.floats(-0.4, 0.4), st.floats(0.01, 0.3))
def test_ray_miss_splits_a_miss_into_depth_along_the_ray_and_what_the_image_shows(T, depth, along, across):
    K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]])
    ray = np.array([0.1, -0.2, 1.0]) / np.linalg.norm([0.1, -0.2, 1.0])
    side = np.cross(ray, [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    target_cam = depth * ray
    on_ray, off_ray = target_cam + along * ray, target_cam + across * side
    target, p_on, p_off = (G.transform_points(T, x) for x in (target_cam, on_ray, off_ray))
    a, c, px = G.ray_miss(T, K, target, p_on)  # a point on the ray: only depth, nothing in the image
    assert a == pytest.approx(along, abs=1e-9) and c == pytest.approx(0.0, abs=1e-9) and px == pytest.approx(0, abs=1e-6)
    a, c, px = G.ray_miss(T, K, target, p_off)  # across it: no depth, seen in the image
    assert a == pytest.approx(0.0, abs=1e-9) and c == pytest.approx(across, abs=1e-9) and px > 0


def test_ray_miss_needs_both_points_in_front_of_the_camera():
    with pytest.raises(ValueError, match="in front of the camera"):
        G.ray_miss(np.eye(4), np.eye(3), [0.0, 0.0, 1.0], [0.0, 0.0, -1.0])


# ----------------------------------------------------------------------------------------------
# Shape errors
# ----------------------------------------------------------------------------------------------

z = np.zeros


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: G.matrix_from_rot6d(z((4, 5))), "rot6d: expected shape (..., 6), got (4, 5)"),
        (lambda: G.matrix_from_rot6d(torch.zeros(4, 5)), "rot6d: expected shape (..., 6), got (4, 5)"),
        (lambda: G.rot6d_from_matrix(z((3,))), "R: expected shape (..., 3, 3), got (3,)"),
        (lambda: G.matrix_from_axis_angle(z((2, 4))), "axis_angle: expected shape (..., 3), got (2, 4)"),
        (lambda: G.axis_angle_from_matrix(z((3, 4))), "R: expected shape (..., 3, 3), got (3, 4)"),
        (lambda: G.matrix_from_quat(z((3,))), "quat: expected shape (..., 4), got (3,)"),
        (lambda: G.quat_from_matrix(z((2, 2))), "R: expected shape (..., 3, 3), got (2, 2)"),
        (lambda: G.make_pose(np.eye(3), z((4,))), "t: expected shape (..., 3), got (4,)"),
        (lambda: G.invert_pose(z((3, 3))), "T: expected shape (..., 4, 4), got (3, 3)"),
        (lambda: G.compose(np.eye(4), z((4, 3))), "B: expected shape (..., 4, 4), got (4, 3)"),
        (lambda: G.transform_points(np.eye(4), z((5, 2))), "points: expected shape (..., 3), got (5, 2)"),
        (lambda: G.to_camera_frame(z((3, 4)), np.eye(4)), "T_world_camera: expected shape (..., 4, 4), got (3, 4)"),
    ],
)
def test_wrong_shapes_raise_value_error_naming_argument_and_shape(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
