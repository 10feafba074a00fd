"""Open the datasets a training run names (`--dataset PATH[:WEIGHT]`) as one train and one held-out set.

Every dataset is cut into training windows with the same `WindowConfig`; the first dataset fixes
the spaces (state/action widths, image size) and the others are mapped into them; cameras are
padded to the largest rig. The last `holdout` fraction of each dataset's episodes (at least one,
when it has two or more) is held out for offline evaluation; several datasets become a weighted
`Mixture`. Per-task weights (`WindowConfig.task_weights`) reweigh the training windows only.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.mixture import Mixture
from egovla.data.task_weights import task_weight_map
from egovla.data.windows import WindowConfig, WindowDataset


def split_episodes(n: int, holdout: float) -> tuple[list[int], list[int]]:
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be a fraction in [0, 1), got {holdout}")
    k = 0 if n < 2 or holdout == 0 else min(n - 1, max(1, math.ceil(holdout * n)))
    return list(range(n - k)), list(range(n - k, n))


def open_sources(paths: list[str], weights: list[float], window: WindowConfig, holdout: float = 0.1,
                 seed: int = 0):
    """(train, held-out or None) for LeRobot datasets at `paths` with sampling `weights`."""
    readers = []
    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"--dataset {p}: no such dataset folder (and not 'synthetic')")
        readers.append(LeRobotReader(p))
    first = WindowDataset(readers[0], window)
    cams = [len(window.cameras) if window.cameras else len(r.cameras) for r in readers]
    cfg = dataclasses.replace(
        window, n_views=window.n_views or max(cams), image_size=window.image_size or first.image_hw,
        state_dim=window.state_dim or first.state_map.dim, action_dim=window.action_dim or first.action_map.dim,
    )
    unknown = set(task_weight_map(window.task_weights)) - {t for r in readers for t in r.tasks}
    if unknown:
        raise ValueError(f"task weight(s) for {sorted(unknown)}: no such task in the datasets (their tasks: "
                         f"{sorted({t for r in readers for t in r.tasks})})")
    held_cfg = dataclasses.replace(cfg, task_weights=())  # held-out error is measured on the data as it is
    trains, helds, held_weights = [], [], []
    for r, w in zip(readers, weights):
        tr_eps, ho_eps = split_episodes(len(r.episodes), holdout)
        trains.append(WindowDataset(r, cfg, tr_eps))
        if ho_eps:
            helds.append(WindowDataset(r, held_cfg, ho_eps))
            held_weights.append(w)
    if len(trains) == 1:
        train = trains[0]
    else:
        train = Mixture(trains, weights, seed=seed, names=paths)
    held = None
    if len(helds) == 1:
        held = helds[0]
    elif helds:
        held = Mixture(helds, held_weights, seed=seed + 1)
    return train, held
