"""Statistics used for normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egovla.data.stats import compute_stats, vector_stats
from egovla.model.normalize import Normalizer


def test_vector_stats_skip_masked_values():
    values = np.array([[1.0, 100.0], [3.0, 5.0], [5.0, 7.0]], dtype=np.float32)
    mask = np.array([[True, False], [True, True], [True, True]])
    s = vector_stats(values, mask)
    assert s["mean"] == pytest.approx([3.0, 6.0]) and s["count"] == [3, 2]
    assert s["min"] == [1.0, 5.0] and s["max"] == [5.0, 7.0]


def test_compute_stats_over_a_list_of_samples():
    samples = [
        {"state": np.array([i, 2.0 * i], np.float32), "action": np.full((2, 1), float(i), np.float32),
         "action_mask": np.ones((2, 1), bool)}
        for i in range(5)
    ]
    s = compute_stats(samples)
    assert s["state"]["mean"] == pytest.approx([2.0, 4.0]) and s["action"]["count"] == [10]


@pytest.mark.parametrize("mode", ["mean_std", "quantile"])
def test_normalizer_round_trip_and_ranges(mode):
    import torch

    stats = {"action": {"mean": [1.0], "std": [2.0], "q01": [-1.0], "q99": [3.0]}}
    n = Normalizer(stats, {"action": 1}, mode)
    x = torch.tensor([[3.0], [-1.0]])
    y = n.normalize("action", x)
    # both modes map 3 -> 1 and -1 -> -1 with these stats: mean 1 / std 2, and q01 -1 / q99 3
    assert torch.allclose(y, torch.tensor([[1.0], [-1.0]])) and torch.allclose(n.unnormalize("action", y), x)


def test_normalizer_rejects_stats_of_the_wrong_width():
    with pytest.raises(ValueError, match="stats for 'action' have \\(2,\\) dims.*\\(3,\\)"):
        Normalizer({"action": {"mean": [0, 0], "std": [1, 1]}}, {"action": 3})


def test_normalizer_modes_per_feature():
    stats = {"state": {"mean": [1.0], "std": [2.0], "q01": [0.0], "q99": [10.0]},
             "action": {"mean": [1.0], "std": [2.0], "q01": [0.0], "q99": [10.0]}}
    n = Normalizer(stats, {"state": 1, "action": 1}, "action=quantile")
    x = torch.tensor([[10.0]])
    assert n.normalize("state", x).item() == pytest.approx(4.5) and n.normalize("action", x).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no feature 'effort'"):
        Normalizer(stats, {"state": 1}, "effort=quantile")
    with pytest.raises(ValueError, match="'minmax' is not one of"):
        Normalizer(stats, {"state": 1}, "state=minmax")


def test_one_per_dimension_helper_serves_policies_and_lerobot_stats():
    from egovla.data.lerobot.stats import array_stats
    from egovla.data.stats import per_dim_stats

    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    mask = rng.random((50, 4)) > 0.3
    mask[:, 3] = False
    s = per_dim_stats(x, mask)
    for j in range(3):
        col = x[mask[:, j], j]
        assert s["mean"][j] == col.mean() and s["std"][j] == col.std() and s["count"][j] == col.size
        assert s["q99"][j] == np.quantile(col, 0.99) and s["min"][j] == col.min()
    assert (s["mean"][3], s["std"][3], s["count"][3]) == (0.0, 1.0, 0)  # nothing supervised: left alone
    full = per_dim_stats(x, np.ones_like(mask))
    plain = array_stats(x)
    for k in ("mean", "std", "min", "max", "q01", "q99"):
        np.testing.assert_allclose(full[k], plain[k], rtol=1e-12)  # per column vs vectorized: float rounding
    assert plain["count"].tolist() == [50] and {"q10", "q50", "q90"} <= set(plain)


def test_compute_stats_of_aux_targets_skip_masked_ones():
    samples = [
        {"state": np.zeros(1, np.float32), "action": np.zeros((2, 1), np.float32), "action_mask": np.ones((2, 1), bool),
         "aux": np.array([i, 50.0 if i == 0 else 1.0], np.float32), "aux_mask": np.array([True, i > 0])}
        for i in range(5)
    ]
    s = compute_stats(samples)
    assert s["aux"]["mean"] == pytest.approx([2.0, 1.0]) and s["aux"]["count"] == [5, 4]
    assert "aux" not in compute_stats([{k: v for k, v in x.items() if not k.startswith("aux")} for x in samples])
