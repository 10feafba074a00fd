"""The replay check: execute a recorded demonstration's *labels* through the embodiment.

If the unified action space and the controller are right, driving the arm to the recorded future
poses (instead of running the expert) succeeds about as often as the expert did, before any
learning is involved. Labels are executed one step per target, then the last target is held for
`hold_steps` more steps.

The check runs the controller as `REPLAY_DAMPING` and `REPLAY_LOOKAHEAD` say (see
`egovla.sim.embodiment`): at step t the target is `labels[min(t + lookahead, T - 1)]`, steered with
velocity damping. A label is the pose one step later, but Meta-World's hand trails the mocap that an
action moves by about 3 steps, so steering the hand straight at each label (lookahead 0, damping 0,
the embodiment's default) overshoots and lags the recorded path by 1-3 cm; damped and aimed 2
labels ahead it follows the path to 2-3 mm, and replay matches the expert on peg-insert-side (9/10
against 6/10 undamped, Meta-World MT10, 10 layouts). The lookahead is a replay parameter, not the
embodiment's: it needs the whole future of a target sequence, which labels have and a policy's
chunk (executed a few steps, then replaced) only partly has. Closed-loop evaluation keeps the
embodiment's own controller (damping 0 by default).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from egovla.sim.embodiment import GRIPPER_MASK
from egovla.sim.metaworld_env import MAX_STEPS, MetaWorldEnv

#: Labels ahead of the current step that replay steers toward (0: the label of this step).
REPLAY_LOOKAHEAD = 2
#: The controller's velocity damping (control steps) during replay.
REPLAY_DAMPING = 2.0


def replay_labels(env: MetaWorldEnv, layout: int, labels: np.ndarray, hold_steps: int = 50,
                  lookahead: int = 0, damping: float | None = None) -> dict:
    """labels (T, 48) or (T, 15) (the gripper dims) unified targets; returns success and steps.

    At step t the target is `labels[min(t + lookahead, T - 1)]`. `damping` overrides the
    environment embodiment's (None: keep it). lookahead=0, damping=None is a plain replay through
    `env.embodiment`.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] not in (GRIPPER_MASK.size, int(GRIPPER_MASK.sum())):
        raise ValueError(f"labels: expected (T, 48) or (T, {int(GRIPPER_MASK.sum())}), got {labels.shape}")
    if len(labels) == 0:
        raise ValueError("labels: got an empty sequence (T = 0)")
    if lookahead < 0:
        raise ValueError(f"lookahead: expected >= 0 steps, got {lookahead}")
    if labels.shape[1] != GRIPPER_MASK.size:
        full = np.zeros((len(labels), GRIPPER_MASK.size))
        full[:, GRIPPER_MASK] = labels
        labels = full
    embodiment = env.embodiment if damping is None else replace(env.embodiment, damping=damping)
    obs = env.reset(layout)
    T_world_cam = env.camera_pose(env.config.cameras[0])
    success, prev_hand = False, obs["hand"]
    for t in range(min(len(labels) + hold_steps, MAX_STEPS)):
        target = labels[min(t + lookahead, len(labels) - 1)]
        action = embodiment.action(target, T_world_cam, obs["hand"], obs["grip"], obs["hand"] - prev_hand)
        prev_hand = obs["hand"]
        obs, success = env.step(action)
        if success:
            break
    return {"success": bool(success), "steps": env.steps}


def expert_then_replay(env: MetaWorldEnv, layout: int, settle_steps: int = 10,
                       lookahead: int = REPLAY_LOOKAHEAD, damping: float | None = REPLAY_DAMPING) -> dict:
    """Record the expert on `layout`, then replay its labels from the same start; both outcomes."""
    from egovla.sim.collect import run_expert

    ep = run_expert(env, layout, settle_steps)
    out = (replay_labels(env, layout, ep["action"], lookahead=lookahead, damping=damping)
           if ep["success"] else {"success": False, "steps": 0})
    return {"expert": ep["success"], "replay": out["success"], "expert_steps": len(ep["state"]),
            "replay_steps": out["steps"]}
