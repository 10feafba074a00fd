"""The Hugging Face backbone adapters on tiny random models saved to local folders (no hub access)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig

from egovla.model.backbone import BackboneConfig
from egovla.model.backbones import build_backbone, save_backbone_spec
from egovla.model.tokenizer import ContextTooLongError
from helpers.hf_models import HIDDEN, LM, save_folders

FAMILIES = ["idefics3", "smolvlm", "qwen2_5_vl", "paligemma"]
INSTRUCTIONS = ["pick up the red cup", "open the door"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return save_folders(tmp_path_factory, FAMILIES)


def inputs(t: int = 2, seed: int = 0, instructions=INSTRUCTIONS):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (2, t, 1, 3, 40, 40), dtype=torch.uint8, generator=g)
    return images, torch.ones(2, t, 1, dtype=torch.bool), list(instructions), torch.randn(2, 4, HIDDEN, generator=g)


def backward(backbone, t: int = 2):
    images, image_mask, instructions, suffix = inputs(t)
    suffix.requires_grad_(True)
    states, mask, suffix_states = backbone.encode(images, image_mask, instructions, suffix)
    (states[mask].pow(2).mean() + suffix_states.pow(2).mean()).backward()
    return suffix


def grads(params) -> list[bool]:
    return [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params]


def vision_ids(backbone) -> set[int]:
    return {id(p) for p in backbone.vision_parameters()}


@pytest.mark.parametrize("family", FAMILIES)
def test_encode_shapes_and_gradients(folders, family):
    backbone = build_backbone(BackboneConfig(kind="hf", path=str(folders[family])))
    assert backbone.hidden_size == HIDDEN
    images, image_mask, instructions, suffix = inputs(t=2)
    states, mask, suffix_states = backbone.encode(images, image_mask, instructions, suffix)
    n_text = len(INSTRUCTIONS[0].split()) + 2  # bos + words + eos, the longer one
    assert states.shape == (2, 2 * 4 + n_text + 4, HIDDEN)
    assert mask.shape == states.shape[:2] and mask.dtype == torch.bool
    assert suffix_states.shape == (2, 4, HIDDEN)
    assert torch.isfinite(states).all()
    assert mask[0].all() and not mask[1].all()  # the shorter instruction is padded

    backbone.zero_grad()
    suffix = backward(backbone)
    assert suffix.grad is not None and suffix.grad.abs().sum() > 0
    trainable = [p for p in backbone.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for p in trainable)
    assert any(grads(backbone.vision_parameters()))


def test_image_normalization_and_size(folders):
    smol = build_backbone(BackboneConfig(kind="hf", path=str(folders["smolvlm"])))
    assert smol.image_mean == (0.4, 0.4, 0.4) and smol.image_std == (0.3, 0.3, 0.3) and smol.image_size == 32
    qwen = build_backbone(BackboneConfig(kind="hf", path=str(folders["qwen2_5_vl"])))
    assert qwen.image_size == 56 and qwen.image_mean[0] == pytest.approx(0.48145466)  # CLIP's, the default
    pali = build_backbone(BackboneConfig(kind="hf", path=str(folders["paligemma"])))
    assert pali.image_mean == (0.5, 0.5, 0.5) and pali.image_size == 28


@pytest.mark.parametrize("family", FAMILIES)
def test_freeze_vision(folders, family):
    backbone = build_backbone(BackboneConfig(kind="hf", path=str(folders[family]), freeze_vision=True))
    frozen = vision_ids(backbone)
    assert frozen and all(not p.requires_grad for p in backbone.vision_parameters())
    backward(backbone)
    assert all(p.grad is None for p in backbone.vision_parameters())
    connector = [p for n, p in backbone.named_parameters()
                 if any(k in n for k in ("connector", "merger", "multi_modal_projector"))]
    assert connector and all(p.requires_grad for p in connector) and all(grads(connector))


@pytest.mark.parametrize("family", FAMILIES)
def test_freeze_text_stops_the_language_model_only(folders, family):
    backbone = build_backbone(BackboneConfig(kind="hf", path=str(folders[family]), freeze_text=True))
    lm_prefix = "vlm.text_model." if family in ("idefics3", "smolvlm") else "vlm.language_model."
    lm = [p for n, p in backbone.named_parameters() if n.startswith(lm_prefix)]
    rest = [p for n, p in backbone.named_parameters() if not n.startswith(lm_prefix)]
    assert lm and all(not p.requires_grad for p in lm)
    assert rest and all(p.requires_grad for p in rest)  # the vision tower and the projector still train
    suffix = backward(backbone)
    assert all(p.grad is None for p in lm)
    assert suffix.grad is not None and suffix.grad.abs().sum() > 0  # still differentiable through it
    assert all(grads(list(backbone.vision_parameters())))


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_trains_only_adapters_in_the_language_model(folders, family):
    backbone = build_backbone(BackboneConfig(kind="hf", path=str(folders[family]), lora_rank=4))
    lm_prefix = "vlm.text_model." if family in ("idefics3", "smolvlm") else "vlm.language_model."
    lm = {n: p for n, p in backbone.named_parameters() if n.startswith(lm_prefix)}
    lora = {n for n in lm if "lora_" in n}
    assert {n for n, p in lm.items() if p.requires_grad} == lora
    assert len(lora) == 2 * 4 * LM["num_hidden_layers"]  # A and B for q, k, v, o in every layer
    assert all(k in " ".join(lora) for k in ("q_proj", "k_proj", "v_proj", "o_proj"))
    rest = [p for n, p in backbone.named_parameters() if not n.startswith(lm_prefix)]
    assert rest and all(p.requires_grad for p in rest)  # vision tower and projector still train
    backward(backbone)
    assert all(lm[n].grad is not None for n in lora)
    assert all(grads([lm[n] for n in lora if "lora_B" in n]))
    assert all(p.grad is None for n, p in lm.items() if n not in lora)


@pytest.mark.parametrize("family", FAMILIES)
def test_spec_round_trip(folders, family, tmp_path):
    cfg = BackboneConfig(kind="hf", path=str(folders[family]), freeze_vision=True, lora_rank=4, max_text_len=16)
    original = build_backbone(cfg)
    with torch.no_grad():  # make the adapters matter: lora_B starts at zero
        for n, p in original.named_parameters():
            if "lora_B" in n:
                p.normal_()
    assert save_backbone_spec(original, cfg, tmp_path) == tmp_path / "backbone"
    spec = tmp_path / "backbone"
    assert (spec / "config.json").is_file() and (spec / "tokenizer.json").is_file()
    assert not [f for f in spec.iterdir() if f.suffix in (".safetensors", ".bin", ".pt")]

    moved = BackboneConfig(**{**cfg.__dict__, "path": str(tmp_path / "gone")})  # weights folder no longer needed
    rebuilt = build_backbone(moved, spec_dir=spec)
    assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in original.named_parameters()]
    assert [p.requires_grad for p in rebuilt.parameters()] == [p.requires_grad for p in original.parameters()]
    rebuilt.load_state_dict(original.state_dict())
    original.eval(), rebuilt.eval()
    assert rebuilt.image_size == original.image_size and rebuilt.image_mean == original.image_mean
    with torch.no_grad():
        a = original.encode(*inputs(t=1, seed=3))
        b = rebuilt.encode(*inputs(t=1, seed=3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("family", FAMILIES)
def test_language_model_is_causal(folders, family):
    """Changing the last suffix token changes nothing before it (no padding: both instructions
    have the same length, the case where PaliGemma's Gemma would otherwise go bidirectional)."""
    backbone = build_backbone(BackboneConfig(kind="hf", path=str(folders[family]))).eval()
    images, image_mask, instructions, suffix = inputs(t=1, instructions=["pick up the cup", "open the red door"])
    changed = suffix.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        a, mask, _ = backbone.encode(images, image_mask, instructions, suffix)
        b, _, _ = backbone.encode(images, image_mask, instructions, changed)
    assert mask.all()
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6) and not torch.allclose(a[:, -1], b[:, -1])


def test_context_too_long(folders):
    backbone = build_backbone(BackboneConfig(kind="hf", path=str(folders["qwen2_5_vl"]), max_text_len=8))
    with pytest.raises(ContextTooLongError, match="max_text_len"):
        backbone.encode(*inputs(t=1, instructions=["pick up the red cup and then put the cup in the box", "open"]))


def test_missing_or_invalid_folders(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        build_backbone(BackboneConfig(kind="hf", path=str(missing)))
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        build_backbone(BackboneConfig(kind="hf", path="x"), spec_dir=missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        build_backbone(BackboneConfig(kind="hf", path=str(empty)))
    with pytest.raises(ValueError, match="path"):
        build_backbone(BackboneConfig(kind="hf"))


def test_unsupported_model_type(tmp_path):
    LlamaConfig(**LM).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'llama'.*idefics3, smolvlm, qwen2_5_vl, paligemma"):
        build_backbone(BackboneConfig(kind="hf", path=str(tmp_path)))


def test_tiny_backbone_options(tmp_path):
    cfg = BackboneConfig(kind="tiny", image_size=32, vision_hidden=32, text_hidden=64, freeze_vision=True, lora_rank=2)
    backbone = build_backbone(cfg)
    assert not any(p.requires_grad for p in backbone.vision_parameters())
    assert all("lora_" in n for n, p in backbone.vlm.text_model.named_parameters() if p.requires_grad)
    assert save_backbone_spec(backbone, cfg, tmp_path) is None and not (tmp_path / "backbone").exists()
