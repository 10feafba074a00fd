"""A policy as the server holds it: its metadata, the check of each wire observation, batched inference.

A robot sends one observation per request, a msgpack map with the keys of the observation contract
(`egovla.observation`; `metadata["observation"]` repeats them with the exact shapes) plus an
optional `id` (int, or str of <= 128 chars) that the reply echoes. `check` validates a request once
(wire details here, the observation through `ObservationSpec.check`) and raises `ObservationError`
naming the key and what was expected; `predict` runs checked observations in one forward pass
without checking them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from egovla.observation import IMAGES, ObservationError, is_batched, stack

PROTOCOL = "egovla-serve/1"
MAX_ID_CHARS = 128


class ServedPolicy:
    """Wraps a Policy (or anything with `.config`, `.observation_spec` and `.predict_checked`) plus its
    run settings."""

    def __init__(self, policy, *, cameras: Sequence[str] | None = None, history_s: Sequence[float] | None = None,
                 fps: float | None = None, name: str = "policy"):
        cfg = policy.config
        self.policy = policy
        self.spec = policy.observation_spec
        self.image_shape = self.spec.image_shape
        self.state_dim, self.chunk_len, self.action_dim = cfg.state_dim, cfg.chunk_len, cfg.action_dim
        self.max_text_tokens = self.spec.max_text_tokens
        action_names = None
        if cfg.action_dim == 48:
            from egovla import spaces

            action_names = spaces.names()
        self.metadata = {
            "protocol": PROTOCOL,
            "policy": name,
            "chunk_len": self.chunk_len,
            "action_dim": self.action_dim,
            "action_names": action_names,
            "action_space": "unified: wrist and fingertip targets in the current camera frame (see egovla.spaces)"
            if action_names else "dataset-native action vector",
            "fps": fps,
            "cameras": list(cameras) if cameras else None,
            "history_s": list(history_s) if history_s else [0.0] * cfg.n_history,
            "image_shape": list(self.image_shape),
            "state_dim": self.state_dim,
            "max_instruction_tokens": self.max_text_tokens,
            "observation": {**self.spec.table(), "id": {"dtype": "int or str", "required": False}},
        }

    @classmethod
    def from_run(cls, run: str | Path, levers: Sequence[str] = ()) -> "ServedPolicy":
        from egovla.runs import load_run

        loaded = load_run(run, levers)
        r = loaded.record
        return cls(loaded.policy, cameras=r.cameras, history_s=r.history_s, fps=r.fps, name=loaded.name)

    # ---- one request -------------------------------------------------------------------------------
    def check(self, message: Any) -> tuple[dict, Any]:
        """A decoded message -> (observation ready for prediction, request id or None)."""
        if not isinstance(message, dict):
            raise ObservationError(f"expected a map of observation keys, got {type(message).__name__}")
        msg = dict(message)
        rid = msg.pop("id", None)
        if rid is not None and not (isinstance(rid, str) and len(rid) <= MAX_ID_CHARS
                                    or isinstance(rid, int) and not isinstance(rid, bool) and abs(rid) < 2**63):
            raise ObservationError(f"'id': expected an int or a string of <= {MAX_ID_CHARS} chars, got {rid!r:.40}")
        if is_batched(msg):
            raise ObservationError(f"{IMAGES!r}: one observation per request, expected shape "
                                   f"{list(self.image_shape)}, got {list(msg[IMAGES].shape)}")
        return self.spec.check(msg), rid

    # ---- a batch ------------------------------------------------------------------------------------
    def predict(self, observations: Sequence[dict]) -> list[np.ndarray]:
        """Checked observations -> one (H, D) float32 chunk each, in one forward pass."""
        import torch

        with torch.inference_mode():
            chunks = self.policy.predict_checked(stack(observations))
        return [np.ascontiguousarray(c, dtype=np.float32) for c in chunks]
