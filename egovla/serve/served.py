"""A policy as the server holds it: its metadata, the check of each wire observation, batched inference.

A robot sends one observation per request, a msgpack map with these keys (`metadata["observation"]`
repeats them with the exact shapes):

| key | type | required |
|---|---|---|
| `images` | uint8 (T, V, 3, H, W): T history frames (oldest first) x V camera views, at the policy's size | yes |
| `state` | float32 or float64 (D,): proprioception in the unified layout, finite | yes |
| `instruction` (or openpi's `prompt`) | str, at most the backbone's text context in tokens | yes |
| `image_mask` | bool (T, V): False where a frame is missing (default all True) | no |
| `state_mask` | bool (D,): False at dims the robot does not have (default all True) | no |
| `id` | int or str (<= 128 chars): echoed in the reply | no |

Anything else (an unknown key, a wrong dtype or shape, NaN, an over-long instruction) raises
`ObservationError` naming the key and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PROTOCOL = "egovla-serve/1"
MAX_ID_CHARS = 128


class ObservationError(ValueError):
    """A request whose observation does not match the served policy."""


class ServedPolicy:
    """Wraps a Policy (or anything with `.config` and `.predict_chunk`) plus its run settings."""

    def __init__(self, policy, *, cameras: Sequence[str] | None = None, history_s: Sequence[float] | None = None,
                 fps: float | None = None, name: str = "policy", tokenize=None):
        cfg = policy.config
        self.policy = policy
        self.image_shape = (cfg.n_history, cfg.n_views, 3, cfg.image_height, cfg.image_width)
        self.state_dim, self.chunk_len, self.action_dim = cfg.state_dim, cfg.chunk_len, cfg.action_dim
        self._tokenize = tokenize or getattr(getattr(policy, "backbone", None), "tokenize", None)
        self.max_text_tokens = cfg.backbone.max_text_len
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
            "observation": {
                "images": {"dtype": "uint8", "shape": list(self.image_shape), "required": True},
                "state": {"dtype": "float32", "shape": [self.state_dim], "required": True},
                "instruction": {"dtype": "str", "required": True, "alias": "prompt"},
                "image_mask": {"dtype": "bool", "shape": list(self.image_shape[:2]), "required": False},
                "state_mask": {"dtype": "bool", "shape": [self.state_dim], "required": False},
                "id": {"dtype": "int or str", "required": False},
            },
        }

    @classmethod
    def from_run(cls, run: str | Path, levers: Sequence[str] = ()) -> "ServedPolicy":
        from egovla.runs import load_run

        policy, info = load_run(run)
        tokenize = policy.backbone.tokenize
        if levers:
            from egovla.model.levers import apply_levers

            policy = apply_levers(policy, list(levers))
        return cls(policy, cameras=info.cameras, history_s=info.history_s, fps=info.fps,
                   name=Path(run).resolve().name, tokenize=tokenize)

    # ---- one request -------------------------------------------------------------------------------
    def check(self, message: Any) -> tuple[dict, Any]:
        """A decoded message -> (observation ready for prediction, request id or None)."""
        if not isinstance(message, dict):
            raise ObservationError(f"expected a map of observation keys, got {type(message).__name__}")
        bad = [k for k in message if not isinstance(k, str)]
        if bad:
            raise ObservationError(f"keys must be strings, got {bad[0]!r:.40}")
        msg = dict(message)
        if "prompt" in msg:
            if "instruction" in msg:
                raise ObservationError("give 'instruction' or 'prompt', not both")
            msg["instruction"] = msg.pop("prompt")
        rid = msg.pop("id", None)
        if rid is not None and not (isinstance(rid, str) and len(rid) <= MAX_ID_CHARS
                                    or isinstance(rid, int) and not isinstance(rid, bool) and abs(rid) < 2**63):
            raise ObservationError(f"'id': expected an int or a string of <= {MAX_ID_CHARS} chars, got {rid!r:.40}")
        known = set(self.metadata["observation"]) - {"id"}
        unknown = sorted(set(msg) - known)
        if unknown:
            raise ObservationError(f"unknown key(s) {unknown}; expected {sorted(known)}")
        missing = [k for k in ("images", "state", "instruction") if k not in msg]
        if missing:
            raise ObservationError(f"missing key(s) {missing}")
        obs = {
            "images": self._array(msg, "images", self.image_shape, "u"),
            "state": self._array(msg, "state", (self.state_dim,), "f").astype(np.float32),
            "instruction": self._instruction(msg["instruction"]),
            "image_mask": self._array(msg, "image_mask", self.image_shape[:2], "b")
            if "image_mask" in msg else np.ones(self.image_shape[:2], bool),
            "state_mask": self._array(msg, "state_mask", (self.state_dim,), "b")
            if "state_mask" in msg else np.ones(self.state_dim, bool),
        }
        if obs["images"].dtype != np.uint8:
            raise ObservationError(f"'images': expected dtype uint8, got {obs['images'].dtype}")
        if not np.isfinite(obs["state"]).all():
            raise ObservationError(f"'state': {int((~np.isfinite(obs['state'])).sum())} non-finite value(s)")
        return obs, rid

    def _array(self, msg: dict, key: str, shape: tuple, kinds: str) -> np.ndarray:
        value = msg[key]
        if not isinstance(value, np.ndarray):
            raise ObservationError(f"{key!r}: expected an array of shape {list(shape)}, got {type(value).__name__}")
        if value.dtype.kind not in kinds:
            raise ObservationError(f"{key!r}: expected dtype kind {kinds!r}, got {value.dtype}")
        if value.shape != tuple(shape):
            raise ObservationError(f"{key!r}: expected shape {list(shape)}, got {list(value.shape)}")
        return value

    def _instruction(self, text: Any) -> str:
        if not isinstance(text, str):
            raise ObservationError(f"'instruction': expected a string, got {type(text).__name__}")
        if len(text.encode()) > 16 * self.max_text_tokens:
            raise ObservationError(f"'instruction': {len(text)} characters, far over {self.max_text_tokens} tokens")
        if self._tokenize is not None:
            from egovla.model.tokenizer import ContextTooLongError

            try:
                self._tokenize([text])
            except ContextTooLongError as e:
                raise ObservationError(f"'instruction': {e}") from None
        return text

    # ---- a batch ------------------------------------------------------------------------------------
    def predict(self, observations: Sequence[dict]) -> list[np.ndarray]:
        """Checked observations -> one (H, D) float32 chunk each, in one forward pass."""
        import torch

        batch = {k: np.stack([o[k] for o in observations]) for k in ("images", "image_mask", "state", "state_mask")}
        batch = {k: torch.from_numpy(v) for k, v in batch.items()}
        batch["instruction"] = [o["instruction"] for o in observations]
        with torch.inference_mode():
            chunks = self.policy.predict_chunk(batch)
        return [np.ascontiguousarray(c, dtype=np.float32) for c in chunks]
