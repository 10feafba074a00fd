"""Specification of egovla.spaces: the 48-dim unified layout, hand packing and camera-frame labels."""

from __future__ import annotations

import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from helpers.rotations import (
    ATOL,
    FAST,
    assert_rotation,
    rot6ds,
    rot_z,
    rotations,
    translations,
    unit,
)
from hypothesis import given

from egovla import geometry as G
from egovla import spaces as S

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
    R = G.matrix_from_axis_angle(np.array([0.3, -0.7, 1.1]))
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
    R = G.matrix_from_rot6d(torch.randn(2, 7, 6, generator=g, dtype=torch.float64))
    pos, tips = torch.randn(2, 7, 3, dtype=torch.float64), torch.randn(2, 7, 5, 3, dtype=torch.float64)
    vec = S.pack_hand(pos, R, tips)
    assert isinstance(vec, torch.Tensor) and vec.shape == (2, 7, 24)
    p2, R2, t2 = S.unpack_hand(vec)
    torch.testing.assert_close(p2, pos)
    torch.testing.assert_close(R2, R)
    torch.testing.assert_close(t2, tips)



def test_trajectory_in_camera_hand_computed_example():
    # Camera at world (1, 2, 3), yawed +90 deg about world z: its x axis points along world +y,
    # its y axis along world -x, its z axis along world +z.
    T_wc = G.make_pose(rot_z(90), [1.0, 2.0, 3.0])
    flip_x = np.diag([1.0, -1.0, -1.0])  # 180 deg about x
    # Step 0: wrist at world (1, 4, 5), world-aligned. Step 1: wrist at world (0, 2, 3), flipped.
    T_ww = np.stack([G.make_pose(np.eye(3), [1.0, 4.0, 5.0]), G.make_pose(flip_x, [0.0, 2.0, 3.0])])
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
