"""A trained run folder as inference sees it: the policy plus the observation settings it was trained on.

`egovla train` writes `RUN/policy/` (the Policy) and `RUN/data.json` (datasets with cameras and fps,
window with history offsets and image size). A bare policy folder also loads; its observation
settings then fall back to the policy config (one frame, no camera names, fps unknown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CAMERA_PREFIX = "observation.images."


@dataclass(frozen=True)
class RunInfo:
    policy_dir: Path
    cameras: tuple[str, ...] | None   # camera names, without "observation.images."; None: unnamed
    history_s: tuple[float, ...]      # frame offsets in seconds, oldest first, 0.0 = now
    fps: float | None                 # the training data's frame rate


def policy_dir(path: Path) -> Path:
    return path / "policy" if (path / "policy" / "config.json").exists() else path


def run_info(run: str | Path, n_history: int) -> RunInfo:
    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such run or policy folder")
    data_path = run / "data.json"
    data = json.loads(data_path.read_text()) if data_path.exists() else {}
    spec = (data.get("datasets") or [{}])[0]
    cameras = tuple(c.removeprefix(CAMERA_PREFIX) for c in spec.get("cameras", [])) or None
    history = tuple(float(h) for h in data.get("window", {}).get("history_s", [0.0] * n_history))
    if len(history) != n_history:
        raise ValueError(f"{data_path}: {len(history)} history offsets for a policy with n_history={n_history}")
    fps = spec.get("fps")
    return RunInfo(policy_dir(run), cameras, history, float(fps) if fps else None)


def load_run(run: str | Path):
    """(Policy in eval mode, RunInfo) of a run or policy folder."""
    from egovla.model.policy import Policy

    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such run or policy folder")
    policy = Policy.from_pretrained(policy_dir(run))
    policy.eval()
    return policy, run_info(run, policy.config.n_history)
