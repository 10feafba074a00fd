"""The parallel-gripper embodiment: Meta-World's Sawyer <-> the unified action space.

State and action chunks use the right-hand slots of the 48-slot layout (see `egovla.spaces`):
the end-effector ("hand" body) pose in the camera frame is the wrist, and the two finger pads are
the thumb and index tips in the wrist frame, so their distance is the gripper opening. The other
33 dims are masked.

A chunk is executed by a position controller: for a target wrist position p* (camera frame, turned
into the world through the camera pose), the hand position p and its velocity v (metres per control
step) the Meta-World action is

    (dx, dy, dz) = clip(gain * (p* - (p + damping * v)) / action_scale, -1, 1)

A Meta-World action moves the *mocap* body, not the hand: the hand follows the mocap through a weld
(solref 0.02 s) and the arm's inertia, and trails it by about 3 steps of motion (3.3 cm at 1 cm per
step). Steering the hand itself (damping 0, the default) drives an integrator through that lag: it
overshoots and rings, 1-3 cm off a recorded path. With `damping` d > 0 the controller steers
p + d * v, an estimate of where the mocap leads the hand, which damps the loop (a PD controller).
Damping alone makes the hand lag a moving target by about d steps; a caller that holds a target
*sequence* cancels that by aiming d steps ahead (`egovla.sim.replay.replay_labels(lookahead=...)`):
with d = 2 and 2 steps ahead, recorded Meta-World paths are tracked to 2-3 mm on average instead
of 1-3 cm.

The grip is an effort (+1 close, -1 open): close when the target opening is below `close_below`, and
follow the direction of a clear change in opening first, so opening and closing start on time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egovla import geometry, spaces

WRIST_POS = spaces.slot("right", "wrist_pos")
WRIST_ROT = spaces.slot("right", "wrist_rot")
THUMB = spaces.fingertip_slot("right", "thumb")
INDEX = spaces.fingertip_slot("right", "index")
#: The dims a parallel gripper has: right wrist pose and the thumb/index tips.
GRIPPER_MASK = spaces.mask_for(("right",), spaces.PARTS, ("thumb", "index"))


def grip_distance(vec: np.ndarray) -> np.ndarray:
    """Thumb-index distance (metres) of unified vectors (..., 48)."""
    vec = np.asarray(vec)
    return np.linalg.norm(vec[..., THUMB] - vec[..., INDEX], axis=-1)


@dataclass(frozen=True)
class GripperEmbodiment:
    action_scale: float = 0.01   # Meta-World moves the mocap by action * 0.01 m per step
    gain: float = 1.0            # fraction of the position error asked for in one step
    close_below: float = 0.085   # metres; Sawyer's pads are ~0.094 apart fully open, ~0.02 closed
    deadband: float = 0.003      # a target opening this much away from the current one is a move
    damping: float = 0.0         # control steps; steer p + damping * v toward the target (0: steer p)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.damping) and self.damping >= 0):
            raise ValueError(f"damping: expected a finite number of steps >= 0, got {self.damping}")

    @property
    def mask(self) -> np.ndarray:
        return GRIPPER_MASK

    def observe(self, env) -> tuple[np.ndarray, np.ndarray]:
        """(state, state_mask) of a MetaWorldEnv now: the unified vector in its first camera's frame."""
        return self.state(env.camera_pose(env.config.cameras[0]), env.hand_pose(), env.pads()), GRIPPER_MASK.copy()

    def command(self, target: np.ndarray, env, obs: dict, prev_hand: np.ndarray) -> np.ndarray:
        """The Meta-World action toward a unified target, through the first camera's pose."""
        return self.action(target, env.camera_pose(env.config.cameras[0]), obs["hand"], obs["grip"],
                           obs["hand"] - prev_hand)

    def state(self, T_world_camera: np.ndarray, T_world_hand: np.ndarray, pads_world: np.ndarray) -> np.ndarray:
        """(48,) float32 unified state: hand pose in the camera frame, pads in the hand frame, 0 elsewhere."""
        T_cam_hand = geometry.to_camera_frame(T_world_camera, T_world_hand)
        pads_hand = geometry.transform_points(geometry.invert_pose(T_world_hand), np.asarray(pads_world))
        out = np.zeros(spaces.ACTION_DIM, dtype=np.float32)
        out[WRIST_POS] = T_cam_hand[:3, 3]
        out[WRIST_ROT] = geometry.rot6d_from_matrix(T_cam_hand[:3, :3])
        out[THUMB], out[INDEX] = pads_hand[0], pads_hand[1]
        return out

    def target_world(self, vec: np.ndarray, T_world_camera: np.ndarray) -> np.ndarray:
        """Wrist positions of unified vectors (..., 48) -> world positions (..., 3)."""
        return geometry.transform_points(T_world_camera, np.asarray(vec, dtype=np.float64)[..., WRIST_POS])

    def action(self, target: np.ndarray, T_world_camera: np.ndarray, hand_world: np.ndarray,
               grip_now: float, hand_velocity: np.ndarray | None = None) -> np.ndarray:
        """One Meta-World action (dx, dy, dz, grip) toward a unified target vector (48,).

        `hand_velocity`: the hand's world displacement over the last control step (metres; zeros at
        the first step); required when `damping` > 0, ignored when it is 0.
        """
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (spaces.ACTION_DIM,) or not np.all(np.isfinite(target[GRIPPER_MASK])):
            raise ValueError(f"target: expected a finite unified vector (48,), got shape {target.shape}")
        steer = np.asarray(hand_world, dtype=np.float64)
        if self.damping > 0:
            if hand_velocity is None:
                raise ValueError(f"hand_velocity: required with damping={self.damping}")
            steer = steer + self.damping * np.asarray(hand_velocity, dtype=np.float64)
        delta = self.target_world(target, T_world_camera) - steer
        move = np.clip(self.gain * delta / self.action_scale, -1.0, 1.0)
        want = float(grip_distance(target))
        if want < grip_now - self.deadband:
            grip = 1.0
        elif want > grip_now + self.deadband:
            grip = -1.0
        else:
            grip = 1.0 if want < self.close_below else -1.0
        return np.array([*move, grip], dtype=np.float32)


@dataclass(frozen=True)
class RawEmbodiment:
    """Meta-World's own spaces, as LeRobot's published Meta-World data holds them: the state is the first
    4 numbers of Meta-World's observation (hand xyz and gripper opening) and a policy's chunk holds
    raw actions (dx, dy, dz, grip), executed as they are (clipped to [-1, 1])."""

    state_dim: int = 4

    def observe(self, env) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(env.raw_observation[: self.state_dim], dtype=np.float32), np.ones(self.state_dim, bool)

    def command(self, target: np.ndarray, env, obs: dict, prev_hand: np.ndarray) -> np.ndarray:
        target = np.asarray(target, dtype=np.float64).reshape(-1)
        if target.shape[0] < 4 or not np.all(np.isfinite(target[:4])):
            raise ValueError(f"target: expected a finite raw action (dx, dy, dz, grip), got shape {target.shape}")
        return np.clip(target[:4], -1.0, 1.0).astype(np.float32)


#: How a policy's chunks and states meet the simulator, by name (`egovla eval metaworld --embodiment`).
EMBODIMENTS = {"gripper": GripperEmbodiment, "raw": RawEmbodiment}
