"""Training-time image augmentation on collated batches (the policy applies it in `forward` while training).

Random shift (DrQ, Diffusion Policy): each image is padded by `pad` pixels with its border pixels repeated and
cropped back to its size at a random offset, so the policy cannot tie an action to exact pixel positions. The
offset is drawn per sample and view from torch's global generator (seeded and checkpointed by the training
loop) and shared by the sample's history frames, which then move together as a slightly moved camera would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """images (B, T, V, C, H, W), any dtype -> the same shape and dtype, each (sample, view) shifted by up to
    `pad` pixels in x and y; `pad` 0 returns the input itself."""
    if pad < 0:
        raise ValueError(f"random shift: pad must be >= 0 pixels, got {pad}")
    if pad == 0:
        return images
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
    return out.permute(0, 3, 1, 2).reshape(b, v, t, c, h, w).permute(0, 2, 1, 3, 4, 5).contiguous()
