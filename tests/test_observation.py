"""The observation contract (egovla.observation): one check, named errors, defaults filled in, numpy or
torch arrays, batches; history offsets and frame resizing shared by training and robots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egovla.observation import (
    ObservationError,
    ObservationSpec,
    check_observation,
    history_offsets,
    is_batched,
    resize_frames,
    stack,
)

SPEC = ObservationSpec((2, 1, 3, 8, 8), 5, max_text_tokens=10, count_tokens=lambda s: len(s.split()))


def obs(**changes):
    base = {"images": np.zeros((2, 1, 3, 8, 8), np.uint8), "instruction": "open the drawer",
            "state": np.zeros(5, np.float32)}
    return {**base, **changes}


def test_defaults_are_filled_and_the_state_becomes_float32():
    out = SPEC.check(obs(state=np.arange(5, dtype=np.float64)))
    assert out["image_mask"].shape == (2, 1) and out["image_mask"].all()
    assert out["state_mask"].shape == (5,) and out["state_mask"].all()
    assert out["state"].dtype == np.float32 and out["state"].tolist() == [0, 1, 2, 3, 4]


def test_openpis_prompt_is_the_instruction_and_a_samples_targets_are_ignored():
    out = SPEC.check({**{k: v for k, v in obs().items() if k != "instruction"}, "prompt": "grasp",
                      "action": np.zeros((3, 5)), "action_mask": np.ones((3, 5), bool)})
    assert out["instruction"] == "grasp" and "action" not in out and "prompt" not in out


def test_a_batch_keeps_its_leading_dimension_and_a_list_of_instructions():
    batch = stack([SPEC.check(obs()), SPEC.check(obs(instruction="push"))])
    assert is_batched(batch) and batch["images"].shape == (2, 2, 1, 3, 8, 8)
    out = SPEC.check(batch)
    assert out["instruction"] == ["open the drawer", "push"] and out["state_mask"].shape == (2, 5)
    with pytest.raises(ObservationError, match="a batch of 2 needs a list of 2 strings"):
        SPEC.check({**batch, "instruction": "one"})


def test_torch_tensors_are_checked_without_a_copy_of_the_images():
    images = torch.zeros(2, 1, 3, 8, 8, dtype=torch.uint8)
    out = SPEC.check(obs(images=images, state=torch.zeros(5)))
    assert out["images"] is images
    with pytest.raises(ObservationError, match="'images': expected dtype uint8, got float32"):
        SPEC.check(obs(images=images.float()))


@pytest.mark.parametrize("change, error", [
    ({"state": np.array([0, np.inf, 0, 0, 0], np.float32)}, r"'state': 1 non-finite value\(s\), at \[\[1\]\]"),
    ({"images": np.zeros((1, 1, 3, 8, 8), np.uint8)}, r"'images': shape \[1, 1, 3, 8, 8\] per observation, the "
                                                     r"policy expects \[2, 1, 3, 8, 8\]"),
    ({"image_mask": np.ones((2, 1), np.uint8)}, "'image_mask': expected dtype bool, got uint8"),
    ({"instruction": "a b c d e f g h i j k"}, r"'instruction': 11 tokens, the policy's text context allows 10"),
    ({"instruction": "x" * 500}, "far over the 10 text tokens allowed"),
    ({"extra": 1}, r"unknown key\(s\) \['extra'\]"),
    ({"prompt": "p"}, "give 'instruction' or 'prompt', not both"),
])
def test_each_problem_is_named(change, error):
    with pytest.raises(ObservationError, match=error):
        SPEC.check(obs(**change))


def test_without_a_spec_only_the_structure_is_checked():
    check_observation(obs(images=np.zeros((4, 3, 3, 16, 16), np.uint8), state=np.zeros(48, np.float32)))
    with pytest.raises(ObservationError, match=r"'images': expected shape \(\?, \?, 3, \?, \?\)"):
        check_observation(obs(images=np.zeros((4, 3, 1, 16, 16), np.uint8)))
    with pytest.raises(ObservationError, match=r"missing key\(s\) \['state'\]"):
        check_observation({"images": np.zeros((1, 1, 3, 4, 4), np.uint8), "instruction": "x"})


def test_the_table_is_what_a_server_publishes():
    table = SPEC.table()
    assert table["images"] == {"dtype": "uint8", "shape": [2, 1, 3, 8, 8], "required": True}
    assert table["instruction"]["alias"] == "prompt" and table["state_mask"]["shape"] == [5]


def test_history_seconds_become_frame_offsets():
    assert history_offsets((-1.0, -0.8, -0.6, -0.4, -0.2, 0.0), 30).tolist() == [-30, -24, -18, -12, -6, 0]
    assert history_offsets((-0.5, 0.0), 80).tolist() == [-40, 0]
    for bad in ((0.2,), (0.0, -0.2), ()):
        with pytest.raises(ValueError, match="seconds <= 0, oldest first"):
            history_offsets(bad, 10)


def test_frames_are_resized_bilinearly_and_passed_through_at_size():
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    assert resize_frames(frames, (16, 16)) is frames
    small = resize_frames(frames, (8, 8))
    assert small.shape == (3, 8, 8, 3) and small.dtype == np.uint8
