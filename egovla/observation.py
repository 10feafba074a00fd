"""The observation contract: what a policy reads to predict a chunk, checked in one place (numpy only).

An *observation* is a dict (T history frames, V camera views, S state dims):

| key           | dtype   | shape             | required | meaning                                              |
|---------------|---------|-------------------|----------|------------------------------------------------------|
| `images`      | uint8   | (T, V, 3, H, W)   | yes      | RGB frames, oldest history frame first               |
| `image_mask`  | bool    | (T, V)            | no       | False where a frame is padding or missing (default all True) |
| `instruction` | str     |                   | yes      | the task in natural language (`prompt`, openpi's name, is accepted) |
| `state`       | float   | (S,)              | yes      | proprioception now, finite (unified 48-slot layout by default) |
| `state_mask`  | bool    | (S,)              | no       | False for dims this embodiment does not have (default all True) |

A *batch* of observations adds a leading batch dimension to every array and makes `instruction` a
list of strings. Arrays may be numpy arrays or CPU torch tensors (checked by shape and dtype name,
never copied; only `state` is read, to check it is finite). A training sample (`egovla.data.sample`)
is an observation plus its targets, which the check ignores.

`check_observation(obs, spec)` (or `spec.check(obs)`) is the one check: it raises `ObservationError`
naming the key and what was expected, and returns the observation with defaults filled in (masks,
`prompt` -> `instruction`, state as float32). `ObservationSpec` holds one policy's sizes and text
budget; `spec.table()` is the table above with those sizes, as a policy server publishes it.

`history_offsets` turns history seconds into frame offsets and `resize_frames` resizes frames: training
windows and robots (`egovla.client.history`) both go through them, so a policy sees the same frames
and pixels in training and deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IMAGES, IMAGE_MASK, INSTRUCTION, STATE, STATE_MASK = "images", "image_mask", "instruction", "state", "state_mask"
REQUIRED = (IMAGES, INSTRUCTION, STATE)
OPTIONAL = (IMAGE_MASK, STATE_MASK)
KEYS = (IMAGES, IMAGE_MASK, INSTRUCTION, STATE, STATE_MASK)
ALIASES = {"prompt": INSTRUCTION}  # openpi's clients send the instruction as `prompt`
TARGET_KEYS = ("action", "action_mask")  # a training sample's targets: ignored by the check
AUX_KEYS = ("aux", "aux_mask")  # a training sample's optional auxiliary targets (`PolicyConfig.aux_dim`): ignored too
#: Instructions longer than this many bytes per allowed token are refused before tokenizing.
BYTES_PER_TOKEN_LIMIT = 16


class ObservationError(ValueError):
    """An observation (or batch) that does not follow the contract; the message names what is wrong."""


@dataclass(frozen=True)
class ObservationSpec:
    """The sizes one policy reads. `count_tokens` (the backbone's tokenizer) enforces the text budget."""

    image_shape: tuple[int, int, int, int, int]  # (T, V, 3, H, W)
    state_dim: int
    max_text_tokens: int | None = None
    count_tokens: Callable[[str], int] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(x) for x in self.image_shape))
        if len(self.image_shape) != 5 or self.image_shape[2] != 3:
            raise ValueError(f"image_shape: expected (T, V, 3, H, W), got {self.image_shape}")

    def check(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """`check_observation(obs, self)`."""
        return check_observation(obs, self)

    def table(self) -> dict[str, dict[str, Any]]:
        """The contract with this policy's sizes: {key: {dtype, shape, required[, alias]}}."""
        t, v = self.image_shape[:2]
        return {
            IMAGES: {"dtype": "uint8", "shape": list(self.image_shape), "required": True},
            IMAGE_MASK: {"dtype": "bool", "shape": [t, v], "required": False},
            INSTRUCTION: {"dtype": "str", "required": True, "alias": "prompt",
                          "max_tokens": self.max_text_tokens},
            STATE: {"dtype": "float32", "shape": [self.state_dim], "required": True},
            STATE_MASK: {"dtype": "bool", "shape": [self.state_dim], "required": False},
        }


def is_batched(obs: Mapping[str, Any]) -> bool:
    """A batch has 6-D images (B, T, V, 3, H, W)."""
    images = obs.get(IMAGES)
    return hasattr(images, "shape") and len(images.shape) == 6


def _shape(x: Any) -> tuple[int, ...] | None:
    return tuple(int(d) for d in x.shape) if hasattr(x, "shape") else None


def _dtype_name(x: Any) -> str:
    return str(x.dtype).removeprefix("torch.")


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _array(obs: Mapping, key: str, shape: tuple[int | None, ...], kinds: tuple[str, ...], lead: tuple) -> Any:
    value = obs[key]
    got = _shape(value)
    want = "(" + ", ".join("B" if i < len(lead) else ("?" if d is None else str(d))
                           for i, d in enumerate(lead + shape)) + ")"
    if got is None:
        raise ObservationError(f"{key!r}: expected an array of shape {want}, got {type(value).__name__}")
    full = lead + shape
    if len(got) != len(full) or any(w is not None and g != w for g, w in zip(got, full)):
        raise ObservationError(f"{key!r}: expected shape {want}, got {list(got)}")
    name = _dtype_name(value)
    if not any(name.startswith(k) for k in kinds):
        raise ObservationError(f"{key!r}: expected dtype {' or '.join(kinds)}, got {name}")
    return value


def _instruction(value: Any, spec: ObservationSpec | None, where: str) -> str:
    if not isinstance(value, str):
        raise ObservationError(f"{where}: expected a string, got {type(value).__name__}")
    budget = spec.max_text_tokens if spec is not None else None
    if budget is not None and len(value.encode()) > BYTES_PER_TOKEN_LIMIT * budget:
        raise ObservationError(f"{where}: {len(value)} characters, far over the {budget} text tokens allowed")
    if budget is not None and spec.count_tokens is not None:
        n = spec.count_tokens(value)
        if n > budget:
            raise ObservationError(f"{where}: {n} tokens, the policy's text context allows {budget} "
                                   f"(shorten it or raise backbone.max_text_len): {value[:80]!r}")
    return value


def check_observation(obs: Mapping[str, Any], spec: ObservationSpec | None = None) -> dict[str, Any]:
    """Check one observation or a batch (see the module's table); return it with defaults filled in.

    With `spec`, shapes must match the policy's sizes and the instruction its text budget; without,
    only the structure is checked (T, V, H, W and S may be anything). Raises ObservationError.
    """
    if not isinstance(obs, Mapping):
        raise ObservationError(f"expected a map of observation keys, got {type(obs).__name__}")
    bad = [k for k in obs if not isinstance(k, str)]
    if bad:
        raise ObservationError(f"keys must be strings, got {bad[0]!r:.40}")
    out = {k: v for k, v in obs.items() if k not in TARGET_KEYS + AUX_KEYS}
    for alias, key in ALIASES.items():
        if alias in out:
            if key in out:
                raise ObservationError(f"give {key!r} or {alias!r}, not both")
            out[key] = out.pop(alias)
    unknown = sorted(set(out) - set(KEYS))
    if unknown:
        raise ObservationError(f"unknown key(s) {unknown}; expected {sorted(KEYS)}")
    missing = [k for k in REQUIRED if k not in out]
    if missing:
        raise ObservationError(f"missing key(s) {missing}; has {sorted(obs)}")
    batched = is_batched(out)
    images_shape = _shape(out[IMAGES])
    lead = (images_shape[0],) if batched else ()
    t, v, c, h, w = spec.image_shape if spec is not None else (None, None, 3, None, None)
    state_dim = spec.state_dim if spec is not None else None
    if spec is not None and images_shape is not None and len(images_shape) == 5 + len(lead) \
            and images_shape[len(lead):] != spec.image_shape:
        raise ObservationError(f"'images': shape {list(images_shape[len(lead):])} per observation, the policy "
                               f"expects {list(spec.image_shape)} (T history frames, V views, 3, height, width)")
    _array(out, IMAGES, (t, v, c, h, w), ("uint8",), lead)
    t, v = images_shape[len(lead):len(lead) + 2]
    state = _array(out, STATE, (state_dim,), ("float",), lead)
    state = _numpy(state).astype(np.float32, copy=False)
    if not np.isfinite(state).all():
        where = np.argwhere(~np.isfinite(state))[:5].tolist()
        raise ObservationError(f"'state': {int((~np.isfinite(state)).sum())} non-finite value(s), at {where}")
    out[STATE] = state
    s = state.shape[-1]
    if IMAGE_MASK in out:
        out[IMAGE_MASK] = _array(out, IMAGE_MASK, (t, v), ("bool",), lead)
    else:
        out[IMAGE_MASK] = np.ones(lead + (t, v), dtype=bool)
    if STATE_MASK in out:
        out[STATE_MASK] = _array(out, STATE_MASK, (s,), ("bool",), lead)
    else:
        out[STATE_MASK] = np.ones(lead + (s,), dtype=bool)
    text = out[INSTRUCTION]
    if batched:
        if isinstance(text, str) or not isinstance(text, Sequence) or len(text) != lead[0]:
            raise ObservationError(f"'instruction': a batch of {lead[0]} needs a list of {lead[0]} strings, "
                                   f"got {type(text).__name__}")
        out[INSTRUCTION] = [_instruction(x, spec, f"'instruction'[{i}]") for i, x in enumerate(text)]
    else:
        out[INSTRUCTION] = _instruction(text, spec, "'instruction'")
    return out


def stack(observations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Checked, unbatched numpy observations -> one batch (arrays stacked, instructions listed)."""
    if not observations:
        raise ObservationError("stack: no observations")
    batch = {k: np.stack([np.asarray(o[k]) for o in observations]) for k in (IMAGES, IMAGE_MASK, STATE, STATE_MASK)}
    batch[INSTRUCTION] = [o[INSTRUCTION] for o in observations]
    return batch


def history_offsets(history_s: Sequence[float], fps: float) -> np.ndarray:
    """History seconds (<= 0, oldest first) -> frame offsets at `fps`, rounded: e.g. (-0.4, -0.2, 0) at 10
    fps -> [-4, -2, 0]."""
    history = [float(h) for h in history_s]
    if not history or any(h > 0 for h in history) or history != sorted(history):
        raise ValueError(f"history offsets must be seconds <= 0, oldest first, got {tuple(history)}")
    if not fps > 0:
        raise ValueError(f"fps: expected > 0, got {fps}")
    return np.array([int(round(h * fps)) for h in history], dtype=int)


def resize_frames(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(N, h, w, 3) uint8 -> (N, H, W, 3) by bilinear resampling; frames already that size pass through."""
    h, w = hw
    if frames.shape[1:3] == (h, w):
        return frames
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR)) for f in frames])
