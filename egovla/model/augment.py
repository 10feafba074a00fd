"""Training-time image augmentation on collated batches (the policy applies it in `forward` while training).

Random shift (DrQ, Diffusion Policy): each image is padded by `pad` pixels with its border pixels repeated and
cropped back to its size at a random offset, so the policy cannot tie an action to exact pixel positions. The
offset is drawn per sample and view from torch's global generator (seeded and checkpointed by the training
loop) and shared by the sample's history frames, which then move together as a slightly moved camera would.

A shift of the image is, to first order, a small turn of the camera: every point moves by f tan(angle) pixels
whatever its depth. `shift_rotation` gives that turn, so labels in the camera frame can be turned with the
image (`rotate_unified`) and stay true to it: the shifted frame then shows a scene as a camera turned by a
degree or two would, with the positions that camera would measure, instead of teaching that the pixels do not
say where things are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from egovla.spaces import ACTION_DIM, HANDS, slot


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """images (B, T, V, C, H, W), any dtype -> the same shape and dtype, each (sample, view) shifted by up to
    `pad` pixels in x and y; `pad` 0 returns the input itself."""
    return shift_images(images, pad, generator)[0]


def shift_images(images: torch.Tensor, pad: int, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """`random_shift`, and how far each (sample, view)'s content moved: (B, V, 2) integer pixels (right, down)."""
    if pad < 0:
        raise ValueError(f"random shift: pad must be >= 0 pixels, got {pad}")
    if pad == 0:
        return images, torch.zeros((*images.shape[:1], *images.shape[2:3], 2), dtype=torch.long)
    if images.ndim != 6:
        raise ValueError(f"random shift: expected images (B, T, V, C, H, W), got shape {tuple(images.shape)}")
    b, t, v, c, h, w = images.shape
    x = images.permute(0, 2, 1, 3, 4, 5).reshape(b * v, t * c, h, w)
    dtype = x.dtype
    padded = F.pad(x.float() if not x.is_floating_point() else x, (pad, pad, pad, pad), mode="replicate").to(dtype)
    dy, dx = (torch.randint(0, 2 * pad + 1, (b * v,), generator=generator) for _ in range(2))
    rows = (dy[:, None] + torch.arange(h)).to(x.device)  # (BV, H)
    cols = (dx[:, None] + torch.arange(w)).to(x.device)  # (BV, W)
    idx = torch.arange(b * v, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]]  # (BV, H, W, T*C)
    out = out.permute(0, 3, 1, 2).reshape(b, v, t, c, h, w).permute(0, 2, 1, 3, 4, 5).contiguous()
    moved = torch.stack([pad - dx, pad - dy], -1).reshape(b, v, 2)  # out[r, c] = in[r + dy - pad, c + dx - pad]
    return out, moved


def shift_rotation(moved: torch.Tensor, focal_px: float) -> torch.Tensor:
    """(..., 2) pixels the content moved (right, down) -> (..., 3, 3) the turn R of the camera frame (OpenCV axes:
    x right, y down, z forward) under which a point p at the image centre, seen as R p, moves by that much in a
    pinhole camera of focal length `focal_px` (to 0.5% at 8 px and f >= 100 px): R = R_x(atan(down / f))
    R_y(atan(right / f))."""
    if focal_px <= 0:
        raise ValueError(f"shift rotation: focal length must be > 0 pixels, got {focal_px}")
    a = torch.atan(moved[..., 0].double() / focal_px)
    b = torch.atan(moved[..., 1].double() / focal_px)
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    ry = torch.stack([torch.stack([a.cos(), zero, a.sin()], -1), torch.stack([zero, one, zero], -1),
                      torch.stack([-a.sin(), zero, a.cos()], -1)], -2)
    rx = torch.stack([torch.stack([one, zero, zero], -1), torch.stack([zero, b.cos(), b.sin()], -1),
                      torch.stack([zero, -b.sin(), b.cos()], -1)], -2)
    return (rx @ ry).float()


def rotate_unified(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Unified vectors (B, ..., 48) in the camera frame -> the same in the frame turned by `rot` (B, 3, 3): each
    hand's wrist position and both stored rotation columns turn; fingertips, in the wrist frame, do not."""
    if x.shape[-1] != ACTION_DIM:
        raise ValueError(f"rotate_unified: expected the unified {ACTION_DIM} dims, got {x.shape[-1]}")
    r = rot.to(x.dtype).reshape(rot.shape[0], *([1] * (x.ndim - 2)), 3, 3)
    out = x.clone()
    for hand in HANDS:
        pos, rot6 = slot(hand, "wrist_pos").start, slot(hand, "wrist_rot").start
        for start in (pos, rot6, rot6 + 3):
            out[..., start:start + 3] = (r @ x[..., start:start + 3, None])[..., 0]
    return out
