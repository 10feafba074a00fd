"""The sample contract: the one dict every dataset yields and the trainer batches.

A *sample* is an observation (`egovla.observation`: images, image_mask, instruction, state,
state_mask) plus its targets (H future steps, D action dims):

| key            | dtype   | shape   | meaning                                                |
|----------------|---------|---------|--------------------------------------------------------|
| `action`       | float32 | (H, D)  | the future chunk, in the current camera frame          |
| `action_mask`  | bool    | (H, D)  | False where a target is missing / padded / untracked   |
| `aux`          | float32 | (A,)    | optional: auxiliary targets (e.g. object positions)    |
| `aux_mask`     | bool    | (A,)    | with `aux`: False where an auxiliary target is missing |

Datasets return numpy arrays or torch tensors; `collate` turns a list of samples into a batch of
tensors (every array gains a leading batch dimension, `instruction` becomes a list).
`validate_sample` checks one sample: its observation part with `check_observation`, then the targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from egovla.observation import TARGET_KEYS, ObservationError, check_observation


class SampleError(ObservationError):
    """A training sample or batch whose targets do not follow the contract."""


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def check_targets(sample: Mapping[str, Any], *, lead: tuple[int, ...] = (), shape: tuple[int, int] | None = None,
                  where: str = "sample") -> None:
    """`action` / `action_mask` present, of one shape ((H, D) per sample, or `shape`), finite where supervised."""
    missing = [k for k in TARGET_KEYS if k not in sample]
    if missing:
        raise SampleError(f"{where}: missing key(s) {missing} needed for training; has {sorted(sample)}")
    action, mask = sample["action"], sample["action_mask"]
    got = tuple(action.shape)
    if len(got) != 2 + len(lead):
        raise SampleError(f"{where}: 'action' must have shape {'(B, ' if lead else '('}H, D), got {got}")
    if shape is not None and got[len(lead):] != tuple(shape):
        raise SampleError(f"{where}: 'action' has shape {got[len(lead):]} per sample, the policy expects {tuple(shape)}")
    if tuple(mask.shape) != got:
        raise SampleError(f"{where}: 'action_mask' shape {tuple(mask.shape)} differs from 'action' {got}")


def validate_sample(sample: Mapping[str, Any], *, where: str = "sample") -> None:
    """Check one training sample: the observation part, then the action chunk and its mask."""
    try:
        check_observation(sample)
    except ObservationError as e:
        raise SampleError(f"{where}: {e}") from None
    check_targets(sample, where=where)
    a, m = _numpy(sample["action"]), _numpy(sample["action_mask"]).astype(bool)
    if not np.all(np.isfinite(a[m])):
        raise SampleError(f"{where}: 'action' contains NaN or inf where 'action_mask' is True")


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples into a batch of tensors; `instruction` becomes a list of strings."""
    if not samples:
        raise SampleError("collate: empty list of samples")
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
