"""Random-shift augmentation: a padded-and-cropped copy of each image, one offset per sample and view shared by its
history frames, reproducible from the seed; the policy shifts while training and never while predicting. With a
focal length the labels turn with the camera turn the shift amounts to, so they stay true to the shifted image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.policies import obs_of, tiny_config

from egovla.data.sample import collate
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.geometry import matrix_from_rot6d
from egovla.model.augment import random_shift, rotate_unified, shift_images, shift_rotation
from egovla import spaces
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


def test_shift_images_reports_how_far_the_content_moved():
    images = torch.zeros(6, 1, 2, 3, 16, 16, dtype=torch.uint8)
    images[..., 7, 9] = 255  # one lit pixel at row 7, column 9 in every view
    out, moved = shift_images(images, 3, torch.Generator().manual_seed(2))
    assert moved.shape == (6, 2, 2) and moved.abs().max() <= 3 and len({tuple(m) for m in moved.reshape(-1, 2).tolist()}) > 1
    for b in range(6):
        for v in range(2):
            right, down = moved[b, v].tolist()
            lit = torch.nonzero(out[b, 0, v, 0] == 255).tolist()
            assert lit == [[7 + down, 9 + right]], (b, v, lit, moved[b, v])
    assert torch.equal(out, random_shift(images, 3, torch.Generator().manual_seed(2)))  # the same draw


def project(points: np.ndarray, f: float, c: float) -> np.ndarray:
    return f * points[:, :2] / points[:, 2:] + c


def test_the_shift_rotation_moves_every_depth_by_the_shift():
    rng = np.random.default_rng(0)
    f, c = 111.6, 32.0  # Meta-World's zoomed corner view at 64 px (fovy 32 degrees)
    points = np.c_[rng.uniform(-0.1, 0.1, (20, 2)), rng.uniform(0.6, 1.6, 20)]  # near the view's centre, any depth
    for moved in ([4, -3], [-6, 6], [0, 2]):
        rot = shift_rotation(torch.tensor(moved), f).double().numpy()
        assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-6) and np.isclose(np.linalg.det(rot), 1.0)
        shifted = project(points @ rot.T, f, c) - project(points, f, c)
        np.testing.assert_allclose(shifted, np.broadcast_to(moved, shifted.shape), atol=0.15)
    with pytest.raises(ValueError, match="focal length must be > 0"):
        shift_rotation(torch.tensor([1, 1]), 0.0)


def test_rotate_unified_turns_wrist_poses_not_fingertips():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(2, 5, 48))).float()
    wrist = matrix_from_rot6d(x[..., spaces.slot("right", "wrist_rot")])
    for hand in spaces.HANDS:  # valid rotations in both hands' 6D slots
        x[..., spaces.slot(hand, "wrist_rot")] = torch.cat([wrist[..., :, 0], wrist[..., :, 1]], -1)
    rot = shift_rotation(torch.tensor([[5, -2], [-3, 4]]), 100.0)
    out = rotate_unified(x, rot)
    for hand in spaces.HANDS:
        pos = spaces.slot(hand, "wrist_pos")
        torch.testing.assert_close(out[..., pos], (rot[:, None] @ x[..., pos, None])[..., 0])
        torch.testing.assert_close(matrix_from_rot6d(out[..., spaces.slot(hand, "wrist_rot")]), rot[:, None] @ wrist,
                                   atol=1e-5, rtol=1e-5)
        assert torch.equal(out[..., spaces.slot(hand, "fingertips")], x[..., spaces.slot(hand, "fingertips")])
    with pytest.raises(ValueError, match="unified 48 dims"):
        rotate_unified(torch.zeros(2, 6), rot)


def test_the_policy_turns_its_labels_with_the_shifted_view():
    data = SyntheticDataset(size=8, seed=3, image_size=32, chunk_len=6, block=6)
    batch = collate([data[i] for i in range(4)])
    torch.manual_seed(0)
    cfg = tiny_config("regression")
    cfg.shift_px, cfg.shift_focal_px = 4, 50.0
    policy = Policy(cfg, None)
    seen = {}
    loss = policy.head.loss
    policy.head.loss = lambda feats, target, mask: seen.setdefault("target", target) is not None and loss(feats, target, mask)
    torch.manual_seed(5)
    policy(batch)
    torch.manual_seed(5)
    _, moved = shift_images(torch.as_tensor(batch["images"]), 4)
    action = torch.where(batch["action_mask"], batch["action"].float(), torch.zeros(()))
    torch.testing.assert_close(seen["target"], rotate_unified(action, shift_rotation(moved[:, 0], 50.0)))
    assert not torch.allclose(seen["target"], action)
    policy.eval()
    seen.clear()
    policy(batch)  # not training: neither images nor labels move
    torch.testing.assert_close(seen["target"], action)
    bad = tiny_config("regression")
    bad.shift_focal_px, bad.action_dim, bad.state_dim = 50.0, 4, 4
    with pytest.raises(ValueError, match="needs the unified layout"):
        Policy(bad, None)
