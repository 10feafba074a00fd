"""Learning-rate schedule: linear warm-up, then a cosine down to a floor. A pure function of the step,
so there is no scheduler object whose state a checkpoint would have to carry."""

from __future__ import annotations

import math

from torch.optim import Optimizer


def lr_at(step: int, *, peak_lr: float, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.1) -> float:
    """The learning rate of optimizer step `step` (0-based: 0 .. total_steps - 1).

    Warm-up: steps 0 .. warmup_steps - 1 rise linearly, peak_lr * (step + 1) / warmup_steps, so the
    last warm-up step reaches peak_lr. Then a half cosine from peak_lr at step `warmup_steps` to
    peak_lr * min_lr_ratio at the last step (total_steps - 1); past it the floor holds.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    floor = peak_lr * min_lr_ratio
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    span = total_steps - 1 - warmup_steps
    if span <= 0:
        return peak_lr if step == warmup_steps else floor
    progress = min(1.0, (step - warmup_steps) / span)
    return floor + (peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: Optimizer, lr: float) -> None:
    """Set `lr` on every parameter group (scaled by a group's optional 'lr_scale')."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
