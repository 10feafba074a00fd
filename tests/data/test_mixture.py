"""Weighted mixtures sample datasets in proportion to their weights, whatever their sizes."""

from __future__ import annotations

import numpy as np
import pytest

from egovla.data.mixture import Mixture


class Tagged:
    def __init__(self, tag: str, n: int):
        self.tag, self.n = tag, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        assert 0 <= i < self.n
        return {"tag": self.tag, "i": i}


def test_weights_not_sizes_set_the_proportions():
    m = Mixture([Tagged("big", 9000), Tagged("small", 100)], weights=[1, 3], seed=0, names=["big", "small"])
    assert len(m) == 9100
    share = m.share()
    assert share["big"] == pytest.approx(0.25, abs=0.02) and share["small"] == pytest.approx(0.75, abs=0.02)
    small = [m[j]["i"] for j in range(len(m)) if m[j]["tag"] == "small"]
    assert len(set(small)) == 100  # every sample of the small dataset is used


def test_the_mapping_is_fixed_by_the_seed():
    a = Mixture([Tagged("a", 50), Tagged("b", 50)], [1, 1], seed=3)
    b = Mixture([Tagged("a", 50), Tagged("b", 50)], [1, 1], seed=3)
    assert [a[j] for j in range(100)] == [b[j] for j in range(100)]
    assert not np.array_equal(a.source, Mixture([Tagged("a", 50), Tagged("b", 50)], [1, 1], seed=4).source)


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="one weight per dataset"):
        Mixture([Tagged("a", 5)], [1, 2])
    with pytest.raises(ValueError, match="finite, >= 0 and not all 0"):
        Mixture([Tagged("a", 5), Tagged("b", 5)], [0, 0])
    with pytest.raises(ValueError, match="empty"):
        Mixture([Tagged("a", 5), Tagged("b", 0)], [1, 1], names=["a", "b"])
