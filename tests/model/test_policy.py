"""The Policy: training forward, chunk prediction, persistence, and the errors users see."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.policies import CHUNK, obs_of, tiny_config

from egovla import spaces
from egovla.data.sample import collate
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.model.policy import Policy
from egovla.observation import ObservationError


@pytest.fixture(scope="module")
def data():
    return SyntheticDataset(size=64, seed=3, image_size=32, chunk_len=CHUNK, block=6)


@pytest.fixture(scope="module")
def stats(data):
    return compute_stats(data)


def make_policy(head, stats, seed=0):
    torch.manual_seed(seed)
    return Policy(tiny_config(head), stats)


@pytest.mark.parametrize("head", ["regression", "flow"])
def test_forward_gives_finite_loss_and_gradients_everywhere(head, data, stats):
    policy = make_policy(head, stats)
    loss, metrics = policy(collate([data[i] for i in range(4)]))
    assert loss.ndim == 0 and math.isfinite(loss.item()) and metrics["loss"] == pytest.approx(loss.item())
    loss.backward()
    for name, module in [("queries", policy.queries), ("backbone", policy.backbone), ("proprio", policy.proprio),
                         ("head", policy.head)]:
        params = [module] if isinstance(module, torch.nn.Parameter) else list(module.parameters())
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), f"no gradient reaches {name}"


@pytest.mark.parametrize("head", ["regression", "flow"])
def test_predict_chunk_shapes_unbatched_and_batched(head, data, stats):
    policy = make_policy(head, stats).eval()
    chunk = policy.predict_chunk(obs_of(data[0]))
    assert chunk.shape == (CHUNK, spaces.ACTION_DIM) and np.isfinite(chunk).all()
    batch = collate([data[i] for i in range(3)])
    chunks = policy.predict_chunk(obs_of(batch))
    assert chunks.shape == (3, CHUNK, spaces.ACTION_DIM)
    np.testing.assert_allclose(chunks[0], chunk, atol=1e-5)
    for i in range(3):  # every row, flow noise included, equals its own unbatched call (servers batch)
        np.testing.assert_allclose(chunks[i], policy.predict_chunk(obs_of(data[i])), atol=1e-5)


def test_predict_chunk_is_unnormalized(data, stats):
    """An untrained head outputs ~0 in normalized space, i.e. ~the dataset mean in real units."""
    policy = make_policy("regression", stats).eval()
    with torch.no_grad():
        policy.head.out.weight.zero_()
        policy.head.out.bias.zero_()
    chunk = policy.predict_chunk(obs_of(data[0]))
    np.testing.assert_allclose(chunk[0], np.array(stats["action"]["mean"], dtype=np.float32), atol=1e-6)


@pytest.mark.parametrize("head", ["regression", "flow"])
def test_save_and_load_predict_bit_identical_chunks(head, data, stats, tmp_path):
    policy = make_policy(head, stats).eval()
    obs = obs_of(collate([data[i] for i in range(2)]))
    before = policy.predict_chunk(obs)
    policy.save_pretrained(tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["config.json", "model.safetensors", "stats.json"]
    loaded = Policy.from_pretrained(tmp_path / "p")
    assert np.array_equal(before, loaded.predict_chunk(obs))


def test_flow_head_runs_the_backbone_once_per_chunk(data, stats):
    policy = make_policy("flow", stats).eval()
    calls = []
    original = policy.backbone.encode_tokens
    policy.backbone.encode_tokens = lambda *a, **k: calls.append(1) or original(*a, **k)
    policy.predict_chunk(obs_of(data[0]))
    assert policy.config.head.flow_steps == 3 and len(calls) == 1


def test_query_tokens_see_the_image_and_the_instruction(data, stats):
    policy = make_policy("regression", stats).eval()
    batch = collate([data[0], data[0]])
    other = collate([data[1], data[1]])
    def query_states(images, instructions):
        suffix = policy.queries.unsqueeze(0).expand(2, -1, -1)
        return policy.backbone.encode(images, batch["image_mask"], instructions, suffix)[2]
    base = query_states(batch["images"], batch["instruction"])
    assert not torch.allclose(base, query_states(other["images"], batch["instruction"]))
    assert not torch.allclose(base, query_states(batch["images"], ["grasp it", "grasp it"]))


def test_loss_weights_follow_the_slices(stats):
    w = make_policy("regression", stats).head.weights
    assert w[spaces.slot("right", "wrist_pos")].eq(20).all()
    assert w[spaces.slot("left", "wrist_rot")].eq(5).all()
    assert w[spaces.slot("left", "fingertips")].eq(5).all()


def test_masked_targets_do_not_change_the_loss(data, stats):
    policy = make_policy("regression", stats).eval()
    batch = collate([data[i] for i in range(2)])
    batch["action_mask"][:, :, spaces.slot("left", "fingertips")] = False
    loss_a, _ = policy(batch)
    batch["action"][:, :, spaces.slot("left", "fingertips")] = float("nan")
    loss_b, _ = policy(batch)
    assert torch.equal(loss_a, loss_b)


def test_wrong_image_shape_is_named(data, stats):
    policy = make_policy("regression", stats)
    obs = obs_of(data[0])
    obs["images"] = obs["images"][..., :16, :]
    with pytest.raises(ObservationError, match=r"'images': shape \[1, 1, 3, 16, 32\] per observation, the policy expects \[1, 1, 3, 32, 32\]"):
        policy.predict_chunk(obs)


def test_missing_key_is_named(data, stats):
    policy = make_policy("regression", stats)
    obs = obs_of(data[0])
    del obs["state"]
    with pytest.raises(ObservationError, match=r"missing key\(s\) \['state'\]"):
        policy.predict_chunk(obs)
    batch = collate([data[0]])
    del batch["action_mask"]
    with pytest.raises(ObservationError, match="missing key.*'action_mask'.*needed for training"):
        policy(batch)


def test_nan_in_state_is_refused(data, stats):
    policy = make_policy("regression", stats)
    obs = obs_of(data[0])
    obs["state"] = obs["state"].copy()
    obs["state"][5] = np.nan
    with pytest.raises(ObservationError, match=r"'state': 1 non-finite value\(s\), at \[\[5\]\]"):
        policy.predict_chunk(obs)


def test_instruction_longer_than_the_context_is_refused(data, stats):
    policy = make_policy("regression", stats)
    obs = obs_of(data[0])
    obs["instruction"] = "pick up the red block " * 10
    with pytest.raises(ObservationError, match=r"'instruction': \d+ tokens, .*allows 48"):
        policy.predict_chunk(obs)


def test_from_pretrained_on_a_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        Policy.from_pretrained(tmp_path)


def test_eager_and_sdpa_attention_compute_the_same_chunks(data, stats):
    """The tiny backbone's attention kernel is a speed choice only (padded instructions included)."""
    import dataclasses

    chunks = []
    for attention in ("eager", "sdpa"):
        torch.manual_seed(0)
        cfg = tiny_config("regression")
        cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, attention=attention))
        policy = Policy(cfg, stats).eval()
        batch = collate([data[i] for i in range(4)])
        batch["instruction"] = ["pick", "pick up the red block", "go", "push it left"]  # padding in the middle
        chunks.append(policy.predict_checked(batch))
    np.testing.assert_allclose(chunks[0], chunks[1], atol=1e-4, rtol=1e-4)


def test_unknown_attention_kernel_is_named(stats):
    import dataclasses

    cfg = tiny_config("regression")
    cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, attention="flash"))
    with pytest.raises(ValueError, match="backbone.attention"):
        Policy(cfg, stats)


def test_the_conv_stem_gives_the_same_tokens_and_round_trips(data, stats, tmp_path):
    torch.manual_seed(0)
    cfg = tiny_config("regression")
    cfg.backbone.vision_stem = "conv"
    policy = Policy(cfg, stats).eval()
    pixels = torch.rand(2, 3, 32, 32)
    patch = make_policy("regression", stats).backbone.embed_images(pixels)
    assert policy.backbone.embed_images(pixels).shape == patch.shape  # same grid of tokens, same width
    assert isinstance(policy.backbone.vlm.vision_model.embeddings.patch_embedding, torch.nn.Sequential)
    obs = obs_of(collate([data[i] for i in range(2)]))
    policy.save_pretrained(tmp_path / "p")
    assert np.array_equal(policy.predict_chunk(obs), Policy.from_pretrained(tmp_path / "p").predict_chunk(obs))


def test_unknown_vision_stems_and_odd_patches_are_named(stats):
    cfg = tiny_config("regression")
    cfg.backbone.vision_stem = "resnet"
    with pytest.raises(ValueError, match="vision_stem must be 'patch' or 'conv'"):
        Policy(cfg, stats)
    cfg = tiny_config("regression")
    cfg.backbone.vision_stem, cfg.backbone.patch_size, cfg.backbone.image_size = "conv", 6, 36
    with pytest.raises(ValueError, match="power of 2"):
        Policy(cfg, stats)


def _with_aux(batch, dim=3):
    """The batch with auxiliary targets: a linear function of the state (so they can be learned), dim 2 masked."""
    aux = batch["state"][:, :dim].float() * 2 + 1
    mask = torch.ones_like(aux, dtype=torch.bool)
    mask[:, 2] = False
    return {**batch, "aux": aux, "aux_mask": mask}


def _aux_stats(stats, dim=3):
    return {**stats, "aux": {"mean": [0.0] * dim, "std": [1.0] * dim}}


def test_aux_loss_adds_to_the_action_loss_and_trains_the_backbone(data, stats):
    from dataclasses import replace

    torch.manual_seed(0)
    policy = Policy(replace(tiny_config("regression"), aux_dim=3, aux_weight=0.5), _aux_stats(stats))
    batch = _with_aux(collate([data[i] for i in range(4)]))
    loss, metrics = policy(batch)
    assert metrics["loss"] == pytest.approx(metrics["action_loss"] + 0.5 * metrics["aux_loss"], rel=1e-5)
    assert metrics["aux_loss"] > 0
    changed = dict(batch, aux=batch["aux"].clone())
    changed["aux"][:, 2] = 1e6  # masked: no effect
    assert policy(changed)[1]["aux_loss"] == pytest.approx(metrics["aux_loss"], rel=1e-6)
    policy.zero_grad()
    policy(batch)[0].backward()
    for module in (policy.aux_head, policy.backbone):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_aux_head_leaves_prediction_alone_and_round_trips(data, stats, tmp_path):
    from dataclasses import replace

    torch.manual_seed(0)
    policy = Policy(replace(tiny_config("regression"), aux_dim=3), _aux_stats(stats)).eval()
    torch.manual_seed(0)
    plain = Policy(tiny_config("regression"), stats).eval()
    plain.load_state_dict({k: v for k, v in policy.state_dict().items() if not k.startswith("aux_head")})
    obs = obs_of(data[0])
    np.testing.assert_array_equal(policy.predict_chunk(obs), plain.predict_chunk(obs))
    loaded = Policy.from_pretrained(policy.save_pretrained(tmp_path / "p"))
    assert loaded.config.aux_dim == 3
    np.testing.assert_array_equal(loaded.predict_chunk(obs), policy.predict_chunk(obs))


def test_aux_policy_names_missing_targets_and_statistics(data, stats):
    from dataclasses import replace

    cfg = replace(tiny_config("regression"), aux_dim=3)
    with pytest.raises(ValueError, match="no 'aux' entry"):
        Policy(cfg, stats)
    policy = Policy(cfg, _aux_stats(stats))
    batch = collate([data[i] for i in range(2)])
    with pytest.raises(ValueError, match=r"missing \['aux', 'aux_mask'\].*aux_dim 3"):
        policy(batch)
    wrong = _with_aux(batch, dim=3)
    wrong["aux"] = wrong["aux"][:, :2]
    with pytest.raises(ValueError, match=r"'aux' has shape \(2, 2\)"):
        policy(wrong)
