"""What drives the arm in closed loop: a trained policy, or a scripted oracle for checks.

An agent has `reset(env)` at the start of an episode and `act(obs, instruction) -> (H, 48)`, a chunk
of unified target vectors in the camera frame of `env.config.cameras[0]`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from egovla.sim.embodiment import INDEX, THUMB, WRIST_POS, WRIST_ROT
from egovla.sim.metaworld_env import MetaWorldEnv

CAMERA_PREFIX = "observation.images."


def _policy_dir(path: Path) -> Path:
    return path / "policy" if (path / "policy" / "config.json").exists() else path


class PolicyAgent:
    """A trained policy (run folder or policy folder), fed the observations it was trained on.

    The run's `data.json` says which cameras, history offsets (seconds) and image size the windows
    had; frames are kept per episode so history offsets work in closed loop as they did in training
    (before the first frame: repeated and masked).
    """

    def __init__(self, run: str | Path, fps: float):
        from egovla.model.policy import Policy

        run = Path(run)
        if not run.exists():
            raise FileNotFoundError(f"--policy {run}: no such run or policy folder")
        self.policy = Policy.from_pretrained(_policy_dir(run))
        self.policy.eval()
        cfg = self.policy.config
        data_path = run / "data.json"
        data = json.loads(data_path.read_text()) if data_path.exists() else {}
        window = data.get("window", {})
        spec = (data.get("datasets") or [{}])[0]
        self.cameras = [c.removeprefix(CAMERA_PREFIX) for c in spec.get("cameras", [])] or None
        history = window.get("history_s", [0.0] * cfg.n_history)
        if len(history) != cfg.n_history:
            raise ValueError(f"{data_path}: {len(history)} history offsets for a policy with n_history={cfg.n_history}")
        self.offsets = np.array([round(h * fps) for h in history], dtype=int)
        self.hw = (cfg.image_height, cfg.image_width)
        self.n_views = cfg.n_views
        self._frames: list[np.ndarray] = []

    def reset(self, env: MetaWorldEnv) -> None:
        cams = self.cameras or list(env.config.cameras)
        missing = [c for c in cams if c not in env.config.cameras]
        if missing:
            raise ValueError(f"the policy was trained on camera(s) {missing}, which the environment does not render")
        self._cams = cams
        self._frames = []

    def act(self, obs: dict, instruction: str) -> np.ndarray:
        import torch

        from egovla.data.windows import resize_frames

        views = resize_frames(np.stack([obs["images"][c] for c in self._cams]), self.hw)  # (V, H, W, 3)
        self._frames.append(views.transpose(0, 3, 1, 2))
        idx = len(self._frames) - 1 + self.offsets
        images = np.stack([self._frames[max(i, 0)] for i in idx])  # (T, V, 3, H, W)
        mask = np.repeat((idx >= 0)[:, None], len(self._cams), axis=1)
        pad = self.n_views - len(self._cams)
        if pad > 0:
            images = np.concatenate([images, np.zeros((len(idx), pad, *images.shape[2:]), np.uint8)], axis=1)
            mask = np.concatenate([mask, np.zeros((len(idx), pad), bool)], axis=1)
        observation = {"images": images, "image_mask": mask, "instruction": instruction,
                       "state": obs["state"], "state_mask": obs["state_mask"]}
        with torch.inference_mode():
            return self.policy.predict_chunk(observation)


class ExpertOracle:
    """Meta-World's scripted expert written as chunks: the expert's next move, continued for H steps.

    Executed one step per chunk through the embodiment it reproduces the expert's own actions, so
    it checks the camera-frame maths, the controller and the evaluation loop without any learning.
    """

    def __init__(self, chunk_len: int = 8, open_distance: float = 0.094, closed_distance: float = 0.02):
        self.chunk_len = chunk_len
        self.open_distance, self.closed_distance = open_distance, closed_distance

    def reset(self, env: MetaWorldEnv) -> None:
        from metaworld.policies import ENV_POLICY_MAP

        self.env = env
        self.expert = ENV_POLICY_MAP[env.task]()

    def act(self, obs: dict, instruction: str) -> np.ndarray:
        from egovla import spaces

        a = np.clip(self.expert.get_action(obs["raw"]), -1, 1)
        T_world_cam = self.env.camera_pose(self.env.config.cameras[0])
        steps = np.arange(1, self.chunk_len + 1)[:, None]
        world = obs["hand"][None] + steps * self.env.embodiment.action_scale * a[None, :3]
        chunk = np.repeat(obs["state"][None].astype(np.float64), self.chunk_len, axis=0)
        chunk[:, WRIST_POS] = spaces.transform_points(spaces.invert_pose(T_world_cam), world)
        thumb, index = obs["state"][THUMB], obs["state"][INDEX]
        mid, axis = (thumb + index) / 2, (thumb - index) / max(np.linalg.norm(thumb - index), 1e-6)
        half = (self.closed_distance if a[3] > 0 else self.open_distance) / 2
        chunk[:, THUMB], chunk[:, INDEX] = mid + half * axis, mid - half * axis
        chunk[:, WRIST_ROT] = obs["state"][WRIST_ROT]
        return chunk
