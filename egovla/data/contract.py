"""The sample contract: the one dict shape every dataset yields and every policy reads.

A *sample* is one training example, a dict with these keys (T history frames, V camera views,
H future steps, S state dims, D action dims):

| key            | dtype   | shape              | meaning                                                |
|----------------|---------|--------------------|--------------------------------------------------------|
| `images`       | uint8   | (T, V, 3, Hi, Wi)  | camera frames, oldest history frame first, RGB         |
| `image_mask`   | bool    | (T, V)             | False where a frame is padding (before episode start)  |
| `instruction`  | str     |                    | the natural-language task                              |
| `state`        | float32 | (S,)               | proprioception now (unified 48-slot layout by default) |
| `state_mask`   | bool    | (S,)               | False for state dims this embodiment does not have     |
| `action`       | float32 | (H, D)             | the future chunk, in the current camera frame          |
| `action_mask`  | bool    | (H, D)             | False where a target is missing / padded / untracked   |

An *observation* (what `Policy.predict_chunk` takes) is the same dict without `action` and
`action_mask`; `image_mask` and `state_mask` may be left out (all valid). A *batch* is the
collated form: every array gains a leading batch dimension and `instruction` becomes a list.

Datasets return numpy arrays or torch tensors; `collate` turns a list of samples into a batch of
tensors. `validate_sample` is the single place that checks the contract and names what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

OBSERVATION_KEYS = ("images", "instruction", "state")
OPTIONAL_MASK_KEYS = ("image_mask", "state_mask")
TARGET_KEYS = ("action", "action_mask")
SAMPLE_KEYS = OBSERVATION_KEYS + OPTIONAL_MASK_KEYS + TARGET_KEYS


class ContractError(ValueError):
    """A sample, observation or batch does not follow the sample contract."""


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def validate_observation(
    obs: Mapping[str, Any],
    *,
    image_shape: tuple[int, ...] | None = None,
    state_dim: int | None = None,
    batched: bool = False,
    where: str = "observation",
) -> None:
    """Check an observation (or batch) against the contract; raise ContractError naming the problem.

    image_shape is (T, V, 3, H, W) as the policy expects it; state_dim the proprio width.
    """
    missing = [k for k in OBSERVATION_KEYS if k not in obs]
    if missing:
        raise ContractError(f"{where}: missing key(s) {missing}; has {sorted(obs)}")
    lead = 1 if batched else 0
    images, state = obs["images"], obs["state"]
    if not hasattr(images, "shape") or len(_shape(images)) != 5 + lead:
        raise ContractError(
            f"{where}: 'images' must be an array of shape {'(B, ' if batched else '('}T, V, 3, H, W), "
            f"got {_shape(images) if hasattr(images, 'shape') else type(images).__name__}"
        )
    if image_shape is not None and _shape(images)[lead:] != tuple(image_shape):
        raise ContractError(
            f"{where}: 'images' has shape {_shape(images)[lead:]} per sample, the policy expects "
            f"{tuple(image_shape)} (T history frames, V views, 3 channels, height, width)"
        )
    if _shape(images)[lead + 2] != 3:
        raise ContractError(f"{where}: 'images' must have 3 (RGB) channels at dim {lead + 2}, got shape {_shape(images)}")
    if not hasattr(state, "shape") or len(_shape(state)) != 1 + lead:
        raise ContractError(f"{where}: 'state' must be a vector per sample, got {getattr(state, 'shape', type(state).__name__)}")
    if state_dim is not None and _shape(state)[-1] != state_dim:
        raise ContractError(f"{where}: 'state' has {_shape(state)[-1]} dims, the policy expects {state_dim}")
    state_np = state.detach().cpu().numpy() if isinstance(state, torch.Tensor) else np.asarray(state)
    if not np.all(np.isfinite(state_np)):
        bad = np.argwhere(~np.isfinite(state_np))[:5].tolist()
        raise ContractError(f"{where}: 'state' contains NaN or inf at index {bad}")
    instr = obs["instruction"]
    if batched:
        if isinstance(instr, str) or not isinstance(instr, Sequence) or len(instr) != _shape(images)[0]:
            raise ContractError(f"{where}: 'instruction' must be a list of one string per batch element")
    elif not isinstance(instr, str):
        raise ContractError(f"{where}: 'instruction' must be a string, got {type(instr).__name__}")


def validate_sample(sample: Mapping[str, Any], *, where: str = "sample") -> None:
    """Check one training sample: the observation part, plus the action chunk and its mask."""
    validate_observation(sample, where=where)
    missing = [k for k in TARGET_KEYS if k not in sample]
    if missing:
        raise ContractError(f"{where}: missing key(s) {missing}; has {sorted(sample)}")
    action, mask = sample["action"], sample["action_mask"]
    if len(_shape(action)) != 2:
        raise ContractError(f"{where}: 'action' must have shape (H, D), got {_shape(action)}")
    if _shape(mask) != _shape(action):
        raise ContractError(f"{where}: 'action_mask' shape {_shape(mask)} differs from 'action' {_shape(action)}")
    a = action.numpy() if isinstance(action, torch.Tensor) else np.asarray(action)
    m = mask.numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if not np.all(np.isfinite(a[m.astype(bool)])):
        raise ContractError(f"{where}: 'action' contains NaN or inf where 'action_mask' is True")


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def fill_default_masks(obs: dict[str, Any], *, batched: bool) -> dict[str, Any]:
    """Add all-True `image_mask` / `state_mask` where the caller left them out."""
    lead = 1 if batched else 0
    images, state = obs["images"], obs["state"]
    if "image_mask" not in obs:
        obs["image_mask"] = torch.ones(_shape(images)[: lead + 2], dtype=torch.bool)
    if "state_mask" not in obs:
        obs["state_mask"] = torch.ones(_shape(state), dtype=torch.bool)
    return obs


def collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples into a batch of tensors; `instruction` becomes a list of strings."""
    if not samples:
        raise ContractError("collate: empty list of samples")
    batch: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if key == "instruction":
            batch[key] = list(values)
        elif isinstance(values[0], (str, int, float)):
            batch[key] = values
        else:
            batch[key] = torch.stack([_as_tensor(v) for v in values])
    return batch
