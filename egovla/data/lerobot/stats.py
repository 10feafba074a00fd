"""Per-episode statistics of dataset features, and their aggregation into meta/stats.json.

Vectors get per-dim min, max, mean, std, count and quantiles q01..q99; camera features get the
same per channel, on pixels scaled to [0, 1], with shape (3, 1, 1) as LeRobot stores them.
Aggregating episodes pools means and variances exactly; quantiles are the frame-weighted mean of
the episodes' quantiles (what LeRobot does too: exact quantiles would need every value again).
"""

from __future__ import annotations

import numpy as np

from egovla.data.lerobot.format import QUANTILES
from egovla.data.stats import per_dim_stats, quantile_key

MAX_IMAGE_FRAMES = 64  # frames per episode that image stats look at
IMAGE_STRIDE = 4  # pixel stride within a frame


def array_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """x: (N, ...) -> per-element stats over the first axis (float64), LeRobot's quantiles, count (1,)."""
    out = per_dim_stats(x, quantiles=QUANTILES)
    out["count"] = np.array([np.asarray(x).shape[0]], dtype=np.int64)
    return out


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """frames: uint8 (T, H, W, 3) -> per-channel stats of [0, 1] pixels, each shaped (3, 1, 1)."""
    t = frames.shape[0]
    pick = np.unique(np.linspace(0, t - 1, min(t, MAX_IMAGE_FRAMES)).round().astype(int))
    px = frames[pick, ::IMAGE_STRIDE, ::IMAGE_STRIDE].reshape(-1, 3).astype(np.float64) / 255.0
    s = array_stats(px)
    out = {k: v.reshape(3, 1, 1) for k, v in s.items() if k != "count"}
    out["count"] = np.array([t], dtype=np.int64)
    return out


def aggregate(episodes: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """Combine per-episode stats {feature: {stat: array}} into dataset stats."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in episodes[0]:
        per = [e[key] for e in episodes if key in e]
        n = np.array([float(p["count"][0]) for p in per])
        w = (n / n.sum()).reshape((-1,) + (1,) * np.ndim(per[0]["mean"]))
        means = np.stack([p["mean"] for p in per])
        mean = (w * means).sum(0)
        var = (w * (np.stack([p["std"] for p in per]) ** 2 + (means - mean) ** 2)).sum(0)
        agg = {"min": np.min([p["min"] for p in per], 0), "max": np.max([p["max"] for p in per], 0),
               "mean": mean, "std": np.sqrt(np.maximum(var, 0)), "count": np.array([int(n.sum())])}
        for q in QUANTILES:
            k = quantile_key(q)
            if all(k in p for p in per):
                agg[k] = (w * np.stack([p[k] for p in per])).sum(0)
        out[key] = agg
    return out


def to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def from_json(stats: dict) -> dict[str, dict[str, np.ndarray]]:
    return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in stats.items()}
