"""The synthetic dataset: follows the contract, is deterministic, and its targets follow the image and words."""

from __future__ import annotations

import numpy as np
import pytest

from egovla import spaces
from egovla.data.sample import validate_sample
from egovla.data.synthetic import COLOURS, DEPTH, SyntheticDataset, back_project


@pytest.fixture(scope="module")
def ds():
    return SyntheticDataset(size=50, seed=7, image_size=48, chunk_len=8, block=8)


def test_samples_follow_the_contract(ds):
    for i in range(10):
        s = ds[i]
        validate_sample(s)
        assert s["images"].shape == (1, 1, 3, 48, 48) and s["images"].dtype == np.uint8
        assert s["action"].shape == (8, spaces.ACTION_DIM) and s["action_mask"].all()


def test_deterministic_per_index_and_seed(ds):
    a, b = ds[3], SyntheticDataset(size=50, seed=7, image_size=48, chunk_len=8, block=8)[3]
    assert np.array_equal(a["images"], b["images"]) and a["instruction"] == b["instruction"]
    other = SyntheticDataset(size=50, seed=8, image_size=48, chunk_len=8, block=8)
    assert not np.array_equal(a["state"], other[3]["state"])
    assert not all(np.array_equal(ds[i]["images"], other[i]["images"]) for i in range(10))


def test_named_hand_ends_on_the_named_block(ds):
    for i in range(20):
        s = ds[i]
        verb, _, colour, _, _, _, hand, _ = s["instruction"].split()
        img = s["images"][0, 0].transpose(1, 2, 0)
        ys, xs = np.nonzero(np.all(img == COLOURS[colour], axis=-1))
        assert xs.size == 8 * 8, "the named block is drawn in full"
        goal = back_project(xs.mean() + 0.5, ys.mean() + 0.5, DEPTH, ds.K)
        np.testing.assert_allclose(s["action"][-1, spaces.slot(hand, "wrist_pos")], goal, atol=1e-5)
        other = "left" if hand == "right" else "right"
        assert np.allclose(s["action"][:, spaces.slot(other, "wrist_pos")], s["state"][spaces.slot(other, "wrist_pos")])
        tips = s["action"][:, spaces.slot(hand, "fingertips")]
        moved = not np.allclose(tips[-1], s["state"][spaces.slot(hand, "fingertips")])
        assert moved == (verb == "grasp")


def test_index_out_of_range(ds):
    with pytest.raises(IndexError, match="out of range"):
        ds[50]
