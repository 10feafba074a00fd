"""Training windows over a LeRobot dataset: history frames, current state, a future action chunk.

`WindowDataset(reader, WindowConfig(...))[i]` is a sample in the contract of `data/sample.py`
for global frame i:

- images: frames at `history` offsets in seconds (EgoVLA: 6 frames 0.2 s apart, `(-1.0, -0.8,
  ..., 0.0)`), rounded to frames; offsets before the episode start repeat its first frame and
  are marked False in `image_mask`.
- state: the state feature at i; action: the next `chunk_len` rows of the action feature
  (i, i+1, ...); steps past the episode end repeat the last action and are masked out. A 2-D
  action feature (H', D) is already a chunk per frame (human video: future poses in the frame's
  own camera) and is used as it is.
- Both are mapped into the policy's space by `SpaceMap`: features whose names are slots of the
  unified 48-slot layout go to those slots (the rest masked); other (robot-native) vectors fill
  the first dims. An optional `<key>_mask` feature (0/1 per dim) masks more.
- An optional `<action_key>_keep` feature (0/1 per frame) leaves frames out as samples (human video:
  frames whose chunk is mostly untracked); they still serve as history and chunk steps.
- With `aux_key` (e.g. Meta-World's `observation.environment_state`), `aux` holds that vector's `aux_dims` at
  the frame (default: the task's first object and its goal, dims 4-6 and 36-38): targets of an auxiliary loss
  that only training reads (`PolicyConfig.aux_dim`). A dataset without the feature yields them masked out.
- Decoded episodes are kept at the training size (`frame_cache_mb`, per process; see
  `egovla.data.frame_cache`): the frames are the same, only decoded once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from egovla import spaces
from egovla.data.frame_cache import FrameCache
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.task_weights import task_weight_map, weight_frames
from egovla.observation import history_offsets, resize_frames

EGOVLA_HISTORY = (-1.0, -0.8, -0.6, -0.4, -0.2, 0.0)
#: Meta-World's 39-D observation: the first object's position (4-6) and the goal's (36-38), world frame.
AUX_DIMS = (4, 5, 6, 36, 37, 38)


@dataclass
class WindowConfig:
    history: tuple[float, ...] = (0.0,)  # seconds relative to the current frame, oldest first
    chunk_len: int = 30
    cameras: tuple[str, ...] | None = None  # default: every camera of the dataset, in info.json order
    state_key: str = "observation.state"
    action_key: str = "action"
    image_size: tuple[int, int] | None = None  # (height, width) to resize to; None keeps the stored size
    state_dim: int | None = None  # the policy's widths; None: 48 for unified names, else the feature's
    action_dim: int | None = None
    n_views: int | None = None  # pad with blank, masked views up to this many (mixtures of rigs)
    # decoded, resized episodes kept in memory per process, in MiB (0: decode every window; None: room for all of the
    # dataset's frames, whatever their size)
    frame_cache_mb: float | None = 1024
    task_weights: tuple[str, ...] = ()  # 'TASK=WEIGHT': the task's frames listed WEIGHT times (`task_weights`)
    aux_key: str | None = None  # a per-frame vector whose `aux_dims` are auxiliary training targets (None: none)
    aux_dims: tuple[int, ...] = AUX_DIMS

    def __post_init__(self) -> None:
        self.task_weights = tuple(self.task_weights)
        task_weight_map(self.task_weights)  # raises for malformed or repeated entries
        self.history = tuple(float(h) for h in self.history)
        history_offsets(self.history, 1.0)  # raises for offsets that are not seconds <= 0, oldest first
        if self.chunk_len <= 0:
            raise ValueError(f"chunk_len must be positive, got {self.chunk_len}")
        self.aux_dims = tuple(int(d) for d in self.aux_dims)
        if self.aux_key is not None and (not self.aux_dims or min(self.aux_dims) < 0):
            raise ValueError(f"aux_dims must be non-negative indices, got {self.aux_dims}")


class SpaceMap:
    """Put a dataset vector (named or not) into the policy's vector of `dim` dims, with a mask."""

    def __init__(self, names: list[str] | None, size: int, dim: int | None, what: str):
        unified = spaces.names()
        if names and all(n in unified for n in names):
            self.dim = dim or spaces.ACTION_DIM
            if self.dim != len(unified):
                raise ValueError(f"{what}: named with unified slots, so the policy needs {len(unified)} dims, not {self.dim}")
            self.index = np.array([unified.index(n) for n in names])
            self.unified = True
        else:
            self.dim = dim or size
            if size > self.dim:
                raise ValueError(f"{what}: has {size} dims, more than the policy's {self.dim}")
            self.index = np.arange(size)
            self.unified = False
        self.base_mask = np.zeros(self.dim, dtype=bool)
        self.base_mask[self.index] = True

    def __call__(self, x: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x (..., size) -> (..., dim) values and mask."""
        out = np.zeros(x.shape[:-1] + (self.dim,), dtype=np.float32)
        out[..., self.index] = x
        m = np.broadcast_to(self.base_mask, out.shape).copy()
        if mask is not None:
            m[..., self.index] &= mask.astype(bool)
        return out, m


def _names(ft: dict) -> list[str] | None:
    names = ft.get("names")
    if isinstance(names, dict):  # LeRobot sometimes nests: {"motors": [...]}
        names = next(iter(names.values()), None)
    return list(names) if isinstance(names, list) and all(isinstance(n, str) for n in names) else None


class WindowDataset:
    """Samples for every frame of the given episodes (default: all) of a LeRobot dataset."""

    def __init__(self, reader: LeRobotReader, cfg: WindowConfig, episodes: list[int] | None = None):
        self.reader, self.cfg = reader, cfg
        feats = reader.features
        for key in (cfg.state_key, cfg.action_key):
            if key not in feats:
                raise KeyError(f"{reader.root}: no feature {key!r}; features: {sorted(feats)}")
        self.cameras = list(cfg.cameras) if cfg.cameras else list(reader.cameras)
        missing = [c for c in self.cameras if c not in reader.cameras]
        if missing or not self.cameras:
            raise KeyError(f"{reader.root}: camera(s) {missing or '(none)'} not in the dataset's cameras {reader.cameras}")
        self.offsets = history_offsets(cfg.history, reader.fps)
        a_ft, s_ft = feats[cfg.action_key], feats[cfg.state_key]
        self.chunked = len(a_ft["shape"]) == 2
        if self.chunked and a_ft["shape"][0] < cfg.chunk_len:
            raise ValueError(f"{reader.root}: {cfg.action_key!r} holds chunks of {a_ft['shape'][0]} steps, "
                             f"fewer than chunk_len {cfg.chunk_len}")
        self.action_map = SpaceMap(_names(a_ft), int(a_ft["shape"][-1]), cfg.action_dim, f"{reader.root}: {cfg.action_key!r}")
        self.state_map = SpaceMap(_names(s_ft), int(s_ft["shape"][-1]), cfg.state_dim or (
            self.action_map.dim if self.action_map.unified else None), f"{reader.root}: {cfg.state_key!r}")
        self.state = reader.column(cfg.state_key)
        self.action = reader.column(cfg.action_key)
        cols = reader.vector_keys()
        self.state_mask = reader.column(cfg.state_key + "_mask") if cfg.state_key + "_mask" in cols else None
        self.aux = self._aux_column(cols) if cfg.aux_key else None
        self.action_mask = reader.column(cfg.action_key + "_mask") if cfg.action_key + "_mask" in cols else None
        self.starts = np.array([e.start for e in reader.episodes])
        self.lengths = np.array([e.length for e in reader.episodes])
        self.episodes = list(range(len(reader.episodes))) if episodes is None else [int(e) for e in episodes]
        bad = [e for e in self.episodes if not 0 <= e < len(reader.episodes)]
        if bad:
            raise IndexError(f"{reader.root}: episode(s) {bad} do not exist (it has {len(reader.episodes)})")
        self.frames = np.concatenate([np.arange(self.starts[e], self.starts[e] + self.lengths[e]) for e in self.episodes]
                                     or [np.zeros(0, dtype=np.int64)])
        if cfg.action_key + "_keep" in cols:
            keep = reader.column(cfg.action_key + "_keep").reshape(-1) > 0
            self.frames = self.frames[keep[self.frames]]
        if cfg.task_weights:
            self.frames = weight_frames(self.frames, self.frame_tasks(self.frames), task_weight_map(cfg.task_weights))
        self.n_views = cfg.n_views or len(self.cameras)
        if self.n_views < len(self.cameras):
            raise ValueError(f"{reader.root}: has {len(self.cameras)} cameras, more than n_views={self.n_views}")
        self.image_hw = tuple(cfg.image_size) if cfg.image_size else reader.camera_hw(self.cameras[0])
        shapes = {c: reader.camera_hw(c) for c in self.cameras}
        need = self.decoded_bytes()
        budget_mb = need / 2**20 if cfg.frame_cache_mb is None else cfg.frame_cache_mb
        self.cache = FrameCache(budget_mb) if budget_mb > 0 else None
        if self.cache is not None and need > self.cache.budget:
            warnings.warn(f"{reader.root}: its decoded frames take {need / 2**20:.0f} MiB, more than "
                          f"frame_cache_mb={cfg.frame_cache_mb:g}: about {self.cache.budget / need:.0%} "
                          f"of the windows come from memory, the rest are decoded from video each time (raise "
                          f"frame_cache_mb to cache them all)", stacklevel=2)
        if cfg.image_size is None and len(set(shapes.values())) > 1:
            raise ValueError(f"{reader.root}: cameras have different sizes {shapes}; set an image size to resize them to")

    def decoded_bytes(self) -> int:
        """Memory that every frame of the dataset's episodes takes decoded at the training size, all cameras."""
        frames = int(sum(int(self.lengths[e]) for e in self.episodes))
        return frames * len(self.cameras) * 3 * int(np.prod(self.image_hw))

    def __len__(self) -> int:
        return len(self.frames)

    def frame_tasks(self, frames: np.ndarray) -> np.ndarray:
        """The task string of each of the dataset's global frame indices `frames`."""
        return np.asarray([self.reader.task_at(int(i)) for i in frames], dtype=object)

    def _aux_column(self, cols) -> np.ndarray | None:
        """The auxiliary targets of every frame (N, A), or None when the dataset has no `aux_key` feature."""
        key, dims = self.cfg.aux_key, np.asarray(self.cfg.aux_dims)
        if key not in cols:
            return None
        col = self.reader.column(key).reshape(len(self.state), -1)
        if dims.max() >= col.shape[1]:
            raise ValueError(f"{self.reader.root}: {key!r} has {col.shape[1]} dims; aux_dims {self.cfg.aux_dims} "
                             f"reach past them")
        return col[:, dims].astype(np.float32)

    def locate(self, i: int) -> tuple[int, int]:
        ep = int(self.reader.episode_of[i])
        return ep, i - int(self.starts[ep])

    def vectors(self, j: int) -> dict:
        """Sample j without images (state, action and their masks, instruction)."""
        if not 0 <= j < len(self):
            raise IndexError(f"index {j} outside 0..{len(self) - 1}")
        i = int(self.frames[j])
        ep, t = self.locate(i)
        n, start, h = int(self.lengths[ep]), int(self.starts[ep]), self.cfg.chunk_len
        state, state_mask = self.state_map(self.state[i], None if self.state_mask is None else self.state_mask[i])
        if self.chunked:
            raw = self.action[i, :h]
            raw_mask = None if self.action_mask is None else self.action_mask[i, :h]
            action, action_mask = self.action_map(raw, raw_mask)
        else:
            rows = np.minimum(np.arange(t, t + h), n - 1) + start
            raw_mask = None if self.action_mask is None else self.action_mask[rows]
            action, action_mask = self.action_map(self.action[rows], raw_mask)
            action_mask[t + np.arange(h) >= n] = False
        out = {"instruction": self.reader.task_at(i), "state": state, "state_mask": state_mask,
               "action": action, "action_mask": action_mask}
        if self.cfg.aux_key:
            n_aux = len(self.cfg.aux_dims)
            aux = self.aux[i] if self.aux is not None else np.zeros(n_aux, dtype=np.float32)
            out["aux"], out["aux_mask"] = aux, np.full(n_aux, self.aux is not None) & np.isfinite(aux)
        return out

    def __getitem__(self, j: int) -> dict:
        sample = self.vectors(int(j))
        ep, t = self.locate(int(self.frames[int(j)]))
        frame_idx = t + self.offsets
        image_mask = frame_idx >= 0
        frame_idx = np.clip(frame_idx, 0, int(self.lengths[ep]) - 1)
        views = [self._frames(c, ep, frame_idx) for c in self.cameras]
        view_mask = np.arange(self.n_views) < len(self.cameras)
        views += [np.zeros_like(views[0])] * (self.n_views - len(self.cameras))
        images = np.stack(views, axis=1).transpose(0, 1, 4, 2, 3)  # (T, V, 3, H, W)
        sample["images"] = np.ascontiguousarray(images)
        sample["image_mask"] = image_mask[:, None] & view_mask[None, :]
        return sample

    def _frames(self, camera: str, ep: int, idx: np.ndarray) -> np.ndarray:
        def decode(indices: np.ndarray) -> np.ndarray:
            return resize_frames(self.reader.frames(camera, ep, indices), self.image_hw)

        if self.cache is None:
            return decode(idx)
        return self.cache.frames((camera, ep), int(self.lengths[ep]), 3 * int(np.prod(self.image_hw)), idx, decode)
