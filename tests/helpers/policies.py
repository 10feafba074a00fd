"""Serving test helpers: a tiny random policy saved as a run folder, and observations that fit it."""

from __future__ import annotations

import json

import numpy as np
import torch

from egovla.model.backbone import BackboneConfig
from egovla.model.config import HeadConfig, PolicyConfig
from egovla.model.policy import Policy

CHUNK = 6


def tiny_policy(head: str = "regression", size: int = 32, seed: int = 0, chunk_len: int = CHUNK) -> Policy:
    torch.manual_seed(seed)
    cfg = PolicyConfig(
        backbone=BackboneConfig(image_size=size, vision_hidden=32, text_hidden=32, vision_heads=2, text_heads=2,
                                vision_layers=1, text_layers=1, max_text_len=24),
        head=HeadConfig(kind=head, width=32, layers=1, heads=2, flow_steps=2),
        image_height=size, image_width=size, chunk_len=chunk_len, n_queries=2,
    )
    return Policy(cfg, None).eval()


def write_run(root, policy: Policy, cameras=("corner",), fps=80):
    """A run folder as `egovla train` leaves it: policy/ plus data.json."""
    policy.save_pretrained(root / "policy")
    data = {"datasets": [{"name": "x", "fps": fps, "cameras": [f"observation.images.{c}" for c in cameras]}],
            "window": {"history_s": [0.0] * policy.config.n_history, "chunk_len": policy.config.chunk_len}}
    (root / "data.json").write_text(json.dumps(data))
    return root


def make_obs(i: int = 0, shape=(1, 1, 3, 32, 32), state_dim: int = 48) -> dict:
    """A valid observation whose content depends on i (so replies can be matched to requests)."""
    rng = np.random.default_rng(i)
    return {"images": rng.integers(0, 256, shape, dtype=np.uint8),
            "state": rng.normal(size=state_dim).astype(np.float32),
            "instruction": ["open the drawer", "push the puck", "reach the goal"][i % 3]}
