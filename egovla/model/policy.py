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
from egovla.data.contract import ContractError, fill_default_masks, validate_observation
from egovla.model.backbones import build_backbone, save_backbone_spec
from egovla.model.config import PolicyConfig
from egovla.model.heads.base import HeadInputs
from egovla.model.heads.flow import FlowHead
from egovla.model.heads.regression import RegressionHead
from egovla.model.normalize import Normalizer
from egovla.model.proprio import ProprioEncoder

FORMAT = "egovla-policy/1"
HEADS = {"regression": RegressionHead, "flow": FlowHead}


def loss_weights(cfg: PolicyConfig) -> torch.Tensor:
    """Per-dim loss weights: by slice group in the unified layout, else uniform."""
    if cfg.action_dim != spaces.ACTION_DIM:
        return torch.ones(cfg.action_dim)
    h = cfg.head
    weights = {"translation": h.weight_translation, "rotation": h.weight_rotation, "hand": h.weight_hand}
    return torch.from_numpy(spaces.group_weights(weights)).float()


class Policy(nn.Module):
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
        self.head = HEADS[config.head.kind](
            config.head, config.n_queries, config.chunk_len, config.action_dim, loss_weights(config)
        )
        self.normalizer = Normalizer(stats, {"state": config.state_dim, "action": config.action_dim}, config.norm_mode)

    @property
    def device(self) -> torch.device:
        return self.queries.device

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

    def _check(self, batch: dict[str, Any], where: str) -> dict[str, Any]:
        validate_observation(
            batch, image_shape=self.config.image_shape, state_dim=self.config.state_dim, batched=True, where=where
        )
        return fill_default_masks(dict(batch), batched=True)

    # ---- training -----------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        batch = self._check(batch, "batch")
        for key in ("action", "action_mask"):
            if key not in batch:
                raise ContractError(f"batch: missing key {key!r} needed for training; has {sorted(batch)}")
        want = (self.config.chunk_len, self.config.action_dim)
        if tuple(batch["action"].shape[1:]) != want:
            raise ContractError(f"batch: 'action' has shape {tuple(batch['action'].shape[1:])} per sample, the policy expects {want}")
        mask = batch["action_mask"].to(self.device)
        action = batch["action"].to(self.device, torch.float32)
        action = torch.where(mask, action, torch.zeros_like(action))  # padded targets may hold NaN
        target = self.normalizer.normalize("action", action)
        loss, metrics = self.head.loss(self.features(batch), target, mask)
        return loss, {"loss": loss.item(), **metrics}

    # ---- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_chunk(self, observation: dict[str, Any], generator: torch.Generator | None = None) -> np.ndarray:
        """One observation (unbatched) -> (H, D) chunk; a batched observation -> (B, H, D).

        Without a `generator`, every row starts the flow head from the same seeded noise
        (`config.sample_seed`), so a batched call returns what one call per observation would.
        """
        obs, batched = self.prepare_observation(observation)
        flow_noise = generator is None and self.config.head.kind == "flow"  # the regression head draws none
        noise = self.initial_noise(len(obs["instruction"])) if flow_noise else None
        chunk = self.head.sample(self.features(obs), generator=generator, noise=noise)
        chunk = self.normalizer.unnormalize("action", chunk.float()).cpu().numpy()
        return chunk if batched else chunk[0]

    def prepare_observation(self, observation: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Validate an observation and batch it: (batched observation with default masks, was it batched)."""
        images = observation.get("images")
        batched = hasattr(images, "shape") and len(images.shape) == 6
        validate_observation(observation, image_shape=self.config.image_shape, state_dim=self.config.state_dim,
                             batched=batched, where="observation")
        obs = {}
        for key, value in observation.items():
            if key == "instruction":
                obs[key] = list(value) if batched else [value]
            else:
                t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
                obs[key] = t if batched else t.unsqueeze(0)
        return fill_default_masks(obs, batched=True), batched

    def initial_noise(self, batch_size: int) -> torch.Tensor:
        """The flow head's seeded initial noise (`config.sample_seed`), the same for every row: (B, H, D)."""
        seeded = torch.Generator().manual_seed(self.config.sample_seed)
        shape = (self.config.chunk_len, self.config.action_dim)
        return torch.randn(shape, generator=seeded).expand(batch_size, *shape)

    # ---- persistence --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"format": FORMAT, **self.config.to_dict()}, indent=2))
        (out / "stats.json").write_text(json.dumps(self.normalizer.stats or {}, indent=2))
        save_model(self, str(out / "model.safetensors"))
        save_backbone_spec(self.backbone, self.config.backbone, out)
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "Policy":
        src = Path(directory)
        for name in ("config.json", "model.safetensors", "stats.json"):
            if not (src / name).is_file():
                raise FileNotFoundError(f"{src}: not a saved egovla policy, {name} is missing")
        raw = json.loads((src / "config.json").read_text())
        if raw.pop("format", None) != FORMAT:
            raise ValueError(f"{src / 'config.json'}: not an {FORMAT} config")
        stats = json.loads((src / "stats.json").read_text()) or None
        spec = src / "backbone"
        policy = cls(PolicyConfig.from_dict(raw), stats, backbone_spec_dir=spec if spec.is_dir() else None)
        load_model(policy, str(src / "model.safetensors"), strict=True)
        policy.eval()
        return policy
