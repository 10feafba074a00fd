"""Presets for three Open X-Embodiment datasets: which keys are cameras, state, action and language.

Every field is a default that `RLDSConfig` can override. Keys are features.json paths WITHOUT the
`steps/` prefix (`observation/image_0`, `action_dict/joint_position`). Facts (fact sheet RLDS.md §6,
from the datasets' features.json / TFDS catalog and the OpenVLA and LeRobot converters):

- bridge (bridge_dataset 1.0.0, BridgeData V2, WidowX): `observation/image_0..3` JPEG 256x256,
  `observation/state` float32[7] = [x, y, z, roll, pitch, yaw, gripper] in the robot base frame,
  `action` float32[7] = [dx, dy, dz, droll, dpitch, dyaw, gripper (absolute, 1 = open)],
  `language_instruction`; 5 Hz. The end-effector layout is known, so it can also be written in the
  unified space when the camera extrinsics are given.
- fractal (fractal20220817_data 0.1.0, RT-1): `observation/image` 256x320, state =
  `observation/base_pose_tool_reached` [7] (position + quaternion) + `observation/gripper_closed` [1],
  action = `action/world_vector` [3] + `action/rotation_delta` [3] + `action/gripper_closedness_action` [1],
  `observation/natural_language_instruction`; 3 Hz. The quaternion's component order is not
  documented in the sources, so no end-effector layout is preset (set `ee_rotation` to enable).
- droid (droid 1.0.0): `observation/{exterior_image_1_left, exterior_image_2_left, wrist_image_left}`
  180x320, state = `observation/joint_position` [7] + `observation/gripper_position` [1], action =
  `action_dict/joint_position` [7] + `action_dict/gripper_position` [1] (as LeRobot's port_droid.py),
  the dataset's own `action` (joint velocities + gripper) kept as an extra, `language_instruction`;
  15 Hz. `observation/cartesian_position` [6] (xyz + euler, taken as extrinsic "xyz") + `gripper_position`
  (0 open, 1 closed) is the end-effector vector; a unified output also needs extrinsics (e.g. the
  later release's `episode_metadata/extrinsics_exterior_cam_1` as extrinsics_key).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    cameras: tuple[str, ...]
    state_keys: tuple[str, ...]
    action_keys: tuple[str, ...]
    fps: int
    language_key: str
    extra_keys: tuple[str, ...] = ()
    names: dict[str, list[str]] = field(default_factory=dict)  # key -> names of its dims
    # end-effector layout in the concatenated state (indices), or None when unknown
    ee_keys: tuple[str, ...] = ()  # keys concatenated into the end-effector vector (default: the state keys)
    ee_position: tuple[int, ...] = ()
    ee_rotation: tuple[int, ...] = ()
    ee_rotation_format: str = "rpy"
    ee_gripper: int = -1
    gripper_open: float = 1.0
    gripper_closed: float = 0.0


BRIDGE_STATE = ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
BRIDGE_ACTION = ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"]

PRESETS: dict[str, Preset] = {
    "bridge": Preset(
        cameras=("observation/image_0",), state_keys=("observation/state",), action_keys=("action",), fps=5,
        language_key="language_instruction",
        names={"observation/state": BRIDGE_STATE, "action": BRIDGE_ACTION},
        ee_position=(0, 1, 2), ee_rotation=(3, 4, 5), ee_rotation_format="rpy", ee_gripper=6,
        gripper_open=1.0, gripper_closed=0.0),
    "fractal": Preset(
        cameras=("observation/image",),
        state_keys=("observation/base_pose_tool_reached", "observation/gripper_closed"),
        action_keys=("action/world_vector", "action/rotation_delta", "action/gripper_closedness_action"), fps=3,
        language_key="observation/natural_language_instruction",
        names={"observation/base_pose_tool_reached": ["x", "y", "z", "q0", "q1", "q2", "q3"],
               "action/world_vector": ["dx", "dy", "dz"], "action/rotation_delta": ["droll", "dpitch", "dyaw"]}),
    "droid": Preset(
        cameras=("observation/exterior_image_1_left", "observation/exterior_image_2_left", "observation/wrist_image_left"),
        state_keys=("observation/joint_position", "observation/gripper_position"),
        action_keys=("action_dict/joint_position", "action_dict/gripper_position"), fps=15,
        language_key="language_instruction", extra_keys=("action", "observation/cartesian_position"),
        names={"observation/cartesian_position": ["x", "y", "z", "roll", "pitch", "yaw"]},
        ee_keys=("observation/cartesian_position", "observation/gripper_position"),
        ee_position=(0, 1, 2), ee_rotation=(3, 4, 5), ee_rotation_format="rpy", ee_gripper=6,
        gripper_open=0.0, gripper_closed=1.0),
}
PRESET_NAMES = ("none", *PRESETS)
