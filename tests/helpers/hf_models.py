"""Tiny random Hugging Face VLMs of every family egovla adapts, saved to local folders (no hub access).

`tiny_model(family, text_layers)` -> (model, preprocessor config or None) at toy scale, 4 image tokens per frame;
`tokenizer()` a word-level tokenizer over a few instruction words; `save_folders(tmp_path_factory, families)` one
folder per family holding a model, its tokenizer and its preprocessor config, as a downloaded checkpoint does.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    LlamaConfig,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
)

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>", "<|vision_start|>", "<|vision_end|>"]
WORDS = "pick up the red green blue cup open close door put block in box a and then on table".split()
VOCAB = 64
HIDDEN = 64
LM = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=96, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        additional_special_tokens=SPECIALS[4:],
    )


def tiny_model(family: str, text_layers: int = LM["num_hidden_layers"]):
    """(model, preprocessor config or None) at toy scale; 4 image tokens per frame for every family."""
    lm = dict(LM, num_hidden_layers=text_layers)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    if family in ("idefics3", "smolvlm"):
        cls, cfg_cls = ((Idefics3ForConditionalGeneration, Idefics3Config) if family == "idefics3"
                        else (SmolVLMForConditionalGeneration, SmolVLMConfig))
        config = cfg_cls(vision_config=dict(vision, image_size=32, patch_size=8),
                         text_config=LlamaConfig(**lm).to_dict(), scale_factor=2, image_token_id=4, pad_token_id=0)
        return cls(config), {"image_mean": [0.4, 0.4, 0.4], "image_std": [0.3, 0.3, 0.3]}
    if family == "qwen2_5_vl":
        text = dict(lm, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]})
        vis = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=HIDDEN, patch_size=14,
                   spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1])
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vis, image_token_id=4, video_token_id=4,
                                  vision_start_token_id=5, vision_end_token_id=6)
        return Qwen2_5_VLForConditionalGeneration(config), {"min_pixels": 28 * 28, "max_pixels": 56 * 56}
    config = PaliGemmaConfig(
        vision_config=dict(vision, model_type="siglip_vision_model", image_size=28, patch_size=14,
                           vision_use_head=False),  # as in real PaliGemma checkpoints
        text_config=dict(lm, model_type="gemma", head_dim=16, num_key_value_heads=1),
        projection_dim=HIDDEN, hidden_size=HIDDEN, vocab_size=VOCAB, image_token_index=4,
    )
    return PaliGemmaForConditionalGeneration(config), None


def save_folders(tmp_path_factory, families, text_layers: int = LM["num_hidden_layers"]) -> dict[str, Path]:
    out = {}
    for family in families:
        torch.manual_seed(0)
        model, preprocessor = tiny_model(family, text_layers)
        folder = tmp_path_factory.mktemp(family)
        model.save_pretrained(folder)
        tokenizer().save_pretrained(folder)
        if preprocessor is not None:
            (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
        out[family] = folder
    return out
