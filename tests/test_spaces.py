"""Specification of egovla.spaces: the 48-dim unified layout and the geometry behind it."""

from __future__ import annotations

import math
import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from egovla import spaces as S

FAST = settings(max_examples=50, deadline=None)
ATOL = 1e-9

# ----------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------

unit = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)
quats = hnp.arrays(np.float64, (4,), elements=unit).filter(lambda q: np.linalg.norm(q) > 0.1)
rotations = quats.map(S.matrix_from_quat)
translations = hnp.arrays(np.float64, (3,), elements=st.floats(-5.0, 5.0))
poses = st.builds(S.make_pose, rotations, translations)


def rot6d_nondegenerate(x: np.ndarray) -> bool:
    a1, a2 = x[:3], x[3:]
    n1 = np.linalg.norm(a1)
    return n1 > 0.1 and np.linalg.norm(a2 - (a1 @ a2) / n1**2 * a1) > 0.1


rot6ds = hnp.arrays(np.float64, (6,), elements=unit).filter(rot6d_nondegenerate)


def assert_rotation(R) -> None:
    R = np.asarray(R)
    np.testing.assert_allclose(np.swapaxes(R, -1, -2) @ R, np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)


def rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# ----------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------


def test_constants():
    assert S.HAND_DIM == 24 and S.ACTION_DIM == 48
    assert S.HANDS == ("left", "right")
    assert S.FINGERS == ("thumb", "index", "middle", "ring", "little")


def test_slots_partition_all_48_dims_left_hand_first():
    covered = []
    for hand in S.HANDS:
        for part in S.PARTS:
            covered += list(range(48))[S.slot(hand, part)]
    assert covered == list(range(48))  # in order, no overlap, no gap
    assert S.slot("left", "wrist_pos") == slice(0, 3)
    assert S.slot("left", "wrist_rot") == slice(3, 9)
    assert S.slot("left", "fingertips") == slice(9, 24)
    assert S.slot("right", "wrist_pos") == slice(24, 27)


def test_fingertip_slots_partition_the_fingertips_slot():
    for hand in S.HANDS:
        tips = [i for f in S.FINGERS for i in range(48)[S.fingertip_slot(hand, f)]]
        assert tips == list(range(48))[S.slot(hand, "fingertips")]
    assert S.fingertip_slot("right", "little") == slice(45, 48)


def test_names_are_48_unique_and_match_slots():
    n = S.names()
    assert len(n) == 48 and len(set(n)) == 48
    assert n[0] == "left.wrist_pos.x"
    assert n[S.slot("left", "wrist_rot")] == [f"left.wrist_rot.r{r}{c}" for c in (0, 1) for r in range(3)]
    assert n[S.fingertip_slot("right", "thumb")] == [f"right.fingertips.thumb.{a}" for a in "xyz"]
    assert n[-1] == "right.fingertips.little.z"
    for hand in S.HANDS:
        for part in S.PARTS:
            assert all(x.startswith(f"{hand}.{part}.") for x in n[S.slot(hand, part)])


def test_names_agree_with_pack_hand():
    """The value under "left.wrist_rot.r{i}{j}" is R[i, j]; under "....{finger}.{axis}" the tip coord."""
    R = S.matrix_from_axis_angle(np.array([0.3, -0.7, 1.1]))
    pos = np.array([0.1, 0.2, 0.3])
    tips = np.arange(15.0).reshape(5, 3) + 100.0
    vec = S.pack_hand(pos, R, tips)
    named = dict(zip(S.names()[:24], vec))
    for i in range(3):
        assert named[f"left.wrist_pos.{'xyz'[i]}"] == pos[i]
        for j in range(2):
            assert named[f"left.wrist_rot.r{i}{j}"] == R[i, j]
    for k, f in enumerate(S.FINGERS):
        for a, axis in enumerate("xyz"):
            assert named[f"left.fingertips.{f}.{axis}"] == tips[k, a]


def test_mask_for_parallel_gripper():
    m = S.mask_for(hands=("right",), parts=S.PARTS, fingers=("thumb", "index"))
    assert m.dtype == bool and m.shape == (48,)
    assert m.sum() == 3 + 6 + 3 + 3
    assert not m[:24].any()
    assert np.flatnonzero(m).tolist() == list(range(24, 33)) + list(range(33, 39))


def test_mask_for_defaults_and_parts():
    assert S.mask_for().all()
    m = S.mask_for(hands=("left",), parts=("wrist_rot",))
    assert np.flatnonzero(m).tolist() == list(range(3, 9))
    assert S.mask_for(hands=()).sum() == 0


@pytest.mark.parametrize(
    "kwargs, word",
    [({"hands": ("middle",)}, "hand"), ({"parts": ("elbow",)}, "part"), ({"fingers": ("toe",)}, "finger")],
)
def test_mask_for_rejects_unknown_names(kwargs, word):
    with pytest.raises(ValueError, match=word):
        S.mask_for(**kwargs)


def test_slice_groups_cover_every_dim_exactly_once():
    g = S.slice_groups()
    assert set(g) == {"translation", "rotation", "hand"}
    total = sum(m.astype(int) for m in g.values())
    assert (total == 1).all()
    assert np.flatnonzero(g["translation"]).tolist() == [0, 1, 2, 24, 25, 26]
    assert g["rotation"].sum() == 12 and g["hand"].sum() == 30
    assert (g["hand"] == S.mask_for(parts=("fingertips",))).all()


def test_group_weights_defaults():
    w = S.group_weights()
    assert w.shape == (48,)
    assert (w[S.slot("right", "wrist_pos")] == 20.0).all()
    assert (w[S.slot("left", "wrist_rot")] == 5.0).all()
    assert (w[S.slot("left", "fingertips")] == 5.0).all()
    with pytest.raises(ValueError, match="weights"):
        S.group_weights({"translation": 1.0})


@FAST
@given(translations, rotations, hnp.arrays(np.float64, (5, 3), elements=unit))
def test_pack_unpack_round_trip(pos, R, tips):
    vec = S.pack_hand(pos, R, tips)
    assert vec.shape == (24,)
    p2, R2, t2 = S.unpack_hand(vec)
    np.testing.assert_allclose(p2, pos)
    np.testing.assert_allclose(R2, R, atol=ATOL)
    np.testing.assert_allclose(t2, tips)


@FAST
@given(rot6ds)
def test_unpack_orthonormalizes_rotation(x):
    vec = np.concatenate([np.zeros(3), x, np.zeros(15)])
    _, R, _ = S.unpack_hand(vec)
    assert_rotation(R)


def test_pack_unpack_batched_torch():
    g = torch.Generator().manual_seed(0)
    R = S.matrix_from_rot6d(torch.randn(2, 7, 6, generator=g, dtype=torch.float64))
    pos, tips = torch.randn(2, 7, 3, dtype=torch.float64), torch.randn(2, 7, 5, 3, dtype=torch.float64)
    vec = S.pack_hand(pos, R, tips)
    assert isinstance(vec, torch.Tensor) and vec.shape == (2, 7, 24)
    p2, R2, t2 = S.unpack_hand(vec)
    torch.testing.assert_close(p2, pos)
    torch.testing.assert_close(R2, R)
    torch.testing.assert_close(t2, tips)


# ----------------------------------------------------------------------------------------------
# 6D rotation
# ----------------------------------------------------------------------------------------------


@FAST
@given(rotations)
def test_rot6d_round_trip_numpy(R):
    x = S.rot6d_from_matrix(R)
    np.testing.assert_array_equal(x, np.concatenate([R[:, 0], R[:, 1]]))
    np.testing.assert_allclose(S.matrix_from_rot6d(x), R, atol=ATOL)


@FAST
@given(rot6ds)
def test_rot6d_to_matrix_is_gram_schmidt(x):
    R = S.matrix_from_rot6d(x)
    assert_rotation(R)
    a1, a2 = x[:3], x[3:]
    np.testing.assert_allclose(R[:, 0], a1 / np.linalg.norm(a1), atol=ATOL)  # first column kept
    assert R[:, 1] @ a2 > 0  # second column on a2's side, in span(a1, a2)
    np.testing.assert_allclose(np.cross(a1, a2) @ R[:, 1], 0.0, atol=ATOL)
    np.testing.assert_allclose(S.matrix_from_rot6d(S.rot6d_from_matrix(R)), R, atol=ATOL)


@FAST
@given(st.lists(rot6ds, min_size=1, max_size=4))
def test_rot6d_torch_matches_numpy_batched(xs):
    x = np.stack(xs)
    Rn = S.matrix_from_rot6d(x)
    Rt = S.matrix_from_rot6d(torch.from_numpy(x))
    assert isinstance(Rt, torch.Tensor) and Rt.dtype == torch.float64 and Rt.shape == (len(xs), 3, 3)
    np.testing.assert_allclose(Rt.numpy(), Rn, atol=1e-12)
    assert_rotation(Rt.numpy())
    back = S.rot6d_from_matrix(Rt)
    assert isinstance(back, torch.Tensor)
    np.testing.assert_allclose(S.matrix_from_rot6d(back).numpy(), Rn, atol=ATOL)


def test_rot6d_torch_float32_gradients_flow():
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1), requires_grad=True)
    R = S.matrix_from_rot6d(x)
    assert R.dtype == torch.float32
    R[..., 2, 2].sum().backward()  # depends on both halves through the cross product
    assert torch.isfinite(x.grad).all() and (x.grad.abs().sum(-1) > 0).all()


# ----------------------------------------------------------------------------------------------
# Axis-angle and quaternions
# ----------------------------------------------------------------------------------------------

unit_axes = hnp.arrays(np.float64, (3,), elements=unit).filter(lambda v: np.linalg.norm(v) > 0.1).map(
    lambda v: v / np.linalg.norm(v)
)


def test_axis_angle_known_example():
    R = S.matrix_from_axis_angle(np.array([0.0, 0.0, math.pi / 2]))
    np.testing.assert_allclose(R, rot_z(90), atol=1e-15)
    np.testing.assert_allclose(R @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)


@FAST
@given(unit_axes, st.floats(0.0, math.pi - 1e-6))
def test_axis_angle_matches_matrix_exponential(axis, angle):
    v = axis * angle
    K = torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]], dtype=torch.float64)
    np.testing.assert_allclose(S.matrix_from_axis_angle(v), torch.linalg.matrix_exp(K).numpy(), atol=1e-12)


@FAST
@given(
    unit_axes,
    st.one_of(
        st.floats(0.0, 1e-6), st.floats(1e-6, math.pi - 1e-3), st.floats(math.pi - 1e-3, math.pi - 1e-7)
    ),
)
def test_axis_angle_round_trip_including_near_0_and_pi(axis, angle):
    v = axis * angle
    R = S.matrix_from_axis_angle(v)
    assert_rotation(R)
    np.testing.assert_allclose(S.axis_angle_from_matrix(R), v, atol=1e-7)


@FAST
@given(unit_axes)
def test_axis_angle_at_exactly_pi_is_same_rotation_either_sign(axis):
    v = axis * math.pi
    R = S.matrix_from_axis_angle(v)
    back = S.axis_angle_from_matrix(R)
    np.testing.assert_allclose(np.linalg.norm(back), math.pi, atol=1e-9)
    assert np.allclose(back, v, atol=1e-7) or np.allclose(back, -v, atol=1e-7)
    np.testing.assert_allclose(S.matrix_from_axis_angle(back), R, atol=1e-9)


def test_axis_angle_identity_is_zero():
    np.testing.assert_array_equal(S.axis_angle_from_matrix(np.eye(3)), np.zeros(3))
    np.testing.assert_array_equal(S.matrix_from_axis_angle(np.zeros((2, 3))), np.broadcast_to(np.eye(3), (2, 3, 3)))


def test_quat_convention_is_wxyz():
    h = math.sqrt(0.5)
    np.testing.assert_allclose(S.matrix_from_quat([h, 0.0, 0.0, h]), rot_z(90), atol=1e-15)
    np.testing.assert_allclose(S.quat_from_matrix(rot_z(90)), [h, 0.0, 0.0, h], atol=1e-15)
    np.testing.assert_allclose(S.quat_from_matrix(np.eye(3)), [1.0, 0.0, 0.0, 0.0])


@FAST
@given(quats, st.floats(0.2, 5.0))
def test_quat_round_trip_normalized_with_nonnegative_w(q, scale):
    assume(abs(q[0]) / np.linalg.norm(q) > 1e-6)  # at w == 0 both signs are valid
    R = S.matrix_from_quat(q * scale)
    assert_rotation(R)
    np.testing.assert_allclose(S.matrix_from_quat(-q), R, atol=ATOL)  # q and -q: same rotation
    back = S.quat_from_matrix(R)
    assert back[0] >= 0
    expected = np.sign(q[0]) * q / np.linalg.norm(q)
    np.testing.assert_allclose(back, expected, atol=1e-9)


@FAST
@given(unit_axes, st.one_of(st.floats(0.0, 1e-6), st.floats(math.pi - 1e-6, math.pi)))
def test_quat_from_matrix_near_0_and_pi(axis, angle):
    R = S.matrix_from_axis_angle(axis * angle)
    q = S.quat_from_matrix(R)
    np.testing.assert_allclose(np.linalg.norm(q), 1.0, atol=1e-12)
    assert q[0] >= 0
    np.testing.assert_allclose(S.matrix_from_quat(q), R, atol=1e-9)
    np.testing.assert_allclose(q[0], math.cos(angle / 2), atol=1e-9)


def test_quat_batched_and_agrees_with_axis_angle():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 4, 3))
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    q = np.concatenate([np.cos(angle / 2), np.sin(angle / 2) * v / angle], -1)
    np.testing.assert_allclose(S.matrix_from_quat(q), S.matrix_from_axis_angle(v), atol=1e-12)
    assert S.quat_from_matrix(S.matrix_from_quat(q)).shape == (3, 4, 4)


def test_zero_quaternion_rejected():
    with pytest.raises(ValueError, match="quat"):
        S.matrix_from_quat(np.zeros(4))


# ----------------------------------------------------------------------------------------------
# SE(3)
# ----------------------------------------------------------------------------------------------


@FAST
@given(poses)
def test_invert_pose(T):
    I4 = np.eye(4)
    np.testing.assert_allclose(S.invert_pose(T) @ T, I4, atol=1e-9)
    np.testing.assert_allclose(T @ S.invert_pose(T), I4, atol=1e-9)
    np.testing.assert_allclose(S.invert_pose(T), np.linalg.inv(T), atol=1e-9)
    np.testing.assert_array_equal(S.invert_pose(T)[3], [0.0, 0.0, 0.0, 1.0])


@FAST
@given(poses, poses, poses)
def test_compose_is_associative_and_applies_right_first(A, B, C):
    np.testing.assert_allclose(S.compose(S.compose(A, B), C), S.compose(A, S.compose(B, C)), atol=1e-9)
    p = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(
        S.transform_points(S.compose(A, B), p), S.transform_points(A, S.transform_points(B, p)), atol=1e-9
    )


@FAST
@given(poses)
def test_to_camera_frame_of_own_pose_is_identity(T):
    np.testing.assert_allclose(S.to_camera_frame(T, T), np.eye(4), atol=1e-9)
    stacked = np.stack([T, T, T])
    np.testing.assert_allclose(S.to_camera_frame(T, stacked), np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-9)


@FAST
@given(poses, hnp.arrays(np.float64, (6, 3), elements=st.floats(-3.0, 3.0)))
def test_transform_points_agrees_with_homogeneous_matmul(T, pts):
    homo = np.concatenate([pts, np.ones((6, 1))], -1)
    np.testing.assert_allclose(S.transform_points(T, pts), (homo @ T.T)[:, :3], atol=1e-9)


def test_make_pose_layout_and_broadcast():
    T = S.make_pose(rot_z(90), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert T.shape == (2, 4, 4)
    np.testing.assert_array_equal(T[1, :3, 3], [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(T[0, :3, :3], rot_z(90))
    np.testing.assert_array_equal(T[:, 3], [[0.0, 0.0, 0.0, 1.0]] * 2)


def test_trajectory_in_camera_hand_computed_example():
    # Camera at world (1, 2, 3), yawed +90 deg about world z: its x axis points along world +y,
    # its y axis along world -x, its z axis along world +z.
    T_wc = S.make_pose(rot_z(90), [1.0, 2.0, 3.0])
    flip_x = np.diag([1.0, -1.0, -1.0])  # 180 deg about x
    # Step 0: wrist at world (1, 4, 5), world-aligned. Step 1: wrist at world (0, 2, 3), flipped.
    T_ww = np.stack([S.make_pose(np.eye(3), [1.0, 4.0, 5.0]), S.make_pose(flip_x, [0.0, 2.0, 3.0])])
    # Thumb 10 cm along world +z of the wrist; other tips 1..4 cm along world +x.
    offsets = np.array([[0.0, 0.0, 0.1]] + [[0.01 * k, 0.0, 0.0] for k in range(1, 5)])
    tips_world = T_ww[:, None, :3, 3] + offsets
    out = S.trajectory_in_camera(T_wc, T_ww, tips_world)
    assert out.shape == (2, 24)

    # Step 0: world offset (0, 2, 2) -> camera (x=2, y=0, z=2); rotation R_wc^T.
    np.testing.assert_allclose(out[0, 0:3], [2.0, 0.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(out[0, 3:9], [0, -1, 0, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(out[0, 9:12], [0.0, 0.0, 0.1], atol=1e-12)
    # Step 1: world offset (-1, 0, 0) -> camera (0, 1, 0); rotation R_wc^T @ flip_x; in the
    # flipped wrist frame the thumb's world +z offset becomes -z.
    np.testing.assert_allclose(out[1, 0:3], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out[1, 3:9], [0, -1, 0, -1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(out[1, 9:12], [0.0, 0.0, -0.1], atol=1e-12)
    for step in (0, 1):
        np.testing.assert_allclose(out[step, 12:24].reshape(4, 3)[:, 0], [0.01, 0.02, 0.03, 0.04], atol=1e-12)
        np.testing.assert_allclose(out[step, 12:24].reshape(4, 3)[:, 1:], 0.0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Shape errors
# ----------------------------------------------------------------------------------------------

z = np.zeros


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: S.matrix_from_rot6d(z((4, 5))), "rot6d: expected shape (..., 6), got (4, 5)"),
        (lambda: S.matrix_from_rot6d(torch.zeros(4, 5)), "rot6d: expected shape (..., 6), got (4, 5)"),
        (lambda: S.rot6d_from_matrix(z((3,))), "R: expected shape (..., 3, 3), got (3,)"),
        (lambda: S.matrix_from_axis_angle(z((2, 4))), "axis_angle: expected shape (..., 3), got (2, 4)"),
        (lambda: S.axis_angle_from_matrix(z((3, 4))), "R: expected shape (..., 3, 3), got (3, 4)"),
        (lambda: S.matrix_from_quat(z((3,))), "quat: expected shape (..., 4), got (3,)"),
        (lambda: S.quat_from_matrix(z((2, 2))), "R: expected shape (..., 3, 3), got (2, 2)"),
        (lambda: S.make_pose(np.eye(3), z((4,))), "t: expected shape (..., 3), got (4,)"),
        (lambda: S.invert_pose(z((3, 3))), "T: expected shape (..., 4, 4), got (3, 3)"),
        (lambda: S.compose(np.eye(4), z((4, 3))), "B: expected shape (..., 4, 4), got (4, 3)"),
        (lambda: S.transform_points(np.eye(4), z((5, 2))), "points: expected shape (..., 3), got (5, 2)"),
        (lambda: S.to_camera_frame(z((3, 4)), np.eye(4)), "T_world_camera: expected shape (..., 4, 4), got (3, 4)"),
        (lambda: S.pack_hand(z(3), np.eye(3), z((4, 3))), "fingertips: expected shape (..., 5, 3), got (4, 3)"),
        (lambda: S.unpack_hand(z((2, 23))), "vec: expected shape (..., 24), got (2, 23)"),
        (
            lambda: S.trajectory_in_camera(np.eye(4), z((2, 4, 4)), z((3, 5, 3))),
            "fingertips_world: expected shape (2, 5, 3)",
        ),
    ],
)
def test_wrong_shapes_raise_value_error_naming_argument_and_shape(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


@pytest.mark.parametrize(
    "call, word",
    [(lambda: S.slot("middle", "wrist_pos"), "hand"), (lambda: S.slot("left", "elbow"), "part"),
     (lambda: S.fingertip_slot("left", "toe"), "finger")],
)
def test_unknown_names_raise(call, word):
    with pytest.raises(ValueError, match=word):
        call()
