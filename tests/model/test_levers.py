"""Inference levers: each computes the baseline's chunk (exactly, or within a stated tolerance).

Errors are measured in normalized action units (chunk difference / the dataset's action std), the
scale the head works in. compile and onnx have their own test files (they take longer).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egovla.data.sample import collate
from egovla.observation import ObservationError
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.model.config import HeadConfig
from egovla.model.levers import LeveredPolicy, apply_levers, parse_levers
from egovla.model.policy import Policy
from helpers.policies import CHUNK, obs_of, tiny_config

# int8 / half precision: max |error| over a chunk in normalized units. Measured on these random tiny
# models: int8 <= 0.06 (per-tensor activation scales), bf16 <= 0.015 (8-bit mantissa), fp16 <= 0.0025;
# the bounds leave about 3x margin and stay far below the chunk's own spread (~1 normalized unit).
TOL = {"int8": 0.15, "bf16": 0.05, "fp16": 0.01}


@pytest.fixture(scope="module")
def data():
    return SyntheticDataset(size=16, seed=3, image_size=32, chunk_len=CHUNK, block=6)


@pytest.fixture(scope="module")
def stats(data):
    return compute_stats(data)


def make_policy(head, stats, **head_kw):
    torch.manual_seed(0)
    cfg = tiny_config(head)
    if head_kw:
        cfg.head = HeadConfig(**{**cfg.head.__dict__, **head_kw})
    return Policy(cfg, stats).eval()


def norm_err(policy, a, b):
    return float(np.abs((a - b) / policy.normalizer.action_scale.numpy()).max())


# ---- parsing and the contract -------------------------------------------------------------------
def test_parse_levers():
    assert parse_levers("cache,prune=0.5") == ["cache", "prune=0.5"]
    assert parse_levers("") == [] and parse_levers(None) == [] and parse_levers("none") == []
    assert parse_levers(["int8", " compile "]) == ["int8", "compile"]


@pytest.mark.parametrize("bad, match", [
    ("turbo", r"unknown lever 'turbo'; valid levers: cache, prune=R, int8, bf16, fp16, compile, onnx"),
    ("prune=2", r"lever 'prune=2'.*\(0, 1\]"),
    ("prune=0", r"lever 'prune=0'"),
    ("prune=half", r"lever 'prune=half'.*prune=0.5"),
    ("cache=1", r"unknown lever 'cache=1'"),
    ("int8,bf16", "int8 and bf16"),
    ("onnx,compile", "onnx"),
])
def test_invalid_levers_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_levers(bad)


def test_no_levers_is_the_policy_itself_and_levers_leave_it_alone(data, stats):
    policy = make_policy("flow", stats)
    assert apply_levers(policy, []) is policy
    before = policy.predict_chunk(obs_of(data[0]))
    fast = apply_levers(policy, ["cache", "prune=0.5", "int8"])
    assert isinstance(fast, LeveredPolicy) and fast.config.backbone.keep_visual == 0.5
    fast.predict_chunk(obs_of(data[0]))
    assert policy.backbone.keep_visual == 1.0 and policy.head.cache_memory is False
    assert policy.config.backbone.keep_visual == 1.0
    assert np.array_equal(policy.predict_chunk(obs_of(data[0])), before)


def test_levered_policy_keeps_the_validation_errors(data, stats):
    fast = apply_levers(make_policy("regression", stats), ["cache"])
    obs = obs_of(data[0])
    with pytest.raises(ObservationError, match=r"'images': shape \[1, 1, 3, 16, 32\] per observation, the policy expects \[1, 1, 3, 32, 32\]"):
        fast.predict_chunk({**obs, "images": obs["images"][..., :16, :]})
    with pytest.raises(ObservationError, match=r"missing key\(s\) \['state'\]"):
        fast.predict_chunk({k: v for k, v in obs.items() if k != "state"})
    with pytest.raises(ObservationError, match="allows 48"):
        fast.predict_chunk({**obs, "instruction": "pick up the red block " * 10})


# ---- prefix caching: identical --------------------------------------------------------------------
@pytest.mark.parametrize("head", ["flow", "regression"])
def test_cache_computes_the_identical_chunk(head, data, stats):
    policy = make_policy(head, stats, layers=2, flow_steps=4)
    fast = apply_levers(policy, ["cache"])
    one, batch = obs_of(data[0]), obs_of(collate([data[i] for i in range(3)]))
    assert np.array_equal(fast.predict_chunk(one), policy.predict_chunk(one))
    assert np.array_equal(fast.predict_chunk(batch), policy.predict_chunk(batch))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert np.array_equal(fast.predict_chunk(one, generator=g1), policy.predict_chunk(one, generator=g2))


def test_cache_projects_the_memory_once_per_chunk(data, stats):
    policy = make_policy("flow", stats, flow_steps=5)
    fast = apply_levers(policy, ["cache"])
    calls = {"base": 0, "fast": 0}
    for key, p in (("base", policy), ("fast", fast.policy)):
        attn = p.head.decoder.layers[0].multihead_attn
        attn.register_forward_hook(lambda *a, key=key: calls.__setitem__(key, calls[key] + 1))
        p.predict_chunk(obs_of(data[0]))
    assert calls["base"] == 5 and calls["fast"] == 0  # the cached path never calls the module


# ---- visual token pruning -----------------------------------------------------------------------
def test_prune_all_kept_is_identical(data, stats):
    policy = make_policy("flow", stats)
    obs = obs_of(data[0])
    assert np.array_equal(apply_levers(policy, ["prune=1.0"]).predict_chunk(obs), policy.predict_chunk(obs))


def test_pruning_equals_masking_the_dropped_tokens(data, stats):
    """Pruned sequence == the full sequence with the dropped image tokens masked out (positions
    follow the mask), at every kept token: pruning removes tokens and nothing else. atol 1e-5:
    the same math on a shorter sequence (float summation order)."""
    policy = make_policy("regression", stats)
    bb = policy.backbone
    batch = collate([data[0], data[1]])
    ids, txt_mask = bb.tokenize(list(batch["instruction"]))
    suffix = policy.queries.unsqueeze(0).expand(2, -1, -1)
    with torch.no_grad():
        bb.keep_visual = 0.5
        pruned, pmask, _ = bb.encode_tokens(batch["images"], batch["image_mask"], ids, txt_mask, suffix)
        bb.keep_visual = 1.0
        img = bb.embed_images(bb.preprocess(batch["images"].reshape(2, 3, 32, 32)))
        txt = bb.embed_text(ids)
        n = img.shape[1]
        keep = bb.visual_keep_index.__func__(type("B", (), {"keep_visual": 0.5})(), img, txt, txt_mask, suffix, 1)
        assert keep.shape == (2, round(0.5 * n)) and (keep.diff(dim=1) > 0).all()
        img_ok = torch.zeros(2, n, dtype=torch.bool).scatter_(1, keep, True)
        mask = torch.cat([img_ok, txt_mask, torch.ones(2, suffix.shape[1], dtype=torch.bool)], 1)
        full = bb.run(torch.cat([img, txt, suffix], 1), mask, (mask.long().cumsum(1) - 1).clamp(min=0))
    kept_rows = torch.cat([keep, torch.arange(n, full.shape[1]).expand(2, -1)], 1)
    expected = full.gather(1, kept_rows[..., None].expand(-1, -1, full.shape[-1]))
    assert pruned.shape[1] == full.shape[1] - (n - keep.shape[1])
    m = pmask[..., None]
    torch.testing.assert_close(pruned * m, expected * m, atol=1e-5, rtol=1e-5)


def test_pruning_changes_the_chunk_a_little_and_batches_like_single_calls(data, stats):
    policy = make_policy("flow", stats)
    fast = apply_levers(policy, ["prune=0.5"])
    batch = obs_of(collate([data[i] for i in range(3)]))
    chunks = fast.predict_chunk(batch)
    for i in range(3):
        np.testing.assert_allclose(chunks[i], fast.predict_chunk(obs_of(data[i])), atol=1e-5)
    err = norm_err(policy, chunks, policy.predict_chunk(batch))
    assert 0 < err < 0.5  # fewer tokens, a different chunk; the prune retention figure is Meta-World's


def test_keep_visual_is_a_training_switch_too(data, stats):
    torch.manual_seed(0)
    cfg = tiny_config("regression")
    cfg.backbone.keep_visual = 0.25
    policy = Policy(cfg, stats)
    loss, _ = policy(collate([data[i] for i in range(2)]))
    loss.backward()
    assert policy.backbone.keep_visual == 0.25 and np.isfinite(loss.item())
    cfg.backbone.keep_visual = 0.0
    with pytest.raises(ValueError, match="keep_visual must be in"):
        Policy(cfg, stats)


# ---- quantization and half precision --------------------------------------------------------------
@pytest.mark.parametrize("lever", ["int8", "bf16", "fp16"])
@pytest.mark.parametrize("head", ["flow", "regression"])
def test_low_precision_is_close_to_the_baseline(lever, head, data, stats):
    policy = make_policy(head, stats)
    fast = apply_levers(policy, [lever])
    batch = obs_of(collate([data[i] for i in range(3)]))
    base, chunk = policy.predict_chunk(batch), fast.predict_chunk(batch)
    assert chunk.dtype == np.float32 and chunk.shape == base.shape
    err = norm_err(policy, chunk, base)
    assert 0 < err < TOL[lever], f"{lever}: {err:.3g} normalized units from the baseline"
    if lever == "int8":
        assert any("quantized" in type(m).__module__ for m in fast.policy.modules())
    # int8 scales activations per tensor, i.e. per batch: a row of a batch equals its single call
    # only within the lever's tolerance
    assert norm_err(policy, fast.predict_chunk(obs_of(data[1])), chunk[1]) < TOL[lever]
