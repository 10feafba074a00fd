"""The unified action/state space: its layout, names, masks and loss groups.

Every label lives in the camera frame of the *current* observation: OpenCV axes (x right, y down,
z forward), metres. Each hand takes 24 numbers, left hand in slots 0..23, right in 24..47:

| part         | size | meaning                                                                |
|--------------|------|------------------------------------------------------------------------|
| `wrist_pos`  | 3    | wrist / end-effector position in the current camera frame              |
| `wrist_rot`  | 6    | wrist rotation in the camera frame: first two columns, [col0, col1]    |
| `fingertips` | 15   | thumb, index, middle, ring, little tip xyz, in that hand's WRIST frame |

`pack_hand` / `unpack_hand` accept numpy arrays or torch tensors and return the same kind;
`trajectory_in_camera` builds one hand's (H, 24) labels from world poses (numpy). Rotations and
poses (6D rotation, SE(3), quaternions) are in `egovla.geometry`, with its conventions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from egovla.geometry import (
    as_array,
    as_numpy,
    concat,
    invert_pose,
    matrix_from_rot6d,
    rot6d_from_matrix,
    to_camera_frame,
    transform_points,
)

# ----------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------

HANDS = ("left", "right")
FINGERS = ("thumb", "index", "middle", "ring", "little")
PARTS = ("wrist_pos", "wrist_rot", "fingertips")
PART_DIMS = {"wrist_pos": 3, "wrist_rot": 6, "fingertips": 15}
HAND_DIM = 24
ACTION_DIM = 48

#: Default loss weight per group of `slice_groups()`.
DEFAULT_LOSS_WEIGHTS = {"translation": 20.0, "rotation": 5.0, "hand": 5.0}


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what}: expected one of {choices}, got {value!r}")


def slot(hand: str, part: str) -> slice:
    """The slice of the 48-vector holding `part` of `hand` (e.g. slot("right", "wrist_rot"))."""
    _check_choice(hand, HANDS, "hand")
    _check_choice(part, PARTS, "part")
    start = HANDS.index(hand) * HAND_DIM
    for p in PARTS[: PARTS.index(part)]:
        start += PART_DIMS[p]
    return slice(start, start + PART_DIMS[part])


def fingertip_slot(hand: str, finger: str) -> slice:
    """The 3-wide slice holding one fingertip's xyz (in the wrist frame)."""
    _check_choice(finger, FINGERS, "finger")
    start = slot(hand, "fingertips").start + 3 * FINGERS.index(finger)
    return slice(start, start + 3)


def names() -> list[str]:
    """48 names in slot order, e.g. "left.wrist_pos.x", "left.wrist_rot.r10", "right.fingertips.thumb.z".

    Rotation entries are named r{row}{col} of the rotation matrix: r00, r10, r20, r01, r11, r21.
    """
    out = []
    for hand in HANDS:
        out += [f"{hand}.wrist_pos.{a}" for a in "xyz"]
        out += [f"{hand}.wrist_rot.r{row}{col}" for col in range(2) for row in range(3)]
        out += [f"{hand}.fingertips.{f}.{a}" for f in FINGERS for a in "xyz"]
    return out


def mask_for(
    hands: Iterable[str] = HANDS,
    parts: Iterable[str] = PARTS,
    fingers: Iterable[str] = FINGERS,
) -> np.ndarray:
    """Boolean (48,) mask of the dims an embodiment has; `fingers` only restricts "fingertips".

    A parallel gripper on the right arm: mask_for(("right",), PARTS, ("thumb", "index")).
    """
    mask = np.zeros(ACTION_DIM, dtype=bool)
    fingers = tuple(fingers)
    for f in fingers:
        _check_choice(f, FINGERS, "finger")
    for hand in hands:
        for part in parts:
            if part == "fingertips":
                for f in fingers:
                    mask[fingertip_slot(hand, f)] = True
            else:
                mask[slot(hand, part)] = True
    return mask


def slice_groups() -> dict[str, np.ndarray]:
    """Boolean (48,) masks of the loss groups: "translation" (wrist positions), "rotation"
    (wrist rotations) and "hand" (fingertips), both hands each; together they cover every dim once."""
    return {
        "translation": mask_for(parts=("wrist_pos",)),
        "rotation": mask_for(parts=("wrist_rot",)),
        "hand": mask_for(parts=("fingertips",)),
    }


def group_weights(weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS) -> np.ndarray:
    """Per-dim float32 (48,) loss weights from a {group: weight} mapping over `slice_groups()`."""
    groups = slice_groups()
    if set(weights) != set(groups):
        raise ValueError(f"weights: expected keys {sorted(groups)}, got {sorted(weights)}")
    out = np.zeros(ACTION_DIM, dtype=np.float32)
    for name, mask in groups.items():
        out[mask] = weights[name]
    return out


# ----------------------------------------------------------------------------------------------
# Hand packing
# ----------------------------------------------------------------------------------------------


def pack_hand(wrist_pos: Any, wrist_rot: Any, fingertips: Any) -> Any:
    """(..., 3) position, (..., 3, 3) rotation, (..., 5, 3) tips -> (..., 24). numpy or torch."""
    wrist_pos = as_array(wrist_pos, "wrist_pos", (3,))
    wrist_rot = as_array(wrist_rot, "wrist_rot", (3, 3))
    fingertips = as_array(fingertips, "fingertips", (5, 3))
    tips = fingertips.reshape(*fingertips.shape[:-2], 15)
    return concat([wrist_pos, rot6d_from_matrix(wrist_rot), tips])


def unpack_hand(vec: Any) -> tuple[Any, Any, Any]:
    """(..., 24) -> (wrist_pos (..., 3), wrist_rot (..., 3, 3), fingertips (..., 5, 3)).

    The rotation is orthonormalized from its 6D form with `matrix_from_rot6d`. numpy or torch.
    """
    vec = as_array(vec, "vec", (HAND_DIM,))
    tips = vec[..., 9:24]
    return vec[..., 0:3], matrix_from_rot6d(vec[..., 3:9]), tips.reshape(*tips.shape[:-1], 5, 3)



def trajectory_in_camera(
    T_world_camera_t: Any, T_world_wrist: Any, fingertips_world: Any
) -> np.ndarray:
    """One hand's future trajectory as (H, 24) labels, all relative to the camera at time t.

    T_world_camera_t (4, 4): camera pose at the current step t. T_world_wrist (H, 4, 4): wrist poses
    of the H future steps. fingertips_world (H, 5, 3): tip positions, thumb..little. Wrist position
    and rotation land in the camera frame of time t; each step's fingertips in that step's wrist frame.
    """
    T_world_wrist = as_numpy(T_world_wrist, "T_world_wrist", (4, 4))
    tips = as_numpy(fingertips_world, "fingertips_world", (5, 3))
    if tips.shape[:-2] != T_world_wrist.shape[:-2]:
        raise ValueError(
            f"fingertips_world: expected shape {(*T_world_wrist.shape[:-2], 5, 3)} to match "
            f"T_world_wrist {T_world_wrist.shape}, got {tips.shape}"
        )
    T_cam_wrist = to_camera_frame(T_world_camera_t, T_world_wrist)
    tips_wrist = transform_points(invert_pose(T_world_wrist)[..., None, :, :], tips)
    return pack_hand(T_cam_wrist[..., :3, 3], T_cam_wrist[..., :3, :3], tips_wrist)
