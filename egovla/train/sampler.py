"""Deterministic, sharded data order that a resumed run can pick up mid-epoch.

The micro-batch stream of a run is a pure function of (seed, dataset size, batch size, number of
processes): epoch `e` is the permutation `default_rng([seed, e]).permutation(N)`; it is cut into
`batches_per_epoch = N // (batch_size * num_processes)` global batches (the remainder is dropped, a
different remainder each epoch), and global batch `b` gives process `r` the slice
`perm[(b * P + r) * B : (b * P + r + 1) * B]`. Micro-batch number `k` of the run (counted from the
first step, across epochs) is epoch `k // batches_per_epoch`, position `k % batches_per_epoch`, so a
resumed run just starts counting at `step * grad_accum` — nothing is loaded to skip batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from egovla.train.errors import DatasetTooSmallError


@dataclass(frozen=True)
class DataPlan:
    dataset_len: int
    batch_size: int  # per process
    num_processes: int
    seed: int

    def __post_init__(self) -> None:
        if self.dataset_len <= 0:
            raise DatasetTooSmallError("the dataset is empty: there is nothing to train on")
        global_batch = self.batch_size * self.num_processes
        if global_batch > self.dataset_len:
            raise DatasetTooSmallError(
                f"batch_size {self.batch_size} x {self.num_processes} process(es) = {global_batch} samples per "
                f"micro-batch, but the dataset has only {self.dataset_len}; lower the batch size"
            )

    @property
    def batches_per_epoch(self) -> int:
        return self.dataset_len // (self.batch_size * self.num_processes)

    def position(self, micro_batch: int) -> tuple[int, int]:
        """(epoch, position within the epoch) of the run's micro-batch number `micro_batch`."""
        return divmod(micro_batch, self.batches_per_epoch)

    def epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.dataset_len)

    def batch_indices(self, order: np.ndarray, position: int, rank: int) -> list[int]:
        start = (position * self.num_processes + rank) * self.batch_size
        return order[start : start + self.batch_size].tolist()


class ShardedBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields this process's index lists for micro-batches start .. start + count - 1 of the run."""

    def __init__(self, plan: DataPlan, rank: int, start: int, count: int):
        if not 0 <= rank < plan.num_processes:
            raise ValueError(f"rank {rank} outside 0 .. {plan.num_processes - 1}")
        self.plan, self.rank, self.start, self.count = plan, rank, start, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[list[int]]:
        epoch_cached, order = -1, None
        for k in range(self.start, self.start + self.count):
            epoch, pos = self.plan.position(k)
            if epoch != epoch_cached:
                epoch_cached, order = epoch, self.plan.epoch_order(epoch)
            yield self.plan.batch_indices(order, pos, self.rank)
