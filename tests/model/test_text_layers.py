"""`BackboneConfig.text_layers_kept`: the language model keeps its first N decoder layers (SmolVLA's cut).

Every Hugging Face family (Idefics3/SmolVLM, Qwen2.5-VL, PaliGemma) on tiny random 4-layer models saved to
local folders: the cut backbone holds exactly the first N pretrained layers (it computes what the full
model with its later layers removed computes), a saved policy rebuilds the same cut from its spec, and the
tiny built-in backbone takes the option too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from egovla.model.backbone import BackboneConfig
from egovla.model.backbones import build_backbone
from egovla.model.config import HeadConfig, PolicyConfig
from egovla.model.policy import Policy
from helpers.hf_models import HIDDEN, save_folders

FAMILIES = ["smolvlm", "qwen2_5_vl", "paligemma"]
LAYERS = 4


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return save_folders(tmp_path_factory, FAMILIES, text_layers=LAYERS)


def language_model(backbone):
    return backbone.vlm.text_model if hasattr(backbone.vlm, "text_model") else backbone.vlm.language_model


def encode(backbone, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (2, 1, 1, 3, 32, 32), dtype=torch.uint8, generator=g)
    suffix = torch.randn(2, 3, HIDDEN, generator=g)
    with torch.no_grad():
        return backbone.eval().encode(images, torch.ones(2, 1, 1, dtype=torch.bool), ["pick up the red cup", "open"],
                                      suffix)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_cut_keeps_the_first_pretrained_layers(folders, family):
    full = build_backbone(BackboneConfig(kind="hf", path=str(folders[family])))
    cut = build_backbone(BackboneConfig(kind="hf", path=str(folders[family]), text_layers_kept=2))
    assert len(language_model(full).layers) == LAYERS and len(language_model(cut).layers) == 2
    assert cut.vlm.config.get_text_config().num_hidden_layers == 2
    types = getattr(cut.vlm.config.get_text_config(), "layer_types", None)
    assert types is None or len(types) == 2
    mine, theirs = cut.state_dict(), full.state_dict()
    assert set(mine) < set(theirs) and all(".layers.2." not in k and ".layers.3." not in k for k in mine)
    assert all(torch.equal(v, theirs[k]) for k, v in mine.items())  # the pretrained weights, layer for layer
    # what the full model computes with its later layers removed (how LeRobot's SmolVLA cuts SmolVLM2)
    lm = language_model(full)
    lm.layers = lm.layers[:2]
    assert all(torch.equal(a, b) for a, b in zip(encode(cut), encode(full)))


@pytest.mark.parametrize("keep", [None, 0, LAYERS])
def test_none_zero_or_all_keep_every_layer(folders, keep):
    backbone = build_backbone(BackboneConfig(kind="hf", path=str(folders["smolvlm"]), text_layers_kept=keep))
    assert len(language_model(backbone).layers) == LAYERS


@pytest.mark.parametrize("keep", [LAYERS + 1, -1])
def test_more_layers_than_the_model_has_is_an_error(folders, keep):
    with pytest.raises(ValueError, match=f"text_layers_kept.*{keep} layers asked for, the language model has {LAYERS}"):
        build_backbone(BackboneConfig(kind="hf", path=str(folders["smolvlm"]), text_layers_kept=keep))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_saved_policy_rebuilds_the_same_cut(folders, family, tmp_path):
    size = 28 if family != "smolvlm" else 32
    cfg = PolicyConfig(backbone=BackboneConfig(kind="hf", path=str(folders[family]), text_layers_kept=3, max_text_len=12),
                       head=HeadConfig(kind="flow", width=16, layers=1, heads=2, flow_steps=2),
                       image_height=size, image_width=size, state_dim=8, action_dim=7, chunk_len=4, n_queries=2)
    torch.manual_seed(0)
    policy = Policy(cfg).eval()
    assert len(language_model(policy.backbone).layers) == 3
    policy.save_pretrained(tmp_path / "policy")
    spec = json.loads((tmp_path / "policy" / "backbone" / "config.json").read_text())
    assert spec["text_config"]["num_hidden_layers"] == 3
    loaded = Policy.from_pretrained(tmp_path / "policy")  # strict load: the same tensors, no more, no less
    assert len(language_model(loaded.backbone).layers) == 3
    rng = np.random.default_rng(0)
    obs = {"images": rng.integers(0, 256, (1, 1, 3, size, size), dtype=np.uint8), "instruction": "open the door",
           "state": rng.normal(size=8).astype(np.float32)}
    a, b = policy.predict_chunk(obs), loaded.predict_chunk(obs)
    if family == "qwen2_5_vl":  # a rebuilt Qwen2.5-VL policy differs by an ulp, cut or not (measured 1.2e-7 uncut)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    else:
        assert np.array_equal(a, b)


def test_the_tiny_backbone_takes_the_cut_too(tmp_path):
    cfg = PolicyConfig(backbone=BackboneConfig(image_size=32, vision_hidden=32, text_hidden=32, vision_heads=2,
                                               text_heads=2, vision_layers=1, text_layers=3, text_layers_kept=2),
                       head=HeadConfig(kind="flow", width=16, layers=1, heads=2, flow_steps=2),
                       image_height=32, image_width=32, chunk_len=4, n_queries=2)
    policy = Policy(cfg).eval()
    assert len(policy.backbone.vlm.text_model.layers) == 2
    policy.save_pretrained(tmp_path)
    assert len(Policy.from_pretrained(tmp_path).backbone.vlm.text_model.layers) == 2
    with pytest.raises(ValueError, match="text_layers_kept: 4 layers asked for, the language model has 3"):
        build_backbone(BackboneConfig(text_layers=3, text_layers_kept=4))
