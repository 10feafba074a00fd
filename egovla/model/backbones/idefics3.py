"""Idefics3 / SmolVLM backbone: SigLIP-style vision tower + pixel-shuffle connector + Llama LM.

The built-in `tiny` backbone is this architecture at toy scale with random weights and the
byte-level tokenizer; `hf.load_hf_backbone` adapts a pretrained SmolVLM folder with the same class.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Idefics3Config, Idefics3Model, LlamaConfig
from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig

from egovla.model.backbone import Backbone, BackboneConfig, kept_layers, square_side
from egovla.model.tokenizer import ByteTokenizer


class Idefics3Backbone(Backbone):
    def __init__(self, vlm: Idefics3Model, tokenizer: Any, max_text_len: int, image_mean=None, image_std=None):
        super().__init__()
        self.vlm = vlm
        self.tokenizer = tokenizer
        self.max_text_len = max_text_len
        self.hidden_size = vlm.config.text_config.hidden_size
        self.image_size = square_side(vlm.config.vision_config.image_size)
        if image_mean is not None:
            self.image_mean, self.image_std = tuple(image_mean), tuple(image_std)

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = self.vlm.vision_model(pixel_values=pixels).last_hidden_state
        return self.vlm.connector(hidden)

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.vlm.get_input_embeddings()(ids)

    def run(self, embeds: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        out = self.vlm.text_model(inputs_embeds=embeds, attention_mask=mask.long(), position_ids=position_ids)
        return out.last_hidden_state

    def vision_parameters(self):
        return list(self.vlm.vision_model.parameters())


def tiny_idefics3_config(cfg: BackboneConfig) -> Idefics3Config:
    """An Idefics3 config at toy scale, sized by the BackboneConfig's tiny fields."""
    grid = cfg.image_size // cfg.patch_size
    if cfg.image_size % cfg.patch_size or grid % cfg.scale_factor:
        raise ValueError(
            f"tiny backbone: image_size {cfg.image_size} must be a multiple of patch_size {cfg.patch_size}, "
            f"and the patch grid ({grid}) a multiple of scale_factor {cfg.scale_factor}"
        )
    tok = ByteTokenizer()
    text = LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=cfg.text_hidden,
        intermediate_size=cfg.text_hidden * 3,
        num_hidden_layers=kept_layers(cfg.text_layers, cfg.text_layers_kept, "tiny backbone: text_layers_kept"),
        num_attention_heads=cfg.text_heads,
        num_key_value_heads=cfg.text_heads,
        max_position_embeddings=2048,
        pad_token_id=tok.pad_id,
        bos_token_id=tok.bos_id,
        eos_token_id=tok.eos_id,
        tie_word_embeddings=False,
    )
    vision = Idefics3VisionConfig(
        hidden_size=cfg.vision_hidden,
        intermediate_size=cfg.vision_hidden * 4,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
    )
    return Idefics3Config(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        scale_factor=cfg.scale_factor,
        image_token_id=tok.image_id,
        pad_token_id=tok.pad_id,
    )


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position codes (MAE-style), (grid * grid, dim), row-major like the patches."""
    quarter = dim // 4
    freqs = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / max(quarter, 1)))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    parts = [f(c.reshape(-1, 1) * freqs) for c in (xs, ys) for f in (torch.sin, torch.cos)]
    out = torch.zeros(grid * grid, dim)
    out[:, : 4 * quarter] = torch.cat(parts, dim=1)
    return out


def build_tiny(cfg: BackboneConfig) -> Idefics3Backbone:
    """The default CPU backbone: a random-init toy Idefics3 with the byte-level tokenizer.

    Its patch position embeddings start as 2-D sine-cosine codes instead of small random numbers:
    from scratch, a random-init ViT otherwise takes thousands of steps before its tokens say
    *where* they are, which is what an action head needs first (measured on the synthetic data).
    """
    config = tiny_idefics3_config(cfg)
    # eager attention by default: at these sequence lengths (tens of tokens) the plain matmul-softmax is
    # faster on CPU than the fused SDPA kernel (benchmarks/train_speed.py); the maths is the same
    if cfg.attention not in ("eager", "sdpa"):
        raise ValueError(f"backbone.attention must be 'eager' or 'sdpa', got {cfg.attention!r}")
    config._attn_implementation = cfg.attention
    vlm = Idefics3Model(config)
    if cfg.vision_stem == "conv":
        vlm.vision_model.embeddings.patch_embedding = conv_stem(cfg.patch_size, cfg.vision_hidden)
    elif cfg.vision_stem != "patch":
        raise ValueError(f"backbone.vision_stem must be 'patch' or 'conv', got {cfg.vision_stem!r}")
    pos = vlm.vision_model.embeddings.position_embedding
    with torch.no_grad():
        pos.weight.copy_(POSITION_SCALE * sincos_2d(cfg.image_size // cfg.patch_size, pos.weight.shape[1]))
    return Idefics3Backbone(vlm, ByteTokenizer(), cfg.max_text_len)


def conv_stem(patch: int, hidden: int) -> nn.Sequential:
    """3x3 stride-2 convolutions (GELU between) with total stride `patch` (a power of 2), widening to `hidden`
    channels: (N, 3, H, W) -> (N, hidden, H / patch, W / patch), the patch embedding's output shape."""
    n = patch.bit_length() - 1
    if patch < 2 or patch != 2**n:
        raise ValueError(f"backbone.vision_stem 'conv' needs a patch_size that is a power of 2 (>= 2), got {patch}")
    widths = [3] + [max(8, hidden >> (n - 1 - i)) for i in range(n)]
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1)] + ([nn.GELU()] if i < n - 1 else [])
    return nn.Sequential(*layers)


POSITION_SCALE = 0.25  # per-dim size of the position codes, about that of the patch embeddings at init
