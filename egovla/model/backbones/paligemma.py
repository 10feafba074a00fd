"""PaliGemma backbone: SigLIP vision tower + linear multi-modal projector + Gemma LM.

Embedding scale. Gemma multiplies token embeddings by sqrt(hidden_size). In the transformers this
project uses, that happens inside the embedding module (`GemmaTextScaledWordEmbedding`), and
PaliGemma scatters the projector's image features, unscaled, into the already-scaled text
embeddings before the language model. So here text ids go through `embed_tokens` (scaled), image
features are the projector output as is, and the suffix tokens enter unscaled, exactly like image
features. Older transformers (Gemma without `embed_scale`) multiplied *all* `inputs_embeds` by
sqrt(hidden) inside the model and PaliGemma divided image features by it beforehand; `legacy_scale`
reproduces the same effective embeddings there, so the suffix is never rescaled by the LM.

Attention. PaliGemma's config marks its Gemma as bidirectional and the model relies on an explicit
prefix-LM mask; called directly with a padding mask, Gemma would be causal with padding and fully
bidirectional without. EgoVLA's contract is a causal LM over [images | text | suffix], so the
language model is set causal (config and modules), the same with or without padding.
"""

from __future__ import annotations

from typing import Any

import torch

from egovla.model.backbone import Backbone, square_side


def make_causal(language_model: Any) -> None:
    language_model.config.use_bidirectional_attention = False
    for module in language_model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = True


class PaliGemmaBackbone(Backbone):
    """Wraps a `PaliGemmaModel` (`.vision_tower`, `.multi_modal_projector`, `.language_model`)."""

    def __init__(self, vlm: Any, tokenizer: Any, max_text_len: int, image_mean, image_std):
        super().__init__()
        self.vlm = vlm
        self.tokenizer = tokenizer
        self.max_text_len = max_text_len
        text = vlm.config.get_text_config()
        self.hidden_size = text.hidden_size
        self.image_size = square_side(vlm.config.vision_config.image_size)
        self.image_mean, self.image_std = tuple(image_mean), tuple(image_std)
        vlm.config.text_config.use_bidirectional_attention = False  # saved with the spec
        make_causal(vlm.language_model)
        self.legacy_scale = not hasattr(vlm.language_model.embed_tokens, "embed_scale")
        self.normalizer = text.hidden_size**0.5

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = self.vlm.vision_tower(pixel_values=pixels).last_hidden_state
        return self.vlm.multi_modal_projector(hidden)

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        embeds = self.vlm.language_model.embed_tokens(ids)  # * sqrt(hidden), inside the module
        if self.legacy_scale:
            embeds = embeds * torch.tensor(self.normalizer, dtype=embeds.dtype)
        return embeds

    def run(self, embeds: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        if self.legacy_scale:  # the old Gemma forward multiplies inputs_embeds by sqrt(hidden) again
            embeds = embeds / torch.tensor(self.normalizer, dtype=embeds.dtype)
        # PaliGemma counts positions from 1 (its forward adds 1); keep that offset.
        out = self.vlm.language_model(inputs_embeds=embeds, attention_mask=mask.long(), position_ids=position_ids + 1)
        return out.last_hidden_state

    def vision_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.vlm.vision_tower.parameters())
