"""Backbone construction: `build_backbone(cfg)` picks the family from the config.

- kind 'tiny': the built-in toy Idefics3 with random weights and the byte tokenizer.
- kind 'hf': a Hugging Face VLM folder (Idefics3/SmolVLM, Qwen2.5-VL, PaliGemma), see `hf.py`.

A saved policy keeps all weights in its own model.safetensors; for 'hf' backbones it also keeps
`backbone/` (model config + tokenizer + preprocessor config, no weights, `save_backbone_spec`),
from which `build_backbone(cfg, spec_dir=...)` rebuilds the architecture without `cfg.path`.
"""

from __future__ import annotations

from pathlib import Path

from egovla.model.backbone import Backbone, BackboneConfig

SPEC_DIRNAME = "backbone"


def build_backbone(cfg: BackboneConfig, spec_dir: str | Path | None = None) -> Backbone:
    """Pretrained (hf, from `cfg.path`) or random-init (tiny; hf with `spec_dir`) backbone, with
    `freeze_vision` / LoRA applied. With `spec_dir`, load the policy's weights over it afterwards."""
    if cfg.kind == "tiny":
        from egovla.model.backbones.hf import adapt
        from egovla.model.backbones.idefics3 import build_tiny

        backbone = build_tiny(cfg)
        backbone = adapt(backbone, backbone.vlm.text_model, cfg)
    elif cfg.kind == "hf":
        from egovla.model.backbones.hf import load_hf_backbone

        backbone = load_hf_backbone(cfg, spec_dir=spec_dir)
    else:
        raise ValueError(f"unknown backbone kind {cfg.kind!r}; expected 'tiny' or 'hf'")
    if not 0.0 < cfg.keep_visual <= 1.0:
        raise ValueError(f"backbone.keep_visual must be in (0, 1], got {cfg.keep_visual}")
    backbone.keep_visual = float(cfg.keep_visual)
    return backbone


def save_backbone_spec(backbone: Backbone, cfg: BackboneConfig, out_dir: str | Path) -> Path | None:
    """For 'hf', write `out_dir/backbone/` (configs + tokenizer, no weights); 'tiny' needs nothing."""
    if cfg.kind != "hf":
        return None
    from egovla.model.backbones.hf import save_hf_spec

    return save_hf_spec(backbone, Path(out_dir) / SPEC_DIRNAME)
