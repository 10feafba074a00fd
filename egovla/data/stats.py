"""Per-dimension statistics of `state` and `action`, for normalization.

`compute_stats(dataset)` reads up to `max_samples` samples (evenly spread over the dataset) and
returns `{"state": {...}, "action": {...}}` (and "action_relative", each chunk step minus the state, masked
entries as 0, when state and action share one layout; and "aux", the auxiliary targets, when samples have them;
datasets with a `vectors(i)` method are read without decoding images) with per-dim lists of mean, std, min, max, q01, q99 and
the count of supervised values; masked entries are left out, action stats pool all chunk steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STAT_KEYS = ("mean", "std", "min", "max", "q01", "q99", "count")


def quantile_key(q: float) -> str:
    """0.01 -> 'q01', 0.5 -> 'q50' (the names LeRobot's stats.json uses)."""
    return f"q{round(q * 100):02d}"


def per_dim_stats(values: np.ndarray, mask: np.ndarray | None = None,
                  quantiles: tuple[float, ...] = (0.01, 0.99)) -> dict[str, np.ndarray]:
    """The one per-dimension statistics helper: values (N, ...) -> float64 arrays (...) of mean, std, min,
    max and the `quantiles` (as q01, q99, ...) over the first axis, and `count` (supervised values).

    With `mask` (same shape, bool) each dim uses only its supervised values; a dim without any gets
    mean 0, std 1 and 0 elsewhere (so normalization leaves it alone).
    """
    x = np.asarray(values, dtype=np.float64)
    names = ["mean", "std", "min", "max", *map(quantile_key, quantiles)]
    if mask is None:
        qs = np.quantile(x, quantiles, axis=0) if x.shape[0] else np.zeros((len(quantiles), *x.shape[1:]))
        out = {"mean": x.mean(0), "std": x.std(0), "min": x.min(0), "max": x.max(0)}
        out.update({quantile_key(q): v for q, v in zip(quantiles, qs)})
        out["count"] = np.full(x.shape[1:], x.shape[0], dtype=np.int64)
        return out
    flat, m = x.reshape(x.shape[0], -1), np.asarray(mask, dtype=bool).reshape(x.shape[0], -1)
    out = {k: np.zeros(flat.shape[1]) for k in names}
    out["std"][:] = 1.0
    out["count"] = m.sum(0).astype(np.int64)
    for j in range(flat.shape[1]):
        col = flat[m[:, j], j]
        if col.size:
            out["mean"][j], out["std"][j], out["min"][j], out["max"][j] = col.mean(), col.std(), col.min(), col.max()
            for q, v in zip(quantiles, np.quantile(col, quantiles)):
                out[quantile_key(q)][j] = v
    return {k: v.reshape(x.shape[1:]) for k, v in out.items()}


def vector_stats(values: np.ndarray, mask: np.ndarray) -> dict[str, list[float]]:
    """values, mask: (N, D) -> {stat: per-dim list} of STAT_KEYS, as a policy's stats.json holds them."""
    s = per_dim_stats(values, mask)
    return {k: [int(v) for v in s[k]] if k == "count" else [float(v) for v in s[k]] for k in STAT_KEYS}


def compute_stats(dataset: Sequence, max_samples: int = 2000) -> dict[str, dict[str, list[float]]]:
    n = len(dataset)
    if n == 0:
        raise ValueError("compute_stats: the dataset is empty")
    idx = np.unique(np.linspace(0, n - 1, min(n, max_samples)).round().astype(int))
    states, state_masks, actions, action_masks, aux, aux_masks = [], [], [], [], [], []
    for i in idx:
        s = dataset.vectors(int(i)) if hasattr(dataset, "vectors") else dataset[int(i)]
        states.append(np.asarray(s["state"], dtype=np.float32))
        state_masks.append(np.asarray(s.get("state_mask", np.ones_like(states[-1], dtype=bool)), dtype=bool))
        a = np.asarray(s["action"], dtype=np.float32)
        actions.append(a)
        action_masks.append(np.asarray(s["action_mask"], dtype=bool))
        if "aux" in s:
            aux.append(np.asarray(s["aux"], dtype=np.float32))
            aux_masks.append(np.asarray(s["aux_mask"], dtype=bool))
    a, am = np.concatenate(actions), np.concatenate(action_masks)
    out = {
        "state": vector_stats(np.stack(states), np.stack(state_masks)),
        "action": vector_stats(a, am & np.isfinite(a)),
    }
    if states[0].shape == actions[0].shape[1:]:  # one layout: the chunk relative to the state (relative_action)
        anchors = [np.where(m, s, 0.0)[None] for s, m in zip(states, state_masks)]
        d = np.concatenate([x - anchor for x, anchor in zip(actions, anchors)])
        out["action_relative"] = vector_stats(d, am & np.isfinite(d))
    if aux:
        x = np.stack(aux)
        out["aux"] = vector_stats(x, np.stack(aux_masks) & np.isfinite(x))
    return out
