"""Temporal ensembling: the target at step t is the exp(-w * i)-weighted mean of the chunks covering t,
i = 0 the oldest of them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from egovla.client.ensemble import TemporalEnsemble


def _col(*values: float) -> np.ndarray:
    """A chunk (H, 1) with the given rows."""
    return np.array(values, dtype=float)[:, None]


def test_a_single_chunk_returns_its_rows():
    chunk = np.arange(4 * 48, dtype=float).reshape(4, 48)
    ens = TemporalEnsemble(w=0.5)
    ens.add(10, chunk)
    for k in range(4):
        np.testing.assert_array_equal(ens.target(10 + k), chunk[k])


def test_overlapping_chunks_are_weighted_toward_the_oldest():
    ens = TemporalEnsemble(w=1.0)
    ens.add(0, _col(0, 1, 2, 3))
    ens.add(2, _col(10, 20, 30, 40))
    e = math.exp(-1.0)  # the newer chunk's weight; the older one has weight 1
    assert ens.target(1)[0] == pytest.approx(1.0)  # only the first chunk covers step 1
    assert ens.target(2)[0] == pytest.approx((2 + 10 * e) / (1 + e))  # ~4.152
    assert ens.target(2)[0] == pytest.approx(4.1515, abs=1e-4)
    assert ens.target(3)[0] == pytest.approx((3 + 20 * e) / (1 + e))
    assert ens.target(4)[0] == pytest.approx(30.0)  # the first chunk ended at step 3


def test_weights_apply_per_dim():
    ens = TemporalEnsemble(w=2.0)
    ens.add(0, np.array([[1.0, -1.0], [1.0, -1.0]]))
    ens.add(1, np.array([[3.0, 5.0], [3.0, 5.0]]))
    e = math.exp(-2.0)
    np.testing.assert_allclose(ens.target(1), [(1 + 3 * e) / (1 + e), (-1 + 5 * e) / (1 + e)])


def test_zero_weight_is_a_plain_mean():
    ens = TemporalEnsemble(w=0.0)
    for t0, value in [(0, 1.0), (1, 2.0), (2, 6.0)]:
        ens.add(t0, np.full((5, 3), value))
    np.testing.assert_allclose(ens.target(2), [3.0, 3.0, 3.0])


def test_expired_chunks_are_forgotten_and_do_not_count_as_the_oldest():
    """Once a chunk no longer covers the step asked for it is dropped; the oldest *live* chunk
    then gets weight 1."""
    ens = TemporalEnsemble(w=1.0)
    ens.add(0, _col(100, 100))        # covers steps 0, 1
    ens.add(1, _col(1, 2, 3, 4))      # covers 1..4
    ens.add(2, _col(10, 20, 30, 40))  # covers 2..5
    e = math.exp(-1.0)
    assert ens.target(2)[0] == pytest.approx((2 + 10 * e) / (1 + e))
    assert ens.target(1)[0] == pytest.approx(1.0)  # the first chunk (100 at step 1) is gone for good
    assert len(ens._chunks) == 2


def test_reset_forgets_everything():
    ens = TemporalEnsemble()
    ens.add(0, _col(1, 2))
    ens.reset()
    with pytest.raises(ValueError, match="no chunk covers step 0"):
        ens.target(0)


def test_chunks_must_arrive_in_time_order():
    ens = TemporalEnsemble()
    ens.add(5, _col(1, 2))
    ens.add(5, _col(3, 4))  # the same step twice is fine
    with pytest.raises(ValueError, match="t0: chunks must arrive in time order, got 4 after 5"):
        ens.add(4, _col(1, 2))


@pytest.mark.parametrize("t", [2, 7])
def test_a_step_no_chunk_covers_raises(t):
    ens = TemporalEnsemble()
    ens.add(3, _col(1, 2, 3, 4))  # covers 3..6
    with pytest.raises(ValueError, match=f"no chunk covers step {t}"):
        ens.target(t)


def test_chunks_must_be_two_dimensional():
    with pytest.raises(ValueError, match=r"chunk: expected \(H, D\)"):
        TemporalEnsemble().add(0, np.zeros(4))


@pytest.mark.parametrize("w", [-0.1, float("nan"), float("inf")])
def test_bad_weights_are_rejected(w):
    with pytest.raises(ValueError, match="w: expected a finite weight >= 0"):
        TemporalEnsemble(w)
