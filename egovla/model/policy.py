"""The EgoVLA policy: backbone + action query tokens + proprio tokens + action head.

    images (T x V) + instruction ──► backbone ──► hidden states ──┐
    Q learned query tokens, appended after vision + text ─────────┤ (read out)
    state ──► per-slice MLPs ──► proprio tokens ──────────────────┼──► head ──► chunk (H x D)

`forward(batch) -> (loss, metrics)` trains; `predict_chunk(observation)` returns an
unnormalized chunk in the action space; `save_pretrained` / `from_pretrained` use
config.json + model.safetensors + stats.json (no pickle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from egovla import spaces
from egovla.data.sample import check_targets
from egovla.model.augment import rotate_unified, shift_images, shift_rotation
from egovla.model.backbones import build_backbone, save_backbone_spec
from egovla.model.config import PolicyConfig
from egovla.model.heads.base import ActionHead, HeadInputs
from egovla.model.heads.flow import FlowHead
from egovla.model.heads.regression import RegressionHead
from egovla.model.normalize import Normalizer
from egovla.model.proprio import ProprioEncoder
from egovla.observation import ObservationSpec, is_batched

FORMAT = "egovla-policy/1"
HEADS: dict[str, type[ActionHead]] = {"regression": RegressionHead, "flow": FlowHead}


def loss_weights(cfg: PolicyConfig) -> torch.Tensor:
    """Per-dim loss weights: by slice group in the unified layout, else uniform."""
    if cfg.action_dim != spaces.ACTION_DIM:
        return torch.ones(cfg.action_dim)
    h = cfg.head
    weights = {"translation": h.weight_translation, "rotation": h.weight_rotation, "hand": h.weight_hand}
    return torch.from_numpy(spaces.group_weights(weights)).float()


def _tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


class ChunkPredictor:
    """`predict_chunk(observation)`: check once against `observation_spec`, then `predict_checked`.
    Shared by the Policy and the policies with inference levers (`egovla.model.levers`)."""

    observation_spec: ObservationSpec

    def predict_chunk(self, observation: dict[str, Any], generator: torch.Generator | None = None) -> np.ndarray:
        """One observation (unbatched) -> (H, D) chunk; a batched observation -> (B, H, D).

        Without a `generator`, every row starts a noise-drawing head (flow) from the same seeded noise
        (`config.sample_seed`), so a batched call returns what one call per observation would.
        """
        batched = is_batched(observation)
        obs = self.observation_spec.check(observation)
        if not batched:
            obs = {k: v if k == "instruction" else v[None] for k, v in obs.items()}
            obs["instruction"] = [obs["instruction"]]
        chunk = self.predict_checked(obs, generator)
        return chunk if batched else chunk[0]

    def predict_checked(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> np.ndarray:
        raise NotImplementedError


class Policy(ChunkPredictor, nn.Module):
    def __init__(self, config: PolicyConfig, stats: dict | None = None, backbone_spec_dir: Path | None = None):
        super().__init__()
        if config.head.kind not in HEADS:
            raise ValueError(f"unknown head {config.head.kind!r}; expected one of {sorted(HEADS)}")
        self.config = config
        self.backbone = build_backbone(config.backbone, spec_dir=backbone_spec_dir)
        hidden, width = self.backbone.hidden_size, config.head.width
        self.queries = nn.Parameter(torch.randn(config.n_queries, hidden) * 0.02)
        self.context_proj = nn.Linear(hidden, width)
        self.proprio = ProprioEncoder(config.state_dim, width)
        self.head: ActionHead = HEADS[config.head.kind](
            config.head, config.n_queries, config.chunk_len, config.action_dim, loss_weights(config)
        )
        if config.shift_focal_px and not config.state_dim == config.action_dim == spaces.ACTION_DIM:
            raise ValueError(f"shift_focal_px turns the labels with the shifted camera, which needs the unified "
                             f"layout: state_dim {config.state_dim}, action_dim {config.action_dim}, not "
                             f"{spaces.ACTION_DIM}")
        if config.relative_action and config.state_dim != config.action_dim:
            raise ValueError(f"relative_action needs state and action in one layout: state_dim {config.state_dim} "
                             f"!= action_dim {config.action_dim}")
        dims = {"state": config.state_dim, "action": config.action_dim}
        if config.aux_dim:
            if stats and "aux" not in stats:
                raise ValueError(f"aux_dim {config.aux_dim}: the statistics have no 'aux' entry (they hold "
                                 f"{sorted(stats)}); compute them from data whose samples carry 'aux'")
            dims["aux"] = config.aux_dim
            self.aux_head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, config.aux_dim))
        self.normalizer = Normalizer(stats, dims, config.norm_mode,
                                     sources={"action": "action_relative"} if config.relative_action else None)

    @property
    def device(self) -> torch.device:
        return self.queries.device

    @property
    def observation_spec(self) -> ObservationSpec:
        tokenizer = self.backbone.tokenizer
        return ObservationSpec(self.config.image_shape, self.config.state_dim, self.backbone.max_text_len,
                               count_tokens=lambda text: len(tokenizer.encode(text)))

    # ---- the shared trunk -------------------------------------------------------------------
    def features(self, batch: dict[str, Any]) -> HeadInputs:
        b = batch["images"].shape[0]
        suffix = self.queries.unsqueeze(0).expand(b, -1, -1)
        states, mask, _ = self.backbone.encode(
            batch["images"], batch["image_mask"], list(batch["instruction"]), suffix
        )
        return self.head_inputs(states, mask, batch["state"], batch["state_mask"])

    def head_inputs(self, states: torch.Tensor, mask: torch.Tensor, state: torch.Tensor,
                    state_mask: torch.Tensor) -> HeadInputs:
        """The head's conditioning from the backbone's states (B, L, hidden) and the raw state (B, S)."""
        state = self.normalizer.normalize("state", state.to(self.device, torch.float32))
        proprio = self.proprio(state, state_mask.to(self.device))
        ctx = self.context_proj(states.float())
        return HeadInputs(context=ctx, context_mask=mask, queries=ctx[:, -self.config.n_queries :], proprio=proprio)

    # ---- training -----------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        obs = self.observation_spec.check(batch)
        if not is_batched(batch):
            raise ValueError("forward takes a batch (collated samples); use predict_chunk for one observation")
        check_targets(batch, lead=(len(obs["instruction"]),), shape=(self.config.chunk_len, self.config.action_dim),
                      where="batch")
        obs = {k: v if k == "instruction" else _tensor(v) for k, v in obs.items()}
        mask = _tensor(batch["action_mask"]).to(self.device)
        action = _tensor(batch["action"]).to(self.device, torch.float32)
        action = torch.where(mask, action, torch.zeros_like(action))  # padded targets may hold NaN
        if self.training and self.config.shift_px:
            obs["images"], moved = shift_images(obs["images"], self.config.shift_px)
            if self.config.shift_focal_px:  # the labels turn with the first view, whose frame they are in
                rot = shift_rotation(moved[:, 0], self.config.shift_focal_px).to(self.device)
                action = rotate_unified(action, rot)
                obs["state"] = rotate_unified(obs["state"].to(self.device, torch.float32), rot)
        target = self.normalizer.normalize("action", action - self.anchor(obs["state"], obs["state_mask"]))
        feats = self.features(obs)
        loss, metrics = self.head.loss(feats, target, mask)
        if not self.config.aux_dim:
            return loss, {"loss": loss.item(), **metrics}
        aux = self.aux_loss(feats, batch)
        total = loss + self.config.aux_weight * aux
        return total, {"loss": total.item(), "action_loss": loss.item(), "aux_loss": aux.item(), **metrics}

    def aux_loss(self, feats: HeadInputs, batch: dict[str, Any]) -> torch.Tensor:
        """Mean squared error of the auxiliary targets (normalized), read from the mean query token."""
        missing = [k for k in ("aux", "aux_mask") if k not in batch]
        if missing:
            raise ValueError(f"batch: missing {missing}; this policy has aux_dim {self.config.aux_dim}, so its "
                             f"training samples need auxiliary targets (WindowConfig.aux_key)")
        aux, mask = _tensor(batch["aux"]).to(self.device, torch.float32), _tensor(batch["aux_mask"]).to(self.device)
        if tuple(aux.shape[1:]) != (self.config.aux_dim,) or tuple(mask.shape) != tuple(aux.shape):
            raise ValueError(f"batch: 'aux' has shape {tuple(aux.shape)} and 'aux_mask' {tuple(mask.shape)}; the "
                             f"policy expects (B, {self.config.aux_dim}) for both")
        target = self.normalizer.normalize("aux", torch.where(mask, aux, torch.zeros_like(aux)))
        pred = self.aux_head(feats.queries.mean(1)).float()
        err = torch.where(mask, (pred - target) ** 2, torch.zeros_like(pred))
        return err.sum() / mask.sum().clamp(min=1)

    # ---- inference ----------------------------------------------------------------------------
    def chunk_inputs(self, batch: dict[str, Any], generator: torch.Generator | None = None,
                     text_len: int | None = None) -> tuple:
        """A checked batch -> the tensors of `chunk`: (images, image_mask, ids, text_mask, state, state_mask,
        noise). `text_len` pads the tokens to a fixed width (one exported graph per batch size)."""
        ids, text_mask = self.backbone.tokenize(list(batch["instruction"]))
        if text_len is not None and ids.shape[1] < text_len:
            n, pad = ids.shape[0], text_len - ids.shape[1]
            ids = torch.cat([ids, ids.new_full((n, pad), self.backbone.tokenizer.pad_id)], 1)
            text_mask = torch.cat([text_mask, text_mask.new_zeros((n, pad))], 1)
        noise = self.head.initial_noise(ids.shape[0], generator=generator, seed=self.config.sample_seed)
        noise = None if noise is None else noise.contiguous()
        return (_tensor(batch["images"]), _tensor(batch["image_mask"]), ids, text_mask,
                _tensor(batch["state"]).to(torch.float32), _tensor(batch["state_mask"]), noise)

    def chunk(self, images, image_mask, ids, text_mask, state, state_mask, noise=None) -> torch.Tensor:
        """The chunk computation, from tensors only (traceable): (B, H, D) unnormalized actions."""
        return self.decode(self.chunk_normalized(images, image_mask, ids, text_mask, state, state_mask, noise),
                           state, state_mask)

    def anchor(self, state: torch.Tensor, state_mask: torch.Tensor) -> torch.Tensor:
        """What the head's chunk is relative to, (B, 1, D): the current state (0 where it is masked) with
        `config.relative_action`, else 0."""
        if not self.config.relative_action:
            return torch.zeros((), device=self.device)
        state = state.to(self.device, torch.float32)
        return torch.where(state_mask.to(self.device), state, torch.zeros_like(state)).unsqueeze(1)

    def decode(self, normalized: torch.Tensor, state: torch.Tensor, state_mask: torch.Tensor) -> torch.Tensor:
        """The head's (B, H, D) output in normalized units -> the chunk in absolute action units."""
        return self.normalizer.unnormalize("action", normalized.to(self.device)) + self.anchor(state, state_mask)

    def chunk_normalized(self, images, image_mask, ids, text_mask, state, state_mask, noise=None) -> torch.Tensor:
        """`chunk` before its unnormalization: (B, H, D) float32 in normalized units (what compile and onnx take)."""
        suffix = self.queries.unsqueeze(0).expand(images.shape[0], -1, -1)
        states, mask, _ = self.backbone.encode_tokens(images, image_mask, ids, text_mask, suffix)
        return self.head.sample(self.head_inputs(states, mask, state, state_mask), noise=noise).float()

    @torch.no_grad()
    def predict_checked(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> np.ndarray:
        """A batch already checked against `observation_spec` -> (B, H, D) chunk, without checking again."""
        return self.chunk(*self.chunk_inputs(batch, generator)).float().cpu().numpy()

    # ---- starting from another policy ---------------------------------------------------------
    def load_weights_from(self, source: "Policy", where: str = "the initial policy") -> None:
        """Copy every weight of `source` (pretraining -> fine-tuning); the architectures must match tensor for
        tensor, and a mismatch names the first tensors that differ."""
        mine, theirs = self.state_dict(), source.state_dict()
        missing, extra = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        if missing or extra:
            raise ValueError(f"{where} has another architecture: it lacks {missing[:3] or 'nothing'} and has "
                             f"{extra[:3] or 'nothing'} more (head kind, backbone or LoRA differ?)")
        wrong = [f"{k}: {tuple(theirs[k].shape)} there, {tuple(v.shape)} here" for k, v in mine.items()
                 if tuple(v.shape) != tuple(theirs[k].shape)]
        if wrong:
            raise ValueError(f"{where} does not fit this policy's shapes: {'; '.join(wrong[:3])}"
                             f"{f' (and {len(wrong) - 3} more)' if len(wrong) > 3 else ''}")
        self.load_state_dict(theirs, strict=True)

    # ---- persistence --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"format": FORMAT, **self.config.to_dict()}, indent=2))
        (out / "stats.json").write_text(json.dumps(self.normalizer.stats or {}, indent=2))
        save_model(self, str(out / "model.safetensors"))
        save_backbone_spec(self.backbone, self.config.backbone, out)
        return out

    @staticmethod
    def read_config(directory: str | Path) -> PolicyConfig:
        """A saved policy's PolicyConfig (its config.json), without building the model."""
        raw = json.loads((Path(directory) / "config.json").read_text())
        if raw.pop("format", None) != FORMAT:
            raise ValueError(f"{Path(directory) / 'config.json'}: not an {FORMAT} config")
        return PolicyConfig.from_dict(raw)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "Policy":
        src = Path(directory)
        for name in ("config.json", "model.safetensors", "stats.json"):
            if not (src / name).is_file():
                raise FileNotFoundError(f"{src}: not a saved egovla policy, {name} is missing")
        stats = json.loads((src / "stats.json").read_text()) or None
        spec = src / "backbone"
        policy = cls(cls.read_config(src), stats, backbone_spec_dir=spec if spec.is_dir() else None)
        load_model(policy, str(src / "model.safetensors"), strict=True)
        policy.eval()
        return policy
