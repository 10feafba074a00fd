"""What drives the arm in closed loop: a trained policy, or a scripted oracle for checks.

An agent has `reset(env)` at the start of an episode, `observe(obs)` at every control step, and
`act(obs, instruction) -> (H, 48)`, a chunk of unified target vectors in the camera frame of
`env.config.cameras[0]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from egovla.observation import history_offsets
from egovla.runs import load_run
from egovla.client.history import FrameHistory
from egovla.sim.embodiment import INDEX, THUMB, WRIST_POS, WRIST_ROT
from egovla.sim.metaworld_env import MetaWorldEnv

class _HistoryAgent:
    """Shared by the local and the remote policy: frames are pushed every control step (`observe`),
    so history offsets mean what they meant in training; `act` asks for a chunk."""

    cameras: list[str] | None
    history_s: tuple[float, ...]
    hw: tuple[int, int]
    n_views: int

    def __init__(self, fps: float, views: Sequence[str] | None = None):
        self.fps = fps
        self.views = list(views) if views else None  # environment cameras for the policy's views, overriding names
        self.history: FrameHistory | None = None

    def reset(self, env: MetaWorldEnv) -> None:
        cams = self.views or self.cameras or list(env.config.cameras)[: self.n_views]
        missing = [c for c in cams if c not in env.config.cameras]
        if missing:
            hint = "" if self.views else " (name the environment's cameras for them with --views)"
            raise ValueError(f"the policy's view(s) {missing} are not cameras the environment renders "
                             f"({list(env.config.cameras)}){hint}")
        if len(cams) > self.n_views:
            raise ValueError(f"{len(cams)} cameras for a policy with {self.n_views} view(s)")
        self.history = FrameHistory(cams, self.history_s, self.fps, self.hw, self.n_views)

    @property
    def frame_steps(self) -> tuple[int, ...]:
        """How many control steps before a chunk request each frame it reads was taken (0: that step); from the
        frame history that `reset` built."""
        return tuple(int(-o) for o in self.history.offsets)

    def observe(self, obs: dict) -> None:
        if obs["images"] is None:
            self.history.skip()
        else:
            self.history.push(obs["images"])

    def observation(self, obs: dict, instruction: str) -> dict:
        return self.history.observation(instruction, obs["state"], obs["state_mask"])


class PolicyAgent(_HistoryAgent):
    """A trained policy (run folder or policy folder), fed the observations it was trained on.

    The run's record (`egovla.runs`) says which cameras, history offsets (seconds) and image size the
    windows had. `levers` are inference switches (`egovla.model.levers`).
    """

    def __init__(self, run: str | Path, fps: float, levers: Sequence[str] = (), views: Sequence[str] | None = None):
        super().__init__(fps, views)
        loaded = load_run(run, levers)
        self.policy, record = loaded.policy, loaded.record
        cfg = self.policy.config
        self.cameras = list(record.cameras) if record.cameras else None
        self.history_s = record.history_s
        self.offsets = history_offsets(record.history_s, fps)
        self.hw = (cfg.image_height, cfg.image_width)
        self.n_views = cfg.n_views

    def act(self, obs: dict, instruction: str) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.policy.predict_chunk(self.observation(obs, instruction))


class RemoteAgent(_HistoryAgent):
    """A policy served by `egovla serve`, asked over a websocket; what it needs comes from the
    server's metadata. Its chunks equal those of `PolicyAgent` on the same run folder."""

    def __init__(self, url: str, fps: float, token: str | None = None, views: Sequence[str] | None = None):
        from egovla.client.client import PolicyClient

        super().__init__(fps, views)
        self.client = PolicyClient(url, token=token)
        meta = self.client.metadata
        t, v, _, h, w = meta["image_shape"]
        self.cameras = list(meta["cameras"]) if meta.get("cameras") else None
        self.history_s = tuple(meta.get("history_s") or [0.0] * t)
        self.hw, self.n_views = (h, w), v

    def act(self, obs: dict, instruction: str) -> np.ndarray:
        return self.client.infer(self.observation(obs, instruction))["actions"]

    def close(self) -> None:
        self.client.close()


class ExpertOracle:
    """Meta-World's scripted expert written as chunks: the expert's next move, continued for H steps.

    Executed one step per chunk through the embodiment it reproduces the expert's own actions, so
    it checks the camera-frame maths, the controller and the evaluation loop without any learning.
    """

    frame_steps: tuple[int, ...] = ()  # reads the simulator's state, never a frame

    def __init__(self, chunk_len: int = 8, open_distance: float = 0.094, closed_distance: float = 0.02):
        self.chunk_len = chunk_len
        self.open_distance, self.closed_distance = open_distance, closed_distance

    def reset(self, env: MetaWorldEnv) -> None:
        from egovla.sim.experts import scripted_expert

        self.env = env
        self.expert = scripted_expert(env)

    def observe(self, obs: dict) -> None:
        pass

    def act(self, obs: dict, instruction: str) -> np.ndarray:
        from egovla import geometry

        a = np.clip(self.expert.get_action(obs["raw"]), -1, 1)
        T_world_cam = self.env.camera_pose(self.env.config.cameras[0])
        steps = np.arange(1, self.chunk_len + 1)[:, None]
        world = obs["hand"][None] + steps * self.env.embodiment.action_scale * a[None, :3]
        chunk = np.repeat(obs["state"][None].astype(np.float64), self.chunk_len, axis=0)
        chunk[:, WRIST_POS] = geometry.transform_points(geometry.invert_pose(T_world_cam), world)
        thumb, index = obs["state"][THUMB], obs["state"][INDEX]
        mid, axis = (thumb + index) / 2, (thumb - index) / max(np.linalg.norm(thumb - index), 1e-6)
        half = (self.closed_distance if a[3] > 0 else self.open_distance) / 2
        chunk[:, THUMB], chunk[:, INDEX] = mid + half * axis, mid - half * axis
        chunk[:, WRIST_ROT] = obs["state"][WRIST_ROT]
        return chunk
