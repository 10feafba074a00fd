"""The backbone protocol: a VLM that turns frames + instruction (+ appended tokens) into hidden states.

Every backbone, built-in or loaded from Hugging Face, implements four small methods:

- `tokenize(instructions) -> (ids, mask)`      text token ids, right-padded; raises ContextTooLongError
- `embed_images(pixels) -> (N, tokens, hidden)` pixels are (N, 3, h, w) floats in [0, 1]
- `embed_text(ids) -> (B, L, hidden)`
- `run(embeds, mask, position_ids) -> (B, L, hidden)` the language model over a full sequence

`Backbone.encode` assembles the EgoVLA sequence from them, once for every family:

    [ image tokens (T x V frames) | instruction tokens | suffix tokens (action queries) ]

and returns the hidden states of the whole sequence plus those of the suffix. The language model
is causal, so the suffix tokens, placed last, attend to every image and text token before them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from egovla.model.tokenizer import pad_token_ids


@dataclass
class BackboneConfig:
    """Which VLM to use and how to adapt it. `kind` is 'tiny' (built in, random init) or 'hf'."""

    kind: str = "tiny"
    path: str | None = None  # local folder (or hub id, when online) of a Hugging Face VLM, kind='hf'
    max_text_len: int = 48  # text tokens, instruction included; longer instructions are an error
    # tiny backbone sizes (an Idefics3/SmolVLM architecture at toy scale)
    image_size: int = 64
    patch_size: int = 8
    scale_factor: int = 2
    vision_hidden: int = 96
    vision_layers: int = 2
    vision_heads: int = 4
    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 4
    # the tiny vision tower's patch embedding: 'patch' (one convolution of patch_size, as ViT/SigLIP) or 'conv' (a
    # conv stem of 3x3 stride-2 convolutions with the same total stride, as in "early convolutions help
    # transformers see"); the tokens, their grid and everything after are the same
    vision_stem: str = "patch"
    # the tiny backbone's attention kernel: 'eager' (matmul-softmax; faster on CPU at tens of tokens) or 'sdpa'
    attention: str = "eager"
    # adaptation of pretrained backbones
    freeze_vision: bool = False
    # the language model's weights stop training (embeddings included); the query tokens, the projector and
    # the head still train, so gradients still pass through it to the queries (SmolVLA's train_expert_only
    # freezes its whole VLM: with freeze_vision too, this is egovla's nearest setting)
    freeze_text: bool = False
    lora_rank: int = 0  # > 0 trains the language model with LoRA adapters of this rank
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    # keep only the language model's first N decoder layers (SmolVLA keeps 16 of SmolVLM2's 32); the cut is
    # made in the model config before the model is built, identically when loading pretrained weights (the
    # other layers' weights are not loaded) and when rebuilding a saved policy's spec; 0 or None keeps all
    text_layers_kept: int | None = None
    # visual token pruning (an efficiency lever): fraction of each frame's visual tokens kept, by their
    # relevance to the instruction and query tokens; 1.0 keeps every token (the default, no pruning)
    keep_visual: float = 1.0


def kept_layers(total: int, keep: int | None, where: str = "backbone.text_layers_kept") -> int:
    """How many of `total` language-model layers `BackboneConfig.text_layers_kept` keeps (0 / None: all)."""
    if not keep:
        return total
    if not 0 < int(keep) <= total:
        raise ValueError(f"{where}: {keep} layers asked for, the language model has {total} (give 1..{total}, "
                         "or 0 to keep all)")
    return int(keep)


def square_side(size: int | list[int] | tuple[int, ...]) -> int:
    """A vision config's `image_size` (an int or a [height, width] pair) as one square side."""
    return size if isinstance(size, int) else int(size[0])


class Backbone(nn.Module):
    """Base class; subclasses set `tokenizer` (`encode(text) -> ids`, `pad_id`), `max_text_len`,
    `hidden_size`, `image_size`, and `image_mean` / `image_std` where they differ from SigLIP's."""

    tokenizer: Any
    max_text_len: int
    hidden_size: int
    image_size: int
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    keep_visual: float = 1.0  # < 1 prunes visual tokens (see `prune_visual`); set from BackboneConfig

    def tokenize(self, instructions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [self.tokenizer.encode(text) for text in instructions]
        return pad_token_ids(ids, max_len=self.max_text_len, pad_id=self.tokenizer.pad_id, instructions=instructions)

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def run(self, embeds: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) -> normalized float at the backbone's resolution."""
        dtype = next(self.parameters()).dtype
        x = images.to(dtype=torch.float32) / 255.0
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        mean = torch.tensor(self.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(dtype)

    def encode(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor,
        instructions: list[str],
        suffix: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the VLM over [images | text | suffix].

        images: uint8 (B, T, V, 3, H, W); image_mask: bool (B, T, V); suffix: (B, Q, hidden).
        Returns (states (B, L, hidden), mask (B, L) bool, suffix_states (B, Q, hidden)).
        """
        ids, txt_mask = self.tokenize(instructions)
        return self.encode_tokens(images, image_mask, ids, txt_mask, suffix)

    def encode_tokens(
        self,
        images: torch.Tensor,
        image_mask: torch.Tensor,
        ids: torch.Tensor,
        txt_mask: torch.Tensor,
        suffix: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`encode` from already tokenized instructions (ids, txt_mask: (B, L_text)); traceable."""
        b, t, v = images.shape[:3]
        device = suffix.device
        pix = self.preprocess(images.reshape(b * t * v, *images.shape[3:]).to(device))
        img = self.embed_images(pix)  # (B*T*V, n, hidden)
        n_tok = img.shape[1]
        img = img.reshape(b, t * v * n_tok, -1)
        img_mask = image_mask.to(device).reshape(b, t * v, 1).expand(b, t * v, n_tok).reshape(b, -1)

        ids, txt_mask = ids.to(device), txt_mask.to(device)
        txt = self.embed_text(ids)
        if self.keep_visual < 1.0:
            keep = self.visual_keep_index(img, txt.to(img.dtype), txt_mask, suffix.to(img.dtype), t * v)
            img = img.gather(1, keep[..., None].expand(-1, -1, img.shape[-1]))
            img_mask = img_mask.gather(1, keep)

        q_mask = torch.ones(suffix.shape[:2], dtype=torch.bool, device=device)
        embeds = torch.cat([img, txt.to(img.dtype), suffix.to(img.dtype)], dim=1)
        mask = torch.cat([img_mask, txt_mask, q_mask], dim=1)
        position_ids = (mask.long().cumsum(dim=1) - 1).clamp(min=0)
        states = self.run(embeds, mask, position_ids)
        return states, mask, states[:, -suffix.shape[1] :]

    def visual_keep_index(
        self, img: torch.Tensor, txt: torch.Tensor, txt_mask: torch.Tensor, suffix: torch.Tensor, frames: int
    ) -> torch.Tensor:
        """Visual token pruning: indices (B, frames * k) of the tokens kept, in sequence order.

        Each frame keeps its k = max(1, round(keep_visual * n)) of n tokens most relevant to the
        instruction and action query tokens: relevance is a token's highest cosine similarity to any
        (non-padding) text or query embedding, all in the language model's input space.
        """
        b, n_all, _ = img.shape
        per = n_all // frames
        k = max(1, min(per, round(self.keep_visual * per)))
        keys = torch.cat([txt, suffix], dim=1)
        key_ok = torch.cat([txt_mask, torch.ones(suffix.shape[:2], dtype=torch.bool, device=img.device)], dim=1)
        sim = F.normalize(img.float(), dim=-1) @ F.normalize(keys.float(), dim=-1).transpose(1, 2)
        sim = sim.masked_fill(~key_ok[:, None, :], -math.inf)
        score = sim.amax(dim=-1).reshape(b, frames, per)
        keep = score.topk(k, dim=-1).indices.sort(dim=-1).values  # (B, frames, k), in frame order
        offset = (torch.arange(frames, device=img.device) * per)[None, :, None]
        return (keep + offset).reshape(b, frames * k)
