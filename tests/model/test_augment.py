"""Random-shift augmentation: a padded-and-cropped copy of each image, one offset per sample and view shared by its
history frames, reproducible from the seed; the policy shifts while training and never while predicting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.policies import obs_of, tiny_config

from egovla.data.sample import collate
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.model.augment import random_shift
from egovla.model.policy import Policy


def offset_of(image: np.ndarray, shifted: np.ndarray, pad: int) -> tuple[int, int] | None:
    """The (dy, dx) at which the edge-padded `image` (C, H, W) cropped back gives `shifted`, if any."""
    h, w = image.shape[1:]
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    hits = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
            if np.array_equal(padded[:, dy:dy + h, dx:dx + w], shifted)]
    return hits[0] if hits else None


def test_each_image_is_a_shifted_crop_shared_by_its_history_frames():
    images = torch.randint(0, 256, (5, 3, 2, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = random_shift(images, 3, torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out.dtype == torch.uint8
    offsets = set()
    for b in range(5):
        for v in range(2):
            per_frame = {offset_of(images[b, t, v].numpy(), out[b, t, v].numpy(), 3) for t in range(3)}
            assert len(per_frame) == 1 and None not in per_frame, (b, v, per_frame)
            offsets |= per_frame
    assert len(offsets) > 1  # the offsets differ between images
    again = random_shift(images, 3, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    assert random_shift(images, 0) is images


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="pad must be >= 0"):
        random_shift(torch.zeros(1, 1, 1, 3, 4, 4), -1)
    with pytest.raises(ValueError, match=r"expected images \(B, T, V, C, H, W\)"):
        random_shift(torch.zeros(1, 3, 4, 4), 2)


def test_the_policy_shifts_while_training_only():
    data = SyntheticDataset(size=8, seed=3, image_size=32, chunk_len=6, block=6)
    stats = compute_stats(data)
    batch = collate([data[i] for i in range(4)])
    policies = []
    for shift in (0, 4):
        torch.manual_seed(0)
        cfg = tiny_config("regression")
        cfg.shift_px = shift
        policies.append(Policy(cfg, stats))
    torch.manual_seed(5)
    plain = policies[0](batch)[0]
    torch.manual_seed(5)
    shifted = policies[1](batch)[0]
    assert not torch.isclose(plain, shifted)  # same weights, same batch: the images moved
    for p in policies:
        p.eval()
    obs = obs_of(batch)
    assert np.array_equal(policies[0].predict_chunk(obs), policies[1].predict_chunk(obs))
