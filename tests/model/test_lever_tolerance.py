"""The first-call check of compile / onnx measures the graph, not how well conditioned the caller's input is.

The bug (`egovla bench --policy RUN --levers "cache;compile;onnx"` exiting 1 on a lightly trained flow
policy, compile 1.3e-4 and onnx 2.2e-3 off eager against a tolerance of 1e-4): the bench drew the state as
0.1 * N(0, 1) in every dim, also in the dims that were constant in training (std 0, clamped to 1e-6), so the
normalized state reached ~4e5 and the proprio tokens ~5e4; the head's attention over them turns float32's
relative rounding into absolute chunk errors of ~1e-4, in the eager model itself (measured against float64:
1.9e-4). compile and onnx computed the same function; the check compared two roundings of an
ill-conditioned one. The check now runs at the call's images, tokens and noise with an in-distribution state,
in normalized units before unnormalization, against the eager graph with the same other levers.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.jobs.bench import max_deviation, observation
from egovla.model.backbone import BackboneConfig
from egovla.model.config import HeadConfig, PolicyConfig
from egovla.model.levers import CHECK_TOL, apply_levers, check_state
from egovla.model.normalize import Normalizer
from egovla.model.policy import Policy
from helpers.policies import CHUNK, tiny_config


def trained_like_policy() -> Policy:
    """A flow policy with the statistics of the synthetic data: 34 of its 48 state dims never vary there."""
    data = SyntheticDataset(size=64, seed=0, image_size=32, chunk_len=8)
    cfg = PolicyConfig(
        backbone=BackboneConfig(image_size=32, vision_hidden=32, text_hidden=32, vision_heads=2, text_heads=2,
                                vision_layers=1, text_layers=1, max_text_len=40),
        head=HeadConfig(kind="flow", width=64, layers=1, heads=4, flow_steps=3),
        image_height=32, image_width=32, chunk_len=8, n_queries=4,
    )
    torch.manual_seed(0)
    return Policy(cfg, compute_stats(data)).eval()


def out_of_distribution(batch: int) -> dict:
    """What `egovla bench` used to feed a trained policy: a raw state of 0.1 * N(0, 1) in every dim."""
    rng = np.random.default_rng(0)
    return {"images": rng.integers(0, 256, (batch, 1, 1, 3, 32, 32), dtype=np.uint8),
            "instruction": ["push the red block to the goal"] * batch,
            "state": (rng.normal(size=(batch, 48)) * 0.1).astype(np.float32)}


def test_onnx_check_is_not_fooled_by_an_ill_conditioned_state():
    policy = trained_like_policy()
    obs = out_of_distribution(256)  # near-ties in the head's attention are rare (~5% of rows): take many
    z = policy.normalizer.normalize("state", torch.from_numpy(obs["state"]))
    assert z.abs().max() > 1e4
    fast = apply_levers(policy, ["onnx"])
    # before the fix this raised: measured here, 13 of these 256 rows differ from eager by more than 1e-4,
    # up to 2.4e-3 (as much as eager float32 differs from float64 at such inputs), the 2.2e-3
    chunk = fast.predict_chunk(obs)
    assert fast.check_error < 1e-5  # at an in-distribution state the exported graph is the eager one
    scale = policy.normalizer.action_scale.numpy()
    assert np.abs((chunk - policy.predict_chunk(obs)) / scale).max() < 1e-2


def test_compiled_half_precision_is_checked_against_eager_half_precision():
    data = SyntheticDataset(size=8, seed=3, image_size=32, chunk_len=CHUNK, block=6)
    torch.manual_seed(0)
    policy = Policy(tiny_config("flow"), compute_stats(data)).eval()
    fast = apply_levers(policy, ["bf16", "compile"])
    fast._compiled = fast.graph  # stands in for torch.compile's module: the same graph, run eagerly
    obs = {k: data[0][k] for k in ("images", "instruction", "state")}
    fast.predict_chunk(obs)  # before the fix: compared with the float32 model (~1e-2 apart) and raised
    assert fast.check_error == 0.0
    assert fast.check_tolerance() == CHECK_TOL["bf16"]


def test_the_check_still_catches_a_graph_that_computes_something_else():
    data = SyntheticDataset(size=8, seed=3, image_size=32, chunk_len=CHUNK, block=6)
    torch.manual_seed(0)
    policy = Policy(tiny_config("flow"), compute_stats(data)).eval()
    fast = apply_levers(policy, ["compile", "cache"])
    wrong = copy.deepcopy(fast.graph)
    for module in wrong.modules():
        if isinstance(module, nn.LayerNorm):
            module.eps = 0.1  # e.g. an export that lost the layer norm's eps
    fast._compiled = wrong
    with pytest.raises(RuntimeError, match="does not compute the eager model"):
        fast.predict_chunk({k: data[0][k] for k in ("images", "instruction", "state")})


def test_the_check_state_is_in_distribution():
    policy = trained_like_policy()
    state = check_state(policy, torch.zeros(4, 48))
    z = policy.normalizer.normalize("state", state)
    assert state.shape == (4, 48) and state.dtype == torch.float32
    assert z.abs().max() < 6 and 0.5 < z.std() < 1.5


def test_the_bench_draws_states_inside_the_statistics():
    policy = trained_like_policy()
    obs = observation(policy.config, 8, seed=0, normalizer=policy.normalizer)
    z = policy.normalizer.normalize("state", torch.from_numpy(obs["state"]))
    assert z.abs().max() < 1.0  # 0.1 * N(0, 1) in normalized units
    plain = observation(policy.config, 8, seed=0)  # no statistics: the raw draw, as before
    assert np.array_equal(plain["images"], obs["images"])
    assert np.abs(plain["state"]).max() < 1.0 and not np.array_equal(plain["state"], obs["state"])


def test_the_bench_deviation_ignores_a_float32_ulp_of_the_action():
    # a gripper that never moved in training (std 0 -> 1e-6) at 1.0, a nearly constant joint, a normal dim
    n = Normalizer({"action": {"mean": [1.0, 0.5, 0.0], "std": [0.0, 1e-4, 0.1]}}, {"action": 3})
    scale, shift = n.action_scale.numpy(), n.action_shift.numpy()
    base = np.broadcast_to(shift + scale * 0.3, (1, 8, 3)).astype(np.float32)
    one_ulp = np.nextafter(base, np.float32(np.inf))  # equal to float32 precision
    assert (np.abs(one_ulp - base) / scale).max() > 0.1  # what the old measure read: 1 ulp of 1.0 / 1e-6
    assert max_deviation(one_ulp, base, n) == 0.0
    moved = base + np.array([0.0, 0.0, 0.001], np.float32)
    assert max_deviation(moved, base, n) == pytest.approx(0.01, rel=0.01)
