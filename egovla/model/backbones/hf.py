"""Pretrained Hugging Face VLMs as EgoVLA backbones: loading, freezing, LoRA, and the saved spec.

`load_hf_backbone(cfg)` reads `cfg.path` (a local folder, or a hub id when online and cached),
picks the family from the folder's config `model_type`, and loads the pretrained weights.

`load_hf_backbone(cfg, spec_dir)` rebuilds the same architecture from a policy checkpoint's
`backbone/` folder (model config + tokenizer + preprocessor config, no weights, written by
`save_hf_spec`) with random init; the caller then loads the policy's model.safetensors over it.

Both paths apply the same adaptation, so parameter names match between them:
- `text_layers_kept = N`: the language model keeps its first N decoder layers (`cut_text_layers`, in the
  config, before the model is built: the pretrained path loads only those layers' weights; the saved spec
  then says N layers, and the same N applied to it again changes nothing);
- `freeze_vision`: the vision tower stops training; the projector/connector still trains.
- `freeze_text`: the language model's weights stop training (LoRA adapters, if any, still train).
- `lora_rank > 0`: LoRA adapters on the language model's attention q/k/v/o projections train,
  every other language-model weight (embeddings included) is frozen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import transformers
from transformers import AutoConfig, AutoTokenizer

from egovla.model.backbone import Backbone, BackboneConfig, kept_layers
from egovla.model.backbones.idefics3 import Idefics3Backbone
from egovla.model.backbones.paligemma import PaliGemmaBackbone
from egovla.model.backbones.qwen2_5_vl import Qwen2_5_VLBackbone
from egovla.model.backbones.text import HFTokenizer

PREPROCESSOR = "preprocessor_config.json"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
SIGLIP_NORM = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
CLIP_NORM = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


@dataclass(frozen=True)
class Family:
    pretrained: str  # transformers class whose checkpoint layout the hub uses; its `.model` is kept
    base: str  # the class of that `.model`, built from a config for a saved spec
    lm: str  # attribute of the base model holding the language model
    norm: tuple  # (mean, std) when the folder has no preprocessor config
    make: Callable[..., Backbone]  # (vlm, tokenizer, max_text_len, mean, std, preprocessor)


def _idefics3(vlm, tokenizer, max_text_len, mean, std, preprocessor):
    return Idefics3Backbone(vlm, tokenizer, max_text_len, image_mean=mean, image_std=std)


def _qwen(vlm, tokenizer, max_text_len, mean, std, preprocessor):
    return Qwen2_5_VLBackbone(vlm, tokenizer, max_text_len, mean, std, preprocessor)


def _paligemma(vlm, tokenizer, max_text_len, mean, std, preprocessor):
    return PaliGemmaBackbone(vlm, tokenizer, max_text_len, mean, std)


FAMILIES = {
    "idefics3": Family("Idefics3ForConditionalGeneration", "Idefics3Model", "text_model", SIGLIP_NORM, _idefics3),
    "smolvlm": Family("SmolVLMForConditionalGeneration", "SmolVLMModel", "text_model", SIGLIP_NORM, _idefics3),
    "qwen2_5_vl": Family(
        "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLModel", "language_model", CLIP_NORM, _qwen
    ),
    "paligemma": Family(
        "PaliGemmaForConditionalGeneration", "PaliGemmaModel", "language_model", SIGLIP_NORM, _paligemma
    ),
}


# ---- where the files are ------------------------------------------------------------------------
def _looks_like_hub_id(path: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", path) is not None and not path.startswith(".")


def resolve_source(path: str | Path | None, what: str = "backbone.path") -> str:
    """A local folder holding config.json, or a hub id; anything else is a clear error."""
    if path is None or str(path) == "":
        raise ValueError(f"backbone kind 'hf' needs {what}: a folder with a Hugging Face VLM (config.json, weights)")
    folder = Path(path).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{what} {str(folder)!r} has no config.json; is it a Hugging Face model folder?")
        return str(folder)
    if what == "backbone.path" and _looks_like_hub_id(str(path)):
        return str(path)  # hub id; from_pretrained resolves it (from the local cache when offline)
    raise FileNotFoundError(f"{what} {str(path)!r} does not exist or is not a folder")


def _load_config(src: str) -> Any:
    try:
        return AutoConfig.from_pretrained(src)
    except OSError as err:
        raise FileNotFoundError(f"could not load a Hugging Face config from {src!r}: {err}") from err
    except ValueError as err:  # e.g. a model_type this transformers does not know
        raise ValueError(f"{src}: {err}\nsupported hf backbone model types: {', '.join(FAMILIES)}") from err


def _family(config: Any, src: str) -> Family:
    model_type = getattr(config, "model_type", None)
    if model_type not in FAMILIES:
        raise ValueError(
            f"{src}: unsupported model_type {model_type!r} for an hf backbone; supported: {', '.join(FAMILIES)}"
        )
    return FAMILIES[model_type]


def read_preprocessor(src: str) -> dict | None:
    """The image processor settings of the folder (or hub repo), or None when it has none."""
    folder = Path(src)
    if folder.is_dir():
        file = folder / PREPROCESSOR
        return json.loads(file.read_text()) if file.is_file() else None
    from transformers.utils import cached_file

    file = cached_file(src, PREPROCESSOR, _raise_exceptions_for_missing_entries=False)
    return json.loads(Path(file).read_text()) if file else None


def _norm(preprocessor: dict | None, default: tuple) -> tuple:
    pre = preprocessor or {}
    mean, std = pre.get("image_mean"), pre.get("image_std")
    if mean is None or std is None:
        return default
    as3 = lambda v: tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else (float(v),) * 3  # noqa: E731
    return as3(mean), as3(std)


# ---- the model -----------------------------------------------------------------------------------
def cut_text_layers(config: Any, keep: int | None, where: str) -> int:
    """`BackboneConfig.text_layers_kept`: make the VLM config's language model its first `keep` decoder layers
    (0 / None: all), in place, before the model is built. Returns the number of layers kept."""
    text = config.get_text_config()
    n = kept_layers(text.num_hidden_layers, keep, where)
    if n != text.num_hidden_layers:
        text.num_hidden_layers = n
        if isinstance(getattr(text, "layer_types", None), list):  # per-layer attention kinds (Qwen2, Gemma2/3)
            text.layer_types = text.layer_types[:n]
    return n


def _load_pretrained(family: Family, src: str, config: Any, cut: bool = False) -> torch.nn.Module:
    cls = getattr(transformers, family.pretrained)
    # `cut`: `config` keeps fewer text layers than the checkpoint has (text_layers_kept): their weights are left
    # unread, and transformers' load report would list each as unexpected, so it is silenced for a cut model
    # (missing weights are checked below either way)
    verbosity = transformers.logging.get_verbosity()
    if cut:
        transformers.logging.set_verbosity_error()
    try:
        model, info = cls.from_pretrained(src, config=config, dtype=torch.float32, attn_implementation="sdpa",
                                          output_loading_info=True)
    finally:
        transformers.logging.set_verbosity(verbosity)
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith("lm_head"))
    if missing:
        raise ValueError(
            f"{src}: the checkpoint lacks {len(missing)} weights of {family.pretrained}, e.g. {missing[:3]}"
        )
    return model.model  # the lm_head is not used; it goes with the wrapper


def _build_random(family: Family, config: Any) -> torch.nn.Module:
    return getattr(transformers, family.base)._from_config(config, dtype=torch.float32, attn_implementation="sdpa")


def adapt(backbone: Backbone, language_model: torch.nn.Module, cfg: BackboneConfig) -> Backbone:
    """Apply `freeze_vision`, `freeze_text` and LoRA; the same on a fresh and a rebuilt backbone."""
    if cfg.freeze_vision:
        for p in backbone.vision_parameters():
            p.requires_grad_(False)
    if cfg.freeze_text:
        for p in language_model.parameters():
            p.requires_grad_(False)
    if cfg.lora_rank > 0:
        from peft import LoraConfig, inject_adapter_in_model

        lora = LoraConfig(
            r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=LORA_TARGETS
        )
        inject_adapter_in_model(lora, language_model)  # in place: names gain .base_layer / .lora_A.default
        for name, p in language_model.named_parameters():
            p.requires_grad_("lora_" in name)
    return backbone


def load_hf_backbone(cfg: BackboneConfig, spec_dir: str | Path | None = None) -> Backbone:
    """A pretrained VLM from `cfg.path`, or (with `spec_dir`) its architecture with random weights."""
    if spec_dir is not None:
        src = resolve_source(spec_dir, what="backbone spec folder")
    else:
        src = resolve_source(cfg.path)
    config = _load_config(src)
    family = _family(config, src)
    total = config.get_text_config().num_hidden_layers
    cut = cut_text_layers(config, cfg.text_layers_kept, where=f"backbone.text_layers_kept for {src}") < total
    vlm = _build_random(family, config) if spec_dir is not None else _load_pretrained(family, src, config, cut)
    tokenizer = HFTokenizer(AutoTokenizer.from_pretrained(src))
    preprocessor = read_preprocessor(src)
    mean, std = _norm(preprocessor, family.norm)
    backbone = family.make(vlm, tokenizer, cfg.max_text_len, mean, std, preprocessor)
    backbone.preprocessor_config = preprocessor
    return adapt(backbone, getattr(vlm, family.lm), cfg)


def save_hf_spec(backbone: Backbone, folder: str | Path) -> Path:
    """Write the model config, tokenizer and preprocessor config of `backbone` (no weights)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    backbone.vlm.config.save_pretrained(out)
    backbone.tokenizer.tokenizer.save_pretrained(out)
    preprocessor = getattr(backbone, "preprocessor_config", None)
    if preprocessor:
        (out / PREPROCESSOR).write_text(json.dumps(preprocessor, indent=2))
    return out
