"""FrameCache: whole episodes kept until the budget is full, then windows decoded as without a cache."""

import copy

import numpy as np

from egovla.data.frame_cache import FrameCache

LENGTH = 10  # frames per episode, one byte each


def decoder(ep: int, log: list):
    def decode(idx):
        log.append(len(idx))
        return (np.asarray(idx) + 50 * ep).astype(np.uint8)[:, None]  # one 1-byte frame per index
    return decode


def read(cache, ep, idx, log):
    return cache.frames(("cam", ep), LENGTH, 1, np.asarray(idx), decoder(ep, log))


def test_episodes_that_fit_are_decoded_once_and_the_rest_window_by_window():
    cache = FrameCache(2 * LENGTH / 2**20)  # room for two episodes of four
    rng = np.random.default_rng(0)
    log, first = [], []
    for _ in range(200):
        ep, t = int(rng.integers(4)), int(rng.integers(LENGTH - 2))
        idx = [t, t + 2]
        if ep not in first:
            first.append(ep)
        got = read(cache, ep, idx, log)
        assert got[:, 0].tolist() == [i + 50 * ep for i in idx]
    kept = sorted(k[1] for k in cache._items)
    assert kept == sorted(first[:2])  # the first two read stay; nothing is evicted for a later one
    assert cache.bytes == 2 * LENGTH <= cache.budget
    assert log.count(LENGTH) == 2  # each kept episode decoded whole once ...
    assert log.count(2) == 200 - cache.hits - 2  # ... every other read decodes its window only


def test_an_episode_larger_than_the_whole_budget_is_never_kept():
    cache = FrameCache((LENGTH - 1) / 2**20)
    log = []
    for _ in range(3):
        assert read(cache, 0, [1, 2, 3], log).shape == (3, 1)
    assert log == [3, 3, 3] and cache.bytes == 0 and cache.hits == 0


def test_a_copied_cache_arrives_empty_with_its_budget():  # as a DataLoader worker's does
    cache = FrameCache(2 * LENGTH / 2**20)
    read(cache, 0, [0], [])
    twin = copy.deepcopy(cache)  # through __getstate__, as pickling to a worker process
    assert twin.budget == cache.budget and twin.bytes == 0 and not twin._items
