"""Tiny random policies for tests: configs, a policy saved as a run folder, and observations that fit them."""

from __future__ import annotations

import numpy as np
import torch

from egovla.model.backbone import BackboneConfig
from egovla.model.config import HeadConfig, PolicyConfig
from egovla.model.policy import Policy
from egovla.runs import RunRecord, write_record

CHUNK = 6


def tiny_config(head: str) -> PolicyConfig:
    """The model tests' policy: tiny widths, 32 px, chunk CHUNK, flow with 3 Euler steps."""
    return PolicyConfig(
        backbone=BackboneConfig(image_size=32, vision_hidden=32, text_hidden=32, vision_heads=2, text_heads=2,
                                vision_layers=1, text_layers=1),
        head=HeadConfig(kind=head, width=32, layers=1, heads=2, flow_steps=3),
        image_height=32, image_width=32, chunk_len=CHUNK, n_queries=4,
    )


def obs_of(sample: dict) -> dict:
    """A training sample's observation part (what predict_chunk takes)."""
    return {k: sample[k] for k in ("images", "instruction", "state")}


def tiny_policy(head: str = "regression", size: int = 32, seed: int = 0, chunk_len: int = CHUNK,
                max_text_len: int = 24) -> Policy:
    torch.manual_seed(seed)
    cfg = PolicyConfig(
        backbone=BackboneConfig(image_size=size, vision_hidden=32, text_hidden=32, vision_heads=2, text_heads=2,
                                vision_layers=1, text_layers=1, max_text_len=max_text_len),
        head=HeadConfig(kind=head, width=32, layers=1, heads=2, flow_steps=2),
        image_height=size, image_width=size, chunk_len=chunk_len, n_queries=2,
    )
    return Policy(cfg, None).eval()


def write_run(root, policy: Policy, cameras=("corner",), fps=80):
    """A run folder as `egovla train` leaves it: policy/ plus run.json."""
    policy.save_pretrained(root / "policy")
    write_record(root, RunRecord(history_s=(0.0,) * policy.config.n_history, cameras=tuple(cameras), fps=float(fps),
                                 chunk_len=policy.config.chunk_len))
    return root


def make_obs(i: int = 0, shape=(1, 1, 3, 32, 32), state_dim: int = 48) -> dict:
    """A valid observation whose content depends on i (so replies can be matched to requests)."""
    rng = np.random.default_rng(i)
    return {"images": rng.integers(0, 256, shape, dtype=np.uint8),
            "state": rng.normal(size=state_dim).astype(np.float32),
            "instruction": ["open the drawer", "push the puck", "reach the goal"][i % 3]}
