"""Real-size architectures built from configs, with no weights and nothing downloaded.

`smolvlm2_500m_spec(folder)` writes a SmolVLM2-500M model folder (config, tokenizer, processor files; no
model.safetensors) that transformers 4.x and 5.x both read, and `smolvla_config(folder)` the SmolVLA-class
PolicyConfig over it. `egovla bench --model smolvla` and benchmarks/vs_lerobot.py build from them.
"""

from __future__ import annotations

import json
from pathlib import Path

# HuggingFaceTB/SmolVLM2-500M-Video-Instruct: SigLIP-B/16 at 512 px, pixel shuffle x4, SmolLM2-360M
SMOLVLM2_TEXT = {
    "model_type": "llama", "architectures": ["VLlama3ForCausalLM"], "vocab_size": 49280, "hidden_size": 960,
    "intermediate_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 15, "num_key_value_heads": 5,
    "head_dim": 64, "hidden_act": "silu", "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
    "rope_theta": 100000.0, "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
    "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "initializer_range": 0.02,
}
SMOLVLM2_VISION = {
    "model_type": "smolvlm_vision", "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "image_size": 512, "patch_size": 16, "num_channels": 3, "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
}
# SmolVLM2's special tokens at their ids (its processor and LeRobot's SmolVLA look these up by name)
SMOLVLM2_SPECIALS = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "<global-img>": 49152,
                     **{f"<row_{r}_col_{c}>": 49152 + 6 * (r - 1) + c for r in range(1, 7) for c in range(1, 7)},
                     "<fake_token_around_image>": 49189, "<image>": 49190, "<end_of_utterance>": 49279}
SMOLVLM2_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == "
    "'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}"
    "{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")


def smolvlm2_500m_spec(folder: Path, image_size: int = 512, text: dict | None = None,
                       vision: dict | None = None) -> Path:
    """A SmolVLM2-500M-shaped model folder without weights: the files a SmolVLM2 checkpoint has besides
    model.safetensors, written as the hub has them, so transformers 4.x (LeRobot's SmolVLA loader:
    AutoConfig, AutoProcessor) and 5.x (egovla's hf backbone) both read them.

    Sizes as HuggingFaceTB/SmolVLM2-500M-Video-Instruct: SigLIP-B/16 at 512 px (12 layers, 768 wide),
    pixel shuffle x4 (64 tokens per image), SmolLM2-360M (32 layers, 960 wide, 15 heads, 5 KV heads, a
    49280-token vocabulary). `image_size` sets the vision tower's side (256: 16 tokens per image, the
    compute of SmolVLM at 256 px); `text` / `vision` override config fields (toy sizes in tests).
    The tokenizer is a stand-in of the real size: SmolVLM2's special tokens at their ids, one token per
    byte for text (no BPE merges), so instructions are ~4x more tokens than with SmolVLM's own BPE: text
    costs are, if anything, overstated (for both sides of a comparison that uses this folder).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    text_cfg = {**SMOLVLM2_TEXT, **(text or {})}
    vision_cfg = {**SMOLVLM2_VISION, "image_size": image_size, **(vision or {})}
    grid = vision_cfg["image_size"] // vision_cfg["patch_size"]
    scale = 4
    if vision_cfg["image_size"] % vision_cfg["patch_size"] or grid % scale:
        raise ValueError(f"image_size {vision_cfg['image_size']}: the patch grid must be a multiple of {scale}")
    image_seq_len = (grid // scale) ** 2
    config = {"architectures": ["SmolVLMForConditionalGeneration"], "model_type": "smolvlm", "image_token_id": 49190,
              "scale_factor": scale, "pad_token_id": 2, "tie_word_embeddings": False, "use_cache": True,
              "vocab_size": text_cfg["vocab_size"], "text_config": text_cfg, "vision_config": vision_cfg}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 0, "eos_token_id": 49279,
                                                               "pad_token_id": 2}))
    # the tokenizer: byte-level, the real vocabulary size, SmolVLM2's special tokens at their ids
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    vocab.update({ch: i + 3 for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))})
    by_id = {i: t for t, i in SMOLVLM2_SPECIALS.items()}
    for i in range(len(vocab), text_cfg["vocab_size"]):
        vocab[by_id.get(i, f"<|reserved_{i}|>")] = i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SMOLVLM2_SPECIALS])
    tok.save(str(folder / "tokenizer.json"))
    added = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                      "special": True} for t, i in SMOLVLM2_SPECIALS.items()}
    extra = {"end_of_utterance_token": "<end_of_utterance>", "fake_image_token": "<fake_token_around_image>",
             "global_image_token": "<global-img>", "image_token": "<image>"}
    specials = {"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<|im_end|>",
                "unk_token": "<|endoftext|>"}
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GPT2Tokenizer", "added_tokens_decoder": added, **specials,
        "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
        "extra_special_tokens": extra, "add_prefix_space": False, "clean_up_tokenization_spaces": False,
        "model_max_length": 8192, "processor_class": "SmolVLMProcessor"}, indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps({**specials, "additional_special_tokens": [
        "<fake_token_around_image>", "<image>", "<end_of_utterance>"]}, indent=2))
    # the processor (SmolVLMProcessor: image processor, video processor, tokenizer, chat template)
    norm = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "do_normalize": True, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_convert_rgb": True, "do_resize": True, "resample": 1}
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "SmolVLMImageProcessor", "processor_class": "SmolVLMProcessor", **norm,
        "do_image_splitting": True, "do_pad": True, "max_image_size": {"longest_edge": vision_cfg["image_size"]},
        "size": {"longest_edge": 4 * vision_cfg["image_size"]},
        "video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": vision_cfg["image_size"]}}},
        indent=2))
    (folder / "video_preprocessor_config.json").write_text(json.dumps({
        "video_processor_type": "SmolVLMVideoProcessor", "processor_class": "SmolVLMProcessor", **norm,
        "do_pad": True, "max_image_size": {"longest_edge": vision_cfg["image_size"]},
        "size": {"longest_edge": vision_cfg["image_size"]}, "fps": 1, "num_frames": 64}, indent=2))
    (folder / "processor_config.json").write_text(json.dumps({"image_seq_len": image_seq_len,
                                                              "processor_class": "SmolVLMProcessor"}))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": SMOLVLM2_CHAT_TEMPLATE}))
    return folder


# SmolVLA (LeRobot's SmolVLAConfig defaults): SmolVLM2-500M with its language model cut to the first 16 of 32
# layers, 2 camera views, a ~100M flow-matching action expert, chunk 50, 10 flow steps, 48 text tokens.
# egovla's preset has its own head (a pre-norm transformer decoder, self- and cross-attention in every layer)
# at SmolVLA's expert width (0.75 x 960 = 720) and size: 12 layers, 99.8M parameters (SmolVLA's expert: 16
# layers alternating self- and cross-attention, 98.2M); state 8, action 7.
SMOLVLA = {"text_layers_kept": 16, "n_views": 2, "chunk_len": 50, "flow_steps": 10, "max_text_len": 48,
           "state_dim": 8, "action_dim": 7, "head_width": 720, "head_layers": 12, "head_heads": 12, "n_queries": 8}


def smolvla_config(spec_dir: str | Path, image_size: int = 256, **sizes):
    """The SmolVLA-class PolicyConfig over a SmolVLM2-shaped folder (`smolvlm2_500m_spec`): `sizes` override
    SMOLVLA's entries (tests build it at toy widths with the same structure)."""
    from egovla.model.backbone import BackboneConfig
    from egovla.model.config import HeadConfig, PolicyConfig

    unknown = set(sizes) - set(SMOLVLA)
    if unknown:
        raise ValueError(f"smolvla_config: unknown sizes {sorted(unknown)}; known: {sorted(SMOLVLA)}")
    k = {**SMOLVLA, **sizes}
    return PolicyConfig(
        backbone=BackboneConfig(kind="hf", path=str(spec_dir), max_text_len=k["max_text_len"],
                                text_layers_kept=k["text_layers_kept"]),
        head=HeadConfig(kind="flow", width=k["head_width"], layers=k["head_layers"], heads=k["head_heads"],
                        flow_steps=k["flow_steps"]),
        n_views=k["n_views"], image_height=image_size, image_width=image_size, state_dim=k["state_dim"],
        action_dim=k["action_dim"], chunk_len=k["chunk_len"], n_queries=k["n_queries"])
