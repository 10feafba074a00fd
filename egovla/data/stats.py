"""Per-dimension statistics of `state` and `action`, for normalization.

`compute_stats(dataset)` reads up to `max_samples` samples (evenly spread over the dataset) and
returns `{"state": {...}, "action": {...}}` (datasets with a `vectors(i)` method are read without
decoding images) with per-dim lists of mean, std, min, max, q01, q99 and
the count of supervised values; masked entries are left out, action stats pool all chunk steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STAT_KEYS = ("mean", "std", "min", "max", "q01", "q99", "count")


def vector_stats(values: np.ndarray, mask: np.ndarray) -> dict[str, list[float]]:
    """values, mask: (N, D). Dims with no supervised value get mean 0 / std 1."""
    n, d = values.shape
    out = {k: [] for k in STAT_KEYS}
    for j in range(d):
        col = values[mask[:, j], j].astype(np.float64)
        if col.size == 0:
            col_stats = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0)
        else:
            q01, q99 = np.quantile(col, [0.01, 0.99])
            col_stats = (col.mean(), col.std(), col.min(), col.max(), q01, q99, col.size)
        for k, v in zip(STAT_KEYS, col_stats):
            out[k].append(int(v) if k == "count" else float(v))
    return out


def compute_stats(dataset: Sequence, max_samples: int = 2000) -> dict[str, dict[str, list[float]]]:
    n = len(dataset)
    if n == 0:
        raise ValueError("compute_stats: the dataset is empty")
    idx = np.unique(np.linspace(0, n - 1, min(n, max_samples)).round().astype(int))
    states, state_masks, actions, action_masks = [], [], [], []
    for i in idx:
        s = dataset.vectors(int(i)) if hasattr(dataset, "vectors") else dataset[int(i)]
        states.append(np.asarray(s["state"], dtype=np.float32))
        state_masks.append(np.asarray(s.get("state_mask", np.ones_like(states[-1], dtype=bool)), dtype=bool))
        a = np.asarray(s["action"], dtype=np.float32)
        actions.append(a)
        action_masks.append(np.asarray(s["action_mask"], dtype=bool))
    a, am = np.concatenate(actions), np.concatenate(action_masks)
    return {
        "state": vector_stats(np.stack(states), np.stack(state_masks)),
        "action": vector_stats(a, am & np.isfinite(a)),
    }
