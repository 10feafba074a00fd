"""Policy configuration: plain dataclasses, saved as JSON next to the weights (`--set policy.a.b=v`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from egovla.config import from_dict
from egovla.model.backbone import BackboneConfig


@dataclass
class HeadConfig:
    """The action head. 'regression' decodes the chunk in one pass; 'flow' integrates a velocity field."""

    kind: str = "regression"
    width: int = 128
    layers: int = 2
    heads: int = 4
    dropout: float = 0.0
    flow_steps: int = 10  # integration steps at inference (flow head)
    # loss weights per slice of the unified layout (EgoVLA: translation x20, rotation x5, hand x5);
    # used when action_dim is the unified 48, else every dim weighs 1
    weight_translation: float = 20.0
    weight_rotation: float = 5.0
    weight_hand: float = 5.0


@dataclass
class PolicyConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    n_history: int = 1  # T frames per view
    n_views: int = 1  # V cameras
    image_height: int = 64
    image_width: int = 64
    state_dim: int = 48
    action_dim: int = 48
    chunk_len: int = 30  # H future steps
    n_queries: int = 8  # Q action query tokens appended inside the backbone's sequence
    norm_mode: str = "mean_std"  # or "quantile" (q01/q99 -> [-1, 1]), or per feature: "state=mean_std,action=quantile"
    sample_seed: int = 0  # seed of the flow head's initial noise in predict_chunk
    # training only: random-shift augmentation, each frame padded by this many pixels (border repeated) and
    # cropped back at a random offset (DrQ / Diffusion Policy); 0 is off. Inference never shifts.
    shift_px: int = 0
    # with shift_px: the focal length in pixels (at the training image size) of the camera whose frame the labels
    # are in (the first view); the state and action chunk are then turned with the camera turn that the first
    # view's shift amounts to (`egovla.model.augment.shift_rotation`), so they stay true to the shifted image.
    # Needs the unified layout. 0: the labels stay as recorded (plain DrQ shift).
    shift_focal_px: float = 0.0
    # the head predicts each chunk step minus the current state (delta actions, as UMI's relative trajectories
    # and pi0's delta joint actions), normalized by the statistics of those differences ("action_relative" in
    # stats.json), and the current state is added back to its output; needs state and action in one layout
    # (state_dim == action_dim, as the unified space has). The chunk returned is in absolute units either way.
    relative_action: bool = False
    # training only: an auxiliary loss on `aux_dim` per-frame targets the sample carries as "aux" (e.g. where
    # Meta-World's object and goal are; `WindowConfig.aux_key`), read by a small MLP from the action query
    # tokens, so the backbone learns to put where things are into the tokens the head reads. Weighted by
    # `aux_weight` against the action loss; 0 dims: none. Inference never reads it.
    aux_dim: int = 0
    aux_weight: float = 1.0

    @property
    def image_shape(self) -> tuple[int, int, int, int, int]:
        return (self.n_history, self.n_views, 3, self.image_height, self.image_width)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PolicyConfig":
        return from_dict(cls, d)
