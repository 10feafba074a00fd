import pytest

from egovla.train.errors import DatasetTooSmallError
from egovla.train.sampler import DataPlan, ShardedBatchSampler


def test_ranks_get_disjoint_shards_covering_the_epoch():
    plan = DataPlan(dataset_len=23, batch_size=3, num_processes=2, seed=5)
    assert plan.batches_per_epoch == 3  # 23 // 6, the remainder dropped
    per_rank = [list(ShardedBatchSampler(plan, r, start=0, count=3)) for r in range(2)]
    flat = [i for batches in per_rank for b in batches for i in b]
    assert all(len(b) == 3 for batches in per_rank for b in batches)
    assert len(flat) == len(set(flat)) == 18  # no sample twice in an epoch, across ranks
    assert set(flat) <= set(range(23))


def test_order_is_deterministic_and_changes_per_epoch_and_seed():
    plan = DataPlan(dataset_len=10, batch_size=2, num_processes=1, seed=1)
    a = list(ShardedBatchSampler(plan, 0, start=0, count=15))
    b = list(ShardedBatchSampler(DataPlan(10, 2, 1, 1), 0, start=0, count=15))
    assert a == b
    assert a[:5] != a[5:10]  # epoch 1 is a different permutation
    assert sorted(i for x in a[:5] for i in x) == list(range(10))
    assert list(ShardedBatchSampler(DataPlan(10, 2, 1, 2), 0, start=0, count=5)) != a[:5]


def test_starting_mid_run_replays_the_tail():
    plan = DataPlan(dataset_len=17, batch_size=2, num_processes=2, seed=0)
    full = list(ShardedBatchSampler(plan, 1, start=0, count=20))
    assert list(ShardedBatchSampler(plan, 1, start=7, count=13)) == full[7:]
    assert plan.position(7) == (1, 3)  # 4 batches per epoch


def test_too_small_datasets_are_clear_errors():
    with pytest.raises(DatasetTooSmallError, match="empty"):
        DataPlan(0, 1, 1, 0)
    with pytest.raises(DatasetTooSmallError, match="batch_size 4 x 2 process"):
        DataPlan(7, 4, 2, 0)
