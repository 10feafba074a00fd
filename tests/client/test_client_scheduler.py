"""The action scheduler: when to ask, how late chunks line up and merge, and never a step without an action."""

from __future__ import annotations

import numpy as np
import pytest

from egovla.client.scheduler import ActionScheduler


def chunk(start: float, n: int = 6, d: int = 2) -> np.ndarray:
    """Targets start, start+1, ... so a target's value tells which step it was planned for."""
    return np.repeat((start + np.arange(n, dtype=float))[:, None], d, axis=1)


def test_asks_when_the_queue_falls_to_the_threshold():
    s = ActionScheduler(threshold=2, merge="replace")
    assert s.wants_chunk(0) and s.remaining(0) == 0
    s.add(0, chunk(0))
    assert [s.remaining(t) for t in (0, 3, 4, 6, 9)] == [6, 3, 2, 0, 0]
    assert [s.wants_chunk(t) for t in (3, 4)] == [False, True]


def test_a_late_chunk_stays_aligned_with_the_time_of_its_observation():
    s = ActionScheduler(threshold=2, merge="replace")
    s.add(0, chunk(0))
    for t in range(4):
        assert s.action(t)[0][0] == t
    s.add(2, chunk(2))  # observed at step 2, arrived at step 4: its first two targets are past
    target, fresh = s.action(4)
    assert fresh and target[0] == 4 and s.remaining(4) == 4


def test_overlaps_merge_by_temporal_ensembling():
    s = ActionScheduler(threshold=2, merge="ensemble", ensemble_w=0.5)
    s.add(0, chunk(0))
    s.add(3, chunk(100))  # a new plan that disagrees
    w = np.exp(-0.5 * np.arange(2))
    target, fresh = s.action(4)  # old proposes 4, new proposes 101
    assert fresh and target[0] == pytest.approx((w[0] * 4 + w[1] * 101) / w.sum())
    assert s.action(7)[0][0] == 104  # only the new chunk covers step 7
    plain = ActionScheduler(threshold=2, merge="ensemble", ensemble_w=0.0)
    plain.add(0, chunk(0))
    plain.add(3, chunk(100))
    assert plain.action(4)[0][0] == pytest.approx((4 + 101) / 2)


def test_replace_lets_the_newest_chunk_win():
    s = ActionScheduler(threshold=2, merge="replace")
    s.add(0, chunk(0))
    s.add(3, chunk(100))
    assert s.action(4)[0][0] == 101


def test_a_late_reply_never_leaves_a_step_without_an_action():
    hold = ActionScheduler(threshold=1, merge="replace", late="hold")
    assert hold.action(0) == (None, False)  # nothing yet: the caller keeps the robot still
    hold.add(0, chunk(0, n=3))
    assert [hold.action(t)[1] for t in range(3)] == [True] * 3
    for t in range(3, 6):
        target, fresh = hold.action(t)
        assert not fresh and target[0] == 2  # held at the last target
    assert (hold.fresh_steps, hold.late_steps) == (3, 3)

    ext = ActionScheduler(threshold=1, merge="replace", late="extrapolate", max_extrapolate=2)
    ext.add(0, chunk(0, n=3))
    [ext.action(t) for t in range(3)]
    assert [ext.action(t)[0][0] for t in range(3, 7)] == [3, 4, 4, 4]  # 2 steps continued, then held
    ext.add(5, chunk(50, n=3))
    assert ext.action(7) == (pytest.approx(chunk(50, n=3)[2]), True)


@pytest.mark.parametrize("kwargs, error", [
    ({"threshold": -1}, "threshold"), ({"threshold": 1, "merge": "max"}, "merge"),
    ({"threshold": 1, "late": "stop"}, "late")])
def test_bad_settings(kwargs, error):
    with pytest.raises(ValueError, match=error):
        ActionScheduler(**kwargs)


def test_bad_chunks_are_refused():
    s = ActionScheduler(threshold=1)
    with pytest.raises(ValueError, match="finite"):
        s.add(0, np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match=r"\(H, D\)"):
        s.add(0, np.zeros(3))
