"""Per-task sampling weights: a task of weight w yields w times its frames' share of training samples.

A dataset's frames are repeated in its sample list: weight 2 lists each of the task's frames twice, 1.5 lists
every frame once and every other frame once more (the extra copies spread evenly over its frames), 0 leaves the
task out. Tasks not named keep weight 1. The list is fixed, so the trainer's seeded, resumable order over it is
unchanged in kind; only what an epoch holds changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np


def parse_task_weight(text: str) -> tuple[str, float]:
    """'TASK=WEIGHT' -> (task, weight); the task is everything before the last '='."""
    task, sep, weight = text.rpartition("=")
    try:
        w = float(weight)
    except ValueError:
        w = math.nan
    if not sep or not task or not math.isfinite(w) or w < 0:
        raise ValueError(f"task weight {text!r}: expected TASK=WEIGHT with a finite weight >= 0 (e.g. "
                         f"'push the puck to the goal=2')")
    return task, w


def task_weight_map(items: Iterable[str]) -> dict[str, float]:
    """'TASK=WEIGHT' strings -> {task: weight}; a task named twice is an error."""
    out: dict[str, float] = {}
    for text in items:
        task, w = parse_task_weight(text)
        if task in out:
            raise ValueError(f"task weight: {task!r} is given twice")
        out[task] = w
    return out


def repeat_counts(n: int, weight: float) -> np.ndarray:
    """How many times each of n frames is listed so that they fill `weight * n` places, spread evenly."""
    whole, frac = divmod(float(weight), 1.0)
    k = np.arange(n, dtype=np.float64)
    extra = np.floor((k + 1) * frac + 1e-9) - np.floor(k * frac + 1e-9)
    return (int(whole) + extra).astype(np.int64)


def weight_frames(frames: np.ndarray, tasks: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """`frames` with each task's frames repeated by its weight (order kept: a frame's copies sit together)."""
    counts = np.ones(len(frames), dtype=np.int64)
    for task, w in weights.items():
        where = np.flatnonzero(tasks == task)
        counts[where] = repeat_counts(len(where), w)
    return np.repeat(frames, counts)
