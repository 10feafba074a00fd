"""Write small, real LeRobot datasets for tests (parquet + mp4 through egovla's writer).

Each episode shows a coloured square that moves across the image; frame t of episode e has the
square at column t (mod width - 8) and colour channel e % 3 lit, so a test can tell frames and
episodes apart after lossy coding. State and action are named unified slots (the right wrist
position and rotation, and the thumb/index tips of a parallel gripper) unless `native` is set. With
`env_dim`, each frame also has an `observation.environment_state` of that many dims: value 100 e + t + d / 100
at frame t, dim d, so a test can tell which frame and dim a target came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egovla import spaces
from egovla.data.lerobot.format import vector_feature, video_feature
from egovla.data.lerobot.writer import LeRobotWriter

GRIPPER_NAMES = [n for n in spaces.names() if n.startswith("right.") and (
    "wrist" in n or ".thumb." in n or ".index." in n)]


def frame_image(episode: int, t: int, size: int = 32) -> np.ndarray:
    img = np.full((size, size, 3), 30, dtype=np.uint8)
    col = t % (size - 8)
    img[8:16, col:col + 8, episode % 3] = 230
    return img


ENV_STATE = "observation.environment_state"


def env_state(episode: int, length: int, dim: int) -> np.ndarray:
    t, d = np.arange(length, dtype=np.float32)[:, None], np.arange(dim, dtype=np.float32)[None]
    return 100 * episode + t + d / 100


def episode_data(episode: int, length: int, cameras: int = 1, size: int = 32, native: bool = False,
                 env_dim: int = 0) -> dict:
    dim = 6 if native else len(GRIPPER_NAMES)
    base = np.arange(length, dtype=np.float32)[:, None] * 0.01 + np.arange(dim, dtype=np.float32)[None] * 0.1
    state = base + episode
    data = {"observation.state": state, "action": state + 0.01}
    if env_dim:
        data[ENV_STATE] = env_state(episode, length, env_dim)
    for c in range(cameras):
        data[f"observation.images.cam{c}"] = np.stack([frame_image(episode + c, t, size) for t in range(length)])
    return data


def write_dataset(root: Path, lengths=(12, 9, 15), cameras: int = 1, size: int = 32, native: bool = False,
                  tasks=("pick up the red block", "push the button"), env_dim: int = 0, **writer_kw) -> list[dict]:
    """Write a v3 dataset; returns the per-episode data that went in."""
    names = None if native else GRIPPER_NAMES
    dim = 6 if native else len(GRIPPER_NAMES)
    features = {f"observation.images.cam{c}": video_feature(size, size) for c in range(cameras)}
    features.update({"observation.state": vector_feature(dim, names), "action": vector_feature(dim, names)})
    if env_dim:
        features[ENV_STATE] = vector_feature(env_dim)
    episodes = []
    with LeRobotWriter(root, fps=10, features=features, robot_type="test_arm", **writer_kw) as w:
        for e, n in enumerate(lengths):
            d = episode_data(e, n, cameras, size, native, env_dim)
            w.add_episode(d, task=tasks[e % len(tasks)])
            episodes.append(d)
    return episodes


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def yuv420(frames: np.ndarray) -> np.ndarray:
    """RGB frames (T, H, W, 3) as a lossless codec would return them in the format's yuv420p: half-resolution
    colour, the loss every LeRobot video has before compression (about 31-32 dB on these coloured squares)."""
    import av

    return np.stack([av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(format="yuv420p")
                     .reformat(format="rgb24").to_ndarray() for f in frames])
