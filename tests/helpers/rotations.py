"""Hypothesis strategies and checks for rotations and poses, shared by the geometry and spaces tests."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from egovla import geometry as G

FAST = settings(max_examples=50, deadline=None)
ATOL = 1e-9

unit = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)
quats = hnp.arrays(np.float64, (4,), elements=unit).filter(lambda q: np.linalg.norm(q) > 0.1)
rotations = quats.map(G.matrix_from_quat)
translations = hnp.arrays(np.float64, (3,), elements=st.floats(-5.0, 5.0))
poses = st.builds(G.make_pose, rotations, translations)


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

unit_axes = hnp.arrays(np.float64, (3,), elements=unit).filter(lambda v: np.linalg.norm(v) > 0.1).map(
    lambda v: v / np.linalg.norm(v)
)
