"""Frame history on the robot: offsets in seconds become past frames, masked before the first one."""

from __future__ import annotations

import numpy as np
import pytest

from egovla.client.history import FrameHistory


def frame(value: int, size: int = 8) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def test_history_offsets_pick_past_frames_and_mask_before_the_start():
    h = FrameHistory(["a", "b"], history_s=[-0.5, -0.25, 0.0], fps=4, size=(4, 4))
    for step in range(3):
        h.push({"a": frame(10 + step), "b": frame(100 + step)})
    obs = h.observation("go", np.zeros(48), np.ones(48, bool))
    assert obs["images"].shape == (3, 2, 3, 4, 4) and obs["images"].dtype == np.uint8
    assert obs["images"][:, 0, 0, 0, 0].tolist() == [10, 11, 12]  # steps 0, 1, 2 (offsets -2, -1, 0)
    assert obs["images"][:, 1, 0, 0, 0].tolist() == [100, 101, 102]
    assert obs["image_mask"].all() and obs["state"].dtype == np.float32 and obs["instruction"] == "go"
    h.reset()
    h.push({"a": frame(7), "b": frame(8)})
    obs = h.observation("go", np.zeros(48))
    assert obs["images"][:, 0, 0, 0, 0].tolist() == [7, 7, 7] and obs["image_mask"][:, 0].tolist() == [False, False, True]
    assert "state_mask" not in obs


def test_only_the_frames_needed_are_kept():
    h = FrameHistory(["a"], history_s=[-1.0, 0.0], fps=2, size=(8, 8))
    for step in range(50):
        h.push({"a": frame(step)})
    assert len(h._frames) == 3
    assert h.observation("x", np.zeros(4))["images"][:, 0, 0, 0, 0].tolist() == [47, 49]


def test_extra_policy_views_are_padded_and_masked():
    h = FrameHistory(["a"], [0.0], fps=10, size=(8, 8), n_views=2)
    h.push({"a": frame(3, size=16)})  # any camera resolution: resized to the policy's
    obs = h.observation("x", np.zeros(48))
    assert obs["images"].shape == (1, 2, 3, 8, 8) and obs["image_mask"].tolist() == [[True, False]]


def test_from_server_metadata():
    meta = {"image_shape": [2, 1, 3, 16, 16], "cameras": ["corner"], "history_s": [-0.1, 0.0], "fps": 80.0}
    h = FrameHistory.from_metadata(meta)
    assert h.cameras == ["corner"] and h.offsets.tolist() == [-8, 0] and h.size == (16, 16)


def test_errors():
    with pytest.raises(KeyError, match=r"missing camera\(s\) \['b'\]"):
        FrameHistory(["a", "b"], [0.0], fps=10, size=(8, 8)).push({"a": frame(0)})
    with pytest.raises(RuntimeError, match="before any frame"):
        FrameHistory(["a"], [0.0], fps=10, size=(8, 8)).observation("x", np.zeros(4))
    with pytest.raises(ValueError, match="history offsets must be seconds <= 0"):
        FrameHistory(["a"], [0.5], fps=10, size=(8, 8))


def test_skipped_steps_move_time_on_and_are_never_read():
    h = FrameHistory(["a"], history_s=[-1.0, 0.0], fps=2, size=(8, 8))  # offsets -2, 0
    h.push({"a": frame(0)})
    h.skip()
    h.push({"a": frame(2)})
    assert h.observation("x", np.zeros(4))["images"][:, 0, 0, 0, 0].tolist() == [0, 2]
    h.skip()
    with pytest.raises(RuntimeError, match=r"step\(s\) \[1, 3\] were skipped"):
        h.observation("x", np.zeros(4))
    h.push({"a": frame(4)})  # steps 2 and 4: both rendered
    assert h.observation("x", np.zeros(4))["images"][:, 0, 0, 0, 0].tolist() == [2, 4]
