"""Qwen2.5-VL backbone: windowed ViT over flattened patches + patch-merger + Qwen2 LM with M-RoPE.

Qwen2.5-VL takes images at any resolution as a flat list of patches plus a `grid_thw` per image.
EgoVLA frames are resized to one square side (a multiple of patch_size * merge_size), so every
frame yields the same number of tokens, (side / patch / merge) ** 2, and frames batch cleanly.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from egovla.model.backbone import Backbone

DEFAULT_SIDE = 224  # pixels per frame side before the processor's pixel budget is applied


def image_side(vision_config: Any, preprocessor: dict | None, target: int = DEFAULT_SIDE) -> int:
    """The square frame side: `target` rounded to the patch*merge grid, kept within the
    processor's [min_pixels, max_pixels] budget the way Qwen's `smart_resize` keeps it."""
    factor = vision_config.patch_size * vision_config.spatial_merge_size
    pre = preprocessor or {}
    size = pre.get("size") or {}
    lo = pre.get("min_pixels") or size.get("shortest_edge") or 56 * 56
    hi = pre.get("max_pixels") or size.get("longest_edge") or 28 * 28 * 1280
    side = max(factor, round(target / factor) * factor)
    if side * side > hi:
        side = max(factor, math.floor(math.sqrt(hi) / factor) * factor)
    elif side * side < lo:
        side = math.ceil(math.sqrt(lo) / factor) * factor
    return side


class Qwen2_5_VLBackbone(Backbone):
    """Wraps a `Qwen2_5_VLModel` (`.visual` + `.language_model`)."""

    def __init__(self, vlm: Any, tokenizer: Any, max_text_len: int, image_mean, image_std, preprocessor=None):
        super().__init__()
        self.vlm = vlm
        self.tokenizer = tokenizer
        self.max_text_len = max_text_len
        self.hidden_size = vlm.config.get_text_config().hidden_size
        vision = vlm.config.vision_config
        self.patch_size = vision.patch_size
        self.merge_size = vision.spatial_merge_size
        self.temporal_patch_size = vision.temporal_patch_size
        self.image_size = image_side(vision, preprocessor)
        self.image_mean, self.image_std = tuple(image_mean), tuple(image_std)

    def patchify(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) -> flat patches (N*gh*gw, C*tp*p*p) and grid_thw (N, 3), in the order of
        Qwen2VLImageProcessor.patchify: merge windows row-major, a single frame repeated over time."""
        n, c, h, w = pixels.shape
        p, m, tp = self.patch_size, self.merge_size, self.temporal_patch_size
        gh, gw = h // p, w // p
        x = pixels.reshape(n, c, gh // m, m, p, gw // m, m, p)
        x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)  # n, gh/m, gw/m, m, m, c, p, p
        x = x.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, tp, -1, -1)
        flat = x.reshape(n * gh * gw, c * tp * p * p)
        grid = torch.tensor([[1, gh, gw]] * n, dtype=torch.long, device=pixels.device)
        return flat, grid

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        flat, grid = self.patchify(pixels)
        out = self.vlm.visual(flat, grid_thw=grid)
        merged = getattr(out, "pooler_output", out)  # older transformers return the merged tensor itself
        return merged.reshape(pixels.shape[0], -1, merged.shape[-1])

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.vlm.language_model.embed_tokens(ids)

    def run(self, embeds: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        # M-RoPE splits each head's rotary dims into three sections (time, height, width). Qwen's own
        # processor gives image tokens 3-D (t, h, w) positions; EgoVLA's sequence carries one 1-D
        # position per token, so we use it for all three sections. That is exactly M-RoPE's text-only
        # case (plain 1-D RoPE): image tokens lose their 2-D spatial rotary layout and are ordered
        # like text, a deliberate simplification that keeps `Backbone.encode` family-agnostic.
        pos = position_ids.unsqueeze(0).expand(3, -1, -1)
        out = self.vlm.language_model(inputs_embeds=embeds, attention_mask=mask.long(), position_ids=pos)
        return out.last_hidden_state

    def vision_parameters(self) -> list[torch.nn.Parameter]:
        """The ViT without its patch merger: the merger is Qwen's projector and stays trainable."""
        return [p for name, p in self.vlm.visual.named_parameters() if not name.startswith("merger.")]
