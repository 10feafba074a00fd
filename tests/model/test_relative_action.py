"""Relative actions (`PolicyConfig.relative_action`): the head learns each chunk step minus the current state,
normalized by the statistics of those differences, and every path adds the state back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers.policies import CHUNK, obs_of, tiny_config

from egovla.data.sample import collate
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.model.levers import apply_levers
from egovla.model.policy import Policy


@pytest.fixture(scope="module")
def data():
    return SyntheticDataset(size=48, seed=5, image_size=32, chunk_len=CHUNK, block=6)


@pytest.fixture(scope="module")
def stats(data):
    return compute_stats(data)


def relative_policy(head, stats, seed=0):
    torch.manual_seed(seed)
    return Policy(replace(tiny_config(head), relative_action=True), stats)


def test_stats_hold_the_chunk_minus_the_state_with_masked_state_as_zero():
    samples = [{"state": np.array([i, 10.0], np.float32), "state_mask": np.array([True, False]),
                "action": np.array([[i + 1.0, 3.0], [i + 3.0, 5.0]], np.float32),
                "action_mask": np.ones((2, 2), bool)} for i in range(4)]
    s = compute_stats(samples)
    # dim 0: steps 1 and 3 ahead of the state; dim 1: the state is masked, so the action itself (3 and 5)
    assert s["action_relative"]["mean"] == pytest.approx([2.0, 4.0])
    assert s["action_relative"]["std"] == pytest.approx([1.0, 1.0])
    assert s["action"]["mean"] == pytest.approx([3.5, 4.0])


def test_stats_of_two_layouts_have_no_relative_entry():
    samples = [{"state": np.zeros(3, np.float32), "action": np.ones((2, 4), np.float32),
                "action_mask": np.ones((2, 4), bool)}]
    assert set(compute_stats(samples)) == {"state", "action"}


@pytest.mark.parametrize("head", ["regression", "flow"])
def test_the_chunk_is_the_decoded_head_output_plus_the_state(head, data, stats):
    policy = relative_policy(head, stats).eval()
    batch = collate([data[i] for i in range(3)])
    args = policy.chunk_inputs(policy.observation_spec.check(obs_of(batch)))
    with torch.no_grad():
        normalized = policy.chunk_normalized(*args)
    state, state_mask = args[4], args[5]
    rel = stats["action_relative"]
    expect = (normalized * torch.tensor(rel["std"]).clamp(min=1e-6) + torch.tensor(rel["mean"])
              + torch.where(state_mask, state, 0.0)[:, None])
    chunk = policy.predict_chunk(obs_of(batch))
    np.testing.assert_allclose(chunk, expect.numpy(), atol=1e-5)
    absolute = Policy(tiny_config(head), stats)
    absolute.load_state_dict(policy.state_dict())
    assert not np.allclose(absolute.eval().predict_chunk(obs_of(batch)), chunk, atol=1e-3)


def test_training_regresses_the_normalized_differences(data, stats):
    policy = relative_policy("regression", stats)
    batch = collate([data[i] for i in range(4)])
    loss, _ = policy(batch)
    state = torch.as_tensor(batch["state"])
    mask = torch.as_tensor(batch["action_mask"])
    action = torch.where(mask, torch.as_tensor(batch["action"]), 0.0)
    rel = stats["action_relative"]
    target = (action - state[:, None]) / torch.tensor(rel["std"]).clamp(min=1e-6) - \
        torch.tensor(rel["mean"]) / torch.tensor(rel["std"]).clamp(min=1e-6)
    obs = {k: v if k == "instruction" else torch.as_tensor(v) for k, v in policy.observation_spec.check(batch).items()}
    direct, _ = policy.head.loss(policy.features(obs), target, mask)
    assert loss.item() == pytest.approx(direct.item(), rel=1e-5)


def test_save_load_and_levers_keep_relative_chunks(tmp_path, data, stats):
    policy = relative_policy("flow", stats).eval()
    obs = obs_of(data[1])
    chunk = policy.predict_chunk(obs)
    policy.save_pretrained(tmp_path / "p")
    loaded = Policy.from_pretrained(tmp_path / "p")
    assert loaded.config.relative_action and np.array_equal(loaded.predict_chunk(obs), chunk)
    assert np.array_equal(apply_levers(policy, ["cache"]).predict_chunk(obs), chunk)


def test_relative_action_errors_are_named(stats):
    with pytest.raises(ValueError, match="state_dim 4 != action_dim 48"):
        Policy(replace(tiny_config("regression"), relative_action=True, state_dim=4), None)
    old = {k: v for k, v in stats.items() if k != "action_relative"}
    with pytest.raises(ValueError, match="no 'action_relative' entry.*normalizes 'action'"):
        Policy(replace(tiny_config("regression"), relative_action=True), old)
    Policy(tiny_config("regression"), old)  # absolute actions never need it
