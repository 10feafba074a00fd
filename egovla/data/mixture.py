"""Weighted mixtures of datasets that share the policy's spaces.

`Mixture([ds_a, ds_b], weights=[3, 1])` is a dataset of `sum(len)` virtual samples; virtual
sample j is drawn from dataset k with probability weight_k / sum(weights) (then uniformly within
it), fixed once by `seed`. So the trainer's shuffled, sharded and resumable order over virtual
indices samples the mixture in the requested proportions, whatever the datasets' sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Mixture:
    def __init__(self, datasets: Sequence, weights: Sequence[float], seed: int = 0, names: Sequence[str] | None = None):
        if len(datasets) != len(weights) or not datasets:
            raise ValueError(f"a mixture needs one weight per dataset, got {len(datasets)} datasets and {len(weights)} weights")
        w = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"mixture weights must be finite, >= 0 and not all 0, got {list(weights)}")
        empty = [i for i, d in enumerate(datasets) if len(d) == 0]
        if empty:
            raise ValueError(f"dataset(s) {[names[i] if names else i for i in empty]} of the mixture are empty")
        self.datasets, self.weights = list(datasets), w / w.sum()
        self.names = list(names) if names else [str(i) for i in range(len(datasets))]
        n = sum(len(d) for d in datasets)
        rng = np.random.default_rng([seed, 7919])
        self.source = rng.choice(len(datasets), size=n, p=self.weights)
        sizes = np.array([len(d) for d in datasets])
        self.inner = (rng.random(n) * sizes[self.source]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, j: int) -> dict:
        return self.datasets[int(self.source[j])][int(self.inner[j])]

    def vectors(self, j: int) -> dict:
        d = self.datasets[int(self.source[j])]
        i = int(self.inner[j])
        return d.vectors(i) if hasattr(d, "vectors") else d[i]

    def share(self) -> dict[str, float]:
        """The realised fraction of virtual samples drawn from each dataset."""
        counts = np.bincount(self.source, minlength=len(self.datasets))
        return {name: float(c / len(self)) for name, c in zip(self.names, counts)}
