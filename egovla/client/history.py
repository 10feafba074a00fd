"""Robot side: camera frames streamed at the control rate -> the model's image input with history.

A policy trained with history offsets (seconds, e.g. [-0.5, 0.0]) sees T frames per view. The robot
pushes its views every control step; `observation()` picks the frames at those offsets (before the
first frame: the first frame repeated and masked), resizes them to the trained size and returns
the observation dict a policy or a policy server expects:

    images (T, V, 3, H, W) uint8, image_mask (T, V) bool, instruction str, state (D,) float32[, state_mask]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from egovla.observation import history_offsets, resize_frames


class FrameHistory:
    def __init__(self, cameras: Sequence[str], history_s: Sequence[float], fps: float, size: tuple[int, int],
                 n_views: int | None = None):
        if not cameras:
            raise ValueError("cameras: need at least one camera name")
        if fps <= 0:
            raise ValueError(f"fps: expected > 0, got {fps}")
        self.cameras = list(cameras)
        self.offsets = history_offsets(history_s, fps)
        self.size = tuple(size)
        self.n_views = n_views or len(self.cameras)
        if self.n_views < len(self.cameras):
            raise ValueError(f"{len(self.cameras)} cameras for a policy with {self.n_views} views")
        self._frames: deque[np.ndarray] = deque(maxlen=int(-self.offsets.min()) + 1)
        self._count = 0

    @classmethod
    def from_metadata(cls, metadata: Mapping, fps: float | None = None) -> "FrameHistory":
        """From a policy server's metadata; `fps` is the robot's step rate (default: the training data's)."""
        t, v, _, h, w = metadata["image_shape"]
        rate = fps or metadata.get("fps") or 1.0
        cameras = metadata.get("cameras") or [f"view{i}" for i in range(v)]
        return cls(cameras, metadata.get("history_s") or [0.0] * t, rate, (h, w), n_views=v)

    def reset(self) -> None:
        self._frames.clear()
        self._count = 0

    def push(self, images: Mapping[str, np.ndarray]) -> None:
        """One control step's views {camera: (H, W, 3) uint8}, any resolution."""
        missing = [c for c in self.cameras if c not in images]
        if missing:
            raise KeyError(f"images: missing camera(s) {missing}; have {sorted(images)}")
        views = resize_frames(np.stack([np.asarray(images[c]) for c in self.cameras]), self.size)
        self._frames.append(views.transpose(0, 3, 1, 2))
        self._count += 1

    def skip(self) -> None:
        """A control step whose views were not rendered (no observation will read them): time moves on."""
        self._frames.append(None)
        self._count += 1

    def observation(self, instruction: str, state: np.ndarray, state_mask: np.ndarray | None = None) -> dict:
        if not self._count:
            raise RuntimeError("observation() before any frame was pushed")
        idx = self._count - 1 + self.offsets  # absolute step of each history frame
        first = self._count - len(self._frames)  # absolute step of the oldest kept frame
        frames = [self._frames[max(i, 0) - first] for i in idx]
        if any(f is None for f in frames):
            skipped = [int(max(i, 0)) for i, f in zip(idx, frames) if f is None]
            raise RuntimeError(f"the frames of step(s) {skipped} were skipped, and this observation needs them")
        images = np.stack(frames)
        mask = np.repeat((idx >= 0)[:, None], len(self.cameras), axis=1)
        pad = self.n_views - len(self.cameras)
        if pad:
            images = np.concatenate([images, np.zeros((len(idx), pad, *images.shape[2:]), np.uint8)], axis=1)
            mask = np.concatenate([mask, np.zeros((len(idx), pad), bool)], axis=1)
        obs = {"images": np.ascontiguousarray(images), "image_mask": mask, "instruction": instruction,
               "state": np.asarray(state, dtype=np.float32)}
        if state_mask is not None:
            obs["state_mask"] = np.asarray(state_mask, dtype=bool)
        return obs
