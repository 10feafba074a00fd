"""The replay check: execute a recorded demonstration's *labels* through the embodiment.

If the unified action space and the controller are right, driving the arm to the recorded future
poses (instead of running the expert) succeeds about as often as the expert did, before any
learning is involved. Labels are executed one step per target, then the last target is held for
`hold_steps` more steps.
"""

from __future__ import annotations

import numpy as np

from egovla.sim.embodiment import GRIPPER_MASK
from egovla.sim.metaworld_env import MAX_STEPS, MetaWorldEnv


def replay_labels(env: MetaWorldEnv, layout: int, labels: np.ndarray, hold_steps: int = 50) -> dict:
    """labels (T, 48) or (T, 15) (the gripper dims) unified targets; returns success and steps."""
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] not in (GRIPPER_MASK.size, int(GRIPPER_MASK.sum())):
        raise ValueError(f"labels: expected (T, 48) or (T, {int(GRIPPER_MASK.sum())}), got {labels.shape}")
    if len(labels) == 0:
        raise ValueError("labels: got an empty sequence (T = 0)")
    if labels.shape[1] != GRIPPER_MASK.size:
        full = np.zeros((len(labels), GRIPPER_MASK.size))
        full[:, GRIPPER_MASK] = labels
        labels = full
    obs = env.reset(layout)
    T_world_cam = env.camera_pose(env.config.cameras[0])
    success = False
    for t in range(min(len(labels) + hold_steps, MAX_STEPS)):
        target = labels[min(t, len(labels) - 1)]
        obs, success = env.step(env.embodiment.action(target, T_world_cam, obs["hand"], obs["grip"]))
        if success:
            break
    return {"success": bool(success), "steps": env.steps}


def expert_then_replay(env: MetaWorldEnv, layout: int, settle_steps: int = 10) -> dict:
    """Record the expert on `layout`, then replay its labels from the same start; both outcomes."""
    from egovla.sim.collect import run_expert

    ep = run_expert(env, layout, settle_steps)
    out = replay_labels(env, layout, ep["action"]) if ep["success"] else {"success": False, "steps": 0}
    return {"expert": ep["success"], "replay": out["success"], "expert_steps": len(ep["state"]),
            "replay_steps": out["steps"]}
